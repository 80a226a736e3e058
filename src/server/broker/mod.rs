//! The room broker: one task owns every room and session, and the rest of the
//! server talks to it through [`Broker`], a cloneable handle around a bounded
//! command channel. One owner means no locks, and one order of events per
//! room that every member sees.
//!
//! The task never waits on a client or on the disk: deliveries go into each
//! connection's [`Outbox`] with `try_send` (a full outbox gets its connection
//! evicted), and messages go to the [`Store`] with `try_send` too. The store
//! reports each committed batch back on a channel of its own, which the task
//! serves before new commands; a message is delivered and acknowledged only
//! once that report says it is on disk.
//!
//! In cluster mode the task also publishes what this node committed on the
//! bus (`cluster/`), and takes what other nodes committed from it: each
//! room's [`sequencer`] puts both in one gapless order, and the task reads
//! from storage what the bus did not bring (a gap that stays open, and a
//! check of every room's head each [`HEADS_EVERY`]).
//!
//! The state (`state.rs`) is plain synchronous code: the task passes it the
//! time of each step and carries out what it asks for afterwards (requests
//! for the store, history reads as tasks of their own), so its tests drive
//! it step by step with no task, sleep or yield in between.

mod announcements;
mod command;
mod sequencer;
mod state;

use std::{collections::VecDeque, pin::Pin, sync::Arc, time::Duration};

use tokio::{
    sync::{mpsc, oneshot},
    time::MissedTickBehavior,
};
use tracing::warn;

use crate::server::metrics::Metrics;
use crate::server::store::{Channel, Retention, Store, StoreReport};

pub use command::{
    ApiCommand, BusEvent, BusRequest, Command, ConnId, Members, PostOutcome, TokenRefusal, Welcome,
};

use state::{BrokerState, Effect, Now, RoomWork};

use crate::protocol::RoomName;
use crate::server::rooms::{Action, RoomSettings, Rooms};

/// Commands queued for the broker before a reader has to wait. A reader that
/// waits stops reading its socket, which pushes back on that one client only.
const COMMAND_QUEUE: usize = 4096;

/// Commands handled per wake-up of the broker task.
const COMMAND_BATCH: usize = 64;

/// The lobby's room list goes out at most this often.
const LOBBY_EVERY: Duration = Duration::from_secs(1);

/// Cluster mode: how often gaps are checked for having waited long enough
/// ([`sequencer::GAP_WAIT`]) to be read from storage.
const GAPS_EVERY: Duration = Duration::from_millis(25);

/// Cluster mode: how often every room in memory is checked against the
/// head storage has for it, which bounds how late a message the bus never
/// brought (its node died between commit and publish, Redis lost it) and
/// that no later message revealed can be.
pub const HEADS_EVERY: Duration = Duration::from_secs(1);

/// How the broker uses history.
#[derive(Clone)]
pub struct BrokerConfig {
    pub store: Store,
    /// Rooms' settings, roles and invites.
    pub rooms: Rooms,
    /// Messages sent after `joined` to a client joining afresh.
    pub history_on_join: usize,
    /// Bytes the caches of all rooms in memory may hold together.
    pub cache_max_bytes: usize,
    pub retention: Retention,
    /// How long after sending a message its author may edit it; `None`
    /// for ever.
    pub edit_window: Option<Duration>,
    /// Cluster mode: the bus's queue. When it is full a request is dropped
    /// (the other nodes read what was not published from storage).
    pub bus: Option<mpsc::Sender<BusRequest>>,
    pub metrics: Arc<Metrics>,
    /// How long a ban keeps new guests from the banned user's addresses
    /// out at most, in milliseconds; 0: not at all.
    pub guest_ban_ms: i64,
}

/// The handle every connection holds.
#[derive(Debug, Clone)]
pub struct Broker {
    commands: mpsc::Sender<Command>,
}

impl Broker {
    /// Commands waiting in the queue now.
    pub fn queue_depth(&self) -> usize {
        self.commands.max_capacity() - self.commands.capacity()
    }
}

/// A handle that does not keep the broker running: the bus's, and the
/// broker's own for the reads it starts.
#[derive(Debug, Clone)]
pub struct WeakBroker {
    commands: mpsc::WeakSender<Command>,
}

impl WeakBroker {
    /// The broker, if it still runs.
    pub fn upgrade(&self) -> Option<Broker> {
        self.commands.upgrade().map(|commands| Broker { commands })
    }
}

/// Why the broker task ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Every handle was dropped: the server is exiting.
    Done,
    /// The store's committer stopped: nothing can be stored or loaded any
    /// more. Every client was told the server is restarting (1012).
    StoreStopped,
}

impl Broker {
    /// Starts the broker task. It ends when every handle has been dropped,
    /// or when the store's committer stops; the server watches the returned
    /// handle, since either end while it serves means it must exit.
    pub fn spawn(
        config: BrokerConfig,
        reports: mpsc::Receiver<StoreReport>,
    ) -> (Self, tokio::task::JoinHandle<Exit>) {
        let (commands, receiver) = mpsc::channel(COMMAND_QUEUE);
        let myself = WeakBroker {
            commands: commands.downgrade(),
        };
        let task = tokio::spawn(broker_loop(
            BrokerState::new(config),
            receiver,
            reports,
            myself,
        ));
        (Self { commands }, task)
    }

    pub fn downgrade(&self) -> WeakBroker {
        WeakBroker {
            commands: self.commands.downgrade(),
        }
    }

    /// Queues a command, waiting while the broker is behind. A command sent
    /// after the broker has stopped is dropped: the server is exiting.
    ///
    /// The queue is tried at once, when this is called; only a full queue
    /// makes a waiting future, on the heap. So the future every connection
    /// keeps in its state for this call is a few bytes, not the command and
    /// a semaphore waiter (432 B).
    pub fn send(&self, command: Command) -> impl Future<Output = ()> + Send + use<> {
        let wait = self.try_send(command);
        async move {
            if let Some(wait) = wait {
                wait.await;
            }
        }
    }

    /// Queues a command if there is room, or returns the wait for room.
    pub fn try_send(&self, command: Command) -> Option<Waiting> {
        match self.commands.try_send(command) {
            Err(mpsc::error::TrySendError::Full(command)) => {
                let commands = self.commands.clone();
                Some(Box::pin(async move {
                    let _ = commands.send(command).await;
                }))
            }
            Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => None,
        }
    }
}

/// A command waiting for room in the broker's queue.
pub type Waiting = Pin<Box<dyn Future<Output = ()> + Send>>;

async fn broker_loop(
    mut state: BrokerState,
    mut commands: mpsc::Receiver<Command>,
    mut reports: mpsc::Receiver<StoreReport>,
    myself: WeakBroker,
) -> Exit {
    let mut tasks = Tasks {
        store: state.store().clone(),
        rooms: state.rooms().clone(),
        guest_ban_ms: state.guest_ban_ms(),
        bus: state.bus().cloned(),
        backlog: VecDeque::new(),
        myself,
    };
    let clustered = tasks.bus.is_some();
    let mut batch = Vec::with_capacity(COMMAND_BATCH);
    let every = |period| {
        let mut interval = tokio::time::interval(period);
        interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
        interval
    };
    let mut lobby = every(LOBBY_EVERY);
    let mut announce = every(announcements::ANNOUNCE_EVERY);
    let mut gaps = every(GAPS_EVERY);
    let mut heads = every(HEADS_EVERY);
    loop {
        tokio::select! {
            // Committed messages first: they are owed to their senders.
            biased;
            report = reports.recv() => {
                let Some(report) = report else {
                    tracing::error!("the store's committer stopped; messages can no longer be stored");
                    state.store_stopped();
                    return Exit::StoreStopped;
                };
                state.on_report(report, Now::current());
                carry_out(&mut state, &mut tasks);
                // A report can fill every member's queue with a batch at once:
                // let the writers drain it before the next.
                tokio::task::yield_now().await;
            }
            _ = lobby.tick() => state.tick(),
            _ = announce.tick() => state.send_waiting_announcements(Now::current()),
            _ = gaps.tick(), if clustered => {
                tasks.retry_backlog();
                state.fill_gaps(Now::current());
                carry_out(&mut state, &mut tasks);
            }
            _ = heads.tick(), if clustered => {
                state.check_heads();
                carry_out(&mut state, &mut tasks);
            }
            received = commands.recv_many(&mut batch, COMMAND_BATCH) => {
                if received == 0 {
                    return Exit::Done;
                }
                for command in batch.drain(..) {
                    state.handle(command, Now::current());
                    carry_out(&mut state, &mut tasks);
                }
            }
        }
    }
}

/// Where the broker task sends what its state asks for.
struct Tasks {
    store: Store,
    rooms: Rooms,
    /// How long a ban keeps a banned user's addresses' new guests out.
    guest_ban_ms: i64,
    bus: Option<mpsc::Sender<BusRequest>>,
    /// Requests the bus's queue could not take that must not be lost (a
    /// room's subscription, a user's arrival or departure), tried again
    /// each [`GAPS_EVERY`], in order, up to [`BUS_BACKLOG`]; past it they
    /// are dropped with an error in the log.
    backlog: VecDeque<BusRequest>,
    /// For reads whose answer comes back as a command.
    myself: WeakBroker,
}

/// Requests waiting for room in the bus's queue at most.
const BUS_BACKLOG: usize = 65_536;

impl Tasks {
    /// Hands `request` to the bus; one its full queue cannot take waits in
    /// the backlog, unless losing it costs nothing the other nodes cannot
    /// make up (a publication: they read it from storage; typing).
    fn send_to_bus(&mut self, request: BusRequest) {
        let Some(bus) = &self.bus else {
            return;
        };
        if !self.backlog.is_empty() {
            return self.hold(request);
        }
        if let Err(error) = bus.try_send(request) {
            let request = error.into_inner();
            match request {
                BusRequest::Publish { .. }
                | BusRequest::PublishDirect(_)
                | BusRequest::Typing { .. }
                | BusRequest::Renamed { .. } => {
                    warn!(?request, "the bus's queue is full; dropping a publication");
                }
                _ => self.hold(request),
            }
        }
    }

    fn hold(&mut self, request: BusRequest) {
        if self.backlog.len() >= BUS_BACKLOG {
            tracing::error!(?request, "the bus's backlog is full; dropping a request");
        } else {
            self.backlog.push_back(request);
        }
    }

    /// Hands the bus what waited, in order, while its queue takes it.
    fn retry_backlog(&mut self) {
        let Some(bus) = &self.bus else {
            return;
        };
        while let Some(request) = self.backlog.pop_front() {
            if let Err(error) = bus.try_send(request) {
                self.backlog.push_front(error.into_inner());
                return;
            }
        }
    }
}

/// Carries out what the state asked for: requests go to the store's queue
/// without waiting (one it cannot take goes back to the state), and to the
/// bus's (one it cannot take is dropped: storage makes up for it); reads
/// run as tasks of their own.
fn carry_out(state: &mut BrokerState, tasks: &mut Tasks) {
    for effect in state.take_effects() {
        match effect {
            Effect::Store(request) => {
                if let Err(request) = tasks.store.request(request) {
                    state.store_refused(*request);
                }
            }
            Effect::Read(read) => {
                tokio::spawn(read.run(tasks.store.clone()));
            }
            Effect::Bus(request) => tasks.send_to_bus(request),
            Effect::Fill { room, fill } => {
                let (store, myself) = (tasks.store.clone(), tasks.myself.clone());
                tokio::spawn(async move {
                    let channel = Channel::Room(room.clone());
                    let found = store
                        .page(
                            &channel,
                            fill.before,
                            Some(fill.after),
                            sequencer::FILL_PAGE,
                        )
                        .await;
                    let found = found
                        .inspect_err(
                            |error| warn!(%room, %error, "reading a gap's messages failed"),
                        )
                        .ok();
                    if let Some(broker) = myself.upgrade() {
                        broker.send(Command::Filled { room, fill, found }).await;
                    }
                });
            }
            Effect::Rooms { room, work, read } => {
                let (rooms, myself) = (tasks.rooms.clone(), tasks.myself.clone());
                tokio::spawn(async move {
                    let settings = work_on_room(&rooms, &room, work).await;
                    if let Some(broker) = myself.upgrade() {
                        let settings = Command::Settings {
                            room,
                            read,
                            settings: settings.map(Box::new),
                        };
                        broker.send(settings).await;
                    }
                });
            }
            Effect::BanAddresses {
                scope,
                user,
                addresses,
            } => {
                let (rooms, myself) = (tasks.rooms.clone(), tasks.myself.clone());
                let at_most = tasks.guest_ban_ms;
                tokio::spawn(async move {
                    let now = crate::server::store::now_ms();
                    let banned = rooms
                        .ban_addresses(&scope, user, &addresses, now, at_most)
                        .await
                        .inspect_err(
                            |error| warn!(%scope, %error, "writing a ban's addresses failed"),
                        );
                    let room = RoomName::parse(scope).ok();
                    if let (Ok(true), Some(room), Some(broker)) = (banned, room, myself.upgrade()) {
                        let (done, _) = oneshot::channel();
                        broker.send(Command::RoomChanged { room, done }).await;
                    }
                });
            }
            Effect::MarkRead { room, user, seq } => {
                let rooms = tasks.rooms.clone();
                tokio::spawn(async move {
                    if let Err(error) = rooms.mark_read(&room, user, seq).await {
                        warn!(%room, %error, "writing what a user read failed");
                    }
                });
            }
            Effect::Removed {
                room,
                moderator,
                author,
                seq,
            } => {
                let rooms = tasks.rooms.clone();
                tokio::spawn(async move {
                    let action = Action {
                        scope: room.as_str(),
                        actor: moderator,
                        action: "delete_message",
                        target: author,
                        reason: "",
                        until_ms: None,
                        seq: Some(seq),
                        now_ms: crate::server::store::now_ms(),
                    };
                    if let Err(error) = rooms.act(&action, None).await {
                        warn!(%room, %error, "writing a deletion to the audit log failed");
                    }
                });
            }
            Effect::Heads(rooms) => {
                let (store, myself) = (tasks.store.clone(), tasks.myself.clone());
                tokio::spawn(async move {
                    let channels: Vec<Channel> = rooms.iter().cloned().map(Channel::Room).collect();
                    match store.heads(&channels).await {
                        Ok(heads) => {
                            if let Some(broker) = myself.upgrade() {
                                let heads = rooms.into_iter().zip(heads).collect();
                                broker.send(Command::Heads(heads)).await;
                            }
                        }
                        Err(error) => warn!(%error, "reading the rooms' heads failed"),
                    }
                });
            }
        }
    }
}

/// Does `work` on `room`'s rows and reads its settings (`None`, with the
/// error in the log, if that failed).
async fn work_on_room(rooms: &Rooms, room: &RoomName, work: RoomWork) -> Option<RoomSettings> {
    let read = async || {
        rooms
            .settings(room, crate::server::store::now_ms())
            .await
            .inspect_err(|error| warn!(%room, %error, "reading a room's settings failed"))
            .ok()
    };
    let settings = read().await?;
    match work {
        // Claimed already (the usual case): no write.
        RoomWork::Claim(user) if !settings.recorded => {
            if let Err(error) = rooms
                .claim(room, user, crate::server::store::now_ms())
                .await
            {
                warn!(%room, %error, "claiming a room failed");
            }
            read().await
        }
        _ => Some(settings),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn config(store: Store) -> BrokerConfig {
        BrokerConfig {
            store,
            rooms: Rooms::new(crate::server::store::Tables::in_memory().await.unwrap()),
            history_on_join: 0,
            cache_max_bytes: 1 << 20,
            retention: Retention::default(),
            bus: None,
            metrics: Metrics::new(false),
            edit_window: None,
            guest_ban_ms: 3_600_000,
        }
    }

    /// A full bus queue drops a publication (storage makes up for it) but
    /// keeps a subscription, and hands it over, in order, once there is
    /// room.
    #[tokio::test]
    async fn a_full_bus_queue_keeps_what_must_not_be_lost() {
        let (store, _reports) = Store::in_memory(Retention::default(), usize::MAX);
        let (bus, mut queue) = mpsc::channel(1);
        let (commands, _) = mpsc::channel(1);
        let mut tasks = Tasks {
            store,
            rooms: Rooms::new(crate::server::store::Tables::in_memory().await.unwrap()),
            guest_ban_ms: 0,
            bus: Some(bus),
            backlog: VecDeque::new(),
            myself: WeakBroker {
                commands: commands.downgrade(),
            },
        };
        let room = |name: &str| crate::protocol::RoomName::parse(name).unwrap();
        tasks.send_to_bus(BusRequest::Subscribe(room("first")));
        tasks.send_to_bus(BusRequest::Publish {
            room: room("first"),
            messages: Vec::new(),
        });
        tasks.send_to_bus(BusRequest::Subscribe(room("second")));
        tasks.send_to_bus(BusRequest::Unsubscribe(room("first")));
        assert_eq!(tasks.backlog.len(), 2, "the publication was dropped");
        let mut taken = Vec::new();
        while let Ok(request) = queue.try_recv() {
            taken.push(format!("{request:?}"));
            tasks.retry_backlog();
        }
        assert_eq!(
            taken,
            [
                r#"Subscribe(RoomName("first"))"#,
                r#"Subscribe(RoomName("second"))"#,
                r#"Unsubscribe(RoomName("first"))"#,
            ]
        );
    }

    #[tokio::test]
    async fn the_broker_ends_when_the_stores_committer_does_and_says_so() {
        let (store, _reports) = Store::in_memory(Retention::default(), usize::MAX);
        let (writer_reports, reports) = mpsc::channel(1);
        let (broker, task) = Broker::spawn(config(store).await, reports);
        drop(writer_reports); // the writer is gone
        assert_eq!(task.await.unwrap(), Exit::StoreStopped);
        drop(broker);

        // With the store running, only dropping every handle ends it.
        let (store, reports) = Store::in_memory(Retention::default(), usize::MAX);
        let (broker, task) = Broker::spawn(config(store).await, reports);
        drop(broker);
        assert_eq!(task.await.unwrap(), Exit::Done);
    }
}

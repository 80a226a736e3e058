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
//! The state (`state.rs`) is plain synchronous code: the task passes it the
//! time of each step and carries out what it asks for afterwards (requests
//! for the store, history reads as tasks of their own), so its tests drive
//! it step by step with no task, sleep or yield in between.

mod announcements;
mod command;
mod state;

use std::pin::Pin;

use tokio::sync::mpsc;

use crate::server::store::{Retention, Store, StoreReport};

pub use command::{Command, ConnId};

use state::{BrokerState, Effect, Now};

/// Commands queued for the broker before a reader has to wait. A reader that
/// waits stops reading its socket, which pushes back on that one client only.
const COMMAND_QUEUE: usize = 4096;

/// Commands handled per wake-up of the broker task.
const COMMAND_BATCH: usize = 64;

/// The lobby's room list goes out at most this often.
const LOBBY_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// How the broker uses history.
#[derive(Clone)]
pub struct BrokerConfig {
    pub store: Store,
    /// Messages sent after `joined` to a client joining afresh.
    pub history_on_join: usize,
    /// Bytes the caches of all rooms in memory may hold together.
    pub cache_max_bytes: usize,
    pub retention: Retention,
}

/// The handle every connection holds.
#[derive(Debug, Clone)]
pub struct Broker {
    commands: mpsc::Sender<Command>,
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
        let task = tokio::spawn(broker_loop(BrokerState::new(config), receiver, reports));
        (Self { commands }, task)
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
) -> Exit {
    let store = state.store().clone();
    let mut batch = Vec::with_capacity(COMMAND_BATCH);
    let mut lobby = tokio::time::interval(LOBBY_EVERY);
    lobby.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut announce = tokio::time::interval(announcements::ANNOUNCE_EVERY);
    announce.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
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
                carry_out(&mut state, &store);
                // A report can fill every member's queue with a batch at once:
                // let the writers drain it before the next.
                tokio::task::yield_now().await;
            }
            _ = lobby.tick() => state.tick(),
            _ = announce.tick() => state.send_waiting_announcements(Now::current()),
            received = commands.recv_many(&mut batch, COMMAND_BATCH) => {
                if received == 0 {
                    return Exit::Done;
                }
                for command in batch.drain(..) {
                    state.handle(command, Now::current());
                    carry_out(&mut state, &store);
                }
            }
        }
    }
}

/// Carries out what the state asked for: requests go to the store's queue
/// without waiting (one it cannot take goes back to the state), history
/// reads run as tasks of their own.
fn carry_out(state: &mut BrokerState, store: &Store) {
    for effect in state.take_effects() {
        match effect {
            Effect::Store(request) => {
                if let Err(request) = store.request(request) {
                    state.store_refused(*request);
                }
            }
            Effect::Read(read) => {
                tokio::spawn(read.run(store.clone()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(store: Store) -> BrokerConfig {
        BrokerConfig {
            store,
            history_on_join: 0,
            cache_max_bytes: 1 << 20,
            retention: Retention::default(),
        }
    }

    #[tokio::test]
    async fn the_broker_ends_when_the_stores_committer_does_and_says_so() {
        let (store, _reports) = Store::in_memory(Retention::default(), usize::MAX);
        let (writer_reports, reports) = mpsc::channel(1);
        let (broker, task) = Broker::spawn(config(store), reports);
        drop(writer_reports); // the writer is gone
        assert_eq!(task.await.unwrap(), Exit::StoreStopped);
        drop(broker);

        // With the store running, only dropping every handle ends it.
        let (store, reports) = Store::in_memory(Retention::default(), usize::MAX);
        let (broker, task) = Broker::spawn(config(store), reports);
        drop(broker);
        assert_eq!(task.await.unwrap(), Exit::Done);
    }
}

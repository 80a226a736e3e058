//! Cluster mode's bus between nodes, on Redis: one task owns the node's
//! Redis connection. It publishes what the broker committed and what its
//! members do (arrive, leave, type, rename), subscribes to the rooms and
//! users this node has someone for, keeps this node's share of presence in
//! Redis (`presence.rs`), and hands the broker what other nodes published.
//! The broker orders and delivers; nothing here decides who gets what.
//!
//! Redis may lose anything at any time and nothing is lost with it: every
//! committed message is in PostgreSQL, and the broker reads what the bus
//! did not bring (see `broker/sequencer.rs`); presence is registered again
//! by each node. When the connection drops (Redis restarted, `CLIENT
//! KILL`, a network fault), redis-rs's connection manager reconnects and
//! resubscribes; once a `PING` answers again this task subscribes to
//! everything once more, puts this node's presence right, and tells the
//! broker, which catches each room up from PostgreSQL.

mod health;
mod lease;
mod presence;
pub mod wire;

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
    time::Duration,
};

use redis::{
    Client, IntoConnectionInfo, ProtocolVersion, PushInfo, PushKind, Value,
    aio::{ConnectionManager, ConnectionManagerConfig},
};
use tokio::{sync::mpsc, time::MissedTickBehavior};
use tracing::{debug, error, info, warn};

use crate::protocol::{DisplayName, Member, RoomName, UserId};
use crate::server::broker::{BusEvent, BusRequest, Command, WeakBroker};
use crate::server::close::CloseReason;
use crate::server::metrics::Metrics;
use crate::server::store::Channel;
pub use health::Health;
use presence::{Place, Presence};
use wire::{EVERYONE, Published, Topic};

/// Requests queued for the bus task. When full (Redis is slow or gone), the
/// broker drops publications (other nodes read an unpublished message from
/// PostgreSQL) and keeps the rest (subscriptions, presence) in a backlog of
/// its own, which it hands over as room frees up.
const REQUEST_QUEUE: usize = 8192;

/// Requests taken per wake-up; their publications go in one pipeline.
const REQUEST_BATCH: usize = 256;

/// Publications received and not yet handed to the broker. When full (the
/// broker is behind), one is dropped: a message is then read from
/// PostgreSQL; a typing notice is simply lost.
const PUSH_QUEUE: usize = 8192;

/// How long one Redis command may take before it counts as failed.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);

/// How often a lost connection is retried.
const RETRY_EVERY: Duration = Duration::from_millis(250);

/// Rooms the lobby lists at most, as on a single node.
const LOBBY_ROOMS: usize = 200;

/// How often a node reads who is in its rooms and online from Redis, to
/// put right verdicts it missed (the push queue was full): a missed
/// departure shows for this long at most. Verdicts missed while the
/// connection was down are put right as soon as it is back.
const RECONCILE_EVERY: Duration = Duration::from_secs(30);

/// Rooms whose members one read asks Redis for.
const RECONCILE_BATCH: usize = 256;

/// Entries one pipeline registers again at most.
const REGISTER_BATCH: usize = 512;

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("cannot connect to Redis at redis_url: {0}")]
    Redis(#[from] redis::RedisError),
}

/// A connected bus, its task not yet started: the broker must exist first
/// to hear from it.
pub struct Bus {
    manager: ConnectionManager,
    /// Where the broker's requests come in, and the sender for the broker.
    requests: mpsc::Receiver<BusRequest>,
    sender: mpsc::Sender<BusRequest>,
    pushes: mpsc::Receiver<PushInfo>,
    health: Arc<Health>,
    /// This node's id, in what it publishes, so it can skip its own.
    node: String,
}

impl Bus {
    /// Connects to the Redis at `url` (RESP3, whatever the URL says).
    pub async fn connect(url: &str) -> Result<Self, BusError> {
        let info = url.into_connection_info()?;
        let settings = info
            .redis_settings()
            .clone()
            .set_protocol(ProtocolVersion::RESP3);
        let client = Client::open(info.set_redis_settings(settings))?;
        let (push_sender, pushes) = mpsc::channel(PUSH_QUEUE);
        let health = Arc::new(Health::default());
        let flag = health.clone();
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(RESPONSE_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_max_delay(Duration::from_secs(1))
            .set_automatic_resubscription()
            .set_push_sender(move |push: PushInfo| {
                if push.kind == PushKind::Disconnection {
                    flag.fail();
                }
                // Full: what this push carried is read from PostgreSQL.
                push_sender.try_send(push)
            });
        let mut manager = ConnectionManager::new_with_config(client, config).await?;
        manager.subscribe(EVERYONE).await?;
        let (sender, requests) = mpsc::channel(REQUEST_QUEUE);
        let node = uuid::Uuid::new_v4().simple().to_string();
        info!(%node, "cluster mode: this node's bus is connected to Redis");
        Ok(Self {
            manager,
            requests,
            sender,
            pushes,
            health,
            node,
        })
    }

    /// Whether the bus is usable, for the readiness check.
    pub fn health(&self) -> Arc<Health> {
        self.health.clone()
    }

    /// The queue the broker sends its requests to.
    pub fn sender(&self) -> mpsc::Sender<BusRequest> {
        self.sender.clone()
    }

    /// Starts the bus task; it ends when the broker drops its sender.
    pub fn start(self, broker: WeakBroker, metrics: Arc<Metrics>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(bus_loop(self, broker, metrics))
    }
}

/// The bus task's state.
struct Task {
    manager: ConnectionManager,
    presence: Presence,
    node: String,
    broker: WeakBroker,
    health: Arc<Health>,
    metrics: Arc<Metrics>,
    /// What this node is subscribed to, besides [`EVERYONE`].
    topics: HashSet<String>,
    /// Where this node's users are: what its share of presence must say.
    here: HashMap<(Place, UserId), DisplayName>,
    /// Topics whose unsubscribe failed, unsubscribed again once Redis
    /// answers.
    stale: HashSet<String>,
    /// When presence is next read back from Redis ([`Task::reconcile`]).
    next_reconcile: tokio::time::Instant,
    /// Not before then: Redis lost presence, and the nodes are registering
    /// theirs again.
    settled: tokio::time::Instant,
    /// The lobby as last told to the broker.
    lobby: Vec<(RoomName, usize)>,
    /// Publications of the requests being carried out.
    pipe: redis::Pipeline,
}

async fn bus_loop(bus: Bus, broker: WeakBroker, metrics: Arc<Metrics>) {
    let Bus {
        manager,
        mut requests,
        sender,
        mut pushes,
        health,
        node,
    } = bus;
    drop(sender);
    let mut task = Task {
        manager,
        presence: Presence::new(&node),
        node,
        broker,
        health,
        metrics,
        topics: HashSet::new(),
        here: HashMap::new(),
        stale: HashSet::new(),
        next_reconcile: tokio::time::Instant::now() + RECONCILE_EVERY,
        settled: tokio::time::Instant::now(),
        lobby: Vec::new(),
        pipe: redis::pipe(),
    };
    // The lease first: what this node registers from now on is its own.
    task.renew().await;
    task.health.take_lease_lost(); // a new node has none yet
    task.online_snapshot().await;
    let (wake, mut renewed) = mpsc::channel(1);
    tokio::spawn(lease::keep(
        task.manager.clone(),
        task.presence.clone(),
        task.health.clone(),
        wake,
    ));
    let mut batch = Vec::with_capacity(REQUEST_BATCH);
    let mut retry = tokio::time::interval(RETRY_EVERY);
    retry.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            received = requests.recv_many(&mut batch, REQUEST_BATCH) => {
                if received == 0 {
                    return; // the broker is gone: the server is exiting
                }
                for request in batch.drain(..) {
                    task.carry_out(request).await;
                }
                task.flush().await;
            }
            Some(push) = pushes.recv() => {
                if let Some(event) = received(push, &task.node) {
                    task.tell(event).await;
                }
            }
            Some(()) = renewed.recv() => {
                task.after_renewal().await;
                task.flush().await;
            }
            _ = retry.tick(), if task.health.is_lost() => {
                let seen = task.health.failures();
                if task.restore().await && task.health.recovered(seen) {
                    info!(topics = task.topics.len(), "the bus is back: catching every room up from PostgreSQL");
                    task.tell(BusEvent::Restored).await;
                    // Verdicts may have been missed meanwhile: presence is
                    // read back at the next renewal, or, if Redis lost it
                    // (the renewal says), once every node has had time to
                    // register its share again.
                    task.next_reconcile = tokio::time::Instant::now();
                    task.renew().await;
                    if task.health.take_lease_lost() {
                        task.lost_everything();
                    }
                    // Registers everything too.
                    task.put_share_right().await;
                    task.flush().await;
                }
            }
        }
        if !task.health.is_lost() && task.health.take_lease_lost() {
            task.lost_everything();
            if !task.here.is_empty() {
                warn!(
                    entries = task.here.len(),
                    "this node had no lease in Redis (it was taken for dead, or Redis lost it): registering its presence again"
                );
                task.register_everything().await;
                task.flush().await;
            }
        }
    }
}

impl Task {
    /// Hands `event` to the broker, waiting while it is behind (the push
    /// queue fills meanwhile, and what it drops is read from PostgreSQL).
    async fn tell(&self, event: BusEvent) {
        if let Some(broker) = self.broker.upgrade() {
            broker.send(Command::Bus(event)).await;
        }
    }

    fn publish(&mut self, published: &Published) {
        self.pipe
            .publish(published.topic(), published.encode())
            .ignore();
    }

    /// Sends the publications gathered, in one pipeline; while the bus is
    /// lost they are dropped (other nodes read the messages from
    /// PostgreSQL; typing is not worth keeping).
    async fn flush(&mut self) {
        let pipe = std::mem::replace(&mut self.pipe, redis::pipe());
        if pipe.is_empty() || self.lost() {
            return;
        }
        self.metrics.bus_publishes.inc_by(pipe.len() as u64);
        if let Err(error) = pipe.query_async::<()>(&mut self.manager).await
            && self.health.fail()
        {
            warn!(%error, "publishing to Redis failed; other nodes read these messages from PostgreSQL");
        }
    }

    /// Whether the bus is lost: then requests change only what this node
    /// keeps (what it holds, what it should be subscribed to), and no
    /// Redis call is made (each would wait for a reconnection that does
    /// not come, and the queue behind it fill up); the recovery puts Redis
    /// right from that.
    fn lost(&self) -> bool {
        self.health.is_lost()
    }

    /// A Redis call failed: the bus counts as lost until it answers again.
    fn failed(&self, what: &str, error: &redis::RedisError) {
        if self.health.fail() {
            warn!(%error, "{what} failed; it is put right once Redis answers again");
        }
    }

    async fn carry_out(&mut self, request: BusRequest) {
        let node = self.node.clone();
        match request {
            BusRequest::Publish { room, messages } => self.publish(&Published::Committed {
                node,
                room,
                messages: messages.iter().map(wire::posted).collect(),
            }),
            BusRequest::PublishDirect(message) => {
                let published = Published::Direct {
                    node,
                    message: wire::posted(&message),
                };
                // On the recipient's topic and on the sender's (their
                // other tabs), once if they are the same node's.
                self.publish(&published);
                self.pipe
                    .publish(wire::user_topic(message.from), published.encode())
                    .ignore();
            }
            BusRequest::Typing { room, user, name } => self.publish(&Published::Typing {
                node,
                room,
                user,
                name,
            }),
            BusRequest::Renamed { user, name } => {
                for ((_, who), known) in &mut self.here {
                    if *who == user {
                        *known = name.clone();
                    }
                }
                if self.lost() {
                    return; // registered again with the new name once back
                }
                if let Err(error) = Presence::name(&mut self.manager, user, &name).await {
                    self.failed("recording a name", &error);
                }
                self.publish(&Published::Renamed { node, user, name });
            }
            BusRequest::RoomChanged(room) => self.publish(&Published::RoomChanged { node, room }),
            BusRequest::Privacy { room, private } => {
                if self.lost() {
                    return; // recorded again when the room's settings are next read
                }
                if let Err(error) = Presence::set_private(&mut self.manager, &room, private).await {
                    self.failed("recording a room's privacy", &error);
                }
            }
            BusRequest::Disconnect(user, reason, notice) => self.publish(&Published::Disconnect {
                node,
                user,
                signed_out: reason == CloseReason::SignedOut,
                banned: (reason == CloseReason::Banned).then(|| notice.unwrap_or_default()),
            }),
            BusRequest::Members { room, reply } => {
                let members = if self.lost() {
                    None
                } else {
                    match Presence::members(&mut self.manager, std::slice::from_ref(&room)).await {
                        Ok(mut members) => Some(members.pop().unwrap_or_default()),
                        Err(error) => {
                            self.failed("reading a room's members", &error);
                            None
                        }
                    }
                };
                let listed = members.map(|members| {
                    let mut listed: Vec<Member> = members
                        .into_iter()
                        .map(|(user, name)| Member {
                            user,
                            name: name.unwrap_or_else(|| user.guest_name()),
                        })
                        .collect();
                    listed.sort_by_key(|member| member.user);
                    // As many as `joined` lists, at most.
                    listed.truncate(1000);
                    listed
                });
                let _ = reply.send(listed);
            }
            BusRequest::Subscribe(room) => {
                let topic = Topic::Room(room.clone()).name();
                self.subscribe(topic).await;
                if self.lost() {
                    // The room loads now; its members are read back once
                    // the bus is.
                    let members = Vec::new();
                    return self.tell(BusEvent::Subscribed { room, members }).await;
                }
                // Read after subscribing, so the verdicts that follow the
                // read come over the bus.
                let rooms = std::slice::from_ref(&room);
                let members = match Presence::members(&mut self.manager, rooms).await {
                    Ok(mut members) => members.pop().unwrap_or_default(),
                    Err(error) => {
                        self.failed("reading a room's members", &error);
                        Vec::new()
                    }
                };
                self.tell(BusEvent::Subscribed { room, members }).await;
            }
            BusRequest::Unsubscribe(room) => self.unsubscribe(Topic::Room(room).name()).await,
            BusRequest::Arrive { room, user, name } => {
                let place = room.map_or(Place::Online, Place::Room);
                if place == Place::Online {
                    self.subscribe(wire::user_topic(user)).await;
                }
                self.here.insert((place.clone(), user), name.clone());
                self.arrive(place, user, name).await;
            }
            BusRequest::Depart { room, user } => {
                let place = room.map_or(Place::Online, Place::Room);
                if place == Place::Online {
                    self.unsubscribe(wire::user_topic(user)).await;
                }
                self.here.remove(&(place.clone(), user));
                self.depart(place, user).await;
            }
        }
    }

    async fn subscribe(&mut self, topic: String) {
        self.stale.remove(&topic);
        if !self.lost()
            && let Err(error) = self.manager.subscribe(&topic).await
        {
            self.failed("subscribing", &error);
        }
        self.topics.insert(topic);
    }

    async fn unsubscribe(&mut self, topic: String) {
        self.topics.remove(&topic);
        if self.lost() {
            self.stale.insert(topic);
        } else if let Err(error) = self.manager.unsubscribe(&topic).await {
            debug!(%error, "unsubscribing failed; again after the next renewal");
            self.stale.insert(topic);
        }
    }

    /// Unsubscribes what failed to be, or was left while the bus was
    /// lost.
    async fn unsubscribe_stale(&mut self) {
        if self.stale.is_empty() || self.lost() {
            return;
        }
        let stale: Vec<String> = std::mem::take(&mut self.stale).into_iter().collect();
        if let Err(error) = self.manager.unsubscribe(&stale).await {
            debug!(%error, "unsubscribing failed; again after the next renewal");
            self.stale.extend(stale);
        }
    }

    /// Registers `user` at `place` for this node; the first node to have
    /// them there says so to all.
    async fn arrive(&mut self, place: Place, user: UserId, name: DisplayName) {
        if self.lost() {
            return; // registered once the bus is back
        }
        if let Err(error) = Presence::name(&mut self.manager, user, &name).await {
            return self.failed("recording a name", &error);
        }
        let verdict = self.verdict(&place, user, Some(name), true);
        let arrived = self
            .presence
            .arrive(&mut self.manager, &place, user, verdict);
        match arrived.await {
            Ok(arrival) => {
                if arrival.lease_lost {
                    self.health.lose_lease();
                }
            }
            Err(error) => self.failed("registering presence", &error),
        }
    }

    /// Registers everything this node holds again, after Redis lost it or
    /// after calls failed: an entry Redis has already is left as it is (the
    /// script's `SADD` finds it), one it lacks is added, and announced if
    /// its user is new anywhere.
    async fn register_everything(&mut self) {
        let here: Vec<_> = self
            .here
            .iter()
            .map(|((place, user), name)| {
                let verdict = self.verdict(place, *user, Some(name.clone()), true);
                (place.clone(), *user, name.clone(), verdict)
            })
            .collect();
        for chunk in here.chunks(REGISTER_BATCH) {
            if self.lost() {
                return; // Redis failed again: the next recovery goes on
            }
            match self.presence.arrive_all(&mut self.manager, chunk).await {
                Ok(lease_lost) => {
                    if lease_lost {
                        self.health.lose_lease();
                    }
                }
                Err(error) => return self.failed("registering presence", &error),
            }
        }
    }

    /// Unregisters `user` at `place` for this node; the last node to have
    /// them there says they left. If Redis fails, the departure is made
    /// once it answers again ([`Task::put_share_right`]).
    async fn depart(&mut self, place: Place, user: UserId) {
        if self.lost() {
            return; // made from this node's share once the bus is back
        }
        let verdict = self.verdict(&place, user, None, false);
        let departed = self
            .presence
            .depart(&mut self.manager, &place, user, verdict);
        if let Err(error) = departed.await {
            self.failed("unregistering presence", &error);
        }
    }

    /// Once Redis answers again after a failure: what this node's share in
    /// Redis holds and the node does not any more (departures that failed
    /// meanwhile) is removed, and announced if its user is now nowhere;
    /// what the node holds and the share lacks is registered again.
    async fn put_share_right(&mut self) {
        let share = match self.presence.share(&mut self.manager).await {
            Ok(share) => share,
            Err(error) => return self.failed("reading this node's presence", &error),
        };
        let left: Vec<(Place, UserId)> = share
            .into_iter()
            .filter(|entry| !self.here.contains_key(entry))
            .collect();
        if !left.is_empty() {
            info!(
                departures = left.len(),
                "making the departures Redis did not take while it failed"
            );
        }
        for (place, user) in left {
            self.depart(place, user).await;
            if self.lost() {
                return; // Redis failed again: the next recovery goes on
            }
        }
        self.register_everything().await;
    }

    /// This node's presence is not in Redis (it was swept out, or Redis
    /// lost everything): the other nodes register theirs again too, so
    /// presence is read back only once they have had the time to.
    fn lost_everything(&mut self) {
        let settled = tokio::time::Instant::now()
            + Duration::from_millis(presence::LEASE_MS)
            + presence::RENEW_EVERY;
        self.settled = self.settled.max(settled);
    }

    /// The verdict that `user` is now at `place` on some node (or on
    /// none): its topic and payload, for a presence script to publish.
    fn verdict(
        &self,
        place: &Place,
        user: UserId,
        name: Option<DisplayName>,
        present: bool,
    ) -> (String, String) {
        let node = self.node.clone();
        let published = match place.clone() {
            Place::Room(room) => Published::Presence {
                node,
                room,
                user,
                name,
                present,
            },
            Place::Online => Published::Online {
                node,
                user,
                present,
            },
        };
        (published.topic(), published.encode())
    }

    /// Renews this node's lease here and now (at the start, and once the
    /// bus is back), as the lease's task does every second.
    async fn renew(&mut self) {
        let renewed = lease::renew(&mut self.manager, &self.presence, &self.health).await;
        if let Err(error) = renewed {
            self.failed("renewing this node's lease", &error);
        }
    }

    /// After each renewal of the lease: the lobby passed on if it changed,
    /// stale subscriptions dropped, and presence read back when due.
    async fn after_renewal(&mut self) {
        if self.lost() {
            return;
        }
        match Presence::lobby(&mut self.manager, LOBBY_ROOMS).await {
            Ok(lobby) if lobby != self.lobby => {
                self.lobby = lobby.clone();
                self.tell(BusEvent::Lobby(lobby)).await;
            }
            Ok(_) => {}
            Err(error) => return self.failed("reading the lobby", &error),
        }
        self.unsubscribe_stale().await;
        let now = tokio::time::Instant::now();
        if now >= self.next_reconcile && now >= self.settled {
            self.next_reconcile = now + RECONCILE_EVERY;
            self.reconcile().await;
            self.online_snapshot().await;
        }
    }

    /// Reads who is in each room this node is subscribed to, and hands it
    /// to the broker, which puts right the arrivals and departures it
    /// missed. Consistent without a transaction: a verdict this task took
    /// in before asking was reached before the read, and one it has not
    /// is handed over after the read, which applied in order ends right.
    async fn reconcile(&mut self) {
        let rooms: Vec<RoomName> = self
            .topics
            .iter()
            .filter_map(|topic| match Topic::parse(topic) {
                Some(Topic::Room(room)) => Some(room),
                _ => None,
            })
            .collect();
        for chunk in rooms.chunks(RECONCILE_BATCH) {
            match Presence::members(&mut self.manager, chunk).await {
                Ok(members) => {
                    let rooms = chunk.iter().cloned().zip(members).collect();
                    self.tell(BusEvent::Members(rooms)).await;
                }
                Err(error) => return self.failed("reading rooms' members", &error),
            }
        }
    }

    /// Everyone online on any node, for the broker's check of direct
    /// messages' recipients.
    async fn online_snapshot(&mut self) {
        match Presence::online(&mut self.manager).await {
            Ok(users) => self.tell(BusEvent::Online(users)).await,
            Err(error) => self.failed("reading who is online", &error),
        }
    }

    /// After a lost connection: whether Redis answers again, with every
    /// topic subscribed.
    async fn restore(&mut self) -> bool {
        let answered: redis::RedisResult<String> =
            redis::cmd("PING").query_async(&mut self.manager).await;
        if let Err(error) = answered {
            debug!(%error, "Redis does not answer yet");
            return false;
        }
        let mut topics: Vec<&String> = self.topics.iter().collect();
        let everyone = EVERYONE.to_owned();
        topics.push(&everyone);
        for chunk in topics.chunks(REQUEST_BATCH) {
            if let Err(error) = self.manager.subscribe(chunk).await {
                warn!(%error, "subscribing again failed; trying again");
                return false;
            }
        }
        true
    }
}

/// A publication from another node (or this one's presence), as the
/// broker takes it.
fn received(push: PushInfo, node: &str) -> Option<BusEvent> {
    match push.kind {
        PushKind::Message => {}
        PushKind::Disconnection => {
            error!(
                "the connection to Redis dropped: messages from other nodes are read from PostgreSQL until it is back"
            );
            return None;
        }
        _ => return None,
    }
    let [topic, payload] = <[Value; 2]>::try_from(push.data).ok()?;
    let topic: String = redis::from_redis_value(topic).ok()?;
    let payload: Vec<u8> = redis::from_redis_value(payload).ok()?;
    let published: Published = match serde_json::from_slice(&payload) {
        Ok(published) => published,
        Err(error) => {
            warn!(%topic, %error, "ignoring a publication that is not confab's");
            return None;
        }
    };
    let topic = Topic::parse(&topic)?;
    let own = published.node() == node;
    Some(match (published, topic) {
        (Published::Committed { room, messages, .. }, Topic::Room(on)) if !own && on == room => {
            let channel = Channel::Room(room.clone());
            let messages = messages
                .into_iter()
                .map(|posted| wire::stored(channel.clone(), posted))
                .collect();
            BusEvent::Published { room, messages }
        }
        // Presence comes from the scripts' verdict, the publisher's own
        // included: it acts on it as every node does.
        (
            Published::Presence {
                room,
                user,
                name,
                present,
                ..
            },
            Topic::Room(on),
        ) if on == room => BusEvent::Presence {
            room,
            user,
            name,
            present,
        },
        (
            Published::Typing {
                room, user, name, ..
            },
            Topic::Room(on),
        ) if !own && on == room => BusEvent::Typing { room, user, name },
        (Published::Direct { message, .. }, Topic::User(to)) if !own => {
            let peer = message.to?;
            let channel = Channel::direct(message.from, peer);
            BusEvent::Direct {
                to,
                message: wire::stored(channel, message),
            }
        }
        (Published::Online { user, present, .. }, Topic::Everyone) => {
            BusEvent::OnlineChanged { user, present }
        }
        (Published::Renamed { user, name, .. }, Topic::Everyone) if !own => {
            BusEvent::Renamed { user, name }
        }
        (
            Published::Disconnect {
                user,
                signed_out,
                banned,
                ..
            },
            Topic::Everyone,
        ) if !own => {
            let reason = match (signed_out, &banned) {
                (true, _) => CloseReason::SignedOut,
                (false, Some(_)) => CloseReason::Banned,
                (false, None) => CloseReason::Disconnected,
            };
            BusEvent::Disconnect(user, reason, banned.filter(|notice| !notice.is_empty()))
        }
        (Published::RoomChanged { room, .. }, Topic::Room(on)) if !own && on == room => {
            BusEvent::RoomChanged(room)
        }
        _ => return None,
    })
}

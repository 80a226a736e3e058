//! Durable history. One task, the committer, alone writes the database: it takes
//! messages from the broker in order, gives each the next sequence number of
//! its channel (a room, or the direct conversation of two users) inside a
//! transaction, commits batches (group commit: whatever queued up during one
//! fsync goes into the next), and reports each committed batch back, so that
//! only committed messages are ever delivered. A sequence number is
//! therefore never handed out for a message that is not on disk, and never
//! handed out twice.
//!
//! The same task prunes what retention no longer keeps, in small chunks
//! between batches. Reads for paging and names go to a separate reader pool
//! and never wait on commits.
//!
//! With `storage = "memory"` the same task numbers messages in memory and
//! keeps a recent window of each channel; nothing survives a restart.
//!
//! Where history is kept is a [`Backend`] (`backend.rs`), chosen once in
//! [`Store::open`]; this file is the committer task and the handle on it, the
//! same for every backend.

mod backend;
mod memory;
mod sqlite;
pub mod window;

use std::{
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use tokio::{sync::mpsc, time::MissedTickBehavior};
use tracing::{error, info};

pub use backend::{Backend, StoreError};
pub use sqlite::Database;

use crate::protocol::{ClientId, DisplayName, MessageContent, Posted, RoomName, UserId};
use crate::server::config::{Settings, Storage};
pub use memory::Memory;

/// Requests queued for the committer before the broker refuses new messages
/// with a "busy" error rather than wait.
const REQUEST_QUEUE: usize = 8192;

/// Reports waiting for the broker before the committer pauses.
const REPORT_QUEUE: usize = 256;

/// Requests taken per wake-up; their appends share one transaction. Their
/// report is delivered in one go, so it must stay well under a connection's
/// send queue (`send_queue_frames`, 512 by default): a burst of committed
/// messages must not make a healthy reader look slow.
const REQUEST_BATCH: usize = 128;

/// How often retention runs, and how many messages one pruning step deletes.
const PRUNE_EVERY: Duration = Duration::from_secs(60);
const PRUNE_CHUNK: usize = 500;

/// Where a message belongs; each channel numbers its messages 1, 2, 3...
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Channel {
    Room(RoomName),
    /// A direct conversation; the two ids in ascending order, so both
    /// participants name the same channel.
    Direct(UserId, UserId),
}

impl Channel {
    pub fn direct(one: UserId, other: UserId) -> Self {
        Self::Direct(one.min(other), one.max(other))
    }

    /// The text stored in the database: `r:<room>` or `d:<id>:<id>`. Room
    /// names cannot contain `:`, so the two kinds never collide.
    fn key(&self) -> String {
        match self {
            Self::Room(room) => format!("r:{room}"),
            Self::Direct(a, b) => format!("d:{a}:{b}"),
        }
    }

    fn from_key(key: &str) -> Option<Self> {
        if let Some(room) = key.strip_prefix("r:") {
            return RoomName::parse(room).ok().map(Self::Room);
        }
        let (a, b) = key.strip_prefix("d:")?.split_once(':')?;
        Some(Self::direct(UserId::parse(a).ok()?, UserId::parse(b).ok()?))
    }
}

/// Whom a message's report is for: the broker's name for the sending
/// connection, carried through unread (the store knows nothing of
/// connections).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tag(pub u64);

/// A message the broker has accepted (the sender may post there), not yet
/// numbered or stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    /// The connection that sent it, to be acknowledged.
    pub conn: Tag,
    pub channel: Channel,
    pub from: UserId,
    pub name: DisplayName,
    /// The recipient of a direct message.
    pub to: Option<UserId>,
    pub content: MessageContent,
    pub client_id: Option<ClientId>,
}

impl NewMessage {
    fn stored(&self, seq: u64, ts: i64) -> StoredMessage {
        StoredMessage {
            channel: self.channel.clone(),
            seq,
            ts,
            from: self.from,
            name: self.name.clone(),
            to: self.to,
            content: self.content.clone(),
            client_id: self.client_id.clone(),
        }
    }
}

/// A message as stored: numbered within its channel and timestamped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    pub channel: Channel,
    pub seq: u64,
    /// Server time, milliseconds since the Unix epoch.
    pub ts: i64,
    pub from: UserId,
    pub name: DisplayName,
    pub to: Option<UserId>,
    pub content: MessageContent,
    pub client_id: Option<ClientId>,
}

impl StoredMessage {
    /// As it travels in a `history` message.
    pub fn posted(&self) -> Posted {
        Posted {
            seq: self.seq,
            ts: self.ts,
            from: self.from,
            name: self.name.clone(),
            content: self.content.clone(),
            to: self.to,
            id: self.client_id.clone(),
        }
    }
}

/// One message of a committed batch.
#[derive(Debug)]
pub struct Appended {
    pub conn: Tag,
    pub message: StoredMessage,
    /// False for a resend of a client id already stored: `message` is the
    /// original, and it must not be delivered again.
    pub new: bool,
}

/// What the committer reports back to the broker, in request order.
#[derive(Debug)]
pub enum StoreReport {
    Appended(Vec<Appended>),
    /// The batch was rolled back: none of these messages was stored.
    AppendFailed(Vec<NewMessage>),
    /// The newest messages of a room, for a room coming into memory.
    RoomLoaded {
        room: RoomName,
        recent: Vec<StoredMessage>,
    },
    /// Loading a room failed; its waiting joiners must be told.
    LoadFailed {
        room: RoomName,
    },
}

/// What the broker asks of the store's committer.
#[derive(Debug)]
pub enum Request {
    Append(NewMessage),
    /// The `recent` newest messages of `room`, reported after every append
    /// requested before.
    LoadRoom {
        room: RoomName,
        recent: usize,
    },
    SetName {
        user: UserId,
        name: DisplayName,
    },
}

/// What retention keeps; `None` means no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retention {
    pub max_messages: Option<u64>,
    pub max_age: Option<Duration>,
}

impl Retention {
    pub fn from_settings(settings: &Settings) -> Self {
        Self {
            max_messages: (settings.retention_max_messages > 0)
                .then_some(settings.retention_max_messages),
            max_age: settings.retention_max_age(),
        }
    }

    fn is_unlimited(&self) -> bool {
        self.max_messages.is_none() && self.max_age.is_none()
    }

    /// Messages stamped before this are due for pruning.
    pub fn cutoff_ms(&self, now_ms: i64) -> Option<i64> {
        self.max_age.map(|age| {
            let age = i64::try_from(age.as_millis()).unwrap_or(i64::MAX);
            now_ms.saturating_sub(age)
        })
    }
}

/// The broker's handle on the committer, and the read side for everyone.
#[derive(Clone)]
pub struct Store {
    requests: mpsc::Sender<Request>,
    backend: Arc<dyn Backend>,
}

impl Store {
    /// Opens the storage the settings name and starts the committer task: the
    /// one place a backend is chosen.
    pub async fn open(
        settings: &Settings,
    ) -> Result<(Self, mpsc::Receiver<StoreReport>), StoreError> {
        let retention = Retention::from_settings(settings);
        let backend: Arc<dyn Backend> = match settings.storage {
            Storage::Sqlite => {
                let database = Database::open(&settings.data_dir).await?;
                info!(path = %settings.data_dir.join("confab.db").display(), "history in SQLite");
                Arc::new(database)
            }
            Storage::Memory => {
                info!("history in memory only: nothing survives a restart");
                Arc::new(Memory::new(settings.memory_storage_max_bytes, new_epoch()))
            }
        };
        Ok(Self::start(backend, retention))
    }

    #[cfg(test)]
    pub fn sqlite(database: Database, retention: Retention) -> (Self, mpsc::Receiver<StoreReport>) {
        Self::start(Arc::new(database), retention)
    }

    /// History in memory, at most `max_bytes` of it (see [`memory`]).
    #[cfg(test)]
    pub fn in_memory(
        retention: Retention,
        max_bytes: usize,
    ) -> (Self, mpsc::Receiver<StoreReport>) {
        Self::start(Arc::new(Memory::new(max_bytes, new_epoch())), retention)
    }

    /// Starts the committer task over `backend`. Its reports come out of the
    /// receiver, in request order; the committer waits while that channel is
    /// full.
    pub fn start(
        backend: Arc<dyn Backend>,
        retention: Retention,
    ) -> (Self, mpsc::Receiver<StoreReport>) {
        let (requests, receiver) = mpsc::channel(REQUEST_QUEUE);
        let (reports, report_receiver) = mpsc::channel(REPORT_QUEUE);
        tokio::spawn(store_loop(backend.clone(), retention, receiver, reports));
        (Self { requests, backend }, report_receiver)
    }

    /// The id of this history's numbering: it changes only when the
    /// numbering starts over (memory storage restarted, a new database), so
    /// a client that saw another one must forget the sequence numbers it
    /// knows.
    pub fn epoch(&self) -> &str {
        self.backend.epoch()
    }

    /// Queues a request for the committer, without waiting: a full queue (the
    /// committer is behind) or a stopped committer gives the request back.
    pub fn request(&self, request: Request) -> Result<(), Box<Request>> {
        self.requests
            .try_send(request)
            .map_err(|error| match error {
                mpsc::error::TrySendError::Full(request)
                | mpsc::error::TrySendError::Closed(request) => Box::new(request),
            })
    }

    #[cfg(test)]
    pub fn append(&self, message: NewMessage) -> Result<(), Box<Request>> {
        self.request(Request::Append(message))
    }

    #[cfg(test)]
    pub fn load_room(&self, room: RoomName, recent: usize) -> Result<(), Box<Request>> {
        self.request(Request::LoadRoom { room, recent })
    }

    #[cfg(test)]
    pub fn set_name(&self, user: UserId, name: DisplayName) -> Result<(), Box<Request>> {
        self.request(Request::SetName { user, name })
    }

    /// A page of a channel, oldest first (see [`Backend::page`]).
    pub async fn page(
        &self,
        channel: &Channel,
        before: Option<u64>,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        self.backend.page(channel, before, after, limit).await
    }

    /// The name `user` chose, if any.
    pub async fn user_name(&self, user: UserId) -> Result<Option<DisplayName>, StoreError> {
        self.backend.user_name(user).await
    }
}

async fn store_loop(
    backend: Arc<dyn Backend>,
    retention: Retention,
    mut requests: mpsc::Receiver<Request>,
    reports: mpsc::Sender<StoreReport>,
) {
    let mut batch = Vec::with_capacity(REQUEST_BATCH);
    let mut prune_timer = tokio::time::interval(PRUNE_EVERY);
    prune_timer.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut pruning = false;
    loop {
        tokio::select! {
            // Requests first: pruning only runs in the gaps between them.
            biased;
            received = requests.recv_many(&mut batch, REQUEST_BATCH) => {
                if received == 0 {
                    return; // every handle is gone: the server is exiting
                }
            }
            _ = prune_timer.tick(), if !pruning && !retention.is_unlimited() => {
                pruning = true;
                continue;
            }
            () = std::future::ready(()), if pruning => {
                let cutoff = retention.cutoff_ms(now_ms());
                match backend.prune(retention.max_messages, cutoff, PRUNE_CHUNK).await {
                    Ok(deleted) => {
                        if deleted > 0 {
                            info!(deleted, "retention pruned messages");
                        }
                        pruning = deleted >= PRUNE_CHUNK;
                    }
                    Err(error) => {
                        error!(%error, "pruning old messages failed");
                        pruning = false;
                    }
                }
                continue;
            }
        }
        for report in carry_out(&*backend, &mut batch, now_ms()).await {
            if reports.send(report).await.is_err() {
                return; // the broker is gone: the server is exiting
            }
        }
    }
}

/// Carries out a batch of requests, in order: the appends in one
/// transaction (group commit), a room's load after every append requested
/// before it, messages stamped `now_ms`. Returns the reports for the
/// broker, in request order. The committer task's step, and the broker's
/// tests' stand-in for that task.
pub async fn carry_out(
    backend: &dyn Backend,
    batch: &mut Vec<Request>,
    now_ms: i64,
) -> Vec<StoreReport> {
    let mut reports = Vec::new();
    let mut appends = Vec::new();
    for request in batch.drain(..) {
        match request {
            Request::Append(message) => appends.push(message),
            Request::LoadRoom { room, recent } => {
                // A load must see every append requested before it.
                reports.extend(commit(backend, &mut appends, now_ms).await);
                let report = match backend.recent(&Channel::Room(room.clone()), recent).await {
                    Ok(recent) => StoreReport::RoomLoaded { room, recent },
                    Err(error) => {
                        error!(%room, %error, "loading a room's history failed");
                        StoreReport::LoadFailed { room }
                    }
                };
                reports.push(report);
            }
            Request::SetName { user, name } => {
                if let Err(error) = backend.set_name(user, &name).await {
                    error!(%user, %error, "storing a display name failed");
                }
            }
        }
    }
    reports.extend(commit(backend, &mut appends, now_ms).await);
    reports
}

async fn commit(
    backend: &dyn Backend,
    appends: &mut Vec<NewMessage>,
    now_ms: i64,
) -> Option<StoreReport> {
    if appends.is_empty() {
        return None;
    }
    Some(match backend.append(appends, now_ms).await {
        Ok(stored) => StoreReport::Appended(
            appends
                .drain(..)
                .zip(stored)
                .map(|(request, (message, new))| Appended {
                    conn: request.conn,
                    message,
                    new,
                })
                .collect(),
        ),
        Err(error) => {
            error!(%error, messages = appends.len(), "storing messages failed; the batch was rolled back");
            StoreReport::AppendFailed(std::mem::take(appends))
        }
    })
}

/// A fresh epoch: 64 random bits in hex. Should the system's random source
/// fail, the clock stands in: it differs between restarts all the same.
fn new_epoch() -> String {
    let mut bytes = [0; 8];
    if getrandom::fill(&mut bytes).is_err() {
        bytes = now_ms().to_le_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room(name: &str) -> Channel {
        Channel::Room(RoomName::parse(name).unwrap())
    }

    fn message(channel: &Channel, from: UserId, text: &str, client_id: Option<&str>) -> NewMessage {
        NewMessage {
            conn: Tag(7),
            channel: channel.clone(),
            from,
            name: from.guest_name(),
            to: None,
            content: MessageContent::parse(text).unwrap(),
            client_id: client_id.map(|id| ClientId::parse(id).unwrap()),
        }
    }

    /// Appends one message and returns (seq, new, content) for it.
    async fn append(
        store: &Store,
        reports: &mut mpsc::Receiver<StoreReport>,
        new: NewMessage,
    ) -> (u64, bool, String) {
        store.append(new).unwrap();
        match reports.recv().await.unwrap() {
            StoreReport::Appended(mut stored) => {
                assert_eq!(stored.len(), 1);
                let appended = stored.remove(0);
                assert_eq!(appended.conn, Tag(7));
                (
                    appended.message.seq,
                    appended.new,
                    appended.message.content.as_str().to_owned(),
                )
            }
            other => panic!("expected an append report, got {other:?}"),
        }
    }

    fn seqs(page: &[StoredMessage]) -> Vec<u64> {
        page.iter().map(|m| m.seq).collect()
    }

    /// Every backend, each with its own fresh storage: the suite each of
    /// them passes. The directory lives as long as the backend is used.
    async fn raw_backends() -> Vec<(Arc<dyn Backend>, tempfile::TempDir)> {
        let dir = tempfile::tempdir().unwrap();
        let database = Database::open(dir.path()).await.unwrap();
        vec![
            (Arc::new(database), dir),
            (
                Arc::new(Memory::new(usize::MAX, new_epoch())),
                tempfile::tempdir().unwrap(),
            ),
        ]
    }

    /// Both backends behind a store and its committer task, each with its own
    /// fresh storage; the directory lives as long as the store is used.
    async fn backends() -> Vec<(Store, mpsc::Receiver<StoreReport>, tempfile::TempDir)> {
        let dir = tempfile::tempdir().unwrap();
        let database = Database::open(dir.path()).await.unwrap();
        let (sqlite, sqlite_reports) = Store::sqlite(database, Retention::default());
        let (memory, memory_reports) = Store::in_memory(Retention::default(), usize::MAX);
        vec![
            (sqlite, sqlite_reports, dir),
            (memory, memory_reports, tempfile::tempdir().unwrap()),
        ]
    }

    #[tokio::test]
    async fn the_epoch_stays_with_a_database_and_changes_with_a_new_history() {
        let dir = tempfile::tempdir().unwrap();
        let first = Database::open(dir.path()).await.unwrap().epoch().to_owned();
        let reopened = Database::open(dir.path()).await.unwrap().epoch().to_owned();
        assert_eq!(first, reopened, "the same file, the same numbering");
        assert_eq!(first.len(), 16);
        let other_dir = tempfile::tempdir().unwrap();
        let other = Database::open(other_dir.path()).await.unwrap();
        assert_ne!(other.epoch(), first, "a new database numbers afresh");
        let (one, _) = Store::in_memory(Retention::default(), usize::MAX);
        let (two, _) = Store::in_memory(Retention::default(), usize::MAX);
        assert_ne!(
            one.epoch(),
            two.epoch(),
            "memory storage starts over each time"
        );
    }

    #[tokio::test]
    async fn messages_are_numbered_per_channel_without_gaps_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let (ana, ben) = (UserId::new_random(), UserId::new_random());
        let dm = Channel::direct(ben, ana);
        {
            let database = Database::open(dir.path()).await.unwrap();
            let (store, mut reports) = Store::sqlite(database, Retention::default());
            for (channel, expected) in [
                (room("a"), 1),
                (room("a"), 2),
                (room("b"), 1),
                (dm.clone(), 1),
                (room("a"), 3),
                (Channel::direct(ana, ben), 2),
            ] {
                let (seq, new, _) =
                    append(&store, &mut reports, message(&channel, ana, "hi", None)).await;
                assert_eq!((seq, new), (expected, true), "{channel:?}");
            }
        }
        // A new process: the numbering continues from what is on disk.
        let database = Database::open(dir.path()).await.unwrap();
        assert_eq!(
            seqs(&database.page(&room("a"), None, None, 10).await.unwrap()),
            [1, 2, 3]
        );
        assert_eq!(
            seqs(&database.page(&dm, None, None, 10).await.unwrap()),
            [1, 2]
        );
        let (store, mut reports) = Store::sqlite(database, Retention::default());
        let (seq, _, _) = append(
            &store,
            &mut reports,
            message(&room("a"), ana, "again", None),
        )
        .await;
        assert_eq!(seq, 4);
    }

    #[tokio::test]
    async fn a_resent_client_id_is_stored_once_and_answered_with_the_original() {
        for (store, mut reports, _dir) in backends().await {
            let (ana, ben) = (UserId::new_random(), UserId::new_random());
            let a = room("a");
            let first = append(
                &store,
                &mut reports,
                message(&a, ana, "original", Some("m-1")),
            )
            .await;
            assert_eq!(first, (1, true, "original".into()));
            let resend = append(
                &store,
                &mut reports,
                message(&a, ana, "original", Some("m-1")),
            )
            .await;
            assert_eq!(resend, (1, false, "original".into()));
            // Client ids are per sender: another user may reuse one.
            let other = append(&store, &mut reports, message(&a, ben, "mine", Some("m-1"))).await;
            assert_eq!((other.0, other.1), (2, true));
            // No number was spent on the duplicate.
            let next = append(&store, &mut reports, message(&a, ana, "next", Some("m-2"))).await;
            assert_eq!((next.0, next.1), (3, true));
            assert_eq!(
                seqs(&store.page(&a, None, None, 10).await.unwrap()),
                [1, 2, 3]
            );
        }
    }

    #[tokio::test]
    async fn a_client_id_repeated_within_one_batch_is_stored_once() {
        for (backend, _dir) in raw_backends().await {
            let (ana, ben) = (UserId::new_random(), UserId::new_random());
            let a = room("a");
            let batch = [
                message(&a, ana, "first", Some("x")),
                message(&a, ben, "other sender", Some("x")),
                message(&a, ana, "first", Some("x")),
                message(&a, ana, "no id", None),
            ];
            let stored = backend.append(&batch, 5).await.unwrap();
            let summary: Vec<_> = stored.iter().map(|(m, new)| (m.seq, *new)).collect();
            assert_eq!(summary, [(1, true), (2, true), (1, false), (3, true)]);
            // The same id in another room is another message.
            let elsewhere = backend
                .append(&[message(&room("b"), ana, "first", Some("x"))], 6)
                .await
                .unwrap();
            assert_eq!((elsewhere[0].0.seq, elsewhere[0].1), (1, true));
            // And across batches, from what is stored.
            let again = backend.append(&batch[..1], 6).await.unwrap();
            assert_eq!((again[0].0.seq, again[0].1), (1, false));
            assert_eq!(
                seqs(&backend.page(&a, None, None, 10).await.unwrap()),
                [1, 2, 3]
            );
        }
    }

    #[tokio::test]
    async fn every_backend_prunes_by_count_and_age_and_numbers_on() {
        for (backend, _dir) in raw_backends().await {
            let ana = UserId::new_random();
            let (a, b) = (room("a"), room("b"));
            let batch: Vec<_> = (1..=10)
                .map(|n| message(&a, ana, &n.to_string(), None))
                .collect();
            backend.append(&batch, 1_000).await.unwrap();
            backend.append(&batch[..3], 5_000).await.unwrap();
            let batch: Vec<_> = (1..=2)
                .map(|n| message(&b, ana, &n.to_string(), None))
                .collect();
            backend.append(&batch, 5_000).await.unwrap();
            // The newest 5 of each channel.
            assert_eq!(backend.prune(Some(5), None, 1_000).await.unwrap(), 8);
            assert_eq!(
                seqs(&backend.recent(&a, 100).await.unwrap()),
                [9, 10, 11, 12, 13]
            );
            // Nothing stamped before 2,000.
            assert_eq!(backend.prune(None, Some(2_000), 1_000).await.unwrap(), 2);
            assert_eq!(
                seqs(&backend.page(&a, None, None, 100).await.unwrap()),
                [11, 12, 13]
            );
            assert_eq!(
                seqs(&backend.page(&b, None, None, 100).await.unwrap()),
                [1, 2]
            );
            // Numbering goes on past what was pruned.
            let next = backend.append(&batch[..1], 9_000).await.unwrap();
            assert_eq!(next[0].0.seq, 3);
            let next = backend
                .append(&[message(&a, ana, "x", None)], 9_000)
                .await
                .unwrap();
            assert_eq!(next[0].0.seq, 14);
        }
    }

    #[tokio::test]
    async fn pages_split_exactly_at_their_boundaries() {
        for (store, mut reports, _dir) in backends().await {
            let ana = UserId::new_random();
            let a = room("a");
            for n in 1..=10 {
                append(&store, &mut reports, message(&a, ana, &n.to_string(), None)).await;
            }
            let page = |before, after, limit| {
                let store = store.clone();
                let a = a.clone();
                async move { seqs(&store.page(&a, before, after, limit).await.unwrap()) }
            };
            // Backwards from the newest.
            assert_eq!(page(None, None, 3).await, [8, 9, 10]);
            assert_eq!(page(Some(8), None, 3).await, [5, 6, 7]);
            assert_eq!(page(Some(3), None, 3).await, [1, 2]);
            assert!(page(Some(1), None, 3).await.is_empty());
            // Forwards from a resume point, optionally up to a bound.
            assert_eq!(page(None, Some(0), 3).await, [1, 2, 3]);
            assert_eq!(page(None, Some(7), 5).await, [8, 9, 10]);
            assert_eq!(page(Some(6), Some(2), 10).await, [3, 4, 5]);
            assert!(page(None, Some(10), 3).await.is_empty());
            assert!(
                store
                    .page(&room("elsewhere"), None, None, 3)
                    .await
                    .unwrap()
                    .is_empty()
            );
            let first = store.page(&a, Some(2), None, 1).await.unwrap();
            assert_eq!(first[0].content.as_str(), "1");
            assert_eq!(first[0].from, ana);
            assert_eq!(first[0].name, ana.guest_name());
        }
    }

    #[tokio::test]
    async fn a_room_load_sees_every_append_requested_before_it() {
        for (store, mut reports, _dir) in backends().await {
            let ana = UserId::new_random();
            // Queued back to back: the load must come after both appends.
            store.append(message(&room("a"), ana, "one", None)).unwrap();
            store.append(message(&room("a"), ana, "two", None)).unwrap();
            store.load_room(RoomName::parse("a").unwrap(), 50).unwrap();
            let mut appended = 0;
            loop {
                match reports.recv().await.unwrap() {
                    StoreReport::Appended(stored) => appended += stored.len(),
                    StoreReport::RoomLoaded {
                        room: loaded,
                        recent,
                    } => {
                        assert_eq!(loaded.as_str(), "a");
                        assert_eq!(appended, 2, "appends are reported before the load");
                        assert_eq!(seqs(&recent), [1, 2]);
                        break;
                    }
                    other => panic!("unexpected {other:?}"),
                }
            }
        }
    }

    #[tokio::test]
    async fn names_are_kept_per_user() {
        for (store, _reports, _dir) in backends().await {
            let ana = UserId::new_random();
            assert_eq!(store.user_name(ana).await.unwrap(), None);
            store
                .set_name(ana, DisplayName::parse("Ana").unwrap())
                .unwrap();
            store
                .set_name(ana, DisplayName::parse("Ana L").unwrap())
                .unwrap();
            // The committer applies requests in order; wait for it.
            let mut name = None;
            for _ in 0..100 {
                name = store.user_name(ana).await.unwrap();
                if name.as_ref().is_some_and(|n| n.as_str() == "Ana L") {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            assert_eq!(name.unwrap().as_str(), "Ana L");
        }
    }

    #[tokio::test]
    async fn retention_prunes_by_count_and_age_but_never_reuses_a_number() {
        let dir = tempfile::tempdir().unwrap();
        let database = Database::open(dir.path()).await.unwrap();
        let ana = UserId::new_random();
        let (a, b) = (room("a"), room("b"));
        let batch: Vec<_> = (1..=10)
            .map(|n| message(&a, ana, &n.to_string(), None))
            .collect();
        database.append(&batch, 1_000).await.unwrap();
        let batch: Vec<_> = (1..=3)
            .map(|n| message(&b, ana, &n.to_string(), None))
            .collect();
        database.append(&batch, 5_000).await.unwrap();

        // Keep 4 per channel, in chunks of 3: room a loses 1..=6 over two steps.
        assert_eq!(database.prune(Some(4), None, 3).await.unwrap(), 3);
        assert_eq!(database.prune(Some(4), None, 3).await.unwrap(), 3);
        assert_eq!(database.prune(Some(4), None, 3).await.unwrap(), 0);
        assert_eq!(
            seqs(&database.page(&a, None, None, 100).await.unwrap()),
            [7, 8, 9, 10]
        );
        assert_eq!(
            seqs(&database.page(&b, None, None, 100).await.unwrap()),
            [1, 2, 3]
        );

        // Everything stamped before 2,000 goes: all of room a.
        assert_eq!(database.prune(None, Some(2_000), 100).await.unwrap(), 4);
        assert!(database.page(&a, None, None, 100).await.unwrap().is_empty());
        assert_eq!(
            seqs(&database.page(&b, None, None, 100).await.unwrap()),
            [1, 2, 3]
        );

        // An emptied channel keeps counting, in this process and the next.
        drop(database);
        let database = Database::open(dir.path()).await.unwrap();
        let stored = database
            .append(&[message(&a, ana, "after", None)], 9_000)
            .await
            .unwrap();
        assert_eq!(stored[0].0.seq, 11);
    }

    #[test]
    fn channel_keys_round_trip_and_direct_channels_ignore_order() {
        let (ana, ben) = (UserId::new_random(), UserId::new_random());
        assert_eq!(Channel::direct(ana, ben), Channel::direct(ben, ana));
        for channel in [room("general"), Channel::direct(ana, ben)] {
            assert_eq!(Channel::from_key(&channel.key()), Some(channel));
        }
        assert_eq!(Channel::from_key("x:general"), None);
        assert_eq!(Channel::from_key("d:not-an-id:either"), None);
    }
}

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
mod changes;
mod memory;
mod postgres;
mod quotes;
pub mod search;
mod sql;
mod sqlite;
mod tables;
pub mod window;

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use tokio::{sync::mpsc, time::MissedTickBehavior};
use tracing::{error, info};

#[cfg(test)]
use backend::Outcome;
pub use backend::{Backend, StoreError};
pub use changes::Refusal;
pub use postgres::Postgres;
use search::Search;
pub use sqlite::Database;
pub use tables::Tables;

use crate::protocol::{
    Change, ClientId, DisplayName, Emoji, Extras, MessageContent, Posted, PostedChange, Quoted,
    RoomName, UserId,
};
use crate::server::config::{Settings, Storage};
use crate::server::metrics::Metrics;
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

/// How often storage is scrubbed of deleted words at most ([`Backend::scrub`]):
/// the first deletion after a quiet spell is scrubbed before it is
/// reported, later ones within this time at its end, so that deleting many
/// messages costs one scrub per period, not one each.
const SCRUB_EVERY: Duration = Duration::from_secs(10);

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

/// A message (or a change to one) the broker has accepted (the sender may
/// post there), not yet numbered or stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    /// The connection that sent it, to be acknowledged.
    pub conn: Tag,
    pub channel: Channel,
    pub from: UserId,
    pub name: DisplayName,
    /// The recipient of a direct message; for a change in a direct
    /// conversation, the other person.
    pub to: Option<UserId>,
    /// The text of a message, or an edit's new text (unused otherwise).
    pub content: MessageContent,
    pub client_id: Option<ClientId>,
    pub kind: NewKind,
}

/// What a new row is: a message, or a change the store must check against
/// the message it targets before numbering it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum NewKind {
    #[default]
    Plain,
    /// A message that answers another or names users.
    Message {
        reply_to: Option<u64>,
        mentions: Vec<UserId>,
    },
    /// A change to message `target` of the same channel.
    Change { target: u64, request: ChangeRequest },
}

/// A change as asked for, before the store has seen its target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeRequest {
    /// The new text is the request's `content`; the message must have been
    /// sent at or after `sent_after` (the operator's edit window).
    Edit {
        sent_after: Option<i64>,
    },
    Delete,
    /// A moderator's deletion: of anyone's message, but those of
    /// `protected` (who stand as high in the room).
    Remove {
        protected: Vec<UserId>,
    },
    /// `on: None` toggles.
    React {
        emoji: Emoji,
        on: Option<bool>,
    },
}

impl NewMessage {
    /// A message (or a change decided as `extra`) numbered `seq` at `ts`.
    fn stored(&self, seq: u64, ts: i64, extra: Option<Box<Extra>>) -> StoredMessage {
        StoredMessage {
            channel: self.channel.clone(),
            seq,
            ts,
            from: self.from,
            name: self.name.clone(),
            to: self.to,
            content: self.content.clone(),
            client_id: self.client_id.clone(),
            extra,
        }
    }
}

/// A row as stored: numbered within its channel and timestamped. A
/// message, or a change to one (see `protocol::changes`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    pub channel: Channel,
    pub seq: u64,
    /// Server time, milliseconds since the Unix epoch.
    pub ts: i64,
    pub from: UserId,
    pub name: DisplayName,
    pub to: Option<UserId>,
    /// A message's text as it is now (empty once deleted), or an edit's
    /// new text (empty for other changes, and once the message is deleted).
    pub content: MessageContent,
    pub client_id: Option<ClientId>,
    /// None for a plain message that nobody changed, the common case.
    pub extra: Option<Box<Extra>>,
}

/// What a row is beyond its text.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Extra {
    /// A message's state as clients see it.
    #[serde(flatten)]
    pub shown: Extras,
    /// A message's text as first sent, once edited: with the edits' own
    /// rows, every version. Gone when the message is deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original: Option<MessageContent>,
    /// A change's target and what it does (the target is also a column of
    /// its own, indexed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<(u64, Change)>,
    /// A deletion by someone else than the author (a moderator): the
    /// message's author, to be told.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<UserId>,
}

static PLAIN: std::sync::LazyLock<Extras> = std::sync::LazyLock::new(Extras::default);

impl StoredMessage {
    /// The author of the message a moderator deleted, if this row is such
    /// a deletion.
    pub fn removed_for(&self) -> Option<UserId> {
        self.extra.as_ref()?.author
    }

    /// The change this row is, and the message it targets; None for a
    /// message.
    pub fn change(&self) -> Option<(u64, &Change)> {
        let (target, change) = self.extra.as_ref()?.change.as_ref()?;
        Some((*target, change))
    }

    pub fn is_message(&self) -> bool {
        self.change().is_none()
    }

    /// A message's state beyond its text.
    pub fn extras(&self) -> &Extras {
        self.extra.as_ref().map_or(&PLAIN, |extra| &extra.shown)
    }

    /// How a reply to this message quotes it, as it is now.
    pub fn quoted(&self) -> Quoted {
        Quoted::of(
            self.from,
            self.name.clone(),
            &self.content,
            self.extras().deleted,
        )
    }

    /// As a message travels in a `history` message.
    pub fn posted(&self) -> Posted {
        Posted {
            seq: self.seq,
            ts: self.ts,
            from: self.from,
            name: self.name.clone(),
            content: self.content.clone(),
            to: self.to,
            id: self.client_id.clone(),
            extras: self.extras().clone(),
        }
    }

    /// As a change travels: None for a message.
    pub fn posted_change(&self) -> Option<PostedChange> {
        let (target, change) = self.change()?;
        Some(PostedChange {
            seq: self.seq,
            ts: self.ts,
            from: self.from,
            name: self.name.clone(),
            target,
            change: change.clone(),
            content: matches!(change, Change::Edit).then(|| self.content.clone()),
        })
    }

    /// Brings this message up to date with `change`, a change row that
    /// targets it; false if it reflects it already.
    pub fn apply(&mut self, change: &StoredMessage) -> bool {
        let Some((_, what)) = change.change() else {
            return false;
        };
        let extra = self.extra.get_or_insert_with(Box::default);
        if matches!(what, Change::Edit) && extra.original.is_none() && !extra.shown.deleted {
            extra.original = Some(self.content.clone());
        }
        let applied = extra.shown.apply(
            &mut self.content,
            what,
            Some(&change.content),
            (change.from, change.seq, change.ts),
        );
        if extra.shown.deleted {
            extra.original = None;
        }
        applied
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
    /// Changes the store refused, each with the connection that asked and
    /// why: nothing was stored for them.
    Refused(Vec<(NewMessage, Refusal)>),
    /// The batch was rolled back: none of these messages was stored.
    AppendFailed(Vec<NewMessage>),
    /// The newest messages of a room, for a room coming into memory, and
    /// the last number handed out there (pruned messages count too).
    RoomLoaded {
        room: RoomName,
        recent: Vec<StoredMessage>,
        head: u64,
    },
    /// Loading a room failed; its waiting joiners must be told.
    LoadFailed {
        room: RoomName,
    },
}

impl StoreReport {
    /// Whether it reports a message deleted by its author.
    fn deleted(&self) -> bool {
        let StoreReport::Appended(appended) = self else {
            return false;
        };
        appended.iter().any(|appended| {
            appended.new && matches!(appended.message.change(), Some((_, Change::Delete)))
        })
    }
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
    /// Set while the last batch the committer tried failed (until one
    /// commits): storage does not take writes, whatever a ping says.
    writes_failing: Arc<AtomicBool>,
}

impl Store {
    /// Opens the storage the settings name and starts the committer task: the
    /// one place a backend is chosen.
    pub async fn open(
        settings: &Settings,
        metrics: Arc<Metrics>,
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
            Storage::Postgres => {
                let url = settings.database_url.as_deref().unwrap_or_default();
                Arc::new(Postgres::open(url).await?)
            }
        };
        Ok(Self::start(backend, retention, metrics))
    }

    #[cfg(test)]
    pub fn sqlite(database: Database, retention: Retention) -> (Self, mpsc::Receiver<StoreReport>) {
        Self::start(Arc::new(database), retention, Metrics::new(false))
    }

    /// History in memory, at most `max_bytes` of it (see [`memory`]).
    #[cfg(test)]
    pub fn in_memory(
        retention: Retention,
        max_bytes: usize,
    ) -> (Self, mpsc::Receiver<StoreReport>) {
        let memory = Arc::new(Memory::new(max_bytes, new_epoch()));
        Self::start(memory, retention, Metrics::new(false))
    }

    /// Starts the committer task over `backend`. Its reports come out of the
    /// receiver, in request order; the committer waits while that channel is
    /// full.
    pub fn start(
        backend: Arc<dyn Backend>,
        retention: Retention,
        metrics: Arc<Metrics>,
    ) -> (Self, mpsc::Receiver<StoreReport>) {
        let (requests, receiver) = mpsc::channel(REQUEST_QUEUE);
        let (reports, report_receiver) = mpsc::channel(REPORT_QUEUE);
        let writes_failing = Arc::new(AtomicBool::new(false));
        let committer = Committer {
            backend: backend.clone(),
            retention,
            writes_failing: writes_failing.clone(),
            metrics,
        };
        tokio::spawn(store_loop(committer, receiver, reports));
        let store = Self {
            requests,
            backend,
            writes_failing,
        };
        (store, report_receiver)
    }

    /// The id of this history's numbering: it changes only when the
    /// numbering starts over (memory storage restarted, a new database), so
    /// a client that saw another one must forget the sequence numbers it
    /// knows.
    pub fn epoch(&self) -> &str {
        self.backend.epoch()
    }

    /// The secret session tokens are signed with, when the storage keeps
    /// one for every node that shares it (PostgreSQL).
    pub fn token_secret(&self) -> Option<&[u8]> {
        self.backend.token_secret()
    }

    /// A pool for the database's tables beyond history: the history's own
    /// database, or for memory storage a new in-memory one.
    pub async fn tables(&self) -> Result<Tables, StoreError> {
        match self.backend.tables() {
            Some(tables) => Ok(tables),
            None => Tables::in_memory().await,
        }
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

    /// Messages forwards, no changes and none deleted (see
    /// [`Backend::messages_after`]).
    pub async fn messages_after(
        &self,
        channel: &Channel,
        after: u64,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        self.backend
            .messages_after(channel, after, before, limit)
            .await
    }

    /// The newest messages `search` finds (see [`Backend::search`]).
    pub async fn search(&self, search: &Search) -> Result<Vec<StoredMessage>, StoreError> {
        self.backend.search(search).await
    }

    /// The last number handed out in each of `channels`, by any node: a
    /// node checks it missed nothing the bus did not bring.
    pub async fn heads(&self, channels: &[Channel]) -> Result<Vec<u64>, StoreError> {
        self.backend.heads(channels).await
    }

    /// Whether the storage answers now.
    /// Requests waiting in the queue now.
    pub fn queue_depth(&self) -> usize {
        self.requests.max_capacity() - self.requests.capacity()
    }

    /// Whether storage answers and takes writes. After a failed commit
    /// (and until one succeeds) that is tried with a write that changes
    /// nothing, so a node whose storage is back is ready again with no
    /// message to send; otherwise a read suffices (a write would cost a
    /// commit, and delay messages behind it, at every poll).
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.backend.ping().await?;
        if self.writes_failing.load(Ordering::Relaxed) {
            self.backend.probe_write().await?;
            self.writes_failing.store(false, Ordering::Relaxed);
        }
        Ok(())
    }

    /// The name `user` chose, if any.
    pub async fn user_name(&self, user: UserId) -> Result<Option<DisplayName>, StoreError> {
        self.backend.user_name(user).await
    }

    /// Keeps `name` as `user`'s now, not through the committer's queue: for
    /// a new account, named before its first connection reads the name.
    /// (The write waits for the committer's connection on SQLite.)
    pub async fn set_name_now(&self, user: UserId, name: &DisplayName) -> Result<(), StoreError> {
        self.backend.set_name(user, name).await
    }
}

/// What the committer task owns besides its queues.
struct Committer {
    backend: Arc<dyn Backend>,
    retention: Retention,
    /// Set while the last batch failed (see [`Store::ping`]).
    writes_failing: Arc<AtomicBool>,
    metrics: Arc<Metrics>,
}

async fn store_loop(
    committer: Committer,
    mut requests: mpsc::Receiver<Request>,
    reports: mpsc::Sender<StoreReport>,
) {
    let Committer {
        backend,
        retention,
        writes_failing,
        metrics,
    } = committer;
    let mut batch = Vec::with_capacity(REQUEST_BATCH);
    let mut prune_timer = tokio::time::interval(PRUNE_EVERY);
    prune_timer.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut pruning = false;
    let mut scrub = Scrub::default();
    let mut scrub_timer = tokio::time::interval(SCRUB_EVERY);
    scrub_timer.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            // Requests first: pruning only runs in the gaps between them.
            biased;
            received = requests.recv_many(&mut batch, REQUEST_BATCH) => {
                if received == 0 {
                    return; // every handle is gone: the server is exiting
                }
            }
            _ = scrub_timer.tick(), if scrub.due => {
                scrub.run(&*backend).await;
                continue;
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
                            scrub.due = true;
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
        let done = carry_out(&*backend, &mut batch, now_ms(), Some(&metrics)).await;
        if done.iter().any(StoreReport::deleted) {
            scrub.due = true;
            if scrub.last.is_none_or(|last| last.elapsed() >= SCRUB_EVERY) {
                scrub.run(&*backend).await;
            }
        }
        for report in done {
            match &report {
                StoreReport::Appended(_) => writes_failing.store(false, Ordering::Relaxed),
                StoreReport::AppendFailed(_) => writes_failing.store(true, Ordering::Relaxed),
                _ => {}
            }
            if reports.send(report).await.is_err() {
                return; // the broker is gone: the server is exiting
            }
        }
    }
}

/// When storage was last scrubbed of deleted words, and whether it is due.
#[derive(Default)]
struct Scrub {
    due: bool,
    last: Option<tokio::time::Instant>,
}

impl Scrub {
    async fn run(&mut self, backend: &dyn Backend) {
        self.last = Some(tokio::time::Instant::now());
        match backend.scrub().await {
            Ok(()) => self.due = false,
            // Tried again at the next tick.
            Err(error) => error!(%error, "scrubbing deleted messages from storage failed"),
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
    metrics: Option<&Metrics>,
) -> Vec<StoreReport> {
    let mut reports = Vec::new();
    let mut appends = Vec::new();
    for request in batch.drain(..) {
        match request {
            Request::Append(message) => appends.push(message),
            Request::LoadRoom { room, recent } => {
                // A load must see every append requested before it.
                reports.extend(commit(backend, &mut appends, now_ms, metrics).await);
                let channel = Channel::Room(room.clone());
                let loaded = match backend.head(&channel).await {
                    Ok(head) => backend
                        .recent(&channel, recent)
                        .await
                        .map(|recent| (recent, head)),
                    Err(error) => Err(error),
                };
                let report = match loaded {
                    Ok((recent, head)) => StoreReport::RoomLoaded { room, recent, head },
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
    reports.extend(commit(backend, &mut appends, now_ms, metrics).await);
    reports
}

/// The batch's appends in one transaction: reported as what was stored,
/// then (if any) the changes refused.
async fn commit(
    backend: &dyn Backend,
    appends: &mut Vec<NewMessage>,
    now_ms: i64,
    metrics: Option<&Metrics>,
) -> Vec<StoreReport> {
    if appends.is_empty() {
        return Vec::new();
    }
    let started = std::time::Instant::now();
    let appended = backend.append(appends, now_ms).await;
    if let (Ok(_), Some(metrics)) = (&appended, metrics) {
        metrics
            .commit_seconds
            .observe(started.elapsed().as_secs_f64());
        metrics.commit_messages.observe(appends.len() as f64);
    }
    match appended {
        Ok(outcomes) => {
            let mut stored = Vec::with_capacity(outcomes.len());
            let mut refused = Vec::new();
            for (request, outcome) in appends.drain(..).zip(outcomes) {
                match outcome {
                    Ok((message, new)) => stored.push(Appended {
                        conn: request.conn,
                        message,
                        new,
                    }),
                    Err(refusal) => refused.push((request, refusal)),
                }
            }
            let mut reports = vec![StoreReport::Appended(stored)];
            if !refused.is_empty() {
                reports.push(StoreReport::Refused(refused));
            }
            reports
        }
        Err(error) => {
            error!(%error, messages = appends.len(), "storing messages failed; the batch was rolled back");
            vec![StoreReport::AppendFailed(std::mem::take(appends))]
        }
    }
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
mod tests;

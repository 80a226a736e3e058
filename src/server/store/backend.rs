//! What a place that keeps history does, as the store's committer task and its
//! readers use it. A backend is one implementation of [`Backend`] and one
//! line in [`Store::open`](super::Store::open): SQLite (`sqlite.rs`) and
//! memory (`memory.rs`) implement it, and both pass the store's shared
//! tests (`raw_backends()` and `backends()` in `tests.rs`).
//!
//! The methods return boxed futures (`BoxFuture`) so that the store can hold any backend
//! as `Arc<dyn Backend>`: one allocation per call, against a database round
//! trip per call.

use futures_util::future::BoxFuture;

use super::search::Search;
use super::{Channel, NewMessage, Refusal, StoredMessage};

/// What became of one message of a batch: stored (new, or the original of
/// a resend: `false`), or, for a change, refused.
pub type Outcome = Result<(StoredMessage, bool), Refusal>;
use crate::protocol::{DisplayName, UserId};

/// What a backend's call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("cannot connect to {what}: {source}")]
    Unreachable {
        what: &'static str,
        source: sqlx::Error,
    },
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("the database holds an invalid row: {0}")]
    Corrupt(String),
    #[error("no random numbers from the operating system: {0}")]
    Random(getrandom::Error),
    #[error("the database is read-only (a standby, or a replica after a failover)")]
    ReadOnly,
}

/// Which rows of a channel a read takes.
#[derive(Debug, Clone, Copy)]
pub(super) enum Rows {
    /// Every row numbered above this, changes too, oldest first.
    After(u64),
    /// The newest messages (no changes).
    Messages,
    /// The newest `limit` messages and the changes numbered after the
    /// oldest of them (at most [`ROWS_PER_MESSAGE`] rows a message): a
    /// run of changes does not push messages out.
    Newest,
    /// Messages numbered above this, none deleted, oldest first (no
    /// changes).
    MessagesAfter(u64),
}

/// Rows a read of the newest messages takes at most for each message, the
/// changes among them included (see [`Rows::Newest`]).
pub(super) const ROWS_PER_MESSAGE: usize = 8;

pub trait Backend: Send + Sync + 'static {
    /// The id of this history's numbering: the same for as long as the
    /// history lasts, a new one when numbering starts over.
    fn epoch(&self) -> &str;

    /// Whether the storage answers now (a trivial read on its readers'
    /// connections), for the readiness check.
    fn ping(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(std::future::ready(Ok(())))
    }

    /// Writes something that changes nothing, committed as a message
    /// would be: whether storage takes writes again after a commit failed
    /// (a full disk, a database that was down), with no message to try.
    fn probe_write(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(std::future::ready(Ok(())))
    }

    /// The secret session tokens are signed with, if this storage keeps
    /// one for every server that shares it (the nodes of a cluster).
    fn token_secret(&self) -> Option<&[u8]> {
        None
    }

    /// A pool for the database's other tables (`tables.rs`); None for
    /// memory storage, which has no database.
    fn tables(&self) -> Option<super::Tables> {
        None
    }

    /// Numbers and keeps a batch, all or nothing, in order. Each message
    /// gets the next sequence number of its channel, or, when its sender
    /// already stored one with the same client id there, is answered with
    /// that original (`false`: not new). A change is checked against its
    /// target, numbered the same way if allowed, and applied to the
    /// target in the same transaction (`changes.rs`). Only the committer
    /// task calls it.
    fn append<'a>(
        &'a self,
        batch: &'a [NewMessage],
        now_ms: i64,
    ) -> BoxFuture<'a, Result<Vec<Outcome>, StoreError>>;

    /// A page of `channel`, oldest first, messages as they are now: with
    /// `after`, the oldest `limit` rows numbered above it (and below
    /// `before`, if given), changes included; without, the newest `limit`
    /// messages below `before` (or of all), no changes.
    fn page<'a>(
        &'a self,
        channel: &'a Channel,
        before: Option<u64>,
        after: Option<u64>,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<StoredMessage>, StoreError>>;

    /// The oldest `limit` messages of `channel` numbered above `after` (and
    /// below `before`, if given), as they are now, leaving out deleted
    /// ones and changes: a page forwards for readers that want messages
    /// alone (the HTTP API), so that no page comes back empty while
    /// messages follow.
    fn messages_after<'a>(
        &'a self,
        channel: &'a Channel,
        after: u64,
        before: Option<u64>,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<StoredMessage>, StoreError>>;

    /// The newest `limit` messages of `channel` and the changes among
    /// them ([`Rows::Newest`]), for the
    /// committer loading a room: it must not queue behind clients' history
    /// reads.
    fn recent<'a>(
        &'a self,
        channel: &'a Channel,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<StoredMessage>, StoreError>>;

    /// The last number handed out in `channel` (0 for none): what a room
    /// coming into memory numbers on from, whatever retention pruned.
    fn head<'a>(&'a self, channel: &'a Channel) -> BoxFuture<'a, Result<u64, StoreError>>;

    /// The heads of several channels, for a node checking that it missed
    /// nothing another node committed. One read each, unless the backend
    /// does better.
    fn heads<'a>(&'a self, channels: &'a [Channel]) -> BoxFuture<'a, Result<Vec<u64>, StoreError>> {
        Box::pin(async move {
            let mut heads = Vec::with_capacity(channels.len());
            for channel in channels {
                heads.push(self.head(channel).await?);
            }
            Ok(heads)
        })
    }

    /// The newest messages (as they are now) that `search` finds where it
    /// may look, newest first, at most its `limit` (see `search.rs`).
    fn search<'a>(
        &'a self,
        search: &'a Search,
    ) -> BoxFuture<'a, Result<Vec<StoredMessage>, StoreError>>;

    fn set_name<'a>(
        &'a self,
        user: UserId,
        name: &'a DisplayName,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// The name `user` chose, if any.
    fn user_name(&self, user: UserId) -> BoxFuture<'_, Result<Option<DisplayName>, StoreError>>;

    /// Makes what was deleted since the last scrub (a message deleted by
    /// its author, and its edits' words; what retention pruned) gone from
    /// the storage's files, not just from its rows: SQLite copies its
    /// write-ahead log, where the old pages still are, into the database
    /// (whose freed space it zeroes: `secure_delete`) and truncates it.
    /// Elsewhere nothing: memory keeps no old copies, and PostgreSQL's
    /// autovacuum reclaims dead row versions on its own schedule.
    fn scrub(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(std::future::ready(Ok(())))
    }

    /// Deletes messages that retention no longer keeps (beyond the newest
    /// `max_messages` of their channel, or older than `older_than_ms`), up
    /// to about `chunk` at a time so that appends never wait long behind
    /// it. Returns how many went: fewer than `chunk` means none is left.
    /// A channel's numbering goes on whatever is deleted.
    fn prune(
        &self,
        max_messages: Option<u64>,
        older_than_ms: Option<i64>,
        chunk: usize,
    ) -> BoxFuture<'_, Result<usize, StoreError>>;
}

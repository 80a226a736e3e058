//! The SQLite file behind the store: opening it (WAL, full sync), the
//! embedded migrations, and the statements. No task lives here: the store's
//! committer task calls the writing ones, request handlers the reading ones.

use std::{
    collections::HashMap,
    path::Path,
    str::FromStr,
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use futures_util::future::BoxFuture;
use sqlx::{
    AssertSqlSafe, Sqlite, SqlitePool,
    migrate::Migrator,
    query::Query,
    sqlite::{
        SqliteArguments, SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions,
        SqliteSynchronous,
    },
};

use super::backend::{Backend, Outcome, Rows};
use super::changes::{OriginalKey, number, target_of, targets_of};
use super::quotes::{quote_replies, unheld_originals};
use super::search::Search;
use super::sql::{
    Embedded, clamp, columns, extra_columns, search_text, stored_message, write_back,
};
use super::{Channel, NewMessage, StoreError, StoredMessage};
use crate::protocol::{ClientId, DisplayName, UserId};

/// The migrations, compiled into the binary so an operator ships one file.
const MIGRATIONS: Embedded = Embedded(&[
    (
        1,
        "history",
        include_str!("../../../migrations/0001_history.sql"),
    ),
    (
        2,
        "epoch",
        include_str!("../../../migrations/0002_epoch.sql"),
    ),
    (
        3,
        "head trigger",
        include_str!("../../../migrations/0003_head_trigger.sql"),
    ),
    (
        4,
        "changes",
        include_str!("../../../migrations/0004_changes.sql"),
    ),
    (
        5,
        "search",
        include_str!("../../../migrations/0005_search.sql"),
    ),
    (
        6,
        "search secure delete",
        include_str!("../../../migrations/0006_search_secure_delete.sql"),
    ),
    (
        7,
        "accounts",
        include_str!("../../../migrations/0007_accounts.sql"),
    ),
    (
        8,
        "rooms",
        include_str!("../../../migrations/0008_rooms.sql"),
    ),
    (
        9,
        "moderation",
        include_str!("../../../migrations/0009_moderation.sql"),
    ),
    (
        10,
        "address bans",
        include_str!("../../../migrations/0010_address_bans.sql"),
    ),
    (
        11,
        "read marks",
        include_str!("../../../migrations/0011_read_marks.sql"),
    ),
]);

/// The open database: one connection for the committer, a small pool for reads
/// (WAL lets readers run beside the committer).
#[derive(Clone)]
pub struct Database {
    committer: SqlitePool,
    readers: SqlitePool,
    epoch: String,
    /// Each channel's last sequence number, as the committer last committed
    /// it: it saves a read per batch. Only the committer uses it, taking it
    /// out for the length of an append (no lock across a wait); an append
    /// that fails leaves it empty, since its transaction rolled back.
    heads: Arc<Mutex<HashMap<Channel, u64>>>,
    /// For the tables beyond history (`tables.rs`).
    tables: SqlitePool,
}

/// Creates `path` readable and writable by the owner only, or makes it so.
fn owner_only(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
}

/// Brings a database's schema up to date (history's tables and the rest).
pub(super) async fn migrate(pool: &SqlitePool) -> Result<(), StoreError> {
    Migrator::new(MIGRATIONS).await?.run(pool).await?;
    Ok(())
}

/// Channel heads the committer keeps in memory at most: past it they are
/// forgotten, or every channel ever written to would stay in memory.
const HEADS_CACHED: usize = 100_000;

impl Database {
    /// Opens (creating if needed) `<data_dir>/confab.db` and migrates it.
    pub async fn open(data_dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::DataDir {
            path: data_dir.display().to_string(),
            source,
        })?;
        // Readable by the owner only (it holds password hashes and
        // sessions); SQLite makes its journal files with the same mode.
        owner_only(&data_dir.join("confab.db")).map_err(|source| StoreError::DataDir {
            path: data_dir.display().to_string(),
            source,
        })?;
        let options = SqliteConnectOptions::from_str("sqlite:")?
            .filename(data_dir.join("confab.db"))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a commit is fsynced before it returns, so an acknowledged
            // message survives a power cut too, not just a killed process.
            // Group commit keeps that to one fsync per batch.
            .synchronous(SqliteSynchronous::Full)
            // What is deleted or overwritten is zeroed in the file, not
            // left in freed space: a deleted message's words must go.
            .pragma("secure_delete", "ON")
            .busy_timeout(Duration::from_secs(5));
        let committer = SqlitePoolOptions::new()
            .max_connections(1)
            // A ping before each use would be one more round trip to the
            // worker thread per commit, for a file that cannot hang up.
            .test_before_acquire(false)
            .connect_with(options.clone())
            .await?;
        migrate(&committer).await?;
        sqlx::query("INSERT OR IGNORE INTO meta (key, value) VALUES ('epoch', ?)")
            .bind(super::new_epoch())
            .execute(&committer)
            .await?;
        let epoch = sqlx::query_scalar("SELECT value FROM meta WHERE key = 'epoch'")
            .fetch_one(&committer)
            .await?;
        let tables = SqlitePoolOptions::new()
            .max_connections(2)
            .connect_with(options.clone())
            .await?;
        let readers = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.read_only(true))
            .await?;
        Ok(Self {
            committer,
            readers,
            tables,
            epoch,
            heads: Arc::default(),
        })
    }

    /// Appends a batch in one transaction (see [`Backend::append`]).
    pub async fn append(
        &self,
        batch: &[NewMessage],
        now_ms: i64,
    ) -> Result<Vec<Outcome>, StoreError> {
        let mut heads = std::mem::take(&mut *lock(&self.heads));
        let result = self.append_with(batch, &mut heads, now_ms).await;
        if result.is_ok() && heads.len() <= HEADS_CACHED {
            *lock(&self.heads) = heads;
        }
        result
    }

    /// Every statement is a round trip to sqlx's SQLite thread, which costs
    /// far more than the insert itself: a batch takes one statement in the
    /// usual case ([`Self::append_fresh`]), a handful otherwise, never one
    /// per message.
    async fn append_with(
        &self,
        batch: &[NewMessage],
        heads: &mut HashMap<Channel, u64>,
        now_ms: i64,
    ) -> Result<Vec<Outcome>, StoreError> {
        if let Some(stored) = self.append_fresh(batch, heads, now_ms).await? {
            return Ok(stored);
        }
        self.append_checked(batch, heads, now_ms).await
    }

    /// The usual batch: every channel's head known, and every message new,
    /// none a change. It is numbered from the heads and inserted by one
    /// statement on its own (its own transaction: the trigger of migration
    /// 3 raises the heads in it). A client id already stored, or repeated
    /// in the batch, fails the statement as a whole on the unique index,
    /// and nothing is written: `None` then, and [`Self::append_checked`]
    /// answers resends with their originals. So do batches of channels not
    /// seen yet, with changes or replies, or too large for one statement.
    async fn append_fresh(
        &self,
        batch: &[NewMessage],
        heads: &mut HashMap<Channel, u64>,
        now_ms: i64,
    ) -> Result<Option<Vec<Outcome>>, StoreError> {
        if batch.len() > ROWS_PER_STATEMENT
            || batch.iter().any(|message| {
                !heads.contains_key(&message.channel) || target_of(message).is_some()
            })
        {
            return Ok(None);
        }
        let mut next: HashMap<Channel, u64> = batch
            .iter()
            .map(|message| (message.channel.clone(), heads[&message.channel]))
            .collect();
        let numbered = number(batch, &mut next, HashMap::new(), HashMap::new(), now_ms);
        if numbered.rows.is_empty() {
            return Ok(Some(numbered.results)); // all refused: nothing to write
        }
        match insert_rows(&numbered.rows).execute(&self.committer).await {
            Ok(_) => {}
            Err(sqlx::Error::Database(error)) if error.is_unique_violation() => return Ok(None),
            Err(error) => return Err(error.into()),
        }
        heads.extend(next);
        Ok(Some(numbered.results))
    }

    /// Any batch, in a transaction: the originals of resends looked up,
    /// heads read for channels not seen yet, the messages that changes
    /// target read, then the new rows numbered and inserted and the
    /// changed messages written back.
    async fn append_checked(
        &self,
        batch: &[NewMessage],
        heads: &mut HashMap<Channel, u64>,
        now_ms: i64,
    ) -> Result<Vec<Outcome>, StoreError> {
        let mut tx = self.committer.begin().await?;

        // Messages already stored under the same (channel, sender, client id).
        // One equality test per message, OR-ed: SQLite answers each with a
        // search of the unique index, where a row-value IN would scan.
        let mut originals: HashMap<OriginalKey, StoredMessage> = HashMap::new();
        let keyed: Vec<&NewMessage> = batch.iter().filter(|m| m.client_id.is_some()).collect();
        for chunk in keyed.chunks(ROWS_PER_STATEMENT) {
            let mut query = sqlx::query(AssertSqlSafe(originals_sql(chunk.len())));
            for message in chunk {
                let id = message.client_id.as_ref().map(ClientId::as_str);
                query = query
                    .bind(message.channel.key())
                    .bind(message.from.to_string())
                    .bind(id);
            }
            for row in query.fetch_all(&mut *tx).await? {
                let stored = stored_message(&row)?;
                if let Some(id) = stored.client_id.clone() {
                    originals.insert((stored.channel.clone(), stored.from, id), stored);
                }
            }
        }

        // The messages the changes target, by primary key.
        let mut targets: HashMap<(Channel, u64), StoredMessage> = HashMap::new();
        for chunk in targets_of(batch).chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "SELECT {} FROM messages WHERE {}",
                columns!(),
                vec!["(channel = ? AND seq = ?)"; chunk.len()].join(" OR ")
            );
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for (channel, seq) in chunk {
                query = query.bind(channel.key()).bind(clamp(*seq));
            }
            for row in query.fetch_all(&mut *tx).await? {
                let stored = stored_message(&row)?;
                targets.insert((stored.channel.clone(), stored.seq), stored);
            }
        }

        // The head of every channel not seen since the process started.
        for message in batch {
            if !heads.contains_key(&message.channel) {
                let head: Option<i64> =
                    sqlx::query_scalar("SELECT head FROM channels WHERE channel = ?")
                        .bind(message.channel.key())
                        .fetch_optional(&mut *tx)
                        .await?;
                heads.insert(message.channel.clone(), head.unwrap_or(0) as u64);
            }
        }

        let numbered = number(batch, heads, originals, targets, now_ms);
        for chunk in numbered.rows.chunks(ROWS_PER_STATEMENT) {
            insert_rows(chunk).execute(&mut *tx).await?;
        }
        write_back::<Sqlite>(&mut tx, &numbered.changed).await?;
        tx.commit().await?;
        Ok(numbered.results)
    }

    /// A page of `channel` (see [`Backend::page`]), read from the pool of
    /// readers.
    pub async fn page(
        &self,
        channel: &Channel,
        before: Option<u64>,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let rows = match after {
            Some(after) => Rows::After(after),
            None => Rows::Messages,
        };
        self.page_on(&self.readers, channel, rows, before, limit)
            .await
    }

    /// The newest `limit` rows of `channel`, read on the committer's own
    /// connection: the committer loading a room must never queue behind
    /// clients' history reads for a reader.
    pub async fn recent(
        &self,
        channel: &Channel,
        limit: usize,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        self.page_on(&self.committer, channel, Rows::Newest, None, limit)
            .await
    }

    async fn page_on(
        &self,
        pool: &SqlitePool,
        channel: &Channel,
        rows: Rows,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let before = before.map_or(i64::MAX, clamp);
        let (after, query) = match rows {
            Rows::After(after) => (
                clamp(after),
                concat!(
                    "SELECT ",
                    columns!(),
                    " FROM messages WHERE channel = ? AND seq > ? AND seq < ? ORDER BY seq ASC LIMIT ?"
                ),
            ),
            Rows::Messages => (
                0,
                concat!(
                    "SELECT ",
                    columns!(),
                    " FROM messages WHERE channel = ? AND seq > ? AND seq < ? AND target IS NULL \
                     ORDER BY seq DESC LIMIT ?"
                ),
            ),
            Rows::Newest => (
                0,
                concat!(
                    "SELECT ",
                    columns!(),
                    " FROM messages WHERE channel = ?1 AND seq > ?2 AND seq < ?3 AND seq >= \
                     coalesce((SELECT min(seq) FROM (SELECT seq FROM messages WHERE channel = ?1 \
                     AND target IS NULL AND seq < ?3 ORDER BY seq DESC LIMIT ?4)), 0) \
                     ORDER BY seq DESC LIMIT ?4 * 8"
                ),
            ),
            Rows::MessagesAfter(after) => (
                clamp(after),
                concat!(
                    "SELECT ",
                    columns!(),
                    " FROM messages WHERE channel = ? AND seq > ? AND seq < ? AND target IS NULL \
                     AND content <> '' ORDER BY seq ASC LIMIT ?"
                ),
            ),
        };
        let newest_first = matches!(rows, Rows::Messages | Rows::Newest);
        let rows = sqlx::query(query)
            .bind(channel.key())
            .bind(after)
            .bind(before)
            .bind(limit as i64)
            .fetch_all(pool)
            .await?;
        let mut messages = rows
            .iter()
            .map(stored_message)
            .collect::<Result<Vec<_>, _>>()?;
        if newest_first {
            messages.reverse();
        }
        let wanted = unheld_originals(&messages);
        let originals = if wanted.is_empty() {
            Vec::new()
        } else {
            let sql = format!(
                "SELECT {} FROM messages WHERE channel = ? AND seq IN ({})",
                columns!(),
                vec!["?"; wanted.len()].join(", ")
            );
            let mut query = sqlx::query(AssertSqlSafe(sql)).bind(channel.key());
            for seq in wanted {
                query = query.bind(clamp(seq));
            }
            let rows = query.fetch_all(pool).await?;
            rows.iter()
                .map(stored_message)
                .collect::<Result<Vec<_>, _>>()?
        };
        quote_replies(&mut messages, &originals);
        Ok(messages)
    }

    /// The newest messages `search` finds (see [`Backend::search`]): FTS5
    /// finds the words, newest indexed first, among the channels the asker
    /// may read.
    pub async fn search(&self, search: &Search) -> Result<Vec<StoredMessage>, StoreError> {
        let keys = search.channel_keys();
        let [mine_first, mine_second] = search.direct_patterns();
        let sql = format!(
            "SELECT {} FROM messages WHERE (channel, seq) IN (\
             SELECT d.channel, d.seq FROM search_fts JOIN search_docs d ON d.id = search_fts.rowid \
             WHERE search_fts MATCH ? AND (d.channel IN ({}) OR d.channel LIKE ? OR d.channel LIKE ?) \
             AND (? IS NULL OR d.sender = ?) AND (? IS NULL OR d.ts_ms < ?) \
             ORDER BY search_fts.rowid DESC LIMIT ?)",
            columns!(),
            vec!["?"; keys.len()].join(", ")
        );
        let mut query = sqlx::query(AssertSqlSafe(sql)).bind(search.fts5_query());
        for key in keys {
            query = query.bind(key);
        }
        let from = search.from.map(|from| from.to_string());
        let rows = query
            .bind(mine_first)
            .bind(mine_second)
            .bind(from.clone())
            .bind(from)
            .bind(search.before)
            .bind(search.before)
            .bind(i64::try_from(search.limit).unwrap_or(i64::MAX))
            .fetch_all(&self.readers)
            .await?;
        let mut found = rows
            .iter()
            .map(stored_message)
            .collect::<Result<Vec<_>, _>>()?;
        found.sort_unstable_by_key(|m| std::cmp::Reverse((m.ts, m.seq)));
        Ok(found)
    }

    /// The last number handed out in `channel` (0 for none), read on the
    /// committer's connection: it loads rooms.
    pub async fn head(&self, channel: &Channel) -> Result<u64, StoreError> {
        let head: Option<i64> = sqlx::query_scalar("SELECT head FROM channels WHERE channel = ?")
            .bind(channel.key())
            .fetch_optional(&self.committer)
            .await?;
        Ok(head.unwrap_or(0) as u64)
    }

    pub async fn set_name(&self, user: UserId, name: &DisplayName) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO users (id, name) VALUES (?, ?) \
             ON CONFLICT (id) DO UPDATE SET name = excluded.name",
        )
        .bind(user.to_string())
        .bind(name.as_str())
        .execute(&self.committer)
        .await?;
        Ok(())
    }

    /// The name `user` chose, if any.
    pub async fn user_name(&self, user: UserId) -> Result<Option<DisplayName>, StoreError> {
        let name: Option<String> = sqlx::query_scalar("SELECT name FROM users WHERE id = ?")
            .bind(user.to_string())
            .fetch_optional(&self.readers)
            .await?;
        name.map(|name| {
            DisplayName::parse(name).map_err(|_| StoreError::Corrupt("users.name".into()))
        })
        .transpose()
    }

    /// Deletes up to `chunk` messages that retention no longer keeps (see
    /// [`Backend::prune`]); each statement is a short transaction of its own.
    pub async fn prune(
        &self,
        max_messages: Option<u64>,
        older_than_ms: Option<i64>,
        chunk: usize,
    ) -> Result<usize, StoreError> {
        let mut deleted = 0;
        if let Some(cutoff) = older_than_ms {
            deleted += sqlx::query(
                "DELETE FROM messages WHERE (channel, seq) IN \
                 (SELECT channel, seq FROM messages WHERE ts_ms < ? LIMIT ?)",
            )
            .bind(cutoff)
            .bind(chunk as i64)
            .execute(&self.committer)
            .await?
            .rows_affected() as usize;
        }
        if let Some(max) = max_messages {
            let max = clamp(max);
            let over: Vec<(String, i64)> =
                sqlx::query_as("SELECT channel, head FROM channels WHERE head > ?")
                    .bind(max)
                    .fetch_all(&self.committer)
                    .await?;
            for (channel, head) in over {
                if deleted >= chunk {
                    break;
                }
                deleted += sqlx::query(
                    "DELETE FROM messages WHERE (channel, seq) IN \
                     (SELECT channel, seq FROM messages WHERE channel = ? AND seq <= ? ORDER BY seq LIMIT ?)",
                )
                .bind(&channel)
                .bind(head - max)
                .bind((chunk - deleted) as i64)
                .execute(&self.committer)
                .await?
                .rows_affected() as usize;
            }
        }
        Ok(deleted)
    }
}

impl Backend for Database {
    fn epoch(&self) -> &str {
        &self.epoch
    }

    fn tables(&self) -> Option<super::Tables> {
        Some(super::Tables::Sqlite(self.tables.clone()))
    }

    fn ping(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async {
            sqlx::query("SELECT 1").execute(&self.readers).await?;
            Ok(())
        })
    }

    fn probe_write(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async {
            sqlx::query("UPDATE meta SET value = value WHERE key = 'epoch'")
                .execute(&self.committer)
                .await?;
            Ok(())
        })
    }

    fn append<'a>(
        &'a self,
        batch: &'a [NewMessage],
        now_ms: i64,
    ) -> BoxFuture<'a, Result<Vec<Outcome>, StoreError>> {
        Box::pin(Database::append(self, batch, now_ms))
    }

    fn page<'a>(
        &'a self,
        channel: &'a Channel,
        before: Option<u64>,
        after: Option<u64>,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<StoredMessage>, StoreError>> {
        Box::pin(Database::page(self, channel, before, after, limit))
    }

    fn messages_after<'a>(
        &'a self,
        channel: &'a Channel,
        after: u64,
        before: Option<u64>,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<StoredMessage>, StoreError>> {
        let rows = Rows::MessagesAfter(after);
        Box::pin(self.page_on(&self.readers, channel, rows, before, limit))
    }

    fn recent<'a>(
        &'a self,
        channel: &'a Channel,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<StoredMessage>, StoreError>> {
        Box::pin(Database::recent(self, channel, limit))
    }

    fn head<'a>(&'a self, channel: &'a Channel) -> BoxFuture<'a, Result<u64, StoreError>> {
        Box::pin(Database::head(self, channel))
    }

    fn search<'a>(
        &'a self,
        search: &'a Search,
    ) -> BoxFuture<'a, Result<Vec<StoredMessage>, StoreError>> {
        Box::pin(Database::search(self, search))
    }

    fn set_name<'a>(
        &'a self,
        user: UserId,
        name: &'a DisplayName,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(Database::set_name(self, user, name))
    }

    fn user_name(&self, user: UserId) -> BoxFuture<'_, Result<Option<DisplayName>, StoreError>> {
        Box::pin(Database::user_name(self, user))
    }

    fn prune(
        &self,
        max_messages: Option<u64>,
        older_than_ms: Option<i64>,
        chunk: usize,
    ) -> BoxFuture<'_, Result<usize, StoreError>> {
        Box::pin(Database::prune(self, max_messages, older_than_ms, chunk))
    }

    fn scrub(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async {
            // Waits (busy timeout) for readers of older snapshots to finish.
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(&self.committer)
                .await?;
            Ok(())
        })
    }
}

/// The heads are only ever locked for a synchronous step.
fn lock(heads: &Mutex<HashMap<Channel, u64>>) -> MutexGuard<'_, HashMap<Channel, u64>> {
    heads
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Rows per multi-row statement: 11 columns each stays far below SQLite's
/// limit of 32,766 bound parameters.
const ROWS_PER_STATEMENT: usize = 128;

/// `(?, ?), (?, ?)` for `rows` tuples of `width` parameters.
fn placeholders(rows: usize, width: usize) -> String {
    let tuple = format!("({})", vec!["?"; width].join(", "));
    vec![tuple; rows].join(", ")
}

/// One statement inserting `rows` (at most [`ROWS_PER_STATEMENT`]).
fn insert_rows(rows: &[StoredMessage]) -> Query<'_, Sqlite, SqliteArguments> {
    let sql = format!(
        "INSERT INTO messages ({}, search_text) VALUES {}",
        columns!(),
        placeholders(rows.len(), 11)
    );
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for row in rows {
        let (target, extra) = extra_columns(row);
        query = query
            .bind(row.channel.key())
            .bind(clamp(row.seq))
            .bind(row.from.to_string())
            .bind(row.name.as_str().to_owned())
            .bind(row.to.map(|to| to.to_string()))
            .bind(row.content.as_str().to_owned())
            .bind(row.ts)
            .bind(row.client_id.as_ref().map(|id| id.as_str().to_owned()))
            .bind(target)
            .bind(extra)
            .bind(search_text(row));
    }
    query
}

/// The stored messages matching `keys` (channel, sender, client id) triples.
fn originals_sql(keys: usize) -> String {
    format!(
        "SELECT {} FROM messages WHERE {}",
        columns!(),
        vec!["(channel = ? AND sender = ? AND client_id = ?)"; keys].join(" OR ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::Row;

    /// The duplicate check runs for every message a client sends with an
    /// id; as a table scan it cost 74 ms a message at a million rows.
    #[tokio::test]
    async fn the_duplicate_check_searches_the_index_instead_of_scanning() {
        let dir = tempfile::tempdir().unwrap();
        let database = Database::open(dir.path()).await.unwrap();
        let mut query = sqlx::query(AssertSqlSafe(format!(
            "EXPLAIN QUERY PLAN {}",
            originals_sql(3)
        )));
        for _ in 0..9 {
            query = query.bind(None::<String>);
        }
        let plan: Vec<String> = query
            .fetch_all(&database.committer)
            .await
            .unwrap()
            .iter()
            .map(|row| row.get::<String, _>("detail"))
            .collect();
        assert!(
            plan.iter()
                .any(|step| step.starts_with("SEARCH messages USING")
                    && step.contains("messages_by_client_id")),
            "{plan:?}"
        );
        assert!(
            !plan.iter().any(|step| step.starts_with("SCAN messages")),
            "{plan:?}"
        );
    }
}

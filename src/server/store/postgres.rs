//! PostgreSQL behind the store: the history every node of a cluster shares
//! (`storage = "postgres"`). Opening it (the embedded migrations, which
//! sqlx runs under an advisory lock, so nodes starting together migrate
//! once) and the statements. No task lives here: each node's committer task
//! calls the writing ones, request handlers the reading ones.
//!
//! Numbering across nodes: an append locks its channels' rows in
//! `channels` (in channel order, one statement, so two nodes' batches
//! never deadlock), and only then looks for resent client ids and numbers
//! the new messages from the heads it locked. Another node's batch for the
//! same channel waits for the lock and then sees this one committed: a
//! room's numbers are gapless and never reused, a rolled-back batch spends
//! none, and a resend to another node finds the original.

use std::{collections::HashMap, str::FromStr, time::Duration};

use futures_util::future::BoxFuture;
use sqlx::{
    PgPool,
    migrate::Migrator,
    postgres::{PgConnectOptions, PgPoolOptions},
};
use tracing::info;

use super::backend::{Backend, Outcome, Rows};
use super::changes::{OriginalKey, number, targets_of};
use super::quotes::{quote_replies, unheld_originals};
use super::search::Search;
use super::sql::{
    Embedded, clamp, columns, extra_columns, search_text, stored_message, write_back,
};
use super::{Channel, NewMessage, StoreError, StoredMessage};
use crate::protocol::{ClientId, DisplayName, UserId};

const MIGRATIONS: Embedded = Embedded(&[
    (
        1,
        "history",
        include_str!("../../../migrations/postgres/0001_history.sql"),
    ),
    (
        2,
        "changes",
        include_str!("../../../migrations/postgres/0002_changes.sql"),
    ),
    (
        3,
        "search",
        include_str!("../../../migrations/postgres/0003_search.sql"),
    ),
    (
        4,
        "accounts",
        include_str!("../../../migrations/postgres/0004_accounts.sql"),
    ),
    (
        5,
        "rooms",
        include_str!("../../../migrations/postgres/0005_rooms.sql"),
    ),
    (
        6,
        "moderation",
        include_str!("../../../migrations/postgres/0006_moderation.sql"),
    ),
    (
        7,
        "address bans",
        include_str!("../../../migrations/postgres/0007_address_bans.sql"),
    ),
    (
        8,
        "read marks",
        include_str!("../../../migrations/postgres/0008_read_marks.sql"),
    ),
]);

/// How long a call waits for a connection before it fails: with PostgreSQL
/// unreachable, a send is refused (`storage_failed`) within this, rather
/// than hang.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// Connections for history reads (pages, names) per node.
const READERS: u32 = 8;

/// The open database: one connection for this node's committer, a pool
/// for reads.
#[derive(Clone)]
pub struct Postgres {
    committer: PgPool,
    readers: PgPool,
    epoch: String,
    /// Signs session tokens on every node: made by the first node to start.
    token_secret: String,
}

impl Postgres {
    /// Connects to `url`, migrates the database, and reads (or makes) its
    /// epoch: the first node to start makes it, the others read it.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        // A node frozen in the middle of a batch (paused, cut off) holds its
        // rooms' head rows: these bound how long it can hold up the others,
        // whose statements give up and fail their batch (`storage_failed`).
        let options = PgConnectOptions::from_str(url)?
            .application_name("confab")
            .options([
                ("lock_timeout", "5s"),
                ("statement_timeout", "10s"),
                ("idle_in_transaction_session_timeout", "10s"),
            ]);
        info!(
            host = options.get_host(),
            port = options.get_port(),
            database = options.get_database().unwrap_or_default(),
            "history in PostgreSQL"
        );
        let committer = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options.clone())
            .await
            .map_err(|source| StoreError::Unreachable {
                what: "PostgreSQL at database_url",
                source,
            })?;
        Migrator::new(MIGRATIONS).await?.run(&committer).await?;
        let epoch = meta(&committer, "epoch", super::new_epoch()).await?;
        let token_secret = meta(&committer, "token_secret", random_hex(32)?).await?;
        let readers = PgPoolOptions::new()
            .max_connections(READERS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_lazy_with(options);
        Ok(Self {
            committer,
            readers,
            epoch,
            token_secret,
        })
    }

    /// Appends a batch in one transaction (see [`Backend::append`]): five
    /// statements whatever its size, the rows passed as arrays; a batch
    /// with changes reads their targets too and writes them back.
    pub async fn append(
        &self,
        batch: &[NewMessage],
        now_ms: i64,
    ) -> Result<Vec<Outcome>, StoreError> {
        let mut tx = self.committer.begin().await?;

        // Lock every channel's head, in order (creating those new here).
        let mut channels: Vec<&Channel> = batch.iter().map(|m| &m.channel).collect();
        channels.sort_unstable_by_key(|channel| channel.key());
        channels.dedup();
        let keys: Vec<String> = channels.iter().map(|channel| channel.key()).collect();
        let locked: Vec<(String, i64)> = sqlx::query_as(
            "INSERT INTO channels (channel, head) SELECT unnest($1::text[]), 0 \
             ON CONFLICT (channel) DO UPDATE SET head = channels.head \
             RETURNING channel, head",
        )
        .bind(&keys)
        .fetch_all(&mut *tx)
        .await?;
        let locked: HashMap<String, u64> = locked
            .into_iter()
            .map(|(channel, head)| (channel, head as u64))
            .collect();
        let mut heads: HashMap<Channel, u64> = HashMap::new();
        for channel in channels {
            let head = locked
                .get(&channel.key())
                .ok_or_else(|| StoreError::Corrupt("channels: a head was not locked".into()))?;
            heads.insert(channel.clone(), *head);
        }

        // Messages already stored under the same (channel, sender, client
        // id), by this node or any other: read after the lock, so a batch
        // that held it before is seen committed.
        let mut originals: HashMap<OriginalKey, StoredMessage> = HashMap::new();
        let keyed: Vec<&NewMessage> = batch.iter().filter(|m| m.client_id.is_some()).collect();
        if !keyed.is_empty() {
            let rows = sqlx::query(concat!(
                "SELECT ",
                columns!(),
                " FROM messages JOIN unnest($1::text[], $2::text[], $3::text[]) AS k (c, s, i) \
                 ON channel = k.c AND sender = k.s AND client_id = k.i"
            ))
            .bind(keyed.iter().map(|m| m.channel.key()).collect::<Vec<_>>())
            .bind(keyed.iter().map(|m| m.from.to_string()).collect::<Vec<_>>())
            .bind(
                keyed
                    .iter()
                    .map(|m| m.client_id.as_ref().map_or("", ClientId::as_str).to_owned())
                    .collect::<Vec<_>>(),
            )
            .fetch_all(&mut *tx)
            .await?;
            for row in &rows {
                let stored = stored_message(row)?;
                if let Some(id) = stored.client_id.clone() {
                    originals.insert((stored.channel.clone(), stored.from, id), stored);
                }
            }
        }

        // The messages the changes target: their channels' heads are
        // locked, so no other node changes them meanwhile.
        let mut targets: HashMap<(Channel, u64), StoredMessage> = HashMap::new();
        let wanted = targets_of(batch);
        if !wanted.is_empty() {
            let rows = sqlx::query(concat!(
                "SELECT ",
                columns!(),
                " FROM messages JOIN unnest($1::text[], $2::int8[]) AS k (c, s) \
                 ON channel = k.c AND seq = k.s"
            ))
            .bind(wanted.iter().map(|(c, _)| c.key()).collect::<Vec<_>>())
            .bind(wanted.iter().map(|(_, s)| clamp(*s)).collect::<Vec<_>>())
            .fetch_all(&mut *tx)
            .await?;
            for row in &rows {
                let stored = stored_message(row)?;
                targets.insert((stored.channel.clone(), stored.seq), stored);
            }
        }

        let numbered = number(batch, &mut heads, originals, targets, now_ms);
        let rows = &numbered.rows;
        if !rows.is_empty() {
            let extras: (Vec<Option<i64>>, Vec<Option<String>>) =
                rows.iter().map(extra_columns).unzip();
            sqlx::query(concat!(
                "INSERT INTO messages (",
                columns!(),
                ", search_text) SELECT * FROM unnest($1::text[], $2::int8[], $3::text[], \
                 $4::text[], $5::text[], $6::text[], $7::int8[], $8::text[], $9::int8[], \
                 $10::text[], $11::text[])"
            ))
            .bind(rows.iter().map(|m| m.channel.key()).collect::<Vec<_>>())
            .bind(rows.iter().map(|m| clamp(m.seq)).collect::<Vec<_>>())
            .bind(rows.iter().map(|m| m.from.to_string()).collect::<Vec<_>>())
            .bind(
                rows.iter()
                    .map(|m| m.name.as_str().to_owned())
                    .collect::<Vec<_>>(),
            )
            .bind(
                rows.iter()
                    .map(|m| m.to.map(|to| to.to_string()))
                    .collect::<Vec<_>>(),
            )
            .bind(
                rows.iter()
                    .map(|m| m.content.as_str().to_owned())
                    .collect::<Vec<_>>(),
            )
            .bind(rows.iter().map(|m| m.ts).collect::<Vec<_>>())
            .bind(
                rows.iter()
                    .map(|m| m.client_id.as_ref().map(|id| id.as_str().to_owned()))
                    .collect::<Vec<_>>(),
            )
            .bind(extras.0)
            .bind(extras.1)
            .bind(rows.iter().map(search_text).collect::<Vec<_>>())
            .execute(&mut *tx)
            .await?;
            let (channels, heads): (Vec<String>, Vec<i64>) = heads
                .into_iter()
                .map(|(channel, head)| (channel.key(), clamp(head)))
                .unzip();
            sqlx::query(
                "UPDATE channels SET head = v.head \
                 FROM unnest($1::text[], $2::int8[]) AS v (channel, head) \
                 WHERE channels.channel = v.channel AND channels.head < v.head",
            )
            .bind(channels)
            .bind(heads)
            .execute(&mut *tx)
            .await?;
        }
        write_back::<sqlx::Postgres>(&mut tx, &numbered.changed).await?;
        tx.commit().await?;
        Ok(numbered.results)
    }

    async fn page_on(
        pool: &PgPool,
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
                    " FROM messages WHERE channel = $1 AND seq > $2 AND seq < $3 ORDER BY seq ASC LIMIT $4"
                ),
            ),
            Rows::Messages => (
                0,
                concat!(
                    "SELECT ",
                    columns!(),
                    " FROM messages WHERE channel = $1 AND seq > $2 AND seq < $3 AND target IS NULL \
                     ORDER BY seq DESC LIMIT $4"
                ),
            ),
            Rows::Newest => (
                0,
                concat!(
                    "SELECT ",
                    columns!(),
                    " FROM messages WHERE channel = $1 AND seq > $2 AND seq < $3 AND seq >= \
                     coalesce((SELECT min(seq) FROM (SELECT seq FROM messages WHERE channel = $1 \
                     AND target IS NULL AND seq < $3 ORDER BY seq DESC LIMIT $4) AS newest), 0) \
                     ORDER BY seq DESC LIMIT $4 * 8"
                ),
            ),
            Rows::MessagesAfter(after) => (
                clamp(after),
                concat!(
                    "SELECT ",
                    columns!(),
                    " FROM messages WHERE channel = $1 AND seq > $2 AND seq < $3 AND target IS NULL \
                     AND content <> '' ORDER BY seq ASC LIMIT $4"
                ),
            ),
        };
        let rows_read = rows;
        let rows = sqlx::query(query)
            .bind(channel.key())
            .bind(after)
            .bind(before)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(pool)
            .await?;
        let mut messages = rows
            .iter()
            .map(stored_message)
            .collect::<Result<Vec<_>, _>>()?;
        if matches!(rows_read, Rows::Messages | Rows::Newest) {
            messages.reverse();
        }
        let wanted = unheld_originals(&messages);
        let originals = if wanted.is_empty() {
            Vec::new()
        } else {
            let rows = sqlx::query(concat!(
                "SELECT ",
                columns!(),
                " FROM messages WHERE channel = $1 AND seq = ANY($2)"
            ))
            .bind(channel.key())
            .bind(wanted.into_iter().map(clamp).collect::<Vec<_>>())
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(stored_message)
                .collect::<Result<Vec<_>, _>>()?
        };
        quote_replies(&mut messages, &originals);
        Ok(messages)
    }

    /// The newest messages `search` finds (see [`Backend::search`]), by
    /// the GIN index over their words.
    pub async fn search(&self, search: &Search) -> Result<Vec<StoredMessage>, StoreError> {
        let [mine_first, mine_second] = search.direct_patterns();
        let rows = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM messages WHERE search @@ to_tsquery('simple', $1) \
             AND (channel = ANY($2) OR channel LIKE $3 OR channel LIKE $4) \
             AND ($5::text IS NULL OR sender = $5) AND ($6::int8 IS NULL OR ts_ms < $6) \
             ORDER BY ts_ms DESC, seq DESC LIMIT $7"
        ))
        .bind(search.tsquery())
        .bind(search.channel_keys())
        .bind(mine_first)
        .bind(mine_second)
        .bind(search.from.map(|from| from.to_string()))
        .bind(search.before)
        .bind(i64::try_from(search.limit).unwrap_or(i64::MAX))
        .fetch_all(&self.readers)
        .await?;
        rows.iter().map(stored_message).collect()
    }

    /// The last number any node handed out in `channel` (0 for none).
    pub async fn head(&self, channel: &Channel) -> Result<u64, StoreError> {
        let head: Option<i64> = sqlx::query_scalar("SELECT head FROM channels WHERE channel = $1")
            .bind(channel.key())
            .fetch_optional(&self.committer)
            .await?;
        Ok(head.unwrap_or(0) as u64)
    }

    /// The heads of `channels`, in one read.
    pub async fn heads(&self, channels: &[Channel]) -> Result<Vec<u64>, StoreError> {
        let keys: Vec<String> = channels.iter().map(Channel::key).collect();
        let found: Vec<(String, i64)> =
            sqlx::query_as("SELECT channel, head FROM channels WHERE channel = ANY($1)")
                .bind(&keys)
                .fetch_all(&self.readers)
                .await?;
        let found: HashMap<String, i64> = found.into_iter().collect();
        Ok(keys
            .iter()
            .map(|key| found.get(key).map_or(0, |&head| head as u64))
            .collect())
    }

    pub async fn set_name(&self, user: UserId, name: &DisplayName) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO users (id, name) VALUES ($1, $2) \
             ON CONFLICT (id) DO UPDATE SET name = excluded.name",
        )
        .bind(user.to_string())
        .bind(name.as_str())
        .execute(&self.committer)
        .await?;
        Ok(())
    }

    pub async fn user_name(&self, user: UserId) -> Result<Option<DisplayName>, StoreError> {
        let name: Option<String> = sqlx::query_scalar("SELECT name FROM users WHERE id = $1")
            .bind(user.to_string())
            .fetch_optional(&self.readers)
            .await?;
        name.map(|name| {
            DisplayName::parse(name).map_err(|_| StoreError::Corrupt("users.name".into()))
        })
        .transpose()
    }

    /// Deletes up to `chunk` messages retention no longer keeps (see
    /// [`Backend::prune`]). Every node prunes; deleting what another node
    /// deleted already deletes nothing.
    pub async fn prune(
        &self,
        max_messages: Option<u64>,
        older_than_ms: Option<i64>,
        chunk: usize,
    ) -> Result<usize, StoreError> {
        let chunk_limit = i64::try_from(chunk).unwrap_or(i64::MAX);
        let mut deleted = 0;
        if let Some(cutoff) = older_than_ms {
            deleted += sqlx::query(
                "DELETE FROM messages WHERE (channel, seq) IN \
                 (SELECT channel, seq FROM messages WHERE ts_ms < $1 LIMIT $2)",
            )
            .bind(cutoff)
            .bind(chunk_limit)
            .execute(&self.committer)
            .await?
            .rows_affected() as usize;
        }
        if let Some(max) = max_messages {
            let max = clamp(max);
            let over: Vec<(String, i64)> =
                sqlx::query_as("SELECT channel, head FROM channels WHERE head > $1")
                    .bind(max)
                    .fetch_all(&self.committer)
                    .await?;
            for (channel, head) in over {
                if deleted >= chunk {
                    break;
                }
                deleted += sqlx::query(
                    "DELETE FROM messages WHERE (channel, seq) IN \
                     (SELECT channel, seq FROM messages WHERE channel = $1 AND seq <= $2 \
                      ORDER BY seq LIMIT $3)",
                )
                .bind(&channel)
                .bind(head - max)
                .bind(i64::try_from(chunk - deleted).unwrap_or(i64::MAX))
                .execute(&self.committer)
                .await?
                .rows_affected() as usize;
            }
        }
        Ok(deleted)
    }
}

/// The value of `key` in `meta`: `value`, if this is the first node to ask.
async fn meta(pool: &PgPool, key: &str, value: String) -> Result<String, StoreError> {
    sqlx::query("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT DO NOTHING")
        .bind(key)
        .bind(value)
        .execute(pool)
        .await?;
    Ok(sqlx::query_scalar("SELECT value FROM meta WHERE key = $1")
        .bind(key)
        .fetch_one(pool)
        .await?)
}

/// `bytes` random bytes from the operating system, in hex.
fn random_hex(bytes: usize) -> Result<String, StoreError> {
    let mut random = vec![0; bytes];
    getrandom::fill(&mut random).map_err(StoreError::Random)?;
    Ok(random.iter().map(|b| format!("{b:02x}")).collect())
}

impl Backend for Postgres {
    fn epoch(&self) -> &str {
        &self.epoch
    }

    fn token_secret(&self) -> Option<&[u8]> {
        Some(self.token_secret.as_bytes())
    }

    fn tables(&self) -> Option<super::Tables> {
        Some(super::Tables::Postgres(self.readers.clone()))
    }

    /// Answers, and takes writes: a standby (`pg_is_in_recovery`) does not.
    fn ping(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async {
            let standby: bool = sqlx::query_scalar("SELECT pg_is_in_recovery()")
                .fetch_one(&self.readers)
                .await?;
            if standby {
                return Err(StoreError::ReadOnly);
            }
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
        Box::pin(Postgres::append(self, batch, now_ms))
    }

    fn page<'a>(
        &'a self,
        channel: &'a Channel,
        before: Option<u64>,
        after: Option<u64>,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<StoredMessage>, StoreError>> {
        let rows = match after {
            Some(after) => Rows::After(after),
            None => Rows::Messages,
        };
        Box::pin(Self::page_on(&self.readers, channel, rows, before, limit))
    }

    fn messages_after<'a>(
        &'a self,
        channel: &'a Channel,
        after: u64,
        before: Option<u64>,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<StoredMessage>, StoreError>> {
        let rows = Rows::MessagesAfter(after);
        Box::pin(Self::page_on(&self.readers, channel, rows, before, limit))
    }

    fn recent<'a>(
        &'a self,
        channel: &'a Channel,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<StoredMessage>, StoreError>> {
        Box::pin(Self::page_on(
            &self.committer,
            channel,
            Rows::Newest,
            None,
            limit,
        ))
    }

    fn head<'a>(&'a self, channel: &'a Channel) -> BoxFuture<'a, Result<u64, StoreError>> {
        Box::pin(Postgres::head(self, channel))
    }

    fn search<'a>(
        &'a self,
        search: &'a Search,
    ) -> BoxFuture<'a, Result<Vec<StoredMessage>, StoreError>> {
        Box::pin(Postgres::search(self, search))
    }

    fn heads<'a>(&'a self, channels: &'a [Channel]) -> BoxFuture<'a, Result<Vec<u64>, StoreError>> {
        Box::pin(Postgres::heads(self, channels))
    }

    fn set_name<'a>(
        &'a self,
        user: UserId,
        name: &'a DisplayName,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(Postgres::set_name(self, user, name))
    }

    fn user_name(&self, user: UserId) -> BoxFuture<'_, Result<Option<DisplayName>, StoreError>> {
        Box::pin(Postgres::user_name(self, user))
    }

    fn prune(
        &self,
        max_messages: Option<u64>,
        older_than_ms: Option<i64>,
        chunk: usize,
    ) -> BoxFuture<'_, Result<usize, StoreError>> {
        Box::pin(Postgres::prune(self, max_messages, older_than_ms, chunk))
    }
}

//! The SQLite file behind the store: opening it (WAL, full sync), the
//! embedded migrations, and the statements. No task lives here; the store
//! loop calls these functions.

use std::{borrow::Cow, collections::HashMap, path::Path, str::FromStr, time::Duration};

use futures_util::future::BoxFuture;
use sqlx::{
    Row, SqlSafeStr, SqlitePool,
    error::BoxDynError,
    migrate::{Migration, MigrationSource, MigrationType, Migrator},
    sqlite::{
        SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
    },
};

use super::{NewMessage, StoredMessage};
use crate::protocol::{ClientId, MessageContent, RoomName, UserId};

/// The migrations, compiled into the binary so an operator ships one file.
const MIGRATIONS: &[(i64, &str, &str)] = &[(
    1,
    "history",
    include_str!("../../../migrations/0001_history.sql"),
)];

#[derive(Debug)]
struct Embedded;

impl MigrationSource<'static> for Embedded {
    fn resolve(self) -> BoxFuture<'static, Result<Vec<Migration>, BoxDynError>> {
        Box::pin(async {
            Ok(MIGRATIONS
                .iter()
                .map(|&(version, name, sql)| {
                    Migration::new(
                        version,
                        Cow::Borrowed(name),
                        MigrationType::Simple,
                        sql.into_sql_str(),
                        false,
                    )
                })
                .collect())
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("the database holds an invalid row: {0}")]
    Corrupt(String),
}

/// The open database: one connection for the writer, a small pool for reads
/// (WAL lets readers run beside the writer).
#[derive(Clone)]
pub struct Database {
    writer: SqlitePool,
    readers: SqlitePool,
}

impl Database {
    /// Opens (creating if needed) `<data_dir>/confab.db` and migrates it.
    pub async fn open(data_dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::DataDir {
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
            .busy_timeout(Duration::from_secs(5));
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await?;
        Migrator::new(Embedded).await?.run(&writer).await?;
        let readers = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.read_only(true))
            .await?;
        Ok(Self { writer, readers })
    }

    /// Appends a batch in one transaction. Each message either gets the
    /// next sequence number of its room or, when its sender already stored
    /// a message with the same client id, is answered with that original.
    /// `heads` caches each room's last sequence number; on error the caller
    /// must clear it, since the transaction rolled back.
    pub async fn append(
        &self,
        batch: &[NewMessage],
        heads: &mut HashMap<RoomName, u64>,
        now_ms: i64,
    ) -> Result<Vec<(StoredMessage, bool)>, StoreError> {
        let mut tx = self.writer.begin().await?;
        let mut results = Vec::with_capacity(batch.len());
        for message in batch {
            if let Some(client_id) = &message.client_id {
                let original = sqlx::query(
                    "SELECT room, seq, sender, content, ts_ms, client_id FROM room_messages \
                     WHERE sender = ? AND client_id = ?",
                )
                .bind(message.from.to_string())
                .bind(client_id.as_str())
                .fetch_optional(&mut *tx)
                .await?;
                if let Some(row) = original {
                    results.push((stored_message(&row)?, false));
                    continue;
                }
            }
            let seq = match heads.get(&message.room) {
                Some(head) => head + 1,
                None => {
                    let head: i64 = sqlx::query_scalar(
                        "SELECT COALESCE(MAX(seq), 0) FROM room_messages WHERE room = ?",
                    )
                    .bind(message.room.as_str())
                    .fetch_one(&mut *tx)
                    .await?;
                    head as u64 + 1
                }
            };
            sqlx::query(
                "INSERT INTO room_messages (room, seq, sender, content, ts_ms, client_id) VALUES (?, ?, ?, ?, ?, ?)",
            )
            .bind(message.room.as_str())
            .bind(seq as i64)
            .bind(message.from.to_string())
            .bind(message.content.as_str())
            .bind(now_ms)
            .bind(message.client_id.as_ref().map(ClientId::as_str))
            .execute(&mut *tx)
            .await?;
            heads.insert(message.room.clone(), seq);
            let stored = StoredMessage {
                room: message.room.clone(),
                seq,
                ts: now_ms,
                from: message.from,
                content: message.content.clone(),
                client_id: message.client_id.clone(),
            };
            results.push((stored, true));
        }
        tx.commit().await?;
        Ok(results)
    }

    /// Up to `limit` messages of `room` with a sequence number below
    /// `before` (all, when `None`), oldest first.
    pub async fn page(
        &self,
        room: &RoomName,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let before = before.map_or(i64::MAX, |seq| seq as i64);
        let rows = sqlx::query(
            "SELECT room, seq, sender, content, ts_ms, client_id FROM room_messages \
             WHERE room = ? AND seq < ? ORDER BY seq DESC LIMIT ?",
        )
        .bind(room.as_str())
        .bind(before)
        .bind(limit as i64)
        .fetch_all(&self.readers)
        .await?;
        let mut messages = rows
            .iter()
            .map(stored_message)
            .collect::<Result<Vec<_>, _>>()?;
        messages.reverse();
        Ok(messages)
    }
}

fn stored_message(row: &SqliteRow) -> Result<StoredMessage, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("room_messages.{what}"));
    let room: String = row.try_get("room")?;
    let sender: String = row.try_get("sender")?;
    let content: String = row.try_get("content")?;
    let client_id: Option<String> = row.try_get("client_id")?;
    Ok(StoredMessage {
        room: RoomName::parse(room).map_err(|_| corrupt("room"))?,
        seq: row.try_get::<i64, _>("seq")? as u64,
        ts: row.try_get("ts_ms")?,
        from: UserId::parse(&sender).map_err(|_| corrupt("sender"))?,
        content: MessageContent::parse(content).map_err(|_| corrupt("content"))?,
        client_id: client_id
            .map(ClientId::parse)
            .transpose()
            .map_err(|_| corrupt("client_id"))?,
    })
}

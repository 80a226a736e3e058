//! The pool for the database's tables beyond history (accounts and
//! sessions now): the same database as the messages, so that one file (or
//! one PostgreSQL) holds everything and a backup takes it all. With memory
//! storage, an in-memory SQLite database that lives as long as the process.
//!
//! History has one writer, the committer; these tables are written by
//! request handlers through this pool. Their writes are small and rare
//! (a sign-up, a sign-in), and SQLite serializes them with the
//! committer's (each waits for the other's transaction, `busy_timeout`).

use std::str::FromStr;

use sqlx::{
    PgPool, SqlitePool,
    sqlite::{SqliteConnectOptions, SqlitePoolOptions},
};

use super::StoreError;

/// A pool on SQLite or PostgreSQL. Statements for both are written once,
/// with `$1`… placeholders (SQLite numbers them the same), and run on
/// either through [`on_tables!`](crate::on_tables).
#[derive(Clone, Debug)]
pub enum Tables {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to whichever pool `$tables` holds: the
/// same code, compiled once for each database.
#[macro_export]
macro_rules! on_tables {
    ($tables:expr, |$pool:ident| $body:expr) => {
        match $tables {
            $crate::server::store::Tables::Sqlite($pool) => $body,
            $crate::server::store::Tables::Postgres($pool) => $body,
        }
    };
}

impl Tables {
    /// An in-memory database with the SQLite schema, for memory storage:
    /// one connection, kept open for good (the database is the connection).
    pub async fn in_memory() -> Result<Self, StoreError> {
        let pool = SqlitePoolOptions::new()
            .min_connections(1)
            .max_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(SqliteConnectOptions::from_str("sqlite::memory:")?)
            .await?;
        super::sqlite::migrate(&pool).await?;
        Ok(Self::Sqlite(pool))
    }
}

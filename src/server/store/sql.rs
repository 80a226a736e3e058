//! What the two SQL backends (SQLite and PostgreSQL) share: migrations
//! compiled into the binary, and a message's columns read back from a row.

use std::borrow::Cow;

use futures_util::future::BoxFuture;
use sqlx::{
    ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Row, SqlSafeStr, Type,
    error::BoxDynError,
    migrate::{Migration, MigrationSource, MigrationType},
};

use super::{Channel, Extra, StoreError, StoredMessage};
use crate::protocol::{ClientId, DisplayName, MessageContent, UserId};

/// The columns [`stored_message`] reads, as a literal for `concat!`.
macro_rules! columns {
    () => {
        "channel, seq, sender, sender_name, recipient, content, ts_ms, client_id, target, extra"
    };
}
pub(super) use columns;

/// A database's migrations, (version, name, SQL), compiled into the binary
/// so an operator ships one file.
#[derive(Debug)]
pub(super) struct Embedded(pub &'static [(i64, &'static str, &'static str)]);

impl MigrationSource<'static> for Embedded {
    fn resolve(self) -> BoxFuture<'static, Result<Vec<Migration>, BoxDynError>> {
        Box::pin(async move {
            Ok(self
                .0
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

/// Sequence numbers are `u64` on the wire and `i64` in the databases.
pub(super) fn clamp(seq: u64) -> i64 {
    seq.min(i64::MAX as u64) as i64
}

/// A row of `messages`, its [`columns!`] checked as it is read back.
pub(super) fn stored_message<'r, R>(row: &'r R) -> Result<StoredMessage, StoreError>
where
    R: Row,
    &'static str: ColumnIndex<R>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
{
    let corrupt = |what: &str| StoreError::Corrupt(format!("messages.{what}"));
    let channel: String = row.try_get("channel")?;
    let sender: String = row.try_get("sender")?;
    let name: String = row.try_get("sender_name")?;
    let recipient: Option<String> = row.try_get("recipient")?;
    let content: String = row.try_get("content")?;
    let client_id: Option<String> = row.try_get("client_id")?;
    let target: Option<i64> = row.try_get("target")?;
    let extra: Option<String> = row.try_get("extra")?;
    let extra = extra
        .map(|json| serde_json::from_str::<Extra>(&json))
        .transpose()
        .map_err(|_| corrupt("extra"))?;
    if target.map(|t| t as u64) != extra.as_ref().and_then(|e| e.change.as_ref()).map(|c| c.0) {
        return Err(corrupt("target"));
    }
    Ok(StoredMessage {
        channel: Channel::from_key(&channel).ok_or_else(|| corrupt("channel"))?,
        seq: row.try_get::<i64, _>("seq")? as u64,
        ts: row.try_get("ts_ms")?,
        from: UserId::parse(&sender).map_err(|_| corrupt("sender"))?,
        name: DisplayName::parse(name).map_err(|_| corrupt("sender_name"))?,
        to: recipient
            .map(|to| UserId::parse(&to))
            .transpose()
            .map_err(|_| corrupt("recipient"))?,
        content: MessageContent::parse_stored(content).map_err(|_| corrupt("content"))?,
        client_id: client_id
            .map(ClientId::parse)
            .transpose()
            .map_err(|_| corrupt("client_id"))?,
        extra: extra.map(Box::new),
    })
}

/// What goes into a row's `search_text` column: the words a reader sees,
/// as the Markdown parser reads them, if they differ from the text as
/// written (the search index takes the text itself otherwise).
pub(super) fn search_text(row: &StoredMessage) -> Option<String> {
    if !row.is_message() || row.content.is_removed() {
        return None;
    }
    let plain = crate::markup::plain(row.content.as_str());
    (plain != row.content.as_str()).then_some(plain)
}

/// What goes into the `target` and `extra` columns of a row: all of its
/// extra state but a reply's quote, which is read anew each time.
pub(super) fn extra_columns(row: &StoredMessage) -> (Option<i64>, Option<String>) {
    let target = row.change().map(|(target, _)| clamp(target));
    let extra = row.extra.as_ref().map(|extra| {
        let encoded = match extra.shown.quote {
            None => serde_json::to_string(extra),
            Some(_) => {
                let mut unquoted = extra.clone();
                unquoted.shown.quote = None;
                serde_json::to_string(&unquoted)
            }
        };
        encoded.unwrap_or_else(|_| unreachable!("Extra always encodes"))
    });
    (target, extra)
}

/// Writes back the messages a batch changed, as they are now, on the
/// batch's transaction: their text, extra state and search text; and a
/// deleted one's edits lose their words too. (`$1`… placeholders, in
/// order: PostgreSQL's, and SQLite numbers them the same.)
pub(super) async fn write_back<DB>(
    connection: &mut DB::Connection,
    changed: &[StoredMessage],
) -> Result<(), StoreError>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> Option<String>: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
{
    for message in changed {
        let (_, extra) = extra_columns(message);
        sqlx::query::<DB>(
            "UPDATE messages SET content = $1, extra = $2, search_text = $3 \
             WHERE channel = $4 AND seq = $5",
        )
        .bind(message.content.as_str().to_owned())
        .bind(extra)
        .bind(search_text(message))
        .bind(message.channel.key())
        .bind(clamp(message.seq))
        .execute(&mut *connection)
        .await?;
        if message.extras().deleted {
            sqlx::query::<DB>(
                "UPDATE messages SET content = '' WHERE channel = $1 AND target = $2",
            )
            .bind(message.channel.key())
            .bind(clamp(message.seq))
            .execute(&mut *connection)
            .await?;
        }
    }
    Ok(())
}

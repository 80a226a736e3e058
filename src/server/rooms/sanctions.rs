//! Moderation's rows: `room_sanctions` (mutes and bans, each until a time
//! or until lifted) and `audit_log` (every action: who, what, whom, why,
//! when), in SQLite or PostgreSQL through `on_tables!`.

use crate::on_tables;
use crate::protocol::{RoomName, UserId};
use crate::server::store::{StoreError, Tables};

/// What a sanction stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Posting in the room.
    Mute,
    /// Being in the room at all.
    Ban,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Mute => "mute",
            Kind::Ban => "ban",
        }
    }
}

/// A sanction in force: until when (`None`: until lifted), and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sanction {
    pub until: Option<i64>,
    pub reason: String,
}

/// A sanction in force, on whom, of what kind.
pub type SanctionRow = (UserId, Kind, Sanction);

/// One line of the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    pub id: i64,
    pub actor: UserId,
    pub action: String,
    pub target: String,
    pub reason: String,
    pub until_ms: Option<i64>,
    pub at_ms: i64,
}

fn user_of(text: &str) -> Result<UserId, StoreError> {
    UserId::parse(text).map_err(|_| StoreError::Corrupt("room_sanctions.user_id".into()))
}

/// `room`'s sanctions that have not run out by `now_ms`.
pub async fn of_room(
    tables: &Tables,
    room: &RoomName,
    now_ms: i64,
) -> Result<Vec<SanctionRow>, StoreError> {
    let rows: Vec<(String, String, Option<i64>, String)> = on_tables!(tables, |pool| {
        sqlx::query_as(
            "SELECT user_id, kind, until_ms, reason FROM room_sanctions \
             WHERE room = $1 AND (until_ms IS NULL OR until_ms > $2)",
        )
        .bind(room.as_str())
        .bind(now_ms)
        .fetch_all(pool)
        .await?
    });
    rows.into_iter()
        .map(|(user, kind, until, reason)| {
            let kind = match kind.as_str() {
                "mute" => Kind::Mute,
                "ban" => Kind::Ban,
                _ => return Err(StoreError::Corrupt("room_sanctions.kind".into())),
            };
            Ok((user_of(&user)?, kind, Sanction { until, reason }))
        })
        .collect()
}

/// One moderation action, as it is written.
pub struct Action<'a> {
    pub room: &'a RoomName,
    pub actor: UserId,
    /// `mute`, `ban`, `kick`, `unmute`, `unban`.
    pub action: &'a str,
    pub target: UserId,
    pub reason: &'a str,
    pub until_ms: Option<i64>,
    pub now_ms: i64,
}

/// Puts `kind` on the action's target (replacing one in force), or lifts
/// it (`lift`), and writes the action to the audit log, in one
/// transaction.
pub async fn act(
    tables: &Tables,
    action: &Action<'_>,
    kind: Kind,
    lift: bool,
) -> Result<(), StoreError> {
    let (room, target, actor) = (
        action.room.as_str(),
        action.target.to_string(),
        action.actor.to_string(),
    );
    on_tables!(tables, |pool| {
        let mut tx = pool.begin().await?;
        if lift {
            sqlx::query(
                "DELETE FROM room_sanctions WHERE room = $1 AND user_id = $2 AND kind = $3",
            )
            .bind(room)
            .bind(&target)
            .bind(kind.name())
            .execute(&mut *tx)
            .await?;
        } else {
            sqlx::query(
                "INSERT INTO room_sanctions \
                 (room, user_id, kind, until_ms, by_user, reason, created_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (room, user_id, kind) DO UPDATE \
                 SET until_ms = $4, by_user = $5, reason = $6, created_ms = $7",
            )
            .bind(room)
            .bind(&target)
            .bind(kind.name())
            .bind(action.until_ms)
            .bind(&actor)
            .bind(action.reason)
            .bind(action.now_ms)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "INSERT INTO audit_log (room, actor, action, target, reason, until_ms, at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(room)
        .bind(&actor)
        .bind(action.action)
        .bind(&target)
        .bind(action.reason)
        .bind(action.until_ms)
        .bind(action.now_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
    });
    Ok(())
}

/// `room`'s audit log, newest first: at most `limit` lines, older than
/// line `before` if given.
pub async fn audit_of(
    tables: &Tables,
    room: &RoomName,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<AuditRow>, StoreError> {
    type Line = (i64, String, String, String, String, Option<i64>, i64);
    let rows: Vec<Line> = on_tables!(tables, |pool| {
        sqlx::query_as(
            "SELECT id, actor, action, target, reason, until_ms, at_ms FROM audit_log \
             WHERE room = $1 AND id < $2 ORDER BY id DESC LIMIT $3",
        )
        .bind(room.as_str())
        .bind(before.unwrap_or(i64::MAX))
        .bind(limit)
        .fetch_all(pool)
        .await?
    });
    rows.into_iter()
        .map(|(id, actor, action, target, reason, until_ms, at_ms)| {
            Ok(AuditRow {
                id,
                actor: user_of(&actor)?,
                action,
                target,
                reason,
                until_ms,
                at_ms,
            })
        })
        .collect()
}

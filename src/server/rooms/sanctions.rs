//! Moderation's rows: `room_sanctions` (mutes and bans, each until a time
//! or until lifted), `address_bans` (a ban's hold on new guests from the
//! banned user's address) and `audit_log` (every action: who, what, whom,
//! why, when), in SQLite or PostgreSQL through `on_tables!`. A room's rows
//! are under its name; the whole server's under [`SERVER`].

use std::net::IpAddr;

use crate::on_tables;
use crate::protocol::UserId;
use crate::server::store::{StoreError, Tables};

/// The scope of a server-wide sanction, in place of a room's name (which
/// cannot be `*`).
pub const SERVER: &str = "*";

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

impl Sanction {
    /// How long it lasts from `now_ms`, in words: "for 3 minutes", or
    /// "until a moderator lifts it".
    pub fn lasting(&self, now_ms: i64) -> String {
        match self.until {
            Some(until) => format!("for {}", in_words(until - now_ms)),
            None => "until a moderator lifts it".to_owned(),
        }
    }

    /// What a user banned from the server is told, at `now_ms`.
    pub fn server_ban_words(&self, now_ms: i64) -> String {
        self.with_reason(format!(
            "an admin banned you from this server {}",
            self.lasting(now_ms)
        ))
    }

    /// A moderator's words to its user, with the reason if one was given.
    pub fn with_reason(&self, what: String) -> String {
        if self.reason.is_empty() {
            what
        } else {
            format!("{what}: \"{}\"", self.reason)
        }
    }
}

/// `ms` in words: "3 minutes", "1 hour", "45 seconds" (rounded up).
pub fn in_words(ms: i64) -> String {
    let seconds = (ms.max(0) + 999) / 1000;
    let (count, unit) = match seconds {
        0..120 => (seconds, "second"),
        120..7200 => ((seconds + 59) / 60, "minute"),
        7200..172_800 => ((seconds + 3599) / 3600, "hour"),
        _ => ((seconds + 86_399) / 86_400, "day"),
    };
    let plural = if count == 1 { "" } else { "s" };
    format!("{count} {unit}{plural}")
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
    /// The message a deletion removed.
    pub seq: Option<u64>,
}

fn user_of(text: &str) -> Result<UserId, StoreError> {
    UserId::parse(text).map_err(|_| StoreError::Corrupt("room_sanctions.user_id".into()))
}

/// The sanctions in `scope` (a room's name, or [`SERVER`]) that have not
/// run out by `now_ms`.
pub async fn of_scope(
    tables: &Tables,
    scope: &str,
    now_ms: i64,
) -> Result<Vec<SanctionRow>, StoreError> {
    let rows: Vec<(String, String, Option<i64>, String)> = on_tables!(tables, |pool| {
        sqlx::query_as(
            "SELECT user_id, kind, until_ms, reason FROM room_sanctions \
             WHERE room = $1 AND (until_ms IS NULL OR until_ms > $2)",
        )
        .bind(scope)
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

/// `user`'s ban from the whole server, if one holds at `now_ms`; or, for a
/// guest, a ban of the guests made at their address after it.
pub async fn server_ban(
    tables: &Tables,
    user: UserId,
    guest: Option<super::Guest>,
    now_ms: i64,
) -> Result<Option<Sanction>, StoreError> {
    let row: Option<(Option<i64>, String)> = on_tables!(tables, |pool| {
        sqlx::query_as(
            "SELECT until_ms, reason FROM room_sanctions \
             WHERE room = $1 AND user_id = $2 AND kind = 'ban' \
             AND (until_ms IS NULL OR until_ms > $3)",
        )
        .bind(SERVER)
        .bind(user.to_string())
        .bind(now_ms)
        .fetch_optional(pool)
        .await?
    });
    if let Some((until, reason)) = row {
        return Ok(Some(Sanction { until, reason }));
    }
    let Some(guest) = guest else {
        return Ok(None);
    };
    let until: Option<i64> = on_tables!(tables, |pool| {
        sqlx::query_scalar(
            "SELECT MAX(until_ms) FROM address_bans \
             WHERE room = $1 AND address = $2 AND until_ms > $3 AND created_ms <= $4",
        )
        .bind(SERVER)
        .bind(super::address_key(guest.at).to_string())
        .bind(now_ms)
        .bind(guest.born_ms)
        .fetch_one(pool)
        .await?
    });
    Ok(until.map(|until| Sanction {
        until: Some(until),
        reason: String::new(),
    }))
}

/// The rooms `user` is banned from at `now_ms` (not the server: `*` is no
/// room).
pub async fn banned_from(
    tables: &Tables,
    user: UserId,
    now_ms: i64,
) -> Result<Vec<String>, StoreError> {
    Ok(on_tables!(tables, |pool| {
        sqlx::query_scalar(
            "SELECT room FROM room_sanctions WHERE user_id = $1 AND kind = 'ban' \
             AND room <> $2 AND (until_ms IS NULL OR until_ms > $3)",
        )
        .bind(user.to_string())
        .bind(SERVER)
        .bind(now_ms)
        .fetch_all(pool)
        .await?
    }))
}

/// The addresses whose new guests `scope` keeps out at `now_ms`, each with
/// its ban's hold (an address may have several).
pub async fn banned_addresses(
    tables: &Tables,
    scope: &str,
    now_ms: i64,
) -> Result<Vec<(IpAddr, super::AddressBan)>, StoreError> {
    let rows: Vec<(String, i64, i64)> = on_tables!(tables, |pool| {
        sqlx::query_as(
            "SELECT address, until_ms, created_ms FROM address_bans \
             WHERE room = $1 AND until_ms > $2",
        )
        .bind(scope)
        .bind(now_ms)
        .fetch_all(pool)
        .await?
    });
    rows.into_iter()
        .map(|(address, until_ms, since_ms)| {
            let address = address
                .parse()
                .map_err(|_| StoreError::Corrupt("address_bans.address".into()))?;
            Ok((address, super::AddressBan { until_ms, since_ms }))
        })
        .collect()
}

/// Makes `user`'s ban in `scope`, if one holds at `now_ms`, keep new
/// guests from `addresses` out as long as it does, `at_most_ms` at most.
/// Whether there was such a ban.
pub async fn ban_addresses(
    tables: &Tables,
    scope: &str,
    user: UserId,
    addresses: &[IpAddr],
    now_ms: i64,
    at_most_ms: i64,
) -> Result<bool, StoreError> {
    let user = user.to_string();
    on_tables!(tables, |pool| {
        let mut tx = pool.begin().await?;
        let ban: Option<Option<i64>> = sqlx::query_scalar(
            "SELECT until_ms FROM room_sanctions \
             WHERE room = $1 AND user_id = $2 AND kind = 'ban' \
             AND (until_ms IS NULL OR until_ms > $3)",
        )
        .bind(scope)
        .bind(&user)
        .bind(now_ms)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(until) = ban else {
            return Ok(false);
        };
        let until = until
            .unwrap_or(i64::MAX)
            .min(now_ms.saturating_add(at_most_ms));
        for address in addresses {
            sqlx::query(
                "INSERT INTO address_bans (room, address, until_ms, user_id, created_ms) \
                 VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (room, address, user_id) DO UPDATE SET until_ms = $3",
            )
            .bind(scope)
            .bind(super::address_key(*address).to_string())
            .bind(until)
            .bind(&user)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
    });
    Ok(true)
}

/// One moderation action, as it is written.
pub struct Action<'a> {
    /// A room's name, or [`SERVER`].
    pub scope: &'a str,
    pub actor: UserId,
    /// `mute`, `ban`, `kick`, `unmute`, `unban`.
    pub action: &'a str,
    pub target: UserId,
    pub reason: &'a str,
    pub until_ms: Option<i64>,
    /// The message it removed, for a deletion.
    pub seq: Option<u64>,
    pub now_ms: i64,
}

/// What an action does to a sanction: puts `kind` on its target
/// (replacing one in force), or lifts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Put(Kind),
    Lift(Kind),
}

/// Makes the action's `change`, if any (a deletion makes none), and writes
/// the action to the audit log, in one transaction. Lifting a ban lifts
/// its hold on the user's addresses too.
pub async fn act(
    tables: &Tables,
    action: &Action<'_>,
    change: Option<Change>,
) -> Result<(), StoreError> {
    let (scope, target, actor) = (
        action.scope,
        action.target.to_string(),
        action.actor.to_string(),
    );
    let seq = action.seq.map(|seq| i64::try_from(seq).unwrap_or(i64::MAX));
    on_tables!(tables, |pool| {
        let mut tx = pool.begin().await?;
        match change {
            Some(Change::Lift(kind)) => {
                sqlx::query(
                    "DELETE FROM room_sanctions WHERE room = $1 AND user_id = $2 AND kind = $3",
                )
                .bind(scope)
                .bind(&target)
                .bind(kind.name())
                .execute(&mut *tx)
                .await?;
                if kind == Kind::Ban {
                    sqlx::query("DELETE FROM address_bans WHERE room = $1 AND user_id = $2")
                        .bind(scope)
                        .bind(&target)
                        .execute(&mut *tx)
                        .await?;
                }
            }
            Some(Change::Put(kind)) => {
                sqlx::query(
                    "INSERT INTO room_sanctions \
                     (room, user_id, kind, until_ms, by_user, reason, created_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) \
                     ON CONFLICT (room, user_id, kind) DO UPDATE \
                     SET until_ms = $4, by_user = $5, reason = $6, created_ms = $7",
                )
                .bind(scope)
                .bind(&target)
                .bind(kind.name())
                .bind(action.until_ms)
                .bind(&actor)
                .bind(action.reason)
                .bind(action.now_ms)
                .execute(&mut *tx)
                .await?;
            }
            None => {}
        }
        sqlx::query(
            "INSERT INTO audit_log \
             (room, actor, action, target, reason, until_ms, at_ms, seq) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(scope)
        .bind(&actor)
        .bind(action.action)
        .bind(&target)
        .bind(action.reason)
        .bind(action.until_ms)
        .bind(action.now_ms)
        .bind(seq)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
    });
    Ok(())
}

/// `scope`'s audit log (a room's, or [`SERVER`]'s), newest first: at most `limit` lines, older than
/// line `before` if given.
pub async fn audit_of(
    tables: &Tables,
    scope: &str,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<AuditRow>, StoreError> {
    type Line = (
        i64,
        String,
        String,
        String,
        String,
        Option<i64>,
        i64,
        Option<i64>,
    );
    let rows: Vec<Line> = on_tables!(tables, |pool| {
        sqlx::query_as(
            "SELECT id, actor, action, target, reason, until_ms, at_ms, seq FROM audit_log \
             WHERE room = $1 AND id < $2 ORDER BY id DESC LIMIT $3",
        )
        .bind(scope)
        .bind(before.unwrap_or(i64::MAX))
        .bind(limit)
        .fetch_all(pool)
        .await?
    });
    rows.into_iter()
        .map(
            |(id, actor, action, target, reason, until_ms, at_ms, seq)| {
                Ok(AuditRow {
                    seq: seq.and_then(|seq| u64::try_from(seq).ok()),
                    id,
                    actor: user_of(&actor)?,
                    action,
                    target,
                    reason,
                    until_ms,
                    at_ms,
                })
            },
        )
        .collect()
}

//! Moderation over HTTP: mute, ban, kick, unmute and unban a user in a
//! room, delete a message of it, and read the room's audit log; ban a user
//! from the whole server, and read the server's log. Owners and moderators
//! act on members (and owners on moderators); admins and the operator (an
//! API key) on anyone, in every room. Each action is written to the audit
//! log with its reason, takes effect on every node (the room's settings
//! are read again; a server-wide ban closes the user's connections
//! everywhere), and the user is told in plain words (`error` with code
//! `moderated`).

use axum::{
    Extension, Json,
    extract::{
        Path, Query, State,
        rejection::{JsonRejection, PathRejection, QueryRejection},
    },
    http::StatusCode,
};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};
use utoipa::{IntoParams, ToSchema};

use super::caller::Caller;
use super::problem::{BodyProblems, Problem, Problems, RoomProblems};
use super::rooms::{STAFF, changed, must_be, object, unavailable, visible};
use super::routes::{RoomPath, ask, room_of};
use crate::protocol::{ErrorCode, RoomName, UserId};
use crate::server::app_state::AppState;
use crate::server::broker::{ApiCommand, PostOutcome};
use crate::server::close::CloseReason;
use crate::server::rooms::{Action, Change, Kind, SERVER, Sanction, Who, check_line};
use crate::server::store::now_ms;

/// A kick keeps its user out this long: long enough not to bounce back.
const KICK_MS: i64 = 60_000;

/// A mute or ban lasts this long at most (or until lifted, with none).
const MAX_SECONDS: u64 = 366 * 24 * 3600;

/// A reason is at most this long.
const MAX_REASON_CHARS: usize = 500;

/// A moderation action.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Moderation {
    /// `mute`, `unmute`, `ban`, `unban` or `kick` (out now, and kept out a
    /// minute).
    #[schema(example = "mute", pattern = "^(mute|unmute|ban|unban|kick)$")]
    action: String,
    #[schema(format = Uuid)]
    user: String,
    /// How long a mute or ban lasts; without it, until lifted.
    #[schema(minimum = 1, maximum = 31622400)]
    seconds: Option<u64>,
    /// Why, in words the user is shown.
    #[schema(max_length = 500)]
    reason: Option<String>,
}

/// An action as the audit log has it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntry {
    id: i64,
    #[schema(format = Uuid)]
    actor: String,
    action: String,
    target: String,
    reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    until_ms: Option<i64>,
    at_ms: i64,
    /// The message a `delete_message` removed.
    #[serde(skip_serializing_if = "Option::is_none")]
    seq: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditLog {
    /// Newest first.
    entries: Vec<AuditEntry>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Entries older than this id.
    #[param(minimum = 1)]
    before: Option<i64>,
    /// At most this many (1 to 200, default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
}

/// A moderation action, checked.
struct Checked {
    /// The action's name, as the audit log and the metrics have it.
    name: &'static str,
    change: Change,
    target: UserId,
    seconds: Option<u64>,
    reason: String,
}

/// Checks an action against what `allowed` (the route's) may be.
fn check(moderation: Moderation, allowed: &[&'static str]) -> Result<Checked, Problem> {
    let Some(&name) = allowed.iter().find(|name| **name == moderation.action) else {
        return Err(Problem::bad_request(format!(
            "action must be one of: {}",
            allowed.join(", ")
        )));
    };
    let change = match name {
        "mute" => Change::Put(Kind::Mute),
        "unmute" => Change::Lift(Kind::Mute),
        "unban" => Change::Lift(Kind::Ban),
        _ => Change::Put(Kind::Ban), // ban, kick
    };
    let target =
        UserId::parse(&moderation.user).map_err(|why| Problem::bad_request(why.to_string()))?;
    if moderation
        .seconds
        .is_some_and(|s| !(1..=MAX_SECONDS).contains(&s))
    {
        return Err(Problem::bad_request(format!(
            "seconds must be 1 to {MAX_SECONDS}"
        )));
    }
    let reason = check_line(
        moderation.reason.as_deref().unwrap_or(""),
        MAX_REASON_CHARS,
        "reason",
    )
    .map_err(Problem::bad_request)?;
    Ok(Checked {
        name,
        change,
        target,
        seconds: moderation.seconds,
        reason,
    })
}

impl Checked {
    /// Until when what it puts on its target lasts (`None`: until lifted),
    /// from `now`.
    fn until(&self, now: i64) -> Option<i64> {
        match (self.name, self.seconds, self.change) {
            ("kick", _, _) => Some(now + KICK_MS),
            (_, Some(seconds), Change::Put(_)) => {
                Some(now + i64::try_from(seconds * 1000).unwrap_or(i64::MAX / 2))
            }
            _ => None,
        }
    }

    /// Writes it (in `scope`, by `actor`) to the sanctions and the audit
    /// log, and counts it; `change: None` writes only the log.
    async fn write(
        &self,
        app: &AppState,
        scope: &str,
        actor: UserId,
        change: Option<Change>,
    ) -> Result<(), Problem> {
        let now = now_ms();
        let action = Action {
            scope,
            actor,
            action: self.name,
            target: self.target,
            reason: &self.reason,
            until_ms: self.until(now),
            seq: None,
            now_ms: now,
        };
        app.rooms.act(&action, change).await.map_err(unavailable)?;
        app.metrics.moderated(self.name);
        info!(scope, %actor, target = %self.target, action = self.name, "moderation");
        Ok(())
    }
}

/// Mutes, bans, kicks, unmutes or unbans a user in the room.
#[utoipa::path(
    post, path = "/api/rooms/{room}/moderation",
    params(RoomPath),
    request_body = Moderation,
    responses(
        (status = 204, description = "Done: in force on every node, written to the audit log, and the user told"),
        RoomProblems,
        BodyProblems,
        Problems,
    ),
    security(("api_key" = []), ("session" = [])),
)]
pub async fn moderate(
    State(app): State<AppState>,
    Extension(caller): Extension<Caller>,
    room: Result<Path<String>, PathRejection>,
    body: Result<Json<serde_json::Value>, JsonRejection>,
) -> Result<StatusCode, Problem> {
    let room = room_of(room)?;
    let checked = check(object(body)?, &["mute", "unmute", "ban", "unban", "kick"])?;
    let settings = visible(&app, &room, caller).await?;
    must_be(&settings, caller, STAFF)?;
    let actor = caller.who();
    // An admin stands above every owner (and is let into every room
    // whatever its bans say): only another admin, or the operator, acts
    // on one.
    let admin = app
        .accounts
        .is_admin_user(checked.target)
        .await
        .map_err(unavailable)?;
    if settings.rank(&Who::account(checked.target, admin)) >= settings.rank(&actor) {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "you may not moderate someone who stands as high in the room as you",
        ));
    }
    // A kick does not shorten a longer ban: it only puts them out again.
    let longer_ban = settings
        .banned_until(checked.target, now_ms())
        .is_some_and(|ban| ban.until.is_none_or(|until| until > now_ms() + KICK_MS));
    let change = (!(checked.name == "kick" && longer_ban)).then_some(checked.change);
    checked
        .write(&app, room.as_str(), actor.user, change)
        .await?;
    if checked.change == Change::Put(Kind::Ban) {
        ban_their_addresses(&app, room.as_str(), checked.target).await;
    }
    changed(&app, room).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Bans a user from the whole server, or lifts the ban (admins and the
/// operator): a banned user's connections are closed on every node (code
/// 4003) and their `hello` and API calls refused until it ends; new guests
/// from their address are kept out for `ban_guest_address_hours`.
#[utoipa::path(
    post, path = "/api/moderation",
    request_body = Moderation,
    responses(
        (status = 204, description = "Done: in force on every node, and written to the server's audit log"),
        (status = 403, description = "Only the server's admins and its operator", body = Problem, content_type = "application/problem+json"),
        BodyProblems,
        Problems,
    ),
    security(("api_key" = []), ("session" = [])),
)]
pub async fn moderate_server(
    State(app): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: Result<Json<serde_json::Value>, JsonRejection>,
) -> Result<StatusCode, Problem> {
    let checked = check(object(body)?, &["ban", "unban"])?;
    let actor = must_be_admin(caller)?;
    if checked.target == actor {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "you may not ban yourself",
        ));
    }
    checked
        .write(&app, SERVER, actor, Some(checked.change))
        .await?;
    if checked.name == "ban" {
        ban_their_addresses(&app, SERVER, checked.target).await;
        let now = now_ms();
        let ban = Sanction {
            until: checked.until(now),
            reason: checked.reason.clone(),
        };
        let notice = Some(ban.server_ban_words(now));
        let _ = ask(&app, |reply| ApiCommand::Disconnect {
            user: checked.target,
            reason: CloseReason::Banned,
            notice,
            reply,
        })
        .await;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Has `user`'s new ban in `scope` keep new guests from the addresses they
/// are connected from here out too, before the answer (so that it holds
/// here at once; other nodes do the same for theirs as the ban reaches
/// them). A failure is logged: the user's own ban holds anyway.
async fn ban_their_addresses(app: &AppState, scope: &str, user: UserId) {
    let at_most = app.settings.guest_ban_ms();
    if at_most == 0 {
        return;
    }
    let Ok(addresses) = ask(app, |reply| ApiCommand::Addresses { user, reply }).await else {
        return;
    };
    if addresses.is_empty() {
        return;
    }
    if let Err(error) = app
        .rooms
        .ban_addresses(scope, user, &addresses, now_ms(), at_most)
        .await
    {
        warn!(scope, %error, "writing a ban's addresses failed");
    }
}

/// The caller's user id if they are an admin (the nil id for the
/// operator), or a 403.
fn must_be_admin(caller: Caller) -> Result<UserId, Problem> {
    let who = caller.who();
    if !who.admin {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "only the server's admins may do that",
        ));
    }
    Ok(who.user)
}

/// The server's audit log, newest first (admins and the operator):
/// server-wide bans.
#[utoipa::path(
    get, path = "/api/audit",
    params(AuditQuery),
    responses(
        (status = 200, body = AuditLog),
        (status = 403, description = "Only the server's admins and its operator", body = Problem, content_type = "application/problem+json"),
        Problems,
    ),
    security(("api_key" = []), ("session" = [])),
)]
pub async fn server_audit(
    State(app): State<AppState>,
    Extension(caller): Extension<Caller>,
    query: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Json<AuditLog>, Problem> {
    must_be_admin(caller)?;
    read_audit(&app, SERVER, query).await
}

#[derive(Debug, Deserialize)]
pub struct RoomAndSeq {
    room: String,
    seq: u64,
}

/// Deletes a message of the room (owners and moderators): anyone's, but
/// those of who stands as high in the room. Every member sees it deleted,
/// its author is told, and the audit log has it.
#[utoipa::path(
    delete, path = "/api/rooms/{room}/messages/{seq}",
    params(
        ("room" = String, Path, pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", description = "The room's name"),
        ("seq" = u64, Path, minimum = 1, description = "The message's number"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "The caller is not the room's owner or moderator, the author stands as high, or it is deleted already", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such message, or a private room the caller is not a member of", body = Problem, content_type = "application/problem+json"),
        Problems,
    ),
    security(("api_key" = []), ("session" = [])),
)]
pub async fn delete_message(
    State(app): State<AppState>,
    Extension(caller): Extension<Caller>,
    path: Result<Path<RoomAndSeq>, PathRejection>,
) -> Result<StatusCode, Problem> {
    let Path(RoomAndSeq { room, seq }) =
        path.map_err(|r| Problem::new(r.status(), r.body_text()))?;
    let room = RoomName::parse(room).map_err(|why| Problem::bad_request(why.to_string()))?;
    let settings = visible(&app, &room, caller).await?;
    must_be(&settings, caller, STAFF)?;
    let who = caller.who();
    let protected = settings.protected_from(&who).unwrap_or_default();
    let conn = app.next_conn_id();
    let outcome = ask(&app, |reply| ApiCommand::Remove {
        conn,
        room: room.clone(),
        seq,
        by: who.user,
        protected,
        reply,
    })
    .await?;
    match outcome {
        PostOutcome::Stored { .. } => {
            info!(%room, seq, ?caller, "a moderator deleted a message");
            Ok(StatusCode::NO_CONTENT)
        }
        PostOutcome::Refused(ErrorCode::NoSuchMessage) => Err(Problem::new(
            StatusCode::NOT_FOUND,
            format!("room '{room}' has no message {seq}"),
        )),
        PostOutcome::Refused(ErrorCode::NotAllowed) => Err(Problem::new(
            StatusCode::FORBIDDEN,
            "that message is deleted already, or its author stands as high in the room as you",
        )),
        PostOutcome::Refused(_) => Err(Problem::unavailable(
            "the deletion could not be stored; try again",
            1,
        )),
    }
}

/// The room's audit log, newest first (owners and moderators).
#[utoipa::path(
    get, path = "/api/rooms/{room}/audit",
    params(RoomPath, AuditQuery),
    responses(
        (status = 200, body = AuditLog),
        RoomProblems,
        Problems,
    ),
    security(("api_key" = []), ("session" = [])),
)]
pub async fn audit(
    State(app): State<AppState>,
    Extension(caller): Extension<Caller>,
    room: Result<Path<String>, PathRejection>,
    query: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Json<AuditLog>, Problem> {
    let room = room_of(room)?;
    let settings = visible(&app, &room, caller).await?;
    must_be(&settings, caller, STAFF)?;
    read_audit(&app, room.as_str(), query).await
}

/// A page of `scope`'s audit log, as the query asks.
async fn read_audit(
    app: &AppState,
    scope: &str,
    query: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Json<AuditLog>, Problem> {
    let Query(query) = query.map_err(|r| Problem::new(r.status(), r.body_text()))?;
    let limit = query.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(Problem::bad_request("limit must be 1 to 200"));
    }
    if query.before.is_some_and(|before| before < 1) {
        return Err(Problem::bad_request(
            "before must be an entry's id (1 or more)",
        ));
    }
    let rows = app
        .rooms
        .audit(scope, query.before, limit)
        .await
        .map_err(unavailable)?;
    Ok(Json(AuditLog {
        entries: rows
            .into_iter()
            .map(|row| AuditEntry {
                id: row.id,
                actor: row.actor.to_string(),
                action: row.action,
                target: row.target,
                reason: row.reason,
                until_ms: row.until_ms,
                at_ms: row.at_ms,
                seq: row.seq,
            })
            .collect(),
    }))
}

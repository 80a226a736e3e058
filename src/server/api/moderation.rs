//! Moderation over HTTP: mute, ban, kick, unmute and unban a user in a
//! room, and read the room's audit log. Owners and moderators act on
//! members (and owners on moderators); the operator, with an API key, on
//! anyone. Each action is written to the audit log with its reason, takes
//! effect on every node (the room's settings are read again), and the user
//! is told in plain words (`error` with code `moderated`).

use axum::{
    Extension, Json,
    extract::{
        Path, Query, State,
        rejection::{JsonRejection, PathRejection, QueryRejection},
    },
    http::StatusCode,
};
use serde::{Deserialize, Serialize};
use tracing::info;
use utoipa::{IntoParams, ToSchema};

use super::caller::Caller;
use super::problem::{BodyProblems, Problem, Problems};
use super::rooms::{changed, object, unavailable, visible};
use super::routes::{RoomPath, room_of};
use crate::protocol::{Role, UserId};
use crate::server::app_state::AppState;
use crate::server::rooms::{Action, Kind, RoomSettings};
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
    before: Option<i64>,
    /// At most this many (1 to 200, default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
}

/// How high a role stands: one may act only on those below.
fn rank(settings: &RoomSettings, caller: Caller, user: UserId) -> u8 {
    match caller {
        Caller::Operator => 3,
        Caller::User(_) => match settings.role_of(user) {
            Some(Role::Owner) => 2,
            Some(Role::Moderator) => 1,
            _ => 0,
        },
    }
}

/// Mutes, bans, kicks, unmutes or unbans a user in the room.
#[utoipa::path(
    post, path = "/api/rooms/{room}/moderation",
    params(RoomPath),
    request_body = Moderation,
    responses(
        (status = 204, description = "Done: in force on every node, written to the audit log, and the user told"),
        (status = 403, description = "The caller is not the room's owner or moderator, or the user stands as high", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "A private room the caller is not a member of", body = Problem, content_type = "application/problem+json"),
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
    let moderation: Moderation = object(body)?;
    let (kind, lift, metric) = match moderation.action.as_str() {
        "mute" => (Kind::Mute, false, "mute"),
        "unmute" => (Kind::Mute, true, "unmute"),
        "ban" => (Kind::Ban, false, "ban"),
        "unban" => (Kind::Ban, true, "unban"),
        "kick" => (Kind::Ban, false, "kick"),
        _ => {
            return Err(Problem::bad_request(
                "action must be mute, unmute, ban, unban or kick",
            ));
        }
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
    let reason = moderation.reason.as_deref().unwrap_or("").trim();
    if reason.chars().count() > MAX_REASON_CHARS
        || reason
            .chars()
            .any(|c| c.is_control() || crate::protocol::is_bidi_control(c))
    {
        return Err(Problem::bad_request(format!(
            "a reason is one line of at most {MAX_REASON_CHARS} characters"
        )));
    }
    let settings = visible(&app, &room, caller).await?;
    let actor = match caller {
        Caller::User(user) => user,
        Caller::Operator => UserId::from_custom_bytes([0; 16]),
    };
    let (mine, theirs) = (
        rank(&settings, caller, actor),
        rank(&settings, Caller::User(target), target),
    );
    if mine == 0 {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "only the room's owners and moderators may moderate it",
        ));
    }
    if theirs >= mine {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "you may not moderate someone who stands as high in the room as you",
        ));
    }
    let now = now_ms();
    let until_ms = match (metric, moderation.seconds) {
        ("kick", _) => Some(now + KICK_MS),
        (_, Some(seconds)) if !lift => {
            Some(now + i64::try_from(seconds * 1000).unwrap_or(i64::MAX / 2))
        }
        _ => None,
    };
    let action = Action {
        room: &room,
        actor,
        action: metric,
        target,
        reason,
        until_ms,
        now_ms: now,
    };
    app.rooms
        .act(&action, kind, lift)
        .await
        .map_err(unavailable)?;
    app.metrics.moderated(metric);
    info!(%room, ?caller, %target, action = metric, "moderation");
    changed(&app, room).await;
    Ok(StatusCode::NO_CONTENT)
}

/// The room's audit log, newest first (owners and moderators).
#[utoipa::path(
    get, path = "/api/rooms/{room}/audit",
    params(RoomPath, AuditQuery),
    responses(
        (status = 200, body = AuditLog),
        (status = 403, description = "Only owners and moderators read it", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "A private room the caller is not a member of", body = Problem, content_type = "application/problem+json"),
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
    let Query(query) = query.map_err(|r| Problem::new(r.status(), r.body_text()))?;
    let limit = query.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(Problem::bad_request("limit must be 1 to 200"));
    }
    let settings = visible(&app, &room, caller).await?;
    if let Caller::User(user) = caller
        && !settings.role_of(user).is_some_and(Role::runs_the_room)
    {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "only the room's owners and moderators may read its audit log",
        ));
    }
    let rows = app
        .rooms
        .audit(&room, query.before, limit)
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
            })
            .collect(),
    }))
}

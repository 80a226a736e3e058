//! The API's routes: each handler checks what it was given, asks the
//! broker (or the store, for history) and answers JSON or a problem.

use axum::{
    Extension, Json,
    extract::{
        Path, Query, State,
        rejection::{JsonRejection, PathRejection, QueryRejection},
    },
    http::StatusCode,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};

use super::caller::Caller;
use super::problem::{Problem, Problems};
use super::rooms::visible;
use crate::protocol::{ClientId, DisplayName, ErrorCode, MessageContent, RoomName, UserId};
use crate::server::app_state::AppState;
use crate::server::broker::{ApiCommand, Command, PostOutcome};
use crate::server::close::CloseReason;
use crate::server::store::{Channel, Retention, now_ms};

/// Messages a history page holds at most, and when no limit is given.
const PAGE_MAX: u32 = 200;
const PAGE_DEFAULT: u32 = 50;

/// A room with people in it.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoomEntry {
    #[schema(example = "general")]
    room: String,
    /// People in it (one person on several connections counts once).
    members: u32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RoomList {
    /// The rooms with people in them, the most people first (at most 200).
    rooms: Vec<RoomEntry>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberEntry {
    #[schema(format = Uuid)]
    user: String,
    name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberList {
    room: String,
    /// Everyone in the room now, on every node (at most 1,000).
    members: Vec<MemberEntry>,
}

/// A stored message.
#[derive(Debug, Serialize, ToSchema)]
pub struct Message {
    /// Its number in the room: 1, 2, 3... without gaps.
    seq: u64,
    /// Server time, milliseconds since the Unix epoch.
    ts: i64,
    #[schema(format = Uuid)]
    from: String,
    /// The sender's name when it was sent.
    name: String,
    content: String,
    /// The sender's own id for it, if it gave one.
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MessagePage {
    room: String,
    /// Oldest first.
    messages: Vec<Message>,
}

/// A room in the path.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // a description for the document: the path is read as text
pub(super) struct RoomPath {
    /// The room's name.
    #[param(pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
    room: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// Messages numbered after this one: the oldest of them.
    #[param(minimum = 0)]
    after: Option<i64>,
    /// Messages numbered before this one (without `after`: the newest).
    #[param(minimum = 0)]
    before: Option<i64>,
    /// At most this many (1 to 200; default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
}

/// A message a bot posts.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BotMessage {
    /// The bot's handle: its user id is derived from it, the same on every
    /// node and after every restart.
    #[schema(pattern = "^[a-z0-9][a-z0-9-]{0,31}$", example = "deploy-bot")]
    bot: String,
    /// The name shown with the message (default: the handle): ASCII
    /// letters, digits, spaces and `._'()!-`, not starting or ending with
    /// a space.
    #[schema(
        pattern = "^[A-Za-z0-9._'()!-]([A-Za-z0-9 ._'()!-]{0,30}[A-Za-z0-9._'()!-])?$",
        example = "Deploy Bot"
    )]
    name: Option<String>,
    /// At most 4,000 characters with a visible one; no control characters
    /// but tab and line breaks, no text-direction overrides. The pattern is
    /// what `MessageContent::parse_new` takes: any characters but controls
    /// and bidi overrides, at least one neither white space nor invisible.
    #[schema(
        min_length = 1,
        max_length = 4000,
        pattern = "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F\\u202A-\\u202E\\u2066-\\u2069]*[^\\u0000-\\u0020\\u007F-\\u00A0\\u00AD\\u034F\\u115F\\u1160\\u1680\\u17B4\\u17B5\\u180B-\\u180F\\u2000-\\u200D\\u2028-\\u202F\\u205F-\\u2064\\u2066-\\u206F\\u2800\\u3000\\u3164\\uFE00-\\uFE0F\\uFEFF\\uFFA0\\uFFF9-\\uFFFB][^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F\\u202A-\\u202E\\u2066-\\u2069]*$",
        example = "Version 1.4 is live"
    )]
    content: String,
    /// The caller's id for the message: posting again with the same id
    /// stores nothing new and answers with the first one's number.
    #[schema(pattern = "^[A-Za-z0-9_-]{1,64}$", example = "deploy-1.4")]
    id: Option<String>,
}

/// A message stored.
#[derive(Debug, Serialize, ToSchema)]
pub struct Posted {
    room: String,
    seq: u64,
    ts: i64,
    /// The bot's user id.
    #[schema(format = Uuid)]
    from: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Disconnected {
    #[schema(format = Uuid)]
    user: String,
    /// Connections closed on this node (in cluster mode every node closes
    /// the user's connections too).
    connections: u32,
}

pub(super) fn room_of(path: Result<Path<String>, PathRejection>) -> Result<RoomName, Problem> {
    let Path(room) = path.map_err(|r| Problem::new(r.status(), r.body_text()))?;
    RoomName::parse(room).map_err(|why| Problem::bad_request(why.to_string()))
}

/// Asks the broker; `None` if it has stopped.
pub(super) async fn ask<T>(
    app: &AppState,
    command: impl FnOnce(tokio::sync::oneshot::Sender<T>) -> ApiCommand,
) -> Result<T, Problem> {
    let (reply, answer) = tokio::sync::oneshot::channel();
    app.broker.send(Command::Api(command(reply))).await;
    answer
        .await
        .map_err(|_| Problem::unavailable("the server is stopping", 5))
}

/// Rooms with people in them.
#[utoipa::path(
    get, path = "/api/rooms",
    responses(
        (status = 200, body = RoomList),
        Problems,
    ),
)]
pub async fn list_rooms(State(app): State<AppState>) -> Result<Json<RoomList>, Problem> {
    let rooms = ask(&app, ApiCommand::Rooms).await?;
    let rooms = rooms
        .into_iter()
        .map(|summary| RoomEntry {
            room: summary.room.to_string(),
            members: summary.members,
        })
        .collect();
    Ok(Json(RoomList { rooms }))
}

/// Who is in a room now.
#[utoipa::path(
    get, path = "/api/rooms/{room}/members",
    params(RoomPath),
    responses(
        (status = 200, body = MemberList),
        Problems,
    ),
)]
pub async fn room_members(
    State(app): State<AppState>,
    Extension(caller): Extension<Caller>,
    room: Result<Path<String>, PathRejection>,
) -> Result<Json<MemberList>, Problem> {
    let room = room_of(room)?;
    visible(&app, &room, caller).await?;
    let members = ask(&app, |reply| ApiCommand::Members {
        room: room.clone(),
        reply,
    })
    .await?
    .ok_or_else(|| Problem::unavailable("the cluster's Redis does not answer; try again", 1))?;
    let members = members
        .into_iter()
        .map(|m| MemberEntry {
            user: m.user.to_string(),
            name: m.name.to_string(),
        })
        .collect();
    Ok(Json(MemberList {
        room: room.to_string(),
        members,
    }))
}

/// A page of a room's history.
#[utoipa::path(
    get, path = "/api/rooms/{room}/messages",
    params(RoomPath, PageQuery),
    responses(
        (status = 200, body = MessagePage),
        Problems,
    ),
)]
pub async fn read_messages(
    State(app): State<AppState>,
    Extension(caller): Extension<Caller>,
    room: Result<Path<String>, PathRejection>,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<MessagePage>, Problem> {
    let room = room_of(room)?;
    visible(&app, &room, caller).await?;
    let Query(query) = query.map_err(|r| Problem::new(r.status(), r.body_text()))?;
    let limit = query.limit.unwrap_or(PAGE_DEFAULT);
    if !(1..=PAGE_MAX).contains(&limit) {
        return Err(Problem::bad_request("limit must be 1 to 200"));
    }
    let number = |value: Option<i64>, what: &str| {
        value
            .map(|n| {
                u64::try_from(n)
                    .map_err(|_| Problem::bad_request(format!("{what} must be at least 0")))
            })
            .transpose()
    };
    let (after, before) = (
        number(query.after, "after")?,
        number(query.before, "before")?,
    );
    let channel = Channel::Room(room.clone());
    // Forwards, messages alone: a run of changes or deleted messages must
    // not make an empty page that a bot takes for the end.
    let page = match after {
        Some(after) => {
            app.store
                .messages_after(&channel, after, before, limit as usize)
                .await
        }
        None => app.store.page(&channel, before, None, limit as usize).await,
    }
    .map_err(|error| {
        tracing::warn!(%error, "reading history for the API failed");
        Problem::unavailable("history could not be read; try again", 1)
    })?;
    let cutoff = Retention::from_settings(&app.settings).cutoff_ms(now_ms());
    // Messages as they are now: not the changes to them (a page forwards
    // holds those too), and not the ones deleted.
    let messages = page
        .into_iter()
        .filter(|m| m.is_message() && !m.extras().deleted)
        .filter(|m| cutoff.is_none_or(|cutoff| m.ts >= cutoff))
        .map(|m| Message {
            seq: m.seq,
            ts: m.ts,
            from: m.from.to_string(),
            name: m.name.to_string(),
            content: m.content.as_str().to_owned(),
            id: m.client_id.map(|id| id.as_str().to_owned()),
        })
        .collect();
    Ok(Json(MessagePage {
        room: room.to_string(),
        messages,
    }))
}

/// Posts into a room as a bot: stored, numbered and delivered to every
/// member like any message (no need to be a member). Idempotent with `id`.
#[utoipa::path(
    post, path = "/api/rooms/{room}/messages",
    params(RoomPath),
    request_body = BotMessage,
    responses(
        (status = 201, description = "Stored now", body = Posted),
        (status = 200, description = "Stored before, with the same id", body = Posted),
        (status = 413, description = "A body over 2 MB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "A body without the JSON content type", body = Problem, content_type = "application/problem+json"),
        Problems,
    ),
)]
pub async fn post_message(
    State(app): State<AppState>,
    Extension(caller): Extension<Caller>,
    room: Result<Path<String>, PathRejection>,
    body: Result<Json<BotMessage>, JsonRejection>,
) -> Result<(StatusCode, Json<Posted>), Problem> {
    caller.operator()?;
    let room = room_of(room)?;
    let Json(body) = body.map_err(Problem::from_json)?;
    let bad = |why: crate::protocol::InvalidInput| Problem::bad_request(why.to_string());
    if let Some(name) = &body.name
        && !bot_name_ok(name)
    {
        return Err(Problem::bad_request(
            "name must be 1 to 32 ASCII letters, digits, spaces or ._'()!-, not starting or ending with a space",
        ));
    }
    let handle_ok = (1..=32).contains(&body.bot.len())
        && body
            .bot
            .starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && body
            .bot
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !handle_ok {
        return Err(Problem::bad_request(
            "bot must be 1 to 32 lowercase ASCII letters, digits or '-', starting with a letter or a digit",
        ));
    }
    let name = DisplayName::parse_new(body.name.clone().unwrap_or_else(|| body.bot.clone()))
        .map_err(bad)?;
    let content = MessageContent::parse_new(body.content).map_err(bad)?;
    let id = body.id.map(ClientId::parse).transpose().map_err(bad)?;
    let from = bot_id(&body.bot);
    let conn = app.next_conn_id();
    let outcome = ask(&app, |reply| ApiCommand::Post {
        conn,
        room: room.clone(),
        from,
        name,
        content,
        id,
        reply,
    })
    .await?;
    match outcome {
        PostOutcome::Stored { message, new } => {
            let status = if new {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            Ok((
                status,
                Json(Posted {
                    room: room.to_string(),
                    seq: message.seq,
                    ts: message.ts,
                    from: from.to_string(),
                    id: message.client_id.map(|id| id.as_str().to_owned()),
                }),
            ))
        }
        PostOutcome::Refused(ErrorCode::ShuttingDown) => Err(Problem::unavailable(
            "the server is stopping; post again",
            5,
        )),
        PostOutcome::Refused(_) => Err(Problem::unavailable(
            "the message could not be stored; post it again",
            1,
        )),
    }
}

/// A bot's name: what the `name` pattern of [`BotMessage`] says.
fn bot_name_ok(name: &str) -> bool {
    let allowed = |b: u8| b.is_ascii_alphanumeric() || b"._'()!-".contains(&b);
    (1..=32).contains(&name.len())
        && name.bytes().all(|b| allowed(b) || b == b' ')
        && name.bytes().next().is_some_and(allowed)
        && name.bytes().last().is_some_and(allowed)
}

/// A bot's user id: from its handle alone, so the same on every node.
pub fn bot_id(handle: &str) -> UserId {
    let digest = Sha256::digest(format!("confab bot {handle}"));
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    UserId::from_custom_bytes(bytes)
}

/// Closes every connection of a user (they may connect again).
#[utoipa::path(
    delete, path = "/api/users/{user}/connections",
    params(("user" = String, Path, description = "The user's id (hyphenated)", format = Uuid)),
    responses(
        (status = 200, body = Disconnected),
        Problems,
    ),
)]
pub async fn disconnect_user(
    State(app): State<AppState>,
    Extension(caller): Extension<Caller>,
    user: Result<Path<String>, PathRejection>,
) -> Result<Json<Disconnected>, Problem> {
    caller.operator()?;
    let Path(user) = user.map_err(|r| Problem::new(r.status(), r.body_text()))?;
    // The hyphenated form only, as the document's `uuid` format says.
    let user = Some(user)
        .filter(|user| user.len() == 36)
        .ok_or(crate::protocol::InvalidInput::UserId)
        .and_then(|user| UserId::parse(&user))
        .map_err(|why| Problem::bad_request(why.to_string()))?;
    let closed = ask(&app, |reply| ApiCommand::Disconnect {
        user,
        reason: CloseReason::Disconnected,
        notice: None,
        reply,
    })
    .await?;
    tracing::info!(%user, closed, "disconnected a user through the API");
    Ok(Json(Disconnected {
        user: user.to_string(),
        connections: u32::try_from(closed).unwrap_or(u32::MAX),
    }))
}

//! Rooms' settings, roles and invites over HTTP: read and change a room's
//! topic and privacy, give and take roles, make, list and revoke invites,
//! and use one. A user may do what their role in the room lets them (see
//! `crate::server::rooms`); the operator, with an API key, anything. A
//! private room is "no such room" (404) to a user who is not its member.

use axum::{
    Extension, Json,
    extract::{
        Path, State,
        rejection::{JsonRejection, PathRejection},
    },
    http::StatusCode,
};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};
use utoipa::ToSchema;

use super::caller::Caller;
use super::problem::{BodyProblems, Problem, RoomProblems};
use super::routes::{RoomPath, room_of};
use crate::protocol::{Role, RoomName, UserId};
use crate::server::app_state::AppState;
use crate::server::broker::{ApiCommand, Command};
use crate::server::rooms::{Action, InviteRefusal, InviteRow, RoomSettings, Who, check_topic};
use crate::server::store::{StoreError, now_ms};

/// An invite lasts this long at most.
const MAX_INVITE_SECONDS: u64 = 90 * 24 * 3600;

/// An invite may be used this many times at most.
const MAX_INVITE_USES: u32 = 100_000;

/// One of a room's owners or moderators.
#[derive(Debug, Serialize, ToSchema)]
pub struct StaffEntry {
    #[schema(format = Uuid)]
    user: String,
    /// `owner` or `moderator`.
    role: String,
}

/// A room's settings.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoomSettingsBody {
    #[schema(example = "general")]
    room: String,
    topic: String,
    /// Left out of the lobby; only members may join, read or search it.
    private: bool,
    /// Its owners and moderators.
    staff: Vec<StaffEntry>,
    /// The caller's role in the room, if they have one.
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<String>,
}

/// What to change of a room's settings: the topic (owners and
/// moderators), whether it is private (owners).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsChange {
    #[schema(max_length = 300)]
    topic: Option<String>,
    private: Option<bool>,
}

/// A role to give.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleChange {
    /// `owner`, `moderator` or `member`.
    #[schema(example = "moderator")]
    role: String,
}

/// How long a new invite lasts and how many may use it (both unlimited
/// when left out).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewInvite {
    #[schema(minimum = 1, maximum = 7776000)]
    expires_in_seconds: Option<u64>,
    #[schema(minimum = 1, maximum = 100000)]
    max_uses: Option<u32>,
}

/// An invite to a room.
#[derive(Debug, Serialize, ToSchema)]
pub struct Invite {
    code: String,
    room: String,
    /// Where to send people: the web client's page for it.
    #[schema(example = "/i/0123456789abcdef0123456789abcdef")]
    url: String,
    #[schema(format = Uuid)]
    created_by: String,
    created_ms: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_uses: Option<i64>,
    uses: i64,
    revoked: bool,
    /// Whether it lets people in now.
    live: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InviteList {
    /// Newest first.
    invites: Vec<Invite>,
}

/// The room an invite let the caller into.
#[derive(Debug, Serialize, ToSchema)]
pub struct Accepted {
    room: String,
}

#[derive(Debug, Deserialize)]
pub struct RoomAndUser {
    room: String,
    user: String,
}

/// A JSON object body as `T`: serde would also take an array for a
/// struct, which the document does not allow.
pub(super) fn object<T: serde::de::DeserializeOwned>(
    body: Result<Json<serde_json::Value>, JsonRejection>,
) -> Result<T, Problem> {
    let Json(value) = body.map_err(Problem::from_json)?;
    if !value.is_object() {
        return Err(Problem::bad_request("the body must be a JSON object"));
    }
    serde_json::from_value(value).map_err(|why| Problem::bad_request(why.to_string()))
}

pub(super) fn unavailable(error: StoreError) -> Problem {
    warn!(%error, "reading or writing rooms failed");
    Problem::unavailable("rooms cannot be reached now; try again", 5)
}

fn no_such_room() -> Problem {
    Problem::new(StatusCode::NOT_FOUND, "no such room")
}

/// `room`'s settings, if the caller may see them: a private room is no
/// such room to a user outside it.
pub async fn visible(
    app: &AppState,
    room: &RoomName,
    caller: Caller,
) -> Result<RoomSettings, Problem> {
    let settings = app
        .rooms
        .settings(room, now_ms())
        .await
        .map_err(unavailable)?;
    if settings.lets_in(&caller.who(), now_ms()) {
        Ok(settings)
    } else {
        Err(no_such_room())
    }
}

/// Passes the operator and admins, and users who stand at least as high
/// as `rank` in the room ([`RoomSettings::rank`]).
pub(super) fn must_be(settings: &RoomSettings, caller: Caller, rank: u8) -> Result<(), Problem> {
    if settings.rank(&caller.who()) >= rank {
        return Ok(());
    }
    let who = if rank <= STAFF {
        "the room's owners and moderators"
    } else {
        "the room's owners"
    };
    Err(Problem::new(
        StatusCode::FORBIDDEN,
        format!("only {who} (and the server's admins) may do that"),
    ))
}

/// The ranks that run a room: moderators and up, owners and up.
pub(super) const STAFF: u8 = 1;
const OWNERS: u8 = 2;

fn settings_body(room: &RoomName, settings: &RoomSettings, caller: Caller) -> RoomSettingsBody {
    let info = settings.info();
    RoomSettingsBody {
        room: room.to_string(),
        topic: info.topic,
        private: info.private,
        staff: info
            .staff
            .into_iter()
            .map(|staff| StaffEntry {
                user: staff.user.to_string(),
                role: staff.role.name().to_owned(),
            })
            .collect(),
        role: settings
            .role_of(caller.who().user)
            .map(|role| role.name().to_owned()),
    }
}

fn invite_body(invite: InviteRow, now: i64) -> Invite {
    Invite {
        url: format!("/i/{}", invite.code),
        live: invite.refusal(now).is_none(),
        revoked: invite.revoked_ms.is_some(),
        code: invite.code,
        room: invite.room.to_string(),
        created_by: invite.created_by.to_string(),
        created_ms: invite.created_ms,
        expires_ms: invite.expires_ms,
        max_uses: invite.max_uses,
        uses: invite.uses,
    }
}

/// The broker, and through the bus every node, reads the room's rows
/// again; this node's has once this returns (or after a few seconds, if
/// it is that far behind).
pub(super) async fn changed(app: &AppState, room: RoomName) {
    let (done, read) = tokio::sync::oneshot::channel();
    app.broker.send(Command::RoomChanged { room, done }).await;
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), read).await;
}

/// A room's settings: its topic, privacy, and staff.
#[utoipa::path(
    get, path = "/api/rooms/{room}",
    params(RoomPath),
    responses(
        (status = 200, body = RoomSettingsBody),
        RoomProblems,
        super::problem::Problems,
    ),
    security(("api_key" = []), ("session" = [])),
)]
pub async fn room_settings(
    State(app): State<AppState>,
    Extension(caller): Extension<Caller>,
    room: Result<Path<String>, PathRejection>,
) -> Result<Json<RoomSettingsBody>, Problem> {
    let room = room_of(room)?;
    let settings = visible(&app, &room, caller).await?;
    Ok(Json(settings_body(&room, &settings, caller)))
}

/// Changes a room's topic (owners and moderators) or privacy (owners).
/// Whoever is in a room when it becomes private stays a member.
#[utoipa::path(
    patch, path = "/api/rooms/{room}",
    params(RoomPath),
    request_body = SettingsChange,
    responses(
        (status = 200, body = RoomSettingsBody),
        RoomProblems,
        BodyProblems,
        super::problem::Problems,
    ),
    security(("api_key" = []), ("session" = [])),
)]
pub async fn change_room(
    State(app): State<AppState>,
    Extension(caller): Extension<Caller>,
    room: Result<Path<String>, PathRejection>,
    body: Result<Json<serde_json::Value>, JsonRejection>,
) -> Result<Json<RoomSettingsBody>, Problem> {
    let room = room_of(room)?;
    let change: SettingsChange = object(body)?;
    let settings = visible(&app, &room, caller).await?;
    let topic = match &change.topic {
        Some(topic) => {
            must_be(&settings, caller, STAFF)?;
            Some(check_topic(topic).map_err(Problem::bad_request)?)
        }
        None => None,
    };
    if change.private.is_some() {
        must_be(&settings, caller, OWNERS)?;
    }
    let now = now_ms();
    if change.private == Some(true) && !settings.private {
        // Whoever is in it now stays: they become its members first.
        let (reply, answer) = tokio::sync::oneshot::channel();
        app.broker
            .send(Command::Api(ApiCommand::Members {
                room: room.clone(),
                reply,
            }))
            .await;
        let members = answer.await.ok().flatten().ok_or_else(|| {
            Problem::unavailable("the room's members cannot be read now; try again", 1)
        })?;
        let users: Vec<UserId> = members.into_iter().map(|member| member.user).collect();
        app.rooms
            .add_members(&room, &users, now)
            .await
            .map_err(unavailable)?;
    }
    app.rooms
        .update(&room, topic.as_deref(), change.private, now)
        .await
        .map_err(unavailable)?;
    info!(%room, ?caller, topic = topic.is_some(), private = ?change.private, "room settings changed");
    changed(&app, room.clone()).await;
    let settings = app
        .rooms
        .settings(&room, now_ms())
        .await
        .map_err(unavailable)?;
    Ok(Json(settings_body(&room, &settings, caller)))
}

/// Gives a user a role in the room (owners only): `moderator`, `owner`,
/// or `member` (a member of a private room, with no more rights).
#[utoipa::path(
    put, path = "/api/rooms/{room}/roles/{user}",
    params(
        ("room" = String, Path, pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", description = "The room's name"),
        ("user" = String, Path, format = Uuid, description = "The user's id"),
    ),
    request_body = RoleChange,
    responses(
        (status = 200, body = RoomSettingsBody),
        RoomProblems,
        BodyProblems,
        super::problem::Problems,
    ),
    security(("api_key" = []), ("session" = [])),
)]
pub async fn set_role(
    State(app): State<AppState>,
    Extension(caller): Extension<Caller>,
    path: Result<Path<RoomAndUser>, PathRejection>,
    body: Result<Json<serde_json::Value>, JsonRejection>,
) -> Result<Json<RoomSettingsBody>, Problem> {
    let (room, user) = room_and_user(path)?;
    let change: RoleChange = object(body)?;
    let role = Role::from_name(&change.role)
        .ok_or_else(|| Problem::bad_request("role must be owner, moderator or member"))?;
    let settings = visible(&app, &room, caller).await?;
    must_be(&settings, caller, OWNERS)?;
    may_change_role_of(&settings, caller, user)?;
    let now = now_ms();
    app.rooms
        .set_role(&room, user, Some(role), now)
        .await
        .map_err(unavailable)?;
    info!(%room, ?caller, %user, role = role.name(), "role given");
    audit_role(&app, &room, caller, user, "set_role", role.name()).await;
    changed(&app, room.clone()).await;
    let settings = app
        .rooms
        .settings(&room, now_ms())
        .await
        .map_err(unavailable)?;
    Ok(Json(settings_body(&room, &settings, caller)))
}

/// Takes a user's role away (owners; or the user themselves, leaving). In
/// a private room that is their membership: they are put out of it.
#[utoipa::path(
    delete, path = "/api/rooms/{room}/roles/{user}",
    params(
        ("room" = String, Path, pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", description = "The room's name"),
        ("user" = String, Path, format = Uuid, description = "The user's id"),
    ),
    responses(
        (status = 204, description = "Taken away"),
        RoomProblems,
        super::problem::Problems,
    ),
    security(("api_key" = []), ("session" = [])),
)]
pub async fn remove_role(
    State(app): State<AppState>,
    Extension(caller): Extension<Caller>,
    path: Result<Path<RoomAndUser>, PathRejection>,
) -> Result<StatusCode, Problem> {
    let (room, user) = room_and_user(path)?;
    let settings = visible(&app, &room, caller).await?;
    if caller.who().user != user {
        must_be(&settings, caller, OWNERS)?;
        may_change_role_of(&settings, caller, user)?;
    }
    app.rooms
        .set_role(&room, user, None, now_ms())
        .await
        .map_err(unavailable)?;
    info!(%room, ?caller, %user, "role taken away");
    audit_role(&app, &room, caller, user, "remove_role", "").await;
    changed(&app, room).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Refuses a change to `user`'s role by a caller who does not stand above
/// them: an owner may not demote (and then ban) another owner; admins and
/// the operator may.
fn may_change_role_of(
    settings: &RoomSettings,
    caller: Caller,
    user: UserId,
) -> Result<(), Problem> {
    let who = caller.who();
    if who.user != user && settings.rank(&Who::account(user, false)) >= settings.rank(&who) {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "you may not change the role of someone who stands as high in the room as you",
        ));
    }
    Ok(())
}

/// Writes a role given (`role`) or taken away to the room's audit log. The
/// change is made already: a failure to write it is logged.
async fn audit_role(
    app: &AppState,
    room: &RoomName,
    caller: Caller,
    user: UserId,
    action: &str,
    role: &str,
) {
    let action = Action {
        scope: room.as_str(),
        actor: caller.who().user,
        action,
        target: user,
        reason: role,
        until_ms: None,
        seq: None,
        now_ms: now_ms(),
    };
    if let Err(error) = app.rooms.act(&action, None).await {
        warn!(%room, %error, "writing a role change to the audit log failed");
    }
}

fn room_and_user(
    path: Result<Path<RoomAndUser>, PathRejection>,
) -> Result<(RoomName, UserId), Problem> {
    let Path(RoomAndUser { room, user }) =
        path.map_err(|r| Problem::new(r.status(), r.body_text()))?;
    let room = RoomName::parse(room).map_err(|why| Problem::bad_request(why.to_string()))?;
    let user = UserId::parse(&user).map_err(|why| Problem::bad_request(why.to_string()))?;
    Ok((room, user))
}

/// Makes an invite to the room (owners and moderators).
#[utoipa::path(
    post, path = "/api/rooms/{room}/invites",
    params(RoomPath),
    request_body = NewInvite,
    responses(
        (status = 201, body = Invite),
        RoomProblems,
        BodyProblems,
        super::problem::Problems,
    ),
    security(("api_key" = []), ("session" = [])),
)]
pub async fn create_invite(
    State(app): State<AppState>,
    Extension(caller): Extension<Caller>,
    room: Result<Path<String>, PathRejection>,
    body: Result<Json<serde_json::Value>, JsonRejection>,
) -> Result<(StatusCode, Json<Invite>), Problem> {
    let room = room_of(room)?;
    let new: NewInvite = object(body)?;
    if new
        .expires_in_seconds
        .is_some_and(|s| !(1..=MAX_INVITE_SECONDS).contains(&s))
    {
        return Err(Problem::bad_request(format!(
            "expires_in_seconds must be 1 to {MAX_INVITE_SECONDS}"
        )));
    }
    if new
        .max_uses
        .is_some_and(|n| !(1..=MAX_INVITE_USES).contains(&n))
    {
        return Err(Problem::bad_request(format!(
            "max_uses must be 1 to {MAX_INVITE_USES}"
        )));
    }
    let settings = visible(&app, &room, caller).await?;
    must_be(&settings, caller, STAFF)?;
    let now = now_ms();
    let by = caller.who().user;
    let expires_ms = new
        .expires_in_seconds
        .map(|s| now + i64::try_from(s * 1000).unwrap_or(i64::MAX));
    let invite = app
        .rooms
        .invite_to(&room, by, expires_ms, new.max_uses.map(i64::from), now)
        .await
        .map_err(unavailable)?;
    info!(%room, ?caller, "invite made");
    Ok((StatusCode::CREATED, Json(invite_body(invite, now))))
}

/// The room's invites, newest first (owners and moderators).
#[utoipa::path(
    get, path = "/api/rooms/{room}/invites",
    params(RoomPath),
    responses(
        (status = 200, body = InviteList),
        RoomProblems,
        super::problem::Problems,
    ),
    security(("api_key" = []), ("session" = [])),
)]
pub async fn list_invites(
    State(app): State<AppState>,
    Extension(caller): Extension<Caller>,
    room: Result<Path<String>, PathRejection>,
) -> Result<Json<InviteList>, Problem> {
    let room = room_of(room)?;
    let settings = visible(&app, &room, caller).await?;
    must_be(&settings, caller, STAFF)?;
    let now = now_ms();
    let invites = app.rooms.invites(&room).await.map_err(unavailable)?;
    Ok(Json(InviteList {
        invites: invites.into_iter().map(|i| invite_body(i, now)).collect(),
    }))
}

/// Revokes an invite (its room's owners and moderators): it lets nobody
/// in from now on. Those it let in stay members.
#[utoipa::path(
    delete, path = "/api/invites/{code}",
    params(("code" = String, Path, description = "The invite's code")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 403, description = "Only the room's owners and moderators revoke", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such invite, or one revoked already", body = Problem, content_type = "application/problem+json"),
        super::problem::Problems,
    ),
    security(("api_key" = []), ("session" = [])),
)]
pub async fn revoke_invite(
    State(app): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(code): Path<String>,
) -> Result<StatusCode, Problem> {
    let no_such = || Problem::new(StatusCode::NOT_FOUND, "no such live invite");
    let invite = app
        .rooms
        .invite(&code)
        .await
        .map_err(unavailable)?
        .ok_or_else(no_such)?;
    let settings = visible(&app, &invite.room, caller)
        .await
        .map_err(|_| no_such())?;
    must_be(&settings, caller, STAFF)?;
    if !app
        .rooms
        .revoke(&code, now_ms())
        .await
        .map_err(unavailable)?
    {
        return Err(no_such());
    }
    info!(room = %invite.room, ?caller, "invite revoked");
    Ok(StatusCode::NO_CONTENT)
}

/// Uses an invite: the caller becomes a member of its room, and may join
/// it from now on.
#[utoipa::path(
    post, path = "/api/invites/{code}",
    params(("code" = String, Path, description = "The invite's code")),
    responses(
        (status = 200, body = Accepted),
        (status = 403, description = "An API key (an invite is for a user), or a user a ban keeps out of the room", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such invite", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "The invite was revoked, has expired or is used up", body = Problem, content_type = "application/problem+json"),
        super::problem::Problems,
    ),
    security(("session" = [])),
)]
pub async fn accept_invite(
    State(app): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(code): Path<String>,
) -> Result<Json<Accepted>, Problem> {
    let user = caller.user()?;
    // Nobody a ban keeps out of the room may use an invite to it: it would
    // count a use, and make them a member once the ban ends.
    if let Some(invite) = app.rooms.invite(&code).await.map_err(unavailable)? {
        let now = now_ms();
        let settings = app
            .rooms
            .settings(&invite.room, now)
            .await
            .map_err(unavailable)?;
        if settings.bans(&caller.who(), now) {
            info!(room = %invite.room, %user, "refused an invite to a room its user is banned from");
            return Err(Problem::new(
                StatusCode::FORBIDDEN,
                "you are banned from this invite's room",
            ));
        }
    }
    match app
        .rooms
        .accept(&code, user, now_ms())
        .await
        .map_err(unavailable)?
    {
        Ok(room) => {
            info!(%room, %user, "invite used");
            changed(&app, room.clone()).await;
            Ok(Json(Accepted {
                room: room.to_string(),
            }))
        }
        Err(InviteRefusal::Unknown) => Err(Problem::new(
            StatusCode::NOT_FOUND,
            InviteRefusal::Unknown.to_string(),
        )),
        Err(why) => {
            info!(%user, %why, "refused an invite");
            Err(Problem::new(StatusCode::GONE, why.to_string()))
        }
    }
}

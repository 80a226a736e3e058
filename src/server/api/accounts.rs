//! The API's account routes: sign up, sign in, list and end sessions. They
//! take no API key: sign-up and sign-in take a username and a password,
//! the rest a session token (`Authorization: Bearer <token>`, the token
//! sign-in gave, or the web client's). No cookies: a page on another
//! site cannot make a browser send a token, so there is nothing to forge
//! (CSRF); the token lives where the client keeps it.
//!
//! A password is never logged, never stored but as its Argon2id hash, and
//! never part of an answer.

use std::net::SocketAddr;

use axum::{
    Json,
    extract::{
        ConnectInfo, Path, State,
        rejection::{JsonRejection, PathRejection},
    },
    http::{HeaderMap, StatusCode, header},
};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};
use utoipa::ToSchema;

use super::problem::{BodyProblems, Problem, SessionProblems};
use crate::protocol::{DisplayName, UserId};
use crate::server::accounts::username::{MAX_TYPED_BYTES, key_of};
use crate::server::accounts::{
    AccountError, Ending, PasswordError, SessionRow, SignedIn, Standing,
};
use crate::server::app_state::AppState;
use crate::server::broker::{ApiCommand, Command};
use crate::server::client_addr::client_addr;
use crate::server::close::CloseReason;
use crate::server::identity::{SessionId, Verified};
use crate::server::limits::Refused;
use crate::server::rooms::Who;
use crate::server::store::now_ms;

/// A new account's name and password.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignUp {
    /// 2 to 32 letters or digits of one script, with `.`, `_` or `-`
    /// between them. Unique: compared after Unicode normalization, in any
    /// case, and with look-alike letters as one (`аlice` with a Cyrillic
    /// `а` is `alice`).
    #[schema(min_length = 2, max_length = 32, example = "ana")]
    username: String,
    /// At least 8 characters, at most 1,024 bytes, not the username.
    #[schema(min_length = 8, example = "correct horse battery")]
    password: String,
    /// The guest's session token, to keep their user id, name, rooms and
    /// history: the account is theirs. Without it, a new user.
    #[serde(default)]
    token: Option<String>,
}

/// A username and its password.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    #[schema(example = "ana")]
    username: String,
    #[schema(example = "correct horse battery")]
    password: String,
}

/// A signed-in session.
#[derive(Debug, Serialize, ToSchema)]
pub struct Session {
    #[schema(format = Uuid)]
    user: String,
    /// In lower case, after Unicode normalization (NFKC).
    username: String,
    /// The session's id, as the session list names it.
    session: String,
    /// The session token: `hello`'s `token`, and `Authorization: Bearer`
    /// for the session routes. Keep it secret.
    token: String,
}

/// A live session of the account, in its list.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionEntry {
    id: String,
    /// When it signed in, last connected, and will expire unless used
    /// (ms since the Unix epoch).
    created: i64,
    seen: i64,
    expires: i64,
    /// The browser it signed in from, as it said.
    label: String,
    /// The session this request came with.
    current: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionList {
    /// The most recently seen first.
    sessions: Vec<SessionEntry>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionsEnded {
    /// Live sessions ended.
    ended: u64,
}

fn body<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, Problem> {
    body.map(|Json(body)| body).map_err(Problem::from_json)
}

fn too_many(refused: Refused, app: &AppState, what: &'static str) -> Problem {
    app.metrics.rate_limited(what, refused.scope.label());
    let seconds = refused.retry_after.as_secs() + u64::from(refused.retry_after.subsec_nanos() > 0);
    Problem::new(
        StatusCode::TOO_MANY_REQUESTS,
        format!("too many attempts; try again in {seconds} s"),
    )
    .retry_after(seconds)
}

fn user_agent(headers: &HeaderMap) -> &str {
    headers
        .get(header::USER_AGENT)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
}

impl From<AccountError> for Problem {
    fn from(error: AccountError) -> Self {
        match error {
            AccountError::Username(why) => Problem::bad_request(why.to_string()),
            AccountError::Password(PasswordError::Busy) => {
                Problem::unavailable(PasswordError::Busy.to_string(), 2)
            }
            AccountError::Password(PasswordError::Hashing(why)) => {
                warn!(%why, "a password could not be hashed or checked");
                Problem::unavailable("accounts cannot be reached now; try again", 5)
            }
            AccountError::Password(why) => Problem::bad_request(why.to_string()),
            AccountError::Taken | AccountError::HasAccount => {
                Problem::new(StatusCode::CONFLICT, error.to_string())
            }
            AccountError::WrongPassword => {
                Problem::new(StatusCode::UNAUTHORIZED, error.to_string())
            }
            AccountError::Store(error) => unavailable(error),
        }
    }
}

fn unavailable(error: crate::server::store::StoreError) -> Problem {
    warn!(%error, "reading or writing accounts failed");
    Problem::unavailable("accounts cannot be reached now; try again", 5)
}

fn signed_in(signed_in: SignedIn) -> Json<Session> {
    Json(Session {
        user: signed_in.user.to_string(),
        username: signed_in.username.to_string(),
        session: signed_in.session.to_string(),
        token: signed_in.token,
    })
}

/// Makes an account and signs it in: a guest's own, with `token`.
#[utoipa::path(
    post, path = "/api/accounts",
    request_body = SignUp,
    responses(
        (status = 201, description = "Signed up and in", body = Session),
        (status = 403, description = "The guest is banned from the server", body = Problem, content_type = "application/problem+json"),
        (status = 400, description = "Not a valid username or password", body = Problem, content_type = "application/problem+json"),
        BodyProblems,
        (status = 401, description = "`token` is not a live guest session", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The username is taken, or the guest has an account", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many sign-ups from this address: see `Retry-After`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Busy, or storage cannot answer: see `Retry-After`", body = Problem, content_type = "application/problem+json"),
    ),
    security(()),
)]
pub async fn sign_up(
    State(app): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    request: Result<Json<SignUp>, JsonRejection>,
) -> Result<(StatusCode, Json<Session>), Problem> {
    let SignUp {
        username,
        password,
        token,
    } = body(request)?;
    let address = client_addr(peer.ip(), &headers, &app.trusted_proxies);
    app.limits
        .sign_up(address)
        .map_err(|refused| too_many(refused, &app, "sign_up"))?;
    let now = now_ms();
    let guest = match token {
        Some(token) => Some(guest(&app, &token, now).await?),
        None => None,
    };
    let result = app
        .accounts
        .sign_up(
            &app.identity,
            guest,
            &username,
            password,
            user_agent(&headers),
            now,
        )
        .await;
    app.metrics.account_event("sign_up", result.is_ok());
    let signed_up = result?;
    name_after_username(&app, &signed_up).await;
    Ok((StatusCode::CREATED, signed_in(signed_up)))
}

/// A user who never chose a display name (a `guest-…`, or a new user) is
/// named after their username from their next connection on.
async fn name_after_username(app: &AppState, signed_up: &SignedIn) {
    let user = signed_up.user;
    if let Ok(None) = app.store.user_name(user).await
        && let Ok(name) = DisplayName::parse(signed_up.username.as_str())
        && let Err(error) = app.store.set_name_now(user, &name).await
    {
        warn!(%user, %error, "naming a new account failed");
    }
}

/// The guest a sign-up's token names, if it is a live guest's.
async fn guest(app: &AppState, token: &str, now: i64) -> Result<Verified, Problem> {
    let refused = || Problem::new(StatusCode::UNAUTHORIZED, "that is not a live guest's token");
    let verified = app.identity.verify(token, now / 1000).ok_or_else(refused)?;
    match app.accounts.standing(&verified, now).await {
        Ok(Standing::Guest) => {
            refuse_if_banned(app, verified.user, now).await?;
            Ok(verified)
        }
        Ok(Standing::Active { .. }) => Err(Problem::new(
            StatusCode::CONFLICT,
            AccountError::HasAccount.to_string(),
        )),
        Ok(Standing::Ended) => Err(refused()),
        Err(error) => Err(unavailable(error)),
    }
}

/// Signs in: a new session of the account.
#[utoipa::path(
    post, path = "/api/sessions",
    request_body = SignIn,
    responses(
        (status = 201, description = "Signed in", body = Session),
        (status = 403, description = "The account is banned from the server", body = Problem, content_type = "application/problem+json"),
        (status = 400, description = "Not a username and a password", body = Problem, content_type = "application/problem+json"),
        BodyProblems,
        (status = 401, description = "Wrong username or password", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts from this address or for this username: see `Retry-After`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Busy, or storage cannot answer: see `Retry-After`", body = Problem, content_type = "application/problem+json"),
    ),
    security(()),
)]
pub async fn sign_in(
    State(app): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    request: Result<Json<SignIn>, JsonRejection>,
) -> Result<(StatusCode, Json<Session>), Problem> {
    let SignIn { username, password } = body(request)?;
    let address = client_addr(peer.ip(), &headers, &app.trusted_proxies);
    // Far too long to be anyone's: counted against the address alone (its
    // key is not worth computing, nor keeping).
    let key = if username.len() > MAX_TYPED_BYTES {
        String::new()
    } else {
        key_of(&username)
    };
    app.limits
        .sign_in(address, &key)
        .map_err(|refused| too_many(refused, &app, "sign_in"))?;
    let result = app
        .accounts
        .sign_in(
            &app.identity,
            &username,
            password,
            user_agent(&headers),
            now_ms(),
        )
        .await;
    app.metrics.account_event("sign_in", result.is_ok());
    if let Err(AccountError::WrongPassword) = &result {
        info!(%address, "refused a sign-in: wrong username or password");
    }
    let signed = result?;
    // Banned from the server: the right password, but no session (asked
    // only now, so that the ban tells nothing to a wrong password).
    let now = now_ms();
    if let Err(refused) = refuse_if_banned(&app, signed.user, now).await {
        let ending = Ending::One(&signed.session);
        app.accounts
            .end(signed.user, ending, now)
            .await
            .map_err(unavailable)?;
        return Err(refused);
    }
    Ok((StatusCode::CREATED, signed_in(signed)))
}

/// A 403 saying for how long and why if `user` is banned from the server.
async fn refuse_if_banned(app: &AppState, user: UserId, now: i64) -> Result<(), Problem> {
    let who = Who::account(user, false);
    match app.rooms.server_ban(&who, now).await.map_err(unavailable)? {
        Some(ban) => {
            info!(%user, "refused an account request of a user banned from the server");
            Err(Problem::new(
                StatusCode::FORBIDDEN,
                ban.server_ban_words(now),
            ))
        }
        None => Ok(()),
    }
}

/// The account and session a request's bearer token names, live.
async fn session_of(app: &AppState, headers: &HeaderMap) -> Result<(Verified, SessionId), Problem> {
    let unauthorized = |detail: &str| Problem::new(StatusCode::UNAUTHORIZED, detail.to_owned());
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .ok_or_else(|| unauthorized("send the session token as Authorization: Bearer <token>"))?;
    let now = now_ms();
    let verified = app
        .identity
        .verify(token.trim(), now / 1000)
        .ok_or_else(|| unauthorized("that is not a live session token"))?;
    match app.accounts.standing(&verified, now).await {
        Ok(Standing::Active { .. }) => {}
        Ok(Standing::Guest) => {
            return Err(Problem::new(
                StatusCode::FORBIDDEN,
                "a guest has no sessions: sign up first",
            ));
        }
        Ok(Standing::Ended) => {
            return Err(unauthorized("that session was signed out or has expired"));
        }
        Err(error) => return Err(unavailable(error)),
    }
    let session = verified
        .session
        .clone()
        .ok_or_else(|| unauthorized("that is not a live session token"))?;
    Ok((verified, session))
}

/// Closes the user's connections everywhere, so that an ended session's
/// stop at once; the others connect again with their tokens and resume.
async fn bounce(app: &AppState, verified: &Verified) {
    let user = verified.user;
    let (reply, answer) = tokio::sync::oneshot::channel();
    app.broker
        .send(Command::Api(ApiCommand::Disconnect {
            user,
            reason: CloseReason::SignedOut,
            notice: None,
            reply,
        }))
        .await;
    let _ = answer.await;
}

/// The account's live sessions.
#[utoipa::path(
    get, path = "/api/sessions",
    responses(
        (status = 200, body = SessionList),
        SessionProblems,
    ),
    security(("session" = [])),
)]
pub async fn list_sessions(
    State(app): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<SessionList>, Problem> {
    let (verified, current) = session_of(&app, &headers).await?;
    let rows = app
        .accounts
        .sessions(verified.user, now_ms())
        .await
        .map_err(unavailable)?;
    let sessions = rows
        .into_iter()
        .map(|row: SessionRow| SessionEntry {
            current: row.id == current,
            id: row.id.to_string(),
            created: row.created_ms,
            seen: row.seen_ms,
            expires: row.expires_ms,
            label: row.label,
        })
        .collect();
    Ok(Json(SessionList { sessions }))
}

/// Signs this session out (`current`), or another of the account's.
#[utoipa::path(
    delete, path = "/api/sessions/{session}",
    params(("session" = String, Path, description = "A session's id, or `current`", pattern = "^([0-9a-f]{32}|current)$")),
    responses(
        (status = 204, description = "Signed out"),
        (status = 400, description = "Not a session id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No live session of the account has that id", body = Problem, content_type = "application/problem+json"),
        SessionProblems,
    ),
    security(("session" = [])),
)]
pub async fn end_session(
    State(app): State<AppState>,
    headers: HeaderMap,
    session: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, Problem> {
    let Path(session) = session.map_err(|r| Problem::new(r.status(), r.body_text()))?;
    let (verified, current) = session_of(&app, &headers).await?;
    let target = match session.as_str() {
        "current" => current,
        id => SessionId::parse(id)
            .ok_or_else(|| Problem::bad_request("a session id is 32 hex digits, or `current`"))?,
    };
    let ended = app
        .accounts
        .end(verified.user, Ending::One(&target), now_ms())
        .await
        .map_err(unavailable)?;
    if ended == 0 {
        return Err(Problem::new(
            StatusCode::NOT_FOUND,
            "no live session of yours has that id",
        ));
    }
    app.metrics.account_event("sign_out", true);
    bounce(&app, &verified).await;
    Ok(StatusCode::NO_CONTENT)
}

/// A password change: the current one, and the new.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    #[schema(example = "correct horse battery")]
    password: String,
    /// At least 8 characters, at most 1,024 bytes, not the username.
    #[schema(min_length = 8, example = "a new and longer secret")]
    new_password: String,
}

/// Changes the account's password, and signs out every other session.
#[utoipa::path(
    post, path = "/api/sessions/current/password",
    request_body = PasswordChange,
    responses(
        (status = 200, description = "Changed; the other sessions are signed out", body = SessionsEnded),
        (status = 400, description = "Not a valid new password", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No live session token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A guest's token, or the current password is wrong", body = Problem, content_type = "application/problem+json"),
        BodyProblems,
        (status = 429, description = "Too many attempts: see `Retry-After`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Busy, or storage cannot answer: see `Retry-After`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("session" = [])),
)]
pub async fn change_password(
    State(app): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    request: Result<Json<PasswordChange>, JsonRejection>,
) -> Result<Json<SessionsEnded>, Problem> {
    let (verified, current) = session_of(&app, &headers).await?;
    let PasswordChange {
        password,
        new_password,
    } = body(request)?;
    // A guess at the password through a stolen session counts as a
    // sign-in attempt.
    let address = client_addr(peer.ip(), &headers, &app.trusted_proxies);
    app.limits
        .sign_in(address, &verified.user.to_string())
        .map_err(|refused| too_many(refused, &app, "sign_in"))?;
    let changed = app
        .accounts
        .change_password(verified.user, &current, password, new_password, now_ms())
        .await;
    let ended = match changed {
        Err(AccountError::WrongPassword) => {
            return Err(Problem::new(
                StatusCode::FORBIDDEN,
                "the current password is wrong",
            ));
        }
        result => result?,
    };
    app.metrics.account_event("password", true);
    if ended > 0 {
        bounce(&app, &verified).await;
    }
    Ok(Json(SessionsEnded { ended }))
}

/// Signs out every session of the account but this one.
#[utoipa::path(
    delete, path = "/api/sessions",
    responses(
        (status = 200, body = SessionsEnded),
        SessionProblems,
    ),
    security(("session" = [])),
)]
pub async fn end_other_sessions(
    State(app): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<SessionsEnded>, Problem> {
    let (verified, current) = session_of(&app, &headers).await?;
    let ended = app
        .accounts
        .end(verified.user, Ending::AllBut(&current), now_ms())
        .await
        .map_err(unavailable)?;
    if ended > 0 {
        app.metrics.account_event("sign_out", true);
        bounce(&app, &verified).await;
    }
    Ok(Json(SessionsEnded { ended }))
}

//! Who an API request acts as: the operator, with an API key (every room,
//! every route), or a user, with the token their browser holds (a guest's
//! or a session's), with that user's rights: the rooms' settings and
//! invites they run, and what private rooms they are members of.

use std::net::{IpAddr, SocketAddr};

use axum::{
    extract::{ConnectInfo, Request, State},
    http::{HeaderMap, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use tracing::info;

use super::problem::Problem;
use crate::protocol::UserId;
use crate::server::accounts::Standing;
use crate::server::app_state::AppState;
use crate::server::client_addr::client_addr;
use crate::server::identity::SessionId;
use crate::server::rooms::{Guest, Who};
use crate::server::store::now_ms;

/// Whom a request is from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// An API key: the server's operator, who runs every room.
    Operator,
    /// A user's token: who they are in the rooms (an admin runs them all).
    User(Who),
}

impl Caller {
    /// Who the caller is to a room: the operator stands as an admin, under
    /// the nil user id (which the audit log and invites name them by).
    pub fn who(self) -> Who {
        match self {
            Caller::Operator => Who::OPERATOR,
            Caller::User(who) => who,
        }
    }

    /// The user, or a 403 for the operator on a route that acts as one.
    pub fn user(self) -> Result<UserId, Problem> {
        match self {
            Caller::User(who) => Ok(who.user),
            Caller::Operator => Err(Problem::new(
                StatusCode::FORBIDDEN,
                "this route acts as a user: send a user's token, not an API key",
            )),
        }
    }

    /// Passes the operator only: a 403 for a user.
    pub fn operator(self) -> Result<(), Problem> {
        match self {
            Caller::Operator => Ok(()),
            Caller::User(_) => Err(Problem::new(
                StatusCode::FORBIDDEN,
                "this route takes an API key",
            )),
        }
    }
}

/// Lets a request through with a valid key (within the key's rate) or a
/// live user's token, and puts its [`Caller`] in the request's extensions.
pub async fn identify(
    State(app): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut request: Request,
    next: Next,
) -> Response {
    // Only what is `Sync` is held across the wait: not the body.
    let (headers, path) = (request.headers().clone(), request.uri().path().to_owned());
    let address = client_addr(peer.ip(), &headers, &app.trusted_proxies);
    let caller = match caller_of(&app, &headers, &path, address).await {
        Ok(caller) => caller,
        Err(problem) => return problem.into_response(),
    };
    info!(?caller, method = %request.method(), path = request.uri().path(), "API request");
    request.extensions_mut().insert(caller);
    next.run(request).await
}

async fn caller_of(
    app: &AppState,
    headers: &HeaderMap,
    path: &str,
    address: IpAddr,
) -> Result<Caller, Problem> {
    let unauthorized = |detail: &str| Problem::new(StatusCode::UNAUTHORIZED, detail.to_owned());
    if let Some(key) = app.api_keys.check(headers) {
        if let Err(wait) = app.limits.api(key) {
            app.metrics.rate_limited("api", "key");
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            return Err(Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too many requests with this key; wait, then try again",
            )
            .retry_after(seconds));
        }
        return Ok(Caller::Operator);
    }
    let refused = || {
        info!(path, "refused an API request without a valid key or token");
        unauthorized("send a key from api_keys, or a user's token, as Authorization: Bearer <it>")
    };
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .ok_or_else(refused)?;
    let now = now_ms();
    let verified = app
        .identity
        .verify(token.trim(), now / 1000)
        .ok_or_else(refused)?;
    let who = match app.accounts.standing(&verified, now).await {
        Ok(Standing::Guest) => Who {
            user: verified.user,
            admin: false,
            guest: Some(Guest {
                at: address,
                born_ms: verified
                    .session
                    .as_ref()
                    .and_then(SessionId::born_ms)
                    .unwrap_or(0),
            }),
        },
        Ok(Standing::Active { username, .. }) => {
            Who::account(verified.user, app.accounts.is_admin(&username))
        }
        Ok(Standing::Ended) => {
            return Err(unauthorized("that session was signed out or has expired"));
        }
        Err(error) => return Err(accounts_unavailable(error)),
    };
    match app.rooms.server_ban(&who, now).await {
        Ok(None) => Ok(Caller::User(who)),
        Ok(Some(ban)) => {
            info!(user = %who.user, "refused an API request of a user banned from the server");
            let text = ban.server_ban_words(now);
            Err(Problem::new(StatusCode::FORBIDDEN, text))
        }
        Err(error) => Err(accounts_unavailable(error)),
    }
}

fn accounts_unavailable(error: crate::server::store::StoreError) -> Problem {
    tracing::warn!(%error, "reading a session or a ban failed");
    Problem::unavailable("accounts cannot be reached now; try again", 5)
}

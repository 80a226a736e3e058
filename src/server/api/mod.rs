//! The HTTP API for integrations (bots, a backend, moderation scripts),
//! under `/api`: post into a room as a bot, list the rooms and a room's
//! members, read a room's history, disconnect a user (`routes.rs`); sign
//! up, sign in and end sessions (`accounts.rs`). JSON in and out, errors
//! as problem details (`problem.rs`). The integration routes are behind an
//! API key (`super::api_keys`) and rate limited per key; the account
//! routes take a session token or a password instead. The document
//! (`GET /api/openapi.json`) is generated from these handlers.
//!
//! The API goes through the same broker as the WebSocket clients: a bot's
//! message is stored, numbered, delivered and (in cluster mode) published
//! exactly like a member's.

mod accounts;
mod problem;
mod routes;

use axum::{
    Router,
    extract::{Request, State},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{delete, get, post},
};
use tracing::info;
use utoipa::OpenApi;

use super::app_state::AppState;
use problem::Problem;

/// The OpenAPI document of the routes below.
#[derive(OpenApi)]
#[openapi(
    info(title = "confab API", description = "Post as a bot, read rooms and history, disconnect users; sign up, sign in and end sessions."),
    paths(
        routes::list_rooms, routes::room_members, routes::read_messages, routes::post_message, routes::disconnect_user,
        accounts::sign_up, accounts::sign_in, accounts::list_sessions, accounts::end_session, accounts::end_other_sessions,
        accounts::change_password,
    ),
    modifiers(&BearerKeys),
    security(("api_key" = [])),
)]
pub struct ApiDoc;

struct BearerKeys;

impl utoipa::Modify for BearerKeys {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        // A session token: what sign-in answers, and the web client holds.
        components.add_security_scheme(
            "session",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// `/api`'s routes.
pub fn router(state: AppState) -> Router<AppState> {
    let document = ApiDoc::openapi()
        .to_json()
        .expect("the API document encodes");
    let guarded = Router::new()
        .route("/rooms", get(routes::list_rooms))
        .route("/rooms/{room}/members", get(routes::room_members))
        .route(
            "/rooms/{room}/messages",
            get(routes::read_messages).post(routes::post_message),
        )
        .route("/users/{user}/connections", delete(routes::disconnect_user))
        .route_layer(middleware::from_fn_with_state(state, require_key));
    Router::new()
        .route(
            "/openapi.json",
            get(move || async move { ([("content-type", "application/json")], document) }),
        )
        .merge(guarded)
        .route("/accounts", post(accounts::sign_up))
        .route(
            "/sessions",
            post(accounts::sign_in)
                .get(accounts::list_sessions)
                .delete(accounts::end_other_sessions),
        )
        .route("/sessions/{session}", delete(accounts::end_session))
        .route(
            "/sessions/current/password",
            post(accounts::change_password),
        )
        .method_not_allowed_fallback(|| async {
            Problem::new(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                "this route does not take that method; see /api/openapi.json",
            )
        })
        .fallback(not_found)
}

/// Anything under `/api` that is no route.
pub async fn not_found() -> Problem {
    Problem::new(
        axum::http::StatusCode::NOT_FOUND,
        "no such API route; see /api/openapi.json",
    )
}

/// Lets a request through with a valid key, within the key's rate.
async fn require_key(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let Some(key) = app.api_keys.check(request.headers()) else {
        info!(
            path = request.uri().path(),
            "refused an API request without a valid key"
        );
        return Problem::new(
            axum::http::StatusCode::UNAUTHORIZED,
            "send a key from api_keys as Authorization: Bearer <key>",
        )
        .into_response();
    };
    if let Err(wait) = app.limits.api(key) {
        app.metrics.rate_limited("api", "key");
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        return Problem::new(
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            "too many requests with this key; wait, then try again",
        )
        .retry_after(seconds)
        .into_response();
    }
    info!(key, method = %request.method(), path = request.uri().path(), "API request");
    next.run(request).await
}

//! The HTTP API for integrations (bots, a backend, moderation scripts),
//! under `/api`: post into a room as a bot, list the rooms and a room's
//! members, read a room's history, disconnect a user (`routes.rs`); a
//! room's settings, roles and invites (`rooms.rs`); sign up, sign in and
//! end sessions (`accounts.rs`). JSON in and out, errors as problem
//! details (`problem.rs`). The integration and room routes take an API key
//! (`super::api_keys`, the operator, rate limited per key) or a user's
//! token (that user, with their rights): `caller.rs`. The account routes
//! take a session token or a password. The document
//! (`GET /api/openapi.json`) is generated from these handlers.
//!
//! The API goes through the same broker as the WebSocket clients: a bot's
//! message is stored, numbered, delivered and (in cluster mode) published
//! exactly like a member's.

mod accounts;
mod caller;
mod moderation;
mod problem;
mod rooms;
mod routes;

use axum::{
    Router, middleware,
    routing::{delete, get, post, put},
};
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
        rooms::room_settings, rooms::change_room, rooms::set_role, rooms::remove_role,
        rooms::create_invite, rooms::list_invites, rooms::revoke_invite, rooms::accept_invite,
        moderation::moderate, moderation::audit, moderation::moderate_server, moderation::server_audit,
        moderation::delete_message,
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
        .route(
            "/rooms/{room}",
            get(rooms::room_settings).patch(rooms::change_room),
        )
        .route(
            "/rooms/{room}/roles/{user}",
            put(rooms::set_role).delete(rooms::remove_role),
        )
        .route(
            "/rooms/{room}/invites",
            get(rooms::list_invites).post(rooms::create_invite),
        )
        .route("/rooms/{room}/moderation", post(moderation::moderate))
        .route("/rooms/{room}/audit", get(moderation::audit))
        .route(
            "/rooms/{room}/messages/{seq}",
            delete(moderation::delete_message),
        )
        .route("/moderation", post(moderation::moderate_server))
        .route("/audit", get(moderation::server_audit))
        .route(
            "/invites/{code}",
            post(rooms::accept_invite).delete(rooms::revoke_invite),
        )
        .route_layer(middleware::from_fn_with_state(state, caller::identify));
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

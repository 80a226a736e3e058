//! `GET /ws`: the last place that sees HTTP. Checks the origin and the
//! connection limit, sets the socket's buffer and size limits, and hands the
//! upgraded socket to [`connection::serve`](super::connection::serve).

use std::net::SocketAddr;

use axum::{
    extract::{ConnectInfo, State, WebSocketUpgrade},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use tracing::{info, warn};

use super::{AppState, connection, origin};

/// Read buffer per connection, allocated for its whole life. tungstenite's
/// default of 128 KiB is zeroed on every read and costs about 136 KB of RSS
/// per idle connection; 1 KiB still cost 700 B more per connection than this
/// (measured with `confab-bench idle`). Client frames are small: a longer
/// one grows the buffer as it is read, and `burst` is as fast as with 4 KiB.
const READ_BUFFER_BYTES: usize = 256;

/// Bytes tungstenite gathers before writing to the socket (the writer task
/// flushes after each batch anyway). Its buffer keeps the largest size it
/// ever reached for the connection's whole life, so this bounds what a batch
/// leaves behind: with 32 KiB, a storm of joins left 5.7 KB per idle
/// connection (heaptrack); 1 KiB costs `burst` 0.36 against 0.32 µs of CPU
/// per delivery, still one write per several frames.
const WRITE_BUFFER_BYTES: usize = 1024;

/// tungstenite refuses a frame that does not fit here and drops the
/// connection, so it must hold the largest frame the server sends (a member
/// list or a history page, both capped) several times over. It is a ceiling,
/// not an allocation; the outbox's byte limit bounds what is queued.
const MAX_WRITE_BUFFER_BYTES: usize = 8 * 1024 * 1024;

/// Seconds a client refused for the connection limit is asked to wait.
const RETRY_AFTER_SECONDS: &str = "5";

pub async fn upgrade(
    upgrade: WebSocketUpgrade,
    State(app): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    if !origin::is_allowed(&headers, &app.settings.allowed_origins) {
        let origin = headers.get(header::ORIGIN);
        warn!(%peer, ?origin, "refused a WebSocket upgrade from a foreign origin");
        return (StatusCode::FORBIDDEN, "origin not allowed\n").into_response();
    }
    // The permit travels with the connection and is released when its task
    // ends, however it ends, so the count cannot drift.
    let Ok(permit) = app.connections.clone().try_acquire_owned() else {
        warn!(%peer, limit = app.settings.max_connections, "refused a WebSocket upgrade: connection limit reached");
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, RETRY_AFTER_SECONDS)],
            "too many connections, retry later\n",
        )
            .into_response();
    };
    let max_message = app.settings.max_message_bytes;
    upgrade
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(WRITE_BUFFER_BYTES)
        // Unbounded by default: bound what a stuck peer can make us hold.
        .max_write_buffer_size(MAX_WRITE_BUFFER_BYTES)
        .max_message_size(max_message)
        .max_frame_size(max_message)
        .on_failed_upgrade(move |error| info!(%peer, %error, "WebSocket upgrade failed"))
        .on_upgrade(move |socket| connection::serve(socket, peer, permit, app))
}

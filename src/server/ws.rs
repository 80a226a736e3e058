//! `GET /ws`: the last place that sees HTTP. Checks the origin, the
//! handshake (RFC 6455 §4.2.1), the client address's rate limits and the
//! connection limit, answers 101, and
//! spawns [`connection::serve`](super::connection::serve) on the upgraded
//! socket, which `socket::open` sets up.
//!
//! The handshake is done here rather than by axum's `WebSocketUpgrade`
//! because that one hands over axum's socket type, which can neither send a
//! message in fragments nor take a stream of ours beneath it; both are what
//! keeps an idle connection from holding its largest batch forever.

use std::net::SocketAddr;

use axum::{
    extract::{ConnectInfo, Request, State},
    http::{HeaderMap, Method, StatusCode, header},
    response::{IntoResponse, Response},
};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tracing::{info, warn};

use super::app_state::AppState;
use super::client_addr::client_addr;
use super::connection::{self, Service};

/// Seconds a client refused for the connection limit is asked to wait.
const RETRY_AFTER_SECONDS: &str = "5";

/// `GET /ws` (`ECHO` false: the chat) and `GET <echo_path>` (`ECHO` true:
/// the echo endpoint, for conformance suites): one handler, so that both
/// go through the same checks.
pub async fn upgrade<const ECHO: bool>(
    State(app): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut request: Request,
) -> Response {
    let service = if ECHO { Service::Echo } else { Service::Chat };
    let headers = request.headers();
    if !app.origins.allow(headers) {
        let origin = headers.get(header::ORIGIN);
        // Not a warning: anyone can send this, as often as they like.
        info!(%peer, ?origin, "refused a WebSocket upgrade from a foreign origin");
        return (StatusCode::FORBIDDEN, "origin not allowed\n").into_response();
    }
    let accept = match accept_key(request.method(), headers) {
        Ok(accept) => accept,
        Err(refusal) => {
            info!(%peer, %refusal, "refused a request to the WebSocket endpoint");
            return refusal.into_response();
        }
    };
    let client = client_addr(peer.ip(), headers, &app.trusted_proxies);
    let slot = match app.limits.connect(client) {
        Ok(slot) => slot,
        Err(refused) => {
            app.metrics.rate_limited(refused.label(), "ip");
            info!(%client, why = refused.label(), "refused a WebSocket upgrade: too many from this address");
            let wait = refused.retry_after();
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::RETRY_AFTER, seconds.to_string())],
                "too many connections from this address, retry later\n",
            )
                .into_response();
        }
    };
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
    // Resolves once hyper has sent the 101 below and handed the socket over.
    let on_upgrade = hyper::upgrade::on(&mut request);
    let places = connection::Places::new(permit, slot);
    tokio::spawn(connection::serve(on_upgrade, client, places, app, service));
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONNECTION, "upgrade")
        .header(header::UPGRADE, "websocket")
        .header(header::SEC_WEBSOCKET_ACCEPT, accept)
        .body(Default::default())
        .expect("a 101 of valid headers always builds")
}

/// Why a request to `/ws` is not a handshake this server takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
enum Refusal {
    #[error("this is the WebSocket endpoint: connect with a WebSocket client")]
    NotAnUpgrade,
    #[error("only WebSocket version 13 is spoken here")]
    Version,
    #[error("the Sec-WebSocket-Key header is missing")]
    NoKey,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let text = format!("{self}\n");
        match self {
            Refusal::NotAnUpgrade => (
                StatusCode::UPGRADE_REQUIRED,
                [(header::UPGRADE, "websocket")],
                text,
            )
                .into_response(),
            Refusal::Version => (
                StatusCode::UPGRADE_REQUIRED,
                [(header::SEC_WEBSOCKET_VERSION, "13")],
                text,
            )
                .into_response(),
            Refusal::NoKey => (StatusCode::BAD_REQUEST, text).into_response(),
        }
    }
}

/// The `Sec-WebSocket-Accept` answer to a valid opening handshake.
fn accept_key(method: &Method, headers: &HeaderMap) -> Result<String, Refusal> {
    let lists = |name: header::HeaderName, token: &str| {
        headers
            .get_all(name)
            .iter()
            .flat_map(|value| value.as_bytes().split(|&byte| byte == b','))
            .any(|item| item.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
    };
    if method != Method::GET
        || !lists(header::CONNECTION, "upgrade")
        || !lists(header::UPGRADE, "websocket")
    {
        return Err(Refusal::NotAnUpgrade);
    }
    if headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .map(|v| v.as_bytes())
        != Some(b"13")
    {
        return Err(Refusal::Version);
    }
    let key = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .ok_or(Refusal::NoKey)?;
    Ok(derive_accept_key(key.as_bytes()))
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn handshake(pairs: &[(header::HeaderName, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(name, value)| (name.clone(), HeaderValue::from_static(value)))
            .collect()
    }

    fn browser() -> Vec<(header::HeaderName, &'static str)> {
        vec![
            (header::CONNECTION, "keep-alive, Upgrade"),
            (header::UPGRADE, "websocket"),
            (header::SEC_WEBSOCKET_VERSION, "13"),
            // RFC 6455's own example, with its answer.
            (header::SEC_WEBSOCKET_KEY, "dGhlIHNhbXBsZSBub25jZQ=="),
        ]
    }

    #[test]
    fn a_browser_handshake_gets_the_rfc_answer() {
        assert_eq!(
            accept_key(&Method::GET, &handshake(&browser())),
            Ok("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=".to_owned())
        );
    }

    #[test]
    fn anything_else_is_refused_with_the_reason() {
        let without = |name: header::HeaderName| {
            let pairs: Vec<_> = browser().into_iter().filter(|(n, _)| *n != name).collect();
            accept_key(&Method::GET, &handshake(&pairs))
        };
        assert_eq!(without(header::UPGRADE), Err(Refusal::NotAnUpgrade));
        assert_eq!(without(header::CONNECTION), Err(Refusal::NotAnUpgrade));
        assert_eq!(
            without(header::SEC_WEBSOCKET_VERSION),
            Err(Refusal::Version)
        );
        assert_eq!(without(header::SEC_WEBSOCKET_KEY), Err(Refusal::NoKey));
        assert_eq!(
            accept_key(&Method::HEAD, &handshake(&browser())),
            Err(Refusal::NotAnUpgrade)
        );
        let mut old = browser();
        old[2].1 = "8";
        assert_eq!(
            accept_key(&Method::GET, &handshake(&old)),
            Err(Refusal::Version)
        );
    }
}

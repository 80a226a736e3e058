//! The HTTP edge and connection lifecycle: health, origin check, connection
//! limit, heartbeat.

mod common;

use std::time::Duration;

use common::{
    Client, http_get, http_get_with_head, refused_upgrade, spawn_app, spawn_app_with,
    upgrade_with_origin,
};
use confab::server::config::{Settings, Storage};
use futures_util::StreamExt;
use serde_json::json;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

#[tokio::test]
async fn health_answers_ok() {
    let app = spawn_app().await;
    let (status, body) = http_get(app.addr, "/health").await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert_eq!(body, "OK");
}

#[tokio::test]
async fn a_node_whose_storage_answers_is_ready() {
    for storage in [Storage::Sqlite, Storage::Memory] {
        let app = spawn_app_with(|settings| settings.storage = storage).await;
        let (status, body) = http_get(app.addr, "/readyz").await;
        assert_eq!(status, "HTTP/1.1 200 OK");
        assert_eq!(body, "ready\n");
    }
}

#[tokio::test]
async fn the_chat_page_is_server_rendered() {
    let app = spawn_app().await;
    let (status, body) = http_get(app.addr, "/").await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(body.contains("<title>confab</title>"), "{body}");
    assert!(
        body.contains(r#"<label for="room-name">Join a room</label>"#),
        "{body}"
    );
    assert!(
        body.contains("/pkg/confab.js"),
        "the page loads the WASM bundle: {body}"
    );
}

#[tokio::test]
async fn pages_and_files_carry_the_security_headers_and_the_page_its_nonce() {
    let app = spawn_app().await;
    let (head, body) = http_get_with_head(app.addr, "/").await;
    let head = head.to_ascii_lowercase();
    for header in [
        "x-content-type-options: nosniff",
        "x-frame-options: deny",
        "referrer-policy: no-referrer",
    ] {
        assert!(head.contains(header), "{header} missing from {head}");
    }
    let policy = head
        .lines()
        .find_map(|line| line.strip_prefix("content-security-policy: "))
        .expect("the page has a policy");
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    let nonce = policy
        .split(['\'', ' '])
        .find_map(|word| word.strip_prefix("nonce-"))
        .expect("the policy names a nonce");
    // Its one inline script carries that nonce (case kept in the body).
    let in_body = body.to_ascii_lowercase();
    assert!(in_body.contains(&format!("nonce=\"{nonce}\"")), "{body}");
    assert!(
        !in_body.contains(&format!("crossorigin=\"{nonce}\"")),
        "{body}"
    );
    // Each page gets its own.
    let (again, _) = http_get_with_head(app.addr, "/").await;
    assert!(!again.to_ascii_lowercase().contains(nonce));
    // Anything else: a policy that allows nothing.
    let (head, _) = http_get_with_head(app.addr, "/health").await;
    let head = head.to_ascii_lowercase();
    assert!(
        head.contains("content-security-policy: default-src 'none'; frame-ancestors 'none'"),
        "{head}"
    );
    assert!(head.contains("x-frame-options: deny"), "{head}");
}

#[tokio::test]
async fn a_plain_request_to_the_websocket_endpoint_is_told_to_upgrade() {
    let app = spawn_app().await;
    let (status, body) = http_get(app.addr, "/ws").await;
    assert_eq!(status, "HTTP/1.1 426 Upgrade Required");
    assert!(body.contains("connect with a WebSocket client"), "{body}");
    // The endpoint still takes real clients.
    app.connect().await.join("general").await;
}

#[tokio::test]
async fn a_foreign_origin_is_refused_with_403() {
    let app = spawn_app_with(|s| s.allowed_origins = vec!["https://chat.example.com".into()]).await;
    let response = refused_upgrade(&app.ws_url(), Some("http://evil.example")).await;
    assert_eq!(response.status(), 403);
    assert!(upgrade_with_origin(&app.ws_url(), &format!("http://{}", app.addr)).await);
    assert!(upgrade_with_origin(&app.ws_url(), "https://chat.example.com").await);
    // No Origin at all: a non-browser client.
    app.connect().await.join("general").await;
}

#[tokio::test]
async fn an_origin_is_compared_with_its_scheme_and_a_rebound_host_is_not_trusted() {
    let app = spawn_app().await;
    let port = app.addr.port();
    assert!(upgrade_with_origin(&app.ws_url(), &format!("http://localhost:{port}")).await);
    let other_scheme = refused_upgrade(&app.ws_url(), Some(&format!("https://{}", app.addr))).await;
    assert_eq!(other_scheme.status(), 403);
    // DNS rebinding: attacker.example resolves to this server, and its page
    // sends its own name as Host and Origin.
    let mut request = app.ws_url().into_client_request().unwrap();
    let host = format!("attacker.example:{port}");
    request.headers_mut().insert("host", host.parse().unwrap());
    request
        .headers_mut()
        .insert("origin", format!("http://{host}").parse().unwrap());
    match tokio_tungstenite::connect_async(request).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 403)
        }
        other => panic!("expected 403, got {:?}", other.map(|_| ())),
    }
}

#[tokio::test]
async fn past_the_connection_limit_the_upgrade_gets_503_with_retry_after() {
    let app = spawn_app_with(|s| s.max_connections = 3).await;
    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(app.connect().await);
    }
    let response = refused_upgrade(&app.ws_url(), None).await;
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "5");
    // A place frees up as soon as a connection closes.
    open.pop().unwrap().close().await;
    let mut replacement = connect_eventually(&app.ws_url()).await;
    replacement.join("general").await;
}

#[tokio::test]
async fn the_connection_count_stays_exact_under_churn() {
    let app = spawn_app_with(|s| s.max_connections = 20).await;
    for round in 0..10 {
        let mut batch = Vec::new();
        for _ in 0..20 {
            batch.push(connect_eventually(&app.ws_url()).await);
        }
        // Half close politely, half vanish.
        for (n, client) in batch.into_iter().enumerate() {
            if n % 2 == 0 {
                client.close().await;
            } else {
                drop(client.into_inner());
            }
        }
        assert!(
            connect_eventually(&app.ws_url())
                .await
                .join("probe")
                .await
                .is_object(),
            "round {round}"
        );
    }
    // Every slot came back: the full limit can be opened again, and no more.
    let mut all = Vec::new();
    for _ in 0..20 {
        all.push(connect_eventually(&app.ws_url()).await);
    }
    assert_eq!(refused_upgrade(&app.ws_url(), None).await.status(), 503);
}

/// Connects, retrying briefly while a just-closed connection's slot is
/// still being released.
async fn connect_eventually(url: &str) -> Client {
    for _ in 0..100 {
        if let Ok(client) = Client::try_connect(url).await {
            return client;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no connection slot came free");
}

/// A ping every 100 ms, and a 300 ms timeout.
fn fast_heartbeat(settings: &mut Settings) {
    settings.heartbeat_interval_ms = 100;
    settings.heartbeat_timeout_ms = 300;
}

#[tokio::test]
async fn a_client_ping_gets_a_pong() {
    let app = spawn_app().await;
    let mut client = app.connect().await;
    assert_eq!(client.ping_pong(b"are you there").await, b"are you there");
}

#[tokio::test]
async fn a_silent_client_is_dropped_after_the_heartbeat_timeout_and_announced() {
    let app = spawn_app_with(fast_heartbeat).await;
    let mut watcher = app.connect_with_hello().await;
    let mut silent = app.connect_with_hello().await;
    watcher.join("general").await;
    silent.join("general").await;
    // The last frame the server hears from it: the timeout counts from here
    // (its announcement to the watcher may come up to 250 ms later).
    let started = std::time::Instant::now();
    let silent_id = silent.id().to_owned();
    // Stop reading: tungstenite then never answers the server's pings.
    let mut socket = silent.into_inner();
    let expected = [
        json!({"type": "user_joined", "room": "general", "user": silent_id, "name": format!("guest-{}", &silent_id[..4])}),
        json!({"type": "user_left", "room": "general", "user": silent_id}),
    ];
    assert_eq!([watcher.recv().await, watcher.recv().await], expected);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(250),
        "dropped too early: {waited:?}"
    );
    // What the silent client finds when it reads again: pings, then 4408.
    let mut close = None;
    while let Some(Ok(frame)) = socket.next().await {
        if let tokio_tungstenite::tungstenite::Message::Close(frame) = frame {
            close = frame;
            break;
        }
    }
    let close = close.expect("a close frame");
    assert_eq!(u16::from(close.code), 4408);
    assert_eq!(close.reason.as_str(), "heartbeat timeout");
}

#[tokio::test]
async fn a_client_that_answers_pings_outlives_the_heartbeat_timeout() {
    let app = spawn_app_with(fast_heartbeat).await;
    let mut client = app.connect().await;
    client.join("general").await;
    // Reading answers the pings; nothing else is sent for 4 timeouts.
    client.expect_silence(Duration::from_millis(1200)).await;
    client.say("general", "alive").await;
    assert_eq!(client.recv().await["content"], "alive");
}

/// Pings received on `socket` over `window`, sending a frame of our own
/// every `talk_every` if given (a client ping, which proves life as well
/// as any message).
async fn pings_received(
    mut socket: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    window: Duration,
    talk_every: Option<Duration>,
) -> usize {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    let deadline = tokio::time::Instant::now() + window;
    let mut talk = tokio::time::interval(talk_every.unwrap_or(window * 2));
    let mut pings = 0;
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => return pings,
            _ = talk.tick(), if talk_every.is_some() => {
                socket.send(Message::Ping(b"here".to_vec().into())).await.unwrap();
            }
            frame = socket.next() => match frame {
                Some(Ok(Message::Ping(_))) => pings += 1,
                Some(Ok(Message::Pong(_))) => {}
                other => panic!("expected pings and pongs only, got {other:?}"),
            },
        }
    }
}

#[tokio::test]
async fn only_a_client_that_stays_silent_is_pinged() {
    let app = spawn_app_with(fast_heartbeat).await;
    let silent = app.connect().await.into_inner();
    let talker = app.connect().await.into_inner();
    // Six ping intervals, side by side: the silent client's pings show the
    // server was pinging while the talker, heard every 40 ms, got none.
    let window = Duration::from_millis(600);
    let (silent_pings, talker_pings) = tokio::join!(
        pings_received(silent, window, None),
        pings_received(talker, window, Some(Duration::from_millis(40))),
    );
    assert!(
        silent_pings >= 3,
        "the silent client got {silent_pings} pings"
    );
    assert_eq!(talker_pings, 0, "a client that talks needs no ping");
}

/// A client that stops reading while its room is busy is let go once its
/// send queue is full, and announced as gone; meanwhile the sender and the
/// others carry on and get everything, and the socket of the one let go
/// ends once it has read what it was sent.
#[tokio::test]
async fn a_client_that_stops_reading_is_let_go_and_the_room_goes_on() {
    let app = spawn_app_with(|settings| {
        settings.send_queue_frames = 64;
        settings.send_queue_bytes = 64 * 1024;
    })
    .await;
    let mut sender = app.connect_with_hello().await;
    let mut watcher = app.connect_with_hello().await;
    let mut stalled = app.connect_with_hello().await;
    sender.join("busy").await;
    watcher.join("busy").await;
    stalled.join("busy").await;
    sender.recv_type("user_joined").await;
    sender.recv_type("user_joined").await;
    watcher.recv_type("user_joined").await;
    let stalled_id = stalled.id().to_owned();
    let mut stalled = stalled.into_inner();

    // Until the queue fills, the kernel's buffers take what it does not
    // read: megabytes on loopback, so large messages and many of them.
    let content = "x".repeat(3000);
    let mut gone = false;
    let mut sent = 0;
    while !gone {
        assert!(sent < 20_000, "still not let go after {sent} messages");
        sender.say("busy", &content).await;
        sent += 1;
        for client in [&mut sender, &mut watcher] {
            loop {
                let frame = client.recv().await;
                match frame["type"].as_str() {
                    Some("room_message") => break,
                    Some("user_left") if frame["user"] == stalled_id => gone = true,
                    // The lobby's counts, and such.
                    _ => {}
                }
            }
        }
    }

    // Everything it was sent before it was let go, then the end.
    let ended = tokio::time::timeout(Duration::from_secs(30), async {
        let mut read = 0;
        loop {
            match stalled.next().await {
                Some(Ok(tokio_tungstenite::tungstenite::Message::Text(_))) => read += 1,
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return read,
            }
        }
    })
    .await
    .expect("the stalled client's socket ends");
    assert!(ended < sent, "it got {ended} of {sent}: it was cut off");
}

//! Graceful shutdown, in-process and of the real binary on SIGTERM.

mod common;

use std::time::Duration;

use common::{Binary, Client, spawn_app, spawn_app_with};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, tungstenite::protocol::Role};

fn shutdown_notice() -> serde_json::Value {
    json!({"type": "error", "message": "server shutting down", "code": "shutting_down"})
}

#[tokio::test]
async fn shutdown_sends_every_client_the_notice_then_1012_and_returns() {
    let app = spawn_app().await;
    let mut ana = app.connect().await;
    let mut ben = app.connect().await;
    ana.join("general").await;
    ben.join("general").await;
    ana.recv().await;
    let url = app.ws_url();
    let stopping = tokio::spawn(app.shut_down());
    for client in [&mut ana, &mut ben] {
        let (texts, code, reason) = client.recv_close().await;
        assert_eq!(texts, [shutdown_notice()]);
        assert_eq!((code, reason.as_str()), (1012, "server restarting"));
    }
    stopping.await.unwrap().expect("run returns Ok");
    assert!(
        tokio_tungstenite::connect_async(&url).await.is_err(),
        "no longer accepting"
    );
}

#[tokio::test]
async fn the_binary_exits_zero_on_sigterm_after_notifying_clients() {
    let data = tempfile::tempdir().unwrap();
    let mut server = Binary::start(data.path());
    let mut client = Client::connect(&server.ws_url()).await;
    client.join("general").await;
    server.signal("-TERM");
    let (texts, code, _) = client.recv_close().await;
    assert_eq!(texts, [shutdown_notice()]);
    assert_eq!(code, 1012);

    assert_eq!(server.exit_code().await, Some(0));
}

/// `/readyz`'s status line and body.
async fn readyz(server: &Binary) -> (String, String) {
    common::http_get(server.addr.parse().unwrap(), "/readyz").await
}

/// On SIGTERM the binary drains: `/readyz` answers 503 at once, while
/// everything is still served for `drain_delay_ms` (`/healthz`, an open
/// connection chatting, a new one joining); only then does every client get
/// the notice and 1012, and the process exits 0.
#[tokio::test]
async fn on_sigterm_readiness_goes_first_and_clients_are_told_after_the_drain() {
    const DRAIN: Duration = Duration::from_millis(1500);
    let data = tempfile::tempdir().unwrap();
    let mut server = Binary::start_with(data.path(), &[("CONFAB_DRAIN_DELAY_MS", "1500")]);
    let mut ana = Client::connect(&server.ws_url()).await;
    ana.join("general").await;
    assert_eq!(readyz(&server).await.0, "HTTP/1.1 200 OK");
    server.signal("-TERM");
    let signalled = std::time::Instant::now();
    loop {
        let (status, body) = readyz(&server).await;
        if status.contains("503") {
            assert!(body.contains("draining"), "{body}");
            break;
        }
        assert!(signalled.elapsed() < DRAIN, "still ready: {status}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (status, _) = common::http_get(server.addr.parse().unwrap(), "/healthz").await;
    assert_eq!(status, "HTTP/1.1 200 OK", "alive while draining");
    let mut ben = Client::connect(&server.ws_url()).await;
    ben.join("general").await;
    ben.say("general", "still served").await;
    assert_eq!(
        ana.recv_type("room_message").await["content"],
        "still served"
    );
    let (texts, code, _) = ana.recv_close().await;
    assert_eq!(code, 1012);
    assert!(texts.contains(&shutdown_notice()), "{texts:?}");
    assert!(
        signalled.elapsed() >= DRAIN,
        "told to go after {:?}, before the drain ended",
        signalled.elapsed()
    );
    assert_eq!(ben.recv_close().await.1, 1012);
    assert_eq!(server.exit_code().await, Some(0));
}

/// SIGINT (someone at a terminal) stops at once, and so does a second
/// SIGTERM during a drain.
#[tokio::test]
async fn sigint_and_a_second_sigterm_skip_the_drain() {
    for signals in [&["-INT"][..], &["-TERM", "-TERM"][..]] {
        let data = tempfile::tempdir().unwrap();
        let mut server = Binary::start_with(data.path(), &[("CONFAB_DRAIN_DELAY_MS", "60000")]);
        let mut client = Client::connect(&server.ws_url()).await;
        client.join("general").await;
        for (n, signal) in signals.iter().enumerate() {
            server.signal(signal);
            // The first SIGTERM has begun the drain before the second.
            while n + 1 < signals.len() && readyz(&server).await.0.contains("200") {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        // Within the client's patience, not the minute's drain.
        let (_, code, _) = client.recv_close().await;
        assert_eq!(code, 1012, "{signals:?}");
        assert_eq!(server.exit_code().await, Some(0));
    }
}

#[tokio::test]
async fn a_half_sent_http_request_does_not_hold_up_shutdown() {
    let app = spawn_app_with(|s| s.shutdown_grace_ms = 300).await;
    let mut stalled = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    stalled
        .write_all(b"GET /health HTTP/1.1\r\n")
        .await
        .unwrap();
    let started = std::time::Instant::now();
    app.shut_down().await.expect("run returns Ok");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_connection_upgraded_during_shutdown_still_gets_the_notice_and_1012() {
    let app = spawn_app().await;
    let addr = app.addr;
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    // The request is in flight when the shutdown starts; then it completes.
    let stopping = tokio::spawn(app.shut_down());
    tokio::time::sleep(Duration::from_millis(200)).await;
    stream.write_all(b"\r\n").await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8];
        stream.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    let socket =
        WebSocketStream::from_raw_socket(MaybeTlsStream::Plain(stream), Role::Client, None).await;
    let mut client = Client::from_socket(socket);
    let (texts, code, _) = client.recv_close().await;
    assert_eq!(texts, [shutdown_notice()]);
    assert_eq!(code, 1012);
    stopping.await.unwrap().expect("run returns Ok");
}

#[test]
fn an_unusable_data_dir_fails_before_the_server_says_it_listens() {
    let file = tempfile::NamedTempFile::new().unwrap();
    // A directory inside a regular file cannot be made.
    let data_dir = file.path().join("data");
    let started = confab::server::process::spawn(
        std::path::Path::new(env!("CARGO_BIN_EXE_confab")),
        &[("CONFAB_DATA_DIR", data_dir.to_str().unwrap())],
    );
    let error = started.expect_err("no LISTENING line").to_string();
    assert!(error.contains("exited before listening"), "{error}");
}

//! What an adversarial probe of the release binary did to the server, each
//! as a test: one hostile client must not cost the others their connection,
//! nor the server its memory.

mod common;

use common::{Binary, http_get, spawn_app_with};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn joining_and_leaving_in_a_loop_evicts_no_member() {
    // Queues with room for the attacker's 500 `joined`, but not for a storm
    // of 1,000 announcements counted frame by frame.
    let app = spawn_app_with(|s| s.send_queue_frames = 600).await;
    let mut members = Vec::new();
    for _ in 0..10 {
        let mut member = app.connect_with_hello().await;
        member.join("busy").await;
        members.push(member);
    }
    let mut attacker = app.connect().await;
    // Pipelined, all inside one announcement period.
    for _ in 0..500 {
        attacker
            .send(json!({"type": "join_room", "room": "busy"}))
            .await;
        attacker
            .send(json!({"type": "leave_room", "room": "busy"}))
            .await;
    }
    for _ in 0..500 {
        assert_eq!(attacker.recv().await["type"], "joined");
    }
    // The room still works for every member: each gets this message (after
    // whatever presence news was due), and no close frame.
    members[0].say("busy", "still here").await;
    for member in &mut members {
        let message = member.recv_type("room_message").await;
        assert_eq!(message["content"], "still here");
    }
}

#[tokio::test]
async fn a_client_that_pings_without_reading_is_closed_as_a_slow_consumer() {
    let app = spawn_app_with(|s| s.send_queue_frames = 64).await;
    // A small receive buffer, so that the pongs soon have nowhere to go.
    let tcp = tokio::net::TcpSocket::new_v4().unwrap();
    tcp.set_recv_buffer_size(4096).unwrap();
    let stream = tcp.connect(app.addr).await.unwrap();
    let (mut socket, _) = tokio_tungstenite::client_async(app.ws_url(), stream)
        .await
        .unwrap();
    // 125-byte pings, never reading the pongs. Once the server stops
    // reading (it closed this connection), a flush no longer completes.
    let ping = Message::Ping(vec![7u8; 125].into());
    let mut sent = 0;
    for _ in 0..200 {
        let batch = async {
            for _ in 0..500 {
                socket.feed(ping.clone()).await?;
                sent += 1;
            }
            socket.flush().await
        };
        match tokio::time::timeout(Duration::from_secs(1), batch).await {
            Ok(Ok(())) => {}
            _ => break,
        }
    }
    // Now read: pongs, then the close frame, which the server holds for
    // a reader for a while.
    let mut pongs = 0;
    let code = loop {
        match tokio::time::timeout(common::PATIENCE, socket.next()).await {
            Ok(Some(Ok(Message::Pong(_)))) => pongs += 1,
            Ok(Some(Ok(Message::Close(Some(frame))))) => break u16::from(frame.code),
            other => panic!("expected pongs then a close frame, got {other:?} after {pongs} pongs"),
        }
    };
    assert_eq!(code, 1013, "closed as a slow consumer");
    assert!(pongs < sent, "{pongs} of {sent} pings answered");
    drop(socket);
    // Counted once its task has ended.
    let deadline = std::time::Instant::now() + common::PATIENCE;
    loop {
        let (text, samples) = common::scrape(app.addr).await;
        let count = |name: &str| samples.get(name).copied().unwrap_or(0.0);
        if count("confab_slow_consumers_evicted_total") == 1.0 {
            assert_eq!(
                count("confab_connections_closed_total{how=\"1013\"}"),
                1.0,
                "{text}"
            );
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn silent_and_trickling_http_clients_are_let_go_and_health_keeps_answering() {
    let data = tempfile::tempdir().unwrap();
    // Few files, so that silent sockets would soon take them all.
    let server = Binary::start_with_file_limit(
        data.path(),
        200,
        &[("CONFAB_HTTP_HEADER_TIMEOUT_MS", "500")],
    );
    let addr: std::net::SocketAddr = server.addr.parse().unwrap();
    let mut silent = Vec::new();
    for _ in 0..150 {
        silent.push(TcpStream::connect(addr).await.unwrap());
    }
    let mut trickling = TcpStream::connect(addr).await.unwrap();
    trickling
        .write_all(b"GET /health HTTP/1.1\r\nHost: x")
        .await
        .unwrap();
    let (status, body) = tokio::time::timeout(common::PATIENCE, http_get(addr, "/health"))
        .await
        .expect("/health answers while silent clients hold sockets");
    assert_eq!((status.as_str(), body.as_str()), ("HTTP/1.1 200 OK", "OK"));
    // The silent and the trickling are closed by the server (EOF, or a reset
    // for one that was still in the listen queue when it was closed).
    for socket in silent.iter_mut().take(5).chain([&mut trickling]) {
        let mut byte = [0u8; 64];
        let read = tokio::time::timeout(common::PATIENCE, socket.read(&mut byte))
            .await
            .expect("the server closes a silent connection");
        assert!(
            matches!(read, Ok(0) | Err(_)) || byte.starts_with(b"HTTP/1.1 408"),
            "{read:?}"
        );
    }
}

#[tokio::test]
async fn a_kept_alive_http_connection_that_keeps_asking_is_let_go_after_its_lifetime() {
    // Header deadline 500 ms: a lifetime of 3 s.
    let app = spawn_app_with(|s| s.http_header_timeout_ms = 500).await;
    let mut socket = TcpStream::connect(app.addr).await.unwrap();
    let started = std::time::Instant::now();
    let mut answered = 0;
    let mut buffer = vec![0u8; 4096];
    let closed = loop {
        let request = format!("GET /health HTTP/1.1\r\nHost: {}\r\n\r\n", app.addr);
        if socket.write_all(request.as_bytes()).await.is_err() {
            break true;
        }
        match tokio::time::timeout(common::PATIENCE, socket.read(&mut buffer)).await {
            Ok(Ok(0) | Err(_)) => break true,
            Ok(Ok(_)) => answered += 1,
            Err(_) => break false,
        }
        if started.elapsed() > Duration::from_secs(20) {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert!(closed, "still open after {answered} answers");
    assert!(answered >= 5, "it was served until then: {answered}");
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

//! Running confab in production, from outside: the real binary's
//! structured logs and its metrics.

mod common;

use std::collections::HashMap;

use common::{Binary, Client};
use serde_json::{Value, json};

/// With `log_format = "json"` every line of the log is one JSON object with
/// a level, a target, a time and the event's fields at its top level: a
/// connection's events name it (`conn`), the broker's name the user and the
/// room. Still never a message's text or a session token.
#[tokio::test]
async fn json_logs_are_one_object_a_line_with_conn_user_and_room_and_no_secrets() {
    let data = tempfile::tempdir().unwrap();
    let server = Binary::start_with(
        data.path(),
        &[("CONFAB_LOG_FORMAT", "json"), ("RUST_LOG", "debug")],
    );
    let (mut ana, welcome, _) = Client::connect_with_token(&server.ws_url(), None).await;
    let token = welcome["token"].as_str().unwrap().to_owned();
    let user = welcome["user"].as_str().unwrap().to_owned();
    ana.join("general").await;
    let secret_text = "the launch code is 0000";
    ana.say_acked("general", secret_text, "m-1").await;
    ana.send(json!({"type": "no_such_type"})).await;
    ana.recv_type("error").await;
    ana.close().await;

    // The disconnection is logged last; wait for it.
    let deadline = std::time::Instant::now() + common::PATIENCE;
    let log = loop {
        let log = server.log();
        if log.contains("disconnected") {
            break log;
        }
        assert!(std::time::Instant::now() < deadline, "{log}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let events: Vec<Value> = log
        .lines()
        .filter(|line| !line.starts_with("confab listening on"))
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect();
    for event in &events {
        assert!(event["level"].is_string(), "{event}");
        assert!(event["target"].is_string(), "{event}");
        assert!(event["timestamp"].is_string(), "{event}");
    }
    let named = |message: &str| {
        events
            .iter()
            .find(|event| event["message"] == message)
            .unwrap_or_else(|| panic!("no {message:?} in {log}"))
            .clone()
    };
    let connected = named("connected");
    let conn = connected["conn"]
        .as_str()
        .expect("conn is a field")
        .to_owned();
    assert_eq!(named("refused an invalid message")["conn"], conn.as_str());
    let joined = named("join");
    assert_eq!(joined["conn"], conn.as_str());
    assert_eq!(joined["user"], user.as_str());
    assert_eq!(joined["room"], "general");
    assert_eq!(named("disconnected")["conn"], conn.as_str());
    assert!(!log.contains(secret_text), "a message's text was logged");
    assert!(!log.contains(&token), "a session token was logged");
}

/// Every family moves when its thing happens, over the real binary: a
/// connection opened and closed, messages received by type, an error sent
/// by code, deliveries and their bytes, a commit, a history request, a
/// resume, rooms and users in memory. No label names a room or a user.
#[tokio::test]
async fn metrics_move_when_things_happen_and_never_name_a_room_or_user() {
    let data = tempfile::tempdir().unwrap();
    let server = Binary::start(data.path());
    let (_, before) = common::scrape(&server.addr).await;
    let at = |samples: &HashMap<String, f64>, name: &str| samples.get(name).copied().unwrap_or(0.0);

    let (mut ana, welcome, _) = Client::connect_with_token(&server.ws_url(), None).await;
    ana.send(json!({"type": "join_room", "room": "metered", "after": 0}))
        .await;
    ana.recv_type("joined").await;
    ana.say_acked("metered", "one", "m-1").await;
    ana.send(json!({"type": "history", "room": "metered"}))
        .await;
    ana.recv_type("history").await;
    ana.send_raw(tokio_tungstenite::tungstenite::Message::text("not json"))
        .await;
    assert_eq!(ana.recv_type("error").await["code"], "invalid_message");
    let mut ben = Client::connect(&server.ws_url()).await;
    ben.join("metered").await;
    ana.say_acked("metered", "two", "m-2").await;
    ben.recv_type("room_message").await;
    ben.close().await;

    // The close is counted once the server has seen it.
    let deadline = std::time::Instant::now() + common::PATIENCE;
    let (text, after) = loop {
        let (text, after) = common::scrape(&server.addr).await;
        if at(&after, "confab_connections_closed_total{how=\"client\"}") >= 1.0 {
            break (text, after);
        }
        assert!(std::time::Instant::now() < deadline, "{text}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let moved = |name: &str| at(&after, name) - at(&before, name);
    assert_eq!(moved("confab_connections_opened_total"), 2.0);
    assert_eq!(at(&after, "confab_connections_open"), 1.0);
    assert_eq!(moved("confab_messages_received_total{type=\"hello\"}"), 1.0);
    assert_eq!(
        moved("confab_messages_received_total{type=\"join_room\"}"),
        2.0
    );
    assert_eq!(
        moved("confab_messages_received_total{type=\"room_message\"}"),
        2.0
    );
    assert_eq!(
        moved("confab_messages_received_total{type=\"history\"}"),
        1.0
    );
    assert_eq!(
        moved("confab_messages_received_total{type=\"invalid\"}"),
        1.0
    );
    assert_eq!(
        moved("confab_errors_sent_total{code=\"invalid_message\"}"),
        1.0
    );
    assert_eq!(moved("confab_history_requests_total"), 1.0);
    assert_eq!(moved("confab_resumes_total"), 1.0);
    assert_eq!(moved("confab_store_commit_duration_seconds_count"), 2.0);
    assert_eq!(moved("confab_store_commit_batch_messages_sum"), 2.0);
    // welcome, joined, the echoes, acks, history, the error, Ben's join...
    assert!(moved("confab_deliveries_total") >= 10.0, "{text}");
    assert!(moved("confab_sent_bytes_total") > 500.0, "{text}");
    assert_eq!(at(&after, "confab_rooms"), 1.0);
    assert_eq!(at(&after, "confab_users"), 1.0);
    for gauge in ["confab_broker_queue_depth", "confab_store_queue_depth"] {
        assert!(after.contains_key(gauge), "{gauge} in {text}");
    }
    assert!(text.contains("confab_build_info{version=\""), "{text}");
    assert!(!text.contains("metered"), "a room named in a label: {text}");
    let user = welcome["user"].as_str().unwrap();
    assert!(!text.contains(user), "a user named in a label: {text}");
}

/// With `metrics_addr`, `/metrics` is served there, and not beside the app
/// (where the public could read it).
#[tokio::test]
async fn metrics_addr_serves_metrics_there_and_not_beside_the_app() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let metrics_addr = format!("127.0.0.1:{port}");
    let data = tempfile::tempdir().unwrap();
    let server = Binary::start_with(data.path(), &[("CONFAB_METRICS_ADDR", &metrics_addr)]);
    let (text, _) = common::scrape(&metrics_addr).await;
    assert!(text.contains("confab_build_info"), "{text}");
    let (status, _) = common::http_get(server.addr.parse().unwrap(), "/metrics").await;
    assert!(status.contains("404"), "{status}");
}

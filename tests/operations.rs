//! Running confab in production, from outside: the real binary's
//! structured logs.

mod common;

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

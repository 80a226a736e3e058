//! Bad input gets a clear error or close code, and nobody else notices.

mod common;

use common::{spawn_app, spawn_app_with};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn malformed_messages_get_an_error_and_the_connection_stays_open() {
    let app = spawn_app().await;
    let mut client = app.connect().await;
    let cases = [
        (
            "not json",
            "invalid message: expected ident at line 1 column 2",
        ),
        (r#"{"type":"dance"}"#, "unknown variant `dance`"),
        (r#"{"room":"general"}"#, "missing field `type`"),
        (r#"{"type":"join_room"}"#, "missing field `room`"),
        (
            r#"{"type":"join_room","room":"no spaces"}"#,
            "room name may contain only ASCII letters",
        ),
        (
            r#"{"type":"room_message","room":"general","content":"  "}"#,
            "message content must not be empty",
        ),
        (
            r#"{"type":"direct_message","to":"bob","content":"hi"}"#,
            "user id must be a UUID",
        ),
    ];
    for (text, expected) in cases {
        client.send_raw(Message::text(text)).await;
        let error = client.recv().await;
        assert_eq!(error["type"], "error", "{text}: {error}");
        assert_eq!(error["code"], "invalid_message", "{text}: {error}");
        let message = error["message"].as_str().unwrap();
        assert!(message.starts_with("invalid message: "), "{message}");
        assert!(message.contains(expected), "{text}: {message}");
    }
    // Still fully working afterwards.
    assert_eq!(
        client.join("general").await,
        json!({"type": "joined", "room": "general"})
    );
}

#[tokio::test]
async fn content_over_four_thousand_characters_is_refused() {
    let app = spawn_app().await;
    let mut client = app.connect().await;
    client.join("general").await;
    let long = "é".repeat(4_001);
    client.say("general", &long).await;
    let error = client.recv().await;
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("message content must be at most 4000 characters long, got 4001"),
        "{error}"
    );
}

#[tokio::test]
async fn a_binary_frame_gets_an_error_and_the_connection_stays_open() {
    let app = spawn_app().await;
    let mut client = app.connect().await;
    client.send_raw(Message::binary(vec![1u8, 2, 3])).await;
    assert_eq!(
        client.recv().await,
        json!({
            "type": "error",
            "message": "binary frames are not supported: send JSON as a text frame",
            "code": "binary_frame"
        })
    );
    client.join("general").await;
}

#[tokio::test]
async fn a_message_over_the_size_limit_closes_that_connection_with_1009_only() {
    let app = spawn_app_with(|s| s.max_message_bytes = 2048).await;
    let (mut bystander, mut offender) = app.two_members_of("general").await;
    let huge = format!(
        r#"{{"type":"room_message","room":"general","content":"{}"}}"#,
        "x".repeat(4096)
    );
    offender.send_raw(Message::text(huge)).await;
    let (texts, code, reason) = offender.recv_close().await;
    assert_eq!(code, 1009, "{reason}");
    assert_eq!(reason, "message too big: the limit is 2048 bytes");
    assert!(texts.is_empty(), "{texts:?}");
    // The bystander sees the offender leave, and carries on.
    assert_eq!(
        bystander.recv().await,
        json!({"type": "user_left", "room": "general", "user": offender.id()})
    );
    bystander.say("general", "still here").await;
    assert_eq!(bystander.recv().await["content"], "still here");
}

#[tokio::test]
async fn an_error_reply_quotes_at_most_a_clip_of_the_input() {
    let app = spawn_app().await;
    let mut client = app.connect().await;
    // 10,000 DEL characters: serde quotes them back escaped, 6 bytes each.
    let huge = format!(
        r#"{{"type":"hello","protocol":"{}"}}"#,
        "\u{7f}".repeat(10_000)
    );
    client.send_raw(Message::text(huge)).await;
    let error = client.recv().await;
    let message = error["message"].as_str().unwrap();
    assert!(message.starts_with("invalid message: "), "{message}");
    assert!(
        message.chars().count() <= 220,
        "{} characters echoed",
        message.chars().count()
    );
    client.join("general").await;
}

#[tokio::test]
async fn a_connection_may_join_at_most_a_hundred_rooms() {
    let app = spawn_app().await;
    let mut client = app.connect().await;
    for n in 0..100 {
        client.join(&format!("room-{n}")).await;
    }
    client
        .send(json!({"type": "join_room", "room": "one-too-many"}))
        .await;
    let error = client.recv().await;
    assert_eq!(error["code"], "too_many_rooms", "{error}");
    // Rejoining a room it is already in is still fine.
    client.join("room-7").await;
}

#[tokio::test]
async fn hello_is_refused_after_anything_else_even_a_bad_frame() {
    let app = spawn_app().await;
    for first in [
        Message::text("not json"),
        Message::binary(vec![1u8]),
        Message::text(r#"{"type":"join_room","room":"general"}"#),
    ] {
        let mut client = app.connect().await;
        client.send_raw(first).await;
        client.recv().await;
        client.send(json!({"type": "hello"})).await;
        let refusal = client.recv().await;
        assert_eq!(refusal["code"], "invalid_message", "{refusal}");
        assert_eq!(
            refusal["message"],
            "hello must be the first message of a connection"
        );
        // And the connection carries on as the article's client it began as.
        client.join("elsewhere").await;
    }
}

#[tokio::test]
async fn a_history_of_no_messages_and_a_direct_message_to_yourself_are_refused() {
    let app = spawn_app().await;
    let mut client = app.connect_with_hello().await;
    client.join("general").await;
    client
        .send(json!({"type": "history", "room": "general", "limit": 0}))
        .await;
    let refusal = client.recv().await;
    assert_eq!(refusal["code"], "invalid_message", "{refusal}");
    assert!(
        refusal["message"]
            .as_str()
            .unwrap()
            .contains("limit must be at least 1"),
        "{refusal}"
    );
    let own_id = client.id().to_owned();
    client
        .send(json!({"type": "direct_message", "to": own_id, "content": "me", "id": "d-1"}))
        .await;
    let refusal = client.recv().await;
    assert_eq!(refusal["code"], "invalid_message", "{refusal}");
    assert_eq!(refusal["id"], "d-1");
    // Still connected and served.
    client
        .send(json!({"type": "history", "room": "general", "limit": 1}))
        .await;
    assert_eq!(client.recv().await["type"], "history");
}

#[tokio::test]
async fn text_and_names_that_deceive_are_refused_and_the_connection_carries_on() {
    let app = spawn_app().await;
    let mut client = app.connect().await;
    client.join("general").await;
    for content in [
        "\u{200B}\u{200B}",
        "bell\u{7}",
        "\u{1b}[2J",
        "x \u{202E}txet",
    ] {
        client
            .send(json!({"type": "room_message", "room": "general", "content": content}))
            .await;
        let refusal = client.recv().await;
        assert_eq!(refusal["code"], "invalid_message", "{content:?}: {refusal}");
    }
    let mut named = app.connect_with_hello().await;
    for name in ["An\u{200B}a", "Ana\u{2028}Lima", "\u{FFF9}\u{FFFA}\u{FFFB}"] {
        named.send(json!({"type": "set_name", "name": name})).await;
        let refusal = named.recv().await;
        assert_eq!(refusal["code"], "invalid_message", "{name:?}: {refusal}");
    }
    // Both still served.
    client.say("general", "plain text").await;
    assert_eq!(client.recv().await["content"], "plain text");
    named.send(json!({"type": "set_name", "name": "Ana"})).await;
    assert_eq!(named.recv().await["type"], "user_renamed");
}

//! Clients that know only the article's protocol and do not wait for
//! answers: what a connection sends takes effect in the order it was sent,
//! and a join brings the room's recent messages as the article's own
//! `room_message`.

mod common;

use common::spawn_app;
use serde_json::json;

#[tokio::test]
async fn messages_pipelined_behind_a_join_are_all_delivered_in_order() {
    // SQLite storage: each fresh room is loaded from disk, so the join waits.
    let app = spawn_app().await;
    for attempt in 0..10 {
        let room = format!("fresh-{attempt}");
        let mut client = app.connect().await;
        client
            .send(json!({"type": "join_room", "room": room}))
            .await;
        for n in 1..=5 {
            let content = format!("message {n}");
            client
                .send(json!({"type": "room_message", "room": room, "content": content}))
                .await;
        }
        assert_eq!(client.recv().await, json!({"type": "joined", "room": room}));
        for n in 1..=5 {
            let message = client.recv().await;
            assert_eq!(message["type"], "room_message", "{message}");
            assert_eq!(message["content"], format!("message {n}"));
        }
        // A leave and a message behind it: the message comes after the leave.
        client
            .send(json!({"type": "leave_room", "room": room}))
            .await;
        client
            .send(json!({"type": "room_message", "room": room, "content": "too late"}))
            .await;
        let refusal = client.recv().await;
        assert_eq!(refusal["type"], "error");
        assert_eq!(refusal["code"], "not_a_member", "{refusal}");
    }
}

#[tokio::test]
async fn an_article_client_joining_gets_recent_messages_as_room_messages() {
    let app = spawn_app().await;
    let mut ana = app.connect_with_hello().await;
    ana.join("general").await;
    for n in 1..=3 {
        ana.say_acked("general", &format!("earlier {n}"), &format!("m-{n}"))
            .await;
    }
    let mut plain = app.connect().await;
    assert_eq!(
        plain.join("general").await,
        json!({"type": "joined", "room": "general"})
    );
    for n in 1..=3 {
        let message = plain.recv().await;
        assert_eq!(message["type"], "room_message");
        assert_eq!(message["room"], "general");
        assert_eq!(message["from"], ana.id());
        assert_eq!(message["content"], format!("earlier {n}"));
    }
    // Then what is new, after the replay.
    ana.say("general", "now").await;
    assert_eq!(plain.recv().await["content"], "now");
}

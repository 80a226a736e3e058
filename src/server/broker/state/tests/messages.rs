//! Messages and the store: delivered only once stored, acknowledged after,
//! and what happens when the store stops.

use super::*;

#[tokio::test]
async fn when_the_store_stops_waiting_joins_fail_and_everyone_is_told_to_come_back() {
    let mut h = Harness::new().await;
    let (mut ana, mut ben) = h.hello_and_article_client_in("general").await;
    ben.received();
    // Ana's join of a new room waits for its load, which never comes.
    h.send(&ana, json!({"type": "join_room", "room": "loading"}));
    assert!(ana.received().is_empty());

    h.state.store_stopped();
    let to_ana = ana.received();
    assert_eq!(
        to_ana[0],
        json!({"type": "error", "code": "storage_failed", "room": "loading",
            "message": "the room's history could not be read; join again in a moment"})
    );
    assert_eq!(to_ana[1]["code"], "shutting_down");
    assert_eq!(to_ana[2], json!({"close": 1012}));
    assert_eq!(ben.types(), ["error", "close"]);
    // Nothing more is taken: the server is going away.
    h.send(&ben, json!({"type": "list_rooms"}));
    assert!(ben.received().is_empty());
}

#[tokio::test]
async fn a_message_is_delivered_only_once_stored_then_acknowledged() {
    let mut h = Harness::new().await;
    let (mut ana, mut ben) = h.hello_and_article_client_in("general").await;
    h.send(
        &ana,
        json!({"type": "room_message", "room": "general", "content": "hi", "id": "m-1"}),
    );
    assert!(ben.received().is_empty(), "not before the store commits");
    h.settle().await;
    let to_ben = ben.received();
    assert_eq!(
        to_ben,
        [
            json!({"type": "room_message", "room": "general", "from": ana.user.to_string(),
                "content": "hi", "name": ana.user.guest_name().as_str(), "seq": 1,
                "ts": to_ben[0]["ts"], "id": "m-1"})
        ]
    );
    let to_ana = ana.received();
    assert_eq!(to_ana[0]["type"], "room_message");
    assert_eq!(
        to_ana[1],
        json!({"type": "ack", "id": "m-1", "room": "general", "seq": 1, "ts": to_ben[0]["ts"]})
    );
    // A resend of the same id: acknowledged again, delivered to nobody.
    h.say(&ana, "general", "hi", Some("m-1")).await;
    assert!(ben.received().is_empty());
    assert_eq!(ana.types(), ["ack"]);
}

#[tokio::test]
async fn messages_committed_together_reach_each_member_as_one_item_then_the_acks() {
    let mut h = Harness::new().await;
    let (mut ana, mut ben) = h.hello_and_article_client_in("general").await;
    for (text, id) in [("one", "m-1"), ("two", "m-2")] {
        let message = json!({"type": "room_message", "room": "general", "content": text, "id": id});
        h.send(&ana, message);
    }
    h.settle().await;
    let Some(Outbound::Batch { frames, skip: 0 }) = ben.frames.try_recv() else {
        panic!("one queue item for both messages");
    };
    let contents: Vec<Value> = frames
        .iter()
        .map(|text| serde_json::from_str::<Value>(text.as_str()).unwrap()["content"].clone())
        .collect();
    assert_eq!(contents, ["one", "two"]);
    assert!(ben.received().is_empty());
    assert_eq!(ana.types(), ["room_message", "room_message", "ack", "ack"]);
}

//! Room and direct-message semantics over real WebSockets.

mod common;

use std::time::Duration;

use common::{PATIENCE, spawn_app};
use serde_json::json;

const QUIET: Duration = Duration::from_millis(300);

#[tokio::test]
async fn an_article_client_gets_exactly_the_articles_reply() {
    let app = spawn_app().await;
    let mut client = app.connect().await;
    client
        .send(json!({"type": "join_room", "room": "general"}))
        .await;
    assert_eq!(
        client.recv().await,
        json!({"type": "joined", "room": "general"})
    );
    client.say("general", "Hello everyone!").await;
    let echo = client.recv().await;
    assert_eq!(echo["type"], "room_message");
    assert_eq!(echo["room"], "general");
    assert_eq!(echo["content"], "Hello everyone!");
    assert!(
        uuid::Uuid::parse_str(echo["from"].as_str().unwrap()).is_ok(),
        "{echo}"
    );
}

#[tokio::test]
async fn a_joiner_is_announced_to_the_others_but_not_to_itself() {
    let app = spawn_app().await;
    let mut ana = app.connect_with_hello().await;
    let mut ben = app.connect_with_hello().await;
    ana.join("general").await;
    let joined = ben.join("general").await;
    let mut members = vec![member(&ana), member(&ben)];
    members.sort_by_key(|m| m["user"].as_str().unwrap().to_owned());
    // Ana came first: the room is hers, and `joined` says so.
    let staff = json!([{"user": ana.id(), "role": "owner"}]);
    assert_eq!(
        joined,
        json!({
            "type": "joined", "room": "general", "members": members,
            "settings": {"staff": staff},
        })
    );
    assert_eq!(
        ana.recv().await,
        json!({"type": "user_joined", "room": "general", "user": ben.id(), "name": guest_name(ben.id())})
    );
    ben.expect_silence(QUIET).await;
}

#[tokio::test]
async fn joining_twice_changes_nothing_and_announces_nothing() {
    let app = spawn_app().await;
    let (mut ana, mut ben) = app.two_members_of("general").await;
    let again = ben.join("general").await;
    assert_eq!(again["members"].as_array().unwrap().len(), 2, "{again}");
    ana.expect_silence(QUIET).await;
    // Still a single membership: one leave empties the room of ben.
    ben.send(json!({"type": "leave_room", "room": "general"}))
        .await;
    assert_eq!(
        ana.recv().await,
        json!({"type": "user_left", "room": "general", "user": ben.id()})
    );
    ben.send(json!({"type": "leave_room", "room": "general"}))
        .await;
    assert_eq!(ben.recv().await["code"], "not_a_member");
}

#[tokio::test]
async fn leaving_is_announced_to_the_rest_and_an_empty_room_is_removed() {
    let app = spawn_app().await;
    let (mut ana, mut ben) = app.two_members_of("general").await;
    ben.send(json!({"type": "leave_room", "room": "general"}))
        .await;
    assert_eq!(
        ana.recv().await,
        json!({"type": "user_left", "room": "general", "user": ben.id()})
    );
    ben.expect_silence(QUIET).await;
    ana.send(json!({"type": "leave_room", "room": "general"}))
        .await;
    // The room is gone: a newcomer finds it empty but for themselves.
    let mut cy = app.connect_with_hello().await;
    let joined = cy.join("general").await;
    assert_eq!(joined["members"], json!([member(&cy)]));
}

#[tokio::test]
async fn leaving_a_room_you_are_not_in_is_an_error() {
    let app = spawn_app().await;
    let mut ana = app.connect().await;
    ana.send(json!({"type": "leave_room", "room": "general"}))
        .await;
    assert_eq!(
        ana.recv().await,
        json!({"type": "error", "message": "you are not in room 'general'", "code": "not_a_member", "room": "general"})
    );
}

#[tokio::test]
async fn room_messages_reach_every_member_including_the_sender_and_nobody_else() {
    let app = spawn_app().await;
    let mut ana = app.connect_with_hello().await;
    let mut ben = app.connect_with_hello().await;
    let mut outsider = app.connect_with_hello().await;
    ana.join("general").await;
    ben.join("general").await;
    ana.recv().await;
    outsider.join("elsewhere").await;
    ana.say("general", "hi all").await;
    let echo = ana.recv().await;
    let expected = json!({"type": "room_message", "room": "general", "from": ana.id(),
        "content": "hi all", "name": guest_name(ana.id()), "seq": 1, "ts": echo["ts"]});
    assert!(echo["ts"].as_i64().unwrap() > 1_700_000_000_000, "{echo}");
    assert_eq!(echo, expected);
    assert_eq!(ben.recv().await, expected);
    outsider.expect_silence(QUIET).await;
}

#[tokio::test]
async fn posting_to_a_room_you_are_not_in_is_refused_and_delivers_nothing() {
    let app = spawn_app().await;
    let mut member = app.connect().await;
    let mut intruder = app.connect().await;
    member.join("general").await;
    intruder.say("general", "spam").await;
    let error = intruder.recv().await;
    assert_eq!(error["type"], "error");
    assert_eq!(error["code"], "not_a_member");
    assert_eq!(error["message"], "join room 'general' before posting to it");
    member.expect_silence(QUIET).await;
}

#[tokio::test]
async fn a_direct_message_reaches_its_target_only() {
    let app = spawn_app().await;
    let mut ana = app.connect_with_hello().await;
    let mut ben = app.connect_with_hello().await;
    let mut cy = app.connect_with_hello().await;
    for client in [&mut ana, &mut ben, &mut cy] {
        client.join("general").await;
    }
    ana.recv().await; // ben joined
    ana.recv().await; // cy joined
    ben.recv().await; // cy joined
    ana.send(json!({"type": "direct_message", "to": ben.id(), "content": "psst"}))
        .await;
    let received = ben.recv().await;
    assert_eq!(
        received,
        json!({"type": "direct_message", "from": ana.id(), "content": "psst", "to": ben.id(),
               "name": guest_name(ana.id()), "seq": 1, "ts": received["ts"]})
    );
    ana.expect_silence(QUIET).await;
    cy.expect_silence(QUIET).await;
}

#[tokio::test]
async fn a_direct_message_to_an_unknown_user_is_an_error() {
    let app = spawn_app().await;
    let mut ana = app.connect().await;
    let nobody = "67e55044-10b1-426f-9247-bb680e5fe0c8";
    ana.send(json!({"type": "direct_message", "to": nobody, "content": "anyone?"}))
        .await;
    assert_eq!(
        ana.recv().await,
        json!({"type": "error", "message": format!("no connected user has id {nobody}"), "code": "unknown_user"})
    );
}

#[tokio::test]
async fn a_closed_connection_is_announced_once_in_every_room() {
    let app = spawn_app().await;
    let mut ana = app.connect_with_hello().await;
    let mut ben = app.connect_with_hello().await;
    for room in ["one", "two"] {
        ana.join(room).await;
        ben.join(room).await;
        ana.recv().await;
    }
    let ben_id = ben.id().to_owned();
    ben.close().await;
    let mut left = vec![ana.recv().await, ana.recv().await];
    left.sort_by_key(|event| event["room"].as_str().unwrap().to_owned());
    assert_eq!(
        left,
        [
            json!({"type": "user_left", "room": "one", "user": ben_id}),
            json!({"type": "user_left", "room": "two", "user": ben_id}),
        ]
    );
    ana.expect_silence(QUIET).await;
}

#[tokio::test]
async fn a_dropped_tcp_connection_is_announced_once() {
    let app = spawn_app().await;
    let (mut ana, ben) = app.two_members_of("general").await;
    let ben_id = ben.id().to_owned();
    drop(ben.into_inner()); // no close frame: the TCP stream just ends
    assert_eq!(
        ana.recv().await,
        json!({"type": "user_left", "room": "general", "user": ben_id})
    );
    ana.expect_silence(QUIET).await;
}

#[tokio::test]
async fn a_thousand_messages_from_one_sender_arrive_in_order() {
    let app = spawn_app().await;
    let mut sender = app.connect().await;
    let mut reader = app.connect().await;
    sender.join("general").await;
    reader.join("general").await;
    sender.recv().await; // user_joined
    let sending = tokio::spawn(async move {
        for n in 0..1000 {
            sender.say("general", &format!("message {n}")).await;
        }
        sender
    });
    for n in 0..1000 {
        let message = reader.recv().await;
        assert_eq!(message["content"], format!("message {n}"), "{message}");
    }
    tokio::time::timeout(PATIENCE, sending)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn concurrent_senders_are_seen_in_one_order_by_every_member() {
    let app = spawn_app().await;
    let mut clients = Vec::new();
    for _ in 0..3 {
        let mut client = app.connect().await;
        client.join("general").await;
        clients.push(client);
    }
    // Drain the join announcements: client i saw the joins of those after it.
    for (i, client) in clients.iter_mut().enumerate() {
        for _ in i + 1..3 {
            client.recv().await;
        }
    }
    let mut readers = Vec::new();
    for (i, mut client) in clients.into_iter().enumerate() {
        readers.push(tokio::spawn(async move {
            for n in 0..100 {
                client.say("general", &format!("{i}:{n}")).await;
            }
            let mut seen = Vec::new();
            for _ in 0..300 {
                seen.push(client.recv().await["content"].as_str().unwrap().to_owned());
            }
            seen
        }));
    }
    let mut orders = Vec::new();
    for reader in readers {
        orders.push(reader.await.unwrap());
    }
    assert_eq!(orders[0], orders[1]);
    assert_eq!(orders[1], orders[2]);
}

#[tokio::test]
async fn a_client_that_closes_right_after_posting_gets_the_close_reply() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::{Message, protocol::CloseFrame};

    let app = spawn_app().await;
    let mut client = app.connect().await;
    client.join("general").await;
    client.say("general", "last words").await;
    let mut socket = client.into_inner();
    socket
        .send(Message::Close(Some(CloseFrame {
            code: 1000u16.into(),
            reason: "bye".into(),
        })))
        .await
        .unwrap();
    let mut close_reply = None;
    while let Ok(Some(Ok(frame))) = tokio::time::timeout(PATIENCE, socket.next()).await {
        if let Message::Close(frame) = frame {
            close_reply = frame;
            break;
        }
    }
    assert_eq!(
        close_reply.map(|f| u16::from(f.code)),
        Some(1000),
        "the server answers the close"
    );
}

/// How `joined` lists a member who has not chosen a name.
fn member(client: &common::Client) -> serde_json::Value {
    json!({"user": client.id(), "name": guest_name(client.id())})
}

fn guest_name(id: &str) -> String {
    format!("guest-{}", &id[..4])
}

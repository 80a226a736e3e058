//! The wire format as a client sees it: the article's exact JSON and the
//! additions (in this file), what happens to messages after they are posted
//! and search (`changes.rs`), and what is refused and why (`values.rs`).

use super::*;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::json;

mod changes;
mod values;

const ALICE: &str = "67e55044-10b1-426f-9247-bb680e5fe0c8";
const BOB: &str = "0b9b9c2e-2f6a-4a3e-9d8e-5a1f0c3d2b1a";

fn room(name: &str) -> RoomName {
    RoomName::parse(name).unwrap()
}

fn content(text: &str) -> MessageContent {
    MessageContent::parse(text).unwrap()
}

fn user(id: &str) -> UserId {
    UserId::parse(id).unwrap()
}

fn client(json: serde_json::Value) -> ClientMessage {
    serde_json::from_value(json).unwrap()
}

fn client_error(text: &str) -> String {
    serde_json::from_str::<ClientMessage>(text)
        .unwrap_err()
        .to_string()
}

/// Asserts both directions: the value encodes to exactly `expected`, and
/// `expected` decodes back to the value.
fn assert_wire<T>(value: T, expected: serde_json::Value)
where
    T: Serialize + for<'de> Deserialize<'de> + PartialEq + fmt::Debug,
{
    assert_eq!(serde_json::to_value(&value).unwrap(), expected);
    assert_eq!(serde_json::from_value::<T>(expected).unwrap(), value);
}

#[test]
fn client_messages_have_the_articles_exact_json() {
    assert_wire(
        ClientMessage::JoinRoom {
            room: room("general"),
            after: None,
        },
        json!({"type": "join_room", "room": "general"}),
    );
    assert_wire(
        ClientMessage::LeaveRoom {
            room: room("general"),
        },
        json!({"type": "leave_room", "room": "general"}),
    );
    assert_wire(
        ClientMessage::RoomMessage {
            room: room("general"),
            content: content("Hello everyone!"),
            id: None,
            mentions: Vec::new(),
            reply_to: None,
        },
        json!({"type": "room_message", "room": "general", "content": "Hello everyone!"}),
    );
    assert_wire(
        ClientMessage::DirectMessage {
            to: user(BOB),
            content: content("psst"),
            id: None,
            reply_to: None,
        },
        json!({"type": "direct_message", "to": BOB, "content": "psst"}),
    );
}

#[test]
fn hello_is_an_addition_with_a_default_protocol() {
    assert_wire(
        ClientMessage::Hello {
            protocol: 2,
            token: Some("t.k".into()),
        },
        json!({"type": "hello", "protocol": 2, "token": "t.k"}),
    );
    assert_eq!(
        client(json!({"type": "hello"})),
        ClientMessage::Hello {
            protocol: PROTOCOL_VERSION,
            token: None,
        }
    );
}

#[test]
fn client_additions_are_optional_fields_and_new_types() {
    assert_wire(
        ClientMessage::JoinRoom {
            room: room("general"),
            after: Some(41),
        },
        json!({"type": "join_room", "room": "general", "after": 41}),
    );
    assert_wire(
        ClientMessage::RoomMessage {
            room: room("general"),
            content: content("hi"),
            id: Some(ClientId::parse("m-1").unwrap()),
            mentions: Vec::new(),
            reply_to: None,
        },
        json!({"type": "room_message", "room": "general", "content": "hi", "id": "m-1"}),
    );
    assert_eq!(
        client(json!({"type": "set_name", "name": "  Ana  "})),
        ClientMessage::SetName {
            name: DisplayName::parse("Ana").unwrap()
        }
    );
    assert_wire(
        ClientMessage::History {
            room: room("general"),
            before: Some(100),
            after: None,
            limit: Some(20),
        },
        json!({"type": "history", "room": "general", "before": 100, "limit": 20}),
    );
    assert_wire(
        ClientMessage::DirectHistory {
            with: user(BOB),
            before: None,
            after: Some(3),
            limit: None,
        },
        json!({"type": "direct_history", "with": BOB, "after": 3}),
    );
    assert_wire(
        ClientMessage::MarkRead {
            room: room("team"),
            seq: 42,
        },
        json!({"type": "mark_read", "room": "team", "seq": 42}),
    );
}

#[test]
fn memberships_list_the_users_rooms_with_their_unread_counts() {
    use crate::protocol::{Membership, Role};
    assert_wire(
        ServerMessage::Memberships {
            rooms: vec![
                Membership {
                    room: room("team"),
                    role: Role::Member,
                    unread: 3,
                },
                Membership {
                    room: room("town"),
                    role: Role::Owner,
                    unread: 0,
                },
            ],
        },
        json!({"type": "memberships", "rooms": [
            {"room": "team", "role": "member", "unread": 3},
            {"room": "town", "role": "owner", "unread": 0},
        ]}),
    );
    // A role a newer server has is left out, not an error.
    let newer = json!({"type": "memberships", "rooms": [
        {"room": "team", "role": "guest_of_honour", "unread": 1},
        {"room": "town", "role": "moderator", "unread": 2},
    ]});
    let decoded: ServerMessage = serde_json::from_value(newer).unwrap();
    assert_eq!(
        decoded,
        ServerMessage::Memberships {
            rooms: vec![Membership {
                room: room("town"),
                role: Role::Moderator,
                unread: 2,
            }],
        }
    );
}

#[test]
fn server_messages_have_the_articles_exact_json() {
    assert_wire(
        ServerMessage::Joined {
            room: room("general"),
            settings: None,
            members: None,
        },
        json!({"type": "joined", "room": "general"}),
    );
    assert_wire(
        ServerMessage::UserJoined {
            room: room("general"),
            user: user(ALICE),
            name: None,
        },
        json!({"type": "user_joined", "room": "general", "user": ALICE}),
    );
    assert_wire(
        ServerMessage::UserLeft {
            room: room("general"),
            user: user(ALICE),
        },
        json!({"type": "user_left", "room": "general", "user": ALICE}),
    );
    assert_wire(
        ServerMessage::RoomMessage {
            room: room("general"),
            from: user(ALICE),
            content: content("hi"),
            name: None,
            seq: None,
            ts: None,
            id: None,
            mentions: Vec::new(),
            reply_to: None,
            quote: None,
        },
        json!({"type": "room_message", "room": "general", "from": ALICE, "content": "hi"}),
    );
    assert_wire(
        ServerMessage::DirectMessage {
            from: user(ALICE),
            content: content("psst"),
            to: None,
            name: None,
            seq: None,
            ts: None,
            id: None,
            reply_to: None,
            quote: None,
        },
        json!({"type": "direct_message", "from": ALICE, "content": "psst"}),
    );
    assert_wire(
        ServerMessage::Error {
            message: "server shutting down".into(),
            code: None,
            room: None,
            id: None,
            retry_after_ms: None,
            muted: None,
        },
        json!({"type": "error", "message": "server shutting down"}),
    );
    assert_wire(
        ServerMessage::Error {
            message: "a moderator muted you in 'town' for 10 minutes".into(),
            code: Some(ErrorCode::Moderated),
            room: Some(room("town")),
            id: None,
            retry_after_ms: Some(600_000),
            muted: Some(true),
        },
        json!({"type": "error", "message": "a moderator muted you in 'town' for 10 minutes",
               "code": "moderated", "room": "town", "retry_after_ms": 600_000, "muted": true}),
    );
    assert_wire(
        ServerMessage::mute(room("town"), false, None, None, "lifted"),
        json!({"type": "error", "message": "lifted", "code": "moderated", "room": "town", "muted": false}),
    );
}

#[test]
fn server_additions_are_optional_fields_and_new_types() {
    let ana = DisplayName::parse("Ana").unwrap();
    assert_wire(
        ServerMessage::Joined {
            room: room("general"),
            settings: None,
            members: Some(vec![Member {
                user: user(ALICE),
                name: ana.clone(),
            }]),
        },
        json!({"type": "joined", "room": "general", "members": [{"user": ALICE, "name": "Ana"}]}),
    );
    assert_wire(
        ServerMessage::RoomMessage {
            room: room("general"),
            from: user(ALICE),
            content: content("hi"),
            name: Some(ana.clone()),
            seq: Some(7),
            ts: Some(1_700_000_000_000),
            id: Some(ClientId::parse("m-1").unwrap()),
            mentions: Vec::new(),
            reply_to: None,
            quote: None,
        },
        json!({"type": "room_message", "room": "general", "from": ALICE, "content": "hi",
               "name": "Ana", "seq": 7, "ts": 1_700_000_000_000_i64, "id": "m-1"}),
    );
    assert_wire(
        ServerMessage::Ack {
            id: ClientId::parse("m-1").unwrap(),
            room: Some(room("general")),
            to: None,
            seq: 7,
            ts: 5,
        },
        json!({"type": "ack", "id": "m-1", "room": "general", "seq": 7, "ts": 5}),
    );
    assert_wire(
        ServerMessage::History {
            room: None,
            with: Some(user(BOB)),
            messages: vec![Posted {
                seq: 1,
                ts: 5,
                from: user(ALICE),
                name: ana.clone(),
                content: content("psst"),
                to: Some(user(BOB)),
                id: None,
                extras: Default::default(),
            }],
            changes: Vec::new(),
        },
        json!({"type": "history", "with": BOB, "messages": [
            {"seq": 1, "ts": 5, "from": ALICE, "name": "Ana", "content": "psst", "to": BOB}]}),
    );
    assert_wire(
        ServerMessage::UserRenamed {
            user: user(ALICE),
            name: ana.clone(),
        },
        json!({"type": "user_renamed", "user": ALICE, "name": "Ana"}),
    );
    assert_wire(
        ServerMessage::Typing {
            room: room("general"),
            user: user(ALICE),
            name: DisplayName::parse("Ana").unwrap(),
        },
        json!({"type": "typing", "room": "general", "user": ALICE, "name": "Ana"}),
    );
    assert_wire(
        ClientMessage::Typing {
            room: room("general"),
        },
        json!({"type": "typing", "room": "general"}),
    );
    assert_wire(ClientMessage::ListRooms, json!({"type": "list_rooms"}));
    assert_wire(
        ServerMessage::Rooms {
            rooms: vec![RoomSummary {
                room: room("general"),
                members: 3,
            }],
        },
        json!({"type": "rooms", "rooms": [{"room": "general", "members": 3}]}),
    );
    assert_wire(
        ServerMessage::room_error(ErrorCode::NotAMember, room("general"), "join first"),
        json!({"type": "error", "message": "join first", "code": "not_a_member", "room": "general"}),
    );
    assert_wire(
        ServerMessage::rate_limited(
            Some(ClientId::parse("m-7").unwrap()),
            Some(room("general")),
            1500,
            "slow down",
        ),
        json!({"type": "error", "message": "slow down", "code": "rate_limited",
               "room": "general", "id": "m-7", "retry_after_ms": 1500}),
    );
    assert_wire(
        ServerMessage::Welcome {
            user: user(ALICE),
            name: ana,
            token: "t.k".into(),
            protocol: 2,
            epoch: Some("e1".into()),
            username: None,
            admin: false,
        },
        json!({"type": "welcome", "user": ALICE, "name": "Ana", "token": "t.k", "protocol": 2, "epoch": "e1"}),
    );
    assert_wire(
        ServerMessage::Welcome {
            user: user(ALICE),
            name: DisplayName::parse("Ana").unwrap(),
            token: "t.k".into(),
            protocol: 2,
            epoch: None,
            username: Some("ana".into()),
            admin: true,
        },
        json!({"type": "welcome", "user": ALICE, "name": "Ana", "token": "t.k", "protocol": 2, "username": "ana", "admin": true}),
    );
}

//! The wire format as a client sees it: the article's exact JSON, the
//! additions, and what is refused and why.

use super::*;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::json;

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
}

#[test]
fn server_messages_have_the_articles_exact_json() {
    assert_wire(
        ServerMessage::Joined {
            room: room("general"),
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
        },
        json!({"type": "error", "message": "server shutting down"}),
    );
}

#[test]
fn server_additions_are_optional_fields_and_new_types() {
    let ana = DisplayName::parse("Ana").unwrap();
    assert_wire(
        ServerMessage::Joined {
            room: room("general"),
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
        },
        json!({"type": "welcome", "user": ALICE, "name": "Ana", "token": "t.k", "protocol": 2, "epoch": "e1"}),
    );
}

#[test]
fn changes_to_messages_have_exact_json_both_ways() {
    let emoji = |e: &str| Emoji::parse(e).unwrap();
    assert_wire(
        ClientMessage::RoomMessage {
            room: room("general"),
            content: content("@Ben yes"),
            id: Some(ClientId::parse("m-9").unwrap()),
            reply_to: Some(41),
            mentions: vec![user(BOB)],
        },
        json!({"type": "room_message", "room": "general", "content": "@Ben yes", "id": "m-9",
               "reply_to": 41, "mentions": [BOB]}),
    );
    assert_wire(
        ClientMessage::DirectMessage {
            to: user(BOB),
            content: content("sure"),
            id: None,
            reply_to: Some(3),
        },
        json!({"type": "direct_message", "to": BOB, "content": "sure", "reply_to": 3}),
    );
    assert_wire(
        ClientMessage::EditMessage {
            room: Some(room("general")),
            with: None,
            seq: 41,
            content: content("fixed"),
        },
        json!({"type": "edit_message", "room": "general", "seq": 41, "content": "fixed"}),
    );
    assert_wire(
        ClientMessage::DeleteMessage {
            room: None,
            with: Some(user(BOB)),
            seq: 2,
        },
        json!({"type": "delete_message", "with": BOB, "seq": 2}),
    );
    assert_wire(
        ClientMessage::React {
            room: Some(room("general")),
            with: None,
            seq: 41,
            emoji: emoji("👍"),
            on: None,
        },
        json!({"type": "react", "room": "general", "seq": 41, "emoji": "👍"}),
    );
    assert_wire(
        ClientMessage::React {
            room: Some(room("general")),
            with: None,
            seq: 41,
            emoji: emoji("🎉"),
            on: Some(false),
        },
        json!({"type": "react", "room": "general", "seq": 41, "emoji": "🎉", "on": false}),
    );
    // The server's side: a change as it happens, and in a history.
    let edit = PostedChange {
        seq: 42,
        ts: 1_700_000_000_500,
        from: user(ALICE),
        name: DisplayName::parse("Ana").unwrap(),
        target: 41,
        change: Change::Edit,
        content: Some(content("fixed")),
    };
    assert_wire(
        ServerMessage::MessageChanged {
            room: Some(room("general")),
            to: None,
            change: edit.clone(),
        },
        json!({"type": "message_changed", "room": "general", "seq": 42, "ts": 1_700_000_000_500i64,
               "from": ALICE, "name": "Ana", "target": 41, "change": "edit", "content": "fixed"}),
    );
    let reaction = PostedChange {
        seq: 43,
        change: Change::React {
            emoji: emoji("👍"),
            on: true,
        },
        content: None,
        ..edit.clone()
    };
    assert_wire(
        ServerMessage::MessageChanged {
            room: None,
            to: Some(user(BOB)),
            change: reaction.clone(),
        },
        json!({"type": "message_changed", "to": BOB, "seq": 43, "ts": 1_700_000_000_500i64,
               "from": ALICE, "name": "Ana", "target": 41, "change": "react", "emoji": "👍",
               "on": true}),
    );
    let deleted = PostedChange {
        seq: 44,
        change: Change::Delete,
        content: None,
        ..edit.clone()
    };
    let message = Posted {
        seq: 41,
        ts: 1_700_000_000_000,
        from: user(ALICE),
        name: DisplayName::parse("Ana").unwrap(),
        content: MessageContent::removed(),
        to: None,
        id: None,
        extras: Extras {
            reply_to: Some(40),
            deleted: true,
            edited: Some(1_700_000_000_500),
            reactions: vec![Reaction {
                emoji: emoji("👍"),
                users: vec![user(BOB)],
            }],
            rev: Some(44),
            ..Extras::default()
        },
    };
    assert_wire(
        ServerMessage::History {
            room: Some(room("general")),
            with: None,
            messages: vec![message],
            changes: vec![edit, reaction, deleted],
        },
        json!({"type": "history", "room": "general",
               "messages": [{"seq": 41, "ts": 1_700_000_000_000i64, "from": ALICE, "name": "Ana",
                             "content": "", "reply_to": 40, "edited": 1_700_000_000_500i64,
                             "deleted": true, "reactions": [{"emoji": "👍", "users": [BOB]}],
                             "rev": 44}],
               "changes": [
                   {"seq": 42, "ts": 1_700_000_000_500i64, "from": ALICE, "name": "Ana",
                    "target": 41, "change": "edit", "content": "fixed"},
                   {"seq": 43, "ts": 1_700_000_000_500i64, "from": ALICE, "name": "Ana",
                    "target": 41, "change": "react", "emoji": "👍", "on": true},
                   {"seq": 44, "ts": 1_700_000_000_500i64, "from": ALICE, "name": "Ana",
                    "target": 41, "change": "delete"}]}),
    );
}

#[test]
fn changes_are_refused_when_malformed_and_mentions_are_bounded() {
    for (text, why) in [
        (
            r#"{"type":"react","room":"general","seq":1,"emoji":"no spaces"}"#,
            "a reaction is one emoji",
        ),
        (
            r#"{"type":"react","room":"general","seq":1,"emoji":""}"#,
            "a reaction is one emoji",
        ),
        (
            r#"{"type":"edit_message","room":"general","seq":1,"content":"  "}"#,
            "must not be empty",
        ),
        (r#"{"type":"delete_message","room":"general"}"#, "seq"),
    ] {
        let error = client_error(text);
        assert!(error.contains(why), "{text}: {error}");
    }
    let many: Vec<String> = (0..=MAX_MENTIONS)
        .map(|_| UserId::new_random().to_string())
        .collect();
    let text = json!({"type": "room_message", "room": "r", "content": "hi", "mentions": many});
    let error = client_error(&text.to_string());
    assert!(error.contains("at most 20"), "{error}");
    // The same user twice is one mention.
    let twice = client(json!({"type": "room_message", "room": "r", "content": "hi",
                              "mentions": [BOB, BOB]}));
    let ClientMessage::RoomMessage { mentions, .. } = twice else {
        panic!("{twice:?}");
    };
    assert_eq!(mentions, [user(BOB)]);
    // What a client decodes: a change of a kind it does not know is an
    // error that names the field, a known one reads.
    let unknown = json!({"type": "message_changed", "room": "r", "seq": 2, "ts": 1,
                         "from": ALICE, "name": "Ana", "target": 1, "change": "pin"});
    let error = ServerMessage::decode(&unknown.to_string()).unwrap_err();
    assert!(error.to_string().contains("change"), "{error}");
}

#[test]
fn a_change_applies_once_and_reactions_are_set_not_toggled() {
    let (ana, ben) = (user(ALICE), user(BOB));
    let thumbs = Change::React {
        emoji: Emoji::parse("👍").unwrap(),
        on: true,
    };
    let mut text = content("helo");
    let mut extras = Extras::default();
    assert!(extras.apply(&mut text, &thumbs, None, (ben, 2, 10)));
    assert!(
        !extras.apply(&mut text, &thumbs, None, (ben, 2, 10)),
        "seen"
    );
    assert!(extras.apply(&mut text, &thumbs, None, (ana, 3, 11)));
    assert!(
        extras.apply(&mut text, &thumbs, None, (ben, 4, 12)),
        "set again"
    );
    assert_eq!(extras.reactions[0].users, [ben, ana]);
    assert!(extras.apply(
        &mut text,
        &Change::Edit,
        Some(&content("hello")),
        (ana, 5, 13)
    ));
    assert_eq!((text.as_str(), extras.edited), ("hello", Some(13)));
    let off = Change::React {
        emoji: Emoji::parse("👍").unwrap(),
        on: false,
    };
    assert!(extras.apply(&mut text, &off, None, (ben, 6, 14)));
    assert_eq!(extras.reactions[0].users, [ana]);
    assert!(extras.apply(&mut text, &off, None, (ana, 7, 15)));
    assert!(extras.reactions.is_empty(), "an emoji nobody has goes");
    assert!(extras.apply(&mut text, &Change::Delete, None, (ana, 8, 16)));
    assert!(text.is_removed() && extras.deleted);
    // An edit that arrives after the deletion does not bring words back.
    assert!(extras.apply(
        &mut text,
        &Change::Edit,
        Some(&content("back")),
        (ana, 9, 17)
    ));
    assert!(text.is_removed());
    assert_eq!(extras.rev, Some(9));
}

#[test]
fn a_search_and_its_results_have_exact_json() {
    assert_wire(
        ClientMessage::Search {
            query: "lunch tomorrow".into(),
            room: Some(room("general")),
            with: None,
            from: Some(user(ALICE)),
            before: Some(1_700_000_000_000),
            limit: Some(20),
        },
        json!({"type": "search", "query": "lunch tomorrow", "room": "general", "from": ALICE,
               "before": 1_700_000_000_000i64, "limit": 20}),
    );
    assert_wire(
        ClientMessage::Search {
            query: "x".into(),
            room: None,
            with: None,
            from: None,
            before: None,
            limit: None,
        },
        json!({"type": "search", "query": "x"}),
    );
    let posted = |seq: u64, text: &str| Posted {
        seq,
        ts: 1_700_000_000_000,
        from: user(ALICE),
        name: DisplayName::parse("Ana").unwrap(),
        content: content(text),
        to: None,
        id: None,
        extras: Extras::default(),
    };
    assert_wire(
        ServerMessage::SearchResults {
            query: "lunch".into(),
            results: vec![
                Found {
                    room: Some(room("general")),
                    with: None,
                    message: posted(7, "lunch?"),
                    preview: "lunch?".into(),
                },
                Found {
                    room: None,
                    with: Some(user(BOB)),
                    message: Posted {
                        to: Some(user(BOB)),
                        ..posted(2, "**lunch** at 1")
                    },
                    preview: "lunch at 1".into(),
                },
            ],
            more: true,
        },
        json!({"type": "search_results", "query": "lunch", "more": true, "results": [
            {"room": "general", "seq": 7, "ts": 1_700_000_000_000i64, "from": ALICE, "name": "Ana",
             "content": "lunch?", "preview": "lunch?"},
            {"with": BOB, "seq": 2, "ts": 1_700_000_000_000i64, "from": ALICE, "name": "Ana",
             "content": "**lunch** at 1", "to": BOB, "preview": "lunch at 1"}]}),
    );
    for query in [
        json!(""),
        json!("   "),
        json!("x".repeat(MAX_QUERY_CHARS + 1)),
    ] {
        let text = json!({"type": "search", "query": query}).to_string();
        assert!(client_error(&text).contains("a search query is"), "{text}");
    }
}

#[test]
fn every_error_code_has_a_snake_case_name() {
    let names: Vec<_> = ErrorCode::ALL
        .iter()
        .map(|code| serde_json::to_value(code).unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "invalid_message",
            "binary_frame",
            "not_a_member",
            "unknown_user",
            "shutting_down",
            "too_many_rooms",
            "invalid_token",
            "storage_failed",
            "busy",
            "rate_limited",
            "no_such_message",
            "not_allowed",
        ]
    );
    for (code, name) in ErrorCode::ALL.into_iter().zip(&names) {
        assert_eq!(code.name(), name, "the decoder reads what serde writes");
        assert_eq!(ErrorCode::from_name(code.name()), Some(code));
    }
    assert_eq!(ErrorCode::from_name("newer_code"), None);
}

#[test]
fn room_names_follow_the_documented_alphabet() {
    for good in ["general", "a", "Rust-lang_2.0", "9lives", &"x".repeat(64)] {
        assert_eq!(RoomName::parse(good).unwrap().as_str(), good);
    }
    assert_eq!(RoomName::parse(""), Err(InvalidInput::RoomNameLength(0)));
    assert_eq!(
        RoomName::parse("x".repeat(65)),
        Err(InvalidInput::RoomNameLength(65))
    );
    for bad in [
        "has space",
        "..",
        ".hidden",
        "-dash",
        "a/b",
        "gen\u{0}",
        "général",
        "tab\t",
    ] {
        assert_eq!(
            RoomName::parse(bad),
            Err(InvalidInput::RoomNameCharacters),
            "{bad:?}"
        );
    }
}

#[test]
fn content_must_have_visible_text_within_the_limit() {
    assert_eq!(
        MessageContent::parse("  indented\n").unwrap().as_str(),
        "  indented\n"
    );
    assert_eq!(MessageContent::parse(""), Err(InvalidInput::EmptyContent));
    assert_eq!(
        MessageContent::parse(" \n\t "),
        Err(InvalidInput::EmptyContent)
    );
    // 4,000 characters pass even when each is several bytes.
    assert!(MessageContent::parse("é".repeat(4_000)).is_ok());
    assert_eq!(
        MessageContent::parse("é".repeat(4_001)),
        Err(InvalidInput::ContentTooLong(4_001))
    );
}

#[test]
fn invalid_client_input_is_refused_with_a_message_that_says_what_to_fix() {
    let cases = [
        (
            r#"{"type":"join_room","room":"a b"}"#,
            "room name may contain only ASCII letters",
        ),
        (
            r#"{"type":"join_room","room":""}"#,
            "room name must be 1 to 64 characters long, got 0",
        ),
        (r#"{"type":"join_room"}"#, "missing field `room`"),
        (
            r#"{"type":"room_message","room":"general","content":"   "}"#,
            "message content must not be empty",
        ),
        (
            r#"{"type":"direct_message","to":"bob","content":"hi"}"#,
            "user id must be a UUID",
        ),
        (
            r#"{"type":"dance","room":"general"}"#,
            "unknown variant `dance`",
        ),
        (r#"{"room":"general"}"#, "missing field `type`"),
        (
            r#"{"type":"join_room","room":42}"#,
            "invalid type: integer `42`, expected a string",
        ),
        ("not json", "expected ident"),
    ];
    for (text, expected) in cases {
        let error = client_error(text);
        assert!(error.contains(expected), "{text}: got {error:?}");
    }
}

#[test]
fn a_tolerant_client_skips_unknown_server_types_but_not_broken_known_ones() {
    assert_eq!(
        ServerMessage::decode(r#"{"type":"joined","room":"general"}"#).unwrap(),
        Some(ServerMessage::Joined {
            room: room("general"),
            members: None
        })
    );
    assert_eq!(
        ServerMessage::decode(r#"{"type":"confetti","colour":"gold"}"#).unwrap(),
        None
    );
    // A newer type may use one of our field names for something else.
    assert_eq!(
        ServerMessage::decode(r#"{"type":"room_info","members":12,"room":{}}"#).unwrap(),
        None
    );
    assert!(ServerMessage::decode(r#"{"type":"joined"}"#).is_err());
    assert!(ServerMessage::decode("[1,2]").is_err());
    let missing = format!(r#"{{"type":"welcome","user":"{ALICE}","name":"A","token":"t"}}"#);
    let error = ServerMessage::decode(&missing).unwrap_err().to_string();
    assert!(error.contains("missing field `protocol`"), "{error}");
    let unknown = serde_json::from_str::<ServerMessage>(r#"{"type":"confetti"}"#);
    assert!(
        unknown
            .unwrap_err()
            .to_string()
            .contains("unknown variant `confetti`")
    );
}

#[test]
fn decoding_names_a_broken_field_and_tolerates_what_a_newer_server_adds() {
    let decode = |json: serde_json::Value| ServerMessage::decode(&json.to_string());
    // null is absent; an unknown field or error code is ignored.
    assert_eq!(
        decode(
            json!({"type": "error", "message": "m", "code": "newer_code", "room": null, "x": 1})
        ),
        Ok(Some(ServerMessage::Error {
            message: "m".into(),
            code: None,
            room: None,
            id: None,
            retry_after_ms: None,
        }))
    );
    let history = json!({"type": "history", "room": "general", "messages": [
        {"seq": 7, "ts": 1700000000000_i64, "from": ALICE, "name": "Alice", "content": "hi"}
    ]});
    let Ok(Some(ServerMessage::History { messages, .. })) = decode(history) else {
        panic!("a history");
    };
    assert_eq!((messages[0].seq, messages[0].to), (7, None));
    for (json, error) in [
        (
            json!({"type": "joined", "room": "no spaces"}),
            "invalid field `room`: room name",
        ),
        (
            json!({"type": "joined", "room": 5}),
            "invalid field `room`: expected a string",
        ),
        (
            json!({"type": "ack", "id": "a", "seq": -1, "ts": 0}),
            "invalid field `seq`",
        ),
        (
            json!({"type": "rooms", "rooms": {}}),
            "invalid field `rooms`: expected an array",
        ),
        (
            json!({"type": "rooms", "rooms": [{"room": "r"}]}),
            "missing field `members`",
        ),
        (json!({"type": 3}), "invalid field `type`"),
        (json!([1, 2]), "missing field `type`"),
    ] {
        let refused = decode(json.clone()).unwrap_err().to_string();
        assert!(refused.starts_with(error), "{json}: {refused}");
    }
}

#[test]
fn client_message_ids_are_short_and_url_safe() {
    assert!(ClientId::parse("67e55044-10b1-426f-9247-bb680e5fe0c8").is_ok());
    assert!(ClientId::parse("a_B-9").is_ok());
    for bad in ["", "has space", "ünï", &"x".repeat(65)] {
        assert_eq!(ClientId::parse(bad), Err(InvalidInput::ClientId), "{bad:?}");
    }
}

#[test]
fn new_content_must_show_something_and_hide_no_controls_or_reordering() {
    for bad in [
        "\u{200B}\u{200C}\u{2060}",
        "\u{FEFF} \u{200B}",
        "ding\u{7}",
        "nul\u{0}",
        "\u{1b}[31mred",
        "see https://\u{202E}moc.elppa",
        "\u{2067}isolated",
        "\u{FFF9}\u{FFFA}\u{FFFB}",
    ] {
        assert_eq!(
            MessageContent::parse_new(bad),
            Err(InvalidInput::ContentCharacters),
            "{bad:?}"
        );
        assert!(
            MessageContent::parse(bad).is_ok(),
            "what is stored stays readable: {bad:?}"
        );
    }
    for good in [
        "hi",
        "two\nlines\tand a tab\r\n",
        "עברית \u{200F}!",
        "👩‍💻 at work",
    ] {
        assert!(MessageContent::parse_new(good).is_ok(), "{good:?}");
    }
}

#[test]
fn new_names_hide_nothing_and_guest_names_are_recognised() {
    for bad in [
        "An\u{200B}a",
        "Ana\u{FE0F}",
        "An\u{200D}a",
        "guest-67e5\u{FE0F}",
        "Ana\u{2028}Lima",
        "Ana\u{00A0}Lima",
        "\u{FFF9}\u{FFFA}\u{FFFB}",
        "\u{200D}Ana",
    ] {
        assert!(DisplayName::parse_new(bad).is_err(), "{bad:?}");
    }
    for good in [
        "Ana Lima",
        "👩‍💻 Dev",
        "❤️ Ana",
        "❤️‍🔥 Ana",
        "Zoë",
        "🏴\u{E0067}\u{E0062}\u{E0065}\u{E006E}\u{E0067}\u{E007F} Ana",
    ] {
        assert!(DisplayName::parse_new(good).is_ok(), "{good:?}");
    }
    let name = |text: &str| DisplayName::parse(text).unwrap();
    assert!(name("guest-1a2b").is_guest_name());
    assert!(name("GUEST-ABCD").is_guest_name());
    assert!(!name("guest-1a2").is_guest_name());
    assert!(!name("guest-1a2bc").is_guest_name());
    assert!(!name("guest-zzzz").is_guest_name());
    assert!(user(ALICE).guest_name().is_guest_name());
}

#[test]
fn guest_names_come_from_the_id() {
    assert_eq!(user(ALICE).guest_name().as_str(), "guest-67e5");
    assert_eq!(user(ALICE).to_string(), ALICE);
}

#[test]
fn display_names_are_trimmed_and_free_of_control_characters() {
    assert_eq!(
        DisplayName::parse("  Ana Lima ").unwrap().as_str(),
        "Ana Lima"
    );
    assert!(DisplayName::parse("é".repeat(32)).is_ok());
    assert_eq!(DisplayName::parse("   "), Err(InvalidInput::NameLength(0)));
    assert_eq!(
        DisplayName::parse("x".repeat(33)),
        Err(InvalidInput::NameLength(33))
    );
    // Emoji sequences keep their joiners and selectors.
    assert!(DisplayName::parse("Ana \u{1F469}\u{200D}\u{1F4BB}\u{FE0F}").is_ok());
    for bad in [
        "a\nb",
        "bell\u{7}",
        "evil\u{202E}txt",
        "mark\u{061C}",
        "\u{2060}",
        "\u{3164}",
        "\u{00AD}\u{00AD}",
        "\u{E0041}",
        "\u{180E}",
        "\u{200B} \u{200B}",
    ] {
        assert_eq!(
            DisplayName::parse(bad),
            Err(InvalidInput::NameCharacters),
            "{bad:?}"
        );
    }
}

#[test]
fn a_client_messages_kind_is_its_type_on_the_wire() {
    let ana = "67e55044-10b1-426f-9247-bb680e5fe0c8";
    for wire in [
        json!({"type": "join_room", "room": "general"}),
        json!({"type": "leave_room", "room": "general"}),
        json!({"type": "room_message", "room": "general", "content": "hi"}),
        json!({"type": "direct_message", "to": ana, "content": "hi"}),
        json!({"type": "hello"}),
        json!({"type": "set_name", "name": "Ana"}),
        json!({"type": "list_rooms"}),
        json!({"type": "typing", "room": "general"}),
        json!({"type": "history", "room": "general"}),
        json!({"type": "direct_history", "with": ana}),
    ] {
        assert_eq!(client(wire.clone()).kind(), wire["type"], "{wire}");
    }
}

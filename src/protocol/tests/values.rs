//! What is refused and why: names, text, ids, codes, and decoding that
//! tolerates what a newer server adds but not a broken known message.

use super::*;

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
            "moderated",
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
            settings: None,
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
            muted: None,
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

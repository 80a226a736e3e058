//! Edits, deletions, reactions, replies' quotes and search on the wire.

use super::*;

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
fn a_reply_carries_a_quote_of_what_it_answers_with_exact_json() {
    let ana = DisplayName::parse("Ana").unwrap();
    let quote = Quoted::of(
        user(BOB),
        ana.clone(),
        &content("see **this**\nand more"),
        false,
    );
    assert_eq!(quote.text, "see this", "the first line, as plain text");
    assert_wire(
        ServerMessage::RoomMessage {
            room: room("general"),
            from: user(ALICE),
            content: content("yes"),
            name: Some(ana.clone()),
            seq: Some(9),
            ts: Some(5),
            id: None,
            reply_to: Some(7),
            mentions: Vec::new(),
            quote: Some(Box::new(quote.clone())),
        },
        json!({"type": "room_message", "room": "general", "from": ALICE, "content": "yes",
               "name": "Ana", "seq": 9, "ts": 5, "reply_to": 7,
               "quote": {"from": BOB, "name": "Ana", "text": "see this"}}),
    );
    let mut gone = quote.clone();
    gone.follow(&Change::Delete, None);
    assert_wire(
        ServerMessage::DirectMessage {
            from: user(ALICE),
            content: content("yes"),
            to: None,
            name: Some(ana.clone()),
            seq: Some(3),
            ts: Some(5),
            id: None,
            reply_to: Some(2),
            quote: Some(Box::new(gone.clone())),
        },
        json!({"type": "direct_message", "from": ALICE, "content": "yes", "name": "Ana",
               "seq": 3, "ts": 5, "reply_to": 2,
               "quote": {"from": BOB, "name": "Ana", "text": "", "deleted": true}}),
    );
    let posted = Posted {
        seq: 9,
        ts: 5,
        from: user(ALICE),
        name: ana.clone(),
        content: content("yes"),
        to: None,
        id: None,
        extras: Extras {
            reply_to: Some(7),
            quote: Some(Box::new(quote.clone())),
            ..Extras::default()
        },
    };
    assert_wire(
        ServerMessage::History {
            room: Some(room("general")),
            with: None,
            messages: vec![posted],
            changes: Vec::new(),
        },
        json!({"type": "history", "room": "general",
               "messages": [{"seq": 9, "ts": 5, "from": ALICE, "name": "Ana", "content": "yes",
                             "reply_to": 7,
                             "quote": {"from": BOB, "name": "Ana", "text": "see this"}}]}),
    );
}

#[test]
fn a_quote_follows_its_original_and_is_cut_to_one_short_line() {
    let ana = DisplayName::parse("Ana").unwrap();
    let long = "x".repeat(QUOTED_CHARS + 5);
    let quote = Quoted::of(
        user(BOB),
        ana.clone(),
        &content(&format!("\n\n{long}")),
        false,
    );
    assert_eq!(
        quote.text.chars().count(),
        QUOTED_CHARS + 1,
        "{}",
        quote.text
    );
    assert!(quote.text.ends_with('…'));
    let mut quote = Quoted::of(user(BOB), ana.clone(), &content("helo"), false);
    quote.follow(&Change::Edit, Some(&content("> hello")));
    assert_eq!(quote.text, "hello", "an edit's text, as plain text");
    let thumbs = Change::React {
        emoji: Emoji::parse("👍").unwrap(),
        on: true,
    };
    quote.follow(&thumbs, None);
    assert_eq!(quote.text, "hello", "a reaction changes no quote");
    quote.follow(&Change::Delete, None);
    assert!(quote.deleted && quote.text.is_empty(), "{quote:?}");
    quote.follow(&Change::Edit, Some(&content("back?")));
    assert!(
        quote.text.is_empty(),
        "nothing brings a deleted message back"
    );
    // A reply that is itself deleted quotes nothing either.
    let mut text = content("yes");
    let mut extras = Extras {
        reply_to: Some(1),
        quote: Some(Box::new(Quoted::of(user(BOB), ana, &content("hi"), false))),
        ..Extras::default()
    };
    extras.apply(&mut text, &Change::Delete, None, (user(ALICE), 5, 1));
    assert_eq!(extras.quote, None);
}

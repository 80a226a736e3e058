//! What survives a reload: identity, rooms, conversations and unsent
//! messages, read back from what an earlier page saved.

use super::*;

#[test]
fn identity_rooms_conversations_and_unsent_messages_survive_a_reload() {
    let mut state = connected_as(user(1));
    joined(&mut state, "a");
    joined(&mut state, "b");
    state.apply(ServerMessage::DirectMessage {
        from: user(2),
        content: MessageContent::parse("psst").unwrap(),
        to: Some(user(1)),
        name: Some(name("Ben")),
        seq: Some(1),
        ts: Some(5),
        id: None,
        reply_to: None,
        quote: None,
    });
    state.compose(
        Conversation::Room(room("b")),
        MessageContent::parse("unsent").unwrap(),
        id("m9"),
        None,
    );
    let saved = state.saved();
    let json = serde_json::to_value(&saved).unwrap();
    assert_eq!(Saved::from_json(&&json), Ok(saved.clone()));
    let reloaded = ChatState::restore(Saved::from_json(&&json).unwrap());
    assert_eq!(reloaded.token.as_deref(), Some("token-1"));
    assert_eq!(
        reloaded.greeting(),
        [
            ClientMessage::Hello {
                protocol: PROTOCOL_VERSION,
                token: Some("token-1".into())
            },
            ClientMessage::JoinRoom {
                room: room("a"),
                after: None
            },
            ClientMessage::JoinRoom {
                room: room("b"),
                after: None
            },
        ]
    );
    assert_eq!(reloaded.unsent.len(), 1);
    assert_eq!(reloaded.name_of(user(2)), name("Ben"));
    let mut reloaded = reloaded;
    let replies = welcome(&mut reloaded, user(1), "e1");
    assert_eq!(
        replies,
        [
            ClientMessage::ListRooms,
            ClientMessage::DirectHistory {
                with: user(2),
                before: None,
                after: None,
                limit: Some(FILL_PAGE)
            }
        ]
    );
}

#[test]
fn a_save_written_by_an_earlier_page_reads_back() {
    let json = serde_json::json!({
        "token": "t",
        "rooms": ["a"],
        "directs": [[user(2).to_string(), "Ben"]],
        "outbox": [
            {"id": "m9", "to": {"Room": "a"}, "content": "unsent"},
            {"id": "m10", "to": {"Direct": user(2).to_string()}, "content": "psst"}
        ]
    });
    let saved = Saved::from_json(&&json).unwrap();
    assert_eq!(
        serde_json::to_value(&saved).unwrap(),
        json,
        "the same format both ways"
    );
    assert_eq!(saved.unsent[1].to, Conversation::Direct(user(2)));
    // And what this version adds: a reply's target and mentions, and the
    // notification settings.
    let newer = serde_json::json!({
        "token": "t",
        "rooms": ["a"],
        "directs": [],
        "outbox": [{"id": "m9", "to": {"Room": "a"}, "content": "@Ben yes", "reply_to": 3,
                    "mentions": [user(2).to_string()]}],
        "alerts": true,
        "alert_levels": [[{"Room": "a"}, "All"], [{"Direct": user(2).to_string()}, "Nothing"]]
    });
    let saved = Saved::from_json(&&newer).unwrap();
    assert_eq!(serde_json::to_value(&saved).unwrap(), newer);
    let restored = ChatState::restore(saved);
    assert_eq!(
        restored.alert_level(&Conversation::Room(room("a"))),
        AlertLevel::All
    );
    assert_eq!(
        restored.alert_level(&Conversation::Direct(user(2))),
        AlertLevel::Nothing
    );
    assert_eq!(
        restored.alert_level(&Conversation::Room(room("b"))),
        AlertLevel::Mentions
    );
    let broken = serde_json::json!({"rooms": ["a"], "directs": [[1, 2]]});
    assert!(Saved::from_json(&&broken).is_err());
    assert_eq!(
        Saved::from_json(&&serde_json::json!({})),
        Ok(Saved::default())
    );
}

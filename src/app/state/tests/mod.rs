//! The reducer's rules, applied to server messages and UI actions.

use super::*;

fn room(name: &str) -> RoomName {
    RoomName::parse(name).unwrap()
}

fn user(n: u8) -> UserId {
    UserId::parse(&format!("00000000-0000-4000-8000-0000000000{n:02}")).unwrap()
}

fn name(text: &str) -> DisplayName {
    DisplayName::parse(text).unwrap()
}

fn id(text: &str) -> ClientId {
    ClientId::parse(text).unwrap()
}

fn posted(seq: u64, from: UserId, text: &str) -> Posted {
    Posted {
        seq,
        ts: 1_000 + seq as i64,
        from,
        name: from.guest_name(),
        content: MessageContent::parse(text).unwrap(),
        to: None,
        id: None,
        extras: Default::default(),
    }
}

fn live(room_name: &str, message: Posted) -> ServerMessage {
    ServerMessage::RoomMessage {
        room: room(room_name),
        from: message.from,
        content: message.content,
        name: Some(message.name),
        seq: Some(message.seq),
        ts: Some(message.ts),
        id: message.id,
        mentions: Vec::new(),
        reply_to: None,
    }
}

fn history(room_name: &str, messages: Vec<Posted>) -> ServerMessage {
    ServerMessage::History {
        room: Some(room(room_name)),
        with: None,
        messages,
        changes: Vec::new(),
    }
}

fn connected_as(me: UserId) -> ChatState {
    let mut state = ChatState::default();
    welcome(&mut state, me, "e1");
    state
}

/// The server's `welcome` to `me`, its history numbered in `epoch`.
fn welcome(state: &mut ChatState, me: UserId, epoch: &str) -> Vec<ClientMessage> {
    state.apply(ServerMessage::Welcome {
        user: me,
        name: name("Me"),
        token: "token-1".into(),
        protocol: PROTOCOL_VERSION,
        epoch: Some(epoch.into()),
    })
}

fn joined(state: &mut ChatState, room_name: &str) -> Vec<ClientMessage> {
    state.apply(ServerMessage::Joined {
        room: room(room_name),
        members: Some(vec![Member {
            user: state.me.unwrap(),
            name: name("Me"),
        }]),
    })
}

/// (text, delivery) of the active conversation's messages.
fn texts(state: &ChatState) -> Vec<(String, Delivery)> {
    state
        .active_lines()
        .into_iter()
        .filter_map(|line| match line.kind {
            LineKind::Message { text, delivery, .. } => Some((text.as_str().to_owned(), delivery)),
            _ => None,
        })
        .collect()
}

fn sent(items: &[&str]) -> Vec<(String, Delivery)> {
    items
        .iter()
        .map(|t| (t.to_string(), Delivery::Sent))
        .collect()
}

#[test]
fn joining_opens_the_room_with_its_members_and_their_names() {
    let mut state = connected_as(user(1));
    assert_eq!(state.status, ConnectionStatus::Connected);
    assert_eq!(state.token.as_deref(), Some("token-1"));
    state.apply(ServerMessage::Joined {
        room: room("general"),
        members: Some(vec![
            Member {
                user: user(1),
                name: name("Me"),
            },
            Member {
                user: user(2),
                name: name("Ben"),
            },
        ]),
    });
    assert_eq!(state.active, Some(Conversation::Room(room("general"))));
    let view = state.room(&room("general")).unwrap();
    assert_eq!(view.members, BTreeSet::from([user(1), user(2)]));
    assert_eq!(state.name_of(user(2)), name("Ben"));
    assert_eq!(state.name_of(user(9)), user(9).guest_name());
    state.apply(ServerMessage::UserRenamed {
        user: user(2),
        name: name("Benedita"),
    });
    assert_eq!(state.name_of(user(2)), name("Benedita"));
}

#[test]
fn events_and_messages_become_lines_in_order() {
    let mut state = connected_as(user(1));
    joined(&mut state, "general");
    state.apply(ServerMessage::UserJoined {
        room: room("general"),
        user: user(2),
        name: Some(name("Ben")),
    });
    state.apply(live("general", posted(1, user(2), "<b>hi</b>")));
    state.apply(ServerMessage::UserLeft {
        room: room("general"),
        user: user(2),
    });
    let kinds: Vec<_> = state
        .active_lines()
        .into_iter()
        .map(|line| line.kind)
        .collect();
    assert_eq!(kinds.len(), 3);
    assert_eq!(kinds[0], LineKind::Joined(user(2)));
    assert!(
        matches!(&kinds[1], LineKind::Message { text, from: Some(from), .. } if text.as_str() == "<b>hi</b>" && *from == user(2))
    );
    assert_eq!(kinds[2], LineKind::Left(user(2)));
    assert_eq!(
        state.room(&room("general")).unwrap().members,
        BTreeSet::from([user(1)])
    );
}

#[test]
fn a_message_seen_twice_shows_once_and_older_pages_slot_in_before() {
    let mut state = connected_as(user(1));
    joined(&mut state, "a");
    state.apply(history(
        "a",
        vec![posted(5, user(2), "five"), posted(6, user(2), "six")],
    ));
    state.apply(live("a", posted(6, user(2), "six")));
    state.apply(live("a", posted(7, user(2), "seven")));
    assert_eq!(texts(&state), sent(&["five", "six", "seven"]));
    assert!(state.active_has_older());
    let request = state.load_older(&Conversation::Room(room("a"))).unwrap();
    assert_eq!(
        request,
        ClientMessage::History {
            room: room("a"),
            before: Some(5),
            after: None,
            limit: Some(PAGE)
        }
    );
    // One request at a time.
    assert_eq!(state.load_older(&Conversation::Room(room("a"))), None);
    let replies = state.apply(history(
        "a",
        (1..=4)
            .map(|n| posted(n, user(2), &n.to_string()))
            .collect(),
    ));
    assert!(replies.is_empty(), "an older page is no gap: {replies:?}");
    assert_eq!(
        texts(&state),
        sent(&["1", "2", "3", "4", "five", "six", "seven"])
    );
    assert!(!state.active_has_older());
}

#[test]
fn an_older_page_that_comes_back_empty_ends_the_paging_back() {
    // Retention pruned 1..=499, or memory storage numbered on past a gap.
    let mut state = connected_as(user(1));
    joined(&mut state, "a");
    state.apply(history("a", vec![posted(500, user(2), "kept")]));
    assert!(state.active_has_older());
    let conversation = Conversation::Room(room("a"));
    assert!(state.load_older(&conversation).is_some());
    state.apply(history("a", vec![]));
    assert!(!state.active_has_older(), "nothing older is left");
    assert_eq!(
        state.load_older(&conversation),
        None,
        "and none is asked for"
    );
}

#[test]
fn own_messages_are_pending_until_acknowledged_and_resent_after_a_reconnect() {
    let mut state = connected_as(user(1));
    joined(&mut state, "a");
    let to = Conversation::Room(room("a"));
    let first = state.compose(
        to.clone(),
        MessageContent::parse("one").unwrap(),
        id("m1"),
        None,
    );
    assert_eq!(
        first,
        Some(ClientMessage::RoomMessage {
            room: room("a"),
            content: MessageContent::parse("one").unwrap(),
            id: Some(id("m1")),
            mentions: Vec::new(),
            reply_to: None,
        })
    );
    state.compose(
        to.clone(),
        MessageContent::parse("two").unwrap(),
        id("m2"),
        None,
    );
    assert_eq!(
        texts(&state),
        [
            ("one".into(), Delivery::Pending),
            ("two".into(), Delivery::Pending)
        ]
    );
    // The ack files "one" as sent; its echo later changes nothing.
    state.apply(ServerMessage::Ack {
        id: id("m1"),
        room: Some(room("a")),
        to: None,
        seq: 1,
        ts: 5,
    });
    let mut echo = posted(1, user(1), "one");
    echo.id = Some(id("m1"));
    state.apply(live("a", echo));
    assert_eq!(
        texts(&state),
        [
            ("one".into(), Delivery::Sent),
            ("two".into(), Delivery::Pending)
        ]
    );

    // The connection drops before "two" is acknowledged; the greeting
    // resumes after seq 1 and "two" goes again once the room is back.
    assert!(!state.reconnecting());
    state.disconnected();
    assert!(state.reconnecting(), "a lost connection shows");

    assert_eq!(
        state.greeting(),
        [
            ClientMessage::Hello {
                protocol: PROTOCOL_VERSION,
                token: Some("token-1".into())
            },
            ClientMessage::JoinRoom {
                room: room("a"),
                after: Some(1)
            },
        ]
    );
    // Offline, a new message is only queued.
    assert_eq!(
        state.compose(to, MessageContent::parse("three").unwrap(), id("m3"), None),
        None
    );
    connected_again(&mut state);
    let resent = joined(&mut state, "a");
    let ids: Vec<_> = resent
        .iter()
        .map(|m| match m {
            ClientMessage::RoomMessage { id, .. } => id.clone().unwrap(),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(ids, [id("m2"), id("m3")]);
}

fn connected_again(state: &mut ChatState) {
    welcome(state, user(1), "e1");
}

#[test]
fn a_history_that_started_over_is_shown_afresh_not_merged_with_the_old_one() {
    let mut state = connected_as(user(1));
    joined(&mut state, "a");
    state.apply(history(
        "a",
        vec![posted(1, user(2), "old one"), posted(2, user(3), "old two")],
    ));
    state.open_direct(user(2));
    state.apply(ServerMessage::History {
        room: None,
        with: Some(user(2)),
        messages: vec![posted(1, user(2), "old direct")],
        changes: Vec::new(),
    });
    state.open(Conversation::Room(room("a")));
    state.compose(
        Conversation::Room(room("a")),
        MessageContent::parse("unsent").unwrap(),
        id("m1"),
        None,
    );
    state.disconnected();

    // The same numbering: the resume goes on from what was shown.
    let replies = welcome(&mut state, user(1), "e1");
    assert!(
        !replies.contains(&history_request(
            &Conversation::Room(room("a")),
            None,
            None,
            PAGE
        )),
        "{replies:?}"
    );
    state.disconnected();

    // A new numbering (memory storage restarted): nothing held is kept,
    // the latest pages are asked for, and the unsent message stays.
    let replies = welcome(&mut state, user(1), "e2");
    assert!(
        replies.contains(&history_request(
            &Conversation::Room(room("a")),
            None,
            None,
            PAGE
        )),
        "{replies:?}"
    );
    assert!(
        replies.contains(&history_request(
            &Conversation::Direct(user(2)),
            None,
            None,
            FILL_PAGE
        )),
        "{replies:?}"
    );
    assert_eq!(texts(&state), [("unsent".into(), Delivery::Pending)]);
    let resent = joined(&mut state, "a");
    assert_eq!(resent.len(), 1, "{resent:?}");
    // The new history's first message, by someone else, shows under its
    // own sender; the old seq 1 is gone.
    state.apply(live("a", posted(1, user(4), "new one")));
    state.apply(ServerMessage::Ack {
        id: id("m1"),
        room: Some(room("a")),
        to: None,
        seq: 2,
        ts: 9,
    });
    let shown: Vec<_> = state
        .active_lines()
        .into_iter()
        .filter_map(|line| match line.kind {
            LineKind::Message { from, text, .. } => Some((from, text.as_str().to_owned())),
            _ => None,
        })
        .collect();
    assert_eq!(
        shown,
        [
            (Some(user(4)), "new one".to_owned()),
            (Some(user(1)), "unsent".to_owned())
        ]
    );
}

#[test]
fn a_refused_message_is_marked_failed_and_can_be_retried() {
    let mut state = connected_as(user(1));
    joined(&mut state, "a");
    state.compose(
        Conversation::Room(room("a")),
        MessageContent::parse("x").unwrap(),
        id("m1"),
        None,
    );
    state.apply(ServerMessage::message_error(
        ErrorCode::Busy,
        Some(id("m1")),
        Some(room("a")),
        "busy",
    ));
    assert_eq!(texts(&state), [("x".into(), Delivery::Failed)]);
    assert_eq!(state.notices.len(), 1);
    assert!(state.retry(&id("m1")).is_some());
    assert_eq!(texts(&state), [("x".into(), Delivery::Pending)]);
}

#[test]
fn rate_limited_messages_wait_then_go_one_at_a_time_in_order_and_nothing_is_lost() {
    let mut state = connected_as(user(1));
    joined(&mut state, "a");
    let to = || Conversation::Room(room("a"));
    let say = |state: &mut ChatState, text: &str| {
        state.compose(to(), MessageContent::parse(text).unwrap(), id(text), None)
    };
    let message = |text: &str| ClientMessage::RoomMessage {
        room: room("a"),
        content: MessageContent::parse(text).unwrap(),
        id: Some(id(text)),
        mentions: Vec::new(),
        reply_to: None,
    };
    let limited = |text: &str| {
        ServerMessage::rate_limited(Some(id(text)), Some(room("a")), 1_500, "slow down")
    };
    let ack = |text: &str, seq: u64| ServerMessage::Ack {
        id: id(text),
        room: Some(room("a")),
        to: None,
        seq,
        ts: 1,
    };
    assert_eq!(say(&mut state, "m1"), Some(message("m1")));
    assert_eq!(say(&mut state, "m2"), Some(message("m2")));
    assert_eq!(say(&mut state, "m3"), Some(message("m3")));
    // m2 and m3 were refused: held, still pending, no notice.
    assert!(state.apply_at(limited("m2"), 1_000).is_empty());
    assert!(state.apply_at(limited("m3"), 1_000).is_empty());
    assert_eq!(state.slow_until, Some(2_500));
    assert!(state.notices.is_empty());
    // What the user writes meanwhile waits its turn.
    assert_eq!(say(&mut state, "m4"), None);
    assert!(state.apply_at(ack("m1", 1), 1_100).is_empty());
    assert_eq!(
        texts(&state),
        [
            ("m1".into(), Delivery::Sent),
            ("m2".into(), Delivery::Pending),
            ("m3".into(), Delivery::Pending),
            ("m4".into(), Delivery::Pending),
        ]
    );
    // Not before the wait is over; then the first held, and each ack
    // sends the next.
    assert_eq!(state.release(2_499), None);
    assert_eq!(state.release(2_500), Some(message("m2")));
    assert_eq!(state.slow_until, None);
    assert_eq!(state.apply_at(ack("m2", 2), 2_600), [message("m3")]);
    // Refused again: held again, and again after the wait.
    state.apply_at(limited("m3"), 2_700);
    assert_eq!(state.release(4_199), None);
    assert_eq!(state.release(4_200), Some(message("m3")));
    assert_eq!(state.apply_at(ack("m3", 3), 4_300), [message("m4")]);
    assert_eq!(state.apply_at(ack("m4", 4), 4_400), []);
    assert!(state.unsent.is_empty());
    // Nothing held: a new message goes at once.
    assert_eq!(say(&mut state, "m5"), Some(message("m5")));
}

#[test]
fn after_a_reconnect_held_messages_go_one_at_a_time_behind_the_rest() {
    let mut state = connected_as(user(1));
    joined(&mut state, "a");
    for text in ["m1", "m2", "m3"] {
        state.compose(
            Conversation::Room(room("a")),
            MessageContent::parse(text).unwrap(),
            id(text),
            None,
        );
    }
    for text in ["m2", "m3"] {
        state.apply_at(
            ServerMessage::rate_limited(Some(id(text)), Some(room("a")), 60_000, "slow down"),
            0,
        );
    }
    state.disconnected();
    assert_eq!(state.slow_until, None, "a new connection, new counts");
    connected_again(&mut state);
    let replies = joined(&mut state, "a");
    let ids: Vec<_> = replies.iter().filter_map(ClientMessage::id).collect();
    assert_eq!(ids, [&id("m1"), &id("m2")]);
}

fn fill_request(after: u64, before: u64) -> ClientMessage {
    ClientMessage::History {
        room: room("a"),
        before: Some(before),
        after: Some(after),
        limit: Some(FILL_PAGE),
    }
}

#[test]
fn a_resume_gap_is_filled_page_by_page_until_closed() {
    let mut state = connected_as(user(1));
    joined(&mut state, "a");
    state.apply(history(
        "a",
        vec![posted(1, user(2), "1"), posted(2, user(2), "2")],
    ));
    // After a reconnect the replay starts at 500: 3..=499 are missing.
    let replies = state.apply(history("a", vec![posted(500, user(2), "500")]));
    assert_eq!(replies, [fill_request(2, 500)]);
    let replies = state.apply(history(
        "a",
        (3..=202).map(|n| posted(n, user(2), "x")).collect(),
    ));
    assert_eq!(replies, [fill_request(202, 500)]);
    let replies = state.apply(history(
        "a",
        (203..=402).map(|n| posted(n, user(2), "x")).collect(),
    ));
    assert_eq!(replies, [fill_request(402, 500)]);
    let replies = state.apply(history(
        "a",
        (403..=499).map(|n| posted(n, user(2), "x")).collect(),
    ));
    assert!(replies.is_empty(), "closed: {replies:?}");
    let seqs: Vec<u64> = state
        .room(&room("a"))
        .unwrap()
        .timeline
        .entries
        .keys()
        .map(|k| k.0)
        .collect();
    assert_eq!(seqs.len(), MAX_LINES.min(500));
    assert_eq!(*seqs.last().unwrap(), 500);
}

#[test]
fn a_gap_fill_cut_off_by_a_disconnect_goes_on_after_the_reconnect() {
    let mut state = connected_as(user(1));
    joined(&mut state, "a");
    state.apply(history(
        "a",
        vec![posted(1, user(2), "1"), posted(2, user(2), "2")],
    ));
    state.apply(history("a", vec![posted(500, user(2), "500")]));
    let replies = state.apply(history(
        "a",
        (3..=202).map(|n| posted(n, user(2), "x")).collect(),
    ));
    assert_eq!(replies, [fill_request(202, 500)]);
    state.disconnected();
    assert_eq!(
        state.greeting()[1],
        ClientMessage::JoinRoom {
            room: room("a"),
            after: Some(500)
        }
    );
    connected_again(&mut state);
    assert_eq!(joined(&mut state, "a"), [fill_request(202, 500)]);
}

#[test]
fn direct_conversations_catch_up_page_by_page_after_a_reconnect() {
    let mut state = connected_as(user(1));
    state.open_direct(user(2));
    let dm = |seqs: Vec<u64>| ServerMessage::History {
        room: None,
        with: Some(user(2)),
        messages: seqs.into_iter().map(|n| posted(n, user(2), "x")).collect(),
        changes: Vec::new(),
    };
    state.apply(dm((1..=5).collect()));
    state.disconnected();
    let ask = |after: u64| ClientMessage::DirectHistory {
        with: user(2),
        before: None,
        after: Some(after),
        limit: Some(FILL_PAGE),
    };
    assert_eq!(
        welcome(&mut state, user(1), "e1"),
        [ClientMessage::ListRooms, ask(5)]
    );
    assert_eq!(
        state.apply(dm((6..=205).collect())),
        [ask(205)],
        "a full page: ask on"
    );
    assert_eq!(state.apply(dm((206..=230).collect())), [ask(230)]);
    assert!(
        state.apply(dm(Vec::new())).is_empty(),
        "an empty page ends it"
    );
    assert_eq!(
        state.direct(&user(2)).unwrap().timeline.last_seq(),
        Some(230)
    );
}

#[test]
fn a_gap_retention_pruned_is_given_up_after_an_empty_page() {
    let mut state = connected_as(user(1));
    joined(&mut state, "a");
    state.apply(history("a", vec![posted(1, user(2), "1")]));
    assert_eq!(
        state
            .apply(history("a", vec![posted(10, user(2), "10")]))
            .len(),
        1
    );
    assert!(state.apply(history("a", vec![])).is_empty());
}

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

#[test]
fn direct_messages_both_ways_share_one_conversation_per_peer() {
    let mut state = connected_as(user(1));
    state.apply(ServerMessage::DirectMessage {
        from: user(2),
        content: MessageContent::parse("psst").unwrap(),
        to: Some(user(1)),
        name: None,
        seq: Some(1),
        ts: Some(5),
        id: None,
        reply_to: None,
    });
    state.open_direct(user(2));
    state.compose(
        Conversation::Direct(user(2)),
        MessageContent::parse("yes?").unwrap(),
        id("d1"),
        None,
    );
    state.apply(ServerMessage::Ack {
        id: id("d1"),
        room: None,
        to: Some(user(2)),
        seq: 2,
        ts: 6,
    });
    // Written in another tab of mine.
    state.apply(ServerMessage::DirectMessage {
        from: user(1),
        content: MessageContent::parse("from my phone").unwrap(),
        to: Some(user(2)),
        name: None,
        seq: Some(3),
        ts: Some(7),
        id: Some(id("other-tab")),
        reply_to: None,
    });
    assert_eq!(texts(&state), sent(&["psst", "yes?", "from my phone"]));
    assert_eq!(state.directs.len(), 1);
}

#[test]
fn a_late_joined_does_not_bring_back_a_room_the_user_left() {
    let mut state = connected_as(user(1));
    state.joining(&room("quick"));
    state.compose(
        Conversation::Room(room("quick")),
        MessageContent::parse("x").unwrap(),
        id("q"),
        None,
    );
    state.left(&room("quick"));
    assert!(state.unsent.is_empty(), "a left room's unsent messages go");
    joined(&mut state, "quick");
    assert!(state.room(&room("quick")).is_none());
    state.apply(live("quick", posted(1, user(2), "late")));
    assert!(state.room(&room("quick")).is_none());
    // Joining again later works.
    state.joining(&room("quick"));
    joined(&mut state, "quick");
    assert!(state.room(&room("quick")).is_some());
}

#[test]
fn consecutive_messages_of_one_sender_are_grouped() {
    let mut state = connected_as(user(1));
    joined(&mut state, "a");
    let at = |seq: u64, from: UserId, ts: i64| {
        let mut message = posted(seq, from, "x");
        message.ts = ts;
        live("a", message)
    };
    state.apply(at(1, user(2), 0));
    state.apply(at(2, user(2), 60_000));
    state.apply(at(3, user(3), 61_000));
    state.apply(at(4, user(3), 61_000 + GROUP_WITHIN_MS));
    state.apply(ServerMessage::UserJoined {
        room: room("a"),
        user: user(4),
        name: None,
    });
    state.apply(at(5, user(3), 62_000 + GROUP_WITHIN_MS));
    let grouped: Vec<bool> = state.active_lines().iter().map(|l| l.continued).collect();
    assert_eq!(grouped, [false, true, false, false, false, false]);
}

#[test]
fn messages_in_conversations_not_on_screen_count_as_unread_until_opened() {
    let mut state = connected_as(user(1));
    joined(&mut state, "a");
    joined(&mut state, "b");
    let (a, b) = (Conversation::Room(room("a")), Conversation::Room(room("b")));
    assert_eq!(state.active, Some(a.clone()));
    // A fresh join's history is not news.
    state.apply(history("b", vec![posted(1, user(2), "old")]));
    assert_eq!(state.unread(&b), 0);
    state.apply(live("b", posted(2, user(2), "new")));
    state.apply(live("b", posted(2, user(2), "new"))); // seen twice
    state.apply(live("b", posted(3, user(1), "mine")));
    state.apply(live("a", posted(1, user(2), "on screen")));
    assert_eq!((state.unread(&a), state.unread(&b)), (0, 1));
    // Missed during a disconnect and replayed: news too.
    state.apply(history("b", vec![posted(4, user(2), "missed")]));
    assert_eq!(state.unread(&b), 2);
    state.open(b.clone());
    assert_eq!(state.unread(&b), 0);
    // Direct messages likewise.
    state.apply(ServerMessage::DirectMessage {
        from: user(3),
        content: MessageContent::parse("psst").unwrap(),
        to: Some(user(1)),
        name: None,
        seq: Some(1),
        ts: Some(5),
        id: None,
        reply_to: None,
    });
    assert_eq!(state.unread(&Conversation::Direct(user(3))), 1);
    state.open_direct(user(3));
    assert_eq!(state.unread(&Conversation::Direct(user(3))), 0);
}

#[test]
fn opening_a_room_by_link_joins_it_once_then_just_opens_it() {
    let mut state = connected_as(user(1));
    let join = ClientMessage::JoinRoom {
        room: room("a"),
        after: None,
    };
    assert_eq!(state.open_room(room("a")), Some(join.clone()));
    assert_eq!(state.open_room(room("a")), None, "already on its way");
    assert_eq!(state.active, Some(Conversation::Room(room("a"))));
    joined(&mut state, "a");
    joined(&mut state, "b");
    assert_eq!(state.open_room(room("a")), None, "joined: just opened");
    state.left(&room("a"));
    assert_eq!(state.open_room(room("a")), Some(join), "left: joined again");
}

#[test]
fn typing_shows_for_a_while_and_ends_with_the_message() {
    let mut state = connected_as(user(1));
    joined(&mut state, "a");
    let typing = |n: u8, who: &str| ServerMessage::Typing {
        room: room("a"),
        user: user(n),
        name: name(who),
    };
    assert_eq!(state.typing_label(&room("a"), 0), None);
    state.apply_at(typing(2, "Ana"), 1_000);
    assert_eq!(
        state.typing_label(&room("a"), 2_000).as_deref(),
        Some("Ana is typing…")
    );
    state.apply_at(typing(3, "Ben"), 3_000);
    assert_eq!(
        state.typing_label(&room("a"), 4_000).as_deref(),
        Some("Ana and Ben are typing…")
    );
    // Ana's runs out; Ben's is still fresh.
    assert_eq!(
        state
            .typing_label(&room("a"), 1_000 + TYPING_SHOWN_MS)
            .as_deref(),
        Some("Ben is typing…")
    );
    for (n, who) in [(4, "Cy"), (5, "Di"), (2, "Ana")] {
        state.apply_at(typing(n, who), 5_000);
    }
    assert_eq!(
        state.typing_label(&room("a"), 6_000).as_deref(),
        Some("Ben, Cy and 2 others are typing…")
    );
    // Ben's message arrives: he is done typing it.
    state.apply(live("a", posted(1, user(3), "done")));
    assert_eq!(
        state.typing_label(&room("a"), 6_000).as_deref(),
        Some("Cy, Di and Ana are typing…")
    );
}

#[test]
fn lines_and_notices_stay_bounded() {
    let mut state = connected_as(user(1));
    joined(&mut state, "busy");
    for n in 1..=(MAX_LINES as u64 + 10) {
        state.apply(live("busy", posted(n, user(2), &n.to_string())));
    }
    let lines = texts(&state);
    assert_eq!(lines.len(), MAX_LINES);
    assert_eq!(lines[0].0, "11");
    for n in 0..5 {
        state.notify(format!("notice {n}"));
    }
    let notices: Vec<_> = state.notices.iter().map(|n| n.text.as_str()).collect();
    assert_eq!(notices, ["notice 2", "notice 3", "notice 4"]);
}

/// The sequence numbers of the active conversation's messages.
fn seqs(state: &ChatState) -> Vec<u64> {
    texts(state)
        .iter()
        .map(|(text, _)| text.parse().unwrap())
        .collect()
}

fn page(range: std::ops::RangeInclusive<u64>) -> Vec<Posted> {
    range.map(|n| posted(n, user(2), &n.to_string())).collect()
}

#[test]
fn far_up_a_long_history_the_newest_lines_go_and_paging_down_or_jumping_brings_them_back() {
    let mut state = connected_as(user(1));
    joined(&mut state, "long");
    let long = Conversation::Room(room("long"));
    state.apply(history("long", page(9_951..=10_000)));
    // Up through 600 older messages, a page at a time.
    for _ in 0..12 {
        let Some(ClientMessage::History { before, limit, .. }) = state.load_older(&long) else {
            panic!("an older page is asked for");
        };
        let before = before.unwrap();
        state.apply(history(
            "long",
            page(before - u64::from(limit.unwrap())..=before - 1),
        ));
    }
    let held = seqs(&state);
    assert_eq!(held.len(), MAX_LINES, "the lines held stay bounded");
    assert_eq!(held, (9_351..=9_850).collect::<Vec<_>>(), "the newest went");
    assert!(state.active_detached());
    // What happens meanwhile is noted, not shown after the lines held.
    state.apply(live("long", posted(10_001, user(2), "10001")));
    state.apply(ServerMessage::UserJoined {
        room: room("long"),
        user: user(3),
        name: None,
    });
    assert_eq!(seqs(&state).last(), Some(&9_850));
    assert_eq!(state.active_lines().len(), MAX_LINES);
    assert!(
        matches!(
            &state.greeting()[1],
            ClientMessage::JoinRoom {
                after: Some(10_001),
                ..
            }
        ),
        "a resume starts after the newest known, not the newest held"
    );
    // Paging down: the page after the last line held, once at a time.
    assert_eq!(
        state.load_newer(&long),
        Some(history_request(&long, Some(9_850), None, PAGE))
    );
    assert_eq!(state.load_newer(&long), None, "one on its way");
    state.apply(history("long", page(9_851..=9_900)));
    assert_eq!(seqs(&state), (9_401..=9_900).collect::<Vec<_>>());
    assert!(state.active_detached());
    // The latest page replaces the lines held, and they reach the end.
    assert_eq!(
        state.jump_to_latest(&long),
        Some(history_request(&long, None, None, PAGE))
    );
    state.apply(history("long", page(9_952..=10_001)));
    assert_eq!(seqs(&state), (9_952..=10_001).collect::<Vec<_>>());
    assert!(!state.active_detached());
    assert_eq!(state.load_newer(&long), None, "nothing past the end");
    state.apply(live("long", posted(10_002, user(2), "10002")));
    assert_eq!(seqs(&state).last(), Some(&10_002), "live again");
}

#[test]
fn paging_down_to_the_end_joins_the_live_conversation_again() {
    let mut state = connected_as(user(1));
    joined(&mut state, "long");
    let long = Conversation::Room(room("long"));
    state.apply(history("long", page(551..=1_000)));
    state.load_older(&long);
    state.apply(history("long", page(501..=550)));
    state.load_older(&long);
    state.apply(history("long", page(451..=500)));
    assert_eq!(seqs(&state), (451..=950).collect::<Vec<_>>());
    state.load_newer(&long);
    state.apply(history("long", page(951..=1_000)));
    assert!(
        !state.active_detached(),
        "the page reached the newest known"
    );
    assert_eq!(seqs(&state), (501..=1_000).collect::<Vec<_>>());
    state.apply(live("long", posted(1_001, user(2), "1001")));
    assert_eq!(seqs(&state).last(), Some(&1_001));
}

mod changes;
mod search;

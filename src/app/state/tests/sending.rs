//! The user's own messages: pending until acknowledged, resent after a
//! reconnect, marked failed when refused, and held (then sent one at a
//! time, in order) while a rate limit lasts.

use super::*;

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

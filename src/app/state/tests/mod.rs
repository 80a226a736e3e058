//! The reducer's rules, applied to server messages and UI actions: here
//! joining, lines and conversations; by part in the files beside.

use super::*;

mod changes;
mod resume;
mod saved;
mod search;
mod sending;
mod staff;

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
        quote: None,
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
        username: None,
        admin: false,
    })
}

fn joined(state: &mut ChatState, room_name: &str) -> Vec<ClientMessage> {
    state.apply(ServerMessage::Joined {
        room: room(room_name),
        settings: None,
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
        settings: None,
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

fn connected_again(state: &mut ChatState) {
    welcome(state, user(1), "e1");
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
        quote: None,
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
        quote: None,
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
        quote: None,
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

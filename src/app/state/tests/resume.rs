//! Coming back: a resume's gap filled page by page (rooms and direct
//! conversations), a history that started over shown afresh, and paging
//! far up a long history and back down to the live end.

use super::*;

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

#[test]
fn memberships_bring_the_users_rooms_to_a_new_device_with_their_unread_counts() {
    use crate::protocol::{Membership, Role, RoomInfo};
    let me = user(1);
    let mut state = connected_as(me);
    joined(&mut state, "here");
    let membership = |name: &str, unread| Membership {
        room: room(name),
        role: Role::Member,
        unread,
    };
    state.left.insert(room("gone"));
    let replies = state.apply(ServerMessage::Memberships {
        rooms: vec![
            membership("team", 4),
            membership("here", 9),
            membership("gone", 2),
        ],
    });
    // The room not here is joined, with its unread count; one here counts
    // its own resume; one left on this device stays left.
    assert_eq!(
        replies,
        [ClientMessage::JoinRoom {
            room: room("team"),
            after: None
        }]
    );
    assert_eq!(state.unread(&Conversation::Room(room("team"))), 4);
    assert_eq!(state.unread(&Conversation::Room(room("here"))), 0);
    assert!(state.room(&room("gone")).is_none());
    // Its first page is not news: the count stays until the room is opened.
    state.apply(ServerMessage::Joined {
        room: room("team"),
        settings: Some(RoomInfo {
            private: true,
            ..RoomInfo::default()
        }),
        members: None,
    });
    state.apply(history("team", vec![posted(7, user(2), "while away")]));
    assert_eq!(state.unread(&Conversation::Room(room("team"))), 4);
    state.marks.clear();
    state.open(Conversation::Room(room("team")));
    assert_eq!(state.unread(&Conversation::Room(room("team"))), 0);
    // Opened: a private room is marked read up to what it shows (a public
    // one the user does not run is nobody's to mark).
    assert_eq!(
        std::mem::take(&mut state.marks),
        [ClientMessage::MarkRead {
            room: room("team"),
            seq: 7
        }]
    );
    state.apply(live("team", posted(8, user(2), "now")));
    state.open(Conversation::Room(room("here")));
    assert_eq!(
        state.marks,
        [ClientMessage::MarkRead {
            room: room("team"),
            seq: 8
        }],
        "leaving it marks what it showed last"
    );
}

//! Edits, deletions, reactions, replies and mentions in the client's state:
//! each change applied once, none leaving a gap, one for a message not held
//! kept for its page; and the requests the user's actions make.

use super::*;
use crate::protocol::{Change, Emoji, PostedChange, Quoted};

fn change(seq: u64, target: u64, from: UserId, what: Change, text: Option<&str>) -> PostedChange {
    PostedChange {
        seq,
        ts: 5_000 + seq as i64,
        from,
        name: from.guest_name(),
        target,
        change: what,
        content: text.map(|t| MessageContent::parse(t).unwrap()),
    }
}

fn live_change(room_name: &str, change: PostedChange) -> ServerMessage {
    ServerMessage::MessageChanged {
        room: Some(room(room_name)),
        to: None,
        change,
    }
}

fn thumbs(on: bool) -> Change {
    Change::React {
        emoji: Emoji::parse("👍").unwrap(),
        on,
    }
}

/// The active conversation's message `seq`: its text and extras.
fn message(state: &ChatState, seq: u64) -> (String, Extras) {
    let conversation = state.active.clone().unwrap();
    match state.timeline(&conversation).unwrap().message(seq) {
        Some(LineKind::Message { text, extras, .. }) => (text.as_str().to_owned(), extras.clone()),
        other => panic!("no message {seq}: {other:?}"),
    }
}

#[test]
fn a_change_applies_to_its_message_once_and_leaves_no_gap() {
    let mut state = connected_as(user(1));
    joined(&mut state, "general");
    state.apply(history(
        "general",
        vec![posted(1, user(2), "helo"), posted(2, user(2), "b")],
    ));
    let edit = change(3, 1, user(2), Change::Edit, Some("hello"));
    assert!(state.apply(live_change("general", edit.clone())).is_empty());
    assert_eq!(message(&state, 1).0, "hello");
    assert_eq!(message(&state, 1).1.rev, Some(3));
    // The next message follows the change: no gap to fill.
    let replies = state.apply(live("general", posted(4, user(2), "next")));
    assert!(replies.is_empty(), "{replies:?}");
    // The same change again (a replay) changes nothing; a page read before
    // it (its message without the edit) does not undo it.
    state.apply(live_change("general", edit));
    assert_eq!(message(&state, 1).1.edited, Some(5_003));
    state.apply(history("general", vec![posted(1, user(2), "helo")]));
    assert_eq!(message(&state, 1).0, "hello");
    // Deleted: no text, and what came before it cannot bring it back.
    state.apply(live_change(
        "general",
        change(5, 1, user(2), Change::Delete, None),
    ));
    let (text, extras) = message(&state, 1);
    assert!(text.is_empty() && extras.deleted);
}

#[test]
fn a_change_to_a_message_not_held_waits_for_its_page() {
    let mut state = connected_as(user(1));
    joined(&mut state, "general");
    let recent: Vec<Posted> = (50..=60).map(|seq| posted(seq, user(2), "x")).collect();
    state.apply(history("general", recent));
    state.apply(live_change(
        "general",
        change(61, 10, user(3), thumbs(true), None),
    ));
    let older: Vec<Posted> = (1..=49).map(|seq| posted(seq, user(2), "old")).collect();
    state.apply(history("general", older));
    let (_, extras) = message(&state, 10);
    assert_eq!(extras.reactions.len(), 1);
    assert_eq!(extras.reactions[0].users, [user(3)]);
    assert_eq!(extras.rev, Some(61));
}

#[test]
fn a_resume_with_changes_applies_them_and_asks_for_nothing_more() {
    let mut state = connected_as(user(1));
    joined(&mut state, "general");
    state.apply(history(
        "general",
        vec![posted(1, user(2), "one"), posted(2, user(2), "two")],
    ));
    let replay = ServerMessage::History {
        room: Some(room("general")),
        with: None,
        messages: vec![posted(6, user(2), "six")],
        changes: vec![
            change(3, 1, user(2), Change::Edit, Some("one!")),
            change(4, 2, user(3), thumbs(true), None),
            change(5, 2, user(2), Change::Delete, None),
        ],
    };
    let replies = state.apply(replay);
    assert!(replies.is_empty(), "no gap: {replies:?}");
    assert_eq!(message(&state, 1).0, "one!");
    assert!(message(&state, 2).1.deleted);
    assert!(message(&state, 2).1.reactions.is_empty());
    assert_eq!(message(&state, 6).0, "six");
}

#[test]
fn mentions_of_me_count_beside_the_unread_until_the_conversation_opens() {
    let mut state = connected_as(user(1));
    joined(&mut state, "general");
    joined(&mut state, "random");
    state.open(Conversation::Room(room("random")));
    let mut naming = posted(1, user(2), "@Me look");
    naming.extras.mentions = vec![user(1)];
    state.apply(ServerMessage::RoomMessage {
        room: room("general"),
        from: user(2),
        content: naming.content.clone(),
        name: Some(naming.name.clone()),
        seq: Some(1),
        ts: Some(1),
        id: None,
        reply_to: None,
        quote: None,
        mentions: vec![user(1)],
    });
    state.apply(live("general", posted(2, user(2), "no mention")));
    let general = Conversation::Room(room("general"));
    let timeline = state.timeline(&general).unwrap();
    assert_eq!((timeline.unread, timeline.mentions), (2, 1));
    state.open(general.clone());
    let timeline = state.timeline(&general).unwrap();
    assert_eq!((timeline.unread, timeline.mentions), (0, 0));
}

#[test]
fn a_message_names_the_members_whose_at_name_it_holds_and_carries_its_reply() {
    let mut state = connected_as(user(1));
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
            Member {
                user: user(3),
                name: name("Ana Lopez"),
            },
        ]),
    });
    let general = Conversation::Room(room("general"));
    assert_eq!(
        state.mentions_in(&general, "@Ben, @Ana Lopez!"),
        [user(2), user(3)]
    );
    assert!(
        state
            .mentions_in(&general, "@Benedict and ben@example.org")
            .is_empty()
    );
    let sent = state.compose(
        general.clone(),
        MessageContent::parse("@Ben yes").unwrap(),
        id("m-1"),
        Some(7),
    );
    let Some(ClientMessage::RoomMessage {
        mentions, reply_to, ..
    }) = sent
    else {
        panic!("{sent:?}");
    };
    assert_eq!((mentions, reply_to), (vec![user(2)], Some(7)));
    // Suggestions after @: by the start of the name, not the user's own.
    let named = state.members_named(&room("general"), "a", 6);
    assert_eq!(named, [(user(3), name("Ana Lopez"))]);
    assert!(state.members_named(&room("general"), "Me", 6).is_empty());
}

#[test]
fn a_reaction_is_asked_as_the_opposite_of_what_the_user_has() {
    let mut state = connected_as(user(1));
    joined(&mut state, "general");
    state.apply(history("general", vec![posted(1, user(2), "lunch?")]));
    let general = Conversation::Room(room("general"));
    let thumbs_up = || Emoji::parse("👍").unwrap();
    let ask = |state: &ChatState| match state.react(&general, 1, thumbs_up()) {
        Some(ClientMessage::React { on, seq, .. }) => (seq, on),
        other => panic!("{other:?}"),
    };
    assert_eq!(ask(&state), (1, Some(true)));
    state.apply(live_change(
        "general",
        change(2, 1, user(1), thumbs(true), None),
    ));
    assert_eq!(ask(&state), (1, Some(false)));
    assert!(
        state.react(&general, 99, thumbs_up()).is_none(),
        "no such message held"
    );
}

#[test]
fn jumping_to_a_message_not_held_shows_the_page_around_it() {
    let mut state = connected_as(user(1));
    joined(&mut state, "general");
    let recent: Vec<Posted> = (100..=150).map(|seq| posted(seq, user(2), "x")).collect();
    state.apply(history("general", recent));
    let general = Conversation::Room(room("general"));
    let request = state.jump_to(&general, 30);
    assert_eq!(
        request,
        Some(ClientMessage::History {
            room: room("general"),
            before: None,
            after: Some(9),
            limit: Some(41),
        })
    );
    assert_eq!(state.active_focus(), Some(30));
    let page: Vec<Posted> = (10..=50)
        .map(|seq| posted(seq, user(2), "around"))
        .collect();
    state.apply(history("general", page));
    let timeline = state.timeline(&general).unwrap();
    assert_eq!(timeline.first_seq(), Some(10));
    assert_eq!(
        timeline.newest_seq(),
        Some(150),
        "the reader pages on to the end"
    );
    assert!(timeline.detached());
    // Held already: no request, only the focus.
    assert_eq!(state.jump_to(&general, 40), None);
    assert_eq!(state.active_focus(), Some(40));
}

#[test]
fn notifications_follow_each_conversations_level_and_never_come_for_your_own() {
    let mut state = connected_as(user(1));
    joined(&mut state, "general");
    let mention =
        |seq: u64, from: UserId, text: &str, mentions: Vec<UserId>| ServerMessage::RoomMessage {
            room: room("general"),
            from,
            content: MessageContent::parse(text).unwrap(),
            name: Some(name("Ben")),
            seq: Some(seq),
            ts: Some(1),
            id: None,
            reply_to: None,
            quote: None,
            mentions,
        };
    // Off until the user turns them on.
    state.apply(mention(1, user(2), "@Me hi", vec![user(1)]));
    assert!(state.alerts.is_empty());
    state.alerts_on = true;
    state.apply(mention(2, user(2), "no mention", vec![]));
    assert!(
        state.alerts.is_empty(),
        "rooms notify of mentions by default"
    );
    state.apply(mention(3, user(2), "**@Me** look", vec![user(1)]));
    assert_eq!(
        std::mem::take(&mut state.alerts),
        [Alert {
            title: "Ben in #general".into(),
            body: "@Me look".into(),
            conversation: Conversation::Room(room("general")),
        }]
    );
    state.apply(mention(3, user(2), "**@Me** look", vec![user(1)]));
    assert!(
        state.alerts.is_empty(),
        "a message seen before notifies once"
    );
    state.set_alert_level(Conversation::Room(room("general")), AlertLevel::All);
    state.apply(mention(4, user(1), "my own", vec![]));
    assert!(state.alerts.is_empty(), "your own never notify");
    state.apply(mention(5, user(2), "anything", vec![]));
    assert_eq!(state.alerts.len(), 1);
    state.alerts.clear();
    state.set_alert_level(Conversation::Room(room("general")), AlertLevel::Nothing);
    state.apply(mention(6, user(2), "@Me again", vec![user(1)]));
    assert!(state.alerts.is_empty());
    // A direct message notifies by default.
    state.apply(ServerMessage::DirectMessage {
        from: user(2),
        content: MessageContent::parse("psst").unwrap(),
        to: Some(user(1)),
        name: Some(name("Ben")),
        seq: Some(1),
        ts: Some(1),
        id: None,
        reply_to: None,
        quote: None,
    });
    assert_eq!(state.alerts.len(), 1);
    assert_eq!(state.alerts[0].title, "Ben");
}

#[test]
fn a_reply_quotes_its_original_held_or_not_and_follows_its_changes() {
    let mut state = connected_as(user(1));
    joined(&mut state, "general");
    let general = Conversation::Room(room("general"));
    let text = |quote: Option<Quoted>| quote.map(|quote| (quote.text, quote.deleted));
    // Held: the original itself, as it is now, as the server quotes it.
    state.apply(history(
        "general",
        vec![posted(50, user(2), "**lunch**?\nsoon")],
    ));
    assert_eq!(
        text(state.quote(&general, 50, None)),
        Some(("lunch?".into(), false))
    );
    // Not held: the quote the server sent with the reply, kept current by
    // the original's changes (which also wait for its page).
    let old = MessageContent::parse("old news").unwrap();
    state.apply(ServerMessage::RoomMessage {
        room: room("general"),
        from: user(2),
        content: MessageContent::parse("yes").unwrap(),
        name: None,
        seq: Some(51),
        ts: Some(1),
        id: None,
        reply_to: Some(7),
        mentions: Vec::new(),
        quote: Some(Box::new(Quoted::of(
            user(3),
            user(3).guest_name(),
            &old,
            false,
        ))),
    });
    assert_eq!(
        text(state.quote(&general, 7, Some(51))),
        Some(("old news".into(), false))
    );
    let edit = change(52, 7, user(3), Change::Edit, Some("> new news"));
    state.apply(live_change("general", edit));
    assert_eq!(
        text(state.quote(&general, 7, Some(51))),
        Some(("new news".into(), false))
    );
    let delete = change(53, 7, user(3), Change::Delete, None);
    state.apply(live_change("general", delete));
    assert_eq!(
        text(state.quote(&general, 7, Some(51))),
        Some((String::new(), true))
    );
    assert_eq!(state.quote(&general, 6, None), None, "nothing to quote");
    // The user's own reply, once acknowledged, quotes what it answered as
    // held then: the original may leave the page later.
    let sent = MessageContent::parse("on my way").unwrap();
    state.compose(general.clone(), sent, id("r-1"), Some(50));
    state.apply(ServerMessage::Ack {
        id: id("r-1"),
        room: Some(room("general")),
        to: None,
        seq: 54,
        ts: 9,
    });
    let (_, extras) = message(&state, 54);
    assert_eq!(
        text(extras.quote.map(|q| *q)),
        Some(("lunch?".into(), false))
    );
}

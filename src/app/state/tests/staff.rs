//! Who may moderate whom, as the client reckons it from a room's staff and
//! `welcome`'s admin flag; and mutes as `moderated` errors tell of them.

use super::*;
use crate::protocol::{Role, RoomInfo, Staff};

fn staffed(state: &mut ChatState, room_name: &str, staff: Vec<Staff>) {
    state.apply(ServerMessage::RoomUpdated {
        room: room(room_name),
        settings: RoomInfo {
            staff,
            ..RoomInfo::default()
        },
    });
}

#[test]
fn only_those_who_stand_higher_may_moderate_and_admins_stand_above_owners() {
    let (me, owner, moderator, member) = (user(1), user(2), user(3), user(4));
    let mut state = connected_as(me);
    joined(&mut state, "town");
    let here = room("town");
    let staff = |role: Role| {
        vec![
            Staff { user: me, role },
            Staff {
                user: owner,
                role: Role::Owner,
            },
            Staff {
                user: moderator,
                role: Role::Moderator,
            },
        ]
    };
    // A member moderates nobody, not even another member.
    staffed(&mut state, "town", staff(Role::Member));
    assert_eq!(state.my_rank(&here), 0);
    assert!(!state.may_moderate(&here, member));
    // A moderator moderates members, not other moderators or owners.
    staffed(&mut state, "town", staff(Role::Moderator));
    assert_eq!(state.my_rank(&here), STAFF);
    assert!(state.may_moderate(&here, member));
    assert!(!state.may_moderate(&here, moderator));
    assert!(!state.may_moderate(&here, owner));
    // An owner moderates moderators, not other owners; nobody themselves.
    staffed(&mut state, "town", staff(Role::Owner));
    assert_eq!(state.my_rank(&here), OWNERS);
    assert!(state.may_moderate(&here, moderator));
    assert!(!state.may_moderate(&here, owner));
    assert!(!state.may_moderate(&here, me));
    // A room the user is not in: nothing.
    assert!(!state.may_moderate(&room("elsewhere"), member));
    // An admin (as `welcome` says) stands above every owner, everywhere.
    staffed(&mut state, "town", staff(Role::Member));
    state.apply(ServerMessage::Welcome {
        user: me,
        name: name("Me"),
        token: "token-1".into(),
        protocol: PROTOCOL_VERSION,
        epoch: Some("e1".into()),
        username: Some("me".into()),
        admin: true,
    });
    assert!(state.may_moderate(&here, owner));
    assert!(state.may_moderate(&room("elsewhere"), member));
    assert!(!state.may_moderate(&here, me));
}

#[test]
fn a_mute_shows_until_it_ends_or_is_lifted_and_other_notices_leave_it() {
    let mut state = connected_as(user(1));
    joined(&mut state, "town");
    let here = room("town");
    let moderated = |muted: Option<bool>, retry_after_ms: Option<u64>| match muted {
        Some(muted) => ServerMessage::mute(room("town"), muted, retry_after_ms, None, "words"),
        None => ServerMessage::room_error(ErrorCode::Moderated, room("town"), "words"),
    };
    assert_eq!(state.muted_in(&here, 0), None);
    // Muted for a minute, told at 1 s on the client's clock.
    state.apply_at(moderated(Some(true), Some(60_000)), 1_000);
    assert_eq!(state.muted_in(&here, 1_000), Some(Some(61_000)));
    assert_eq!(state.muted_in(&here, 60_999), Some(Some(61_000)));
    assert_eq!(state.muted_in(&here, 61_000), None, "over when the time is");
    assert_eq!(state.muted_in(&room("elsewhere"), 1_000), None);
    // Another moderation notice (a deleted message) leaves the mute be.
    state.apply_at(moderated(None, None), 2_000);
    assert_eq!(state.muted_in(&here, 2_000), Some(Some(61_000)));
    // Muted again until lifted: the new mute replaces the old.
    state.apply_at(moderated(Some(true), None), 3_000);
    assert_eq!(state.muted_in(&here, 100_000_000), Some(None));
    assert_eq!(state.notices.len(), 3, "each said in words");
    // Lifted.
    state.apply_at(moderated(Some(false), None), 4_000);
    assert_eq!(state.muted_in(&here, 4_000), None);
}

#[test]
fn put_out_of_a_room_the_user_no_longer_has_it_and_the_next_one_opens() {
    let me = user(1);
    let mut state = connected_as(me);
    joined(&mut state, "first");
    joined(&mut state, "town");
    state.open(Conversation::Room(room("town")));
    // Someone else leaving is news in the room.
    state.apply(ServerMessage::UserLeft {
        room: room("town"),
        user: user(2),
    });
    assert!(state.room(&room("town")).is_some());
    // The user leaving is being put out: the room goes.
    state.apply(ServerMessage::UserLeft {
        room: room("town"),
        user: me,
    });
    assert!(state.room(&room("town")).is_none());
    assert_eq!(state.active, Some(Conversation::Room(room("first"))));
}

#[test]
fn a_refused_join_may_be_asked_again() {
    let mut state = connected_as(user(1));
    let join = ClientMessage::JoinRoom {
        room: room("closed"),
        after: None,
    };
    assert_eq!(state.open_room(room("closed")), Some(join.clone()));
    assert_eq!(state.open_room(room("closed")), None, "one join in flight");
    state.apply(ServerMessage::room_error(
        ErrorCode::Moderated,
        room("closed"),
        "a moderator banned you from 'closed' for 1 hour",
    ));
    // The ban is lifted; the next try goes out.
    assert_eq!(state.open_room(room("closed")), Some(join));
}

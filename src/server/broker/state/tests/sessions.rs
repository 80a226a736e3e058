//! Users and their connections: several tabs as one member, names, renames,
//! typing, the lobby, shutdown.

use super::*;

#[tokio::test]
async fn one_user_on_two_connections_is_one_member_and_gets_direct_messages_on_both() {
    let mut h = Harness::new().await;
    let ana = UserId::new_random();
    let mut tab1 = h.connect_hello(100, Some(ana));
    let mut tab2 = h.connect_hello(100, Some(ana));
    let mut ben = h.connect_hello(100, None);
    h.join(&mut ben, "general").await;
    h.join(&mut tab1, "general").await;
    let frames = h.join(&mut tab2, "general").await;
    assert_eq!(frames[0]["members"].as_array().unwrap().len(), 2);
    assert_eq!(ben.types(), ["user_joined"], "announced once");
    h.send(&tab1, json!({"type": "leave_room", "room": "general"}));
    assert!(ben.received().is_empty(), "still present through tab 2");
    h.handle(Command::Disconnect { conn: tab2.conn });
    h.state.send_waiting_announcements(h.now);
    assert_eq!(ben.types(), ["user_left"]);

    h.send(
        &ben,
        json!({"type": "direct_message", "to": ana.to_string(), "content": "psst", "id": "d-1"}),
    );
    h.settle().await;
    assert_eq!(tab1.types(), ["direct_message"]);
    assert_eq!(ben.types(), ["ack"]);
    h.send(
        &tab1,
        json!({"type": "direct_message", "to": ben.user.to_string(), "content": "yes"}),
    );
    h.settle().await;
    let to_ben = ben.received();
    assert_eq!(to_ben[0]["seq"], 2, "one conversation, numbered in order");
    assert!(
        tab1.received().is_empty(),
        "no echo to the sending connection"
    );
}

#[tokio::test]
async fn a_guests_name_or_one_someone_connected_uses_cannot_be_taken() {
    let mut h = Harness::new().await;
    let mut ana = h.connect_hello(100, None);
    let mut ben = h.connect_hello(100, None);
    h.send(&ana, json!({"type": "set_name", "name": "Ana"}));
    ana.received();
    for taken in ["ana", "ANA", ana.user.guest_name().as_str()] {
        h.send(&ben, json!({"type": "set_name", "name": taken}));
        let refusal = ben.received();
        assert_eq!(
            refusal[0]["code"], "invalid_message",
            "{taken}: {refusal:?}"
        );
    }
    // Ana's old guest name is free again, but reserved for guests.
    let other_guest = ana.user.guest_name();
    h.send(
        &ben,
        json!({"type": "set_name", "name": other_guest.as_str()}),
    );
    assert_eq!(ben.types(), ["error"]);
    // Ben may go back to his own guest name, and take a free one.
    h.send(
        &ben,
        json!({"type": "set_name", "name": ben.user.guest_name().as_str()}),
    );
    assert_eq!(ben.types(), ["user_renamed"]);
    h.send(&ben, json!({"type": "set_name", "name": "Ben"}));
    assert_eq!(ben.types(), ["user_renamed"]);
    // A name left behind is free; someone gone frees theirs.
    let mut cy = h.connect_hello(100, None);
    h.send(&cy, json!({"type": "set_name", "name": "ben"}));
    assert_eq!(cy.types(), ["error"], "Ben holds it");
    h.send(&ben, json!({"type": "set_name", "name": "Benjamin"}));
    assert_eq!(ben.types(), ["user_renamed"]);
    h.send(&cy, json!({"type": "set_name", "name": "ben"}));
    assert_eq!(cy.types(), ["user_renamed"], "Ben left it");
    h.handle(Command::Disconnect { conn: ana.conn });
    h.send(&ben, json!({"type": "set_name", "name": "Ana"}));
    assert_eq!(ben.types(), ["user_renamed"]);

    // Two may hold a name each took while the other was away (Ana is back
    // with her stored name): a third may not take it, and it stays taken
    // while either holds it.
    let mut ana = h.connect(100);
    h.handle(Command::Identify {
        conn: ana.conn,
        user: UserId::new_random(),
        stored_name: Some(DisplayName::parse("Ana").unwrap()),
        welcome: Welcome::default().into(),
    });
    assert_eq!(ana.types(), ["welcome"]);
    h.send(&cy, json!({"type": "set_name", "name": "ana"}));
    assert_eq!(cy.types(), ["error"]);
    h.send(&ana, json!({"type": "set_name", "name": "Ana Lima"}));
    assert_eq!(ana.types(), ["user_renamed"]);
    h.send(&cy, json!({"type": "set_name", "name": "ana"}));
    assert_eq!(cy.types(), ["error"], "Ben still holds it");
}

#[tokio::test]
async fn a_rename_reaches_the_users_rooms_and_other_connections() {
    let mut h = Harness::new().await;
    let ana = UserId::new_random();
    let mut tab1 = h.connect_hello(100, Some(ana));
    let mut tab2 = h.connect_hello(100, Some(ana));
    let mut ben = h.connect_hello(100, None);
    let mut plain = h.connect(100);
    let mut stranger = h.connect_hello(100, None);
    for client in [&mut tab1, &mut ben, &mut plain] {
        h.join(client, "general").await;
    }
    for client in [&mut tab1, &mut tab2, &mut ben, &mut plain] {
        client.received();
    }
    h.send(&tab1, json!({"type": "set_name", "name": " Ana "}));
    let renamed = json!({"type": "user_renamed", "user": ana.to_string(), "name": "Ana"});
    assert_eq!(tab1.received(), std::slice::from_ref(&renamed));
    assert_eq!(tab2.received(), std::slice::from_ref(&renamed));
    assert_eq!(ben.received(), [renamed]);
    assert!(
        plain.received().is_empty(),
        "a new type: hello clients only"
    );
    assert!(stranger.received().is_empty());
    // The new name is on what Ana sends from now on.
    h.say(&tab1, "general", "hi", None).await;
    assert_eq!(ben.received()[0]["name"], "Ana");
}

#[tokio::test]
async fn typing_goes_to_the_rooms_other_hello_members_at_a_bounded_rate() {
    let mut h = Harness::new().await;
    let ana = UserId::new_random();
    let mut tab1 = h.connect_hello(100, Some(ana));
    let mut tab2 = h.connect_hello(100, Some(ana));
    let mut ben = h.connect_hello(100, None);
    let mut plain = h.connect(100);
    let mut elsewhere = h.connect_hello(100, None);
    for client in [&mut tab1, &mut tab2, &mut ben, &mut plain] {
        h.join(client, "general").await;
    }
    h.join(&mut elsewhere, "other").await;
    for client in [&mut tab1, &mut tab2, &mut ben, &mut plain] {
        client.received();
    }
    h.send(&tab1, json!({"type": "typing", "room": "general"}));
    assert_eq!(
        ben.received(),
        [
            json!({"type": "typing", "room": "general", "user": ana.to_string(),
                "name": ana.guest_name().as_str()})
        ]
    );
    assert!(
        tab1.received().is_empty() && tab2.received().is_empty(),
        "not to oneself"
    );
    assert!(
        plain.received().is_empty(),
        "a new type: hello clients only"
    );
    assert!(elsewhere.received().is_empty());
    // Faster than allowed: dropped.
    h.send(&tab1, json!({"type": "typing", "room": "general"}));
    assert!(ben.received().is_empty());
    // Only members may say they type.
    h.send(&elsewhere, json!({"type": "typing", "room": "general"}));
    assert_eq!(elsewhere.received()[0]["code"], "not_a_member");
    assert!(ben.received().is_empty());
}

#[tokio::test]
async fn the_lobby_lists_rooms_by_size_and_is_updated_once_per_tick() {
    let mut h = Harness::new().await;
    let mut watcher = h.connect_hello(100, None);
    let mut ana = h.connect_hello(100, None);
    let mut ben = h.connect_hello(100, None);
    h.join(&mut ana, "small").await;
    h.join(&mut ana, "big").await;
    h.join(&mut ben, "big").await;
    h.state.tick(); // the joins so far are old news
    h.send(&watcher, json!({"type": "list_rooms"}));
    assert_eq!(
        watcher.received(),
        [json!({"type": "rooms", "rooms": [
            {"room": "big", "members": 2}, {"room": "small", "members": 1}]})]
    );
    h.state.tick();
    assert!(watcher.received().is_empty(), "nothing changed since");
    // Two changes, one update.
    h.send(&ben, json!({"type": "join_room", "room": "small"}));
    h.send(&ana, json!({"type": "leave_room", "room": "big"}));
    assert!(watcher.received().is_empty(), "not before the tick");
    h.state.tick();
    assert_eq!(
        watcher.received(),
        [json!({"type": "rooms", "rooms": [
            {"room": "small", "members": 2}, {"room": "big", "members": 1}]})]
    );
    // Watchers only: others hear nothing of the lobby.
    assert!(ana.types().iter().all(|t| t != "rooms"));
}

#[tokio::test]
async fn shutdown_sends_the_notice_then_1012_and_refuses_new_requests() {
    let mut h = Harness::new().await;
    let mut client = h.connect(10);
    h.handle(Command::Shutdown);
    h.send(&client, json!({"type": "join_room", "room": "late"}));
    assert_eq!(
        client.received(),
        [
            json!({"type": "error", "message": "server shutting down", "code": "shutting_down"}),
            json!({"close": 1012}),
        ]
    );
}

#[tokio::test]
async fn a_full_queue_at_shutdown_is_kicked_with_1012_not_1013() {
    let mut h = Harness::new().await;
    let mut client = h.connect(1);
    h.handle(Command::Shutdown);
    assert_eq!(client.frames.try_kicked(), Some(CloseReason::Restarting));
}

#[test]
fn typing_goes_out_at_most_once_per_interval_per_room() {
    let mut gate = TypingGate::default();
    let (a, b) = (RoomName::parse("a").unwrap(), RoomName::parse("b").unwrap());
    let start = Instant::now();
    assert!(gate.pass(&a, start));
    assert!(!gate.pass(&a, start + TYPING_INTERVAL / 2));
    assert!(gate.pass(&b, start), "each room on its own");
    assert!(gate.pass(&a, start + TYPING_INTERVAL));
    gate.forget(&b);
    assert!(
        gate.pass(&b, start + Duration::from_millis(1)),
        "a room left starts afresh"
    );
}

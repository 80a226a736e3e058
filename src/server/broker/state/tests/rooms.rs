//! Joining and leaving rooms: what a joiner is owed, requests held behind a
//! join, the caches, the member lists, slow consumers.

use super::*;

#[tokio::test]
async fn joiners_get_recent_history_or_exactly_what_they_missed() {
    let mut h = Harness::new().await;
    let mut ana = h.connect(100);
    h.join(&mut ana, "general").await;
    for n in 1..=5 {
        h.say(&ana, "general", &n.to_string(), None).await;
    }
    let mut fresh = h.connect_hello(100, None);
    let frames = h.join(&mut fresh, "general").await;
    assert_eq!(frames[0]["type"], "joined");
    let seqs: Vec<_> = frames[1]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].clone())
        .collect();
    assert_eq!(
        seqs,
        [json!(3), json!(4), json!(5)],
        "the last history_on_join"
    );

    let mut resumed = h.connect_hello(100, None);
    h.send(
        &resumed,
        json!({"type": "join_room", "room": "general", "after": 1}),
    );
    let frames = resumed.received();
    let texts: Vec<_> = frames[1]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].clone())
        .collect();
    assert_eq!(texts, [json!("2"), json!("3"), json!("4"), json!("5")]);
    // Up to date: no history frame at all.
    let mut current = h.connect_hello(100, None);
    h.send(
        &current,
        json!({"type": "join_room", "room": "general", "after": 5}),
    );
    assert_eq!(current.types(), ["joined"]);
    // Clients that know only the article get the same latest messages
    // as the article's room_message, oldest first, after joined.
    let mut plain = h.connect(100);
    let frames = h.join(&mut plain, "general").await;
    assert_eq!(frames[0], json!({"type": "joined", "room": "general"}));
    let replayed: Vec<_> = frames[1..]
        .iter()
        .map(|m| (m["type"].clone(), m["room"].clone(), m["content"].clone()))
        .collect();
    let expected: Vec<_> = ["3", "4", "5"]
        .into_iter()
        .map(|text| (json!("room_message"), json!("general"), json!(text)))
        .collect();
    assert_eq!(replayed, expected);
    assert_eq!(frames[1]["from"], ana.user.to_string());
}

#[tokio::test]
async fn the_rooms_caches_stay_within_their_bytes_each_and_together() {
    let budget = 4 * ROOM_CACHE_BYTES;
    let mut h = Harness::with(Retention::default(), budget).await;
    let mut ana = h.connect(100_000);
    let big = "😀".repeat(MessageContent::MAX_CHARS);
    for n in 0..10 {
        h.join(&mut ana, &format!("room-{n}")).await;
    }
    // The probe: every room filled with the largest messages.
    for round in 0..100 {
        for n in 0..10 {
            let room = format!("room-{n}");
            let content = format!("{round}{big}");
            let content: String = content.chars().take(MessageContent::MAX_CHARS).collect();
            h.send(
                &ana,
                json!({"type": "room_message", "room": room, "content": content}),
            );
        }
        h.settle().await;
        ana.received();
    }
    let held: usize = h.state.rooms.values().map(|room| room.recent.bytes()).sum();
    assert_eq!(held, h.state.cached_bytes, "the count is exact");
    assert!(held <= budget, "{held} > {budget}");
    for room in h.state.rooms.values() {
        assert!(room.recent.bytes() <= ROOM_CACHE_BYTES);
    }
    // A joiner still gets the latest messages, as many as are kept.
    let mut ben = h.connect_hello(100, None);
    let frames = h.join(&mut ben, "room-3").await;
    let seqs: Vec<u64> = frames[1]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, [98, 99, 100]);
    // Everyone gone: nothing is held.
    h.handle(Command::Disconnect { conn: ana.conn });
    h.handle(Command::Disconnect { conn: ben.conn });
    assert_eq!(h.state.cached_bytes, 0);
}

#[tokio::test]
async fn requests_sent_behind_a_join_wait_for_it_and_apply_in_order() {
    let mut h = Harness::new().await;
    let mut ana = h.connect(100);
    // The room is not in memory: the join waits for its load, and what
    // Ana sends meanwhile waits with it.
    h.send(&ana, json!({"type": "join_room", "room": "fresh"}));
    for n in 1..=5 {
        let text = format!("message {n}");
        h.send(
            &ana,
            json!({"type": "room_message", "room": "fresh", "content": text}),
        );
    }
    h.send(&ana, json!({"type": "leave_room", "room": "fresh"}));
    h.send(
        &ana,
        json!({"type": "room_message", "room": "fresh", "content": "late"}),
    );
    assert!(
        ana.received().is_empty(),
        "nothing before the room is loaded"
    );
    h.settle().await;
    let frames = ana.received();
    assert_eq!(frames[0], json!({"type": "joined", "room": "fresh"}));
    assert_eq!(
        frames[1],
        json!({"type": "error", "code": "not_a_member", "room": "fresh",
            "message": "join room 'fresh' before posting to it"}),
        "the last one came after the leave"
    );
    // The five were stored in order, before the leave took effect.
    let fresh = Channel::Room(RoomName::parse("fresh").unwrap());
    let texts: Vec<String> = h
        .state
        .config
        .store
        .page(&fresh, None, None, 50)
        .await
        .unwrap()
        .iter()
        .map(|m| m.content.as_str().to_owned())
        .collect();
    assert_eq!(
        texts,
        (1..=5).map(|n| format!("message {n}")).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_join_then_an_immediate_leave_still_gets_its_joined() {
    let mut h = Harness::new().await;
    let mut ana = h.connect(100);
    let mut ben = h.connect(100);
    h.send(&ana, json!({"type": "join_room", "room": "brief"}));
    h.send(&ana, json!({"type": "leave_room", "room": "brief"}));
    h.settle().await;
    assert_eq!(ana.received(), [json!({"type": "joined", "room": "brief"})]);
    // And in a room already in memory.
    h.join(&mut ben, "brief").await;
    h.send(&ana, json!({"type": "join_room", "room": "brief"}));
    h.send(&ana, json!({"type": "leave_room", "room": "brief"}));
    assert_eq!(ana.types(), ["joined"]);
}

#[tokio::test]
async fn past_the_bound_requests_behind_a_join_are_refused_as_busy() {
    let mut h = Harness::new().await;
    let mut ana = h.connect(1000);
    h.send(&ana, json!({"type": "join_room", "room": "fresh"}));
    for n in 0..MAX_HELD + 2 {
        let message = json!({"type": "room_message", "room": "fresh",
            "content": n.to_string(), "id": format!("m-{n}")});
        h.send(&ana, message);
    }
    let refused = ana.received();
    assert_eq!(refused.len(), 2, "{refused:?}");
    assert_eq!(refused[0]["code"], "busy");
    assert_eq!(refused[0]["id"], format!("m-{MAX_HELD}"));
    h.settle().await;
    let frames = ana.received();
    assert_eq!(frames[0]["type"], "joined");
    let delivered = frames
        .iter()
        .filter(|f| f["type"] == "room_message")
        .count();
    assert_eq!(delivered, MAX_HELD);
}

#[tokio::test]
async fn joining_and_leaving_in_a_loop_evicts_nobody_and_tells_nobody() {
    let mut h = Harness::new().await;
    // Members whose queues hold 20 frames.
    let mut members: Vec<Client> = (0..10).map(|_| h.connect(20)).collect();
    for member in &mut members {
        h.join(member, "busy").await;
    }
    h.state.send_waiting_announcements(h.now);
    for member in &mut members {
        member.received();
    }
    let mut attacker = h.connect(100_000);
    for _ in 0..1000 {
        h.send(&attacker, json!({"type": "join_room", "room": "busy"}));
        h.send(&attacker, json!({"type": "leave_room", "room": "busy"}));
    }
    assert_eq!(attacker.types().len(), 1000, "a joined for every join");
    h.state.send_waiting_announcements(h.now);
    h.say(&members[0], "busy", "still here", None).await;
    for member in &mut members {
        assert_eq!(member.frames.try_kicked(), None);
        let types = member.types();
        // At most the first join, which went out at once, and its leave.
        assert!(types.len() <= 3, "{types:?}");
        assert_eq!(types.last().map(String::as_str), Some("room_message"));
    }
}

#[tokio::test]
async fn messages_past_the_retention_age_are_not_served_from_the_cache() {
    let mut h = Harness::with_retention(Retention {
        max_messages: None,
        max_age: Some(std::time::Duration::from_millis(20)),
    })
    .await;
    let mut ana = h.connect(100);
    h.join(&mut ana, "general").await;
    for text in ["old 1", "old 2", "old 3"] {
        h.say(&ana, "general", text, None).await;
    }
    h.now.ms += 40;
    for text in ["new 1", "new 2"] {
        h.say(&ana, "general", text, None).await;
    }
    // Five cached, three past the age: the two fresh ones, though
    // history_on_join (3) would reach back into the old ones.
    let mut ben = h.connect_hello(100, None);
    let frames = h.join(&mut ben, "general").await;
    let history: Vec<_> = frames[1]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(history, ["new 1", "new 2"]);
}

#[tokio::test]
async fn a_room_comes_back_from_the_store_after_everyone_left() {
    let mut h = Harness::new().await;
    let mut ana = h.connect(100);
    h.join(&mut ana, "general").await;
    h.say(&ana, "general", "kept", None).await;
    h.send(&ana, json!({"type": "leave_room", "room": "general"}));
    assert!(h.state.rooms.is_empty(), "an empty room leaves memory");
    let mut ben = h.connect_hello(100, None);
    h.send(&ben, json!({"type": "join_room", "room": "general"}));
    assert!(ben.received().is_empty(), "the join waits for the load");
    h.settle().await;
    let frames = ben.received();
    assert_eq!(frames[0]["type"], "joined");
    assert_eq!(frames[1]["messages"][0]["content"], "kept");
    h.say(&ben, "general", "next", None).await;
    assert_eq!(ben.received()[0]["seq"], 2);
}

#[tokio::test]
async fn a_slow_consumer_is_evicted_and_announced_without_stalling_the_room() {
    let mut h = Harness::new().await;
    let mut fast = h.connect(100);
    let mut slow = h.connect(3);
    h.join(&mut fast, "general").await;
    h.join(&mut slow, "general").await;
    fast.received();
    for n in 0..4 {
        h.say(&fast, "general", &n.to_string(), None).await;
    }
    assert_eq!(slow.frames.try_kicked(), Some(CloseReason::SlowConsumer));
    let fast_saw = fast.received();
    assert_eq!(fast_saw.len(), 5, "{fast_saw:?}");
    assert_eq!(
        fast_saw[4],
        json!({"type": "user_left", "room": "general", "user": slow.user.to_string()})
    );
    // Evicted once: a later disconnect from its reader announces nothing.
    h.handle(Command::Disconnect { conn: slow.conn });
    assert!(fast.received().is_empty());
}

#[tokio::test]
async fn a_storm_of_joins_is_announced_together_in_order_before_what_follows() {
    let mut h = Harness::new().await;
    let mut ana = h.connect(100);
    h.join(&mut ana, "general").await;
    let [mut ben, mut cy, mut dan] = [h.connect(100), h.connect(100), h.connect(100)];
    let name = |client: &Client| client.user.guest_name().as_str().to_owned();
    // The room is loaded: these joins are answered without the store.
    // Ana's own join went out just now, so they wait.
    for client in [&ben, &cy, &dan] {
        h.send(client, json!({"type": "join_room", "room": "general"}));
    }
    assert!(ana.received().is_empty(), "the storm waits");
    for client in [&mut ben, &mut cy, &mut dan] {
        assert_eq!(client.types(), ["joined"]);
    }

    // Anything else sent to the room takes the waiting ones first.
    h.say(&ana, "general", "welcome", None).await;
    let Some(Outbound::Announcements { frames, skip: 0 }) = ana.frames.try_recv() else {
        panic!("the announcements in one queue item");
    };
    let joined: Vec<Value> = frames
        .iter()
        .map(|text| serde_json::from_str(text.as_str()).unwrap())
        .collect();
    let names: Vec<&str> = joined.iter().map(|j| j["name"].as_str().unwrap()).collect();
    assert_eq!(names, [name(&ben), name(&cy), name(&dan)]);
    assert_eq!(ana.types(), ["room_message"]);
    // Each is owed only the joins after its own.
    assert_eq!(ben.types(), ["user_joined", "user_joined", "room_message"]);
    assert_eq!(cy.received()[0]["name"], name(&dan));
    assert_eq!(dan.types(), ["room_message"]);
}

#[tokio::test]
async fn the_member_list_in_joined_is_capped() {
    let mut h = Harness::new().await;
    let mut crowd = Vec::new();
    let mut first = h.connect(2 * MAX_MEMBERS_LISTED);
    h.join(&mut first, "stadium").await;
    // The room is loaded now: later joins are answered at once.
    for _ in 0..MAX_MEMBERS_LISTED + 5 {
        let member = h.connect(2 * MAX_MEMBERS_LISTED);
        h.send(&member, json!({"type": "join_room", "room": "stadium"}));
        crowd.push(member);
    }
    let mut newcomer = h.connect_hello(4, None);
    h.send(&newcomer, json!({"type": "join_room", "room": "stadium"}));
    let joined = newcomer.received().pop().unwrap();
    assert_eq!(
        joined["members"].as_array().unwrap().len(),
        MAX_MEMBERS_LISTED
    );
}

#[tokio::test]
async fn joined_lists_members_with_names_only_for_clients_that_said_hello() {
    let mut h = Harness::new().await;
    let mut plain = h.connect(10);
    h.join(&mut plain, "general").await;
    let mut modern = h.connect_hello(10, None);
    let frames = h.join(&mut modern, "general").await;
    let mut members = [
        json!({"user": plain.user.to_string(), "name": plain.user.guest_name().as_str()}),
        json!({"user": modern.user.to_string(), "name": modern.user.guest_name().as_str()}),
    ];
    members.sort_by_key(|m| m["user"].as_str().unwrap().to_owned());
    // The plain client joined first, so the room is its own.
    let staff = json!([{"user": plain.user.to_string(), "role": "owner"}]);
    assert_eq!(
        frames,
        [json!({
            "type": "joined", "room": "general", "members": members,
            "settings": {"staff": staff},
        })]
    );
    assert_eq!(
        plain.received(),
        [
            json!({"type": "user_joined", "room": "general", "user": modern.user.to_string(),
                "name": modern.user.guest_name().as_str()})
        ]
    );
}

//! Cluster mode's rules: loads that race other nodes' commits, joins whose
//! subscription is late, presence put right from Redis, who counts online.

use super::*;

/// A room's load reads its head, then its latest messages: another node may
/// commit in between, so the messages run past the head. What the bus then
/// brings of those is not delivered a second time.
#[tokio::test]
async fn a_load_whose_messages_run_past_its_head_delivers_each_message_once() {
    let mut h = Harness::new().await;
    let mut ana = h.connect_hello(100, None);
    h.send(&ana, json!({"type": "join_room", "room": "r"}));
    let effects = h.state.take_effects();
    assert!(
        matches!(
            effects[..],
            [
                Effect::Store(Request::LoadRoom { .. }),
                Effect::Rooms { .. }
            ]
        ),
        "the join asks for a load, and the room's settings"
    );
    let room = RoomName::parse("r").unwrap();
    let ben = UserId::new_random();
    let message = |seq: u64| StoredMessage {
        channel: Channel::Room(room.clone()),
        seq,
        ts: 1,
        from: ben,
        name: ben.guest_name(),
        to: None,
        content: MessageContent::parse(format!("m{seq}")).unwrap(),
        client_id: None,
        extra: None,
    };
    let loaded = StoreReport::RoomLoaded {
        room: room.clone(),
        recent: vec![message(1), message(2)],
        head: 1,
    };
    h.state.on_report(loaded, h.now);
    let settings = Some(crate::server::rooms::RoomSettings::default());
    h.handle(Command::Settings {
        room: room.clone(),
        read: 1,
        settings: settings.map(Box::new),
    });
    let published = BusEvent::Published {
        room: room.clone(),
        messages: vec![message(2), message(3)],
    };
    h.handle(Command::Bus(published));
    let mut seqs = Vec::new();
    for frame in ana.received() {
        match frame["type"].as_str() {
            Some("history") => seqs.extend(
                frame["messages"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|m| m["seq"].as_u64().unwrap()),
            ),
            Some("room_message") => seqs.push(frame["seq"].as_u64().unwrap()),
            _ => {}
        }
    }
    assert_eq!(seqs, [1, 2, 3]);
}

/// In a cluster a room is loaded once the bus has subscribed to it; if the
/// bus does not answer (down, or behind), the join is not left waiting.
#[tokio::test]
async fn in_a_cluster_a_join_whose_subscription_never_comes_is_loaded_after_a_while() {
    let mut h = Harness::clustered().await;
    let mut ana = h.connect_hello(100, None);
    h.send(&ana, json!({"type": "join_room", "room": "r"}));
    h.settle().await;
    let asked = h.bus.as_ref().unwrap();
    assert!(
        asked
            .iter()
            .any(|r| matches!(r, BusRequest::Subscribe(room) if room.as_str() == "r")),
        "{asked:?}"
    );
    assert!(
        ana.received().is_empty(),
        "the join waits for its subscription"
    );
    h.now.at += SUBSCRIBE_PATIENCE / 2;
    h.state.fill_gaps(h.now);
    h.settle().await;
    assert!(ana.received().is_empty(), "still within its patience");
    h.now.at += SUBSCRIBE_PATIENCE;
    h.state.fill_gaps(h.now);
    h.settle().await;
    // She is the room's first joiner: it is hers, and `joined` says so.
    let frames = ana.received();
    assert_eq!(frames.len(), 1, "{frames:?}");
    assert_eq!(frames[0]["type"], "joined");
    assert_eq!(
        frames[0]["settings"],
        json!({"staff": [{"user": ana.user.to_string(), "role": "owner"}]})
    );
}

/// Redis's member lists put presence right after verdicts were missed
/// (the bus was cut off): whoever left meanwhile is announced gone, whoever
/// came is announced, this node's own members stay, and a second identical
/// list changes nothing.
#[tokio::test]
async fn in_a_cluster_redis_member_lists_put_missed_arrivals_and_departures_right() {
    let mut h = Harness::clustered().await;
    let mut ana = h.connect_hello(100, None);
    h.send(&ana, json!({"type": "join_room", "room": "r"}));
    h.settle().await;
    let room = RoomName::parse("r").unwrap();
    let (ben, carl, dave) = (
        UserId::new_random(),
        UserId::new_random(),
        UserId::new_random(),
    );
    let subscribed = BusEvent::Subscribed {
        room: room.clone(),
        members: vec![(ben, None), (carl, None)],
    };
    h.handle(Command::Bus(subscribed));
    h.settle().await;
    let joined = ana.received();
    let mut listed: Vec<&str> = joined[0]["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["user"].as_str().unwrap())
        .collect();
    listed.sort_unstable();
    let mut expected = [ana.user, ben, carl].map(|u| u.to_string());
    expected.sort_unstable();
    assert_eq!(listed, expected);

    // Ana's own entry is missing (her arrival failed): she stays.
    let dave_name = DisplayName::parse("dave").unwrap();
    let members = vec![(ben, None), (dave, Some(dave_name.clone()))];
    h.handle(Command::Bus(BusEvent::Members(vec![(
        room.clone(),
        members.clone(),
    )])));
    h.settle().await;
    let frames = ana.received();
    let summary: Vec<(String, String)> = frames
        .iter()
        .map(|f| {
            (
                f["type"].as_str().unwrap().to_owned(),
                f["user"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("user_left".to_owned(), carl.to_string()),
            ("user_joined".to_owned(), dave.to_string())
        ]
    );
    assert_eq!(frames[1]["name"], "dave");
    h.handle(Command::Bus(BusEvent::Members(vec![(room, members)])));
    h.settle().await;
    assert!(ana.received().is_empty(), "nothing changed");
}

/// In a cluster a user is registered online once one of their connections
/// says something (its `hello` or first message), and unregistered when
/// the last such one goes: a connection that says nothing costs Redis
/// nothing, and a `hello` never registers the guest it replaces.
#[tokio::test]
async fn in_a_cluster_a_user_is_online_once_a_connection_speaks() {
    fn online_requests(h: &mut Harness) -> Vec<(bool, UserId)> {
        let asked = std::mem::take(h.bus.as_mut().unwrap());
        asked
            .into_iter()
            .filter_map(|request| match request {
                BusRequest::Arrive {
                    room: None, user, ..
                } => Some((true, user)),
                BusRequest::Depart { room: None, user } => Some((false, user)),
                _ => None,
            })
            .collect()
    }
    let mut h = Harness::clustered().await;
    let quiet = h.connect(10);
    h.settle().await;
    assert_eq!(online_requests(&mut h), [], "silent: not registered");
    h.send(&quiet, json!({"type": "list_rooms"}));
    h.send(&quiet, json!({"type": "list_rooms"}));
    h.settle().await;
    assert_eq!(online_requests(&mut h), [(true, quiet.user)]);

    let ana = h.connect_hello(10, None);
    let second = h.connect_hello(10, Some(ana.user));
    h.settle().await;
    assert_eq!(online_requests(&mut h), [(true, ana.user)], "once per user");
    for conn in [ana.conn, second.conn, quiet.conn] {
        h.handle(Command::Disconnect { conn });
    }
    h.settle().await;
    assert_eq!(
        online_requests(&mut h),
        [(false, ana.user), (false, quiet.user)]
    );
}

//! The broker's rules, driven through its state with an in-memory store.

use serde_json::{Value, json};

use super::*;
use crate::server::outbox::OutboxReceiver;
use crate::server::store::{self, Backend, Memory, Retention, Store};

/// A broker state over an in-memory backend, driven as the broker task
/// drives it, but with no task in between: `settle` carries out what the
/// state asked for (store requests, history reads) in place and applies
/// the store's reports, at the harness's own time.
struct Harness {
    state: BrokerState,
    backend: Arc<dyn Backend>,
    store: Store,
    now: Now,
    next_conn: u64,
    /// Cluster mode: what the state asked of the bus (nothing answers).
    bus: Option<Vec<BusRequest>>,
}

struct Client {
    conn: ConnId,
    user: UserId,
    frames: OutboxReceiver,
}

impl Client {
    fn received(&mut self) -> Vec<Value> {
        let mut out = Vec::new();
        while let Some(frame) = self.frames.try_recv() {
            match frame {
                Outbound::Text(text) => out.push(serde_json::from_str(text.as_str()).unwrap()),
                Outbound::Batch { frames, skip } | Outbound::Announcements { frames, skip } => out
                    .extend(
                        frames[skip..]
                            .iter()
                            .map(|text| serde_json::from_str::<Value>(text.as_str()).unwrap()),
                    ),
                Outbound::Close(reason) => out.push(json!({ "close": reason.code() })),
                Outbound::Binary(_) => panic!("the broker sends text only"),
            }
        }
        out
    }

    fn types(&mut self) -> Vec<String> {
        self.received()
            .iter()
            .map(|frame| frame["type"].as_str().unwrap_or("close").to_owned())
            .collect()
    }
}

impl Harness {
    fn new() -> Self {
        Self::with_retention(Retention::default())
    }

    fn with_retention(retention: Retention) -> Self {
        Self::with(retention, 1 << 30)
    }

    fn with(retention: Retention, cache_max_bytes: usize) -> Self {
        let backend: Arc<dyn Backend> = Arc::new(Memory::new(usize::MAX, "test".into()));
        // Its committer task gets nothing: `settle` carries out the requests.
        let (store, _reports) = Store::start(backend.clone(), retention);
        let config = BrokerConfig {
            store: store.clone(),
            history_on_join: 3,
            cache_max_bytes,
            retention,
            bus: None,
        };
        Self {
            state: BrokerState::new(config),
            backend,
            store,
            now: Now::current(),
            next_conn: 0,
            bus: None,
        }
    }

    /// A node of a cluster whose bus never answers: requests for it are
    /// kept in `bus`.
    fn clustered() -> Self {
        let mut h = Self::new();
        let (sender, _) = tokio::sync::mpsc::channel(1);
        h.state.config.bus = Some(sender);
        h.bus = Some(Vec::new());
        h
    }

    fn handle(&mut self, command: Command) {
        self.state.handle(command, self.now);
    }

    fn connect(&mut self, capacity: usize) -> Client {
        self.next_conn += 1;
        let conn = ConnId(self.next_conn);
        let user = UserId::new_random();
        let (outbox, frames) = Outbox::channel(capacity, 1 << 20);
        self.handle(Command::Connect { conn, user, outbox });
        Client { conn, user, frames }
    }

    /// A connection that said hello as `user` (a new one if `None`).
    fn connect_hello(&mut self, capacity: usize, user: Option<UserId>) -> Client {
        let mut client = self.connect(capacity);
        client.user = user.unwrap_or(client.user);
        self.handle(Command::Identify {
            conn: client.conn,
            user: client.user,
            stored_name: None,
            token: "token".into(),
            token_refused: false,
        });
        assert_eq!(client.types(), ["welcome"]);
        client
    }

    fn send(&mut self, client: &Client, message: Value) {
        let message = serde_json::from_value(message).unwrap();
        self.handle(Command::Client {
            conn: client.conn,
            message,
        });
    }

    /// Carries out everything the state asked for, as the broker task and
    /// the store's committer would, until nothing more is asked; then lets
    /// the announcements' tick pass.
    async fn settle(&mut self) {
        loop {
            let effects = self.state.take_effects();
            if effects.is_empty() {
                break;
            }
            let mut requests = Vec::new();
            for effect in effects {
                match effect {
                    Effect::Store(request) => requests.push(request),
                    Effect::Read(read) => read.run(self.store.clone()).await,
                    Effect::Bus(request) => self
                        .bus
                        .as_mut()
                        .expect("only a node of a cluster asks a bus")
                        .push(request),
                    Effect::Fill { .. } | Effect::Heads(_) => {
                        panic!("the harness's rooms never wait on a gap")
                    }
                }
            }
            for report in store::carry_out(&*self.backend, &mut requests, self.now.ms).await {
                self.state.on_report(report, self.now);
            }
        }
        self.state.send_waiting_announcements(self.now);
    }

    /// Ana said hello, Ben speaks the article's protocol; both are in
    /// `room`, with what their joins brought already read.
    async fn hello_and_article_client_in(&mut self, room: &str) -> (Client, Client) {
        let mut ana = self.connect_hello(100, None);
        let mut ben = self.connect(100);
        self.join(&mut ana, room).await;
        self.join(&mut ben, room).await;
        ana.received();
        (ana, ben)
    }

    async fn join(&mut self, client: &mut Client, room: &str) -> Vec<Value> {
        self.send(client, json!({"type": "join_room", "room": room}));
        self.settle().await;
        client.received()
    }

    async fn say(&mut self, client: &Client, room: &str, text: &str, id: Option<&str>) {
        let mut message = json!({"type": "room_message", "room": room, "content": text});
        if let Some(id) = id {
            message["id"] = json!(id);
        }
        self.send(client, message);
        self.settle().await;
    }
}

#[tokio::test]
async fn when_the_store_stops_waiting_joins_fail_and_everyone_is_told_to_come_back() {
    let mut h = Harness::new();
    let (mut ana, mut ben) = h.hello_and_article_client_in("general").await;
    ben.received();
    // Ana's join of a new room waits for its load, which never comes.
    h.send(&ana, json!({"type": "join_room", "room": "loading"}));
    assert!(ana.received().is_empty());

    h.state.store_stopped();
    let to_ana = ana.received();
    assert_eq!(
        to_ana[0],
        json!({"type": "error", "code": "storage_failed", "room": "loading",
            "message": "the room's history could not be read; join again in a moment"})
    );
    assert_eq!(to_ana[1]["code"], "shutting_down");
    assert_eq!(to_ana[2], json!({"close": 1012}));
    assert_eq!(ben.types(), ["error", "close"]);
    // Nothing more is taken: the server is going away.
    h.send(&ben, json!({"type": "list_rooms"}));
    assert!(ben.received().is_empty());
}

#[tokio::test]
async fn a_message_is_delivered_only_once_stored_then_acknowledged() {
    let mut h = Harness::new();
    let (mut ana, mut ben) = h.hello_and_article_client_in("general").await;
    h.send(
        &ana,
        json!({"type": "room_message", "room": "general", "content": "hi", "id": "m-1"}),
    );
    assert!(ben.received().is_empty(), "not before the store commits");
    h.settle().await;
    let to_ben = ben.received();
    assert_eq!(
        to_ben,
        [
            json!({"type": "room_message", "room": "general", "from": ana.user.to_string(),
                "content": "hi", "name": ana.user.guest_name().as_str(), "seq": 1,
                "ts": to_ben[0]["ts"], "id": "m-1"})
        ]
    );
    let to_ana = ana.received();
    assert_eq!(to_ana[0]["type"], "room_message");
    assert_eq!(
        to_ana[1],
        json!({"type": "ack", "id": "m-1", "room": "general", "seq": 1, "ts": to_ben[0]["ts"]})
    );
    // A resend of the same id: acknowledged again, delivered to nobody.
    h.say(&ana, "general", "hi", Some("m-1")).await;
    assert!(ben.received().is_empty());
    assert_eq!(ana.types(), ["ack"]);
}

#[tokio::test]
async fn joiners_get_recent_history_or_exactly_what_they_missed() {
    let mut h = Harness::new();
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
    let mut h = Harness::with(Retention::default(), budget);
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
    let mut h = Harness::new();
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
    let mut h = Harness::new();
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
    let mut h = Harness::new();
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
    let mut h = Harness::new();
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
    });
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
    let mut h = Harness::new();
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
    let mut h = Harness::new();
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
async fn messages_committed_together_reach_each_member_as_one_item_then_the_acks() {
    let mut h = Harness::new();
    let (mut ana, mut ben) = h.hello_and_article_client_in("general").await;
    for (text, id) in [("one", "m-1"), ("two", "m-2")] {
        let message = json!({"type": "room_message", "room": "general", "content": text, "id": id});
        h.send(&ana, message);
    }
    h.settle().await;
    let Some(Outbound::Batch { frames, skip: 0 }) = ben.frames.try_recv() else {
        panic!("one queue item for both messages");
    };
    let contents: Vec<Value> = frames
        .iter()
        .map(|text| serde_json::from_str::<Value>(text.as_str()).unwrap()["content"].clone())
        .collect();
    assert_eq!(contents, ["one", "two"]);
    assert!(ben.received().is_empty());
    assert_eq!(ana.types(), ["room_message", "room_message", "ack", "ack"]);
}

#[tokio::test]
async fn a_storm_of_joins_is_announced_together_in_order_before_what_follows() {
    let mut h = Harness::new();
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
async fn one_user_on_two_connections_is_one_member_and_gets_direct_messages_on_both() {
    let mut h = Harness::new();
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
    let mut h = Harness::new();
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
        token: "token".into(),
        token_refused: false,
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
    let mut h = Harness::new();
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
    let mut h = Harness::new();
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
    let mut h = Harness::new();
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
    let mut h = Harness::new();
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
    let mut h = Harness::new();
    let mut client = h.connect(1);
    h.handle(Command::Shutdown);
    assert_eq!(client.frames.try_kicked(), Some(CloseReason::Restarting));
}

#[tokio::test]
async fn the_member_list_in_joined_is_capped() {
    let mut h = Harness::new();
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
    let mut h = Harness::new();
    let mut plain = h.connect(10);
    h.join(&mut plain, "general").await;
    let mut modern = h.connect_hello(10, None);
    let frames = h.join(&mut modern, "general").await;
    let mut members = [
        json!({"user": plain.user.to_string(), "name": plain.user.guest_name().as_str()}),
        json!({"user": modern.user.to_string(), "name": modern.user.guest_name().as_str()}),
    ];
    members.sort_by_key(|m| m["user"].as_str().unwrap().to_owned());
    assert_eq!(
        frames,
        [json!({"type": "joined", "room": "general", "members": members})]
    );
    assert_eq!(
        plain.received(),
        [
            json!({"type": "user_joined", "room": "general", "user": modern.user.to_string(),
                "name": modern.user.guest_name().as_str()})
        ]
    );
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

/// A room's load reads its head, then its latest messages: another node may
/// commit in between, so the messages run past the head. What the bus then
/// brings of those is not delivered a second time.
#[tokio::test]
async fn a_load_whose_messages_run_past_its_head_delivers_each_message_once() {
    let mut h = Harness::new();
    let mut ana = h.connect_hello(100, None);
    h.send(&ana, json!({"type": "join_room", "room": "r"}));
    let effects = h.state.take_effects();
    assert!(
        matches!(effects[..], [Effect::Store(Request::LoadRoom { .. })]),
        "the join asks for a load"
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
    };
    let loaded = StoreReport::RoomLoaded {
        room: room.clone(),
        recent: vec![message(1), message(2)],
        head: 1,
    };
    h.state.on_report(loaded, h.now);
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
    let mut h = Harness::clustered();
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
    assert_eq!(ana.types(), ["joined"]);
}

/// Redis's member lists put presence right after verdicts were missed
/// (the bus was cut off): whoever left meanwhile is announced gone, whoever
/// came is announced, this node's own members stay, and a second identical
/// list changes nothing.
#[tokio::test]
async fn in_a_cluster_redis_member_lists_put_missed_arrivals_and_departures_right() {
    let mut h = Harness::clustered();
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

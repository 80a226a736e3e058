//! Cluster mode over real sockets: two or three confab processes (the real
//! binary) on one PostgreSQL and one Redis, all started here on loopback.
//! Each test asserts exact sequences: nothing lost, nothing twice, nothing
//! out of order, whichever node a message was posted on.

mod common;
mod services;

use std::{path::PathBuf, sync::OnceLock, time::Duration};

use common::{Binary, Client, PATIENCE};
use serde_json::{Value, json};
use services::{Postgres, Redis};

/// The HTTP API's key on every node.
const API_KEY: &str = "cluster-api-key-0123456789abcdef012";

/// An HTTP API call to `node`: its status and JSON body.
async fn api(node: &Binary, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let auth = format!("Authorization: Bearer {API_KEY}");
    let body = body.map(|body| body.to_string());
    let (head, text) = common::http_request(
        node.addr.parse().unwrap(),
        method,
        path,
        &[&auth],
        body.as_deref(),
    )
    .await;
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, serde_json::from_str(&text).unwrap())
}

/// One PostgreSQL for the tests that do not stop it; each test takes a
/// fresh database of it.
fn shared_postgres() -> &'static Postgres {
    static SERVER: OnceLock<Postgres> = OnceLock::new();
    SERVER.get_or_init(Postgres::start)
}

/// A PostgreSQL database and a Redis of the test's own, and the nodes'
/// data directories.
struct Cluster {
    database_url: String,
    redis: Redis,
    dirs: Vec<tempfile::TempDir>,
}

impl Cluster {
    fn new() -> Self {
        Self::on(shared_postgres().new_database())
    }

    fn on(database_url: String) -> Self {
        Self {
            database_url,
            redis: Redis::start(),
            dirs: Vec::new(),
        }
    }

    /// Starts one more node.
    fn node(&mut self) -> Binary {
        let redis = self.redis.url();
        self.node_on(redis)
    }

    /// Starts one more node, connecting to Redis as a user of its own,
    /// `user`, so that a test can cut this node off alone
    /// ([`Cluster::cut_off`]).
    fn node_as(&mut self, user: &str) -> Binary {
        self.redis.cli(&[
            "ACL",
            "SETUSER",
            user,
            "on",
            ">secret",
            "allkeys",
            "allchannels",
            "+@all",
        ]);
        let url = format!("redis://{user}:secret@127.0.0.1:{}/", self.redis.port);
        self.node_on(url)
    }

    /// Cuts the nodes of Redis user `user` off (`off`: its connections
    /// are killed and cannot come back), or lets them back.
    fn cut_off(&self, user: &str, off: bool) {
        let state = if off { "off" } else { "on" };
        self.redis.cli(&["ACL", "SETUSER", user, state]);
        if off {
            self.redis.cli(&["CLIENT", "KILL", "USER", user]);
        }
    }

    fn node_on(&mut self, redis: String) -> Binary {
        let dir = tempfile::tempdir().unwrap();
        let path: PathBuf = dir.path().to_owned();
        self.dirs.push(dir);
        Binary::start_with(
            &path,
            &[
                ("CONFAB_STORAGE", "postgres"),
                ("CONFAB_DATABASE_URL", &self.database_url),
                ("CONFAB_REDIS_URL", &redis),
                ("CONFAB_API_KEYS", API_KEY),
            ],
        )
    }
}

/// Waits until `node`'s `/readyz` says `ready` (200) or not (503); the
/// body it said it with.
async fn until_ready(node: &Binary, ready: bool) -> String {
    let want = if ready { "200" } else { "503" };
    let deadline = tokio::time::Instant::now() + PATIENCE * 2;
    loop {
        let (status, body) = common::http_get(node.addr.parse().unwrap(), "/readyz").await;
        if status.contains(want) {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "/readyz still says {status}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A `hello` client of `node` that has joined `room` (what the join
/// brought is read).
async fn member(node: &Binary, room: &str) -> Client {
    let mut client = node.connect_with_hello().await;
    client.join(room).await;
    client
}

/// The next `count` room messages `client` receives (other frames are
/// skipped), as (seq, content).
async fn room_messages(client: &mut Client, count: usize) -> Vec<(u64, String)> {
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        let frame = client.recv_type("room_message").await;
        out.push(message_of(&frame));
    }
    out
}

fn message_of(frame: &Value) -> (u64, String) {
    (
        frame["seq"].as_u64().expect("a stored message has a seq"),
        frame["content"].as_str().unwrap().to_owned(),
    )
}

/// Sends `content` and, to prove nothing more was on its way, checks it is
/// the very next room message each of `members` receives.
async fn nothing_more_before(poster: &mut Client, members: &mut [&mut Client], room: &str) {
    poster
        .send(json!({"type": "room_message", "room": room, "content": "the end"}))
        .await;
    for member in members.iter_mut() {
        let (_, content) = message_of(&member.recv_type("room_message").await);
        assert_eq!(content, "the end", "a message came twice or late");
    }
}

/// A node that cannot reach PostgreSQL or Redis when it starts exits at
/// once, before it listens, saying which setting to look at.
#[test]
fn a_node_that_cannot_reach_its_engines_exits_naming_the_setting() {
    let closed = services::free_port();
    let nowhere_pg = format!("postgres://confab@127.0.0.1:{closed}/confab");
    let nowhere_redis = format!("redis://127.0.0.1:{closed}/");
    let database = shared_postgres().new_database();
    for (database, redis, named) in [
        (nowhere_pg.as_str(), None, "database_url"),
        (database.as_str(), Some(nowhere_redis.as_str()), "redis_url"),
    ] {
        let data = tempfile::tempdir().unwrap();
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_confab"));
        command
            .env("CONFAB_CONFIG", "/nonexistent/use-the-defaults.toml")
            .env("CONFAB_SITE_ADDR", "127.0.0.1:0")
            .env("CONFAB_DATA_DIR", data.path())
            .env("CONFAB_STORAGE", "postgres")
            .env("CONFAB_DATABASE_URL", database)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        if let Some(redis) = redis {
            command.env("CONFAB_REDIS_URL", redis);
        }
        let mut child = command.spawn().unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while child.try_wait().unwrap().is_none() {
            if std::time::Instant::now() > deadline {
                child.kill().unwrap();
                panic!("the node kept running without {named}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let output = child.wait_with_output().unwrap();
        assert!(!output.status.success());
        let said = String::from_utf8_lossy(&output.stderr).into_owned()
            + &String::from_utf8_lossy(&output.stdout);
        assert!(said.contains(named), "{said}");
        assert!(!said.contains(confab::server::process::LISTENING), "{said}");
    }
}

#[tokio::test]
async fn a_message_posted_on_one_node_reaches_members_on_the_other() {
    let mut cluster = Cluster::new();
    let (a, b) = (cluster.node(), cluster.node());
    let mut ana = member(&a, "general").await;
    let mut ben = member(&b, "general").await;
    let seq = ana.say_acked("general", "hello from a", "m-1").await;
    assert_eq!(seq, 1);
    assert_eq!(
        room_messages(&mut ben, 1).await,
        [(1, "hello from a".to_owned())]
    );
    ben.say("general", "hello from b").await;
    // Ana's own message came back to her before its ack.
    assert_eq!(
        room_messages(&mut ana, 1).await,
        [(2, "hello from b".to_owned())]
    );
    // Each node published its message, and timed the other's arrival.
    for node in [&a, &b] {
        let (text, samples) = common::scrape(&node.addr).await;
        assert!(samples["confab_bus_publishes_total"] >= 1.0, "{text}");
        assert!(samples["confab_bus_lag_seconds_count"] >= 1.0, "{text}");
    }
    // Nothing went wrong on the way, even if it was put right.
    a.assert_calm();
    b.assert_calm();
}

/// Two nodes take messages for one room at once, pipelined: every member
/// on either node sees the same numbers 1..=N, in order, each once, and
/// each sender's messages keep the order it sent them in.
#[tokio::test]
async fn two_nodes_posting_at_once_give_every_member_one_gapless_order() {
    const EACH: usize = 150;
    let mut cluster = Cluster::new();
    let (a, b) = (cluster.node(), cluster.node());
    let mut ana = member(&a, "race").await;
    let mut ben = member(&b, "race").await;
    let mut watcher_a = member(&a, "race").await;
    let mut watcher_b = member(&b, "race").await;
    for n in 0..EACH {
        ana.send(json!({"type": "room_message", "room": "race", "content": format!("a{n}")}))
            .await;
        ben.send(json!({"type": "room_message", "room": "race", "content": format!("b{n}")}))
            .await;
    }
    let mut seen = Vec::new();
    for client in [&mut ana, &mut ben, &mut watcher_a, &mut watcher_b] {
        seen.push(room_messages(client, 2 * EACH).await);
    }
    let expected: Vec<u64> = (1..=(2 * EACH) as u64).collect();
    for messages in &seen {
        let seqs: Vec<u64> = messages.iter().map(|(seq, _)| *seq).collect();
        assert_eq!(seqs, expected, "every member sees one gapless order");
        assert_eq!(messages, &seen[0], "the same order on both nodes");
    }
    for sender in ["a", "b"] {
        let sent: Vec<String> = seen[0]
            .iter()
            .map(|(_, content)| content.clone())
            .filter(|content| content.starts_with(sender))
            .collect();
        let expected: Vec<String> = (0..EACH).map(|n| format!("{sender}{n}")).collect();
        assert_eq!(sent, expected, "{sender}'s messages in the order sent");
    }
    nothing_more_before(
        &mut ana,
        &mut [&mut ben, &mut watcher_a, &mut watcher_b],
        "race",
    )
    .await;
    // Nothing went wrong on the way, even if it was put right.
    a.assert_calm();
    b.assert_calm();
}

#[tokio::test]
async fn a_resend_to_the_other_node_is_answered_with_the_original() {
    let mut cluster = Cluster::new();
    let (a, b) = (cluster.node(), cluster.node());
    let mut watcher = member(&b, "general").await;
    let (mut ana, welcome, _) = Client::connect_with_token(&a.ws_url(), None).await;
    let token = welcome["token"].as_str().unwrap().to_owned();
    ana.join("general").await;
    assert_eq!(ana.say_acked("general", "once", "m-1").await, 1);
    // The connection drops before the ack arrives, as far as the client
    // knows: it resends through the other node, as the same user.
    drop(ana);
    let (mut again, welcome, refused) = Client::connect_with_token(&b.ws_url(), Some(&token)).await;
    assert!(refused.is_none(), "the token verifies on the other node");
    assert_eq!(welcome["token"], token.as_str());
    again.join("general").await;
    assert_eq!(again.say_acked("general", "once", "m-1").await, 1);
    assert_eq!(again.say_acked("general", "next", "m-2").await, 2);
    assert_eq!(
        room_messages(&mut watcher, 2).await,
        [(1, "once".to_owned()), (2, "next".to_owned())]
    );
    // Nothing went wrong on the way, even if it was put right.
    a.assert_calm();
    b.assert_calm();
}

/// Node A dies (SIGKILL) while others keep posting on node B; A's client
/// resumes on B with its token and the last number it saw, and gets
/// exactly what it missed, in order, once.
#[tokio::test]
async fn a_client_resumes_on_another_node_after_its_node_is_killed() {
    let mut cluster = Cluster::new();
    let (a, b) = (cluster.node(), cluster.node());
    let (mut ana, welcome, _) = Client::connect_with_token(&a.ws_url(), None).await;
    let token = welcome["token"].as_str().unwrap().to_owned();
    ana.join("general").await;
    let mut ben = member(&b, "general").await;
    for n in 1..=3 {
        ben.say("general", &format!("before {n}")).await;
    }
    let seen = room_messages(&mut ana, 3).await;
    assert_eq!(seen.last().unwrap().0, 3);
    // Acknowledged on A, which dies at once: the message is not lost.
    assert_eq!(ana.say_acked("general", "last words", "lw").await, 4);
    a.kill_9();
    assert_eq!(
        room_messages(&mut ben, 4).await.last(),
        Some(&(4, "last words".to_owned()))
    );
    for n in 1..=5 {
        ben.say_acked("general", &format!("while away {n}"), &format!("w{n}"))
            .await;
    }
    let (mut back, _, refused) = Client::connect_with_token(&b.ws_url(), Some(&token)).await;
    assert!(refused.is_none());
    assert_eq!(back.id(), welcome["user"].as_str().unwrap());
    back.send(json!({"type": "join_room", "room": "general", "after": 4}))
        .await;
    back.recv_type("joined").await;
    let history = back.recv_type("history").await;
    let missed: Vec<(u64, String)> = history["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(message_of)
        .collect();
    let expected: Vec<(u64, String)> = (1..=5)
        .map(|n| (4 + n, format!("while away {n}")))
        .collect();
    assert_eq!(missed, expected);
    nothing_more_before(&mut ben, &mut [&mut back], "general").await;
}

/// Redis dies mid-conversation: messages are still stored and acknowledged
/// on each node, and once Redis is back every member catches up from
/// PostgreSQL, in order, with nothing twice.
#[tokio::test]
async fn a_redis_restart_loses_nothing_and_delivery_catches_up() {
    let mut cluster = Cluster::new();
    let (a, b) = (cluster.node(), cluster.node());
    let mut ana = member(&a, "general").await;
    let mut ben = member(&b, "general").await;
    let mut watcher_a = member(&a, "general").await;
    let mut watcher_b = member(&b, "general").await;
    ana.say_acked("general", "before", "m-0").await;
    for watcher in [&mut watcher_a, &mut watcher_b] {
        assert_eq!(room_messages(watcher, 1).await[0].0, 1);
    }
    cluster.redis.kill();
    // Each node notices, and says it is not ready, until Redis is back.
    for node in [&a, &b] {
        let body = until_ready(node, false).await;
        assert!(body.contains("Redis"), "{body}");
    }
    let mut acked = Vec::new();
    for n in 1..=4 {
        acked.push(
            ana.say_acked("general", &format!("a during {n}"), &format!("a{n}"))
                .await,
        );
        acked.push(
            ben.say_acked("general", &format!("b during {n}"), &format!("b{n}"))
                .await,
        );
    }
    let mut sorted = acked.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        (2..=9).collect::<Vec<u64>>(),
        "all stored meanwhile"
    );
    cluster.redis.start_again();
    for watcher in [&mut watcher_a, &mut watcher_b] {
        let seqs: Vec<u64> = room_messages(watcher, 8)
            .await
            .iter()
            .map(|(seq, _)| *seq)
            .collect();
        assert_eq!(seqs, (2..=9).collect::<Vec<u64>>());
    }
    // The bus carries messages again, and the nodes are ready.
    nothing_more_before(&mut ben, &mut [&mut watcher_a, &mut watcher_b], "general").await;
    for node in [&a, &b] {
        until_ready(node, true).await;
    }
}

/// Redis drops the nodes' subscriptions (`CLIENT KILL TYPE pubsub`),
/// again and again during a burst: they come back by themselves, and
/// what was published while one was gone is read from PostgreSQL.
#[tokio::test]
async fn dropped_subscriptions_heal_without_loss() {
    const BURST: u64 = 400;
    let mut cluster = Cluster::new();
    let (a, b) = (cluster.node(), cluster.node());
    let mut ana = member(&a, "general").await;
    let mut ben = member(&b, "general").await;
    let port = cluster.redis.port;
    let killer = std::thread::spawn(move || {
        let mut killed = 0;
        for _ in 0..10 {
            std::thread::sleep(Duration::from_millis(15));
            let output = std::process::Command::new("redis-cli")
                .args(["-p", &port.to_string(), "CLIENT", "KILL", "TYPE", "pubsub"])
                .output()
                .unwrap();
            killed += String::from_utf8_lossy(&output.stdout)
                .trim()
                .parse::<u32>()
                .unwrap_or(0);
        }
        killed
    });
    for n in 1..=BURST {
        ana.send(json!({"type": "room_message", "room": "general", "content": format!("{n}")}))
            .await;
        if n % 50 == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    let seqs: Vec<u64> = room_messages(&mut ben, BURST as usize)
        .await
        .iter()
        .map(|(seq, _)| *seq)
        .collect();
    assert_eq!(seqs, (1..=BURST).collect::<Vec<u64>>());
    assert!(killer.join().unwrap() > 0, "subscriptions were dropped");

    // Dropped, and kept from coming back for a while: Redis takes one
    // client only, so one node reconnects and the other waits. Whichever
    // it is, what is posted meanwhile reaches the other node late (the
    // publisher waits) or never over the bus (the subscriber was gone),
    // and then from PostgreSQL.
    cluster.redis.cli(&["CONFIG", "SET", "maxclients", "1"]);
    cluster.redis.cli(&["CLIENT", "KILL", "TYPE", "pubsub"]);
    for n in 1..=30 {
        ana.send(
            json!({"type": "room_message", "room": "general", "content": format!("away {n}")}),
        )
        .await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    cluster.redis.cli(&["CONFIG", "SET", "maxclients", "1000"]);
    let seqs: Vec<u64> = room_messages(&mut ben, 30)
        .await
        .iter()
        .map(|(seq, _)| *seq)
        .collect();
    assert_eq!(seqs, (BURST + 1..=BURST + 30).collect::<Vec<u64>>());
    nothing_more_before(&mut ana, &mut [&mut ben], "general").await;
}

/// PostgreSQL stops: a send gets `storage_failed` and nothing is
/// acknowledged; once it is back, sends are stored and delivered again,
/// numbered on without a gap.
#[tokio::test]
async fn with_postgres_down_sends_fail_clearly_and_work_again_after() {
    let postgres = tokio::task::spawn_blocking(Postgres::start).await.unwrap();
    let mut cluster = Cluster::on(postgres.url("postgres"));
    let (a, b) = (cluster.node(), cluster.node());
    let mut ana = member(&a, "general").await;
    let mut ben = member(&b, "general").await;
    assert_eq!(ana.say_acked("general", "one", "m-1").await, 1);
    let postgres = tokio::task::spawn_blocking(move || {
        postgres.stop();
        postgres
    })
    .await
    .unwrap();
    ana.send(json!({"type": "room_message", "room": "general", "content": "lost", "id": "m-2"}))
        .await;
    let error = ana.recv_type("error").await;
    assert_eq!(error["code"], "storage_failed", "{error}");
    assert_eq!(error["id"], "m-2");
    for node in [&a, &b] {
        let (status, body) = common::http_get(node.addr.parse().unwrap(), "/readyz").await;
        assert_eq!(status, "HTTP/1.1 503 Service Unavailable", "{body}");
        assert!(body.contains("storage"), "{body}");
    }
    let postgres = tokio::task::spawn_blocking(move || {
        postgres.start_again();
        postgres
    })
    .await
    .unwrap();
    // Ready again once PostgreSQL takes writes, with no message sent to
    // find out (the last commit failed: readiness tries a write).
    until_ready(&a, true).await;
    // The pool reconnects on its own; the client sends again.
    let deadline = tokio::time::Instant::now() + PATIENCE * 4;
    let seq = loop {
        ana.send(json!({"type": "room_message", "room": "general", "content": "two", "id": "m-3"}))
            .await;
        let frame = loop {
            let frame = ana.recv().await;
            if frame["type"] == "ack" || frame["type"] == "error" {
                break frame;
            }
        };
        if frame["type"] == "ack" {
            break frame["seq"].as_u64().unwrap();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "PostgreSQL never came back"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(seq, 2, "no number was spent on the failed send");
    let (status, _) = common::http_get(a.addr.parse().unwrap(), "/readyz").await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    let seen = room_messages(&mut ben, 2).await;
    assert_eq!(seen, [(1, "one".to_owned()), (2, "two".to_owned())]);
    drop(postgres);
}

/// A database that answers but takes no writes (made read-only, as a
/// standby is): a send fails with `storage_failed` and the node is not
/// ready, though every read works; once it takes writes again the node is
/// ready, with no message sent to find out, and sends work.
#[tokio::test]
async fn a_database_that_takes_no_writes_makes_the_node_not_ready_until_it_does() {
    let postgres = shared_postgres();
    let url = postgres.new_database();
    let database = url.rsplit('/').next().unwrap().to_owned();
    let mut cluster = Cluster::on(url);
    let a = cluster.node();
    let mut ana = member(&a, "general").await;
    assert_eq!(ana.say_acked("general", "one", "m-1").await, 1);
    // New sessions are read-only; the node's are ended, so its pools
    // open new ones.
    let read_only = |on: &str| {
        postgres.sql(&format!(
            "ALTER DATABASE {database} SET default_transaction_read_only = {on}"
        ));
        postgres.sql(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{database}'"
        ));
    };
    read_only("on");
    ana.send(json!({"type": "room_message", "room": "general", "content": "refused", "id": "m-2"}))
        .await;
    let error = ana.recv_type("error").await;
    assert_eq!(error["code"], "storage_failed", "{error}");
    let body = until_ready(&a, false).await;
    assert!(body.contains("storage"), "{body}");
    read_only("off");
    until_ready(&a, true).await;
    assert_eq!(ana.say_acked("general", "two", "m-3").await, 2);
}

/// The next frame of `client` other than the room messages, typing and
/// the lobby.
async fn next_announcement(client: &mut Client) -> Value {
    loop {
        let frame = client.recv().await;
        let skipped = ["room_message", "typing", "rooms", "memberships"];
        if !skipped.contains(&frame["type"].as_str().unwrap_or("")) {
            return frame;
        }
    }
}

/// A user with connections on two nodes is one member: announced once
/// when the first arrives anywhere, and gone once when the last leaves.
#[tokio::test]
async fn a_user_on_two_nodes_is_one_member_announced_once() {
    let mut cluster = Cluster::new();
    let (a, b) = (cluster.node(), cluster.node());
    let (mut ana, welcome, _) = Client::connect_with_token(&a.ws_url(), None).await;
    let token = welcome["token"].as_str().unwrap().to_owned();
    ana.join("general").await;
    let (mut ben, _, _) = Client::connect_with_token(&b.ws_url(), None).await;
    let joined = ben.join("general").await;
    let mut members: Vec<String> = joined["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["user"].as_str().unwrap().to_owned())
        .collect();
    if !members.iter().any(|m| m == ana.id()) {
        // Ana's arrival was still on its way to Redis: it comes next.
        let arrived = next_announcement(&mut ben).await;
        assert_eq!(arrived["type"], "user_joined", "{arrived}");
        members.push(arrived["user"].as_str().unwrap().to_owned());
    }
    members.sort_unstable();
    let mut expected = vec![ana.id().to_owned(), ben.id().to_owned()];
    expected.sort_unstable();
    assert_eq!(members, expected, "joined lists the members of every node");
    let arrived = next_announcement(&mut ana).await;
    assert_eq!(arrived["type"], "user_joined");
    assert_eq!(arrived["user"], ben.id());

    // Ana opens a second tab, on Ben's node: nobody hears of it.
    let (mut ana_on_b, _, _) = Client::connect_with_token(&b.ws_url(), Some(&token)).await;
    ana_on_b.join("general").await;
    let (mut cy, _, _) = Client::connect_with_token(&a.ws_url(), None).await;
    cy.join("general").await;
    for client in [&mut ana, &mut ben, &mut ana_on_b] {
        let next = next_announcement(client).await;
        assert_eq!(next["type"], "user_joined", "{next}");
        assert_eq!(
            next["user"],
            cy.id(),
            "Cy's arrival is the next news, not Ana's"
        );
    }

    // Ana's tab on A leaves: she is still in the room, on B.
    ana.send(json!({"type": "leave_room", "room": "general"}))
        .await;
    ben.send(json!({"type": "set_name", "name": "Ben"})).await;
    for client in [&mut cy, &mut ana_on_b] {
        let next = next_announcement(client).await;
        assert_eq!(next["type"], "user_renamed", "{next}");
    }
    // Her last tab leaves: everyone hears it once.
    ana_on_b
        .send(json!({"type": "leave_room", "room": "general"}))
        .await;
    for client in [&mut ben, &mut cy] {
        let mut next = next_announcement(client).await;
        if next["type"] == "user_renamed" {
            next = next_announcement(client).await;
        }
        assert_eq!(next["type"], "user_left", "{next}");
        assert_eq!(next["user"], welcome["user"]);
    }
    ben.send(json!({"type": "set_name", "name": "Ben B"})).await;
    let next = next_announcement(&mut cy).await;
    assert_eq!(next["type"], "user_renamed", "no second user_left: {next}");
    // Nothing went wrong on the way, even if it was put right.
    a.assert_calm();
    b.assert_calm();
}

#[tokio::test]
async fn the_lobby_counts_the_members_of_every_node() {
    let mut cluster = Cluster::new();
    let (a, b) = (cluster.node(), cluster.node());
    let ana = member(&a, "general").await;
    let ben = member(&b, "general").await;
    let cy = member(&b, "other").await;
    let mut watcher = a.connect_with_hello().await;
    watcher.send(json!({"type": "list_rooms"})).await;
    let expected = json!([
        {"room": "general", "members": 2},
        {"room": "other", "members": 1},
    ]);
    let deadline = tokio::time::Instant::now() + PATIENCE * 2;
    loop {
        let rooms = watcher.recv_type("rooms").await;
        if rooms["rooms"] == expected {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "last list: {rooms}");
    }
    // Once everyone has gone, Redis keeps nothing about them: no lobby
    // entry, no presence, no name (guests come and go by the million).
    for client in [ana, ben, cy, watcher] {
        client.close().await;
    }
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let keys = cluster.redis.cli(&["KEYS", "confab:*"]);
        let mut keys: Vec<&str> = keys.lines().collect();
        keys.sort_unstable();
        // The nodes' leases stay, and nothing else.
        if keys == ["confab:nodes"] {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still in Redis: {keys:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Nothing went wrong on the way, even if it was put right.
    a.assert_calm();
    b.assert_calm();
}

/// The next `count` arrivals and departures `client` hears, as (type,
/// user), sorted: for news whose order between users does not matter.
/// Each may take up to a lease and a renewal (six seconds), more on a
/// loaded machine.
async fn presence_news(client: &mut Client, count: usize) -> Vec<(String, String)> {
    let mut news = Vec::new();
    while news.len() < count {
        let frame = client.recv_within(PATIENCE * 3).await;
        if ["room_message", "typing", "rooms"].contains(&frame["type"].as_str().unwrap_or("")) {
            continue;
        }
        let kind = frame["type"].as_str().unwrap().to_owned();
        assert!(kind == "user_joined" || kind == "user_left", "{frame}");
        news.push((kind, frame["user"].as_str().unwrap().to_owned()));
    }
    news.sort();
    news
}

fn news(items: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut news: Vec<(String, String)> = items
        .iter()
        .map(|(kind, user)| ((*kind).to_owned(), (*user).to_owned()))
        .collect();
    news.sort();
    news
}

/// `renamer` takes a new name, and `client`'s next announcement must be
/// that: nothing else was on its way (say, a member flapping).
async fn rename_is_the_next_news(renamer: &mut Client, client: &mut Client, name: &str) {
    renamer
        .send(json!({"type": "set_name", "name": name}))
        .await;
    let next = next_announcement(client).await;
    assert_eq!(next["type"], "user_renamed", "{next}");
    assert_eq!(next["name"], name, "{next}");
}

/// Ana on `a`, Ben and Carl on `b`, all in "general", having heard of each
/// other.
async fn ana_on_one_ben_and_carl_on_the_other(a: &Binary, b: &Binary) -> (Client, Client, Client) {
    let mut ana = member(a, "general").await;
    let mut ben = b.connect_with_hello().await;
    let joined = ben.join("general").await;
    let carl = member(b, "general").await;
    let expected = news(&[("user_joined", ben.id()), ("user_joined", carl.id())]);
    assert_eq!(presence_news(&mut ana, 2).await, expected);
    // Ana's arrival may still have been on its way to Redis when B read
    // the room's members for Ben: then it is news to him, and must be
    // heard now rather than later, in the middle of the test.
    let mut expected = vec![("user_joined", carl.id())];
    let listed = joined["members"].as_array().unwrap();
    if !listed.iter().any(|member| member["user"] == ana.id()) {
        expected.push(("user_joined", ana.id()));
    }
    assert_eq!(
        presence_news(&mut ben, expected.len()).await,
        news(&expected)
    );
    (ana, ben, carl)
}

/// One node's connection to Redis is cut off while, on the other, one
/// member leaves and another arrives: the verdicts are published while
/// the node cannot hear them. Once it is back it reads presence back from
/// Redis, and its members hear who left and who came, once each, and
/// nothing about who stayed.
#[tokio::test]
async fn presence_missed_while_a_node_was_cut_off_is_put_right() {
    let mut cluster = Cluster::new();
    let a = cluster.node_as("node-a");
    let b = cluster.node();
    let (mut ana, mut ben, carl) = ana_on_one_ben_and_carl_on_the_other(&a, &b).await;

    cluster.cut_off("node-a", true);
    until_ready(&a, false).await;
    let carl_id = carl.id().to_owned();
    carl.close().await;
    let dave = member(&b, "general").await;
    let heard = presence_news(&mut ben, 2).await;
    let expected = news(&[("user_joined", dave.id()), ("user_left", &carl_id)]);
    assert_eq!(heard, expected, "B heard the verdicts");
    cluster.cut_off("node-a", false);
    until_ready(&a, true).await;
    assert_eq!(presence_news(&mut ana, 2).await, expected, "A put right");
    rename_is_the_next_news(&mut ben, &mut ana, "Ben").await;
    b.assert_calm();
}

/// Redis restarts empty while, on one node, one member leaves and another
/// arrives: nobody could publish a verdict, and the leaver's entry is
/// gone with the rest. Once Redis is back every node registers its share
/// again and reads presence back: every member hears who left and who
/// came, once each, and nothing about who stayed.
#[tokio::test]
async fn presence_across_a_redis_restart_is_rebuilt_without_flapping() {
    let mut cluster = Cluster::new();
    let (a, b) = (cluster.node(), cluster.node());
    let (mut ana, mut ben, carl) = ana_on_one_ben_and_carl_on_the_other(&a, &b).await;

    cluster.redis.kill();
    until_ready(&a, false).await;
    until_ready(&b, false).await;
    let carl_id = carl.id().to_owned();
    carl.close().await;
    let dave = member(&b, "general").await;
    // An arrival on B is news on B at once. A departure waits for Redis,
    // which alone knows whether the user is still on another node.
    assert_eq!(
        presence_news(&mut ben, 1).await,
        news(&[("user_joined", dave.id())]),
    );
    cluster.redis.start_again();
    for node in [&a, &b] {
        until_ready(node, true).await;
    }
    let expected = news(&[("user_joined", dave.id()), ("user_left", &carl_id)]);
    assert_eq!(presence_news(&mut ana, 2).await, expected, "A put right");
    let expected = news(&[("user_left", &carl_id)]);
    assert_eq!(presence_news(&mut ben, 1).await, expected, "B put right");
    rename_is_the_next_news(&mut ben, &mut ana, "Ben").await;
    // The lobby counts what Redis has again.
    ana.send(json!({"type": "list_rooms"})).await;
    let deadline = tokio::time::Instant::now() + PATIENCE * 2;
    loop {
        let rooms = ana.recv_type("rooms").await;
        if rooms["rooms"] == json!([{"room": "general", "members": 3}]) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "last list: {rooms}");
    }
}

/// A node stalled (SIGSTOP) past its lease is taken for dead: the other
/// node's members hear its users leave. Once it runs again it finds its
/// lease gone and registers everything again: its users are back, and
/// what they say is delivered.
#[tokio::test]
async fn a_node_stalled_past_its_lease_comes_back_with_its_members() {
    let mut cluster = Cluster::new();
    let (a, b) = (cluster.node(), cluster.node());
    let mut ana = member(&a, "general").await;
    let mut ben = member(&b, "general").await;
    assert_eq!(
        presence_news(&mut ana, 1).await,
        news(&[("user_joined", ben.id())])
    );
    b.signal("-STOP");
    let stopped = std::time::Instant::now();
    assert_eq!(
        presence_news(&mut ana, 1).await,
        news(&[("user_left", ben.id())]),
        "taken for dead"
    );
    eprintln!(
        "a stalled node's member was gone after {:?}",
        stopped.elapsed()
    );
    b.signal("-CONT");
    assert_eq!(
        presence_news(&mut ana, 1).await,
        news(&[("user_joined", ben.id())]),
        "back"
    );
    ben.say("general", "still here").await;
    let (_, content) = message_of(&ana.recv_type("room_message").await);
    assert_eq!(content, "still here");
}

/// A node killed with SIGKILL says nothing; its lease runs out, another
/// node sweeps its members out, and the rest of the room hears they left
/// within the bound README gives (six seconds).
#[tokio::test]
async fn a_dead_nodes_members_are_gone_within_the_bound() {
    let mut cluster = Cluster::new();
    let (a, b) = (cluster.node(), cluster.node());
    let ana = member(&a, "general").await;
    let mut ben = member(&b, "general").await;
    let ana_id = ana.id().to_owned();
    let killed = std::time::Instant::now();
    a.kill_9();
    let left = loop {
        let frame = ben.recv_within(Duration::from_secs(10)).await;
        if frame["type"] == "user_left" && frame["user"] == ana_id.as_str() {
            break killed.elapsed();
        }
    };
    // The bound is six seconds; two more for a loaded machine.
    assert!(left < Duration::from_secs(8), "gone after {left:?}");
    eprintln!("a dead node's member was gone after {left:?}");
    drop(ana);
}

#[tokio::test]
async fn direct_messages_reach_every_tab_on_every_node() {
    let mut cluster = Cluster::new();
    let (a, b) = (cluster.node(), cluster.node());
    let (mut ana, ana_welcome, _) = Client::connect_with_token(&a.ws_url(), None).await;
    let (mut ana_on_b, _, _) =
        Client::connect_with_token(&b.ws_url(), ana_welcome["token"].as_str()).await;
    let (mut ben, ben_welcome, _) = Client::connect_with_token(&b.ws_url(), None).await;
    let (mut ben_on_a, _, _) =
        Client::connect_with_token(&a.ws_url(), ben_welcome["token"].as_str()).await;
    let ben_id = ben.id().to_owned();
    // The other node hears Ben is online within a moment.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        ana.send(json!({"type": "direct_message", "to": ben_id, "content": "hi ben", "id": "d-1"}))
            .await;
        let frame = loop {
            let frame = ana.recv().await;
            if ["ack", "error"].contains(&frame["type"].as_str().unwrap()) {
                break frame;
            }
        };
        if frame["type"] == "ack" {
            assert_eq!(frame["seq"], 1);
            break;
        }
        assert_eq!(frame["code"], "unknown_user");
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for client in [&mut ben, &mut ben_on_a, &mut ana_on_b] {
        let dm = client.recv_type("direct_message").await;
        assert_eq!(dm["content"], "hi ben");
        assert_eq!(dm["seq"], 1);
    }
    ben.send(json!({"type": "direct_message", "to": ana.id(), "content": "hi ana"}))
        .await;
    for client in [&mut ana, &mut ana_on_b, &mut ben_on_a] {
        let dm = client.recv_type("direct_message").await;
        assert_eq!(
            (dm["content"].as_str(), dm["seq"].as_u64()),
            (Some("hi ana"), Some(2))
        );
    }
    // Someone connected nowhere is refused, as on one node.
    let nobody = "67e55044-10b1-426f-9247-bb680e5fe0c8";
    ana.send(json!({"type": "direct_message", "to": nobody, "content": "hello?"}))
        .await;
    assert_eq!(ana.recv_type("error").await["code"], "unknown_user");
    // Nothing went wrong on the way, even if it was put right.
    a.assert_calm();
    b.assert_calm();
}

#[tokio::test]
async fn typing_and_renames_reach_the_other_node() {
    let mut cluster = Cluster::new();
    let (a, b) = (cluster.node(), cluster.node());
    let mut ana = member(&a, "general").await;
    let mut ben = member(&b, "general").await;
    ana.send(json!({"type": "typing", "room": "general"})).await;
    let typing = ben.recv_type("typing").await;
    assert_eq!(typing["user"], ana.id());
    ana.send(json!({"type": "set_name", "name": "Ana Lima"}))
        .await;
    let renamed = ben.recv_type("user_renamed").await;
    assert_eq!(
        (renamed["user"].as_str(), renamed["name"].as_str()),
        (Some(ana.id()), Some("Ana Lima"))
    );
    // A later joiner on the other node sees the new name in the list.
    let mut cy = b.connect_with_hello().await;
    let joined = cy.join("general").await;
    let listed = joined["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["user"] == ana.id())
        .cloned()
        .unwrap();
    assert_eq!(listed["name"], "Ana Lima");
    // Nothing went wrong on the way, even if it was put right.
    a.assert_calm();
    b.assert_calm();
}

/// The HTTP API through either node: a bot's post on one reaches members
/// on the other and is idempotent across nodes; rooms and members count
/// every node (members read from Redis where the asked node has nobody);
/// a disconnect on one node closes the user's connections on the other.
#[tokio::test]
async fn the_http_api_works_the_same_through_either_node() {
    let mut cluster = Cluster::new();
    let (a, b) = (cluster.node(), cluster.node());
    let (mut ben, welcome, _) = Client::connect_with_token(&b.ws_url(), None).await;
    let ben_id = welcome["user"].as_str().unwrap().to_owned();
    ben.join("general").await;

    let post = json!({"bot": "ci", "name": "CI", "content": "build 7 passed", "id": "build-7"});
    let (status, stored) = api(
        &a,
        "POST",
        "/api/rooms/general/messages",
        Some(post.clone()),
    )
    .await;
    assert_eq!(status, 201, "{stored}");
    let seen = ben.recv_type("room_message").await;
    assert_eq!(message_of(&seen), (1, "build 7 passed".to_owned()));
    assert_eq!(seen["name"], "CI");
    let (status, again) = api(&b, "POST", "/api/rooms/general/messages", Some(post)).await;
    assert_eq!((status, again["seq"].as_u64()), (200, Some(1)));

    // Node A has nobody in the room: its answers come from every node.
    let (status, members) = api(&a, "GET", "/api/rooms/general/members", None).await;
    assert_eq!(status, 200);
    assert_eq!(members["members"][0]["user"], ben_id.as_str());
    let deadline = tokio::time::Instant::now() + PATIENCE * 2;
    loop {
        let (_, rooms) = api(&a, "GET", "/api/rooms", None).await;
        if rooms == json!({"rooms": [{"room": "general", "members": 1}]}) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{rooms}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, page) = api(&a, "GET", "/api/rooms/general/messages", None).await;
    assert_eq!(page["messages"][0]["content"], "build 7 passed");

    // Disconnected through node A, closed on node B.
    let path = format!("/api/users/{ben_id}/connections");
    let (status, _) = api(&a, "DELETE", &path, None).await;
    assert_eq!(status, 200);
    let (_, code, _) = ben.recv_close().await;
    assert_eq!(code, 4001);
    a.assert_calm();
    b.assert_calm();
}

/// Edits, reactions and deletions are checked and numbered in PostgreSQL
/// whichever node takes them, reach the members of every node, and a
/// client resuming on the other node gets those made while it was away.
#[tokio::test]
async fn changes_to_messages_cross_nodes_and_resume_on_either() {
    let mut cluster = Cluster::new();
    let (a, b) = (cluster.node(), cluster.node());
    let (mut ana, welcome, _) = Client::connect_with_token(&a.ws_url(), None).await;
    let token = welcome["token"].as_str().unwrap().to_owned();
    ana.join("general").await;
    let mut ben = member(&b, "general").await;
    assert_eq!(ana.say_acked("general", "helo", "a-1").await, 1);
    room_messages(&mut ben, 1).await;
    let changed = |frame: Value| {
        (
            frame["seq"].as_u64().unwrap(),
            frame["target"].as_u64().unwrap(),
            frame["change"].as_str().unwrap().to_owned(),
        )
    };
    ana.send(json!({"type": "edit_message", "room": "general", "seq": 1, "content": "hello"}))
        .await;
    let edit = ben.recv_type("message_changed").await;
    assert_eq!(edit["content"], "hello");
    assert_eq!(changed(edit), (2, 1, "edit".to_owned()));
    assert_eq!(
        changed(ana.recv_type("message_changed").await),
        (2, 1, "edit".to_owned()),
        "the author hears of it too"
    );
    ben.send(json!({"type": "react", "room": "general", "seq": 1, "emoji": "👍", "on": true}))
        .await;
    assert_eq!(
        changed(ana.recv_type("message_changed").await),
        (3, 1, "react".to_owned())
    );
    // Node B checks Ana's message in PostgreSQL: not Ben's to delete.
    ben.send(json!({"type": "delete_message", "room": "general", "seq": 1}))
        .await;
    assert_eq!(ben.recv_type("error").await["code"], "not_allowed");
    // A reply through node B quotes the original as it is now, on node A.
    ben.send(
        json!({"type": "room_message", "room": "general", "content": "hi!",
                    "reply_to": 1}),
    )
    .await;
    let reply = ana.recv_type("room_message").await;
    assert_eq!(reply["seq"], 4);
    assert_eq!(
        (&reply["quote"]["from"], &reply["quote"]["text"]),
        (&json!(ana.id()), &json!("hello"))
    );

    drop(ana.into_inner());
    ben.recv_type("user_left").await;
    ben.send(json!({"type": "react", "room": "general", "seq": 1, "emoji": "🎉", "on": true}))
        .await;
    ben.recv_type("message_changed").await;
    let seq = ben.say_acked("general", "mine", "b-1").await;
    assert_eq!(seq, 6);
    ben.send(json!({"type": "edit_message", "room": "general", "seq": 6, "content": "mine!"}))
        .await;
    ben.recv_type("message_changed").await;

    let (mut back, _, _) = Client::connect_with_token(&b.ws_url(), Some(&token)).await;
    back.send(json!({"type": "join_room", "room": "general", "after": 3}))
        .await;
    back.recv_type("joined").await;
    let replay = back.recv_type("history").await;
    let messages: Vec<(u64, String)> = replay["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(message_of)
        .collect();
    assert_eq!(messages, [(4, "hi!".to_owned()), (6, "mine!".to_owned())]);
    assert_eq!(
        replay["messages"][0]["quote"]["text"], "hello",
        "from PostgreSQL"
    );
    let changes: Vec<_> = replay["changes"]
        .as_array()
        .unwrap()
        .iter()
        .cloned()
        .map(changed)
        .collect();
    assert_eq!(
        changes,
        [(5, 1, "react".to_owned()), (7, 6, "edit".to_owned())]
    );
    nothing_more_before(&mut ben, &mut [&mut back], "general").await;
    a.assert_calm();
    b.assert_calm();
}

/// Search in cluster mode is PostgreSQL's: what was said through either
/// node is found through either, as it is now, and only where the asker
/// may read.
#[tokio::test]
async fn search_finds_what_either_node_stored_and_nothing_the_asker_may_not_read() {
    let mut cluster = Cluster::new();
    let (a, b) = (cluster.node(), cluster.node());
    let mut ana = member(&a, "general").await;
    let mut ben = member(&b, "general").await;
    let mut carl = member(&b, "secret").await;
    ben.say_acked("general", "Lunch tomorrow at noon?", "b-1")
        .await;
    carl.say_acked("secret", "secret lunch plans", "c-1").await;
    ana.say_acked("general", "lunch sounds good", "a-1").await;
    let search = |query: &str| json!({"type": "search", "query": query});
    let contents = |reply: &Value| -> Vec<String> {
        reply["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["content"].as_str().unwrap().to_owned())
            .collect()
    };
    ana.send(search("lunch")).await;
    let reply = ana.recv_type("search_results").await;
    assert_eq!(
        contents(&reply),
        ["lunch sounds good", "Lunch tomorrow at noon?"]
    );
    assert_eq!(reply["results"][1]["room"], "general");
    // An edit through node B changes what node A finds.
    ben.send(
        json!({"type": "edit_message", "room": "general", "seq": 1, "content": "Dinner at eight?"}),
    )
    .await;
    ben.recv_type("message_changed").await;
    ana.recv_type("message_changed").await;
    ana.send(search("noon")).await;
    assert!(contents(&ana.recv_type("search_results").await).is_empty());
    ana.send(search("DINN eig")).await;
    assert_eq!(
        contents(&ana.recv_type("search_results").await),
        ["Dinner at eight?"]
    );
    // Carl's room is his: neither a search nor naming it finds it.
    ana.send(search("plans")).await;
    assert!(contents(&ana.recv_type("search_results").await).is_empty());
    ana.send(json!({"type": "search", "query": "plans", "room": "secret"}))
        .await;
    assert_eq!(ana.recv_type("error").await["code"], "not_a_member");
    carl.send(search("plans")).await;
    assert_eq!(
        contents(&carl.recv_type("search_results").await),
        ["secret lunch plans"]
    );
    a.assert_calm();
    b.assert_calm();
}

/// An account made through one node signs in through the other, and a
/// session signed out through either is closed and refused on both.
#[tokio::test]
async fn accounts_and_signing_out_hold_on_every_node() {
    let mut cluster = Cluster::new();
    let (a, b) = (cluster.node(), cluster.node());
    let (mut guest, welcome, _) = Client::connect_with_token(&a.ws_url(), None).await;
    guest.join("general").await;
    let guest_token = welcome["token"].as_str().unwrap();
    let body = json!({"username": "fay", "password": "fay's password", "token": guest_token});
    let (status, account) = api(&a, "POST", "/api/accounts", Some(body)).await;
    assert_eq!(status, 201, "{account}");
    // The same name, in capitals, through the other node: taken.
    let body = json!({"username": "FAY", "password": "another password"});
    assert_eq!(api(&b, "POST", "/api/accounts", Some(body)).await.0, 409);
    let body = json!({"username": "fay", "password": "fay's password"});
    let (status, phone) = api(&b, "POST", "/api/sessions", Some(body)).await;
    assert_eq!((status, &phone["user"]), (201, &welcome["user"]));
    let (mut on_b, hello_b, _) =
        Client::connect_with_token(&b.ws_url(), Some(phone["token"].as_str().unwrap())).await;
    assert_eq!(hello_b["username"], "fay");

    // Node B signs out the session connected to node A.
    let path = format!("/api/sessions/{}", account["session"].as_str().unwrap());
    let bearer = format!("Authorization: Bearer {}", phone["token"].as_str().unwrap());
    let (head, _) =
        common::http_request(b.addr.parse().unwrap(), "DELETE", &path, &[&bearer], None).await;
    assert!(head.starts_with("HTTP/1.1 204"), "{head}");
    assert_eq!(guest.recv_close().await.1, 4002);
    assert_eq!(on_b.recv_close().await.1, 4002);
    let (_, again, refusal) = Client::connect_with_token(&a.ws_url(), Some(guest_token)).await;
    assert_eq!(refusal.unwrap()["code"], "invalid_token");
    assert_ne!(again["user"], welcome["user"]);
    let (_, again, refusal) =
        Client::connect_with_token(&a.ws_url(), Some(phone["token"].as_str().unwrap())).await;
    assert_eq!((refusal, &again["user"]), (None, &welcome["user"]));
    a.assert_calm();
    b.assert_calm();
}

/// A room made private through node A is private on node B at once: its
/// members there are told, an outsider there is refused, an invite made
/// on A is used on B, and a membership taken away on A puts its holder
/// out on B.
#[tokio::test]
async fn a_private_room_and_its_invites_hold_on_every_node() {
    let mut cluster = Cluster::new();
    let (a, b) = (cluster.node(), cluster.node());
    let as_user =
        async |node: &Binary, method: &str, path: &str, token: &str, body: Option<Value>| {
            let (status, _, answer) =
                common::call_json(&node.addr, method, path, Some(token), body).await;
            (status, answer)
        };
    let (mut ana, welcome, _) = Client::connect_with_token(&a.ws_url(), None).await;
    let ana_token = welcome["token"].as_str().unwrap().to_owned();
    ana.join("vault").await;
    let mut carl = member(&b, "vault").await;
    let change = Some(json!({"private": true}));
    let (status, answer) = as_user(&a, "PATCH", "/api/rooms/vault", &ana_token, change).await;
    assert_eq!(status, 200, "{answer}");
    let updated = carl.recv_type("room_updated").await;
    assert_eq!(updated["settings"]["private"], true, "{updated}");

    let (mut dan, welcome, _) = Client::connect_with_token(&b.ws_url(), None).await;
    let dan_token = welcome["token"].as_str().unwrap().to_owned();
    dan.send(json!({"type": "join_room", "room": "vault"}))
        .await;
    assert_eq!(dan.recv_type("error").await["code"], "not_allowed");
    let (status, _) = as_user(&b, "GET", "/api/rooms/vault/messages", &dan_token, None).await;
    assert_eq!(status, 404);

    let invites = "/api/rooms/vault/invites";
    let (status, invite) = as_user(&a, "POST", invites, &ana_token, Some(json!({}))).await;
    assert_eq!(status, 201, "{invite}");
    let accept = format!("/api/invites/{}", invite["code"].as_str().unwrap());
    let (status, answer) = as_user(&b, "POST", &accept, &dan_token, None).await;
    assert_eq!(status, 200, "{answer}");
    dan.join("vault").await;
    ana.say_acked("vault", "for members", "v-1").await;
    // Carl, in the room on B when it became private, stays a member.
    for client in [&mut dan, &mut carl] {
        let message = client.recv_type_of(&["room_message", "error"]).await;
        assert_eq!(message["content"], "for members", "{message}");
    }

    let path = format!("/api/rooms/vault/roles/{}", dan.id());
    let (status, _) = as_user(&a, "DELETE", &path, &ana_token, None).await;
    assert_eq!(status, 204);
    let out = dan.recv_type("error").await;
    assert_eq!(
        (&out["code"], &out["room"]),
        (&json!("not_allowed"), &json!("vault"))
    );
}

/// A private room is left out of the lobby of every node, not only of the
/// nodes that have it in memory.
#[tokio::test]
async fn private_rooms_are_left_out_of_every_nodes_lobby() {
    let mut cluster = Cluster::new();
    let (a, b) = (cluster.node(), cluster.node());
    let (mut ana, welcome, _) = Client::connect_with_token(&a.ws_url(), None).await;
    let token = welcome["token"].as_str().unwrap().to_owned();
    ana.join("hideout").await;
    let mut watcher = b.connect_with_hello().await;
    watcher.send(json!({"type": "list_rooms"})).await;
    let listed = |rooms: &Value, name: &str| {
        rooms["rooms"]
            .as_array()
            .unwrap()
            .iter()
            .any(|room| room["room"] == name)
    };
    let deadline = tokio::time::Instant::now() + PATIENCE * 3;
    while !listed(&watcher.recv_type("rooms").await, "hideout") {
        assert!(
            tokio::time::Instant::now() < deadline,
            "B's lobby never listed it"
        );
    }
    let change = Some(json!({"private": true}));
    let (status, _, answer) =
        common::call_json(&a.addr, "PATCH", "/api/rooms/hideout", Some(&token), change).await;
    assert_eq!(status, 200, "{answer}");
    // Joined after the room went private: once B's lobby lists it, B's
    // lobby is read from after the change.
    let _later = member(&a, "later").await;
    loop {
        let rooms = watcher.recv_type("rooms").await;
        if listed(&rooms, "later") {
            assert!(!listed(&rooms, "hideout"), "{rooms}");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline + PATIENCE * 3,
            "{rooms}"
        );
    }
}

/// A ban through node A holds on node B: the user there is put out and
/// told why, and cannot come back through B; a mute through A stops their
/// posts on B.
#[tokio::test]
async fn a_ban_or_mute_on_one_node_holds_on_the_other() {
    let mut cluster = Cluster::new();
    let (a, b) = (cluster.node(), cluster.node());
    let (mut ana, welcome, _) = Client::connect_with_token(&a.ws_url(), None).await;
    let token = welcome["token"].as_str().unwrap().to_owned();
    ana.join("square").await;
    let mut sam = member(&b, "square").await;
    let mut carl = member(&b, "square").await;
    let moderate = async |body: Value| {
        let path = "/api/rooms/square/moderation";
        let (status, _, answer) =
            common::call_json(&a.addr, "POST", path, Some(&token), Some(body)).await;
        assert_eq!(status, 204, "{answer}");
    };
    moderate(json!({"action": "mute", "user": sam.id(), "reason": "shouting"})).await;
    let told = sam.recv_type("error").await;
    assert_eq!(told["code"], "moderated", "{told}");
    sam.send(json!({"type": "room_message", "room": "square", "content": "LOUD", "id": "l-1"}))
        .await;
    let refused = sam.recv_type("error").await;
    assert_eq!(
        (&refused["code"], &refused["id"]),
        (&json!("moderated"), &json!("l-1"))
    );

    moderate(json!({"action": "ban", "user": sam.id(), "reason": "still shouting"})).await;
    let told = sam.recv_type("error").await;
    assert_eq!(told["code"], "moderated", "{told}");
    assert!(
        told["message"].as_str().unwrap().contains("banned"),
        "{told}"
    );
    sam.send(json!({"type": "join_room", "room": "square"}))
        .await;
    let refused = sam.recv_type("error").await;
    assert_eq!(refused["code"], "moderated", "{refused}");
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("still shouting")
    );
    // Carl, a guest at Sam's address, was in the room before the ban: he
    // stays. A new guest from there is kept out, on either node, once the
    // node Sam was on has written his address down (moments after the
    // ban: a new guest let in before then is let in).
    for node in [&a, &b] {
        let deadline = tokio::time::Instant::now() + common::PATIENCE;
        loop {
            let (mut fresh, _, _) = Client::connect_with_token(&node.ws_url(), None).await;
            fresh
                .send(json!({"type": "join_room", "room": "square"}))
                .await;
            let answer = fresh.recv_type_of(&["joined", "error"]).await;
            if answer["type"] == "error" {
                assert_eq!(answer["code"], "moderated", "{answer}");
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "never kept out");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    ana.say_acked("square", "quiet now", "q-1").await;
    // Carl, on the same node, hears it: Sam would have heard it with him.
    let heard = carl.recv_type("room_message").await;
    assert_eq!(heard["content"], "quiet now");
    sam.expect_silence(Duration::from_millis(100)).await;
}

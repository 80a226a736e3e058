//! Rate limits, from outside: the real binary over real sockets. A limited
//! client is told (`rate_limited`, with `retry_after_ms`) and keeps its
//! connection; everyone else goes on as if nothing happened; a client that
//! does not wait is closed with 1008; one address cannot open connections
//! without bound; and behind a trusted proxy the forwarded address counts.

mod common;

use std::time::Duration;

use common::{Binary, Client, scrape};
use futures_util::SinkExt;
use serde_json::{Value, json};
use tokio_tungstenite::{
    connect_async,
    tungstenite::{self, Message, client::IntoClientRequest},
};

fn start(settings: &[(&str, &str)]) -> (Binary, tempfile::TempDir) {
    let data = tempfile::tempdir().unwrap();
    (Binary::start_with(data.path(), settings), data)
}

fn message(room: &str, id: &str) -> Value {
    json!({"type": "room_message", "room": room, "content": format!("text of {id}"), "id": id})
}

/// Sends every frame in one write, so they arrive together.
async fn pipeline(client: Client, frames: &[Value]) -> Client {
    let mut socket = client.into_inner();
    for frame in frames {
        socket.feed(Message::text(frame.to_string())).await.unwrap();
    }
    socket.flush().await.unwrap();
    Client::from_socket(socket)
}

fn assert_rate_limited(error: &Value) -> u64 {
    assert_eq!(error["type"], "error", "{error}");
    assert_eq!(error["code"], "rate_limited", "{error}");
    assert!(
        error["message"].as_str().unwrap().starts_with("slow down"),
        "{error}"
    );
    let wait = error["retry_after_ms"].as_u64().expect("a wait");
    assert!((1..=60_000).contains(&wait), "{error}");
    wait
}

#[tokio::test]
async fn a_sender_past_its_limit_is_told_to_wait_keeps_its_connection_and_loses_nothing() {
    let (server, _data) = start(&[("CONFAB_RATE_LIMITS__MESSAGES", "3/3s")]);
    let (ana, mut bo) = common::two_members_of(&server.ws_url(), "general").await;
    let ids = ["m-1", "m-2", "m-3", "m-4", "m-5"];
    let frames: Vec<Value> = ids.iter().map(|id| message("general", id)).collect();
    let mut ana = pipeline(ana, &frames).await;

    // Three stored, two refused: each refusal names its message and room.
    let mut held = Vec::new();
    let mut wait = 0;
    for _ in 0..5 {
        let frame = ana.recv_type_of(&["ack", "error"]).await;
        if frame["type"] == "error" {
            wait = assert_rate_limited(&frame);
            assert_eq!(frame["room"], "general");
            held.push(frame["id"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(held, ["m-4", "m-5"]);
    assert!(wait <= 1_000, "one more each second: {wait}");

    // Bo, in the same room, got what was stored, and is not limited by
    // Ana's sending.
    let mut seen = Vec::new();
    while seen.len() < 3 {
        seen.push(bo.recv_type("room_message").await["id"].clone());
    }
    bo.say_acked("general", "unaffected", "b-1").await;

    // Ana waits as told and sends what she held: everything arrives.
    for id in &held {
        loop {
            tokio::time::sleep(Duration::from_millis(wait)).await;
            ana.send(message("general", id)).await;
            let frame = ana.recv_type_of(&["ack", "error"]).await;
            if frame["type"] == "ack" {
                assert_eq!(frame["id"], id.as_str());
                break;
            }
            wait = assert_rate_limited(&frame);
        }
    }
    while seen.len() < 5 {
        seen.push(bo.recv_type("room_message").await["id"].clone());
    }
    assert_eq!(seen, ids, "once each, in order");

    let (_, samples) = scrape(&server.addr).await;
    let refused = |scope: &str| {
        samples
            .get(&format!(
                "confab_rate_limited_total{{kind=\"message\",scope=\"{scope}\"}}"
            ))
            .copied()
    };
    assert!(refused("connection") >= Some(2.0), "{samples:?}");
    assert_eq!(refused("user"), None);
    assert_eq!(
        samples.get("confab_errors_sent_total{code=\"rate_limited\"}"),
        refused("connection").as_ref()
    );
}

#[tokio::test]
async fn a_user_is_limited_over_all_their_connections_and_nobody_else_is() {
    let (server, _data) = start(&[("CONFAB_RATE_LIMITS__USER_MESSAGES", "4/60s")]);
    let url = server.ws_url();
    let (mut tab1, welcome, _) = Client::connect_with_token(&url, None).await;
    let token = welcome["token"].as_str().unwrap();
    let (mut tab2, _, _) = Client::connect_with_token(&url, Some(token)).await;
    let mut other = server.connect_with_hello().await;
    for client in [&mut tab1, &mut tab2, &mut other] {
        client.join("general").await;
    }
    let mut outcomes = Vec::new();
    for (tab, prefix) in [(&mut tab1, "a"), (&mut tab2, "b")] {
        for n in 0..3 {
            tab.send(message("general", &format!("{prefix}-{n}"))).await;
            outcomes.push(tab.recv_type_of(&["ack", "error"]).await);
        }
    }
    let acked = outcomes.iter().filter(|f| f["type"] == "ack").count();
    assert_eq!(acked, 4, "{outcomes:?}");
    for refusal in outcomes.iter().filter(|f| f["type"] == "error") {
        assert_rate_limited(refusal);
    }
    // Another user posts as usual.
    for n in 0..4 {
        other.say_acked("general", "mine", &format!("o-{n}")).await;
    }
    let (_, samples) = scrape(&server.addr).await;
    assert_eq!(
        samples.get("confab_rate_limited_total{kind=\"message\",scope=\"user\"}"),
        Some(&2.0)
    );
}

/// Typing, joins (and leaves), history requests (and the lobby), renames:
/// each has its own limit, and each refusal leaves the connection usable.
#[tokio::test]
async fn every_kind_of_request_has_its_limit() {
    let (server, _data) = start(&[
        ("CONFAB_RATE_LIMITS__TYPING", "2/60s"),
        ("CONFAB_RATE_LIMITS__JOINS", "2/60s"),
        ("CONFAB_RATE_LIMITS__HISTORY", "2/60s"),
        ("CONFAB_RATE_LIMITS__RENAMES", "2/60s"),
    ]);
    let url = server.ws_url();

    // Joins, from a client that knows only the article.
    let mut article = Client::connect(&url).await;
    for room in ["a", "b", "c"] {
        article
            .send(json!({"type": "join_room", "room": room}))
            .await;
    }
    // The refusal comes straight from the connection, the joins through
    // the broker: in whichever order.
    let replies = article.recv_each_of(&["joined", "error"], 3).await;
    let refusal = replies
        .iter()
        .find(|r| r["type"] == "error")
        .expect("one refused")
        .clone();
    let joined: Vec<&Value> = replies.iter().filter(|r| r["type"] == "joined").collect();
    assert_eq!(joined.len(), 2, "{replies:?}");
    assert_rate_limited(&refusal);
    assert_eq!(refusal["room"], "c");
    assert!(
        refusal["message"].as_str().unwrap().contains("joins"),
        "{refusal}"
    );
    article.say("a", "still connected").await;

    let mut ana = server.connect_with_hello().await;
    let mut bo = server.connect_with_hello().await;
    ana.join("general").await;
    bo.join("general").await;

    // Typing: two pass (the broker forwards the first), the third is refused.
    for _ in 0..3 {
        ana.send(json!({"type": "typing", "room": "general"})).await;
    }
    let refusal = ana.recv_type("error").await;
    assert_rate_limited(&refusal);
    assert_eq!(refusal["room"], "general");
    assert_eq!(bo.recv_type("typing").await["user"], ana.id());

    // History: two pages, then a refusal (the lobby counts as a read too).
    for _ in 0..2 {
        ana.send(json!({"type": "history", "room": "general"}))
            .await;
    }
    ana.send(json!({"type": "list_rooms"})).await;
    let replies = ana.recv_each_of(&["history", "error"], 3).await;
    assert_eq!(replies.iter().filter(|r| r["type"] == "history").count(), 2);
    assert!(
        replies
            .iter()
            .any(|r| r["message"].as_str().is_some_and(|m| m.contains("history")))
    );

    // Renames.
    for name in ["Ana", "Ana B", "Ana C"] {
        ana.send(json!({"type": "set_name", "name": name})).await;
    }
    let replies = ana.recv_each_of(&["user_renamed", "error"], 3).await;
    let names: Vec<&Value> = replies
        .iter()
        .map(|r| &r["name"])
        .filter(|n| !n.is_null())
        .collect();
    assert_eq!(names, ["Ana", "Ana B"]);
    assert!(
        replies
            .iter()
            .any(|r| r["message"].as_str().is_some_and(|m| m.contains("renames")))
    );

    // Still connected, still posting.
    ana.say_acked("general", "all good", "m-1").await;
    let (_, samples) = scrape(&server.addr).await;
    for kind in ["typing", "join", "history", "rename"] {
        let key = format!("confab_rate_limited_total{{kind=\"{kind}\",scope=\"connection\"}}");
        assert_eq!(samples.get(&key), Some(&1.0), "{key}");
    }
}

#[tokio::test]
async fn a_client_that_does_not_wait_is_closed_with_1008_and_the_room_goes_on() {
    let (server, _data) = start(&[
        ("CONFAB_RATE_LIMITS__MESSAGES", "1/60s"),
        ("CONFAB_RATE_LIMITS__REFUSALS", "3/60s"),
    ]);
    let (hammer, mut bo) = common::two_members_of(&server.ws_url(), "general").await;
    let frames: Vec<Value> = (0..8)
        .map(|n| message("general", &format!("h-{n}")))
        .collect();
    let mut hammer = pipeline(hammer, &frames).await;
    let (texts, code, reason) = hammer.recv_close().await;
    assert_eq!(code, 1008, "{reason}");
    assert!(reason.contains("rate limits"), "{reason}");
    let refusals = texts.iter().filter(|t| t["code"] == "rate_limited").count();
    assert_eq!(refusals, 3, "told three times first: {texts:?}");

    // Invalid messages are refusals too.
    let mut garbage = Client::connect(&server.ws_url()).await;
    for _ in 0..4 {
        garbage.send_raw(Message::text("{not json")).await;
    }
    let (texts, code, _) = garbage.recv_close().await;
    assert_eq!(code, 1008);
    assert_eq!(texts.len(), 3, "{texts:?}");

    // So is a `hello` after the first.
    let (mut again, _, _) = Client::connect_with_token(&server.ws_url(), None).await;
    for _ in 0..4 {
        again.send(json!({"type": "hello"})).await;
    }
    let (texts, code, _) = again.recv_close().await;
    assert_eq!(code, 1008);
    assert_eq!(texts.len(), 3, "{texts:?}");

    // Bo saw the one message that passed, and goes on.
    assert_eq!(bo.recv_type("room_message").await["id"], "h-0");
    bo.say_acked("general", "still here", "b-1").await;
    common::until_sample(
        &server.addr,
        "confab_connections_closed_total{how=\"1008\"}",
        3.0,
    )
    .await;
}

/// An upgrade with `X-Forwarded-For`, or the HTTP refusal it got.
async fn upgrade(
    url: &str,
    forwarded: Option<&str>,
) -> Result<Client, tungstenite::http::Response<Option<Vec<u8>>>> {
    let mut request = url.into_client_request().unwrap();
    if let Some(forwarded) = forwarded {
        request
            .headers_mut()
            .insert("x-forwarded-for", forwarded.parse().unwrap());
    }
    match connect_async(request).await {
        Ok((socket, _)) => Ok(Client::from_socket(socket)),
        Err(tungstenite::Error::Http(response)) => Err(*response),
        Err(other) => panic!("expected an upgrade or an HTTP refusal, got {other}"),
    }
}

fn assert_too_many(refusal: tungstenite::http::Response<Option<Vec<u8>>>) -> u64 {
    assert_eq!(refusal.status(), 429);
    refusal.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn one_address_may_not_open_connections_without_bound() {
    let (server, _data) = start(&[
        ("CONFAB_RATE_LIMITS__CONNECTS_PER_IP", "3/60s"),
        ("CONFAB_RATE_LIMITS__OPEN_PER_IP", "2"),
    ]);
    let url = server.ws_url();
    let first = upgrade(&url, None).await.unwrap();
    let _second = upgrade(&url, None).await.unwrap();
    // Two open: the third is refused (and counts as an attempt).
    assert_too_many(upgrade(&url, None).await.err().expect("refused: two open"));
    first.close().await;
    // A place is free, but three attempts in a minute are all it may make.
    let wait = assert_too_many(upgrade(&url, None).await.err().expect("refused: attempts"));
    assert_eq!(wait, 20, "one more attempt every 20 s");
    let (_, samples) = scrape(&server.addr).await;
    assert_eq!(
        samples.get("confab_rate_limited_total{kind=\"open\",scope=\"ip\"}"),
        Some(&1.0)
    );
    assert_eq!(
        samples.get("confab_rate_limited_total{kind=\"connect\",scope=\"ip\"}"),
        Some(&1.0)
    );
}

#[tokio::test]
async fn a_closed_connection_gives_its_place_back() {
    let (server, _data) = start(&[("CONFAB_RATE_LIMITS__OPEN_PER_IP", "1")]);
    let url = server.ws_url();
    let first = upgrade(&url, None).await.unwrap();
    assert_too_many(upgrade(&url, None).await.err().expect("refused: one open"));
    first.close().await;
    let deadline = tokio::time::Instant::now() + common::PATIENCE;
    let mut again = loop {
        match upgrade(&url, None).await {
            Ok(client) => break client,
            Err(refusal) => assert_too_many(refusal),
        };
        assert!(
            tokio::time::Instant::now() < deadline,
            "the place never came back"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    again
        .send(json!({"type": "join_room", "room": "general"}))
        .await;
    assert_eq!(again.recv().await["type"], "joined");
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_counts_apart() {
    let limits = [("CONFAB_RATE_LIMITS__CONNECTS_PER_IP", "2/60s")];
    let mut proxied = limits.to_vec();
    proxied.push(("CONFAB_TRUSTED_PROXIES", "127.0.0.0/8"));
    let (server, _data) = start(&proxied);
    let url = server.ws_url();
    let mut open = Vec::new();
    for _ in 0..2 {
        open.push(upgrade(&url, Some("203.0.113.1")).await.unwrap());
    }
    assert_too_many(
        upgrade(&url, Some("203.0.113.1"))
            .await
            .err()
            .expect("refused"),
    );
    // Another client behind the same proxy; a client's own claim to the
    // left of what the proxy appended proves nothing.
    open.push(
        upgrade(&url, Some("203.0.113.1, 203.0.113.2"))
            .await
            .unwrap(),
    );

    // Without trusted proxies the header is the client's word: ignored.
    let (direct, _data) = start(&limits);
    let url = direct.ws_url();
    open.push(upgrade(&url, Some("203.0.113.1")).await.unwrap());
    open.push(upgrade(&url, Some("203.0.113.2")).await.unwrap());
    assert_too_many(
        upgrade(&url, Some("203.0.113.3"))
            .await
            .err()
            .expect("refused"),
    );
}

/// A client that takes a fresh guest identity on each connection escapes
/// the per-connection and per-user limits, not the per-address one.
#[tokio::test]
async fn a_new_identity_per_connection_is_still_one_client() {
    let (server, _data) = start(&[("CONFAB_RATE_LIMITS__ADDRESS_MESSAGES", "5/60s")]);
    let mut watcher = server.connect_with_hello().await;
    watcher.join("general").await;
    let mut refused = 0;
    for n in 0..4 {
        // Knows only the article: no hello, a new guest each time.
        let mut guest = Client::connect(&server.ws_url()).await;
        guest
            .send(json!({"type": "join_room", "room": "general"}))
            .await;
        assert_eq!(guest.recv().await["type"], "joined");
        for m in 0..3 {
            guest.send(message("general", &format!("g{n}-{m}"))).await;
        }
        // Each of its messages is either delivered to the room (the join
        // replayed earlier guests' first) or refused.
        let own = format!("text of g{n}-");
        let mut outcomes = 0;
        while outcomes < 3 {
            let frame = guest.recv_type_of(&["room_message", "error"]).await;
            if frame["type"] == "error" {
                assert_rate_limited(&frame);
                refused += 1;
                outcomes += 1;
            } else if frame["content"].as_str().unwrap().starts_with(&own) {
                outcomes += 1;
            }
        }
    }
    assert_eq!(refused, 7, "twelve sent, five allowed");
    for _ in 0..5 {
        watcher.recv_type("room_message").await;
    }
    let (_, samples) = scrape(&server.addr).await;
    assert_eq!(
        samples.get("confab_rate_limited_total{kind=\"message\",scope=\"ip\"}"),
        Some(&7.0)
    );
}

//! Full-text search over real sockets, on SQLite (FTS5) and on memory
//! storage: what a user finds is in the rooms their connection is in and
//! their own direct conversations, never anywhere else; the index follows
//! edits and deletions; filters and paging work. (PostgreSQL's search is in
//! `tests/cluster.rs`.)

mod common;

use common::{Client, TestApp, spawn_app, spawn_app_with};
use confab::server::config::Storage;
use serde_json::{Value, json};

/// Searches and returns the results as (where, content), and `more`.
async fn search(client: &mut Client, request: Value) -> (Vec<(String, String)>, bool) {
    let mut request = request;
    request["type"] = json!("search");
    client.send(request).await;
    let reply = client.recv_type_of(&["search_results", "error"]).await;
    assert_eq!(reply["type"], "search_results", "{reply}");
    let found = reply["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|result| {
            let place = match (result.get("room"), result.get("with")) {
                (Some(room), None) => format!("#{}", room.as_str().unwrap()),
                (None, Some(with)) => format!("@{}", with.as_str().unwrap()),
                other => panic!("a result names one place: {other:?}"),
            };
            (place, result["content"].as_str().unwrap().to_owned())
        })
        .collect();
    (found, reply["more"] == true)
}

fn found(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(place, text)| (place.to_string(), text.to_string()))
        .collect()
}

async fn the_rules_of_search(app: &TestApp) {
    let mut ana = app.connect_with_hello().await;
    let mut ben = app.connect_with_hello().await;
    let mut carl = app.connect_with_hello().await;
    let (ben_id, carl_id) = (ben.id().to_owned(), carl.id().to_owned());
    ana.join("general").await;
    ben.join("general").await;
    ana.join("random").await;
    carl.join("secret").await;
    // A few milliseconds apart: results are newest first by server time,
    // and within one millisecond their order is not defined.
    let tick = || tokio::time::sleep(std::time::Duration::from_millis(3));
    ben.say_acked("general", "Lunch tomorrow at noon?", "b-1")
        .await;
    tick().await;
    carl.say_acked("secret", "lunch plans nobody else may read", "c-1")
        .await;
    tick().await;
    ana.say_acked("random", "no lunch for me", "a-1").await;
    tick().await;
    ben.send(json!({"type": "direct_message", "to": ana.id(), "content": "lunch, just us?", "id": "b-2"}))
        .await;
    ben.recv_type("ack").await;
    carl.send(json!({"type": "direct_message", "to": ben_id, "content": "lunch without ana", "id": "c-2"}))
        .await;
    carl.recv_type("ack").await;
    let me_and_ben = format!("@{ben_id}");

    // Newest first, from her rooms and her conversations only.
    let (results, more) = search(&mut ana, json!({"query": "lunch"})).await;
    assert_eq!(
        results,
        found(&[
            (&me_and_ben, "lunch, just us?"),
            ("#random", "no lunch for me"),
            ("#general", "Lunch tomorrow at noon?"),
        ])
    );
    assert!(!more);
    // Every word, each as the start of a word, any case.
    let (results, _) = search(&mut ana, json!({"query": "LUN tom"})).await;
    assert_eq!(results, found(&[("#general", "Lunch tomorrow at noon?")]));
    let (results, _) = search(&mut ana, json!({"query": "unch"})).await;
    assert!(results.is_empty(), "{results:?}");
    // Filters: a room, a conversation, a sender.
    let (results, _) = search(&mut ana, json!({"query": "lunch", "room": "random"})).await;
    assert_eq!(results, found(&[("#random", "no lunch for me")]));
    let (results, _) = search(&mut ana, json!({"query": "lunch", "with": ben_id})).await;
    assert_eq!(results, found(&[(&me_and_ben, "lunch, just us?")]));
    let (results, _) = search(&mut ana, json!({"query": "lunch", "from": ben_id})).await;
    assert_eq!(results.len(), 2, "{results:?}");
    // Nothing of anyone else's: a room she is not in is refused, a
    // conversation she is not part of cannot even be named.
    ana.send(json!({"type": "search", "query": "lunch", "room": "secret"}))
        .await;
    assert_eq!(ana.recv_type("error").await["code"], "not_a_member");
    let (results, _) = search(&mut ana, json!({"query": "lunch", "with": carl_id})).await;
    assert!(results.is_empty(), "{results:?}");
    let (results, _) = search(&mut ana, json!({"query": "plans nobody"})).await;
    assert!(results.is_empty(), "{results:?}");
    // Leaving a room takes it out of her searches.
    ana.send(json!({"type": "leave_room", "room": "random"}))
        .await;
    let ana_id = ana.id().to_owned();
    let (results, _) = search(&mut ana, json!({"query": "lunch", "from": ana_id})).await;
    assert!(results.is_empty(), "{results:?}");

    // The index follows edits and deletions.
    ben.send(
        json!({"type": "edit_message", "room": "general", "seq": 1, "content": "Dinner tomorrow?"}),
    )
    .await;
    ben.recv_type("message_changed").await;
    let (results, _) = search(&mut ben, json!({"query": "noon"})).await;
    assert!(results.is_empty(), "{results:?}");
    let (results, _) = search(&mut ben, json!({"query": "dinner"})).await;
    assert_eq!(results, found(&[("#general", "Dinner tomorrow?")]));
    ben.send(json!({"type": "delete_message", "room": "general", "seq": 1}))
        .await;
    ben.recv_type("message_changed").await;
    let (results, _) = search(&mut ben, json!({"query": "dinner"})).await;
    assert!(results.is_empty(), "{results:?}");

    // What looks like query syntax is words; no words is an error.
    let (results, _) = search(&mut carl, json!({"query": "\"lunch\" OR NEAR(x* -- '"})).await;
    assert!(results.is_empty(), "{results:?}");
    let (results, _) = search(&mut carl, json!({"query": "\"lunch\" plans*"})).await;
    assert_eq!(results.len(), 1, "{results:?}");
    carl.send(json!({"type": "search", "query": "!!! ???"}))
        .await;
    assert_eq!(carl.recv_type("error").await["code"], "invalid_message");

    // The server reads Markdown as the reader sees it: a result's preview
    // is the plain text around the match.
    carl.say_acked(
        "secret",
        "see [the menu](https://food.example/menu) for **pizza**",
        "c-3",
    )
    .await;
    carl.send(json!({"type": "search", "query": "pizza"})).await;
    let reply = carl.recv_type("search_results").await;
    assert_eq!(
        reply["results"][0]["preview"],
        "see the menu (https://food.example/menu) for pizza"
    );
}

async fn paging(app: &TestApp) {
    let mut ana = app.connect_with_hello().await;
    ana.join("log").await;
    for n in 1..=5 {
        ana.say_acked("log", &format!("entry {n}"), &format!("e-{n}"))
            .await;
        // Distinct times, so `before` pages exactly.
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }
    let mut seen = Vec::new();
    let mut before: Option<i64> = None;
    loop {
        let mut request = json!({"type": "search", "query": "entry", "limit": 2});
        if let Some(before) = before {
            request["before"] = json!(before);
        }
        ana.send(request).await;
        let reply = ana.recv_type("search_results").await;
        let results = reply["results"].as_array().unwrap();
        seen.extend(
            results
                .iter()
                .map(|r| r["content"].as_str().unwrap().to_owned()),
        );
        if reply["more"] != true {
            break;
        }
        before = results.last().unwrap()["ts"].as_i64();
    }
    let expected: Vec<String> = (1..=5).rev().map(|n| format!("entry {n}")).collect();
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn search_on_sqlite_finds_only_what_the_asker_may_read() {
    let app = spawn_app().await;
    the_rules_of_search(&app).await;
    paging(&app).await;
}

#[tokio::test]
async fn search_on_memory_storage_follows_the_same_rules() {
    let app = spawn_app_with(|settings| settings.storage = Storage::Memory).await;
    the_rules_of_search(&app).await;
    paging(&app).await;
}

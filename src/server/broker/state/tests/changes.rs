//! Changes to messages and search, as the broker applies them: who hears
//! of a change, who is told of a refusal, what a room's cache shows after
//! changes (quotes included), and where a search may look.

use super::*;

/// Frames of `kind` among what `client` received.
fn of_type(client: &mut Client, kind: &str) -> Vec<Value> {
    client
        .received()
        .into_iter()
        .filter(|frame| frame["type"] == kind)
        .collect()
}

#[tokio::test]
async fn a_change_reaches_hello_members_only_and_a_refusal_only_its_asker() {
    let mut h = Harness::new().await;
    let (mut ana, mut ben) = h.hello_and_article_client_in("general").await;
    let mut carl = h.connect_hello(100, None);
    h.join(&mut carl, "general").await;
    h.say(&ana, "general", "helo", Some("a-1")).await;
    for client in [&mut ana, &mut ben, &mut carl] {
        client.received();
    }
    // Carl may not edit Ana's message: he alone is told.
    h.send(
        &carl,
        json!({"type": "edit_message", "room": "general", "seq": 1, "content": "mine"}),
    );
    h.settle().await;
    let refused = carl.received();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0]["code"], "not_allowed");
    assert!(ana.received().is_empty() && ben.received().is_empty());

    h.send(
        &ana,
        json!({"type": "edit_message", "room": "general", "seq": 1, "content": "hello"}),
    );
    h.settle().await;
    for client in [&mut ana, &mut carl] {
        let changed = of_type(client, "message_changed");
        assert_eq!(changed.len(), 1);
        assert_eq!(
            (
                &changed[0]["seq"],
                &changed[0]["target"],
                &changed[0]["content"]
            ),
            (&json!(2), &json!(1), &json!("hello"))
        );
    }
    assert!(ben.received().is_empty(), "the article has no changes");
}

#[tokio::test]
async fn a_join_after_changes_shows_the_room_as_it_is_now_quotes_included() {
    let mut h = Harness::new().await;
    let (mut ana, ben) = h.hello_and_article_client_in("general").await;
    h.say(&ana, "general", "lunch at noon?", Some("a-1")).await;
    h.send(
        &ben,
        json!({"type": "room_message", "room": "general", "content": "yes", "reply_to": 1}),
    );
    h.settle().await;
    let live = of_type(&mut ana, "room_message");
    let reply = live.iter().find(|m| m["seq"] == 2).unwrap();
    assert_eq!(reply["quote"]["text"], "lunch at noon?", "{live:?}");
    for change in [
        json!({"type": "edit_message", "room": "general", "seq": 1, "content": "lunch at one?"}),
        json!({"type": "react", "room": "general", "seq": 2, "emoji": "👍"}),
        json!({"type": "delete_message", "room": "general", "seq": 1}),
    ] {
        h.send(&ana, change);
        h.settle().await;
    }
    // From the room's cache: the original deleted, the reply quoting it as
    // deleted, with its reaction; no changes to apply on top.
    let mut dora = h.connect_hello(100, None);
    let joined = h.join(&mut dora, "general").await;
    let history = joined.iter().find(|f| f["type"] == "history").unwrap();
    let messages = history["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2, "{history}");
    assert_eq!(messages[0]["deleted"], true);
    assert_eq!(messages[0]["content"], "");
    assert_eq!(
        messages[1]["quote"],
        json!({"from": ana.user, "name": ana.user.guest_name(), "text": "", "deleted": true})
    );
    assert_eq!(messages[1]["reactions"][0]["emoji"], "👍");
    assert!(history.get("changes").is_none());
    // A client that knows only the article gets the reply alone.
    let mut eve = h.connect(100);
    let replay = h.join(&mut eve, "general").await;
    let texts: Vec<_> = replay
        .iter()
        .filter(|f| f["type"] == "room_message")
        .map(|f| f["content"].clone())
        .collect();
    assert_eq!(texts, [json!("yes")]);
}

#[tokio::test]
async fn a_search_looks_only_where_its_asker_may_read() {
    let mut h = Harness::new().await;
    let mut ana = h.connect_hello(100, None);
    let mut ben = h.connect_hello(100, None);
    h.join(&mut ana, "a").await;
    h.join(&mut ben, "b").await;
    h.say(&ana, "a", "lunch in a", None).await;
    h.say(&ben, "b", "lunch in b", None).await;
    h.send(
        &ben,
        json!({"type": "direct_message", "to": ana.user, "content": "lunch with you"}),
    );
    h.settle().await;
    let mut carl = h.connect_hello(100, None);
    for client in [&mut ana, &mut ben, &mut carl] {
        client.received();
    }

    let found = |client: &mut Client| -> Vec<String> {
        let results = of_type(client, "search_results");
        assert_eq!(results.len(), 1, "{results:?}");
        results[0]["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["preview"].as_str().unwrap().to_owned())
            .collect()
    };
    h.send(&ana, json!({"type": "search", "query": "lunch"}));
    h.settle().await;
    let mut anas = found(&mut ana);
    anas.sort(); // posted at the same instant: newest first is no order
    assert_eq!(anas, ["lunch in a", "lunch with you"]);
    h.send(&carl, json!({"type": "search", "query": "lunch"}));
    h.settle().await;
    assert!(
        found(&mut carl).is_empty(),
        "in no room, in no conversation"
    );
    // Naming a room the asker is not in is refused, not answered empty.
    h.send(
        &ana,
        json!({"type": "search", "query": "lunch", "room": "b"}),
    );
    h.settle().await;
    let refused = ana.received();
    assert_eq!(refused[0]["code"], "not_a_member", "{refused:?}");
    // Nor does naming someone else's conversation reach it.
    h.send(
        &carl,
        json!({"type": "search", "query": "lunch", "with": ana.user}),
    );
    h.settle().await;
    assert!(found(&mut carl).is_empty());
}

#[tokio::test]
async fn a_run_of_changes_pushes_no_message_out_of_a_join() {
    let mut h = Harness::new().await;
    let (ana, ben) = h.hello_and_article_client_in("general").await;
    for text in ["one", "two", "three"] {
        h.say(&ana, "general", text, None).await;
    }
    // More changes than the room's cache holds rows (256): one reaction
    // toggled over and over.
    for n in 0..300 {
        let on = n % 2 == 0;
        h.send(
            &ana,
            json!({"type": "react", "room": "general", "seq": 3, "emoji": "👍", "on": on}),
        );
        h.settle().await;
    }
    let texts = |frames: &[Value], kind: &str| -> Vec<Value> {
        frames
            .iter()
            .filter(|f| f["type"] == kind)
            .flat_map(|f| match kind {
                "history" => f["messages"].as_array().unwrap().clone(),
                _ => vec![f.clone()],
            })
            .map(|m| m["content"].clone())
            .collect()
    };
    let everything = [json!("one"), json!("two"), json!("three")];
    // From the room's cache; then, everyone gone and the room out of
    // memory, from the store.
    let mut stayed = vec![ana, ben];
    for round in ["cache", "store"] {
        let mut dora = h.connect_hello(1000, None);
        let joined = h.join(&mut dora, "general").await;
        assert_eq!(texts(&joined, "history"), everything, "{round}");
        let mut eve = h.connect(1000);
        let replay = h.join(&mut eve, "general").await;
        assert_eq!(texts(&replay, "room_message"), everything, "{round}");
        stayed.extend([dora, eve]);
        for client in &stayed {
            h.send(client, json!({"type": "leave_room", "room": "general"}));
        }
        h.settle().await;
        stayed.clear();
    }
}

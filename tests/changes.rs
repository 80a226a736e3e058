//! Edits, deletions, reactions and replies over real sockets: who may make
//! them, who hears of them, and that a client away meanwhile gets each once,
//! in order with the messages, when it resumes (on the real binary, with a
//! real SQLite file).

mod common;

use std::time::Duration;

use common::{Binary, Client, spawn_app};
use serde_json::{Value, json};

const QUIET: Duration = Duration::from_millis(300);

/// The next `message_changed`, skipping other frames.
async fn next_change(client: &mut Client) -> Value {
    client.recv_type("message_changed").await
}

fn summary(change: &Value) -> (u64, u64, String) {
    (
        change["seq"].as_u64().unwrap(),
        change["target"].as_u64().unwrap(),
        change["change"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn changes_reach_every_hello_member_and_only_the_author_may_edit_or_delete() {
    let app = spawn_app().await;
    let mut ana = app.connect_with_hello().await;
    let mut ben = app.connect_with_hello().await;
    let mut carl = app.connect().await; // knows only the article
    ana.join("general").await;
    ben.join("general").await;
    carl.join("general").await;
    let (ana_id, ben_id) = (ana.id().to_owned(), ben.id().to_owned());
    let seq = ana.say_acked("general", "helo", "a-1").await;
    assert_eq!(seq, 1);
    ben.recv_type("room_message").await;
    assert_eq!(carl.recv_type("room_message").await["content"], "helo");

    ana.send(json!({"type": "edit_message", "room": "general", "seq": 1, "content": "hello"}))
        .await;
    for client in [&mut ana, &mut ben] {
        let edit = next_change(client).await;
        assert_eq!(edit["room"], "general");
        assert_eq!(edit["from"], ana_id.as_str());
        assert_eq!(summary(&edit), (2, 1, "edit".into()));
        assert_eq!(edit["content"], "hello");
    }
    ben.send(json!({"type": "react", "room": "general", "seq": 1, "emoji": "👍"}))
        .await;
    for client in [&mut ana, &mut ben] {
        let reaction = next_change(client).await;
        assert_eq!(summary(&reaction), (3, 1, "react".into()));
        assert_eq!(
            (&reaction["emoji"], &reaction["on"]),
            (&json!("👍"), &json!(true))
        );
        assert_eq!(reaction["from"], ben_id.as_str());
    }

    // Someone else's message: refused, with a reason, and nothing stored.
    for (request, code) in [
        (
            json!({"type": "edit_message", "room": "general", "seq": 1, "content": "mine"}),
            "not_allowed",
        ),
        (
            json!({"type": "delete_message", "room": "general", "seq": 1}),
            "not_allowed",
        ),
        (
            json!({"type": "react", "room": "general", "seq": 99, "emoji": "👍"}),
            "no_such_message",
        ),
        (
            json!({"type": "react", "room": "elsewhere", "seq": 1, "emoji": "👍"}),
            "not_a_member",
        ),
        (
            json!({"type": "delete_message", "seq": 1}),
            "invalid_message",
        ),
        (
            json!({"type": "room_message", "room": "general", "content": "re", "id": "b-1",
                   "reply_to": 77}),
            "no_such_message",
        ),
    ] {
        ben.send(request.clone()).await;
        let error = ben.recv_type("error").await;
        assert_eq!(error["code"], code, "{request}: {error}");
    }
    ana.send(json!({"type": "delete_message", "room": "general", "seq": 1}))
        .await;
    for client in [&mut ana, &mut ben] {
        assert_eq!(summary(&next_change(client).await), (4, 1, "delete".into()));
    }
    // Numbers went on without a gap: none was spent on a refusal.
    assert_eq!(ben.say_acked("general", "next", "b-2").await, 5);
    ana.recv_type("room_message").await;

    // History shows the message as it is now.
    let page = ben.history("general", None, None, 10).await;
    assert_eq!(page.len(), 2, "{page:?}");
    assert_eq!(page[0]["content"], "");
    assert_eq!(page[0]["deleted"], true);
    assert_eq!(page[0]["rev"], 4);
    assert!(page[0].get("reactions").is_none(), "{}", page[0]);

    // The article client saw the messages and nothing else.
    assert_eq!(carl.recv_type("room_message").await["content"], "next");
    carl.expect_silence(QUIET).await;
}

#[tokio::test]
async fn a_reply_carries_its_target_and_mentions_to_everyone() {
    let app = spawn_app().await;
    let (mut ana, mut ben) = app.two_members_of("general").await;
    let first = ana.say_acked("general", "lunch?", "a-1").await;
    ben.recv_type("room_message").await;
    ben.send(
        json!({"type": "room_message", "room": "general", "content": "@Ana yes",
                    "id": "b-1", "reply_to": first, "mentions": [ana.id()]}),
    )
    .await;
    let reply = ana.recv_type("room_message").await;
    assert_eq!(reply["reply_to"], first);
    assert_eq!(reply["mentions"], json!([ana.id()]));
    let page = ana.history("general", None, None, 10).await;
    assert_eq!(page[1]["reply_to"], first);
    assert_eq!(page[1]["mentions"], json!([ana.id()]));
}

#[tokio::test]
async fn a_reply_quotes_its_original_as_it_is_now_and_deleted_words_leave_the_files() {
    let data = tempfile::tempdir().unwrap();
    let app = Binary::start(data.path());
    let mut ana = app.connect_with_hello().await;
    let mut ben = app.connect_with_hello().await;
    ana.join("general").await;
    ben.join("general").await;
    ana.recv_type("user_joined").await;
    let first = ana
        .say_acked("general", "**lunch** at noon?\nor zanzibar", "a-1")
        .await;
    ben.recv_type("room_message").await;
    ben.send(
        json!({"type": "room_message", "room": "general", "content": "yes",
                    "id": "b-1", "reply_to": first}),
    )
    .await;
    let reply = ana.recv_type("room_message").await;
    assert_eq!(reply["quote"]["from"], ana.id());
    assert_eq!(reply["quote"]["text"], "lunch at noon?", "{reply}");
    assert!(reply["quote"]["name"].is_string() && reply["quote"].get("deleted").is_none());

    // A page of one holds the reply without its original: the quote
    // follows the original's edit, then its deletion.
    ana.send(
        json!({"type": "edit_message", "room": "general", "seq": first,
                    "content": "lunch at one?"}),
    )
    .await;
    next_change(&mut ben).await;
    let page = ben.history("general", None, None, 1).await;
    assert_eq!(page[0]["quote"]["text"], "lunch at one?", "{page:?}");
    ana.send(json!({"type": "delete_message", "room": "general", "seq": first}))
        .await;
    next_change(&mut ben).await;
    let page = ben.history("general", None, None, 1).await;
    assert_eq!(
        (&page[0]["quote"]["text"], &page[0]["quote"]["deleted"]),
        (&json!(""), &json!(true)),
        "{page:?}"
    );

    // After a restart, read from the file.
    drop((ana, ben));
    drop(app);
    let app = Binary::start(data.path());
    let mut dora = app.connect_with_hello().await;
    dora.join("general").await;
    let joined = dora.recv_type("history").await;
    assert_eq!(joined["messages"][0]["deleted"], true, "{joined}");
    assert_eq!(joined["messages"][1]["quote"]["deleted"], true, "{joined}");
    let page = dora.history("general", None, None, 1).await;
    assert_eq!(page[0]["content"], "yes");
    assert_eq!(page[0]["quote"]["deleted"], true, "{page:?}");
    for file in std::fs::read_dir(data.path()).unwrap() {
        let path = file.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        for words in [&b"lunch at"[..], b"zanzibar"] {
            assert!(
                !bytes.windows(words.len()).any(|w| w == words),
                "the deleted words are nowhere in {}, the search index's words either",
                path.display()
            );
        }
    }
}

#[tokio::test]
async fn changes_made_while_away_arrive_on_resume_once_and_in_order() {
    let data = tempfile::tempdir().unwrap();
    let app = Binary::start(data.path());
    let mut ana = app.connect_with_hello().await;
    let (mut ben, welcome, _) = Client::connect_with_token(&app.ws_url(), None).await;
    let token = welcome["token"].as_str().unwrap().to_owned();
    ana.join("general").await;
    ben.join("general").await;
    ana.recv_type("user_joined").await;
    ana.say_acked("general", "one", "a-1").await;
    ana.say_acked("general", "two", "a-2").await;
    ben.recv_type("room_message").await;
    let seen = ben.recv_type("room_message").await["seq"].as_u64().unwrap();
    assert_eq!(seen, 2);

    // Ben's network goes; meanwhile a message is edited, one reacted to
    // and then deleted, and a new one posted.
    drop(ben.into_inner());
    ana.recv_type("user_left").await;
    let requests = [
        json!({"type": "edit_message", "room": "general", "seq": 1, "content": "one!"}),
        json!({"type": "react", "room": "general", "seq": 2, "emoji": "🎉", "on": true}),
        json!({"type": "delete_message", "room": "general", "seq": 2}),
    ];
    for request in requests {
        ana.send(request).await;
        next_change(&mut ana).await;
    }
    assert_eq!(ana.say_acked("general", "three", "a-3").await, 6);

    let (mut ben, _, _) = Client::connect_with_token(&app.ws_url(), Some(&token)).await;
    ben.send(json!({"type": "join_room", "room": "general", "after": seen}))
        .await;
    assert_eq!(ben.recv().await["type"], "joined");
    let replay = ben.recv().await;
    assert_eq!(replay["type"], "history", "{replay}");
    let messages = replay["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 1);
    assert_eq!(
        (messages[0]["seq"].as_u64(), messages[0]["content"].as_str()),
        (Some(6), Some("three"))
    );
    let changes: Vec<_> = replay["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(summary)
        .collect();
    assert_eq!(
        changes,
        [
            (3, 1, "edit".into()),
            (4, 2, "react".into()),
            (5, 2, "delete".into())
        ]
    );
    assert_eq!(replay["changes"][0]["content"], "one!");
    // Then live changes, and nothing twice.
    ana.send(json!({"type": "react", "room": "general", "seq": 1, "emoji": "👍", "on": true}))
        .await;
    assert_eq!(
        summary(&next_change(&mut ben).await),
        (7, 1, "react".into())
    );
    ben.expect_silence(QUIET).await;

    // After a restart, a newcomer's history shows every message as it is.
    drop((ana, ben));
    drop(app);
    let app = Binary::start(data.path());
    let mut dora = app.connect_with_hello().await;
    dora.send(json!({"type": "join_room", "room": "general"}))
        .await;
    dora.recv_type("joined").await;
    let fresh = dora.recv_type("history").await;
    let messages = fresh["messages"].as_array().unwrap();
    let shown: Vec<_> = messages
        .iter()
        .map(|m| (m["seq"].as_u64().unwrap(), m["content"].as_str().unwrap()))
        .collect();
    assert_eq!(shown, [(1, "one!"), (2, ""), (6, "three")]);
    assert!(messages[0]["edited"].is_i64(), "{}", messages[0]);
    assert_eq!(
        messages[0]["reactions"],
        json!([{"emoji": "👍", "users": [messages[0]["from"]]}])
    );
    assert_eq!(messages[1]["deleted"], true);
    assert!(
        fresh.get("changes").is_none(),
        "afresh, no changes: {fresh}"
    );
    // A client that knows only the article sees the messages left, as they are now.
    let mut eve = Client::connect(&app.ws_url()).await;
    eve.send(json!({"type": "join_room", "room": "general"}))
        .await;
    eve.recv_type("joined").await;
    let first = eve.recv_type("room_message").await;
    let second = eve.recv_type("room_message").await;
    assert_eq!(
        (first["content"].as_str(), second["content"].as_str()),
        (Some("one!"), Some("three"))
    );
    eve.expect_silence(QUIET).await;
}

#[tokio::test]
async fn direct_messages_take_changes_too_and_both_people_hear_of_them() {
    let app = spawn_app().await;
    let mut ana = app.connect_with_hello().await;
    let mut ben = app.connect_with_hello().await;
    let ben_id = ben.id().to_owned();
    let ana_id = ana.id().to_owned();
    ana.send(json!({"type": "direct_message", "to": ben_id, "content": "hey", "id": "d-1"}))
        .await;
    let seq = ana.recv_type("ack").await["seq"].as_u64().unwrap();
    ben.recv_type("direct_message").await;
    ana.send(json!({"type": "edit_message", "with": ben_id, "seq": seq, "content": "hey you"}))
        .await;
    for client in [&mut ana, &mut ben] {
        let edit = next_change(client).await;
        assert_eq!(
            (edit["from"].as_str(), edit["to"].as_str()),
            (Some(ana_id.as_str()), Some(ben_id.as_str()))
        );
        assert_eq!(edit["content"], "hey you");
    }
    ben.send(json!({"type": "react", "with": ana_id, "seq": seq, "emoji": "👋"}))
        .await;
    for client in [&mut ana, &mut ben] {
        let reaction = next_change(client).await;
        assert_eq!(reaction["from"], ben_id.as_str());
        assert_eq!(reaction["to"], ana_id.as_str());
    }
    ben.send(json!({"type": "delete_message", "with": ana_id, "seq": seq}))
        .await;
    assert_eq!(ben.recv_type("error").await["code"], "not_allowed");
    ana.send(json!({"type": "direct_history", "with": ben_id}))
        .await;
    let history = ana.recv_type("history").await;
    let message = &history["messages"][0];
    assert_eq!(message["content"], "hey you");
    assert_eq!(
        message["reactions"],
        json!([{"emoji": "👋", "users": [ben_id]}])
    );
}

#[tokio::test]
async fn an_operator_can_limit_how_long_a_message_may_be_edited() {
    let app = common::spawn_app_with(|settings| settings.edit_window_secs = 1).await;
    let (mut ana, _ben) = app.two_members_of("general").await;
    assert_eq!(ana.say_acked("general", "frist", "a-1").await, 1);
    ana.send(json!({"type": "edit_message", "room": "general", "seq": 1, "content": "first"}))
        .await;
    assert_eq!(next_change(&mut ana).await["content"], "first");
    // Past the window: refused, and deleting is still allowed.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    ana.send(json!({"type": "edit_message", "room": "general", "seq": 1, "content": "1st"}))
        .await;
    let refused = ana.recv_type("error").await;
    assert_eq!(refused["code"], "not_allowed");
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("too old to edit"),
        "{refused}"
    );
    ana.send(json!({"type": "delete_message", "room": "general", "seq": 1}))
        .await;
    assert_eq!(
        summary(&next_change(&mut ana).await),
        (3, 1, "delete".into())
    );
}

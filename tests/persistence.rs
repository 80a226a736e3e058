//! Identity and durable history: acknowledged messages survive `kill -9`,
//! resumes replay exactly what was missed, resends are stored once, history
//! pages split at the right places, tokens cannot be forged, direct
//! messages stay between their two participants. Against the real binary,
//! each test with its own temporary data directory.

mod common;

use std::time::Duration;

use common::{Binary, Client, two_members_of};
use serde_json::{Value, json};

const QUIET: Duration = Duration::from_millis(300);

fn contents(messages: &[Value]) -> Vec<String> {
    messages
        .iter()
        .map(|m| m["content"].as_str().unwrap().to_owned())
        .collect()
}

fn seqs(messages: &[Value]) -> Vec<u64> {
    messages
        .iter()
        .map(|m| m["seq"].as_u64().unwrap())
        .collect()
}

/// Every message of a room, oldest first, paging forwards from the start.
async fn whole_history(client: &mut Client, room: &str) -> Vec<Value> {
    let mut all = Vec::new();
    loop {
        let after = all
            .last()
            .map(|m: &Value| m["seq"].as_u64().unwrap())
            .unwrap_or(0);
        let page = client.history(room, None, Some(after), 200).await;
        if page.is_empty() {
            return all;
        }
        all.extend(page);
    }
}

#[tokio::test]
async fn acknowledged_messages_survive_kill_9_and_a_restart() {
    let data = tempfile::tempdir().unwrap();
    let server = Binary::start(data.path());
    let (mut ana, _, _) = Client::connect_with_token(&server.ws_url(), None).await;
    ana.join("log").await;
    // 300 messages in flight at once, so they commit in groups; then wait
    // for every ack and kill the server the moment the last one is in.
    for n in 1..=300 {
        ana.send(json!({"type": "room_message", "room": "log", "content": format!("m{n}"), "id": format!("id-{n}")}))
            .await;
    }
    let mut acked = Vec::new();
    while acked.len() < 300 {
        let frame = ana.recv().await;
        if frame["type"] == "ack" {
            acked.push(frame["seq"].as_u64().unwrap());
        }
    }
    server.kill_9();
    assert_eq!(
        acked,
        (1..=300).collect::<Vec<_>>(),
        "acked in order, without gaps"
    );

    let server = Binary::start(data.path());
    let (mut reader, _, _) = Client::connect_with_token(&server.ws_url(), None).await;
    reader.join("log").await;
    let replay = reader.recv_type("history").await;
    assert_eq!(
        seqs(replay["messages"].as_array().unwrap()),
        (251..=300).collect::<Vec<_>>()
    );
    let all = whole_history(&mut reader, "log").await;
    assert_eq!(
        contents(&all),
        (1..=300).map(|n| format!("m{n}")).collect::<Vec<_>>()
    );
    // Numbering carries on after the restart.
    assert_eq!(reader.say_acked("log", "after the crash", "x-1").await, 301);
}

#[tokio::test]
async fn a_client_cut_off_reconnects_and_gets_exactly_what_it_missed_once() {
    let data = tempfile::tempdir().unwrap();
    let app = Binary::start(data.path());
    let mut ana = app.connect_with_hello().await;
    let (mut ben, welcome, _) = Client::connect_with_token(&app.ws_url(), None).await;
    let token = welcome["token"].as_str().unwrap().to_owned();
    let ben_user = welcome["user"].clone();
    ana.join("general").await;
    ben.join("general").await;
    ana.recv_type("user_joined").await;
    ana.say_acked("general", "before", "a-0").await;
    let seen = ben.recv_type("room_message").await["seq"].as_u64().unwrap();

    // Ben's network goes: the socket is dropped without a close frame.
    drop(ben.into_inner());
    ana.recv_type("user_left").await;
    for n in 1..=20 {
        ana.say_acked("general", &format!("missed {n}"), &format!("a-{n}"))
            .await;
    }

    let (mut ben, welcome, refusal) = Client::connect_with_token(&app.ws_url(), Some(&token)).await;
    assert_eq!(refusal, None);
    assert_eq!(
        welcome["user"], ben_user,
        "the token brings ben back as ben"
    );
    ben.send(json!({"type": "join_room", "room": "general", "after": seen}))
        .await;
    assert_eq!(ben.recv().await["type"], "joined");
    let replay = ben.recv().await;
    assert_eq!(
        replay["type"], "history",
        "the replay comes right after joined"
    );
    assert_eq!(
        contents(replay["messages"].as_array().unwrap()),
        (1..=20).map(|n| format!("missed {n}")).collect::<Vec<_>>()
    );
    // Then live messages, and nothing twice.
    ana.say_acked("general", "live", "a-21").await;
    let live = ben.recv_type("room_message").await;
    assert_eq!(
        (live["content"].as_str(), live["seq"].as_u64()),
        (Some("live"), Some(seen + 21))
    );
    ben.expect_silence(QUIET).await;
}

#[tokio::test]
async fn a_gap_deeper_than_the_replay_is_closed_by_paging() {
    let data = tempfile::tempdir().unwrap();
    let app = Binary::start(data.path());
    let mut ana = app.connect_with_hello().await;
    ana.join("deep").await;
    for n in 1..=400 {
        ana.send(json!({"type": "room_message", "room": "deep", "content": format!("{n}"), "id": format!("d{n}")}))
            .await;
    }
    loop {
        let frame = ana.recv().await;
        if frame["type"] == "ack" && frame["id"] == "d400" {
            break;
        }
    }
    // A client that last saw seq 10 resumes: the replay holds the room's
    // recent window; the rest comes by paging between the two.
    let mut ben = app.connect_with_hello().await;
    ben.send(json!({"type": "join_room", "room": "deep", "after": 10}))
        .await;
    ben.recv_type("joined").await;
    let replay = ben.recv_type("history").await["messages"]
        .as_array()
        .unwrap()
        .clone();
    let first = replay[0]["seq"].as_u64().unwrap();
    assert!(first > 11, "the replay is bounded, starting at {first}");
    assert_eq!(*seqs(&replay).last().unwrap(), 400);
    let mut filled = Vec::new();
    let mut after = 10;
    while after + 1 < first {
        let page = ben.history("deep", Some(first), Some(after), 200).await;
        after = page.last().unwrap()["seq"].as_u64().unwrap();
        filled.extend(page);
    }
    filled.extend(replay);
    assert_eq!(seqs(&filled), (11..=400).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_resent_message_id_is_stored_and_delivered_once() {
    let data = tempfile::tempdir().unwrap();
    let app = Binary::start(data.path());
    let (mut ana, mut ben) = two_members_of(&app.ws_url(), "general").await;
    let seq = ana.say_acked("general", "once", "same-id").await;
    assert_eq!(ben.recv_type("room_message").await["content"], "once");
    // The same id again, as after a reconnect that lost the ack.
    let again = ana.say_acked("general", "once", "same-id").await;
    assert_eq!(again, seq, "acknowledged with the original number");
    ben.expect_silence(QUIET).await;
    assert_eq!(whole_history(&mut ben, "general").await.len(), 1);
}

#[tokio::test]
async fn history_pages_split_exactly_at_their_boundaries() {
    let data = tempfile::tempdir().unwrap();
    let app = Binary::start(data.path());
    let mut ana = app.connect_with_hello().await;
    ana.join("paged").await;
    for n in 1..=120 {
        ana.say_acked("paged", &n.to_string(), &format!("p{n}"))
            .await;
    }
    let range = |from: u64, to: u64| (from..=to).collect::<Vec<_>>();
    assert_eq!(
        seqs(&ana.history("paged", None, None, 50).await),
        range(71, 120)
    );
    assert_eq!(
        seqs(&ana.history("paged", Some(71), None, 50).await),
        range(21, 70)
    );
    assert_eq!(
        seqs(&ana.history("paged", Some(21), None, 50).await),
        range(1, 20)
    );
    assert!(ana.history("paged", Some(1), None, 50).await.is_empty());
    assert_eq!(
        seqs(&ana.history("paged", None, Some(118), 50).await),
        range(119, 120)
    );
    assert!(ana.history("paged", None, Some(120), 50).await.is_empty());
    assert_eq!(
        seqs(&ana.history("paged", Some(6), Some(2), 50).await),
        range(3, 5)
    );
    // A page is at most 200, whatever is asked.
    let mut many = ana.history("paged", None, Some(0), 100_000).await;
    assert_eq!(many.len(), 120);
    many.truncate(1);
    assert_eq!(many[0]["content"], "1");
    // Only members read a room's history.
    let mut outsider = app.connect_with_hello().await;
    outsider
        .send(json!({"type": "history", "room": "paged"}))
        .await;
    assert_eq!(outsider.recv().await["code"], "not_a_member");
}

#[tokio::test]
async fn a_token_brings_back_the_same_user_and_name_but_a_forged_one_is_refused() {
    let data = tempfile::tempdir().unwrap();
    let app = Binary::start(data.path());
    let (mut ana, welcome, _) = Client::connect_with_token(&app.ws_url(), None).await;
    let (user, token) = (
        welcome["user"].clone(),
        welcome["token"].as_str().unwrap().to_owned(),
    );
    assert_eq!(
        welcome["name"],
        format!("guest-{}", &user.as_str().unwrap()[..4])
    );
    ana.send(json!({"type": "set_name", "name": "  Ana Lima  "}))
        .await;
    assert_eq!(
        ana.recv().await,
        json!({"type": "user_renamed", "user": user, "name": "Ana Lima"})
    );
    // The writer applies requests in order: once this is acknowledged, the
    // name is stored too.
    ana.join("general").await;
    ana.say_acked("general", "hi", "n-1").await;
    ana.close().await;

    let (_, welcome, refusal) = Client::connect_with_token(&app.ws_url(), Some(&token)).await;
    assert_eq!(refusal, None);
    assert_eq!(
        (&welcome["user"], &welcome["name"]),
        (&user, &json!("Ana Lima"))
    );
    assert_eq!(welcome["token"], json!(token));

    // One changed character of the signature.
    let mut tampered = token.clone().into_bytes();
    let last = tampered.len() - 1;
    tampered[last] = if tampered[last] == b'0' { b'1' } else { b'0' };
    let tampered = String::from_utf8(tampered).unwrap();
    // Someone else's id under Ana's signature.
    let (_, other, _) = Client::connect_with_token(&app.ws_url(), None).await;
    let borrowed = format!(
        "{}.{}",
        other["user"].as_str().unwrap(),
        token.split_once('.').unwrap().1
    );
    // A token from another server (another secret).
    let elsewhere_data = tempfile::tempdir().unwrap();
    let elsewhere = Binary::start(elsewhere_data.path());
    let (_, foreign, _) = Client::connect_with_token(&elsewhere.ws_url(), None).await;
    let foreign = foreign["token"].as_str().unwrap().to_owned();

    for bad in [tampered, borrowed, foreign, "nonsense".to_owned()] {
        let (_, welcome, refusal) = Client::connect_with_token(&app.ws_url(), Some(&bad)).await;
        let refusal = refusal.unwrap_or_else(|| panic!("{bad} was accepted"));
        assert_eq!(refusal["code"], "invalid_token");
        assert_ne!(welcome["user"], user);
        assert_ne!(welcome["user"], other["user"]);
        assert!(welcome["name"].as_str().unwrap().starts_with("guest-"));
    }
}

#[tokio::test]
async fn identity_survives_a_server_restart() {
    let data = tempfile::tempdir().unwrap();
    let mut first = Binary::start(data.path());
    let (mut ana, welcome, _) = Client::connect_with_token(&first.ws_url(), None).await;
    ana.send(json!({"type": "set_name", "name": "Ana"})).await;
    ana.recv_type("user_renamed").await;
    ana.join("general").await;
    ana.say_acked("general", "hi", "r-1").await;
    first.signal("-TERM");
    assert_eq!(first.exit_code().await, Some(0));

    let second = Binary::start(data.path());
    let token = welcome["token"].as_str().unwrap();
    let (_, again, refusal) = Client::connect_with_token(&second.ws_url(), Some(token)).await;
    assert_eq!(refusal, None);
    assert_eq!(again["user"], welcome["user"]);
    assert_eq!(again["name"], "Ana");
}

#[tokio::test]
async fn direct_message_history_is_visible_to_its_two_participants_only() {
    let data = tempfile::tempdir().unwrap();
    let app = Binary::start(data.path());
    let mut ana = app.connect_with_hello().await;
    let mut ben = app.connect_with_hello().await;
    let mut cy = app.connect_with_hello().await;
    ana.send(json!({"type": "direct_message", "to": ben.id(), "content": "secret", "id": "s-1"}))
        .await;
    assert_eq!(ana.recv_type("ack").await["seq"], 1);
    assert_eq!(ben.recv_type("direct_message").await["content"], "secret");
    ben.send(json!({"type": "direct_message", "to": ana.id(), "content": "reply", "id": "s-2"}))
        .await;
    assert_eq!(ben.recv_type("ack").await["seq"], 2);
    cy.expect_silence(QUIET).await;

    let ask = |with: &str| json!({"type": "direct_history", "with": with});
    let (ana_id, ben_id) = (ana.id().to_owned(), ben.id().to_owned());
    for (client, with) in [(&mut ana, ben_id), (&mut ben, ana_id)] {
        client.send(ask(&with)).await;
        let page = client.recv_type("history").await;
        assert_eq!(page["with"], json!(with));
        assert_eq!(
            contents(page["messages"].as_array().unwrap()),
            ["secret", "reply"]
        );
    }
    // Cy can only ever name her own conversations with them: empty.
    for with in [ana.id().to_owned(), ben.id().to_owned()] {
        cy.send(ask(&with)).await;
        let page = cy.recv_type("history").await;
        assert_eq!(page["messages"], json!([]), "cy read {with}'s messages");
    }
}

#[tokio::test]
async fn retention_prunes_what_is_beyond_the_limit_and_keeps_the_numbering() {
    let data = tempfile::tempdir().unwrap();
    let first = Binary::start(data.path());
    let mut ana = first.connect_with_hello().await;
    ana.join("kept").await;
    for n in 1..=20 {
        ana.say_acked("kept", &n.to_string(), &format!("k{n}"))
            .await;
    }
    ana.close().await;
    first.kill_9();

    // Retention runs when the server starts, then every minute.
    let second = Binary::start_with(data.path(), &[("CONFAB_RETENTION_MAX_MESSAGES", "5")]);
    let mut ben = second.connect_with_hello().await;
    ben.join("kept").await;
    // Pruning runs beside the server: give it a moment to finish.
    ben.recv_type("history").await;
    let mut all = Vec::new();
    for _ in 0..50 {
        all = whole_history(&mut ben, "kept").await;
        if all.len() == 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(seqs(&all), [16, 17, 18, 19, 20]);
    assert_eq!(ben.say_acked("kept", "next", "k21").await, 21);
}

#[tokio::test]
async fn a_resume_over_large_messages_arrives_in_frames_that_fit_and_pages_the_rest() {
    let data = tempfile::tempdir().unwrap();
    let app = Binary::start(data.path());
    let mut ana = app.connect_with_hello().await;
    ana.join("big").await;
    // 8 KB of JSON each once escaped (a quote takes two bytes): a replay of
    // all of them would be 2 MB in one frame.
    let heavy = "\"".repeat(4000);
    for n in 1..=256 {
        ana.send(
            json!({"type": "room_message", "room": "big", "content": heavy, "id": format!("h{n}")}),
        )
        .await;
    }
    loop {
        let frame = ana.recv().await;
        if frame["type"] == "ack" && frame["id"] == "h256" {
            break;
        }
    }
    let mut ben = app.connect_with_hello().await;
    ben.send(json!({"type": "join_room", "room": "big", "after": 0}))
        .await;
    ben.recv_type("joined").await;
    let replay = ben.recv().await;
    assert_eq!(replay["type"], "history", "not evicted: {replay}");
    let replay = replay["messages"].as_array().unwrap().clone();
    assert_eq!(*seqs(&replay).last().unwrap(), 256, "the newest part");
    let first = replay[0]["seq"].as_u64().unwrap();
    assert!(first > 1);
    let mut all = Vec::new();
    let mut after = 0;
    while after + 1 < first {
        let page = ben.history("big", Some(first), Some(after), 200).await;
        assert!(!page.is_empty());
        after = page.last().unwrap()["seq"].as_u64().unwrap();
        all.extend(page);
    }
    all.extend(replay);
    assert_eq!(seqs(&all), (1..=256).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_flood_of_history_requests_is_refused_past_a_bound_and_harms_nobody() {
    let data = tempfile::tempdir().unwrap();
    let app = Binary::start(data.path());
    let (mut flooder, mut other) = two_members_of(&app.ws_url(), "flood").await;
    for _ in 0..200 {
        flooder
            .send(json!({"type": "history", "room": "flood", "limit": 200}))
            .await;
    }
    let (mut pages, mut refused) = (0, 0);
    while pages + refused < 200 {
        let frame = flooder.recv().await;
        match (frame["type"].as_str(), frame["code"].as_str()) {
            (Some("history"), _) => pages += 1,
            (Some("error"), Some("busy")) => refused += 1,
            _ => panic!("unexpected {frame}"),
        }
    }
    assert!(
        refused > 0 && pages >= 32,
        "{pages} pages, {refused} refused"
    );
    // Everyone, the flooder included, carries on.
    other.say_acked("flood", "still here", "o-1").await;
    assert_eq!(
        flooder.recv_type("room_message").await["content"],
        "still here"
    );
}

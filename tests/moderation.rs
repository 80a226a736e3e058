//! Moderation, from outside: the real binary, real sockets, the real
//! SQLite file. A muted user cannot post until the mute ends, and is told
//! why; a banned one is put out and cannot come back; a kick puts out for
//! a minute; a member cannot moderate, nor a moderator act on an owner;
//! every action is in the room's audit log, which only its staff read.

mod common;

use std::time::Duration;

use common::{Binary, Client, call_json, scrape};
use serde_json::{Value, json};

const KEY: &str = "moderation-key-0123456789abcdef012345";

async fn guest(server: &Binary) -> (Client, String) {
    let (client, welcome, _) = Client::connect_with_token(&server.ws_url(), None).await;
    (client, welcome["token"].as_str().unwrap().to_owned())
}

async fn moderate(server: &Binary, bearer: &str, body: Value) -> (u16, Value) {
    let (status, _, answer) = call_json(
        &server.addr,
        "POST",
        "/api/rooms/town/moderation",
        Some(bearer),
        Some(body),
    )
    .await;
    (status, answer)
}

/// The next `error` with code `moderated`, skipping other frames.
async fn told(client: &mut Client) -> Value {
    loop {
        let error = client.recv_type("error").await;
        if error["code"] == "moderated" {
            return error;
        }
    }
}

#[tokio::test]
async fn mutes_bans_and_kicks_hold_are_told_and_are_written_down() {
    let data = tempfile::tempdir().unwrap();
    let server = Binary::start_with(data.path(), &[("CONFAB_API_KEYS", KEY)]);
    let (mut owner, owner_token) = guest(&server).await;
    owner.join("town").await;
    let (mut mo, mo_token) = guest(&server).await;
    mo.join("town").await;
    let path = format!("/api/rooms/town/roles/{}", mo.id());
    let (status, _, _) = call_json(
        &server.addr,
        "PUT",
        &path,
        Some(&owner_token),
        Some(json!({"role": "moderator"})),
    )
    .await;
    assert_eq!(status, 200);
    let (mut spammer, spammer_token) = guest(&server).await;
    spammer.join("town").await;

    // A member cannot moderate; a moderator cannot act on the owner.
    let body = json!({"action": "ban", "user": owner.id()});
    assert_eq!(moderate(&server, &spammer_token, body.clone()).await.0, 403);
    assert_eq!(moderate(&server, &mo_token, body).await.0, 403);
    let body = json!({"action": "mute", "user": mo.id()});
    assert_eq!(
        moderate(&server, &mo_token, body).await.0,
        403,
        "nor on themselves"
    );
    let body = json!({"action": "shout", "user": spammer.id()});
    assert_eq!(moderate(&server, &mo_token, body).await.0, 400);

    // A mute of two seconds: told, refused, then free again.
    let body = json!({"action": "mute", "user": spammer.id(), "seconds": 2, "reason": "flooding"});
    let (status, answer) = moderate(&server, &mo_token, body).await;
    assert_eq!(status, 204, "{answer}");
    let notice = told(&mut spammer).await;
    assert_eq!(notice["room"], "town");
    let text = notice["message"].as_str().unwrap();
    assert!(
        text.contains("muted") && text.contains("2 seconds") && text.contains("flooding"),
        "{text}"
    );
    spammer
        .send(json!({"type": "room_message", "room": "town", "content": "spam", "id": "s-1"}))
        .await;
    let refused = told(&mut spammer).await;
    assert_eq!(refused["id"], "s-1");
    assert!(
        refused["retry_after_ms"].as_u64().unwrap() <= 2000,
        "{refused}"
    );
    // Nor may they say it by editing an old message, or react.
    spammer
        .send(json!({"type": "edit_message", "room": "town", "seq": 1, "content": "spam"}))
        .await;
    assert_eq!(told(&mut spammer).await["room"], "town");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    spammer.say_acked("town", "sorry", "s-2").await;
    assert_eq!(
        owner.recv_type("room_message").await["content"],
        "sorry",
        "the spam never came"
    );

    // A ban: put out, told why, and kept out.
    let body = json!({"action": "ban", "user": spammer.id(), "reason": "again"});
    assert_eq!(moderate(&server, &mo_token, body).await.0, 204);
    let notice = told(&mut spammer).await;
    let text = notice["message"].as_str().unwrap();
    assert!(text.contains("banned") && text.contains("again"), "{text}");
    owner.say_acked("town", "after the ban", "o-1").await;
    spammer
        .send(json!({"type": "join_room", "room": "town"}))
        .await;
    assert_eq!(spammer.recv_type("error").await["code"], "not_allowed");
    let (status, _, _) = call_json(
        &server.addr,
        "GET",
        "/api/rooms/town/messages",
        Some(&spammer_token),
        None,
    )
    .await;
    assert_eq!(status, 404, "nor read through the API");
    // Unbanned by the owner: back in.
    let body = json!({"action": "unban", "user": spammer.id()});
    assert_eq!(moderate(&server, &owner_token, body).await.0, 204);
    spammer.join("town").await;

    // A kick: out now, back after a minute (not waited for here).
    let body = json!({"action": "kick", "user": spammer.id(), "reason": "cool off"});
    assert_eq!(moderate(&server, KEY, body).await.0, 204);
    let text = told(&mut spammer).await["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        text.contains("1 minute") || text.contains("60 seconds"),
        "{text}"
    );
    spammer
        .send(json!({"type": "join_room", "room": "town"}))
        .await;
    assert_eq!(spammer.recv_type("error").await["code"], "not_allowed");

    // Everything is in the audit log, newest first, for the staff only.
    let (status, _, log) = call_json(
        &server.addr,
        "GET",
        "/api/rooms/town/audit",
        Some(&mo_token),
        None,
    )
    .await;
    assert_eq!(status, 200, "{log}");
    let lines: Vec<(String, String)> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected = [
        ("kick", "cool off"),
        ("unban", ""),
        ("ban", "again"),
        ("mute", "flooding"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(a, r)| (a.to_string(), r.to_string()))
        .collect();
    assert_eq!(lines, expected);
    assert_eq!(log["entries"][3]["actor"], mo.id());
    assert_eq!(log["entries"][3]["target"], spammer.id());
    let (_, bystander) = guest(&server).await;
    let (status, _, _) = call_json(
        &server.addr,
        "GET",
        "/api/rooms/town/audit",
        Some(&bystander),
        None,
    )
    .await;
    assert_eq!(status, 403);
    // The kicked user is out: to them the room is no such room for now.
    let (status, _, _) = call_json(
        &server.addr,
        "GET",
        "/api/rooms/town/audit",
        Some(&spammer_token),
        None,
    )
    .await;
    assert_eq!(status, 404);
    // And counted.
    let (_, samples) = scrape(&server.addr).await;
    for action in ["mute", "ban", "unban", "kick"] {
        let name = format!(r#"confab_moderation_total{{action="{action}"}}"#);
        assert_eq!(samples.get(&name), Some(&1.0), "{name}: {samples:?}");
    }
}

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
    // Every guest here comes from 127.0.0.1: the bans' hold on the banned
    // guests' address has a test of its own (below).
    let server = Binary::start_with(
        data.path(),
        &[
            ("CONFAB_API_KEYS", KEY),
            ("CONFAB_BAN_GUEST_ADDRESS_HOURS", "0"),
        ],
    );
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
    assert_eq!(notice["muted"], true, "{notice}");
    assert!(
        notice["retry_after_ms"].as_u64().unwrap() <= 2000,
        "{notice}"
    );
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
    assert_eq!(refused["muted"], true);
    assert!(
        refused["retry_after_ms"].as_u64().unwrap() <= 2000,
        "{refused}"
    );
    // Nor may they say it by editing an old message, or react.
    spammer
        .send(json!({"type": "edit_message", "room": "town", "seq": 1, "content": "spam"}))
        .await;
    assert_eq!(told(&mut spammer).await["room"], "town");
    // Back in the room (a reload, another device), they are told again.
    spammer
        .send(json!({"type": "leave_room", "room": "town"}))
        .await;
    spammer.join("town").await;
    let again = told(&mut spammer).await;
    assert_eq!(again["muted"], true, "{again}");
    assert!(
        again["message"]
            .as_str()
            .unwrap()
            .starts_with("you are muted in 'town'"),
        "{again}"
    );
    tokio::time::sleep(Duration::from_millis(2100)).await;
    spammer.say_acked("town", "sorry", "s-2").await;
    assert_eq!(
        owner.recv_type("room_message").await["content"],
        "sorry",
        "the spam never came"
    );
    // Muted until lifted: no end to wait for; then lifted, and told so.
    let body = json!({"action": "mute", "user": spammer.id()});
    assert_eq!(moderate(&server, &mo_token, body).await.0, 204);
    let notice = told(&mut spammer).await;
    assert_eq!(notice["muted"], true, "{notice}");
    assert!(notice.get("retry_after_ms").is_none(), "{notice}");
    let body = json!({"action": "unmute", "user": spammer.id()});
    assert_eq!(moderate(&server, &mo_token, body).await.0, 204);
    let lifted = told(&mut spammer).await;
    assert_eq!(lifted["muted"], false, "{lifted}");
    assert!(
        lifted["message"].as_str().unwrap().contains("lifted"),
        "{lifted}"
    );
    spammer.say_acked("town", "thanks", "s-3").await;

    // A ban: put out, told why, and kept out.
    let body = json!({"action": "ban", "user": spammer.id(), "reason": "again"});
    assert_eq!(moderate(&server, &mo_token, body).await.0, 204);
    let notice = told(&mut spammer).await;
    let text = notice["message"].as_str().unwrap();
    assert!(text.contains("banned") && text.contains("again"), "{text}");
    // A `hello` client hears that it is out of the room.
    let out = spammer.recv_type("user_left").await;
    assert_eq!(
        (&out["room"], &out["user"]),
        (&json!("town"), &json!(spammer.id()))
    );
    owner.say_acked("town", "after the ban", "o-1").await;
    spammer
        .send(json!({"type": "join_room", "room": "town"}))
        .await;
    let refused = told(&mut spammer).await;
    let text = refused["message"].as_str().unwrap();
    assert!(text.contains("banned") && text.contains("again"), "{text}");
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
    let refused = told(&mut spammer).await;
    assert!(refused["message"].as_str().unwrap().contains("cool off"));

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
        ("unmute", ""),
        ("mute", ""),
        ("mute", "flooding"),
        ("set_role", "moderator"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(a, r)| (a.to_string(), r.to_string()))
        .collect();
    assert_eq!(lines, expected);
    assert_eq!(log["entries"][5]["actor"], mo.id());
    assert_eq!(log["entries"][5]["target"], spammer.id());
    let (_, bystander) = guest(&server).await;
    assert_eq!(
        status_of(&server, "GET", "/api/rooms/town/audit", &bystander, None).await,
        403
    );
    // The kicked user is out: to them the room is no such room for now.
    assert_eq!(
        status_of(
            &server,
            "GET",
            "/api/rooms/town/audit",
            &spammer_token,
            None
        )
        .await,
        404
    );
    // And counted.
    let (_, samples) = scrape(&server.addr).await;
    for (action, times) in [
        ("mute", 2.0),
        ("unmute", 1.0),
        ("ban", 1.0),
        ("unban", 1.0),
        ("kick", 1.0),
    ] {
        let name = format!(r#"confab_moderation_total{{action="{action}"}}"#);
        assert_eq!(samples.get(&name), Some(&times), "{name}: {samples:?}");
    }
}

/// Signs up `username` and says `hello` with the account's token.
async fn account(server: &Binary, username: &str) -> (Client, String) {
    let body = json!({"username": username, "password": "a long enough passphrase"});
    let (status, _, answer) =
        call_json(&server.addr, "POST", "/api/accounts", None, Some(body)).await;
    assert_eq!(status, 201, "{answer}");
    let token = answer["token"].as_str().unwrap().to_owned();
    let (client, welcome, _) = Client::connect_with_token(&server.ws_url(), Some(&token)).await;
    assert_eq!(welcome["username"], username);
    (client, token)
}

#[tokio::test]
async fn moderators_delete_anyones_message_but_their_betters_and_it_is_written_down() {
    let data = tempfile::tempdir().unwrap();
    let server = Binary::start_with(data.path(), &[("CONFAB_API_KEYS", KEY)]);
    let (mut owner, owner_token) = guest(&server).await;
    owner.join("town").await;
    let (mut mo, mo_token) = guest(&server).await;
    mo.join("town").await;
    let path = format!("/api/rooms/town/roles/{}", mo.id());
    let body = Some(json!({"role": "moderator"}));
    assert_eq!(
        status_of(&server, "PUT", &path, &owner_token, body).await,
        200
    );
    let (mut member, member_token) = guest(&server).await;
    member.join("town").await;
    let spam = member.say_acked("town", "buy now", "m-1").await;
    let owners = owner.say_acked("town", "welcome all", "o-1").await;

    // A member may not delete someone else's message.
    member
        .send(json!({"type": "delete_message", "room": "town", "seq": owners}))
        .await;
    let refused = member.recv_type("error").await;
    assert_eq!(refused["code"], "not_allowed", "{refused}");

    // A moderator deletes the member's: everyone sees it gone, and the
    // author is told.
    mo.send(json!({"type": "delete_message", "room": "town", "seq": spam}))
        .await;
    let gone = owner.recv_type("message_changed").await;
    assert_eq!(
        (gone["target"].as_u64(), &gone["change"]),
        (Some(spam), &json!("delete")),
        "{gone}"
    );
    let notice = told(&mut member).await;
    let text = notice["message"].as_str().unwrap();
    assert!(
        text.contains("deleted your message") && text.contains(&spam.to_string()),
        "{text}"
    );
    // But not the owner's, who stands higher: by the protocol or the API.
    mo.send(json!({"type": "delete_message", "room": "town", "seq": owners}))
        .await;
    assert_eq!(mo.recv_type("error").await["code"], "not_allowed");
    let path = format!("/api/rooms/town/messages/{owners}");
    assert_eq!(
        status_of(&server, "DELETE", &path, &mo_token, None).await,
        403
    );
    let (status, _, _) = call_json(&server.addr, "DELETE", &path, Some(&member_token), None).await;
    assert_eq!(status, 403, "a member has no moderation route either");
    assert_eq!(
        status_of(&server, "DELETE", "/api/rooms/town/messages/999", KEY, None).await,
        404
    );
    // The operator may: with an API key.
    let (status, _, problem) = call_json(&server.addr, "DELETE", &path, Some(KEY), None).await;
    assert_eq!(status, 204, "{problem}");
    let gone = mo.recv_type("message_changed").await;
    assert_eq!(gone["target"].as_u64(), Some(owners));
    assert_eq!(told(&mut owner).await["room"], "town");
    let (status, _, _) = call_json(&server.addr, "DELETE", &path, Some(KEY), None).await;
    assert_eq!(status, 403, "deleted already");

    // Both are in the audit log, with the message's number, and counted.
    // The node that committed a deletion writes its line just after (the
    // answer and the news do not wait for it): asked until it is there.
    let expected = [
        (json!("delete_message"), json!(owner.id()), json!(owners)),
        (json!("delete_message"), json!(member.id()), json!(spam)),
        (json!("set_role"), json!(mo.id()), Value::Null),
    ];
    let mut log = Value::Null;
    for _ in 0..50 {
        let (status, _, answer) = call_json(
            &server.addr,
            "GET",
            "/api/rooms/town/audit",
            Some(&owner_token),
            None,
        )
        .await;
        assert_eq!(status, 200);
        log = answer;
        if log["entries"].as_array().unwrap().len() >= expected.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let deletions: Vec<(Value, Value, Value)> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["action"].clone(), e["target"].clone(), e["seq"].clone()))
        .collect();
    assert_eq!(deletions, expected);
    assert_eq!(log["entries"][1]["actor"], mo.id());
    let (_, samples) = scrape(&server.addr).await;
    let name = r#"confab_moderation_total{action="delete_message"}"#;
    assert_eq!(samples.get(name), Some(&2.0), "{samples:?}");
    // After a restart, history shows both deleted.
    let mut reader = server.connect_with_hello().await;
    reader
        .send(json!({"type": "join_room", "room": "town"}))
        .await;
    let history = reader.recv_type("history").await;
    let texts: Vec<&str> = history["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["deleted"] != json!(true))
        .filter_map(|m| m["content"].as_str())
        .collect();
    assert!(
        !texts.iter().any(|t| *t == "buy now" || *t == "welcome all"),
        "{history}"
    );
}

#[tokio::test]
async fn a_ban_keeps_the_banned_guests_new_identities_from_their_address_out() {
    let data = tempfile::tempdir().unwrap();
    let server = Binary::start_with(data.path(), &[("CONFAB_API_KEYS", KEY)]);
    let (mut owner, owner_token) = account(&server, "warden").await;
    owner.join("town").await;
    // A guest at the same address from before the ban: not a new identity.
    let (mut elder, elder_token) = guest(&server).await;
    let (mut troll, troll_token) = guest(&server).await;
    troll.join("town").await;
    let (status, _, invite) = call_json(
        &server.addr,
        "POST",
        "/api/rooms/town/invites",
        Some(&owner_token),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 201);
    let accept = format!("/api/invites/{}", invite["code"].as_str().unwrap());
    let body = json!({"action": "ban", "user": troll.id(), "seconds": 600});
    assert_eq!(moderate(&server, &owner_token, body).await.0, 204);
    told(&mut troll).await;
    // A fresh identity from the same address: refused, told why. A client
    // that knows only the article too.
    elder.join("town").await;
    let (mut elder_again, _, _) =
        Client::connect_with_token(&server.ws_url(), Some(&elder_token)).await;
    elder_again.join("town").await;
    let (mut again, again_token) = guest(&server).await;
    // Neither may use an invite to the room: it would count a use.
    for token in [&troll_token, &again_token] {
        let (status, _, _) = call_json(&server.addr, "POST", &accept, Some(token), None).await;
        assert_eq!(status, 403);
    }
    let (_, _, invites) = call_json(
        &server.addr,
        "GET",
        "/api/rooms/town/invites",
        Some(&owner_token),
        None,
    )
    .await;
    assert_eq!(invites["invites"][0]["uses"], 0, "{invites}");
    again
        .send(json!({"type": "join_room", "room": "town"}))
        .await;
    let refused = told(&mut again).await;
    assert!(
        refused["message"].as_str().unwrap().contains("sign in"),
        "{refused}"
    );
    let mut plain = common::Client::connect(&server.ws_url()).await;
    plain
        .send(json!({"type": "join_room", "room": "town"}))
        .await;
    assert_eq!(plain.recv_type("error").await["code"], "moderated");
    // Other rooms are open to them; an account from the address is not
    // kept out.
    again.join("elsewhere").await;
    let (mut neighbour, _) = account(&server, "neighbour").await;
    neighbour.join("town").await;
    // The ban lifted: guests from the address may come in again.
    let body = json!({"action": "unban", "user": troll.id()});
    assert_eq!(moderate(&server, &owner_token, body).await.0, 204);
    let (mut later, _) = guest(&server).await;
    later.join("town").await;
}

#[tokio::test]
async fn admins_run_every_room_and_ban_from_the_whole_server() {
    let data = tempfile::tempdir().unwrap();
    let server = Binary::start_with(
        data.path(),
        &[("CONFAB_API_KEYS", KEY), ("CONFAB_ADMINS", "root")],
    );
    let (mut root, root_token) = account(&server, "root").await;
    let (mut owner, owner_token) = account(&server, "olive").await;
    owner.join("den").await;
    let body = Some(json!({"private": true}));
    assert_eq!(
        status_of(&server, "PATCH", "/api/rooms/den", &owner_token, body).await,
        200
    );
    // An admin may see and join a private room they were not invited to,
    // moderate in it, and read its audit log; another account may not.
    root.join("den").await;
    let (_, elder_token) = guest(&server).await;
    let (mut troll, troll_token) = guest(&server).await;
    troll.join("lobby").await;
    let body = json!({"action": "mute", "user": owner.id(), "seconds": 5});
    let (status, _, _) = call_json(
        &server.addr,
        "POST",
        "/api/rooms/den/moderation",
        Some(&root_token),
        Some(body),
    )
    .await;
    assert_eq!(status, 204, "an admin outranks the room's owner");
    assert!(
        told(&mut owner).await["message"]
            .as_str()
            .unwrap()
            .contains("muted")
    );
    assert_eq!(
        status_of(&server, "GET", "/api/rooms/den/audit", &root_token, None).await,
        200
    );
    let path = "/api/rooms/den/audit?before=-1";
    assert_eq!(
        status_of(&server, "GET", path, &root_token, None).await,
        400
    );
    // The owner may not act on the admin, who stands above them.
    let body = json!({"action": "ban", "user": root.id(), "reason": "mutiny"});
    let (status, _, answer) = call_json(
        &server.addr,
        "POST",
        "/api/rooms/den/moderation",
        Some(&owner_token),
        Some(body),
    )
    .await;
    assert_eq!(status, 403, "{answer}");
    // Only admins (and the operator) ban server-wide.
    let ban = json!({"action": "ban", "user": troll.id(), "reason": "spam everywhere"});
    let (status, _, _) = call_json(
        &server.addr,
        "POST",
        "/api/moderation",
        Some(&owner_token),
        Some(ban.clone()),
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(
        status_of(&server, "GET", "/api/audit", &owner_token, None).await,
        403
    );
    let (status, _, answer) = call_json(
        &server.addr,
        "POST",
        "/api/moderation",
        Some(&root_token),
        Some(ban),
    )
    .await;
    assert_eq!(status, 204, "{answer}");

    // The banned user is told, then closed with 4003.
    let (frames, code, _) = troll.recv_close().await;
    assert_eq!(code, 4003);
    let text = frames
        .iter()
        .find(|f| f["code"] == "moderated")
        .expect("told why")["message"]
        .clone();
    assert!(text.as_str().unwrap().contains("spam everywhere"), "{text}");
    // Their token is refused at hello and by the API.
    let mut back = Client::connect(&server.ws_url()).await;
    back.send(json!({"type": "hello", "token": troll_token}))
        .await;
    let (frames, code, _) = back.recv_close().await;
    assert_eq!(
        (code, &frames[0]["code"]),
        (4003, &json!("moderated")),
        "{frames:?}"
    );
    assert_eq!(
        status_of(&server, "GET", "/api/rooms", &troll_token, None).await,
        403
    );
    // A guest from their address made before the ban is not a new one.
    Client::connect_with_token(&server.ws_url(), Some(&elder_token)).await;
    // Nor may they make their banned guest an account.
    let body = json!({"username": "freshstart", "password": "a long enough passphrase", "token": troll_token});
    let (status, _, _) = call_json(&server.addr, "POST", "/api/accounts", None, Some(body)).await;
    assert_eq!(status, 403);
    // A banned account: the right password signs nobody in.
    let (_shady, _) = account(&server, "shady").await;
    let shady_id = _shady.id().to_owned();
    let ban = json!({"action": "ban", "user": shady_id, "seconds": 60});
    assert_eq!(
        status_of(&server, "POST", "/api/moderation", KEY, Some(ban)).await,
        204
    );
    let body = json!({"username": "shady", "password": "a long enough passphrase"});
    let (status, _, problem) =
        call_json(&server.addr, "POST", "/api/sessions", None, Some(body)).await;
    assert_eq!(status, 403, "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains("banned"),
        "{problem}"
    );
    let unban = json!({"action": "unban", "user": shady_id});
    assert_eq!(
        status_of(&server, "POST", "/api/moderation", KEY, Some(unban)).await,
        204
    );
    // A new guest from their address: refused, with hello or without.
    let mut fresh = Client::connect(&server.ws_url()).await;
    fresh.send(json!({"type": "hello"})).await;
    assert_eq!(fresh.recv_close().await.1, 4003);
    let mut plain = Client::connect(&server.ws_url()).await;
    plain
        .send(json!({"type": "join_room", "room": "lobby"}))
        .await;
    assert_eq!(plain.recv_close().await.1, 4003);
    // Accounts from the address are not: the owner is still here.
    owner.say("den", "still here").await;

    // Lifted: all may come back. Both actions are in the server's log.
    let unban = json!({"action": "unban", "user": troll.id()});
    assert_eq!(
        status_of(&server, "POST", "/api/moderation", KEY, Some(unban)).await,
        204
    );
    let (mut returned, _, _) =
        Client::connect_with_token(&server.ws_url(), Some(&troll_token)).await;
    returned.join("lobby").await;
    let (status, _, log) =
        call_json(&server.addr, "GET", "/api/audit", Some(&root_token), None).await;
    assert_eq!(status, 200);
    let actions: Vec<(&str, &str)> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), e["target"].as_str().unwrap()))
        .collect();
    let (troll, shady) = (troll.id(), shady_id.as_str());
    assert_eq!(
        actions,
        [
            ("unban", troll),
            ("unban", shady),
            ("ban", shady),
            ("ban", troll)
        ]
    );
    assert_eq!(log["entries"][3]["reason"], "spam everywhere");
    let (_, samples) = scrape(&server.addr).await;
    assert_eq!(
        samples.get(r#"confab_moderation_total{action="ban"}"#),
        Some(&2.0)
    );
}

#[test]
fn an_admin_that_is_no_username_stops_the_server_at_start() {
    let data = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_confab"))
        .env("CONFAB_DATA_DIR", data.path())
        .env("LEPTOS_SITE_ADDR", "127.0.0.1:0")
        .env("CONFAB_ADMINS", "root,not a name!")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(
        said.contains("admins") && said.contains("not a name!"),
        "{said}"
    );
}

#[tokio::test]
async fn an_owner_cannot_demote_another_and_role_changes_are_written_down() {
    let data = tempfile::tempdir().unwrap();
    let server = Binary::start_with(data.path(), &[("CONFAB_API_KEYS", KEY)]);
    let (mut first, first_token) = guest(&server).await;
    first.join("hall").await;
    let (mut second, second_token) = guest(&server).await;
    second.join("hall").await;
    let role = |user: &str| format!("/api/rooms/hall/roles/{user}");
    let owner = Some(json!({"role": "owner"}));
    assert_eq!(
        status_of(&server, "PUT", &role(second.id()), &first_token, owner).await,
        200
    );
    // The new owner may not demote the first, take their role, or ban them.
    let member = Some(json!({"role": "member"}));
    assert_eq!(
        status_of(&server, "PUT", &role(first.id()), &second_token, member).await,
        403
    );
    assert_eq!(
        status_of(&server, "DELETE", &role(first.id()), &second_token, None).await,
        403
    );
    let ban = Some(json!({"action": "ban", "user": first.id()}));
    let path = "/api/rooms/hall/moderation";
    assert_eq!(
        status_of(&server, "POST", path, &second_token, ban).await,
        403
    );
    // Their own they may give up; the operator may change anyone's.
    assert_eq!(
        status_of(&server, "DELETE", &role(second.id()), &second_token, None).await,
        204
    );
    let moderator = Some(json!({"role": "moderator"}));
    assert_eq!(
        status_of(&server, "PUT", &role(first.id()), KEY, moderator).await,
        200
    );
    let (status, _, log) = call_json(
        &server.addr,
        "GET",
        "/api/rooms/hall/audit",
        Some(KEY),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let lines: Vec<(&str, &str, &str)> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let text = |key: &str| e[key].as_str().unwrap();
            (text("action"), text("target"), text("reason"))
        })
        .collect();
    assert_eq!(
        lines,
        [
            ("set_role", first.id(), "moderator"),
            ("remove_role", second.id(), ""),
            ("set_role", second.id(), "owner"),
        ]
    );
}

async fn status_of(
    server: &Binary,
    method: &str,
    path: &str,
    bearer: &str,
    body: Option<Value>,
) -> u16 {
    call_json(&server.addr, method, path, Some(bearer), body)
        .await
        .0
}

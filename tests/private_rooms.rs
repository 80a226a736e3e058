//! Rooms with owners, private rooms and invites, from outside: the real
//! binary, real sockets, the real SQLite file. The first joiner owns a
//! room; its owner makes it private, and whoever was in it stays; nobody
//! else gets in by any route (the protocol's join, history and search;
//! the HTTP API's settings, members, messages and invites) until an
//! invite lets them, and an invite revoked, expired or used up lets
//! nobody in. A member runs nothing. All of it holds after a restart.

mod common;

use std::time::Duration;

use common::{Binary, Client, call_json};
use serde_json::{Value, json};

const KEY: &str = "rooms-key-0123456789abcdef0123456789";

fn start(data: &std::path::Path) -> Binary {
    Binary::start_with(data, &[("CONFAB_API_KEYS", KEY)])
}

/// A `hello` client and its token.
async fn guest(server: &Binary) -> (Client, String) {
    let (client, welcome, _) = Client::connect_with_token(&server.ws_url(), None).await;
    let token = welcome["token"].as_str().unwrap().to_owned();
    (client, token)
}

async fn api(
    server: &Binary,
    method: &str,
    path: &str,
    bearer: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let (status, _, answer) = call_json(&server.addr, method, path, Some(bearer), body).await;
    (status, answer)
}

/// The `error` a client gets next, skipping other frames.
async fn next_error(client: &mut Client) -> Value {
    client.recv_type("error").await
}

#[tokio::test]
async fn a_private_room_keeps_outsiders_out_by_every_route_until_an_invite_lets_them_in() {
    let data = tempfile::tempdir().unwrap();
    let server = start(data.path());
    let (mut ana, ana_token) = guest(&server).await;
    let joined = ana.join("plans").await;
    assert_eq!(
        joined["settings"],
        json!({"staff": [{"user": ana.id(), "role": "owner"}]}),
        "the first joiner owns the room"
    );
    // Carl is in the room when it becomes private: he stays a member.
    let (mut carl, carl_token) = guest(&server).await;
    carl.join("plans").await;
    ana.recv_type("user_joined").await;
    let change = json!({"private": true, "topic": "  the launch  "});
    let (status, settings) = api(
        &server,
        "PATCH",
        "/api/rooms/plans",
        &ana_token,
        Some(change),
    )
    .await;
    assert_eq!(status, 200, "{settings}");
    assert_eq!(settings["private"], true);
    assert_eq!(settings["topic"], "the launch");
    assert_eq!(settings["role"], "owner");
    for client in [&mut ana, &mut carl] {
        let updated = client.recv_type("room_updated").await;
        assert_eq!(updated["room"], "plans");
        assert_eq!(updated["settings"]["private"], true);
        assert_eq!(updated["settings"]["topic"], "the launch");
    }
    ana.say_acked("plans", "the secret date", "a-1").await;
    assert_eq!(
        carl.recv_type("room_message").await["content"],
        "the secret date"
    );

    // Dan is nobody there, whatever he tries.
    let (mut dan, dan_token) = guest(&server).await;
    dan.send(json!({"type": "join_room", "room": "plans"}))
        .await;
    let refused = next_error(&mut dan).await;
    assert_eq!(
        (&refused["code"], &refused["room"]),
        (&json!("not_allowed"), &json!("plans"))
    );
    dan.send(json!({"type": "history", "room": "plans"})).await;
    assert_eq!(next_error(&mut dan).await["code"], "not_a_member");
    dan.send(json!({"type": "search", "query": "secret", "room": "plans"}))
        .await;
    assert_eq!(next_error(&mut dan).await["code"], "not_a_member");
    dan.send(json!({"type": "search", "query": "secret"})).await;
    let found = dan.recv_type("search_results").await;
    assert_eq!(found["results"], json!([]), "{found}");
    for path in [
        "/api/rooms/plans",
        "/api/rooms/plans/members",
        "/api/rooms/plans/messages",
        "/api/rooms/plans/invites",
    ] {
        let (status, answer) = api(&server, "GET", path, &dan_token, None).await;
        assert_eq!(status, 404, "{path}: {answer}");
        assert!(!answer.to_string().contains("secret date"), "{answer}");
    }
    let (status, _) = api(
        &server,
        "POST",
        "/api/rooms/plans/invites",
        &dan_token,
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = api(
        &server,
        "PATCH",
        "/api/rooms/plans",
        &dan_token,
        Some(json!({"private": false})),
    )
    .await;
    assert_eq!(status, 404);
    let post = json!({"content": "let me in"});
    let (status, _) = api(
        &server,
        "POST",
        "/api/rooms/plans/messages",
        &dan_token,
        Some(post),
    )
    .await;
    assert_eq!(status, 403, "posting through the API takes a key");
    // The lobby does not list it, to him or to the API.
    dan.send(json!({"type": "list_rooms"})).await;
    let rooms = dan.recv_type("rooms").await;
    assert_eq!(rooms["rooms"], json!([]), "{rooms}");
    let (_, rooms) = api(&server, "GET", "/api/rooms", KEY, None).await;
    assert_eq!(rooms["rooms"], json!([]), "{rooms}");
    // The operator reads it all.
    let (status, page) = api(&server, "GET", "/api/rooms/plans/messages", KEY, None).await;
    assert_eq!(status, 200);
    assert_eq!(page["messages"][0]["content"], "the secret date");

    // A member runs nothing.
    let (status, _) = api(
        &server,
        "PATCH",
        "/api/rooms/plans",
        &carl_token,
        Some(json!({"topic": "mine"})),
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = api(
        &server,
        "POST",
        "/api/rooms/plans/invites",
        &carl_token,
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = api(&server, "GET", "/api/rooms/plans", &carl_token, None).await;
    assert_eq!(status, 200, "but sees the settings");

    // An invite for one lets Dan in, and only him.
    let (status, invite) = api(
        &server,
        "POST",
        "/api/rooms/plans/invites",
        &ana_token,
        Some(json!({"max_uses": 1})),
    )
    .await;
    assert_eq!(status, 201, "{invite}");
    let code = invite["code"].as_str().unwrap().to_owned();
    assert_eq!(invite["url"], format!("/i/{code}"));
    let accept = format!("/api/invites/{code}");
    let (status, accepted) = api(&server, "POST", &accept, &dan_token, None).await;
    assert_eq!(
        (status, &accepted["room"]),
        (200, &json!("plans")),
        "{accepted}"
    );
    dan.join("plans").await;
    let history = dan.recv_type("history").await;
    assert_eq!(history["messages"][0]["content"], "the secret date");
    let (mut erin, erin_token) = guest(&server).await;
    let (status, answer) = api(&server, "POST", &accept, &erin_token, None).await;
    assert_eq!(status, 410, "used up: {answer}");
    // Revoked, expired, or made up: no way in.
    let (_, revoked) = api(
        &server,
        "POST",
        "/api/rooms/plans/invites",
        &ana_token,
        Some(json!({})),
    )
    .await;
    let revoked = revoked["code"].as_str().unwrap().to_owned();
    let (status, _) = api(
        &server,
        "DELETE",
        &format!("/api/invites/{revoked}"),
        &ana_token,
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (status, answer) = api(
        &server,
        "POST",
        &format!("/api/invites/{revoked}"),
        &erin_token,
        None,
    )
    .await;
    assert_eq!(status, 410, "{answer}");
    assert!(
        answer["detail"].as_str().unwrap().contains("revoked"),
        "{answer}"
    );
    let body = json!({"expires_in_seconds": 1});
    let (_, expiring) = api(
        &server,
        "POST",
        "/api/rooms/plans/invites",
        &ana_token,
        Some(body),
    )
    .await;
    let expiring = expiring["code"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, answer) = api(
        &server,
        "POST",
        &format!("/api/invites/{expiring}"),
        &erin_token,
        None,
    )
    .await;
    assert_eq!(status, 410, "{answer}");
    assert!(
        answer["detail"].as_str().unwrap().contains("expired"),
        "{answer}"
    );
    let made_up = "0123456789abcdef0123456789abcdef";
    let (status, _) = api(
        &server,
        "POST",
        &format!("/api/invites/{made_up}"),
        &erin_token,
        None,
    )
    .await;
    assert_eq!(status, 404);
    erin.send(json!({"type": "join_room", "room": "plans"}))
        .await;
    assert_eq!(next_error(&mut erin).await["code"], "not_allowed");
    let (_, listed) = api(&server, "GET", "/api/rooms/plans/invites", &ana_token, None).await;
    let live: Vec<bool> = listed["invites"]
        .as_array()
        .unwrap()
        .iter()
        .map(|invite| invite["live"].as_bool().unwrap())
        .collect();
    assert_eq!(live, [false, false, false], "{listed}");

    // Taking Dan's membership away puts him out, live.
    let dan_path = format!("/api/rooms/plans/roles/{}", dan.id());
    let (status, _) = api(&server, "DELETE", &dan_path, &ana_token, None).await;
    assert_eq!(status, 204);
    let out = next_error(&mut dan).await;
    assert_eq!(
        (&out["code"], &out["room"]),
        (&json!("not_allowed"), &json!("plans")),
        "{out}"
    );
    ana.say_acked("plans", "after Dan", "a-2").await;
    dan.send(json!({"type": "join_room", "room": "plans"}))
        .await;
    assert_eq!(next_error(&mut dan).await["code"], "not_allowed");

    // After a restart, the room is as it was.
    drop((ana, carl, dan, erin));
    drop(server);
    let server = start(data.path());
    let (mut dan, _, _) = Client::connect_with_token(&server.ws_url(), Some(&dan_token)).await;
    // Pipelined behind his join, with the room not in memory: nothing of
    // it reaches him, and nothing of his reaches the room.
    dan.send(json!({"type": "join_room", "room": "plans"}))
        .await;
    dan.send(json!({"type": "history", "room": "plans"})).await;
    dan.send(json!({"type": "room_message", "room": "plans", "content": "sneaking in"}))
        .await;
    let mut codes = Vec::new();
    for _ in 0..3 {
        let frame = dan.recv().await;
        assert_eq!(frame["type"], "error", "{frame}");
        codes.push(frame["code"].as_str().unwrap().to_owned());
    }
    assert_eq!(codes, ["not_allowed", "not_a_member", "not_a_member"]);
    // What he pipelines behind a refused join to a room not in memory is
    // not lost: it applies, in order, once the join is refused.
    dan.send(json!({"type": "join_room", "room": "plans"}))
        .await;
    dan.send(json!({"type": "join_room", "room": "open"})).await;
    dan.send(json!({"type": "room_message", "room": "open", "content": "still here", "id": "d-9"}))
        .await;
    let mut seen = Vec::new();
    loop {
        let frame = dan.recv().await;
        let kind = frame["type"].as_str().unwrap().to_owned();
        seen.push(kind.clone());
        if kind == "ack" {
            assert_eq!(frame["id"], "d-9");
            break;
        }
    }
    seen.retain(|kind| !["history", "room_updated", "room_message"].contains(&kind.as_str()));
    assert_eq!(seen, ["error", "joined", "ack"], "{seen:?}");
    let (mut carl, _, _) = Client::connect_with_token(&server.ws_url(), Some(&carl_token)).await;
    let joined = carl.join("plans").await;
    assert_eq!(joined["settings"]["private"], true);
    assert_eq!(joined["settings"]["topic"], "the launch");
    let (status, _) = api(&server, "GET", "/api/rooms/plans", &ana_token, None).await;
    assert_eq!(status, 200);
}

/// Owners give roles: a moderator invites and sets the topic, but cannot
/// make the room private or give roles; nobody but an owner can.
#[tokio::test]
async fn owners_give_roles_and_each_role_does_only_what_it_may() {
    let data = tempfile::tempdir().unwrap();
    let server = start(data.path());
    let (mut ana, ana_token) = guest(&server).await;
    ana.join("team").await;
    let (mut mo, mo_token) = guest(&server).await;
    mo.join("team").await;
    let path = format!("/api/rooms/team/roles/{}", mo.id());
    let (status, _) = api(
        &server,
        "PUT",
        &path,
        &mo_token,
        Some(json!({"role": "owner"})),
    )
    .await;
    assert_eq!(status, 403, "nobody makes themselves an owner");
    let (status, settings) = api(
        &server,
        "PUT",
        &path,
        &ana_token,
        Some(json!({"role": "moderator"})),
    )
    .await;
    assert_eq!(status, 200, "{settings}");
    let staff = json!([
        {"user": ana.id(), "role": "owner"},
        {"user": mo.id(), "role": "moderator"},
    ]);
    assert_eq!(settings["staff"], staff);
    assert_eq!(
        mo.recv_type("room_updated").await["settings"]["staff"],
        staff
    );
    let (status, _) = api(
        &server,
        "PATCH",
        "/api/rooms/team",
        &mo_token,
        Some(json!({"topic": "standup at 10"})),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = api(
        &server,
        "POST",
        "/api/rooms/team/invites",
        &mo_token,
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 201);
    let (status, _) = api(
        &server,
        "PATCH",
        "/api/rooms/team",
        &mo_token,
        Some(json!({"private": true})),
    )
    .await;
    assert_eq!(status, 403);
    let other = format!("/api/rooms/team/roles/{}", ana.id());
    let (status, _) = api(&server, "DELETE", &other, &mo_token, None).await;
    assert_eq!(status, 403, "a moderator cannot unseat the owner");
    let (status, _) = api(&server, "PUT", &path, KEY, Some(json!({"role": "captain"}))).await;
    assert_eq!(status, 400);
    let (status, answer) = api(
        &server,
        "PATCH",
        "/api/rooms/team",
        &ana_token,
        Some(json!({"topic": "a\u{202e}b"})),
    )
    .await;
    assert_eq!(status, 400, "{answer}");
    let long = "x".repeat(301);
    let (status, _) = api(
        &server,
        "PATCH",
        "/api/rooms/team",
        &ana_token,
        Some(json!({"topic": long})),
    )
    .await;
    assert_eq!(status, 400);
    // A body that is not an object is refused, though serde would read
    // an array as a struct.
    let (status, _) = api(
        &server,
        "PATCH",
        "/api/rooms/team",
        &ana_token,
        Some(json!([null, null])),
    )
    .await;
    assert_eq!(status, 400);
    // Without a key or a token: nothing.
    let (status, _, _) = call_json(&server.addr, "GET", "/api/rooms/team", None, None).await;
    assert_eq!(status, 401);
}

/// The `memberships` a new connection with `token` gets, once its entry
/// for `room` says `unread` (a `mark_read` is written moments after it is
/// sent: until then an older count may come).
async fn memberships_once(server: &Binary, token: &str, room: &str, unread: u64) -> Value {
    let deadline = tokio::time::Instant::now() + common::PATIENCE;
    loop {
        let (mut device, _, _) = Client::connect_with_token(&server.ws_url(), Some(token)).await;
        let memberships = device.recv_type("memberships").await;
        let entry = memberships["rooms"]
            .as_array()
            .unwrap()
            .iter()
            .find(|entry| entry["room"] == room)
            .cloned()
            .unwrap_or_else(|| panic!("{room} is not among {memberships}"));
        if entry["unread"] == unread {
            return memberships;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{room} never showed {unread} unread: {memberships}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_members_rooms_follow_them_to_every_device_with_what_came_while_away() {
    let data = tempfile::tempdir().unwrap();
    let server = start(data.path());
    let (mut ana, ana_token) = guest(&server).await;
    ana.join("crew").await;
    let private = Some(json!({"private": true}));
    assert_eq!(
        api(&server, "PATCH", "/api/rooms/crew", &ana_token, private)
            .await
            .0,
        200
    );
    let (status, invite) = api(
        &server,
        "POST",
        "/api/rooms/crew/invites",
        &ana_token,
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 201);
    let (mut bo, bo_token) = guest(&server).await;
    let accept = format!("/api/invites/{}", invite["code"].as_str().unwrap());
    assert_eq!(api(&server, "POST", &accept, &bo_token, None).await.0, 200);
    bo.join("crew").await;
    let read = ana.say_acked("crew", "seen by Bo", "a-1").await;
    bo.recv_type("room_message").await;
    bo.send(json!({"type": "mark_read", "room": "crew", "seq": read}))
        .await;
    // Bo goes; what comes meanwhile is unread for him (his own message
    // from another device is not).
    bo.close().await;
    ana.say_acked("crew", "one", "a-2").await;
    ana.say_acked("crew", "two", "a-3").await;
    let (mut phone, _, _) = Client::connect_with_token(&server.ws_url(), Some(&bo_token)).await;
    phone.join("crew").await;
    phone.say_acked("crew", "from my phone", "b-1").await;
    phone.close().await;

    // A new device of Bo's: the room is his, two unread.
    let memberships = memberships_once(&server, &bo_token, "crew", 2).await;
    assert_eq!(
        memberships["rooms"],
        json!([{"room": "crew", "role": "member", "unread": 2}])
    );
    // Ana never marked the room read: of all its messages, only Bo's is
    // unread to her (her own are not). She owns the room.
    let memberships = memberships_once(&server, &ana_token, "crew", 1).await;
    assert_eq!(memberships["rooms"][0]["role"], "owner");
    // Kept in the database: the same after a restart.
    drop(server);
    let server = start(data.path());
    memberships_once(&server, &bo_token, "crew", 2).await;
    // Read on this device: none unread on the next.
    let (mut bo, _, _) = Client::connect_with_token(&server.ws_url(), Some(&bo_token)).await;
    bo.join("crew").await;
    bo.send(json!({"type": "mark_read", "room": "crew", "seq": read + 3}))
        .await;
    memberships_once(&server, &bo_token, "crew", 0).await;
    // A mark past the room's last message counts only up to it: what comes
    // next is unread. (Bo's own message after the mark: the broker has
    // taken the mark once it is acknowledged.)
    bo.send(json!({"type": "mark_read", "room": "crew", "seq": 1_000_000}))
        .await;
    bo.say_acked("crew", "me again", "b-2").await;
    let (mut ana, _, _) = Client::connect_with_token(&server.ws_url(), Some(&ana_token)).await;
    ana.join("crew").await;
    ana.say_acked("crew", "after the far mark", "a-4").await;
    memberships_once(&server, &bo_token, "crew", 1).await;
    // Banned from the room: it is no longer among Bo's rooms (his own den
    // still is).
    bo.send(json!({"type": "join_room", "room": "bo-den"}))
        .await;
    assert_eq!(bo.recv_type("joined").await["room"], "bo-den");
    let ban = json!({"action": "ban", "user": bo.id()});
    let (status, _) = api(
        &server,
        "POST",
        "/api/rooms/crew/moderation",
        &ana_token,
        Some(ban),
    )
    .await;
    assert_eq!(status, 204);
    let (mut device, _, _) = Client::connect_with_token(&server.ws_url(), Some(&bo_token)).await;
    let memberships = device.recv_type("memberships").await;
    assert_eq!(
        memberships["rooms"],
        json!([{"room": "bo-den", "role": "owner", "unread": 0}])
    );
}

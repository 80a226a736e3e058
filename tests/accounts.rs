//! Accounts, from outside: the real binary, real sockets. A guest who signs
//! up keeps their id, name and history, and signs in on a second device as
//! the same person; usernames are one per look; wrong passwords and
//! unknown names are refused alike and limited per address and per
//! account; signing a session out closes its connections and its token
//! lets nobody in; passwords are never logged, stored or returned.

mod common;

use common::{Binary, Client, call_json, http_request, scrape};
use serde_json::{Value, json};

fn start(extra: &[(&str, &str)]) -> (Binary, tempfile::TempDir) {
    let data = tempfile::tempdir().unwrap();
    (Binary::start_with(data.path(), extra), data)
}

async fn sign_up(server: &Binary, body: Value) -> (u16, Value) {
    let (status, _, answer) =
        call_json(&server.addr, "POST", "/api/accounts", None, Some(body)).await;
    (status, answer)
}

async fn sign_in(server: &Binary, username: &str, password: &str) -> (u16, Value) {
    let body = json!({"username": username, "password": password});
    let (status, _, answer) =
        call_json(&server.addr, "POST", "/api/sessions", None, Some(body)).await;
    (status, answer)
}

/// Connects with `token`; the `welcome`, and the refusal before it if any.
async fn hello(server: &Binary, token: &str) -> (Client, Value, Option<Value>) {
    Client::connect_with_token(&server.ws_url(), Some(token)).await
}

#[tokio::test]
async fn a_guest_who_signs_up_keeps_their_name_and_history_and_signs_in_elsewhere_as_themselves() {
    let (server, _data) = start(&[]);
    let (mut guest, welcome, _) = Client::connect_with_token(&server.ws_url(), None).await;
    assert_eq!(welcome.get("username"), None);
    let (user, guest_token) = (welcome["user"].clone(), welcome["token"].clone());
    guest
        .send(json!({"type": "set_name", "name": "Ana Lima"}))
        .await;
    guest.recv_type("user_renamed").await;
    guest.join("general").await;
    guest
        .say_acked("general", "before I had an account", "m-1")
        .await;

    let body = json!({"username": "Ana", "password": "a long password", "token": guest_token});
    let (status, account) = sign_up(&server, body).await;
    assert_eq!(status, 201, "{account}");
    assert_eq!(account["user"], user);
    assert_eq!(account["username"], "ana");
    assert!(account["token"].is_string() && account["session"].is_string());
    // The guest's own token goes on working, now as the account's.
    let (_, again, refusal) = hello(&server, guest_token.as_str().unwrap()).await;
    assert_eq!(refusal, None);
    assert_eq!((&again["user"], &again["username"]), (&user, &json!("ana")));

    // A second device signs in, in any case, and is the same person.
    let (status, session) = sign_in(&server, "ANA", "a long password").await;
    assert_eq!(status, 201, "{session}");
    assert_eq!(
        (&session["user"], &session["username"]),
        (&user, &json!("ana"))
    );
    assert_ne!(session["session"], account["session"]);
    let (mut phone, welcome, refusal) = hello(&server, session["token"].as_str().unwrap()).await;
    assert_eq!(refusal, None);
    assert_eq!(
        (&welcome["user"], &welcome["name"]),
        (&user, &json!("Ana Lima"))
    );
    assert_eq!(welcome["username"], "ana");
    phone.join("general").await;
    let history = phone.recv_type("history").await;
    assert_eq!(history["messages"][0]["content"], "before I had an account");
    assert_eq!(history["messages"][0]["from"], user);
    // A client that knows only the article is a guest, as ever.
    let mut article = Client::connect(&server.ws_url()).await;
    article
        .send(json!({"type": "join_room", "room": "general"}))
        .await;
    assert_eq!(article.recv_type("joined").await["room"], "general");
    server.assert_calm();
}

#[tokio::test]
async fn usernames_that_read_alike_are_one_username() {
    let (server, _data) = start(&[]);
    let password = "a long password";
    let (status, _) = sign_up(&server, json!({"username": "ace", "password": password})).await;
    assert_eq!(status, 201);
    // Nobody else may take a display name that reads as the username; its
    // owner may.
    let (mut other, _, _) = Client::connect_with_token(&server.ws_url(), None).await;
    for name in ["Ace", "ACE", "асе", "АСЕ"] {
        other.send(json!({"type": "set_name", "name": name})).await;
        let refused = other.recv_type("error").await;
        assert_eq!(refused["code"], "not_allowed", "{name}: {refused}");
    }
    other
        .send(json!({"type": "set_name", "name": "Ace Ventura"}))
        .await;
    assert_eq!(other.recv_type("user_renamed").await["name"], "Ace Ventura");
    // Who never chose a name is named after their username.
    let (_, ace) = sign_in(&server, "ace", password).await;
    let (_, welcome, _) = hello(&server, ace["token"].as_str().unwrap()).await;
    assert_eq!(
        (&welcome["name"], &welcome["username"]),
        (&json!("ace"), &json!("ace"))
    );
    let mut ace_client = hello(&server, ace["token"].as_str().unwrap()).await.0;
    ace_client
        .send(json!({"type": "set_name", "name": "ACE"}))
        .await;
    assert_eq!(ace_client.recv_type("user_renamed").await["name"], "ACE");
    // A guest who took a name before someone signed up with it as their
    // username shows it no more once they connect again.
    let (mut early, welcome, _) = Client::connect_with_token(&server.ws_url(), None).await;
    let early_token = welcome["token"].as_str().unwrap().to_owned();
    early
        .send(json!({"type": "set_name", "name": "CaroI"}))
        .await;
    assert_eq!(early.recv_type("user_renamed").await["name"], "CaroI");
    let (status, _) = sign_up(&server, json!({"username": "carol", "password": password})).await;
    assert_eq!(status, 201);
    early.close().await;
    // (Once the broker has let the closed connection go: until then the
    // user is still connected, under the name they had.)
    let deadline = tokio::time::Instant::now() + common::PATIENCE;
    loop {
        let (client, again, _) = hello(&server, &early_token).await;
        if again["name"].as_str().unwrap().starts_with("guest-") {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{again}");
        client.close().await;
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // Nor may an account take a guest's name.
    let (status, _) = sign_up(
        &server,
        json!({"username": "Guest-BEEF", "password": password}),
    )
    .await;
    assert_eq!(status, 400);
    // Capitals, full width, and Cyrillic letters that look Latin.
    for taken in ["ACE", "ａｃｅ", "асе"] {
        let (status, problem) =
            sign_up(&server, json!({"username": taken, "password": password})).await;
        assert_eq!(
            (status, problem["detail"].as_str()),
            (409, Some("that username is taken")),
            "{taken}"
        );
    }
    // Latin and Cyrillic mixed, spaces, and too short: not usernames.
    for (invalid, why) in [
        ("pаypal", "one script"),
        ("a b", "not allowed"),
        ("a", "2 to 32"),
    ] {
        let (status, problem) =
            sign_up(&server, json!({"username": invalid, "password": password})).await;
        assert_eq!(status, 400, "{invalid}");
        assert!(
            problem["detail"].as_str().unwrap().contains(why),
            "{problem}"
        );
    }
    let (status, problem) = sign_up(&server, json!({"username": "bea", "password": "short"})).await;
    assert_eq!(
        (status, problem["detail"].as_str()),
        (400, Some("a password is at least 8 characters"))
    );
    let (status, _) = sign_up(
        &server,
        json!({"username": "bea", "password": password, "extra": 1}),
    )
    .await;
    assert_eq!(status, 400);
    // A token that is no live guest's keeps nobody's id.
    let (status, _) = sign_up(
        &server,
        json!({"username": "bea", "password": password, "token": "forged.token"}),
    )
    .await;
    assert_eq!(status, 401);
    server.assert_calm();
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_name_are_refused_alike_and_limited() {
    let (server, _data) = start(&[
        ("CONFAB_RATE_LIMITS__SIGN_INS_PER_ACCOUNT", "3/1h"),
        ("CONFAB_RATE_LIMITS__SIGN_INS_PER_IP", "6/1h"),
        ("CONFAB_TRUSTED_PROXIES", "127.0.0.1"),
    ]);
    let (status, _) = sign_up(
        &server,
        json!({"username": "cleo", "password": "the right one"}),
    )
    .await;
    assert_eq!(status, 201);
    let attempt = |from: &'static str, username: &'static str, password: &'static str| {
        let addr = server.addr.parse().unwrap();
        async move {
            let forwarded = format!("X-Forwarded-For: {from}");
            let body = json!({"username": username, "password": password}).to_string();
            let (head, text) =
                http_request(addr, "POST", "/api/sessions", &[&forwarded], Some(&body)).await;
            let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
            (
                status,
                head.to_ascii_lowercase(),
                serde_json::from_str::<Value>(&text).unwrap(),
            )
        }
    };
    let (status, _, wrong) = attempt("10.0.0.1", "cleo", "the wrong one").await;
    let (status2, _, unknown) = attempt("10.0.0.1", "nobody", "the right one").await;
    assert_eq!((status, status2), (401, 401));
    assert_eq!(wrong, unknown, "the answers do not say which names exist");
    // Two more guesses at cleo from elsewhere: the account's limit (3)
    // holds whatever the address; the right password is refused too.
    assert_eq!(attempt("10.0.0.2", "cleo", "guess").await.0, 401);
    assert_eq!(attempt("10.0.0.3", "cleo", "guess").await.0, 401);
    let (status, head, problem) = attempt("10.0.0.4", "cleo", "the right one").await;
    assert_eq!(status, 429, "{problem}");
    assert!(head.contains("retry-after: "), "{head}");
    // One address trying many names: its own limit (6).
    for name in ["n1", "n2", "n3", "n4"] {
        assert_eq!(attempt("10.0.0.1", name, "x").await.0, 401);
    }
    assert_eq!(attempt("10.0.0.1", "n5", "x").await.0, 429);
    // Another address, another account: not held back.
    let (status, _, _) = call_json(
        &server.addr,
        "POST",
        "/api/sessions",
        None,
        Some(json!({"username": "dora", "password": "whatever it is"})),
    )
    .await;
    assert_eq!(status, 401);
    let (_, samples) = scrape(&server.addr).await;
    assert_eq!(
        samples["confab_rate_limited_total{kind=\"sign_in\",scope=\"account\"}"],
        1.0
    );
    assert_eq!(
        samples["confab_rate_limited_total{kind=\"sign_in\",scope=\"ip\"}"],
        1.0
    );
    assert_eq!(
        samples["confab_account_events_total{kind=\"sign_in\",result=\"refused\"}"],
        9.0
    );
}

#[tokio::test]
async fn signing_a_session_out_closes_its_connections_and_its_token_lets_nobody_in() {
    let (server, _data) = start(&[]);
    let (status, laptop) = sign_up(
        &server,
        json!({"username": "dev", "password": "dev's password"}),
    )
    .await;
    assert_eq!(status, 201);
    let (_, phone) = sign_in(&server, "dev", "dev's password").await;
    let (_, tablet) = sign_in(&server, "dev", "dev's password").await;
    let token = |session: &Value| session["token"].as_str().unwrap().to_owned();
    let (mut on_laptop, _, _) = hello(&server, &token(&laptop)).await;
    let (mut on_phone, _, _) = hello(&server, &token(&phone)).await;

    // The session list, the most recently seen first, this one marked.
    let (status, _, list) = call_json(
        &server.addr,
        "GET",
        "/api/sessions",
        Some(&token(&laptop)),
        None,
    )
    .await;
    assert_eq!(status, 200, "{list}");
    let sessions = list["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 3);
    let current: Vec<&Value> = sessions.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["id"], laptop["session"]);

    // The laptop signs the phone out: every connection of dev's closes
    // (4002); the phone's token is refused from then on, the laptop's not.
    let path = format!("/api/sessions/{}", phone["session"].as_str().unwrap());
    let (status, _, _) =
        call_json(&server.addr, "DELETE", &path, Some(&token(&laptop)), None).await;
    assert_eq!(status, 204);
    for client in [&mut on_laptop, &mut on_phone] {
        let (_, code, _) = client.recv_close().await;
        assert_eq!(code, 4002);
    }
    let (_, welcome, refusal) = hello(&server, &token(&phone)).await;
    assert_eq!(refusal.unwrap()["code"], "invalid_token");
    assert_ne!(welcome["user"], laptop["user"]);
    assert_eq!(welcome.get("username"), None);
    let (_, welcome, refusal) = hello(&server, &token(&laptop)).await;
    assert_eq!((refusal, &welcome["user"]), (None, &laptop["user"]));
    let (status, _, _) = call_json(
        &server.addr,
        "GET",
        "/api/sessions",
        Some(&token(&phone)),
        None,
    )
    .await;
    assert_eq!(status, 401);
    let (status, _, _) =
        call_json(&server.addr, "DELETE", &path, Some(&token(&laptop)), None).await;
    assert_eq!(status, 404);

    // Everywhere else: only the tablet was left.
    let (status, _, ended) = call_json(
        &server.addr,
        "DELETE",
        "/api/sessions",
        Some(&token(&laptop)),
        None,
    )
    .await;
    assert_eq!((status, &ended), (200, &json!({"ended": 1})));
    let (_, _, refusal) = hello(&server, &token(&tablet)).await;
    assert_eq!(refusal.unwrap()["code"], "invalid_token");
    // And this one.
    let (status, _, _) = call_json(
        &server.addr,
        "DELETE",
        "/api/sessions/current",
        Some(&token(&laptop)),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (_, _, refusal) = hello(&server, &token(&laptop)).await;
    assert!(
        refusal.unwrap()["message"]
            .as_str()
            .unwrap()
            .contains("signed out")
    );
    server.assert_calm();
}

#[tokio::test]
async fn a_password_change_needs_the_current_one_and_signs_every_other_session_out() {
    let (server, _data) = start(&[]);
    let (_, laptop) = sign_up(
        &server,
        json!({"username": "gil", "password": "first password"}),
    )
    .await;
    let (_, phone) = sign_in(&server, "gil", "first password").await;
    let token = |session: &Value| session["token"].as_str().unwrap().to_owned();
    let (mut on_phone, _, _) = hello(&server, &token(&phone)).await;
    let path = "/api/sessions/current/password";
    let change = |password: &str, new: &str| json!({"password": password, "new_password": new});
    let (status, _, problem) = call_json(
        &server.addr,
        "POST",
        path,
        Some(&token(&laptop)),
        Some(change("a guess", "second password")),
    )
    .await;
    assert_eq!(
        (status, problem["detail"].as_str()),
        (403, Some("the current password is wrong"))
    );
    let (status, _, _) = call_json(
        &server.addr,
        "POST",
        path,
        Some(&token(&laptop)),
        Some(change("first password", "short")),
    )
    .await;
    assert_eq!(status, 400);
    let (status, _, ended) = call_json(
        &server.addr,
        "POST",
        path,
        Some(&token(&laptop)),
        Some(change("first password", "second password")),
    )
    .await;
    assert_eq!((status, &ended), (200, &json!({"ended": 1})));
    // The phone is out; the laptop is not; only the new password signs in.
    assert_eq!(on_phone.recv_close().await.1, 4002);
    let (_, _, refusal) = hello(&server, &token(&phone)).await;
    assert_eq!(refusal.unwrap()["code"], "invalid_token");
    let (_, welcome, refusal) = hello(&server, &token(&laptop)).await;
    assert_eq!((refusal, &welcome["username"]), (None, &json!("gil")));
    assert_eq!(sign_in(&server, "gil", "first password").await.0, 401);
    assert_eq!(sign_in(&server, "gil", "second password").await.0, 201);
    server.assert_calm();
}

#[tokio::test]
async fn guests_have_no_sessions_and_a_session_route_needs_a_live_token() {
    let (server, _data) = start(&[]);
    let (_, welcome, _) = Client::connect_with_token(&server.ws_url(), None).await;
    let guest = welcome["token"].as_str().unwrap();
    let (status, _, problem) =
        call_json(&server.addr, "GET", "/api/sessions", Some(guest), None).await;
    assert_eq!(status, 403, "{problem}");
    for bearer in [None, Some("garbage"), Some(&guest[..guest.len() - 1])] {
        let (status, head, _) = call_json(&server.addr, "GET", "/api/sessions", bearer, None).await;
        assert_eq!(status, 401, "{bearer:?}");
        assert!(head.contains("www-authenticate: bearer"), "{head}");
    }
}

#[tokio::test]
async fn passwords_are_never_logged_stored_or_returned() {
    let data = tempfile::tempdir().unwrap();
    let server = Binary::start_with(data.path(), &[("RUST_LOG", "debug")]);
    let password = "Pa55word-that-must-not-leak";
    let (status, account) =
        sign_up(&server, json!({"username": "eve", "password": password})).await;
    assert_eq!(status, 201);
    let (status, session) = sign_in(&server, "eve", password).await;
    assert_eq!(status, 201);
    let (status, refused) = sign_in(&server, "eve", "Pa55word-that-is-wrong").await;
    assert_eq!(status, 401);
    for answer in [&account, &session, &refused] {
        assert!(!answer.to_string().contains("Pa55word"), "{answer}");
    }
    drop(server);
    assert!(
        !std::fs::read_to_string(data.path().join("confab.log"))
            .unwrap()
            .contains("Pa55word")
    );
    // The database (hashes, sessions) and its journal: the owner's alone.
    for file in ["confab.db", "confab.db-wal"] {
        let mode = std::fs::metadata(data.path().join(file))
            .unwrap()
            .permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600,
            "{file}"
        );
    }
    // Nor in the database or its log, in any form but the hash.
    for entry in std::fs::read_dir(data.path()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains("Pa55word"));
    }
}

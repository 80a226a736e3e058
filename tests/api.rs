//! The HTTP API, from outside: the real binary, real sockets. Every route
//! refuses a request without a key or with a wrong one; errors are problem
//! details; a bot's message is stored, numbered and delivered like anyone's
//! and idempotent with an id; rooms, members and history read back what
//! clients did; a disconnected user's connections close with 4001.

mod common;

use common::{Binary, Client, call_json, scrape};
use serde_json::{Value, json};

const KEY: &str = "test-key-0123456789abcdef0123456789";
const OTHER_KEY: &str = "another-key-0123456789abcdef012345";

fn start(extra: &[(&str, &str)]) -> (Binary, tempfile::TempDir) {
    let data = tempfile::tempdir().unwrap();
    let keys = format!("{KEY},{OTHER_KEY}");
    let mut settings = vec![("CONFAB_API_KEYS", keys.as_str())];
    settings.extend_from_slice(extra);
    (Binary::start_with(data.path(), &settings), data)
}

/// Status, head and JSON body of an API request with `key`.
async fn call(
    server: &Binary,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> (u16, String, Value) {
    call_json(&server.addr, method, path, key, body).await
}

fn assert_problem(status: u16, head: &str, body: &Value, expected: u16) {
    assert_eq!(status, expected, "{body}");
    assert!(
        head.contains("content-type: application/problem+json"),
        "{head}"
    );
    assert_eq!(body["type"], "about:blank", "{body}");
    assert_eq!(body["status"], expected, "{body}");
    assert!(
        body["title"].is_string() && body["detail"].is_string(),
        "{body}"
    );
}

#[tokio::test]
async fn every_route_refuses_a_request_without_a_valid_key() {
    let (server, _data) = start(&[]);
    let user = "67e55044-10b1-426f-9247-bb680e5fe0c8";
    let routes = [
        ("GET", "/api/rooms".to_owned(), None),
        ("GET", "/api/rooms/general/members".to_owned(), None),
        ("GET", "/api/rooms/general/messages".to_owned(), None),
        (
            "POST",
            "/api/rooms/general/messages".to_owned(),
            Some(json!({"bot": "b", "content": "hi"})),
        ),
        ("DELETE", format!("/api/users/{user}/connections"), None),
    ];
    let wrong = format!("{}x", &KEY[..KEY.len() - 1]);
    for (method, path, body) in &routes {
        for key in [None, Some(wrong.as_str()), Some("short")] {
            let (status, head, problem) = call(&server, method, path, key, body.clone()).await;
            assert_problem(status, &head, &problem, 401);
            assert!(head.contains("www-authenticate: bearer"), "{head}");
        }
        let (status, _, _) = call(&server, method, path, Some(OTHER_KEY), body.clone()).await;
        assert!((200..300).contains(&status), "{method} {path}: {status}");
    }
    // Nothing was posted without a key: the one message is the keyed one.
    let (_, _, page) = call(
        &server,
        "GET",
        "/api/rooms/general/messages",
        Some(KEY),
        None,
    )
    .await;
    assert_eq!(page["messages"].as_array().unwrap().len(), 1);
    // The keys never reach the log.
    let log = server.log();
    assert!(log.contains("API request"), "{log}");
    for secret in [KEY, OTHER_KEY, &wrong] {
        assert!(!log.contains(secret), "a key in the log:\n{log}");
    }
}

#[tokio::test]
async fn a_bot_posts_like_any_member_once_per_id() {
    let (server, _data) = start(&[]);
    let mut ana = server.connect_with_hello().await;
    ana.join("general").await;
    let post = json!({"bot": "deploy-bot", "name": "Deploy Bot", "content": "v1.4 is live", "id": "deploy-1-4"});
    let path = "/api/rooms/general/messages";
    let (status, _, stored) = call(&server, "POST", path, Some(KEY), Some(post.clone())).await;
    assert_eq!(status, 201, "{stored}");
    assert_eq!(stored["room"], "general");
    assert_eq!(stored["seq"], 1);
    assert_eq!(stored["id"], "deploy-1-4");
    let bot = stored["from"].as_str().unwrap().to_owned();

    let seen = ana.recv_type("room_message").await;
    assert_eq!(seen["from"], bot.as_str());
    assert_eq!(seen["name"], "Deploy Bot");
    assert_eq!(seen["content"], "v1.4 is live");
    assert_eq!(seen["seq"], 1);
    assert_eq!(seen["id"], "deploy-1-4");

    // The same id again: the first message's number, nothing new stored.
    let (status, _, again) = call(&server, "POST", path, Some(KEY), Some(post)).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["seq"], 1);
    // The same bot is the same user; without a name it goes by its handle.
    let (status, _, second) = call(
        &server,
        "POST",
        path,
        Some(KEY),
        Some(json!({"bot": "deploy-bot", "content": "and again"})),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(
        (second["seq"].as_u64(), second["from"].as_str()),
        (Some(2), Some(bot.as_str()))
    );
    let seen = ana.recv_type("room_message").await;
    assert_eq!(
        (seen["seq"].as_u64(), seen["name"].as_str()),
        (Some(2), Some("deploy-bot"))
    );

    // A member's message comes after, numbered on.
    assert_eq!(ana.say_acked("general", "thanks", "m-1").await, 3);
    // A room nobody is in takes a post too; whoever joins later sees it.
    let (status, _, _) = call(
        &server,
        "POST",
        "/api/rooms/empty/messages",
        Some(KEY),
        Some(json!({"bot": "b", "content": "hello, anyone?"})),
    )
    .await;
    assert_eq!(status, 201);
    let mut late = server.connect_with_hello().await;
    late.join("empty").await;
    let history = late.recv_type("history").await;
    assert_eq!(history["messages"][0]["content"], "hello, anyone?");
}

#[tokio::test]
async fn history_reads_by_range_and_rooms_and_members_are_listed() {
    let (server, _data) = start(&[]);
    let (url, _) = (server.ws_url(), ());
    let (mut ana, welcome, _) = Client::connect_with_token(&url, None).await;
    let ana_id = welcome["user"].as_str().unwrap().to_owned();
    ana.send(json!({"type": "set_name", "name": "Ana"})).await;
    ana.recv_type("user_renamed").await;
    ana.join("busy").await;
    let mut bo = server.connect_with_hello().await;
    bo.join("busy").await;
    bo.join("quiet").await;
    for n in 1..=5 {
        ana.say_acked("busy", &format!("m{n}"), &format!("a-{n}"))
            .await;
    }

    let (status, _, rooms) = call(&server, "GET", "/api/rooms", Some(KEY), None).await;
    assert_eq!(status, 200);
    assert_eq!(
        rooms,
        json!({"rooms": [{"room": "busy", "members": 2}, {"room": "quiet", "members": 1}]})
    );
    let (_, _, members) = call(&server, "GET", "/api/rooms/busy/members", Some(KEY), None).await;
    let listed: Vec<(&str, &str)> = members["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["user"].as_str().unwrap(), m["name"].as_str().unwrap()))
        .collect();
    assert!(listed.contains(&(ana_id.as_str(), "Ana")), "{members}");
    assert_eq!(listed.len(), 2);
    let (_, _, nobody) = call(&server, "GET", "/api/rooms/nobody/members", Some(KEY), None).await;
    assert_eq!(nobody, json!({"room": "nobody", "members": []}));

    let page = |query: &'static str| {
        let server = &server;
        async move {
            let path = format!("/api/rooms/busy/messages{query}");
            let (status, _, page) = call(server, "GET", &path, Some(KEY), None).await;
            assert_eq!(status, 200, "{page}");
            page["messages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["content"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(page("").await, ["m1", "m2", "m3", "m4", "m5"]);
    assert_eq!(page("?limit=2").await, ["m4", "m5"]);
    assert_eq!(page("?before=4&limit=2").await, ["m2", "m3"]);
    assert_eq!(page("?after=1&limit=2").await, ["m2", "m3"]);
    assert_eq!(page("?after=2&before=5").await, ["m3", "m4"]);
    let (_, _, first) = call(
        &server,
        "GET",
        "/api/rooms/busy/messages?limit=1",
        Some(KEY),
        None,
    )
    .await;
    let message = &first["messages"][0];
    assert_eq!(message["seq"], 5);
    assert_eq!(message["from"], ana_id.as_str());
    assert_eq!(message["name"], "Ana");
    assert_eq!(message["id"], "a-5");
    assert!(message["ts"].as_i64().unwrap() > 1_700_000_000_000);

    // Messages as they are now, whichever way the page goes: an edit shows
    // in the text, a deleted message is gone, and no change is a message.
    for change in [
        json!({"type": "edit_message", "room": "busy", "seq": 2, "content": "m2!"}),
        json!({"type": "react", "room": "busy", "seq": 3, "emoji": "👍"}),
        json!({"type": "delete_message", "room": "busy", "seq": 4}),
    ] {
        ana.send(change).await;
        ana.recv_type("message_changed").await;
    }
    assert_eq!(page("").await, ["m1", "m2!", "m3", "m5"]);
    assert_eq!(page("?after=1").await, ["m2!", "m3", "m5"]);
    // A page forwards counts messages, not rows: a run of changes and a
    // deleted message before the next one make no empty page.
    for on in [true, false, true, false, true, false] {
        ana.send(json!({"type": "react", "room": "busy", "seq": 5, "emoji": "🎉", "on": on}))
            .await;
        ana.recv_type("message_changed").await;
    }
    ana.say_acked("busy", "m6", "a-6").await;
    assert_eq!(page("?after=2&limit=2").await, ["m3", "m5"]);
    assert_eq!(page("?after=3&limit=2").await, ["m5", "m6"]);
    assert_eq!(page("?after=5&limit=1").await, ["m6"]);
}

#[tokio::test]
async fn a_disconnected_user_loses_every_connection_and_nobody_else_does() {
    let (server, _data) = start(&[]);
    let url = server.ws_url();
    let (mut tab1, welcome, _) = Client::connect_with_token(&url, None).await;
    let token = welcome["token"].as_str().unwrap();
    let user = welcome["user"].as_str().unwrap().to_owned();
    let (mut tab2, _, _) = Client::connect_with_token(&url, Some(token)).await;
    let mut other = server.connect_with_hello().await;
    for client in [&mut tab1, &mut tab2, &mut other] {
        client.join("general").await;
    }
    let path = format!("/api/users/{user}/connections");
    let (status, _, answer) = call(&server, "DELETE", &path, Some(KEY), None).await;
    assert_eq!(status, 200);
    assert_eq!(answer, json!({"user": user, "connections": 2}));
    for tab in [&mut tab1, &mut tab2] {
        let (_, code, reason) = tab.recv_close().await;
        assert_eq!(
            (code, reason.as_str()),
            (4001, "disconnected by the operator")
        );
    }
    // The room heard they left, and goes on.
    assert_eq!(other.recv_type("user_left").await["user"], user.as_str());
    other.say_acked("general", "still here", "o-1").await;
    // Nobody left to disconnect: zero, not an error.
    let (status, _, answer) = call(&server, "DELETE", &path, Some(KEY), None).await;
    assert_eq!((status, answer["connections"].as_u64()), (200, Some(0)));
    let closed = "confab_connections_closed_total{how=\"4001\"}";
    common::until_sample(&server.addr, closed, 2.0).await;
}

#[tokio::test]
async fn bad_requests_get_a_problem_that_says_what_to_fix() {
    let (server, _data) = start(&[]);
    let messages = "/api/rooms/general/messages";
    let cases: Vec<(&str, String, Option<Value>, u16, &str)> = vec![
        (
            "GET",
            "/api/rooms/-bad-/members".into(),
            None,
            400,
            "room name",
        ),
        ("GET", format!("{messages}?limit=0"), None, 400, "limit"),
        ("GET", format!("{messages}?limit=201"), None, 400, "limit"),
        ("GET", format!("{messages}?after=x"), None, 400, "after"),
        (
            "POST",
            messages.into(),
            Some(json!({"bot": "b"})),
            400,
            "content",
        ),
        (
            "POST",
            messages.into(),
            Some(json!({"bot": "B!", "content": "x"})),
            400,
            "bot",
        ),
        (
            "POST",
            messages.into(),
            Some(json!({"bot": "b", "content": "   "})),
            400,
            "content",
        ),
        (
            "POST",
            messages.into(),
            Some(json!({"bot": "b", "content": "x", "id": "no spaces"})),
            400,
            "id",
        ),
        (
            "POST",
            messages.into(),
            Some(json!({"bot": "b", "content": "x", "extra": 1})),
            400,
            "extra",
        ),
        (
            "POST",
            messages.into(),
            Some(json!("not an object")),
            400,
            "invalid type",
        ),
        (
            "DELETE",
            "/api/users/not-a-uuid/connections".into(),
            None,
            400,
            "UUID",
        ),
        (
            "GET",
            "/api/no-such-route".into(),
            None,
            404,
            "no such API route",
        ),
        ("GET", "/api/".into(), None, 404, "no such API route"),
        (
            "PUT",
            "/api/rooms".into(),
            None,
            405,
            "does not take that method",
        ),
    ];
    for (method, path, body, expected, says) in cases {
        let (status, head, problem) = call(&server, method, &path, Some(KEY), body).await;
        assert_problem(status, &head, &problem, expected);
        let detail = problem["detail"].as_str().unwrap();
        assert!(detail.contains(says), "{method} {path}: {detail}");
    }
    // Nothing was stored by any of them.
    let (_, _, page) = call(&server, "GET", messages, Some(KEY), None).await;
    assert_eq!(page["messages"], json!([]));
}

#[tokio::test]
async fn each_key_is_rate_limited_and_told_when_to_come_back() {
    let (server, _data) = start(&[("CONFAB_RATE_LIMITS__API", "2/60s")]);
    for _ in 0..2 {
        let (status, _, _) = call(&server, "GET", "/api/rooms", Some(KEY), None).await;
        assert_eq!(status, 200);
    }
    let (status, head, problem) = call(&server, "GET", "/api/rooms", Some(KEY), None).await;
    assert_problem(status, &head, &problem, 429);
    assert!(head.contains("retry-after: 30"), "{head}");
    assert_eq!(problem["retry_after"], 30);
    let (status, _, _) = call(&server, "GET", "/api/rooms", Some(OTHER_KEY), None).await;
    assert_eq!(status, 200, "another key has its own rate");
    let (_, samples) = scrape(&server.addr).await;
    assert_eq!(
        samples.get("confab_rate_limited_total{kind=\"api\",scope=\"key\"}"),
        Some(&1.0)
    );
}

#[tokio::test]
async fn the_openapi_document_describes_every_route_and_the_key() {
    let (server, _data) = start(&[]);
    let (status, head, document) = call(&server, "GET", "/api/openapi.json", None, None).await;
    assert_eq!(status, 200);
    assert!(head.contains("content-type: application/json"), "{head}");
    assert!(document["openapi"].as_str().unwrap().starts_with("3."));
    let paths = document["paths"].as_object().unwrap();
    let mut listed: Vec<String> = paths
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(move |method| format!("{} {path}", method.to_uppercase()))
        })
        .collect();
    listed.sort();
    assert_eq!(
        listed,
        [
            "DELETE /api/invites/{code}",
            "DELETE /api/rooms/{room}/messages/{seq}",
            "DELETE /api/rooms/{room}/roles/{user}",
            "DELETE /api/sessions",
            "DELETE /api/sessions/{session}",
            "DELETE /api/users/{user}/connections",
            "GET /api/audit",
            "GET /api/rooms",
            "GET /api/rooms/{room}",
            "GET /api/rooms/{room}/audit",
            "GET /api/rooms/{room}/invites",
            "GET /api/rooms/{room}/members",
            "GET /api/rooms/{room}/messages",
            "GET /api/sessions",
            "PATCH /api/rooms/{room}",
            "POST /api/accounts",
            "POST /api/invites/{code}",
            "POST /api/moderation",
            "POST /api/rooms/{room}/invites",
            "POST /api/rooms/{room}/messages",
            "POST /api/rooms/{room}/moderation",
            "POST /api/sessions",
            "POST /api/sessions/current/password",
            "PUT /api/rooms/{room}/roles/{user}",
        ]
    );
    for scheme in ["api_key", "session"] {
        assert_eq!(
            document["components"]["securitySchemes"][scheme],
            json!({"type": "http", "scheme": "bearer"})
        );
    }
    // Sign-up and sign-in take no key; the session routes a session token.
    assert_eq!(paths["/api/accounts"]["post"]["security"], json!([{}]));
    assert_eq!(
        paths["/api/sessions"]["get"]["security"],
        json!([{"session": []}])
    );
    // Each account route lists the problems it may answer: a JSON body's,
    // and a session's.
    let statuses = |path: &str, method: &str| -> Vec<String> {
        let responses = paths[path][method]["responses"].as_object().unwrap();
        responses.keys().cloned().collect()
    };
    for (path, method) in [
        ("/api/accounts", "post"),
        ("/api/sessions", "post"),
        ("/api/sessions/current/password", "post"),
    ] {
        let listed = statuses(path, method);
        for status in ["400", "401", "413", "415", "429", "503"] {
            assert!(
                listed.iter().any(|s| s == status),
                "{method} {path}: {listed:?}"
            );
        }
    }
    for (path, method) in [
        ("/api/sessions", "get"),
        ("/api/sessions", "delete"),
        ("/api/sessions/{session}", "delete"),
    ] {
        let listed = statuses(path, method);
        for status in ["401", "403", "503"] {
            assert!(
                listed.iter().any(|s| s == status),
                "{method} {path}: {listed:?}"
            );
        }
    }
}

//! The HTTP API from the browser: a request with `fetch`, the answer's
//! status and JSON, and what a problem answer says. The account pages,
//! invite links and the panels of those who run a room use it, with the
//! token the chat keeps.
//!
//! [`ask`] is there on the server too, so the panels compile for it; the
//! server renders them closed and never asks.

#[cfg(feature = "hydrate")]
use wasm_bindgen::{JsCast, JsValue};
#[cfg(feature = "hydrate")]
use wasm_bindgen_futures::JsFuture;

#[cfg(feature = "hydrate")]
pub(super) use super::socket::Json;
#[cfg(feature = "hydrate")]
use super::socket::saved_token;
use crate::protocol::JsonValue;
#[cfg(feature = "hydrate")]
use crate::protocol::RoomName;

/// What an answer's JSON is read with: the browser's own parser. On the
/// server, which never asks, there is none.
#[cfg(not(feature = "hydrate"))]
pub enum Json {}

#[cfg(not(feature = "hydrate"))]
impl JsonValue for Json {
    fn get(&self, _: &str) -> Option<Self> {
        match *self {}
    }
    fn as_text(&self) -> Option<String> {
        match *self {}
    }
    fn as_integer(&self) -> Option<i64> {
        match *self {}
    }
    fn elements(&self) -> Option<Vec<Self>> {
        match *self {}
    }
    fn as_flag(&self) -> Option<bool> {
        match *self {}
    }
}

/// What [`ask`] hands back: the answer's JSON (none for 204), or what went
/// wrong, in words.
pub type Answer = Result<Option<Json>, String>;

/// Sends `body` (JSON) to `path` as this browser's user, and hands the
/// outcome to `then` when it comes.
pub fn ask(
    method: &'static str,
    path: String,
    body: Option<String>,
    then: impl FnOnce(Answer) + 'static,
) {
    // Boxed: one copy of the request's code in the bundle, not one per
    // caller.
    asked(method, path, body, Box::new(then));
}

fn asked(method: &'static str, path: String, body: Option<String>, then: Box<dyn FnOnce(Answer)>) {
    #[cfg(feature = "hydrate")]
    leptos::task::spawn_local(async move {
        let token = saved_token();
        then(match call(method, &path, token.as_deref(), body).await {
            Ok((200..=299, answer)) => Ok(answer),
            Ok((status, answer)) => Err(problem(status, answer)),
            Err(why) => Err(why),
        });
    });
    #[cfg(not(feature = "hydrate"))]
    let _ = (method, path, body, then);
}

/// A JSON string, quoted and escaped, for a request's body.
pub fn quoted(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_default()
}

/// Status and body of a request to the API.
#[cfg(feature = "hydrate")]
pub async fn call(
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<String>,
) -> Result<(u16, Option<Json>), String> {
    let failed = |_: JsValue| "the server cannot be reached; try again".to_owned();
    let init = web_sys::RequestInit::new();
    init.set_method(method);
    let headers = web_sys::Headers::new().map_err(failed)?;
    if let Some(token) = token {
        headers
            .set("Authorization", &format!("Bearer {token}"))
            .map_err(failed)?;
    }
    if let Some(body) = body {
        headers
            .set("Content-Type", "application/json")
            .map_err(failed)?;
        init.set_body(&JsValue::from_str(&body));
    }
    init.set_headers(&headers);
    let fetched = JsFuture::from(leptos::prelude::window().fetch_with_str_and_init(path, &init))
        .await
        .map_err(failed)?;
    let response: web_sys::Response = fetched.dyn_into().map_err(failed)?;
    let text = JsFuture::from(response.text().map_err(failed)?)
        .await
        .map_err(failed)?
        .as_string()
        .unwrap_or_default();
    Ok((response.status(), Json::parse(&text)))
}

/// What a problem answer says, or what went wrong.
#[cfg(feature = "hydrate")]
pub fn problem(status: u16, body: Option<Json>) -> String {
    body.and_then(|body| body.get("detail")?.as_text())
        .unwrap_or_else(|| format!("the server answered {status}; try again"))
}

/// Uses invite `code` as this browser's user: the room it lets them into,
/// or why not, in words.
#[cfg(feature = "hydrate")]
pub async fn accept_invite(code: &str) -> Result<RoomName, String> {
    let token = saved_token();
    let path = format!("/api/invites/{code}");
    match call("POST", &path, token.as_deref(), None).await? {
        (200, Some(answer)) => answer
            .get("room")
            .and_then(|room| room.as_text())
            .and_then(|room| RoomName::parse(room).ok())
            .ok_or_else(|| "the server's answer names no room".to_owned()),
        (status, body) => Err(format!(
            "This invite cannot be used: {}.",
            problem(status, body)
        )),
    }
}

//! The HTTP API from the browser: a request with `fetch`, the answer's
//! status and JSON, and what a problem answer says. The account pages and
//! invite links use it, with the token the chat keeps.

use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use super::socket::{Json, saved_token};
use crate::protocol::{JsonValue, RoomName};

/// Status and body of a request to the API.
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
pub fn problem(status: u16, body: Option<Json>) -> String {
    body.and_then(|body| body.get("detail")?.as_text())
        .unwrap_or_else(|| format!("the server answered {status}; try again"))
}

/// Uses invite `code` as this browser's user: the room it lets them into,
/// or why not, in words.
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

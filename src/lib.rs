//! confab: a real-time chat room broker and its web client, in one crate.
//!
//! - [`protocol`]: the JSON wire messages, shared by browser and server.
//! - [`app`]: the Leptos web app (server-rendered, then hydrated in WASM).
//! - `server` (feature `ssr`): the Axum server and the room broker behind `/ws`.
//!
//! The browser bundle is this crate built with feature `hydrate`; its entry
//! point is [`hydrate`].

pub mod app;
pub mod protocol;
#[cfg(feature = "ssr")]
pub mod server;

/// Entry point of the WASM bundle: attaches the app to the server-rendered page.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
}

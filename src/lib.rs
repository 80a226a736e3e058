//! confab: a real-time chat room broker and its web client, in one crate.
//!
//! - [`protocol`]: the JSON wire messages, shared by browser and server.
//! - [`app`]: the Leptos web app (server-rendered, then hydrated in WASM).
//! - [`list_set`]: a set kept as a list, for the few items of one connection.
//! - [`markup`]: the small Markdown of messages, parsed into a tree.
//! - `server` (feature `ssr`): the Axum server and the room broker behind `/ws`.
//!
//! The browser bundle is `frontend/`, a cdylib of this crate built with
//! feature `hydrate`, which calls [`app::hydrate`].

// The binary alone may call into libc (malloc arenas, the open-file limit).
#![forbid(unsafe_code)]

pub mod app;
pub mod list_set;
pub mod markup;
pub mod protocol;
#[cfg(feature = "ssr")]
pub mod server;

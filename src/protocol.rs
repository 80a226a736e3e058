//! The wire protocol, compiled into both the browser and the server.
//!
//! It starts from the JSON messages of the article this project grew from
//! (`join_room`, `leave_room`, `room_message`, `direct_message` from the
//! client; `joined`, `user_joined`, `user_left`, `room_message`,
//! `direct_message`, `error` from the server) and only ever adds to them:
//! a new variant or a new optional field, never a rename or a removal.
//!
//! New message *types* are sent only to clients that opened with `hello`, so
//! a client that knows nothing but the article never sees a type it cannot
//! decode. Validated newtypes (`RoomName`, `MessageContent`, `UserId`) are
//! checked while decoding, so an invalid value never gets past the socket.
//!
//! This module must stay free of tokio, axum and web-sys: it is plain data.

mod changes;
mod client;
mod codes;
pub(crate) mod decode;
mod server;
mod settings;
mod text;
mod values;

pub use changes::{Change, Extras, MAX_REACTIONS, PostedChange, QUOTED_CHARS, Quoted, Reaction};
pub use client::{ClientMessage, MAX_MENTIONS, MAX_QUERY_CHARS};
pub use codes::{ErrorCode, close_code};
pub use decode::{DecodeError, JsonValue};
pub use server::{Found, Member, Posted, RoomSummary, ServerMessage};
pub use settings::{MAX_UNREAD, Membership, Role, RoomInfo, Staff};
pub(crate) use text::{is_bidi_control, is_hidden};
pub use values::{ClientId, DisplayName, Emoji, InvalidInput, MessageContent, RoomName, UserId};

/// The protocol revision a `hello` announces and a `welcome` answers with.
pub const PROTOCOL_VERSION: u32 = 2;

#[cfg(test)]
mod tests;

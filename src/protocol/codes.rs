//! The codes the server gives: an `error`'s machine-readable cause, and the
//! WebSocket close codes.

use serde::{Deserialize, Serialize};

/// The machine-readable cause carried by an `error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Not JSON, an unknown type, a missing or invalid field.
    InvalidMessage,
    /// A binary frame: the protocol is JSON text only.
    BinaryFrame,
    /// Posting to or leaving a room the sender is not in.
    NotAMember,
    /// A direct message to a user who is not connected.
    UnknownUser,
    /// The server is stopping; reconnect after the close frame.
    ShuttingDown,
    /// The connection is in as many rooms as it may be.
    TooManyRooms,
    /// The token in `hello` was not issued by this server or was altered;
    /// the connection got a new identity instead.
    InvalidToken,
    /// The message could not be stored and was not delivered; send it again.
    StorageFailed,
    /// The server is too busy to take the message now; send it again later.
    Busy,
    /// Too many requests of this kind: wait `retry_after_ms`, then send it
    /// again. The connection stays open.
    RateLimited,
    /// An edit, deletion or reaction (or a reply) named a message that is
    /// not there: no such number in that room or conversation.
    NoSuchMessage,
    /// The change is not allowed: someone else's message, one deleted, too
    /// old to edit, or one with as many kinds of reaction as it may have.
    /// Also: a private room the user is not a member of.
    NotAllowed,
    /// A moderator acted on the user in `room`: muted (posting is refused
    /// until `retry_after_ms` has passed, if given), banned or kicked (out
    /// of the room), or a mute lifted. `message` says which, and why.
    Moderated,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 13] = [
        ErrorCode::InvalidMessage,
        ErrorCode::BinaryFrame,
        ErrorCode::NotAMember,
        ErrorCode::UnknownUser,
        ErrorCode::ShuttingDown,
        ErrorCode::TooManyRooms,
        ErrorCode::InvalidToken,
        ErrorCode::StorageFailed,
        ErrorCode::Busy,
        ErrorCode::RateLimited,
        ErrorCode::NoSuchMessage,
        ErrorCode::NotAllowed,
        ErrorCode::Moderated,
    ];

    /// The name on the wire (what serde writes, checked by a test).
    pub fn name(self) -> &'static str {
        match self {
            ErrorCode::InvalidMessage => "invalid_message",
            ErrorCode::BinaryFrame => "binary_frame",
            ErrorCode::NotAMember => "not_a_member",
            ErrorCode::UnknownUser => "unknown_user",
            ErrorCode::ShuttingDown => "shutting_down",
            ErrorCode::TooManyRooms => "too_many_rooms",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::StorageFailed => "storage_failed",
            ErrorCode::Busy => "busy",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::NoSuchMessage => "no_such_message",
            ErrorCode::NotAllowed => "not_allowed",
            ErrorCode::Moderated => "moderated",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|code| code.name() == name)
    }
}

/// WebSocket close codes the server uses, and why.
pub mod close_code {
    /// The client broke the WebSocket protocol (RFC 6455).
    pub const PROTOCOL_ERROR: u16 = 1002;
    /// A text message that is not UTF-8 (RFC 6455).
    pub const INVALID_PAYLOAD: u16 = 1007;
    /// The client kept sending past its rate limits after being told to
    /// wait (RFC 6455 "policy violation").
    pub const POLICY_VIOLATION: u16 = 1008;
    /// The message was larger than the configured limit (RFC 6455).
    pub const MESSAGE_TOO_BIG: u16 = 1009;
    /// The server is restarting: reconnect after a short, jittered wait.
    pub const SERVICE_RESTART: u16 = 1012;
    /// The client did not read fast enough and its send queue filled up:
    /// reconnect later (RFC 6455 "try again later").
    pub const SLOW_CONSUMER: u16 = 1013;
    /// An operator disconnected the user (the HTTP API). A private-use
    /// code; the client may connect again.
    pub const DISCONNECTED: u16 = 4001;
    /// A session of the user's account was signed out: every connection
    /// of theirs closes; one whose session lives may connect again at
    /// once, one whose session ended is a new guest if it does.
    pub const SIGNED_OUT: u16 = 4002;
    /// The user is banned from the server (an admin's ban; the `error`
    /// with code `moderated` before it says for how long and why).
    /// Connecting again is refused the same way until the ban ends.
    pub const BANNED: u16 = 4003;
    /// No frame (not even a pong) arrived within the heartbeat timeout.
    /// A private-use code: RFC 6455 has none for an idle peer.
    pub const HEARTBEAT_TIMEOUT: u16 = 4408;
}

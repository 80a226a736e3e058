//! What the server sends: the article's six messages and confab's additions.
//! Encoded with serde; decoded by `decode.rs`.

use serde::{Deserialize, Serialize};

use super::changes::{Extras, PostedChange, Quoted};
use super::codes::ErrorCode;
use super::decode::DecodeError;
use super::settings::{Membership, RoomInfo};
use super::values::{ClientId, DisplayName, MessageContent, RoomName, UserId};

/// A member of a room, as listed in `joined`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub user: UserId,
    pub name: DisplayName,
}

/// A room in the lobby's list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomSummary {
    pub room: RoomName,
    /// People in it (a person on several connections counts once).
    pub members: u32,
}

/// A stored message, as it comes in `history`: numbered within its room (or
/// direct conversation) and timestamped by the server, as it is now (see
/// [`Extras`]: a reply, mentions, edited, deleted, reactions).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Posted {
    pub seq: u64,
    /// Server time, milliseconds since the Unix epoch.
    pub ts: i64,
    pub from: UserId,
    pub name: DisplayName,
    pub content: MessageContent,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<UserId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<ClientId>,
    #[serde(flatten)]
    pub extras: Extras,
}

/// A message a search found, as it is now, and where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Found {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<RoomName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub with: Option<UserId>,
    #[serde(flatten)]
    pub message: Posted,
    /// The words around the first match, as a reader sees them (no
    /// Markdown marks), at most a couple of hundred characters.
    pub preview: String,
}

/// What the server sends, one JSON text frame each.
///
/// The optional fields are additions every client receives (an unknown
/// field is ignored by any JSON client); the new types go only to clients
/// that said `hello`.
///
/// Decoding is written out in [`decode`], not derived: see there why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// To the joiner. `members` (everyone in the room, the joiner included)
    /// is filled only for clients that said `hello`.
    Joined {
        room: RoomName,
        #[serde(skip_serializing_if = "Option::is_none")]
        members: Option<Vec<Member>>,
        /// The room's topic, privacy and staff: for `hello` clients.
        #[serde(skip_serializing_if = "Option::is_none")]
        settings: Option<RoomInfo>,
    },
    UserJoined {
        room: RoomName,
        user: UserId,
        #[serde(skip_serializing_if = "Option::is_none")]
        name: Option<DisplayName>,
    },
    UserLeft {
        room: RoomName,
        user: UserId,
    },
    /// `seq`, `ts`, `name` and `id` are set for every stored message.
    RoomMessage {
        room: RoomName,
        from: UserId,
        content: MessageContent,
        #[serde(skip_serializing_if = "Option::is_none")]
        name: Option<DisplayName>,
        #[serde(skip_serializing_if = "Option::is_none")]
        seq: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        ts: Option<i64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<ClientId>,
        #[serde(skip_serializing_if = "Option::is_none")]
        reply_to: Option<u64>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        mentions: Vec<UserId>,
        /// What `reply_to` answers, as it is now (see [`Quoted`]).
        #[serde(skip_serializing_if = "Option::is_none")]
        quote: Option<Box<Quoted>>,
    },
    /// `to` is set on the copy a sender's other connections receive.
    DirectMessage {
        from: UserId,
        content: MessageContent,
        #[serde(skip_serializing_if = "Option::is_none")]
        to: Option<UserId>,
        #[serde(skip_serializing_if = "Option::is_none")]
        name: Option<DisplayName>,
        #[serde(skip_serializing_if = "Option::is_none")]
        seq: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        ts: Option<i64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<ClientId>,
        #[serde(skip_serializing_if = "Option::is_none")]
        reply_to: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        quote: Option<Box<Quoted>>,
    },
    /// A message of `room` (or of the direct conversation between `from`
    /// and `to`) was edited, deleted, or reacted to: numbered in the same
    /// sequence as the messages (see [`PostedChange`]).
    MessageChanged {
        #[serde(skip_serializing_if = "Option::is_none")]
        room: Option<RoomName>,
        #[serde(skip_serializing_if = "Option::is_none")]
        to: Option<UserId>,
        #[serde(flatten)]
        change: PostedChange,
    },
    /// `code`, `room`, `id` and `retry_after_ms` are additions: a
    /// machine-readable cause, the room or the message the failed request
    /// was about, and (with `rate_limited`) how long to wait before asking
    /// again.
    Error {
        message: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        code: Option<ErrorCode>,
        #[serde(skip_serializing_if = "Option::is_none")]
        room: Option<RoomName>,
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<ClientId>,
        #[serde(skip_serializing_if = "Option::is_none")]
        retry_after_ms: Option<u64>,
        /// With `moderated`: `true` when it says the user is muted in
        /// `room` (until `retry_after_ms` from now, or until lifted when
        /// that is absent), `false` when their mute was lifted.
        #[serde(skip_serializing_if = "Option::is_none")]
        muted: Option<bool>,
    },
    /// The answer to `hello`: who this connection is, and the token that
    /// brings the same identity back on the next connection. `epoch` names
    /// the server's numbering of rooms and conversations: when it differs
    /// from the one a client saw before, every sequence number that client
    /// knows belongs to a history that is gone (storage in memory
    /// restarted, a new database), and its view must be rebuilt.
    Welcome {
        user: UserId,
        name: DisplayName,
        token: String,
        protocol: u32,
        #[serde(skip_serializing_if = "Option::is_none")]
        epoch: Option<String>,
        /// The account's username, when the user has signed up (a guest
        /// has none).
        #[serde(skip_serializing_if = "Option::is_none")]
        username: Option<String>,
        /// The user is one of the server's admins, who run every room.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        admin: bool,
    },
    /// The message with client id `id` is stored (on disk) as `seq`.
    Ack {
        id: ClientId,
        #[serde(skip_serializing_if = "Option::is_none")]
        room: Option<RoomName>,
        #[serde(skip_serializing_if = "Option::is_none")]
        to: Option<UserId>,
        seq: u64,
        ts: i64,
    },
    /// Stored messages of a room (or, with `with`, of a direct
    /// conversation), oldest first, as they are now: after `joined`, as the
    /// replay of a resume, or as the answer to a history request. A replay
    /// or a page forwards (`after`) also brings the `changes` numbered in
    /// it, oldest first: those to messages the client had before.
    History {
        #[serde(skip_serializing_if = "Option::is_none")]
        room: Option<RoomName>,
        #[serde(skip_serializing_if = "Option::is_none")]
        with: Option<UserId>,
        messages: Vec<Posted>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        changes: Vec<PostedChange>,
    },
    /// The answer to `search`: the messages found, newest first, each with
    /// its room or (`with`) the other person of its direct conversation.
    /// `more`: older ones match too (ask again with `before` the last's
    /// `ts`).
    SearchResults {
        query: String,
        results: Vec<Found>,
        more: bool,
    },
    /// A user in one of this client's rooms changed their display name.
    UserRenamed {
        user: UserId,
        name: DisplayName,
    },
    /// The rooms with people in them, largest first, with how many.
    Rooms {
        rooms: Vec<RoomSummary>,
    },
    /// A room's settings changed (its topic, privacy or staff): to its
    /// members, as they are now.
    RoomUpdated {
        room: RoomName,
        settings: RoomInfo,
    },
    /// Someone in `room` is writing; shown for a few seconds unless repeated.
    Typing {
        room: RoomName,
        user: UserId,
        name: DisplayName,
    },
    /// After `welcome`, to a `hello` client whose user has a standing in
    /// some rooms (owns, moderates, or is a member of a private one): on
    /// every device, which rooms are theirs and what came while away.
    Memberships {
        rooms: Vec<Membership>,
    },
}

impl ServerMessage {
    pub fn error(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::Error {
            message: message.into(),
            code: Some(code),
            room: None,
            id: None,
            retry_after_ms: None,
            muted: None,
        }
    }

    pub fn room_error(code: ErrorCode, room: RoomName, message: impl Into<String>) -> Self {
        Self::Error {
            message: message.into(),
            code: Some(code),
            room: Some(room),
            id: None,
            retry_after_ms: None,
            muted: None,
        }
    }

    /// A `moderated` error about the user's mute in `room`: muted (until
    /// `retry_after_ms` from now; none: until lifted), or lifted; `id`: the
    /// message it refused, if any.
    pub fn mute(
        room: RoomName,
        muted: bool,
        retry_after_ms: Option<u64>,
        id: Option<ClientId>,
        message: impl Into<String>,
    ) -> Self {
        Self::Error {
            message: message.into(),
            code: Some(ErrorCode::Moderated),
            room: Some(room),
            id,
            retry_after_ms,
            muted: Some(muted),
        }
    }

    /// An error about one message the client sent with an id.
    pub fn message_error(
        code: ErrorCode,
        id: Option<ClientId>,
        room: Option<RoomName>,
        message: impl Into<String>,
    ) -> Self {
        Self::Error {
            message: message.into(),
            code: Some(code),
            room,
            id,
            retry_after_ms: None,
            muted: None,
        }
    }

    /// A request refused for its rate: the room or message it was about, and
    /// how long to wait before sending it again.
    pub fn rate_limited(
        id: Option<ClientId>,
        room: Option<RoomName>,
        retry_after_ms: u64,
        message: impl Into<String>,
    ) -> Self {
        Self::Error {
            message: message.into(),
            code: Some(ErrorCode::RateLimited),
            room,
            id,
            retry_after_ms: Some(retry_after_ms),
            muted: None,
        }
    }

    /// Decodes a frame from the server the way a tolerant client must: a
    /// message type this build does not know (a newer server) is skipped,
    /// while a known type with a broken body is still an error (see
    /// [`decode`](self::decode) for the rules).
    pub fn decode(text: &str) -> Result<Option<Self>, DecodeError> {
        let json: serde_json::Value = serde_json::from_str(text)?;
        Self::from_json(&&json)
    }

    pub(super) const KNOWN_TYPES: &'static [&'static str] = &[
        "joined",
        "user_joined",
        "user_left",
        "room_message",
        "direct_message",
        "error",
        "welcome",
        "ack",
        "history",
        "user_renamed",
        "typing",
        "rooms",
        "message_changed",
        "search_results",
        "room_updated",
        "memberships",
    ];
}

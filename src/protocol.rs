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

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub(crate) mod decode;

pub use decode::{DecodeError, JsonValue};

/// The protocol revision a `hello` announces and a `welcome` answers with.
pub const PROTOCOL_VERSION: u32 = 2;

/// Why a value from the wire was refused. The text is sent to the client as
/// is, so it says what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidInput {
    #[error("room name must be 1 to {max} characters long, got {0}", max = RoomName::MAX_CHARS)]
    RoomNameLength(usize),
    #[error(
        "room name may contain only ASCII letters, digits, '-', '_' and '.', \
         and must start with a letter or a digit"
    )]
    RoomNameCharacters,
    #[error("message content must not be empty or only white space")]
    EmptyContent,
    #[error("message content must be at most {max} characters long, got {0}", max = MessageContent::MAX_CHARS)]
    ContentTooLong(usize),
    #[error("user id must be a UUID such as 67e55044-10b1-426f-9247-bb680e5fe0c8")]
    UserId,
    #[error("message id must be 1 to 64 ASCII letters, digits, '-' or '_'")]
    ClientId,
    #[error("name must be 1 to {max} characters long once trimmed, got {0}", max = DisplayName::MAX_CHARS)]
    NameLength(usize),
    #[error("name must have a visible character and no control or text-direction characters")]
    NameCharacters,
    #[error(
        "name must not hide characters: no invisible characters (but the joiners inside emoji), \
         and no white space but plain spaces"
    )]
    NameHidden,
    #[error(
        "message content must have a visible character, and no control characters (but tab and \
         new line) nor text-direction overrides"
    )]
    ContentCharacters,
}

/// A room's name.
///
/// ASCII letters, digits, `-`, `_` and `.`, starting with a letter or digit:
/// the name goes into URLs (`/r/<room>`) and log lines unescaped, and a
/// narrow alphabet rules out look-alike names (Cyrillic `а` against Latin
/// `a`), invisible characters and `.`/`..` path segments. Case is kept as
/// sent, so a client gets back exactly the name it asked for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RoomName(String);

impl RoomName {
    pub const MAX_CHARS: usize = 64;

    pub fn parse(name: impl Into<String>) -> Result<Self, InvalidInput> {
        let name = name.into();
        // Only ASCII passes the character check, so bytes are characters here
        // once that check is done; count characters first for the message.
        let chars = name.chars().count();
        if chars == 0 || chars > Self::MAX_CHARS {
            return Err(InvalidInput::RoomNameLength(chars));
        }
        let first_ok = name.starts_with(|c: char| c.is_ascii_alphanumeric());
        let all_ok = name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !(first_ok && all_ok) {
            return Err(InvalidInput::RoomNameCharacters);
        }
        Ok(Self(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RoomName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The text of a room or direct message.
///
/// Not empty after trimming, and at most 4,000 characters (Unicode scalar
/// values, as a person counts them, not bytes): long enough for a pasted
/// stack trace, short enough that one message cannot flood a screen. The text
/// is kept exactly as sent (leading spaces of a code snippet matter).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MessageContent(String);

impl MessageContent {
    pub const MAX_CHARS: usize = 4_000;

    pub fn parse(content: impl Into<String>) -> Result<Self, InvalidInput> {
        let content = content.into();
        if content.trim().is_empty() {
            return Err(InvalidInput::EmptyContent);
        }
        let chars = content.chars().count();
        if chars > Self::MAX_CHARS {
            return Err(InvalidInput::ContentTooLong(chars));
        }
        Ok(Self(content))
    }

    /// A message as a client may send it now: besides [`parse`](Self::parse),
    /// at least one visible character, no control characters but tab and
    /// new lines (no NUL, BEL, ESC), and none of the bidi overrides and
    /// isolates that reorder what follows (a link or a name read backwards).
    /// Messages already stored are read with `parse` alone.
    pub fn parse_new(content: impl Into<String>) -> Result<Self, InvalidInput> {
        let content = Self::parse(content)?;
        let forbidden =
            |c: char| (c.is_control() && !matches!(c, '\t' | '\n' | '\r')) || is_bidi_override(c);
        if content.0.chars().any(forbidden)
            || content.0.chars().all(|c| c.is_whitespace() || is_hidden(c))
        {
            return Err(InvalidInput::ContentCharacters);
        }
        Ok(content)
    }

    fn deserialize_new<'de, D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Self, D::Error> {
        Self::parse_new(String::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A connected user, a UUID v4 on the wire (`user`, `from`, `to` fields).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UserId(Uuid);

impl UserId {
    /// A fresh random id for a new connection.
    #[cfg(feature = "ssr")]
    pub fn new_random() -> Self {
        Self(Uuid::new_v4())
    }

    pub fn parse(text: &str) -> Result<Self, InvalidInput> {
        Uuid::parse_str(text)
            .map(Self)
            .map_err(|_| InvalidInput::UserId)
    }

    /// The name shown for a user who has not chosen one: `guest-` and the
    /// first four hex digits of the id.
    pub fn guest_name(&self) -> DisplayName {
        let hex = self.0.simple().to_string();
        DisplayName(format!("guest-{}", &hex[..4]))
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

/// A client's own id for a message it sends, so that a resend after a
/// reconnect is recognised and not stored or delivered twice. 1 to 64 ASCII
/// letters, digits, `-` and `_`: a UUID fits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ClientId(String);

impl ClientId {
    pub const MAX_CHARS: usize = 64;

    pub fn parse(id: impl Into<String>) -> Result<Self, InvalidInput> {
        let id = id.into();
        let valid = (1..=Self::MAX_CHARS).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if valid {
            Ok(Self(id))
        } else {
            Err(InvalidInput::ClientId)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The serde bridge of a validated newtype: decoding goes through its
/// `parse`, so an invalid value fails to decode with `parse`'s message.
macro_rules! wire_string {
    ($name:ident, |$value:ident| $parse:expr, |$this:ident| $encode:expr) => {
        impl TryFrom<String> for $name {
            type Error = InvalidInput;
            fn try_from($value: String) -> Result<Self, Self::Error> {
                $parse
            }
        }

        impl From<$name> for String {
            fn from($this: $name) -> Self {
                $encode
            }
        }
    };
}

wire_string!(RoomName, |value| Self::parse(value), |name| name.0);
wire_string!(MessageContent, |value| Self::parse(value), |content| {
    content.0
});
wire_string!(UserId, |value| Self::parse(&value), |id| id
    .0
    .hyphenated()
    .to_string());
wire_string!(ClientId, |value| Self::parse(value), |id| id.0);

/// A person's display name: 1 to 32 characters once trimmed, no control
/// characters (no new lines, no escape sequences, no bidi overrides that
/// could make a name impersonate another in a log or a terminal).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DisplayName(String);

impl DisplayName {
    pub const MAX_CHARS: usize = 32;

    /// Trims, then checks. The trimmed name is what is kept.
    pub fn parse(name: impl Into<String>) -> Result<Self, InvalidInput> {
        let name = name.into();
        let trimmed = name.trim();
        let chars = trimmed.chars().count();
        if chars == 0 || chars > Self::MAX_CHARS {
            return Err(InvalidInput::NameLength(chars));
        }
        // Control characters and the bidi controls that reorder text (a
        // name could make a line read as something else) are refused
        // anywhere; invisible characters are allowed only beside visible
        // ones (emoji sequences need the zero-width joiner).
        if trimmed
            .chars()
            .any(|c| c.is_control() || is_bidi_control(c))
        {
            return Err(InvalidInput::NameCharacters);
        }
        if trimmed
            .chars()
            .all(|c| c.is_whitespace() || is_invisible(c))
        {
            return Err(InvalidInput::NameCharacters);
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// A name as a user may choose it now: besides [`parse`](Self::parse),
    /// no invisible characters (but the joiners and selectors inside emoji,
    /// after a visible character) and no white space but plain spaces, so
    /// that two names that look alike are alike. Names already stored are
    /// read with `parse` alone.
    pub fn parse_new(name: impl Into<String>) -> Result<Self, InvalidInput> {
        let name = Self::parse(name)?;
        let mut previous: Option<char> = None;
        for c in name.0.chars() {
            if (c.is_whitespace() && c != ' ') || (is_hidden(c) && !joins_emoji(previous, c)) {
                return Err(InvalidInput::NameHidden);
            }
            previous = Some(c);
        }
        Ok(name)
    }

    fn deserialize_new<'de, D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Self, D::Error> {
        Self::parse_new(String::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }

    /// Whether this is the name of some guest (`guest-` and four hex
    /// digits, in any case): reserved for the guests themselves.
    pub fn is_guest_name(&self) -> bool {
        let lower = self.0.to_ascii_lowercase();
        lower
            .strip_prefix("guest-")
            .is_some_and(|hex| hex.len() == 4 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Whether `c`, an invisible character, belongs to an emoji sequence after
/// `previous`: a selector or zero-width joiner after an emoji (not after a
/// letter, where it would only hide inside a look-alike name, as in `Ana` +
/// U+FE0F), a joiner after a selector (`❤️‍🔥`), or a tag after a flag or
/// another tag. Emoji are told by their blocks, not by Unicode's letter
/// tables, which would cost the browser bundle 1.7 KB.
fn joins_emoji(previous: Option<char>, c: char) -> bool {
    let Some(previous) = previous else {
        return false;
    };
    let symbol = matches!(previous,
        '\u{00A9}' | '\u{00AE}' | '\u{2010}'..='\u{2BFF}' | '\u{3030}' | '\u{303D}'
        | '\u{3297}' | '\u{3299}' | '\u{1F000}'..='\u{1FAFF}')
        && !previous.is_whitespace()
        && !is_hidden(previous);
    let tag = |c: char| matches!(c, '\u{E0020}'..='\u{E007F}');
    match c {
        '\u{FE0E}' | '\u{FE0F}' => symbol,
        '\u{200D}' => symbol || matches!(previous, '\u{FE0F}' | '\u{FE0E}'),
        c if tag(c) => symbol || tag(previous),
        _ => false,
    }
}

/// The bidi controls that reorder the text after them until closed:
/// embeddings, overrides and isolates (the marks, which only nudge one
/// neutral character, are fine).
fn is_bidi_override(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Characters that change the direction of the text around them.
pub(crate) fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Characters that render as nothing (or as blank space that is not
/// white space to Unicode): format characters, fillers, selectors.
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
        | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200D}' | '\u{2060}'..='\u{2064}'
        | '\u{206A}'..='\u{206F}' | '\u{2800}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}'
        | '\u{FEFF}' | '\u{FFA0}' | '\u{1D173}'..='\u{1D17A}' | '\u{E0000}'..='\u{E0FFF}')
}

/// Invisible, or a format character that renders as nothing in most fonts
/// (the interlinear annotation marks, shorthand format controls): refused
/// in what clients send now.
pub(crate) fn is_hidden(c: char) -> bool {
    is_invisible(c) || matches!(c, '\u{FFF9}'..='\u{FFFB}' | '\u{1BCA0}'..='\u{1BCA3}')
}

impl fmt::Display for DisplayName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

wire_string!(DisplayName, |value| Self::parse(value), |name| name.0);

/// What a client sends, one JSON text frame each.
///
/// Optional fields (`after`, `id`, `token`) and the types `hello`,
/// `set_name`, `history` and `direct_history` are confab's additions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    /// `after`: the highest sequence number of the room this client has
    /// shown. The server then replays what came after it, in order, before
    /// any new message (resume); without it a `hello` client gets the
    /// room's latest messages.
    JoinRoom {
        room: RoomName,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<u64>,
    },
    LeaveRoom {
        room: RoomName,
    },
    /// `id`: the client's own id for the message. A resend with the same id
    /// (after a reconnect) is acknowledged again but stored only once.
    RoomMessage {
        room: RoomName,
        #[serde(deserialize_with = "MessageContent::deserialize_new")]
        content: MessageContent,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<ClientId>,
    },
    DirectMessage {
        to: UserId,
        #[serde(deserialize_with = "MessageContent::deserialize_new")]
        content: MessageContent,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<ClientId>,
    },
    /// Opts in to the additions, and must be the first message. `token`
    /// (from an earlier `welcome`) restores the same user and name.
    Hello {
        #[serde(default = "default_protocol")]
        protocol: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token: Option<String>,
    },
    SetName {
        #[serde(deserialize_with = "DisplayName::deserialize_new")]
        name: DisplayName,
    },
    /// Subscribes to the lobby: answered with `rooms`, sent again (at most
    /// once a second) while the rooms or their member counts change.
    ListRooms,
    /// The user is writing in `room`. Sent at most every few seconds while
    /// typing; never stored; the server forwards it to the room's other
    /// members and drops any that come faster than it allows.
    Typing {
        room: RoomName,
    },
    /// A page of a room's history. With `after`: the oldest messages after
    /// it (and before `before`, if given); otherwise the newest before
    /// `before` (or the newest of all). Oldest first either way.
    History {
        room: RoomName,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        before: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<u64>,
        #[serde(
            default,
            deserialize_with = "page_limit",
            skip_serializing_if = "Option::is_none"
        )]
        limit: Option<u32>,
    },
    /// The same for the direct conversation between this user and `with`.
    DirectHistory {
        with: UserId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        before: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<u64>,
        #[serde(
            default,
            deserialize_with = "page_limit",
            skip_serializing_if = "Option::is_none"
        )]
        limit: Option<u32>,
    },
}

/// A history request's `limit`: at least 1 (a larger one than a page holds
/// gets a full page).
fn page_limit<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<u32>, D::Error> {
    match Option::<u32>::deserialize(deserializer)? {
        Some(0) => Err(serde::de::Error::custom("limit must be at least 1")),
        limit => Ok(limit),
    }
}

fn default_protocol() -> u32 {
    PROTOCOL_VERSION
}

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
/// direct conversation) and timestamped by the server.
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
    },
    /// `code`, `room` and `id` are additions: a machine-readable cause, and
    /// the room or the message the failed request was about.
    Error {
        message: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        code: Option<ErrorCode>,
        #[serde(skip_serializing_if = "Option::is_none")]
        room: Option<RoomName>,
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<ClientId>,
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
    /// conversation), oldest first: after `joined`, as the replay of a
    /// resume, or as the answer to a history request.
    History {
        #[serde(skip_serializing_if = "Option::is_none")]
        room: Option<RoomName>,
        #[serde(skip_serializing_if = "Option::is_none")]
        with: Option<UserId>,
        messages: Vec<Posted>,
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
    /// Someone in `room` is writing; shown for a few seconds unless repeated.
    Typing {
        room: RoomName,
        user: UserId,
        name: DisplayName,
    },
}

impl ServerMessage {
    pub fn error(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::Error {
            message: message.into(),
            code: Some(code),
            room: None,
            id: None,
        }
    }

    pub fn room_error(code: ErrorCode, room: RoomName, message: impl Into<String>) -> Self {
        Self::Error {
            message: message.into(),
            code: Some(code),
            room: Some(room),
            id: None,
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

    const KNOWN_TYPES: &'static [&'static str] = &[
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
    ];
}

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
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 9] = [
        ErrorCode::InvalidMessage,
        ErrorCode::BinaryFrame,
        ErrorCode::NotAMember,
        ErrorCode::UnknownUser,
        ErrorCode::ShuttingDown,
        ErrorCode::TooManyRooms,
        ErrorCode::InvalidToken,
        ErrorCode::StorageFailed,
        ErrorCode::Busy,
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
    /// The message was larger than the configured limit (RFC 6455).
    pub const MESSAGE_TOO_BIG: u16 = 1009;
    /// The server is restarting: reconnect after a short, jittered wait.
    pub const SERVICE_RESTART: u16 = 1012;
    /// The client did not read fast enough and its send queue filled up:
    /// reconnect later (RFC 6455 "try again later").
    pub const SLOW_CONSUMER: u16 = 1013;
    /// No frame (not even a pong) arrived within the heartbeat timeout.
    /// A private-use code: RFC 6455 has none for an idle peer.
    pub const HEARTBEAT_TIMEOUT: u16 = 4408;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ALICE: &str = "67e55044-10b1-426f-9247-bb680e5fe0c8";
    const BOB: &str = "0b9b9c2e-2f6a-4a3e-9d8e-5a1f0c3d2b1a";

    fn room(name: &str) -> RoomName {
        RoomName::parse(name).unwrap()
    }

    fn content(text: &str) -> MessageContent {
        MessageContent::parse(text).unwrap()
    }

    fn user(id: &str) -> UserId {
        UserId::parse(id).unwrap()
    }

    fn client(json: serde_json::Value) -> ClientMessage {
        serde_json::from_value(json).unwrap()
    }

    fn client_error(text: &str) -> String {
        serde_json::from_str::<ClientMessage>(text)
            .unwrap_err()
            .to_string()
    }

    /// Asserts both directions: the value encodes to exactly `expected`, and
    /// `expected` decodes back to the value.
    fn assert_wire<T>(value: T, expected: serde_json::Value)
    where
        T: Serialize + for<'de> Deserialize<'de> + PartialEq + fmt::Debug,
    {
        assert_eq!(serde_json::to_value(&value).unwrap(), expected);
        assert_eq!(serde_json::from_value::<T>(expected).unwrap(), value);
    }

    #[test]
    fn client_messages_have_the_articles_exact_json() {
        assert_wire(
            ClientMessage::JoinRoom {
                room: room("general"),
                after: None,
            },
            json!({"type": "join_room", "room": "general"}),
        );
        assert_wire(
            ClientMessage::LeaveRoom {
                room: room("general"),
            },
            json!({"type": "leave_room", "room": "general"}),
        );
        assert_wire(
            ClientMessage::RoomMessage {
                room: room("general"),
                content: content("Hello everyone!"),
                id: None,
            },
            json!({"type": "room_message", "room": "general", "content": "Hello everyone!"}),
        );
        assert_wire(
            ClientMessage::DirectMessage {
                to: user(BOB),
                content: content("psst"),
                id: None,
            },
            json!({"type": "direct_message", "to": BOB, "content": "psst"}),
        );
    }

    #[test]
    fn hello_is_an_addition_with_a_default_protocol() {
        assert_wire(
            ClientMessage::Hello {
                protocol: 2,
                token: Some("t.k".into()),
            },
            json!({"type": "hello", "protocol": 2, "token": "t.k"}),
        );
        assert_eq!(
            client(json!({"type": "hello"})),
            ClientMessage::Hello {
                protocol: PROTOCOL_VERSION,
                token: None,
            }
        );
    }

    #[test]
    fn client_additions_are_optional_fields_and_new_types() {
        assert_wire(
            ClientMessage::JoinRoom {
                room: room("general"),
                after: Some(41),
            },
            json!({"type": "join_room", "room": "general", "after": 41}),
        );
        assert_wire(
            ClientMessage::RoomMessage {
                room: room("general"),
                content: content("hi"),
                id: Some(ClientId::parse("m-1").unwrap()),
            },
            json!({"type": "room_message", "room": "general", "content": "hi", "id": "m-1"}),
        );
        assert_eq!(
            client(json!({"type": "set_name", "name": "  Ana  "})),
            ClientMessage::SetName {
                name: DisplayName::parse("Ana").unwrap()
            }
        );
        assert_wire(
            ClientMessage::History {
                room: room("general"),
                before: Some(100),
                after: None,
                limit: Some(20),
            },
            json!({"type": "history", "room": "general", "before": 100, "limit": 20}),
        );
        assert_wire(
            ClientMessage::DirectHistory {
                with: user(BOB),
                before: None,
                after: Some(3),
                limit: None,
            },
            json!({"type": "direct_history", "with": BOB, "after": 3}),
        );
    }

    #[test]
    fn server_messages_have_the_articles_exact_json() {
        assert_wire(
            ServerMessage::Joined {
                room: room("general"),
                members: None,
            },
            json!({"type": "joined", "room": "general"}),
        );
        assert_wire(
            ServerMessage::UserJoined {
                room: room("general"),
                user: user(ALICE),
                name: None,
            },
            json!({"type": "user_joined", "room": "general", "user": ALICE}),
        );
        assert_wire(
            ServerMessage::UserLeft {
                room: room("general"),
                user: user(ALICE),
            },
            json!({"type": "user_left", "room": "general", "user": ALICE}),
        );
        assert_wire(
            ServerMessage::RoomMessage {
                room: room("general"),
                from: user(ALICE),
                content: content("hi"),
                name: None,
                seq: None,
                ts: None,
                id: None,
            },
            json!({"type": "room_message", "room": "general", "from": ALICE, "content": "hi"}),
        );
        assert_wire(
            ServerMessage::DirectMessage {
                from: user(ALICE),
                content: content("psst"),
                to: None,
                name: None,
                seq: None,
                ts: None,
                id: None,
            },
            json!({"type": "direct_message", "from": ALICE, "content": "psst"}),
        );
        assert_wire(
            ServerMessage::Error {
                message: "server shutting down".into(),
                code: None,
                room: None,
                id: None,
            },
            json!({"type": "error", "message": "server shutting down"}),
        );
    }

    #[test]
    fn server_additions_are_optional_fields_and_new_types() {
        let ana = DisplayName::parse("Ana").unwrap();
        assert_wire(
            ServerMessage::Joined {
                room: room("general"),
                members: Some(vec![Member {
                    user: user(ALICE),
                    name: ana.clone(),
                }]),
            },
            json!({"type": "joined", "room": "general", "members": [{"user": ALICE, "name": "Ana"}]}),
        );
        assert_wire(
            ServerMessage::RoomMessage {
                room: room("general"),
                from: user(ALICE),
                content: content("hi"),
                name: Some(ana.clone()),
                seq: Some(7),
                ts: Some(1_700_000_000_000),
                id: Some(ClientId::parse("m-1").unwrap()),
            },
            json!({"type": "room_message", "room": "general", "from": ALICE, "content": "hi",
                   "name": "Ana", "seq": 7, "ts": 1_700_000_000_000_i64, "id": "m-1"}),
        );
        assert_wire(
            ServerMessage::Ack {
                id: ClientId::parse("m-1").unwrap(),
                room: Some(room("general")),
                to: None,
                seq: 7,
                ts: 5,
            },
            json!({"type": "ack", "id": "m-1", "room": "general", "seq": 7, "ts": 5}),
        );
        assert_wire(
            ServerMessage::History {
                room: None,
                with: Some(user(BOB)),
                messages: vec![Posted {
                    seq: 1,
                    ts: 5,
                    from: user(ALICE),
                    name: ana.clone(),
                    content: content("psst"),
                    to: Some(user(BOB)),
                    id: None,
                }],
            },
            json!({"type": "history", "with": BOB, "messages": [
                {"seq": 1, "ts": 5, "from": ALICE, "name": "Ana", "content": "psst", "to": BOB}]}),
        );
        assert_wire(
            ServerMessage::UserRenamed {
                user: user(ALICE),
                name: ana.clone(),
            },
            json!({"type": "user_renamed", "user": ALICE, "name": "Ana"}),
        );
        assert_wire(
            ServerMessage::Typing {
                room: room("general"),
                user: user(ALICE),
                name: DisplayName::parse("Ana").unwrap(),
            },
            json!({"type": "typing", "room": "general", "user": ALICE, "name": "Ana"}),
        );
        assert_wire(
            ClientMessage::Typing {
                room: room("general"),
            },
            json!({"type": "typing", "room": "general"}),
        );
        assert_wire(ClientMessage::ListRooms, json!({"type": "list_rooms"}));
        assert_wire(
            ServerMessage::Rooms {
                rooms: vec![RoomSummary {
                    room: room("general"),
                    members: 3,
                }],
            },
            json!({"type": "rooms", "rooms": [{"room": "general", "members": 3}]}),
        );
        assert_wire(
            ServerMessage::room_error(ErrorCode::NotAMember, room("general"), "join first"),
            json!({"type": "error", "message": "join first", "code": "not_a_member", "room": "general"}),
        );
        assert_wire(
            ServerMessage::Welcome {
                user: user(ALICE),
                name: ana,
                token: "t.k".into(),
                protocol: 2,
                epoch: Some("e1".into()),
            },
            json!({"type": "welcome", "user": ALICE, "name": "Ana", "token": "t.k", "protocol": 2, "epoch": "e1"}),
        );
    }

    #[test]
    fn every_error_code_has_a_snake_case_name() {
        let names: Vec<_> = ErrorCode::ALL
            .iter()
            .map(|code| serde_json::to_value(code).unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "invalid_message",
                "binary_frame",
                "not_a_member",
                "unknown_user",
                "shutting_down",
                "too_many_rooms",
                "invalid_token",
                "storage_failed",
                "busy",
            ]
        );
        for (code, name) in ErrorCode::ALL.into_iter().zip(&names) {
            assert_eq!(code.name(), name, "the decoder reads what serde writes");
            assert_eq!(ErrorCode::from_name(code.name()), Some(code));
        }
        assert_eq!(ErrorCode::from_name("newer_code"), None);
    }

    #[test]
    fn room_names_follow_the_documented_alphabet() {
        for good in ["general", "a", "Rust-lang_2.0", "9lives", &"x".repeat(64)] {
            assert_eq!(RoomName::parse(good).unwrap().as_str(), good);
        }
        assert_eq!(RoomName::parse(""), Err(InvalidInput::RoomNameLength(0)));
        assert_eq!(
            RoomName::parse("x".repeat(65)),
            Err(InvalidInput::RoomNameLength(65))
        );
        for bad in [
            "has space",
            "..",
            ".hidden",
            "-dash",
            "a/b",
            "gen\u{0}",
            "général",
            "tab\t",
        ] {
            assert_eq!(
                RoomName::parse(bad),
                Err(InvalidInput::RoomNameCharacters),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn content_must_have_visible_text_within_the_limit() {
        assert_eq!(
            MessageContent::parse("  indented\n").unwrap().as_str(),
            "  indented\n"
        );
        assert_eq!(MessageContent::parse(""), Err(InvalidInput::EmptyContent));
        assert_eq!(
            MessageContent::parse(" \n\t "),
            Err(InvalidInput::EmptyContent)
        );
        // 4,000 characters pass even when each is several bytes.
        assert!(MessageContent::parse("é".repeat(4_000)).is_ok());
        assert_eq!(
            MessageContent::parse("é".repeat(4_001)),
            Err(InvalidInput::ContentTooLong(4_001))
        );
    }

    #[test]
    fn invalid_client_input_is_refused_with_a_message_that_says_what_to_fix() {
        let cases = [
            (
                r#"{"type":"join_room","room":"a b"}"#,
                "room name may contain only ASCII letters",
            ),
            (
                r#"{"type":"join_room","room":""}"#,
                "room name must be 1 to 64 characters long, got 0",
            ),
            (r#"{"type":"join_room"}"#, "missing field `room`"),
            (
                r#"{"type":"room_message","room":"general","content":"   "}"#,
                "message content must not be empty",
            ),
            (
                r#"{"type":"direct_message","to":"bob","content":"hi"}"#,
                "user id must be a UUID",
            ),
            (
                r#"{"type":"dance","room":"general"}"#,
                "unknown variant `dance`",
            ),
            (r#"{"room":"general"}"#, "missing field `type`"),
            (
                r#"{"type":"join_room","room":42}"#,
                "invalid type: integer `42`, expected a string",
            ),
            ("not json", "expected ident"),
        ];
        for (text, expected) in cases {
            let error = client_error(text);
            assert!(error.contains(expected), "{text}: got {error:?}");
        }
    }

    #[test]
    fn a_tolerant_client_skips_unknown_server_types_but_not_broken_known_ones() {
        assert_eq!(
            ServerMessage::decode(r#"{"type":"joined","room":"general"}"#).unwrap(),
            Some(ServerMessage::Joined {
                room: room("general"),
                members: None
            })
        );
        assert_eq!(
            ServerMessage::decode(r#"{"type":"confetti","colour":"gold"}"#).unwrap(),
            None
        );
        // A newer type may use one of our field names for something else.
        assert_eq!(
            ServerMessage::decode(r#"{"type":"room_info","members":12,"room":{}}"#).unwrap(),
            None
        );
        assert!(ServerMessage::decode(r#"{"type":"joined"}"#).is_err());
        assert!(ServerMessage::decode("[1,2]").is_err());
        let missing = format!(r#"{{"type":"welcome","user":"{ALICE}","name":"A","token":"t"}}"#);
        let error = ServerMessage::decode(&missing).unwrap_err().to_string();
        assert!(error.contains("missing field `protocol`"), "{error}");
        let unknown = serde_json::from_str::<ServerMessage>(r#"{"type":"confetti"}"#);
        assert!(
            unknown
                .unwrap_err()
                .to_string()
                .contains("unknown variant `confetti`")
        );
    }

    #[test]
    fn decoding_names_a_broken_field_and_tolerates_what_a_newer_server_adds() {
        let decode = |json: serde_json::Value| ServerMessage::decode(&json.to_string());
        // null is absent; an unknown field or error code is ignored.
        assert_eq!(
            decode(
                json!({"type": "error", "message": "m", "code": "newer_code", "room": null, "x": 1})
            ),
            Ok(Some(ServerMessage::Error {
                message: "m".into(),
                code: None,
                room: None,
                id: None
            }))
        );
        let history = json!({"type": "history", "room": "general", "messages": [
            {"seq": 7, "ts": 1700000000000_i64, "from": ALICE, "name": "Alice", "content": "hi"}
        ]});
        let Ok(Some(ServerMessage::History { messages, .. })) = decode(history) else {
            panic!("a history");
        };
        assert_eq!((messages[0].seq, messages[0].to), (7, None));
        for (json, error) in [
            (
                json!({"type": "joined", "room": "no spaces"}),
                "invalid field `room`: room name",
            ),
            (
                json!({"type": "joined", "room": 5}),
                "invalid field `room`: expected a string",
            ),
            (
                json!({"type": "ack", "id": "a", "seq": -1, "ts": 0}),
                "invalid field `seq`",
            ),
            (
                json!({"type": "rooms", "rooms": {}}),
                "invalid field `rooms`: expected an array",
            ),
            (
                json!({"type": "rooms", "rooms": [{"room": "r"}]}),
                "missing field `members`",
            ),
            (json!({"type": 3}), "invalid field `type`"),
            (json!([1, 2]), "missing field `type`"),
        ] {
            let refused = decode(json.clone()).unwrap_err().to_string();
            assert!(refused.starts_with(error), "{json}: {refused}");
        }
    }

    #[test]
    fn client_message_ids_are_short_and_url_safe() {
        assert!(ClientId::parse("67e55044-10b1-426f-9247-bb680e5fe0c8").is_ok());
        assert!(ClientId::parse("a_B-9").is_ok());
        for bad in ["", "has space", "ünï", &"x".repeat(65)] {
            assert_eq!(ClientId::parse(bad), Err(InvalidInput::ClientId), "{bad:?}");
        }
    }

    #[test]
    fn new_content_must_show_something_and_hide_no_controls_or_reordering() {
        for bad in [
            "\u{200B}\u{200C}\u{2060}",
            "\u{FEFF} \u{200B}",
            "ding\u{7}",
            "nul\u{0}",
            "\u{1b}[31mred",
            "see https://\u{202E}moc.elppa",
            "\u{2067}isolated",
            "\u{FFF9}\u{FFFA}\u{FFFB}",
        ] {
            assert_eq!(
                MessageContent::parse_new(bad),
                Err(InvalidInput::ContentCharacters),
                "{bad:?}"
            );
            assert!(
                MessageContent::parse(bad).is_ok(),
                "what is stored stays readable: {bad:?}"
            );
        }
        for good in [
            "hi",
            "two\nlines\tand a tab\r\n",
            "עברית \u{200F}!",
            "👩‍💻 at work",
        ] {
            assert!(MessageContent::parse_new(good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn new_names_hide_nothing_and_guest_names_are_recognised() {
        for bad in [
            "An\u{200B}a",
            "Ana\u{FE0F}",
            "An\u{200D}a",
            "guest-67e5\u{FE0F}",
            "Ana\u{2028}Lima",
            "Ana\u{00A0}Lima",
            "\u{FFF9}\u{FFFA}\u{FFFB}",
            "\u{200D}Ana",
        ] {
            assert!(DisplayName::parse_new(bad).is_err(), "{bad:?}");
        }
        for good in [
            "Ana Lima",
            "👩‍💻 Dev",
            "❤️ Ana",
            "❤️‍🔥 Ana",
            "Zoë",
            "🏴\u{E0067}\u{E0062}\u{E0065}\u{E006E}\u{E0067}\u{E007F} Ana",
        ] {
            assert!(DisplayName::parse_new(good).is_ok(), "{good:?}");
        }
        let name = |text: &str| DisplayName::parse(text).unwrap();
        assert!(name("guest-1a2b").is_guest_name());
        assert!(name("GUEST-ABCD").is_guest_name());
        assert!(!name("guest-1a2").is_guest_name());
        assert!(!name("guest-1a2bc").is_guest_name());
        assert!(!name("guest-zzzz").is_guest_name());
        assert!(user(ALICE).guest_name().is_guest_name());
    }

    #[test]
    fn guest_names_come_from_the_id() {
        assert_eq!(user(ALICE).guest_name().as_str(), "guest-67e5");
        assert_eq!(user(ALICE).to_string(), ALICE);
    }

    #[test]
    fn display_names_are_trimmed_and_free_of_control_characters() {
        assert_eq!(
            DisplayName::parse("  Ana Lima ").unwrap().as_str(),
            "Ana Lima"
        );
        assert!(DisplayName::parse("é".repeat(32)).is_ok());
        assert_eq!(DisplayName::parse("   "), Err(InvalidInput::NameLength(0)));
        assert_eq!(
            DisplayName::parse("x".repeat(33)),
            Err(InvalidInput::NameLength(33))
        );
        // Emoji sequences keep their joiners and selectors.
        assert!(DisplayName::parse("Ana \u{1F469}\u{200D}\u{1F4BB}\u{FE0F}").is_ok());
        for bad in [
            "a\nb",
            "bell\u{7}",
            "evil\u{202E}txt",
            "mark\u{061C}",
            "\u{2060}",
            "\u{3164}",
            "\u{00AD}\u{00AD}",
            "\u{E0041}",
            "\u{180E}",
            "\u{200B} \u{200B}",
        ] {
            assert_eq!(
                DisplayName::parse(bad),
                Err(InvalidInput::NameCharacters),
                "{bad:?}"
            );
        }
    }
}

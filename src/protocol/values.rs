//! The validated values of the wire: room names, message text, user and
//! message ids, display names. Each is checked as it is decoded, so an
//! invalid one never gets past the socket; `parse_new` adds the rules for
//! what a client sends now (`text.rs`), `parse` reads what is stored.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::text::{is_bidi_control, is_bidi_override, is_hidden, is_invisible, joins_emoji};

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
    #[error(
        "a reaction is one emoji or a short symbol: 1 to {max} characters, visible, with no \
         white space or control characters",
        max = Emoji::MAX_CHARS
    )]
    Emoji,
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

    pub(super) fn deserialize_new<'de, D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Self, D::Error> {
        Self::parse_new(String::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }

    /// The text of a deleted message, the only empty content: the words
    /// are gone from storage, and a client shows a placeholder.
    pub fn removed() -> Self {
        Self(String::new())
    }

    /// Stored text, which is empty once deleted ([`removed`](Self::removed)).
    pub fn parse_stored(content: impl Into<String>) -> Result<Self, InvalidInput> {
        let content = content.into();
        if content.is_empty() {
            return Ok(Self::removed());
        }
        Self::parse(content)
    }

    pub fn is_removed(&self) -> bool {
        self.0.is_empty()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A reaction: one emoji (a sequence of code points with its joiners and
/// selectors: a flag, a family, a skin tone) or a short symbol such as
/// `+1`. Short, visible, no white space or control characters, so it
/// cannot carry a message of its own or hide one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Emoji(String);

impl Emoji {
    pub const MAX_CHARS: usize = 16;

    pub fn parse(emoji: impl Into<String>) -> Result<Self, InvalidInput> {
        let emoji = emoji.into();
        let chars = emoji.chars().count();
        let refused = |c: char| c.is_whitespace() || c.is_control() || is_bidi_control(c);
        if chars == 0
            || chars > Self::MAX_CHARS
            || emoji.chars().any(refused)
            || emoji.chars().all(is_hidden)
        {
            return Err(InvalidInput::Emoji);
        }
        Ok(Self(emoji))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A connected user, a UUID on the wire (v4 for people, v8 for bots) (`user`, `from`, `to` fields).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UserId(Uuid);

impl UserId {
    /// The operator, acting with an API key (no user): the audit log's
    /// actor for what it did. A custom UUID of zeros, never a person's.
    pub const OPERATOR: UserId = Self(uuid::Builder::from_custom_bytes([0; 16]).into_uuid());

    /// A fresh random id for a new connection.
    #[cfg(feature = "ssr")]
    pub fn new_random() -> Self {
        Self(Uuid::new_v4())
    }

    /// An id made from 16 bytes of the server's choosing (a bot's, from
    /// its handle), marked as a custom UUID (version 8): never a guest's.
    #[cfg(feature = "ssr")]
    pub const fn from_custom_bytes(bytes: [u8; 16]) -> Self {
        Self(uuid::Builder::from_custom_bytes(bytes).into_uuid())
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
wire_string!(
    MessageContent,
    |value| Self::parse_stored(value),
    |content| content.0
);
wire_string!(UserId, |value| Self::parse(&value), |id| id
    .0
    .hyphenated()
    .to_string());
wire_string!(ClientId, |value| Self::parse(value), |id| id.0);
wire_string!(Emoji, |value| Self::parse(value), |emoji| emoji.0);

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

    pub(super) fn deserialize_new<'de, D: serde::Deserializer<'de>>(
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

impl fmt::Display for DisplayName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

wire_string!(DisplayName, |value| Self::parse(value), |name| name.0);

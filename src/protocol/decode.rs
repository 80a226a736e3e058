//! Reading a [`ServerMessage`] from parsed JSON, in the browser as on the
//! server.
//!
//! The decoding is written out, not derived, for the browser bundle's sake:
//! serde's derived decoders are a visitor per type and per field type, and
//! an internally tagged enum (`"type"` inside the object) is even decoded
//! twice, through a buffer. Those, with serde_json's parser, were about a
//! tenth of the WASM. Here a message is read from a [`JsonValue`]: the
//! browser's own `JSON.parse` result in the web app, serde_json's `Value`
//! everywhere else (the server's tests, the load generator, any Rust
//! client). The rules are the same on both, and tested here on the second.
//!
//! They are those of a tolerant client: a type this build does not know (a
//! newer server's) is skipped without looking at its fields, an unknown
//! field is ignored, `null` is the same as absent, and a known type with a
//! missing or invalid field is an error that names the field. An error
//! code this build does not know reads as no code.

use super::{
    Change, ClientId, DisplayName, ErrorCode, Extras, Found, InvalidInput, Member, Membership,
    MessageContent, Posted, PostedChange, Quoted, Reaction, RoomInfo, RoomName, RoomSummary,
    ServerMessage, UserId,
};

/// Parsed JSON, read-only: what [`ServerMessage::from_json`] reads.
pub trait JsonValue: Sized {
    /// The member `key` of an object; `None` if absent, `null`, or if this
    /// is not an object.
    fn get(&self, key: &str) -> Option<Self>;
    fn as_text(&self) -> Option<String>;
    /// An integer that fits an `i64` exactly (in the browser, where every
    /// number is a double: one within ±2⁵³).
    fn as_integer(&self) -> Option<i64>;
    fn elements(&self) -> Option<Vec<Self>>;
    fn as_flag(&self) -> Option<bool>;
}

/// Why a server message could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DecodeError(String);

impl DecodeError {
    pub(crate) fn missing(key: &str) -> Self {
        Self(format!("missing field `{key}`"))
    }

    pub(crate) fn invalid(key: &str, why: impl std::fmt::Display) -> Self {
        Self(format!("invalid field `{key}`: {why}"))
    }
}

/// A field the message's type requires.
pub(crate) fn required<T>(value: Option<T>, key: &str) -> Result<T, DecodeError> {
    value.ok_or_else(|| DecodeError::missing(key))
}

pub(crate) fn text<V: JsonValue>(object: &V, key: &str) -> Result<Option<String>, DecodeError> {
    object
        .get(key)
        .map(|value| {
            value
                .as_text()
                .ok_or_else(|| DecodeError::invalid(key, "expected a string"))
        })
        .transpose()
}

/// A string checked by its type: a room name, a user id... `key` names it
/// in the error.
pub(crate) fn parsed<V, T>(value: &V, key: &str) -> Result<T, DecodeError>
where
    V: JsonValue,
    T: TryFrom<String, Error = InvalidInput>,
{
    let text = value
        .as_text()
        .ok_or_else(|| DecodeError::invalid(key, "expected a string"))?;
    T::try_from(text).map_err(|why| DecodeError::invalid(key, why))
}

/// A string field checked by its type.
pub(crate) fn checked<V, T>(object: &V, key: &str) -> Result<Option<T>, DecodeError>
where
    V: JsonValue,
    T: TryFrom<String, Error = InvalidInput>,
{
    object.get(key).map(|value| parsed(&value, key)).transpose()
}

pub(crate) fn integer<V, T>(object: &V, key: &str) -> Result<Option<T>, DecodeError>
where
    V: JsonValue,
    T: TryFrom<i64>,
{
    object
        .get(key)
        .map(|value| {
            value
                .as_integer()
                .and_then(|number| T::try_from(number).ok())
                .ok_or_else(|| DecodeError::invalid(key, "expected an integer in range"))
        })
        .transpose()
}

pub(crate) fn list<V, T>(
    object: &V,
    key: &str,
    item: impl Fn(&V) -> Result<T, DecodeError>,
) -> Result<Option<Vec<T>>, DecodeError>
where
    V: JsonValue,
{
    object
        .get(key)
        .map(|value| {
            value
                .elements()
                .ok_or_else(|| DecodeError::invalid(key, "expected an array"))?
                .iter()
                .map(&item)
                .collect()
        })
        .transpose()
}

fn member<V: JsonValue>(object: &V) -> Result<Member, DecodeError> {
    Ok(Member {
        user: required(checked(object, "user")?, "user")?,
        name: required(checked(object, "name")?, "name")?,
    })
}

fn posted<V: JsonValue>(object: &V) -> Result<Posted, DecodeError> {
    Ok(Posted {
        seq: required(integer(object, "seq")?, "seq")?,
        ts: required(integer(object, "ts")?, "ts")?,
        from: required(checked(object, "from")?, "from")?,
        name: required(checked(object, "name")?, "name")?,
        content: required(checked(object, "content")?, "content")?,
        to: checked(object, "to")?,
        id: checked(object, "id")?,
        extras: Extras {
            reply_to: integer(object, "reply_to")?,
            mentions: users(object, "mentions")?,
            edited: integer(object, "edited")?,
            deleted: flag(object, "deleted")?.unwrap_or(false),
            reactions: list(object, "reactions", reaction)?.unwrap_or_default(),
            rev: integer(object, "rev")?,
            quote: quoted(object)?,
        },
    })
}

/// The `quote` of a reply, if it has one.
fn quoted<V: JsonValue>(object: &V) -> Result<Option<Box<Quoted>>, DecodeError> {
    object
        .get("quote")
        .map(|quote| {
            Ok(Box::new(Quoted {
                from: required(checked(&quote, "from")?, "from")?,
                name: required(checked(&quote, "name")?, "name")?,
                text: text(&quote, "text")?.unwrap_or_default(),
                deleted: flag(&quote, "deleted")?.unwrap_or(false),
            }))
        })
        .transpose()
}

fn users<V: JsonValue>(object: &V, key: &str) -> Result<Vec<UserId>, DecodeError> {
    Ok(list(object, key, |user| parsed(user, key))?.unwrap_or_default())
}

pub(crate) fn flag<V: JsonValue>(object: &V, key: &str) -> Result<Option<bool>, DecodeError> {
    object
        .get(key)
        .map(|value| {
            value
                .as_flag()
                .ok_or_else(|| DecodeError::invalid(key, "expected true or false"))
        })
        .transpose()
}

fn reaction<V: JsonValue>(object: &V) -> Result<Reaction, DecodeError> {
    Ok(Reaction {
        emoji: required(checked(object, "emoji")?, "emoji")?,
        users: users(object, "users")?,
    })
}

/// A change, from the fields of a `message_changed` or of one of
/// `history`'s `changes`.
fn posted_change<V: JsonValue>(object: &V) -> Result<PostedChange, DecodeError> {
    let change = match required(text(object, "change")?, "change")?.as_str() {
        "edit" => Change::Edit,
        "delete" => Change::Delete,
        "react" => Change::React {
            emoji: required(checked(object, "emoji")?, "emoji")?,
            on: required(flag(object, "on")?, "on")?,
        },
        other => return Err(DecodeError::invalid("change", format!("unknown: {other}"))),
    };
    Ok(PostedChange {
        seq: required(integer(object, "seq")?, "seq")?,
        ts: required(integer(object, "ts")?, "ts")?,
        from: required(checked(object, "from")?, "from")?,
        name: required(checked(object, "name")?, "name")?,
        target: required(integer(object, "target")?, "target")?,
        change,
        content: checked(object, "content")?,
    })
}

fn found<V: JsonValue>(object: &V) -> Result<Found, DecodeError> {
    Ok(Found {
        room: checked(object, "room")?,
        with: checked(object, "with")?,
        message: posted(object)?,
        preview: required(text(object, "preview")?, "preview")?,
    })
}

fn summary<V: JsonValue>(object: &V) -> Result<RoomSummary, DecodeError> {
    Ok(RoomSummary {
        room: required(checked(object, "room")?, "room")?,
        members: required(integer(object, "members")?, "members")?,
    })
}

impl ServerMessage {
    /// The message `json` holds, or `None` for a type this build does not
    /// know.
    pub fn from_json<V: JsonValue>(json: &V) -> Result<Option<Self>, DecodeError> {
        let kind = required(text(json, "type")?, "type")?;
        if !Self::KNOWN_TYPES.contains(&kind.as_str()) {
            return Ok(None);
        }
        let room = || checked::<V, RoomName>(json, "room");
        let user = || required(checked::<V, UserId>(json, "user")?, "user");
        let name = || checked::<V, DisplayName>(json, "name");
        let from = || required(checked::<V, UserId>(json, "from")?, "from");
        let content = || required(checked::<V, MessageContent>(json, "content")?, "content");
        let id = || checked::<V, ClientId>(json, "id");
        let seq = || integer::<V, u64>(json, "seq");
        let ts = || integer::<V, i64>(json, "ts");
        let message = match kind.as_str() {
            "joined" => Self::Joined {
                room: required(room()?, "room")?,
                members: list(json, "members", member)?,
                settings: json
                    .get("settings")
                    .map(|settings| RoomInfo::from_json(&settings))
                    .transpose()?,
            },
            "room_updated" => Self::RoomUpdated {
                room: required(room()?, "room")?,
                settings: RoomInfo::from_json(&required(json.get("settings"), "settings")?)?,
            },
            "user_joined" => Self::UserJoined {
                room: required(room()?, "room")?,
                user: user()?,
                name: name()?,
            },
            "user_left" => Self::UserLeft {
                room: required(room()?, "room")?,
                user: user()?,
            },
            "room_message" => Self::RoomMessage {
                room: required(room()?, "room")?,
                from: from()?,
                content: content()?,
                name: name()?,
                seq: seq()?,
                ts: ts()?,
                id: id()?,
                reply_to: integer(json, "reply_to")?,
                mentions: users(json, "mentions")?,
                quote: quoted(json)?,
            },
            "direct_message" => Self::DirectMessage {
                from: from()?,
                content: content()?,
                to: checked(json, "to")?,
                name: name()?,
                seq: seq()?,
                ts: ts()?,
                id: id()?,
                reply_to: integer(json, "reply_to")?,
                quote: quoted(json)?,
            },
            "search_results" => Self::SearchResults {
                query: required(text(json, "query")?, "query")?,
                results: required(list(json, "results", found)?, "results")?,
                more: flag(json, "more")?.unwrap_or(false),
            },
            "message_changed" => Self::MessageChanged {
                room: room()?,
                to: checked(json, "to")?,
                change: posted_change(json)?,
            },
            "error" => Self::Error {
                message: required(text(json, "message")?, "message")?,
                code: text(json, "code")?.and_then(|code| ErrorCode::from_name(&code)),
                room: room()?,
                id: id()?,
                retry_after_ms: integer(json, "retry_after_ms")?,
                muted: flag(json, "muted")?,
            },
            "welcome" => Self::Welcome {
                user: user()?,
                name: required(name()?, "name")?,
                token: required(text(json, "token")?, "token")?,
                protocol: required(integer(json, "protocol")?, "protocol")?,
                epoch: text(json, "epoch")?,
                username: text(json, "username")?,
                admin: flag(json, "admin")?.unwrap_or(false),
            },
            "ack" => Self::Ack {
                id: required(id()?, "id")?,
                room: room()?,
                to: checked(json, "to")?,
                seq: required(seq()?, "seq")?,
                ts: required(ts()?, "ts")?,
            },
            "history" => Self::History {
                room: room()?,
                with: checked(json, "with")?,
                messages: required(list(json, "messages", posted)?, "messages")?,
                changes: list(json, "changes", posted_change)?.unwrap_or_default(),
            },
            "user_renamed" => Self::UserRenamed {
                user: user()?,
                name: required(name()?, "name")?,
            },
            "rooms" => Self::Rooms {
                rooms: required(list(json, "rooms", summary)?, "rooms")?,
            },
            "typing" => Self::Typing {
                room: required(room()?, "room")?,
                user: user()?,
                name: required(name()?, "name")?,
            },
            "memberships" => Self::Memberships {
                rooms: list(json, "rooms", Membership::from_json)?
                    .unwrap_or_default()
                    .into_iter()
                    .flatten()
                    .collect(),
            },
            _ => return Ok(None),
        };
        Ok(Some(message))
    }
}

impl JsonValue for &serde_json::Value {
    fn get(&self, key: &str) -> Option<Self> {
        self.as_object()?.get(key).filter(|value| !value.is_null())
    }

    fn as_text(&self) -> Option<String> {
        self.as_str().map(str::to_owned)
    }

    fn as_integer(&self) -> Option<i64> {
        self.as_i64()
    }

    fn elements(&self) -> Option<Vec<Self>> {
        self.as_array().map(|array| array.iter().collect())
    }

    fn as_flag(&self) -> Option<bool> {
        self.as_bool()
    }
}

impl From<serde_json::Error> for DecodeError {
    fn from(error: serde_json::Error) -> Self {
        Self(error.to_string())
    }
}

impl<'de> serde::Deserialize<'de> for ServerMessage {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let json = serde_json::Value::deserialize(deserializer)?;
        match Self::from_json(&&json) {
            Ok(Some(message)) => Ok(message),
            Ok(None) => {
                let kind = json
                    .get("type")
                    .and_then(|kind| kind.as_str())
                    .unwrap_or("");
                Err(D::Error::unknown_variant(kind, Self::KNOWN_TYPES))
            }
            Err(error) => Err(D::Error::custom(error)),
        }
    }
}

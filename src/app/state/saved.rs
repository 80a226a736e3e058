//! What the browser keeps across page reloads, and reading it back.

use serde::Serialize;

use super::{Conversation, Unsent};
use crate::protocol::decode::{checked, list, parsed, required, text};
use crate::protocol::{DecodeError, DisplayName, JsonValue, RoomName, UserId};

/// What the browser keeps across page reloads: written with serde, read
/// back with [`Saved::from_json`] (see `protocol::decode` for why not serde).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Saved {
    pub token: Option<String>,
    pub rooms: Vec<RoomName>,
    pub directs: Vec<(UserId, DisplayName)>,
    /// Saved as `outbox`, its name in pages of earlier versions.
    #[serde(rename = "outbox")]
    pub unsent: Vec<Unsent>,
}

impl Saved {
    /// Reads what serde wrote: `{"token", "rooms", "directs": [[user,
    /// name]], "outbox": [{"id", "to": {"Room": name} or {"Direct": user},
    /// "content"}]}`.
    pub fn from_json<V: JsonValue>(json: &V) -> Result<Self, DecodeError> {
        let direct = |pair: &V| match pair.elements().as_deref() {
            Some([user, name]) => Ok((parsed(user, "directs")?, parsed(name, "directs")?)),
            _ => Err(DecodeError::invalid("directs", "expected [user, name]")),
        };
        let unsent = |item: &V| {
            let to = required(item.get("to"), "to")?;
            let to = match (checked(&to, "Room")?, checked(&to, "Direct")?) {
                (Some(room), _) => Conversation::Room(room),
                (None, Some(user)) => Conversation::Direct(user),
                (None, None) => return Err(DecodeError::invalid("to", "expected Room or Direct")),
            };
            Ok(Unsent {
                id: required(checked(item, "id")?, "id")?,
                to,
                content: required(checked(item, "content")?, "content")?,
                failed: false,
                held: false,
            })
        };
        Ok(Self {
            token: text(json, "token")?,
            rooms: list(json, "rooms", |room| parsed(room, "rooms"))?.unwrap_or_default(),
            directs: list(json, "directs", direct)?.unwrap_or_default(),
            unsent: list(json, "outbox", unsent)?.unwrap_or_default(),
        })
    }
}

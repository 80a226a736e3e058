//! What the browser keeps across page reloads, and reading it back.

use serde::Serialize;

use super::{AlertLevel, Conversation, Unsent};
use crate::protocol::decode::{checked, integer, list, parsed, required, text};
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
    /// Browser notifications are on.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub alerts: bool,
    /// What each conversation notifies of, where the user chose.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub alert_levels: Vec<(Conversation, AlertLevel)>,
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
        let conversation = |to: &V, key: &str| match (checked(to, "Room")?, checked(to, "Direct")?)
        {
            (Some(room), _) => Ok(Conversation::Room(room)),
            (None, Some(user)) => Ok(Conversation::Direct(user)),
            (None, None) => Err(DecodeError::invalid(key, "expected Room or Direct")),
        };
        let level = |pair: &V| match pair.elements().as_deref() {
            Some([to, level]) => {
                let level = level.as_text().and_then(|key| AlertLevel::from_key(&key));
                let level = level.ok_or_else(|| DecodeError::invalid("alert_levels", "a level"))?;
                Ok((conversation(to, "alert_levels")?, level))
            }
            _ => Err(DecodeError::invalid(
                "alert_levels",
                "expected [conversation, level]",
            )),
        };
        let unsent = |item: &V| {
            let to = conversation(&required(item.get("to"), "to")?, "to")?;
            Ok(Unsent {
                id: required(checked(item, "id")?, "id")?,
                to,
                content: required(checked(item, "content")?, "content")?,
                reply_to: integer(item, "reply_to")?,
                mentions: list(item, "mentions", |user| parsed(user, "mentions"))?
                    .unwrap_or_default(),
                failed: false,
                held: false,
            })
        };
        Ok(Self {
            token: text(json, "token")?,
            rooms: list(json, "rooms", |room| parsed(room, "rooms"))?.unwrap_or_default(),
            directs: list(json, "directs", direct)?.unwrap_or_default(),
            unsent: list(json, "outbox", unsent)?.unwrap_or_default(),
            alerts: json
                .get("alerts")
                .and_then(|on| on.as_flag())
                .unwrap_or(false),
            alert_levels: list(json, "alert_levels", level)?.unwrap_or_default(),
        })
    }
}

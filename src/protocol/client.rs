//! What a client sends: the article's four messages and confab's additions.

use serde::{Deserialize, Serialize};

use super::PROTOCOL_VERSION;
use super::values::{ClientId, DisplayName, Emoji, MessageContent, RoomName, UserId};

/// Users one message may mention at most.
pub const MAX_MENTIONS: usize = 20;

/// Characters of a search query at most.
pub const MAX_QUERY_CHARS: usize = 200;

/// What a client sends, one JSON text frame each.
///
/// Optional fields (`after`, `id`, `token`, `reply_to`, `mentions`) and the
/// types `hello`, `set_name`, `history`, `direct_history`, `edit_message`,
/// `delete_message` and `react` are confab's additions.
///
/// A change to a message (`edit_message`, `delete_message`, `react`) names
/// it by its channel, `room` or `with` (the other person of a direct
/// conversation), and its `seq` there.
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
    ///
    /// `reply_to`: the `seq` of the message (in the same room) this one
    /// answers. `mentions`: the ids of the users it names (at most
    /// [`MAX_MENTIONS`]); the text says `@name` as it likes, the ids are
    /// what highlights and notifies.
    RoomMessage {
        room: RoomName,
        #[serde(deserialize_with = "MessageContent::deserialize_new")]
        content: MessageContent,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<ClientId>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reply_to: Option<u64>,
        #[serde(
            default,
            deserialize_with = "mention_list",
            skip_serializing_if = "Vec::is_empty"
        )]
        mentions: Vec<UserId>,
    },
    DirectMessage {
        to: UserId,
        #[serde(deserialize_with = "MessageContent::deserialize_new")]
        content: MessageContent,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<ClientId>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reply_to: Option<u64>,
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
    /// The user has read `room` up to `seq`: their other devices count
    /// what came after it as unread (`memberships`). For rooms they have a
    /// standing in; ignored elsewhere.
    MarkRead {
        room: RoomName,
        seq: u64,
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
    /// Replaces the text of one of the sender's own messages.
    EditMessage {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<RoomName>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        with: Option<UserId>,
        seq: u64,
        #[serde(deserialize_with = "MessageContent::deserialize_new")]
        content: MessageContent,
    },
    /// Deletes one of the sender's own messages: its text is removed from
    /// storage, and everyone sees a placeholder.
    DeleteMessage {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<RoomName>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        with: Option<UserId>,
        seq: u64,
    },
    /// Puts `emoji` on a message (`on: true`) or takes it off (`false`).
    /// Without `on` it toggles: a second identical `react` takes it back.
    /// Setting is idempotent, toggling is not: a client that may send a
    /// request twice (a resend after a reconnect) should say `on`.
    React {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<RoomName>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        with: Option<UserId>,
        seq: u64,
        emoji: Emoji,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        on: Option<bool>,
    },
    /// Full-text search of the rooms this connection is in and of the
    /// user's direct conversations, newest first: answered with
    /// `search_results`. Words match as prefixes, all of them, whatever
    /// their case and accents. `room` (one the connection is in) or `with`
    /// narrows it to one conversation, `from` to one sender; `before` (a
    /// `ts`) pages on from the oldest result shown.
    Search {
        #[serde(deserialize_with = "search_query")]
        query: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<RoomName>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        with: Option<UserId>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<UserId>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        before: Option<i64>,
        #[serde(
            default,
            deserialize_with = "page_limit",
            skip_serializing_if = "Option::is_none"
        )]
        limit: Option<u32>,
    },
}

impl ClientMessage {
    /// Its `type` on the wire.
    pub fn kind(&self) -> &'static str {
        match self {
            ClientMessage::JoinRoom { .. } => "join_room",
            ClientMessage::LeaveRoom { .. } => "leave_room",
            ClientMessage::RoomMessage { .. } => "room_message",
            ClientMessage::DirectMessage { .. } => "direct_message",
            ClientMessage::Hello { .. } => "hello",
            ClientMessage::SetName { .. } => "set_name",
            ClientMessage::ListRooms => "list_rooms",
            ClientMessage::Typing { .. } => "typing",
            ClientMessage::MarkRead { .. } => "mark_read",
            ClientMessage::History { .. } => "history",
            ClientMessage::DirectHistory { .. } => "direct_history",
            ClientMessage::EditMessage { .. } => "edit_message",
            ClientMessage::DeleteMessage { .. } => "delete_message",
            ClientMessage::React { .. } => "react",
            ClientMessage::Search { .. } => "search",
        }
    }
}

impl ClientMessage {
    /// The room it is about, if any: what an `error` about it names.
    pub fn room(&self) -> Option<&RoomName> {
        match self {
            ClientMessage::JoinRoom { room, .. }
            | ClientMessage::LeaveRoom { room }
            | ClientMessage::RoomMessage { room, .. }
            | ClientMessage::Typing { room }
            | ClientMessage::MarkRead { room, .. }
            | ClientMessage::History { room, .. } => Some(room),
            ClientMessage::EditMessage { room, .. }
            | ClientMessage::DeleteMessage { room, .. }
            | ClientMessage::React { room, .. }
            | ClientMessage::Search { room, .. } => room.as_ref(),
            _ => None,
        }
    }

    /// The client's id for the message, if it gave one.
    pub fn id(&self) -> Option<&ClientId> {
        match self {
            ClientMessage::RoomMessage { id, .. } | ClientMessage::DirectMessage { id, .. } => {
                id.as_ref()
            }
            _ => None,
        }
    }
}

/// A history request's `limit`: at least 1 (a larger one than a page holds
/// gets a full page).
fn page_limit<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<u32>, D::Error> {
    match Option::<u32>::deserialize(deserializer)? {
        Some(0) => Err(serde::de::Error::custom("limit must be at least 1")),
        limit => Ok(limit),
    }
}

/// A message's `mentions`: at most [`MAX_MENTIONS`], each named once.
fn mention_list<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<UserId>, D::Error> {
    let mut users = Vec::<UserId>::deserialize(deserializer)?;
    users.sort_unstable();
    users.dedup();
    if users.len() > MAX_MENTIONS {
        let why = format!("a message may mention at most {MAX_MENTIONS} users");
        return Err(serde::de::Error::custom(why));
    }
    Ok(users)
}

/// A search's `query`: some visible text, at most [`MAX_QUERY_CHARS`].
fn search_query<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let query = String::deserialize(deserializer)?;
    let chars = query.chars().count();
    if query.trim().is_empty() || chars > MAX_QUERY_CHARS {
        let why = format!("a search query is 1 to {MAX_QUERY_CHARS} characters, got {chars}");
        return Err(serde::de::Error::custom(why));
    }
    Ok(query)
}

fn default_protocol() -> u32 {
    PROTOCOL_VERSION
}

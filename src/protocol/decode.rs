//! Reading a [`ServerMessage`] from JSON, in the browser as on the server.
//!
//! serde's derived decoder for an internally tagged enum (`"type"` inside
//! the object) cannot know the variant before it has seen `"type"`, so it
//! first copies the whole object into a buffer of its own and then decodes
//! each variant from that buffer. That is a second decoder per field type,
//! and it was the largest part of the browser's WASM. Here a message is read
//! once into [`Wire`], one struct holding every field any server message has
//! (each optional), and `type` then says which fields the message needs.
//!
//! Every field name means the same thing with the same type in every
//! message, so a message is decoded exactly as the derived decoder did, with
//! one difference: a field that belongs to another message type is checked
//! too (`{"type":"joined","room":"r","user":5}` is refused).

use serde::de::{Deserialize, Deserializer, Error};

use super::{
    ClientId, DisplayName, ErrorCode, Member, MessageContent, Posted, RoomName, RoomSummary,
    ServerMessage, UserId,
};

/// Every field of every server message.
#[derive(serde::Deserialize)]
pub(super) struct Wire {
    #[serde(rename = "type")]
    kind: String,
    room: Option<RoomName>,
    members: Option<Vec<Member>>,
    user: Option<UserId>,
    name: Option<DisplayName>,
    from: Option<UserId>,
    to: Option<UserId>,
    with: Option<UserId>,
    content: Option<MessageContent>,
    seq: Option<u64>,
    ts: Option<i64>,
    id: Option<ClientId>,
    message: Option<String>,
    code: Option<ErrorCode>,
    token: Option<String>,
    protocol: Option<u32>,
    messages: Option<Vec<Posted>>,
    rooms: Option<Vec<RoomSummary>>,
}

/// A field the message's type requires.
fn required<T, E: Error>(value: Option<T>, field: &'static str) -> Result<T, E> {
    value.ok_or_else(|| E::missing_field(field))
}

impl Wire {
    /// The message, or `None` for a type this build does not know.
    pub(super) fn into_message<E: Error>(self) -> Result<Option<ServerMessage>, E> {
        let Wire {
            kind,
            room,
            members,
            user,
            name,
            from,
            to,
            with,
            content,
            seq,
            ts,
            id,
            message,
            code,
            token,
            protocol,
            messages,
            rooms,
        } = self;
        let message = match kind.as_str() {
            "joined" => ServerMessage::Joined {
                room: required(room, "room")?,
                members,
            },
            "user_joined" => ServerMessage::UserJoined {
                room: required(room, "room")?,
                user: required(user, "user")?,
                name,
            },
            "user_left" => ServerMessage::UserLeft {
                room: required(room, "room")?,
                user: required(user, "user")?,
            },
            "room_message" => ServerMessage::RoomMessage {
                room: required(room, "room")?,
                from: required(from, "from")?,
                content: required(content, "content")?,
                name,
                seq,
                ts,
                id,
            },
            "direct_message" => ServerMessage::DirectMessage {
                from: required(from, "from")?,
                content: required(content, "content")?,
                to,
                name,
                seq,
                ts,
                id,
            },
            "error" => ServerMessage::Error {
                message: required(message, "message")?,
                code,
                room,
                id,
            },
            "welcome" => ServerMessage::Welcome {
                user: required(user, "user")?,
                name: required(name, "name")?,
                token: required(token, "token")?,
                protocol: required(protocol, "protocol")?,
            },
            "ack" => ServerMessage::Ack {
                id: required(id, "id")?,
                room,
                to,
                seq: required(seq, "seq")?,
                ts: required(ts, "ts")?,
            },
            "history" => ServerMessage::History {
                room,
                with,
                messages: required(messages, "messages")?,
            },
            "user_renamed" => ServerMessage::UserRenamed {
                user: required(user, "user")?,
                name: required(name, "name")?,
            },
            "rooms" => ServerMessage::Rooms {
                rooms: required(rooms, "rooms")?,
            },
            "typing" => ServerMessage::Typing {
                room: required(room, "room")?,
                user: required(user, "user")?,
                name: required(name, "name")?,
            },
            _ => return Ok(None),
        };
        Ok(Some(message))
    }
}

impl<'de> Deserialize<'de> for ServerMessage {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = Wire::deserialize(deserializer)?;
        let kind = wire.kind.clone();
        wire.into_message()?
            .ok_or_else(|| D::Error::unknown_variant(&kind, ServerMessage::KNOWN_TYPES))
    }
}

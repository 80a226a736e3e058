//! What nodes tell each other over Redis: the topics, and the JSON payloads
//! published there. A room's topic carries what its members must hear (its
//! committed messages, arrivals and departures, typing); a user's topic
//! their direct messages; one topic for all, who is online and what they
//! are called. Every committed message can be read again from PostgreSQL,
//! and presence is rebuilt by the nodes: Redis holds nothing that cannot
//! be rebuilt.

use serde::{Deserialize, Serialize};

use crate::protocol::{ClientId, DisplayName, MessageContent, RoomName, UserId};
use crate::server::store::{Channel, Extra, StoredMessage};

/// Keys and topics of one deployment start with this, so a Redis can be
/// shared with other applications.
const PREFIX: &str = "confab:";

/// The topic every node subscribes to: who is online, renames.
pub const EVERYONE: &str = "confab:all";

/// The topic of a room. Room names cannot contain `:`, so a topic names
/// exactly one room.
pub fn room_topic(room: &RoomName) -> String {
    format!("{PREFIX}r:{room}")
}

/// The topic of a user's direct messages.
pub fn user_topic(user: UserId) -> String {
    format!("{PREFIX}u:{user}")
}

/// What a topic names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Topic {
    Room(RoomName),
    User(UserId),
    Everyone,
}

impl Topic {
    pub fn parse(topic: &str) -> Option<Self> {
        if topic == EVERYONE {
            return Some(Self::Everyone);
        }
        let rest = topic.strip_prefix(PREFIX)?;
        if let Some(room) = rest.strip_prefix("r:") {
            return RoomName::parse(room).ok().map(Self::Room);
        }
        UserId::parse(rest.strip_prefix("u:")?).ok().map(Self::User)
    }

    pub fn name(&self) -> String {
        match self {
            Self::Room(room) => room_topic(room),
            Self::User(user) => user_topic(*user),
            Self::Everyone => EVERYONE.to_owned(),
        }
    }
}

/// One publication. `node` is the publisher's: a node skips what it
/// published itself when it already acted on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Published {
    /// Messages `node` committed in `room` in one batch, in order.
    Committed {
        node: String,
        room: RoomName,
        messages: Vec<Row>,
    },
    /// `user` is now in `room` on some node, having been on none; or (not
    /// `present`) on none any more.
    Presence {
        node: String,
        room: RoomName,
        user: UserId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<DisplayName>,
        present: bool,
    },
    Typing {
        node: String,
        room: RoomName,
        user: UserId,
        name: DisplayName,
    },
    /// A direct message `node` committed, on the topic of each of the two
    /// people in the conversation.
    Direct { node: String, message: Row },
    /// `user` is now connected to some node, having been to none; or (not
    /// `present`) to none any more.
    Online {
        node: String,
        user: UserId,
        present: bool,
    },
    Renamed {
        node: String,
        user: UserId,
        name: DisplayName,
    },
    /// Every node closes `user`'s connections (the HTTP API's disconnect,
    /// or `signed_out`: a session of theirs ended).
    Disconnect {
        node: String,
        user: UserId,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        signed_out: bool,
        /// A ban from the server: what the user is told (may be empty).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        banned: Option<String>,
    },
    /// `node` changed `room`'s settings or roles: the nodes that have it
    /// in memory read them again.
    RoomChanged { node: String, room: RoomName },
}

impl Published {
    /// The node that published it.
    pub fn node(&self) -> &str {
        match self {
            Self::Committed { node, .. }
            | Self::Presence { node, .. }
            | Self::Typing { node, .. }
            | Self::Direct { node, .. }
            | Self::Online { node, .. }
            | Self::Renamed { node, .. }
            | Self::Disconnect { node, .. }
            | Self::RoomChanged { node, .. } => node,
        }
    }

    /// The topic it belongs on (a direct message belongs on two: this is
    /// the recipient's).
    pub fn topic(&self) -> String {
        match self {
            Self::Committed { room, .. }
            | Self::Presence { room, .. }
            | Self::Typing { room, .. }
            | Self::RoomChanged { room, .. } => room_topic(room),
            Self::Direct { message, .. } => user_topic(message.to.unwrap_or(message.from)),
            Self::Online { .. } | Self::Renamed { .. } | Self::Disconnect { .. } => {
                EVERYONE.to_owned()
            }
        }
    }

    pub fn encode(&self) -> String {
        serde_json::to_string(self)
            .expect("a publication is strings and numbers and always encodes")
    }
}

/// A committed row (a message, or a change to one) as it travels: all of
/// it but its channel, which the publication names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Row {
    pub seq: u64,
    pub ts: i64,
    pub from: UserId,
    pub name: DisplayName,
    pub content: MessageContent,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<UserId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<ClientId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<Box<Extra>>,
}

/// A stored row as it travels: the room's, or the conversation's.
pub fn posted(message: &StoredMessage) -> Row {
    Row {
        seq: message.seq,
        ts: message.ts,
        from: message.from,
        name: message.name.clone(),
        content: message.content.clone(),
        to: message.to,
        id: message.client_id.clone(),
        extra: message.extra.clone(),
    }
}

/// A committed row as it came over the bus, as stored.
pub fn stored(channel: Channel, row: Row) -> StoredMessage {
    StoredMessage {
        channel,
        seq: row.seq,
        ts: row.ts,
        from: row.from,
        name: row.name,
        to: row.to,
        content: row.content,
        client_id: row.id,
        extra: row.extra,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_name_one_room_or_user_and_parse_back() {
        let room = RoomName::parse("general").unwrap();
        let ana = UserId::new_random();
        assert_eq!(room_topic(&room), "confab:r:general");
        for topic in [Topic::Room(room), Topic::User(ana), Topic::Everyone] {
            assert_eq!(Topic::parse(&topic.name()), Some(topic));
        }
        assert_eq!(Topic::parse("confab:x:general"), None);
        assert_eq!(Topic::parse("other:r:general"), None);
        assert_eq!(Topic::parse("confab:u:not-an-id"), None);
    }

    #[test]
    fn a_committed_batch_round_trips() {
        let room = RoomName::parse("general").unwrap();
        let ana = UserId::new_random();
        let message = StoredMessage {
            channel: Channel::Room(room.clone()),
            seq: 7,
            ts: 1_000,
            from: ana,
            name: ana.guest_name(),
            to: None,
            content: MessageContent::parse("hi").unwrap(),
            client_id: None,
            extra: None,
        };
        let published = Published::Committed {
            node: "node-a".into(),
            room: room.clone(),
            messages: vec![posted(&message)],
        };
        let back: Published = serde_json::from_str(&published.encode()).unwrap();
        assert_eq!(back.node(), "node-a");
        assert_eq!(back.topic(), "confab:r:general");
        let Published::Committed { messages, .. } = back else {
            panic!("{back:?}");
        };
        assert_eq!(stored(Channel::Room(room), messages[0].clone()), message);
    }
}

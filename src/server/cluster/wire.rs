//! What nodes tell each other over Redis: the topic of each room, and the
//! JSON payloads published there. Only what a node committed travels, and
//! every node can read it all again from PostgreSQL: Redis holds nothing
//! that cannot be rebuilt.

use serde::{Deserialize, Serialize};

use crate::protocol::{Posted, RoomName};
use crate::server::store::{Channel, StoredMessage};

/// Keys and topics of one deployment start with this, so a Redis can be
/// shared with other applications.
const PREFIX: &str = "confab:";

/// The topic a room's committed messages are published on. Room names
/// cannot contain `:`, so a topic names exactly one room.
pub fn room_topic(room: &RoomName) -> String {
    format!("{PREFIX}r:{room}")
}

/// The room a topic names, if it names one.
pub fn topic_room(topic: &str) -> Option<RoomName> {
    RoomName::parse(topic.strip_prefix(PREFIX)?.strip_prefix("r:")?).ok()
}

/// One publication on a room's topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Published {
    /// Messages `node` committed in `room` in one batch, in order.
    Committed {
        node: String,
        room: RoomName,
        messages: Vec<Posted>,
    },
}

impl Published {
    pub fn committed(node: &str, room: &RoomName, messages: &[StoredMessage]) -> Self {
        Self::Committed {
            node: node.to_owned(),
            room: room.clone(),
            messages: messages.iter().map(|m| m.posted()).collect(),
        }
    }

    /// The node that published it.
    pub fn node(&self) -> &str {
        match self {
            Self::Committed { node, .. } => node,
        }
    }
}

/// A committed room message as it came over the bus, as stored.
pub fn stored(room: &RoomName, posted: Posted) -> StoredMessage {
    StoredMessage {
        channel: Channel::Room(room.clone()),
        seq: posted.seq,
        ts: posted.ts,
        from: posted.from,
        name: posted.name,
        to: posted.to,
        content: posted.content,
        client_id: posted.id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{MessageContent, UserId};

    #[test]
    fn a_committed_batch_round_trips_and_its_topic_names_its_room() {
        let room = RoomName::parse("general").unwrap();
        assert_eq!(room_topic(&room), "confab:r:general");
        assert_eq!(topic_room(&room_topic(&room)), Some(room.clone()));
        assert_eq!(topic_room("confab:u:general"), None);
        assert_eq!(topic_room("other:r:general"), None);
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
        };
        let published = Published::committed("node-a", &room, std::slice::from_ref(&message));
        let json = serde_json::to_string(&published).unwrap();
        let back: Published = serde_json::from_str(&json).unwrap();
        assert_eq!(back.node(), "node-a");
        let Published::Committed { messages, .. } = back;
        assert_eq!(stored(&room, messages[0].clone()), message);
    }
}

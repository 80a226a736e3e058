//! The lobby: the list of rooms with people in them, sent to the
//! connections watching it when it changed.

use super::*;

/// The connections watching the lobby, and whether its list changed since
/// they last got it.
#[derive(Default)]
pub(super) struct Lobby {
    watchers: HashSet<ConnId>,
    changed: bool,
}

impl Lobby {
    pub(super) fn watch(&mut self, conn: ConnId) {
        self.watchers.insert(conn);
    }

    pub(super) fn forget(&mut self, conn: ConnId) {
        self.watchers.remove(&conn);
    }

    /// Someone came into a room or left its last one.
    pub(super) fn changed(&mut self) {
        self.changed = true;
    }

    /// Who must get the list now: its watchers, if it changed since the
    /// last time (nobody otherwise).
    fn due(&mut self) -> Vec<ConnId> {
        if !std::mem::take(&mut self.changed) {
            return Vec::new();
        }
        self.watchers.iter().copied().collect()
    }
}

impl BrokerState {
    /// The lobby's list: rooms with people in them, largest first (then by
    /// name), at most [`MAX_ROOMS_LISTED`]. Private rooms are left out.
    pub(super) fn room_list(&self) -> ServerMessage {
        if let Some(lobby) = &self.cluster_lobby {
            let rooms = lobby
                .iter()
                .filter(|(room, _)| !self.is_private(room))
                .take(MAX_ROOMS_LISTED)
                .map(|(room, members)| RoomSummary {
                    room: room.clone(),
                    members: u32::try_from(*members).unwrap_or(u32::MAX),
                })
                .collect();
            return ServerMessage::Rooms { rooms };
        }
        let mut rooms: Vec<RoomSummary> = self
            .rooms
            .iter()
            .filter(|(_, room)| !room.presence.is_empty())
            .filter(|(name, _)| !self.is_private(name))
            .map(|(name, room)| RoomSummary {
                room: name.clone(),
                members: u32::try_from(room.presence.len()).unwrap_or(u32::MAX),
            })
            .collect();
        rooms.sort_by(|a, b| b.members.cmp(&a.members).then_with(|| a.room.cmp(&b.room)));
        rooms.truncate(MAX_ROOMS_LISTED);
        ServerMessage::Rooms { rooms }
    }

    /// Called every second: sends the lobby's watchers the list if it
    /// changed, once, however many joins and leaves made it change.
    pub(in crate::server::broker) fn tick(&mut self) {
        let watchers = self.lobby.due();
        if watchers.is_empty() {
            return;
        }
        let frame = encode(&self.room_list());
        for conn in watchers {
            self.push(conn, frame.clone());
        }
        self.evict_slow_consumers();
    }
}

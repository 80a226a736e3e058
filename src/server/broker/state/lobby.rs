//! The lobby: the list of rooms with people in them, sent to the
//! connections watching it when it changed.

use super::*;

impl BrokerState {
    /// The lobby's list: rooms with people in them, largest first (then by
    /// name), at most [`MAX_ROOMS_LISTED`].
    pub(super) fn room_list(&self) -> ServerMessage {
        let mut rooms: Vec<RoomSummary> = self
            .rooms
            .iter()
            .filter(|(_, room)| !room.presence.is_empty())
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
        if !std::mem::take(&mut self.lobby_changed) || self.lobby.is_empty() {
            return;
        }
        let frame = encode(&self.room_list());
        let watchers: Vec<ConnId> = self.lobby.iter().copied().collect();
        for conn in watchers {
            self.push(conn, frame.clone());
        }
        self.evict_slow_consumers();
    }
}

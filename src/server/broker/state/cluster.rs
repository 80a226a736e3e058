//! What cluster mode adds to the rules: rooms loaded once the bus brings
//! their publications, other nodes' messages put in each room's order, and
//! what the bus did not bring read from storage (a gap that outlived its
//! wait, a room behind the head storage has).

use super::*;

impl BrokerState {
    pub(super) fn on_bus(&mut self, event: BusEvent) {
        match event {
            BusEvent::Subscribed(room) => {
                if self.rooms.get(&room).is_some_and(|r| !r.loaded) {
                    self.load(room);
                }
            }
            BusEvent::Published { room, messages } => {
                let mut frames = Vec::new();
                for message in messages {
                    frames.extend(self.sequence(&room, message));
                }
                if !frames.is_empty() {
                    self.broadcast_all(&room, frames);
                }
            }
            BusEvent::Restored => self.check_heads(),
        }
    }

    /// Notes whether `name` holds messages behind a gap, for
    /// [`BrokerState::fill_gaps`].
    pub(super) fn note_gap(&mut self, name: &RoomName) {
        if self
            .rooms
            .get(name)
            .is_some_and(|room| room.sequencer.holds())
        {
            self.gapped.insert(name.clone());
        }
    }

    /// A room left memory: the bus stops bringing it here.
    pub(super) fn forget_room(&mut self, name: &RoomName) {
        self.gapped.remove(name);
        if self.bus().is_some() {
            self.effects
                .push(Effect::Bus(BusRequest::Unsubscribe(name.clone())));
        }
    }

    /// Asks storage for each gap that has waited long enough.
    pub(in crate::server::broker) fn fill_gaps(&mut self, now: Now) {
        self.now = now;
        let gapped: Vec<RoomName> = self.gapped.iter().cloned().collect();
        for name in gapped {
            let Some(room) = self.rooms.get_mut(&name).filter(|r| r.sequencer.holds()) else {
                self.gapped.remove(&name);
                continue;
            };
            if let Some(fill) = room.sequencer.due_fill(now.at) {
                info!(room = %name, after = fill.after, before = ?fill.before, "a gap outlived its wait; reading it from storage");
                self.effects.push(Effect::Fill { room: name, fill });
            }
        }
    }

    /// A fill's answer: what it closed goes out, in order.
    pub(super) fn on_filled(
        &mut self,
        name: RoomName,
        fill: Fill,
        found: Option<Vec<StoredMessage>>,
    ) {
        let now = self.now.at;
        let Some(room) = self.rooms.get_mut(&name) else {
            return;
        };
        let released = match found {
            Some(found) => {
                let found = found.into_iter().map(|m| (m.seq, m)).collect();
                room.sequencer.filled(fill, found, now)
            }
            None => {
                room.sequencer.fill_failed(now);
                Vec::new()
            }
        };
        self.note_gap(&name);
        let frames = self.cache_released(&name, released);
        if !frames.is_empty() {
            self.broadcast_all(&name, frames);
        }
        self.evict_slow_consumers();
    }

    /// Asks storage for the head of every room in memory.
    pub(in crate::server::broker) fn check_heads(&mut self) {
        let rooms: Vec<RoomName> = self
            .rooms
            .iter()
            .filter(|(_, room)| room.loaded)
            .map(|(name, _)| name.clone())
            .collect();
        if !rooms.is_empty() {
            self.effects.push(Effect::Heads(rooms));
        }
    }

    /// Storage's heads: a room still behind one it saw a check ago missed
    /// messages the bus never brought, and reads them.
    pub(super) fn on_heads(&mut self, heads: Vec<(RoomName, u64)>) {
        for (name, head) in heads {
            if let Some(room) = self.rooms.get_mut(&name)
                && let Some(fill) = room.sequencer.behind(head)
            {
                info!(room = %name, after = fill.after, head, "messages the bus did not bring; reading them from storage");
                self.effects.push(Effect::Fill { room: name, fill });
            }
        }
    }
}

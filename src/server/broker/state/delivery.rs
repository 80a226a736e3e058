//! Delivery to connections' outboxes: one frame or a batch to a member or
//! a room, announcements, eviction of the slow, and the shutdown notice.

use super::*;

/// Encodes a message once; the bytes are then shared by every recipient.
pub(super) fn encode(message: &ServerMessage) -> Utf8Bytes {
    serde_json::to_string(message)
        .expect("a ServerMessage is strings and numbers and always encodes")
        .into()
}

impl BrokerState {
    pub(super) fn shutdown(&mut self) {
        self.shutting_down = true;
        info!(
            sessions = self.sessions.len(),
            "telling every client the server is shutting down"
        );
        let conns: Vec<ConnId> = self.sessions.keys().copied().collect();
        for conn in conns {
            self.notify_shutdown(conn);
        }
    }

    /// The store's committer is gone: joins waiting for a room's load are
    /// refused, and every client is told the server is restarting, since it
    /// can no longer store or load anything.
    pub(in crate::server::broker) fn store_stopped(&mut self) {
        let loading: Vec<RoomName> = self
            .rooms
            .iter()
            .filter(|(_, room)| !room.loaded)
            .map(|(name, _)| name.clone())
            .collect();
        for name in loading {
            self.on_load_failed(name);
        }
        self.shutdown();
        self.evict_slow_consumers();
    }

    /// Queues the shutdown notice and the 1012 close frame; a connection
    /// with no room for them is kicked, and its writer sends 1012 directly.
    pub(super) fn notify_shutdown(&mut self, conn: ConnId) {
        let Some(session) = self.sessions.get(&conn) else {
            return;
        };
        let notice = encode(&ServerMessage::error(
            ErrorCode::ShuttingDown,
            "server shutting down",
        ));
        let queued = session.outbox.push(Outbound::Text(notice)).and_then(|()| {
            session
                .outbox
                .push(Outbound::Close(CloseReason::Restarting))
        });
        if queued.is_err() {
            self.slow.push(conn);
        }
    }

    pub(super) fn broadcast(&mut self, room: &RoomName, frame: &Utf8Bytes, except: Option<ConnId>) {
        self.send_to_members(room, |conn, _| {
            (Some(conn) != except).then(|| Outbound::Text(frame.clone()))
        });
    }

    /// Sends several frames to every member, as one queue item each: a
    /// change's only to the members that said `hello`.
    pub(super) fn broadcast_all(&mut self, name: &RoomName, mut frames: Vec<Frame>) {
        if let [Frame::All(_)] = frames.as_slice()
            && let Some(Frame::All(frame)) = frames.pop()
        {
            return self.broadcast(name, &frame, None);
        }
        let plain: Arc<[Utf8Bytes]> = frames
            .iter()
            .filter_map(|frame| match frame {
                Frame::All(bytes) => Some(bytes.clone()),
                Frame::Extended(_) => None,
            })
            .collect();
        let all: Arc<[Utf8Bytes]> = if plain.len() == frames.len() {
            plain.clone()
        } else {
            frames
                .into_iter()
                .map(|(Frame::All(bytes) | Frame::Extended(bytes))| bytes)
                .collect()
        };
        self.send_to_members(name, |_, seat| {
            let frames = if seat.extended { &all } else { &plain };
            match frames.len() {
                0 => None,
                1 => Some(Outbound::Text(frames[0].clone())),
                _ => Some(Outbound::Batch {
                    frames: frames.clone(),
                    skip: 0,
                }),
            }
        });
    }

    /// Sends each member of a room what `owed` says (nothing for `None`),
    /// after the announcements waiting there, so nothing overtakes them.
    pub(super) fn send_to_members(
        &mut self,
        name: &RoomName,
        owed: impl Fn(ConnId, &Seat) -> Option<Outbound>,
    ) {
        // Once shutting down, every queue ends with its close frame: anything
        // queued after it would only fill queues and never be sent.
        if self.shutting_down {
            return;
        }
        self.send_announcements(name);
        self.push_to_members(name, owed);
    }

    /// Queues for each member of a room what `owed` says; a member whose
    /// queue is full is marked slow.
    pub(super) fn push_to_members(
        &mut self,
        name: &RoomName,
        owed: impl Fn(ConnId, &Seat) -> Option<Outbound>,
    ) {
        let Some(room) = self.rooms.get(name) else {
            return;
        };
        for (conn, seat) in &room.members {
            if let Some(item) = owed(*conn, seat)
                && seat.outbox.push(item).is_err()
            {
                self.slow.push(*conn);
            }
        }
    }

    /// Sends a presence announcement to the room, at once if it has been
    /// quiet, else with the others at the next tick (see [`Announcements`]).
    pub(super) fn announce(
        &mut self,
        name: &RoomName,
        user: UserId,
        arrival: bool,
        frame: Utf8Bytes,
    ) {
        let Some(room) = self.rooms.get_mut(name) else {
            return;
        };
        let members = &room.members;
        let seated = |from: u64, to: u64| {
            members
                .values()
                .any(|seat| (from..to).contains(&seat.number))
        };
        if room
            .announcements
            .queue(user, arrival, frame, self.now.at, seated)
        {
            self.send_announcements(name);
        } else {
            self.announcing.insert(name.clone());
        }
    }

    /// Sends the room's waiting announcements: each member gets the ones it
    /// is owed as one item, which its writer sends in one write.
    pub(super) fn send_announcements(&mut self, name: &RoomName) {
        if self.shutting_down {
            return;
        }
        let Some(outgoing) = self
            .rooms
            .get_mut(name)
            .and_then(|room| room.announcements.take(self.now.at))
        else {
            return;
        };
        self.push_to_members(name, |_, seat| {
            let skip = outgoing.first_owed(seat.number);
            match outgoing.frames.len() - skip {
                0 => None,
                1 => Some(Outbound::Text(outgoing.frames[skip].clone())),
                _ => Some(Outbound::Announcements {
                    frames: outgoing.frames.clone(),
                    skip,
                }),
            }
        });
    }

    /// Called every [`ANNOUNCE_EVERY`](super::announcements::ANNOUNCE_EVERY):
    /// sends the announcements that waited.
    pub(in crate::server::broker) fn send_waiting_announcements(&mut self, now: Now) {
        self.now = now;
        for name in std::mem::take(&mut self.announcing) {
            self.send_announcements(&name);
        }
        self.evict_slow_consumers();
    }

    pub(super) fn send_to(&mut self, conn: ConnId, message: &ServerMessage) {
        if let ServerMessage::Error {
            code: Some(code), ..
        } = message
        {
            self.config.metrics.error_sent(code.name());
        }
        self.push(conn, encode(message));
    }

    pub(super) fn push(&mut self, conn: ConnId, frame: Utf8Bytes) {
        self.push_item(conn, Outbound::Text(frame));
    }

    pub(super) fn push_item(&mut self, conn: ConnId, item: Outbound) {
        if self.shutting_down {
            return;
        }
        if let Some(session) = self.sessions.get(&conn)
            && session.outbox.push(item).is_err()
        {
            self.slow.push(conn);
        }
    }

    pub(super) fn evict_slow_consumers(&mut self) {
        while let Some(conn) = self.slow.pop() {
            if let Some(outbox) = self.remove_session(conn) {
                let reason = if self.shutting_down {
                    CloseReason::Restarting
                } else {
                    CloseReason::SlowConsumer
                };
                info!(%conn, ?reason, "evicting a slow consumer");
                outbox.kick(reason);
            }
        }
    }
}

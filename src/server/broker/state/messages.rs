//! Room and direct messages: handing them to the store, and once the store
//! reports them committed, delivering and acknowledging them.

use super::*;

/// A room's stored message as its members get it: the article's
/// `room_message`, with the additions a client ignores if it does not know
/// them.
pub(super) fn room_message_frame(room: &RoomName, message: &StoredMessage) -> Utf8Bytes {
    encode(&ServerMessage::RoomMessage {
        room: room.clone(),
        from: message.from,
        content: message.content.clone(),
        name: Some(message.name.clone()),
        seq: Some(message.seq),
        ts: Some(message.ts),
        id: message.client_id.clone(),
    })
}

/// A stored direct message as its two people get it.
pub(super) fn direct_message_frame(message: &StoredMessage) -> Utf8Bytes {
    encode(&ServerMessage::DirectMessage {
        from: message.from,
        content: message.content.clone(),
        to: message.to,
        name: Some(message.name.clone()),
        seq: Some(message.seq),
        ts: Some(message.ts),
        id: message.client_id.clone(),
    })
}

/// The store's tag for a connection's message, and back.
pub(super) fn tag(conn: ConnId) -> Tag {
    Tag(conn.0)
}

pub(super) fn conn_of(tag: Tag) -> ConnId {
    ConnId(tag.0)
}

impl BrokerState {
    pub(super) fn say(
        &mut self,
        conn: ConnId,
        room: RoomName,
        content: MessageContent,
        id: Option<ClientId>,
    ) {
        let is_member = self
            .rooms
            .get(&room)
            .is_some_and(|r| r.members.contains_key(&conn));
        let Some(user) = self.sessions.get(&conn).map(|s| s.user) else {
            return;
        };
        if !is_member {
            let message = format!("join room '{room}' before posting to it");
            let error =
                ServerMessage::message_error(ErrorCode::NotAMember, id, Some(room), message);
            self.send_to(conn, &error);
            return;
        }
        let message = NewMessage {
            conn: tag(conn),
            channel: Channel::Room(room.clone()),
            from: user,
            name: self.name_of(user),
            to: None,
            content,
            client_id: id.clone(),
        };
        self.store_message(message);
    }

    pub(super) fn direct(
        &mut self,
        conn: ConnId,
        to: UserId,
        content: MessageContent,
        id: Option<ClientId>,
    ) {
        let Some(user) = self.sessions.get(&conn).map(|s| s.user) else {
            return;
        };
        if to == user {
            let message = "a direct message goes to someone else: 'to' is your own id";
            let error = ServerMessage::message_error(ErrorCode::InvalidMessage, id, None, message);
            self.send_to(conn, &error);
            return;
        }
        if !self.users.is_connected(to) && !self.online_anywhere.contains(&to) {
            let message = format!("no connected user has id {to}");
            let error = ServerMessage::message_error(ErrorCode::UnknownUser, id, None, message);
            self.send_to(conn, &error);
            return;
        }
        let message = NewMessage {
            conn: tag(conn),
            channel: Channel::direct(user, to),
            from: user,
            name: self.name_of(user),
            to: Some(to),
            content,
            client_id: id,
        };
        self.store_message(message);
    }

    /// Hands a message to the store; it is delivered when the store reports
    /// it committed.
    pub(super) fn store_message(&mut self, message: NewMessage) {
        self.effects.push(Effect::Store(Request::Append(message)));
    }

    /// A committed batch: in cluster mode it is published first, for the
    /// other nodes. Each room's new messages then go to each member as one
    /// queue item (one lock and one wake-up for the lot), and then the
    /// senders' acks, so an ack never comes before its message (but in
    /// cluster mode, when another node's earlier message is still on its
    /// way: clients file messages by number, and ask for a gap they see).
    /// A resend of a message stored before is acknowledged, not delivered.
    pub(super) fn on_appended(&mut self, appended: Vec<Appended>) {
        if self.bus().is_some() {
            let mut published: Vec<(RoomName, Vec<StoredMessage>)> = Vec::new();
            for Appended { message, new, .. } in &appended {
                if let (true, Channel::Room(room)) = (new, &message.channel) {
                    match published.iter_mut().find(|(name, _)| name == room) {
                        Some((_, messages)) => messages.push(message.clone()),
                        None => published.push((room.clone(), vec![message.clone()])),
                    }
                }
            }
            for (room, messages) in published {
                self.effects
                    .push(Effect::Bus(BusRequest::Publish { room, messages }));
            }
        }
        let mut rooms: Vec<(RoomName, Vec<Utf8Bytes>)> = Vec::new();
        for Appended { conn, message, new } in &appended {
            if !new {
                continue;
            }
            match &message.channel {
                Channel::Room(room) => {
                    let frames = self.sequence(room, message.clone());
                    if frames.is_empty() {
                        continue;
                    }
                    match rooms.iter_mut().find(|(name, _)| name == room) {
                        Some((_, all)) => all.extend(frames),
                        None => rooms.push((room.clone(), frames)),
                    }
                }
                Channel::Direct(..) => {
                    self.deliver_direct_message(conn_of(*conn), message);
                    if self.config.bus.is_some() {
                        self.effects
                            .push(Effect::Bus(BusRequest::PublishDirect(message.clone())));
                    }
                }
            }
        }
        for (room, frames) in rooms {
            self.broadcast_all(&room, frames);
        }
        for appended in appended {
            self.acknowledge(appended);
        }
    }

    /// Tells a `hello` sender (or the API) its message is stored, under
    /// which number.
    pub(super) fn acknowledge(&mut self, Appended { conn, message, new }: Appended) {
        let conn = conn_of(conn);
        if let Some(reply) = self.posts.remove(&conn) {
            let _ = reply.send(PostOutcome::Stored { message, new });
            return;
        }
        let wants_ack = self.sessions.get(&conn).is_some_and(|s| s.extended);
        if let (true, Some(id)) = (wants_ack, message.client_id.clone()) {
            let (room, to) = match message.channel {
                Channel::Room(room) => (Some(room), None),
                Channel::Direct(..) => (None, message.to),
            };
            let ack = ServerMessage::Ack {
                id,
                room,
                to,
                seq: message.seq,
                ts: message.ts,
            };
            self.send_to(conn, &ack);
        }
    }

    /// Puts a committed message of room `name` in the room's order: the
    /// frames of what goes out now (it, and what it unblocked), each kept
    /// in the cache. None if the room is not in memory (nobody here is in
    /// it), is loading (the load brings it), or the message is early or
    /// seen before.
    pub(super) fn sequence(&mut self, name: &RoomName, message: StoredMessage) -> Vec<Utf8Bytes> {
        let Some(room) = self.rooms.get_mut(name) else {
            return Vec::new();
        };
        let released = room.sequencer.offer(message.seq, message, self.now.at);
        self.note_gap(name);
        self.cache_released(name, released)
    }

    /// Keeps messages the sequencer released in the room's cache; their
    /// frames for the members.
    pub(super) fn cache_released(
        &mut self,
        name: &RoomName,
        released: Vec<StoredMessage>,
    ) -> Vec<Utf8Bytes> {
        if released.is_empty() {
            return Vec::new();
        }
        let cache_size = self.cache_size();
        let Some(room) = self.rooms.get_mut(name) else {
            return Vec::new();
        };
        let mut frames = Vec::with_capacity(released.len());
        for message in released {
            frames.push(room_message_frame(name, &message));
            let grew = room.recent.push(message, cache_size, ROOM_CACHE_BYTES);
            self.cached_bytes = self.cached_bytes.saturating_add_signed(grew);
        }
        self.keep_caches_within_budget(name);
        frames
    }

    /// To every connection of the recipient, and to the sender's other
    /// connections (its tabs keep the conversation too).
    pub(super) fn deliver_direct_message(&mut self, sender_conn: ConnId, message: &StoredMessage) {
        let frame = direct_message_frame(message);
        let mut targets: Vec<ConnId> = Vec::new();
        for user in [Some(message.from), message.to].into_iter().flatten() {
            targets.extend(self.users.conns(user).iter().filter(|c| **c != sender_conn));
        }
        targets.sort();
        targets.dedup();
        for conn in targets {
            self.push(conn, frame.clone());
        }
    }
}

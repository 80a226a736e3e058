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
        if !self.users.is_connected(to) {
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

    /// A message is on disk: deliver it (unless it is a resend of one
    /// delivered before) and acknowledge it to its sender.
    /// A committed batch: each room's new messages go to each member as one
    /// queue item (one lock and one wake-up for the lot), and then the
    /// senders' acks, so an ack never comes before its message.
    pub(super) fn on_appended(&mut self, appended: Vec<Appended>) {
        let mut rooms: Vec<(RoomName, Vec<Utf8Bytes>)> = Vec::new();
        for Appended { conn, message, new } in &appended {
            let conn = &conn_of(*conn);
            if !new {
                continue;
            }
            match &message.channel {
                Channel::Room(room) => {
                    let Some(frame) = self.cache_room_message(room, message) else {
                        continue;
                    };
                    match rooms.iter_mut().find(|(name, _)| name == room) {
                        Some((_, frames)) => frames.push(frame),
                        None => rooms.push((room.clone(), vec![frame])),
                    }
                }
                Channel::Direct(..) => self.deliver_direct_message(*conn, message),
            }
        }
        for (room, frames) in rooms {
            self.broadcast_all(&room, frames);
        }
        for appended in appended {
            self.acknowledge(appended);
        }
    }

    /// Tells a `hello` sender its message is stored, under which number.
    pub(super) fn acknowledge(&mut self, Appended { conn, message, .. }: Appended) {
        let conn = conn_of(conn);
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

    /// Keeps a stored message in its room's cache and encodes it for the
    /// members; `None` if the room has nobody to send it to.
    pub(super) fn cache_room_message(
        &mut self,
        name: &RoomName,
        message: &StoredMessage,
    ) -> Option<Utf8Bytes> {
        let cache_size = self.cache_size();
        // Gone: nobody is in the room any more. Not loaded: its load, queued
        // after this message, will bring it.
        let room = self.rooms.get_mut(name).filter(|room| room.loaded)?;
        let grew = room
            .recent
            .push(message.clone(), cache_size, ROOM_CACHE_BYTES);
        self.cached_bytes = self.cached_bytes.saturating_add_signed(grew);
        self.keep_caches_within_budget(name);
        Some(room_message_frame(name, message))
    }

    /// To every connection of the recipient, and to the sender's other
    /// connections (its tabs keep the conversation too).
    pub(super) fn deliver_direct_message(&mut self, sender_conn: ConnId, message: &StoredMessage) {
        let frame = encode(&ServerMessage::DirectMessage {
            from: message.from,
            content: message.content.clone(),
            to: message.to,
            name: Some(message.name.clone()),
            seq: Some(message.seq),
            ts: Some(message.ts),
            id: message.client_id.clone(),
        });
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

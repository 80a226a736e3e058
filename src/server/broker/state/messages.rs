//! Room and direct messages, and changes to them (edits, deletions,
//! reactions): handing them to the store, and once the store reports them
//! committed, delivering and acknowledging them.
//!
//! A change is a row of its channel's sequence like a message: it goes to
//! the members (and the two people of a conversation) that said `hello`
//! as a `message_changed`, in order with the messages, and brings the
//! cached message it targets up to date.

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
        reply_to: message.extras().reply_to,
        mentions: message.extras().mentions.clone(),
        quote: message.extras().quote.clone(),
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
        reply_to: message.extras().reply_to,
        quote: message.extras().quote.clone(),
    })
}

/// A committed change, as `hello` clients get it.
pub(super) fn change_frame(room: Option<&RoomName>, change: &StoredMessage) -> Option<Utf8Bytes> {
    Some(encode(&ServerMessage::MessageChanged {
        room: room.cloned(),
        to: change.to,
        change: change.posted_change()?,
    }))
}

/// What a committed row of a room sends its members.
pub(super) enum Frame {
    /// A message: to everyone.
    All(Utf8Bytes),
    /// A change: to the members that said `hello`.
    Extended(Utf8Bytes),
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
        kind: NewKind,
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
        if let Some(notice) = self.muted_notice(&room, user, id.clone(), MuteNews::Refused) {
            self.send_to(conn, &notice);
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
            kind,
        };
        self.store_message(message);
    }

    pub(super) fn direct(
        &mut self,
        conn: ConnId,
        to: UserId,
        content: MessageContent,
        id: Option<ClientId>,
        kind: NewKind,
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
            kind,
        };
        self.store_message(message);
    }

    /// An edit, a deletion or a reaction to message `seq` of a room the
    /// sender is in, or of its conversation with `with`. The store checks
    /// it against the message (its author, whether still there) and
    /// numbers it; see [`Self::changes_refused`].
    pub(super) fn change(
        &mut self,
        conn: ConnId,
        (room, with): (Option<RoomName>, Option<UserId>),
        seq: u64,
        content: Option<MessageContent>,
        request: ChangeRequest,
    ) {
        let Some(who) = self.sessions.get(&conn).map(Session::who) else {
            return;
        };
        let user = who.user;
        let mut request = request;
        let (channel, to) = match (room, with) {
            (Some(room), None) => {
                let is_member = self
                    .rooms
                    .get(&room)
                    .is_some_and(|r| r.members.contains_key(&conn));
                if !is_member {
                    let text = format!("join room '{room}' before changing its messages");
                    let error = ServerMessage::room_error(ErrorCode::NotAMember, room, text);
                    self.send_to(conn, &error);
                    return;
                }
                // A muted user may delete their own messages, not edit
                // (which would say anything) or react.
                if !matches!(request, ChangeRequest::Delete)
                    && let Some(notice) = self.muted_notice(&room, user, None, MuteNews::Refused)
                {
                    self.send_to(conn, &notice);
                    return;
                }
                // The room's moderators delete anyone's messages but
                // those of who stands as high.
                if matches!(request, ChangeRequest::Delete)
                    && let Some(protected) = self.protected_from(&room, &who)
                {
                    request = ChangeRequest::Remove { protected };
                }
                (Channel::Room(room), None)
            }
            (None, Some(with)) if with != user => (Channel::direct(user, with), Some(with)),
            _ => {
                let text = "name the message by 'room', or by 'with' (the other person of a \
                            direct conversation), and its 'seq'";
                let error = ServerMessage::error(ErrorCode::InvalidMessage, text);
                self.send_to(conn, &error);
                return;
            }
        };
        let message = NewMessage {
            conn: tag(conn),
            channel,
            from: user,
            name: self.name_of(user),
            to,
            content: content.unwrap_or_else(MessageContent::removed),
            client_id: None,
            kind: NewKind::Change {
                target: seq,
                request,
            },
        };
        self.store_message(message);
    }

    /// Changes the store would not take: each sender is told why, unless
    /// the change would have changed nothing (the state is already what
    /// it asked for).
    pub(super) fn changes_refused(&mut self, refused: Vec<(NewMessage, Refusal)>) {
        for (message, refusal) in refused {
            let code = match refusal {
                Refusal::Unchanged => continue,
                Refusal::NoSuchMessage => ErrorCode::NoSuchMessage,
                Refusal::NotYours
                | Refusal::Deleted
                | Refusal::TooLate
                | Refusal::TooManyReactions => ErrorCode::NotAllowed,
            };
            let text = match &message.kind {
                NewKind::Change { target, .. } => format!("message {target}: {}", refusal.text()),
                _ => format!("the message it answers: {}", refusal.text()),
            };
            self.message_refused(message, code, &text);
        }
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
        let mut rooms: Vec<(RoomName, Vec<Frame>)> = Vec::new();
        for Appended { conn, message, new } in &appended {
            if !new {
                continue;
            }
            match &message.channel {
                Channel::Room(room) => {
                    if let (Some(author), Some((seq, _))) =
                        (message.removed_for(), message.change())
                    {
                        self.config.metrics.moderated("delete_message");
                        self.effects.push(Effect::Removed {
                            room: room.clone(),
                            moderator: message.from,
                            author,
                            seq,
                        });
                    }
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
    pub(super) fn sequence(&mut self, name: &RoomName, message: StoredMessage) -> Vec<Frame> {
        let Some(room) = self.rooms.get_mut(name) else {
            return Vec::new();
        };
        let released = room.sequencer.offer(message.seq, message, self.now.at);
        self.note_gap(name);
        self.cache_released(name, released)
    }

    /// Keeps rows the sequencer released in the room's cache (a change
    /// also brings the message it targets up to date there); their frames
    /// for the members.
    pub(super) fn cache_released(
        &mut self,
        name: &RoomName,
        released: Vec<StoredMessage>,
    ) -> Vec<Frame> {
        if released.is_empty() {
            return Vec::new();
        }
        let cache_size = self.cache_size();
        let Some(room) = self.rooms.get_mut(name) else {
            return Vec::new();
        };
        let mut frames = Vec::with_capacity(released.len());
        let mut removed = Vec::new();
        for message in released {
            let mut grew = 0;
            if message.is_message() {
                frames.push(Frame::All(room_message_frame(name, &message)));
            } else if let Some(frame) = change_frame(Some(name), &message) {
                frames.push(Frame::Extended(frame));
                grew += room.recent.apply(&message);
                if let Some((target, Change::Delete)) = message.change() {
                    grew += room.recent.blank_changes_to(target);
                    if let Some(author) = message.removed_for() {
                        removed.push((author, target));
                    }
                }
            }
            grew += room.recent.push(message, cache_size, ROOM_CACHE_BYTES);
            self.cached_bytes = self.cached_bytes.saturating_add_signed(grew);
        }
        self.keep_caches_within_budget(name);
        for (author, seq) in removed {
            self.tell_removed(name, author, seq);
        }
        frames
    }

    /// Tells `author`'s connections here in room `name` that a moderator
    /// deleted their message `seq`.
    fn tell_removed(&mut self, name: &RoomName, author: UserId, seq: u64) {
        let Some(room) = self.rooms.get(name) else {
            return;
        };
        let conns: Vec<ConnId> = self
            .users
            .conns(author)
            .iter()
            .filter(|conn| room.members.contains_key(conn))
            .copied()
            .collect();
        let text = format!("a moderator deleted your message {seq} in '{name}'");
        let notice = ServerMessage::room_error(ErrorCode::Moderated, name.clone(), text);
        for conn in conns {
            self.send_to(conn, &notice);
        }
    }

    /// To every connection of the recipient, and to the sender's other
    /// connections (its tabs keep the conversation too). A change goes to
    /// the sender's own connection as well (it has no ack), and only to
    /// connections that said `hello`.
    pub(super) fn deliver_direct_message(&mut self, sender_conn: ConnId, message: &StoredMessage) {
        let is_change = !message.is_message();
        let frame = match is_change {
            false => direct_message_frame(message),
            true => match change_frame(None, message) {
                Some(frame) => frame,
                None => return,
            },
        };
        let mut targets: Vec<ConnId> = Vec::new();
        for user in [Some(message.from), message.to].into_iter().flatten() {
            targets.extend(
                self.users
                    .conns(user)
                    .iter()
                    .filter(|c| is_change || **c != sender_conn),
            );
        }
        targets.sort();
        targets.dedup();
        targets.retain(|conn| !is_change || self.sessions.get(conn).is_some_and(|s| s.extended));
        for conn in targets {
            self.push(conn, frame.clone());
        }
    }
}

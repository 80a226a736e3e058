//! What the HTTP API asks of the broker: posting as a bot (stored and
//! delivered like any message, the outcome answered on the request's own
//! channel once the store reports), the lobby's rooms, a room's members,
//! and disconnecting a user.

use super::*;

impl BrokerState {
    pub(super) fn api(&mut self, command: ApiCommand) {
        match command {
            ApiCommand::Post {
                conn,
                room,
                from,
                name,
                content,
                id,
                reply,
            } => {
                let message = NewMessage {
                    conn: tag(conn),
                    channel: Channel::Room(room),
                    from,
                    name,
                    to: None,
                    content,
                    client_id: id,
                    kind: NewKind::Plain,
                };
                self.post(conn, message, reply);
            }
            ApiCommand::Remove {
                conn,
                room,
                seq,
                by,
                protected,
                reply,
            } => {
                let message = NewMessage {
                    conn: tag(conn),
                    channel: Channel::Room(room),
                    from: by,
                    name: self.name_of(by),
                    to: None,
                    content: MessageContent::removed(),
                    client_id: None,
                    kind: NewKind::Change {
                        target: seq,
                        request: ChangeRequest::Remove { protected },
                    },
                };
                self.post(conn, message, reply);
            }
            ApiCommand::Addresses { user, reply } => {
                let conns = self.users.conns(user).to_vec();
                let _ = reply.send(self.addresses_of(&conns));
            }
            ApiCommand::Rooms(reply) => {
                let rooms = match self.room_list() {
                    ServerMessage::Rooms { rooms } => rooms,
                    _ => Vec::new(),
                };
                let _ = reply.send(rooms);
            }
            ApiCommand::Members { room, reply } => {
                if let Some(loaded) = self.rooms.get(&room) {
                    let _ = reply.send(Some(self.member_list(loaded)));
                } else if self.bus().is_some() {
                    // Nobody here: the other nodes' members are in Redis.
                    self.effects
                        .push(Effect::Bus(BusRequest::Members { room, reply }));
                } else {
                    let _ = reply.send(Some(Vec::new()));
                }
            }
            ApiCommand::Disconnect {
                user,
                reason,
                notice,
                reply,
            } => {
                let closed = self.disconnect_user(user, reason, notice.as_deref());
                if self.bus().is_some() {
                    self.effects
                        .push(Effect::Bus(BusRequest::Disconnect(user, reason, notice)));
                }
                let _ = reply.send(closed);
            }
        }
    }

    /// Hands the API's `message` to the store; `reply` hears how it went.
    fn post(&mut self, conn: ConnId, message: NewMessage, reply: oneshot::Sender<PostOutcome>) {
        if self.shutting_down {
            let _ = reply.send(PostOutcome::Refused(ErrorCode::ShuttingDown));
            return;
        }
        self.posts.insert(conn, reply);
        self.store_message(message);
    }

    /// Closes `user`'s connections here (they may connect again, unless
    /// banned); how many. With a `notice`, they are told it first (what is
    /// queued before it goes out too); without, they are closed at once.
    pub(super) fn disconnect_user(
        &mut self,
        user: UserId,
        reason: CloseReason,
        notice: Option<&str>,
    ) -> usize {
        let conns: Vec<ConnId> = self.users.conns(user).to_vec();
        if reason == CloseReason::Banned {
            let addresses = self.addresses_of(&conns);
            self.ban_addresses(crate::server::rooms::SERVER, user, addresses);
        }
        let notice = notice
            .map(|text| Outbound::Text(encode(&ServerMessage::error(ErrorCode::Moderated, text))));
        for conn in &conns {
            let Some(outbox) = self.remove_session(*conn) else {
                continue;
            };
            match &notice {
                Some(notice) => {
                    let told = outbox.push(notice.clone()).is_ok()
                        && outbox.push(Outbound::Close(reason)).is_ok();
                    if !told {
                        outbox.kick(reason);
                    }
                }
                None => outbox.kick(reason),
            }
        }
        if !conns.is_empty() {
            info!(%user, connections = conns.len(), "disconnected a user");
        }
        conns.len()
    }
}

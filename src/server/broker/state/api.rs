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
                if self.shutting_down {
                    let _ = reply.send(PostOutcome::Refused(ErrorCode::ShuttingDown));
                    return;
                }
                self.posts.insert(conn, reply);
                self.store_message(NewMessage {
                    conn: tag(conn),
                    channel: Channel::Room(room),
                    from,
                    name,
                    to: None,
                    content,
                    client_id: id,
                    kind: NewKind::Plain,
                });
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
                reply,
            } => {
                let closed = self.disconnect_user(user, reason);
                if self.bus().is_some() {
                    self.effects
                        .push(Effect::Bus(BusRequest::Disconnect(user, reason)));
                }
                let _ = reply.send(closed);
            }
        }
    }

    /// Closes `user`'s connections here (they may connect again); how many.
    pub(super) fn disconnect_user(&mut self, user: UserId, reason: CloseReason) -> usize {
        let conns: Vec<ConnId> = self.users.conns(user).to_vec();
        for conn in &conns {
            if let Some(outbox) = self.remove_session(*conn) {
                outbox.kick(reason);
            }
        }
        if !conns.is_empty() {
            info!(%user, connections = conns.len(), "disconnected a user");
        }
        conns.len()
    }
}

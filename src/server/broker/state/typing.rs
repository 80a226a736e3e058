//! `typing`: forwarded to a room's other members, at most every
//! [`TYPING_INTERVAL`] per connection and room.

use super::*;

/// When one connection last had a `typing` forwarded, per room.
#[derive(Default)]
pub(super) struct TypingGate(Vec<(RoomName, Instant)>);

impl TypingGate {
    /// Whether a `typing` in `room` at `now` goes out: not within
    /// [`TYPING_INTERVAL`] of the last that did.
    pub(super) fn pass(&mut self, room: &RoomName, now: Instant) -> bool {
        match self.0.iter_mut().find(|(typed, _)| typed == room) {
            Some((_, last)) if now.duration_since(*last) < TYPING_INTERVAL => false,
            Some((_, last)) => {
                *last = now;
                true
            }
            None => {
                self.0.push((room.clone(), now));
                true
            }
        }
    }

    /// The connection left `room`.
    pub(super) fn forget(&mut self, room: &RoomName) {
        self.0.retain(|(typed, _)| typed != room);
    }
}

impl BrokerState {
    /// Tells the room's other members (`hello` clients: a new type) that the
    /// user is writing; at most one per connection and room every
    /// [`TYPING_INTERVAL`], the rest dropped.
    pub(super) fn typing(&mut self, conn: ConnId, room: RoomName) {
        let is_member = self
            .rooms
            .get(&room)
            .is_some_and(|r| r.members.contains_key(&conn));
        let Some(session) = self.sessions.get_mut(&conn) else {
            return;
        };
        if !is_member {
            let text = format!("join room '{room}' before typing in it");
            self.send_to(
                conn,
                &ServerMessage::room_error(ErrorCode::NotAMember, room, text),
            );
            return;
        }
        let user = session.user;
        if self
            .muted_notice(&room, user, None, MuteNews::Refused)
            .is_some()
        {
            return; // a muted user's typing is no news
        }
        let Some(session) = self.sessions.get_mut(&conn) else {
            return;
        };
        if !session.extras().typed.pass(&room, self.now.at) {
            return;
        }
        // Nobody hears of someone typing before hearing that they joined.
        self.send_announcements(&room);
        let frame = encode(&ServerMessage::Typing {
            room: room.clone(),
            user,
            name: self.name_of(user),
        });
        let audience: Vec<ConnId> = self.rooms[&room]
            .members
            .keys()
            .copied()
            .filter(|member| *member != conn)
            .filter(|member| {
                self.sessions
                    .get(member)
                    .is_some_and(|s| s.extended && s.user != user)
            })
            .collect();
        for member in audience {
            self.push(member, frame.clone());
        }
        if self.config.bus.is_some() {
            let name = self.name_of(user);
            self.effects
                .push(Effect::Bus(BusRequest::Typing { room, user, name }));
        }
    }
}

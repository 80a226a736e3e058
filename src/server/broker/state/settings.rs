//! Rooms' settings in the broker (what they mean is `crate::server::rooms`'s
//! to say): read as the room comes into memory, a room nobody owns claimed
//! by its first joiner, who may be in it, and its members told when they
//! change. Every check of a room's privacy the broker makes is here.
//!
//! Reads are numbered per room: one that comes back after a later one is
//! not applied over it. A joiner the settings in memory would refuse is
//! refused only on a fresh read (they may have just used an invite, here
//! or on another node); the HTTP API's change is answered once this node
//! has read it back, so that what it changed holds here at once.

use super::*;

/// What a user banned from `room` is told.
fn ban_notice(room: &RoomName, ban: &Sanction, now_ms: i64) -> String {
    ban.with_reason(format!(
        "a moderator banned you from '{room}' {}",
        ban.lasting(now_ms)
    ))
}

/// Why a muted user is told of their mute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum MuteNews {
    /// A moderator muted them just now.
    Now,
    /// What they sent was refused for it.
    Refused,
    /// They joined the room, muted (a reload, another device).
    Joined,
}

/// What the task does to a room's rows, then reads its settings again
/// (the answer is [`Command::Settings`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::server::broker) enum RoomWork {
    /// Only read them.
    Read,
    /// The room had no row: `user` claims it, and owns it if first.
    Claim(UserId),
}

/// A room's reads of its settings, numbered, and who waits for one.
#[derive(Default)]
pub(super) struct SettingsReads {
    /// The number of the last read asked for.
    asked: u64,
    /// The number of the settings in memory: an older read is not applied.
    applied: u64,
    /// Joiners the settings in memory refuse, waiting for a read from
    /// after they asked: the connection, its `after`, the read.
    rechecking: Vec<(ConnId, Option<u64>, u64)>,
    /// HTTP API changes waiting for a read from after they were written.
    replies: Vec<(u64, oneshot::Sender<()>)>,
}

impl SettingsReads {
    /// Someone waits on a read: the room stays in memory for them.
    pub(super) fn busy(&self) -> bool {
        !self.rechecking.is_empty() || !self.replies.is_empty()
    }
}

impl BrokerState {
    /// Whether `conn` waits for a fresh read of `room`'s settings.
    pub(super) fn rechecking(&self, room: &RoomName, conn: ConnId) -> bool {
        self.rooms
            .get(room)
            .is_some_and(|room| room.reads.rechecking.iter().any(|(c, _, _)| *c == conn))
    }

    /// Whether `conn` may be in `room`, join it, read or search it. A room
    /// whose settings are not in yet lets nobody in (its joiners wait).
    pub(super) fn lets_in(&self, room: &RoomName, conn: ConnId) -> bool {
        let Some(who) = self.sessions.get(&conn).map(Session::who) else {
            return false;
        };
        self.rooms
            .get(room)
            .and_then(|room| room.settings.as_ref())
            .is_some_and(|settings| settings.lets_in(&who, self.now.ms))
    }

    /// Whether `room` is private, as far as this node knows.
    pub(super) fn is_private(&self, room: &RoomName) -> bool {
        self.rooms
            .get(room)
            .and_then(|room| room.settings.as_ref())
            .is_some_and(|settings| settings.private)
    }

    /// Asks for `room`'s settings to be read (after `work`); the read's
    /// number.
    pub(super) fn read_settings(&mut self, name: &RoomName, work: RoomWork) -> u64 {
        let Some(room) = self.rooms.get_mut(name) else {
            return 0;
        };
        room.reads.asked += 1;
        let read = room.reads.asked;
        self.effects.push(Effect::Rooms {
            room: name.clone(),
            work,
            read,
        });
        read
    }

    /// `conn` is refused by the settings in memory: it waits for a fresh
    /// read, which decides.
    pub(super) fn recheck_entry(&mut self, conn: ConnId, name: &RoomName, after: Option<u64>) {
        let read = self.read_settings(name, RoomWork::Read);
        if let Some(room) = self.rooms.get_mut(name) {
            room.reads.rechecking.push((conn, after, read));
            // Held behind this join already (it waited for the load): what
            // it holds stays held, in order.
            let held = self
                .sessions
                .get(&conn)
                .and_then(|session| session.held.as_ref())
                .is_some_and(|held| held.room == *name);
            if !held {
                self.hold_behind(conn, name.clone());
            }
        }
    }

    /// Refuses `conn` a private room it is no member of: it is out of the
    /// room, and told why.
    pub(super) fn refuse_entry(&mut self, conn: ConnId, room: &RoomName) {
        let Some(session) = self.sessions.get_mut(&conn) else {
            return;
        };
        session.rooms.remove(room);
        let (user, address) = (session.user, session.address);
        let Some(settings) = self.rooms.get(room).and_then(|r| r.settings.as_ref()) else {
            return;
        };
        let refusal = match settings.banned_until(user, self.now.ms) {
            Some(ban) => {
                let text = ban_notice(room, ban, self.now.ms);
                // Back from this address: its new guests stay out too.
                self.ban_addresses(room.as_str(), user, vec![address]);
                ServerMessage::room_error(ErrorCode::Moderated, room.clone(), text)
            }
            None if settings.private => ServerMessage::room_error(
                ErrorCode::NotAllowed,
                room.clone(),
                "this room is private: you need an invite to join it",
            ),
            None => ServerMessage::room_error(
                ErrorCode::Moderated,
                room.clone(),
                "a moderator banned a guest at your address from this room: \
                 sign in to an account to join it",
            ),
        };
        debug!(%conn, %room, "refused entry to a room");
        self.send_to(conn, &refusal);
    }

    /// The addresses of `conns`, once each.
    pub(super) fn addresses_of(&self, conns: &[ConnId]) -> Vec<IpAddr> {
        let mut addresses: Vec<IpAddr> = conns
            .iter()
            .filter_map(|conn| self.sessions.get(conn).map(|s| s.address))
            .collect();
        addresses.sort_unstable();
        addresses.dedup();
        addresses
    }

    /// `user` is joining a room nobody has claimed: they claim it.
    pub(super) fn claim_if_unowned(&mut self, name: &RoomName, user: UserId) {
        let Some(room) = self.rooms.get_mut(name) else {
            return;
        };
        if room.claiming || room.settings.as_ref().is_none_or(|s| s.recorded) {
            return;
        }
        room.claiming = true;
        self.read_settings(name, RoomWork::Claim(user));
    }

    /// Someone changed `room`'s rows (the HTTP API here, or another node):
    /// read them again if the room is in memory. `done` is told once they
    /// are read back.
    pub(super) fn room_changed(
        &mut self,
        room: RoomName,
        from_bus: bool,
        done: Option<oneshot::Sender<()>>,
    ) {
        if !from_bus && self.bus().is_some() {
            self.effects
                .push(Effect::Bus(BusRequest::RoomChanged(room.clone())));
        }
        if !self.rooms.contains_key(&room) {
            if let Some(done) = done {
                let _ = done.send(()); // read afresh when it comes in
            }
            return;
        }
        let read = self.read_settings(&room, RoomWork::Read);
        if let (Some(done), Some(room)) = (done, self.rooms.get_mut(&room)) {
            room.reads.replies.push((read, done));
        }
    }

    /// Read number `read` of `room`'s settings came back (`None`: it
    /// failed).
    pub(super) fn on_settings(
        &mut self,
        name: RoomName,
        read: u64,
        settings: Option<RoomSettings>,
    ) {
        let Some(room) = self.rooms.get_mut(&name) else {
            return; // every joiner left meanwhile
        };
        // A claim that failed is made again by the next joiner (one made
        // twice claims nothing the second time).
        room.claiming = false;
        let before = match settings {
            Some(settings) if read > room.reads.applied => {
                room.reads.applied = read;
                Some(room.settings.replace(settings))
            }
            Some(_) => None, // a later read is in already
            None if room.settings.is_none() => {
                let text = "the room's settings could not be read; join again in a moment";
                return self.fail_load(name, ErrorCode::StorageFailed, text);
            }
            None => None, // what was read before stays
        };
        if let Some(before) = &before {
            self.tell_lobbies(&name, before.as_ref());
        }
        match before {
            Some(None) => self.admit_waiting(&name),
            Some(Some(before)) => self.settings_changed(&name, &before),
            None => {}
        }
        self.answer_waiting_for(&name, read);
    }

    /// Those waiting for read `read` or an earlier one: rechecked joiners
    /// are admitted or refused, the HTTP API's changes answered.
    fn answer_waiting_for(&mut self, name: &RoomName, read: u64) {
        let Some(room) = self.rooms.get_mut(name) else {
            return;
        };
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut room.reads.replies)
            .into_iter()
            .partition(|(wanted, _)| *wanted <= read);
        room.reads.replies = later;
        for (_, done) in due {
            let _ = done.send(());
        }
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut room.reads.rechecking)
            .into_iter()
            .partition(|(_, _, wanted)| *wanted <= read);
        room.reads.rechecking = later;
        for (conn, after, _) in due {
            if !self
                .sessions
                .get(&conn)
                .is_some_and(|session| session.rooms.contains(name))
            {
                continue; // left, or gone
            }
            if self.lets_in(name, conn) {
                self.admit(conn, name, after);
            } else {
                self.refuse_entry(conn, name);
            }
            self.release_held(conn, name);
        }
        self.drop_room_if_empty(name);
    }

    /// Cluster mode: records the room's privacy in Redis, for every node's
    /// lobby, when it is read first here and when it changes.
    fn tell_lobbies(&mut self, name: &RoomName, before: Option<&RoomSettings>) {
        let Some(private) = self
            .rooms
            .get(name)
            .and_then(|room| room.settings.as_ref())
            .map(|s| s.private)
        else {
            return;
        };
        if self.bus().is_some() && before.is_none_or(|before| before.private != private) {
            self.effects.push(Effect::Bus(BusRequest::Privacy {
                room: name.clone(),
                private,
            }));
        }
    }

    /// Whose messages in `room` `who` may not delete, if they may delete
    /// others' at all.
    pub(super) fn protected_from(&self, room: &RoomName, who: &Who) -> Option<Vec<UserId>> {
        self.rooms.get(room)?.settings.as_ref()?.protected_from(who)
    }

    /// What a muted `user` is told in `room` (`None` if they are not
    /// muted), with how long it lasts and why; `id`: what they sent, if
    /// it was refused.
    pub(super) fn muted_notice(
        &self,
        room: &RoomName,
        user: UserId,
        id: Option<ClientId>,
        news: MuteNews,
    ) -> Option<ServerMessage> {
        let settings = self.rooms.get(room)?.settings.as_ref()?;
        let mute = settings.muted_until(user, self.now.ms)?;
        let left = mute.until.map(|until| until - self.now.ms);
        let lasting = mute.lasting(self.now.ms);
        let what = match news {
            MuteNews::Now => format!("a moderator muted you in '{room}' {lasting}"),
            MuteNews::Refused => {
                format!("you are muted in '{room}' {lasting}; your message was not sent")
            }
            MuteNews::Joined => format!("you are muted in '{room}' {lasting}"),
        };
        let left = left.map(|ms| u64::try_from(ms.max(1)).unwrap_or(1));
        Some(ServerMessage::mute(
            room.clone(),
            true,
            left,
            id,
            mute.with_reason(what),
        ))
    }

    /// Tells the room's members what changed, and puts out whoever may no
    /// longer be in it.
    fn settings_changed(&mut self, name: &RoomName, before: &RoomSettings) {
        let Some(room) = self.rooms.get(name) else {
            return;
        };
        let Some(now) = room.settings.as_ref() else {
            return;
        };
        let info = now.info();
        let told: Vec<ConnId> = room
            .members
            .iter()
            .filter(|(_, seat)| seat.extended)
            .map(|(conn, _)| *conn)
            .collect();
        let privacy_changed = now.private != before.private;
        let at = self.now.ms;
        // A ban of an address's guests holds for new entries: guests there
        // already (from before the ban) stay.
        let outsiders: Vec<ConnId> = room
            .members
            .keys()
            .filter(|conn| {
                self.sessions.get(conn).is_some_and(|session| {
                    let who = Who {
                        guest: None,
                        ..session.who()
                    };
                    !now.lets_in(&who, at)
                })
            })
            .copied()
            .collect();
        // Muted or unmuted: told in plain words, on each connection there.
        let mut mutes = Vec::new();
        for conn in room.members.keys() {
            let Some(user) = self.sessions.get(conn).map(|session| session.user) else {
                continue;
            };
            let (was, is) = (before.muted_until(user, at), now.muted_until(user, at));
            if was != is {
                mutes.push((*conn, user, is.is_some()));
            }
        }
        let banned: Vec<(ConnId, String)> = outsiders
            .iter()
            .filter_map(|conn| {
                let user = self.sessions.get(conn)?.user;
                let ban = now.banned_until(user, at)?;
                Some((*conn, ban_notice(name, ban, at)))
            })
            .collect();
        if info != before.info() {
            let frame = encode(&ServerMessage::RoomUpdated {
                room: name.clone(),
                settings: info,
            });
            for conn in told {
                self.push(conn, frame.clone());
            }
        }
        if privacy_changed {
            self.lobby.changed();
        }
        for (conn, user, muted) in mutes {
            let notice = if muted {
                self.muted_notice(name, user, None, MuteNews::Now)
            } else {
                let text = format!("a moderator lifted your mute in '{name}': you may post again");
                Some(ServerMessage::mute(name.clone(), false, None, None, text))
            };
            if let Some(notice) = notice {
                self.send_to(conn, &notice);
            }
        }
        for conn in outsiders {
            let notice = match banned.iter().find(|(banned, _)| *banned == conn) {
                Some((_, text)) => {
                    ServerMessage::room_error(ErrorCode::Moderated, name.clone(), text.clone())
                }
                None => {
                    let text = "you are no longer a member of this private room";
                    ServerMessage::room_error(ErrorCode::NotAllowed, name.clone(), text)
                }
            };
            info!(%conn, room = %name, "put out of a room");
            self.leave(conn, name.clone());
            self.send_to(conn, &notice);
            // A `hello` client hears that it left, as the others do (an
            // article client has the notice).
            if let Some(user) = self
                .sessions
                .get(&conn)
                .filter(|s| s.extended)
                .map(|s| s.user)
            {
                let left = ServerMessage::UserLeft {
                    room: name.clone(),
                    user,
                };
                self.send_to(conn, &left);
            }
        }
        // The banned were seen at these addresses: their new guests stay
        // out too.
        let mut seen: HashMap<UserId, Vec<ConnId>> = HashMap::new();
        for (conn, _) in &banned {
            if let Some(session) = self.sessions.get(conn) {
                seen.entry(session.user).or_default().push(*conn);
            }
        }
        for (user, conns) in seen {
            let addresses = self.addresses_of(&conns);
            self.ban_addresses(name.as_str(), user, addresses);
        }
    }
}

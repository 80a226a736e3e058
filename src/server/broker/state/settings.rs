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

/// `ms` in words: "3 minutes", "1 hour", "45 seconds" (rounded up).
fn in_words(ms: i64) -> String {
    let seconds = (ms.max(0) + 999) / 1000;
    let (count, unit) = match seconds {
        0..120 => (seconds, "second"),
        120..7200 => ((seconds + 59) / 60, "minute"),
        7200..172_800 => ((seconds + 3599) / 3600, "hour"),
        _ => ((seconds + 86_399) / 86_400, "day"),
    };
    let plural = if count == 1 { "" } else { "s" };
    format!("{count} {unit}{plural}")
}

/// A moderator's words to a user, with their reason if they gave one.
fn with_reason(what: String, reason: &str) -> String {
    if reason.is_empty() {
        what
    } else {
        format!("{what}: \"{reason}\"")
    }
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

    /// Whether `user` may be in `room`, join it, read or search it. A room
    /// whose settings are not in yet lets nobody in (its joiners wait).
    pub(super) fn lets_in(&self, room: &RoomName, user: UserId) -> bool {
        self.rooms
            .get(room)
            .and_then(|room| room.settings.as_ref())
            .is_some_and(|settings| settings.lets_in(user, self.now.ms))
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
        if let Some(session) = self.sessions.get_mut(&conn) {
            session.rooms.remove(room);
        }
        debug!(%conn, %room, "refused a private room");
        let text = "this room is private: you need an invite to join it";
        self.send_to(
            conn,
            &ServerMessage::room_error(ErrorCode::NotAllowed, room.clone(), text),
        );
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
            let Some(user) = self
                .sessions
                .get(&conn)
                .filter(|session| session.rooms.contains(name))
                .map(|session| session.user)
            else {
                continue; // left, or gone
            };
            if self.lets_in(name, user) {
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

    /// What a muted `user` is told in `room` (`None` if they are not
    /// muted): `news`, that a moderator just muted them; otherwise, that
    /// what they sent (`id`) was refused. With how long it lasts and why.
    pub(super) fn muted_notice(
        &self,
        room: &RoomName,
        user: UserId,
        id: Option<ClientId>,
        news: bool,
    ) -> Option<ServerMessage> {
        let settings = self.rooms.get(room)?.settings.as_ref()?;
        let mute = settings.muted_until(user, self.now.ms)?;
        let left = mute.until.map(|until| until - self.now.ms);
        let lasting = match left {
            Some(ms) => format!("for {}", in_words(ms)),
            None => "until a moderator lifts it".to_owned(),
        };
        let what = if news {
            format!("a moderator muted you in '{room}' {lasting}")
        } else {
            format!("you are muted in '{room}' {lasting}; your message was not sent")
        };
        Some(ServerMessage::Error {
            message: with_reason(what, &mute.reason),
            code: Some(ErrorCode::Moderated),
            room: Some(room.clone()),
            id,
            retry_after_ms: left.map(|ms| u64::try_from(ms.max(1)).unwrap_or(1)),
        })
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
        let outsiders: Vec<ConnId> = room
            .members
            .keys()
            .filter(|conn| {
                self.sessions
                    .get(conn)
                    .is_some_and(|session| !now.lets_in(session.user, at))
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
                let lasting = match ban.until {
                    Some(until) => format!("for {}", in_words(until - at)),
                    None => "until a moderator lifts it".to_owned(),
                };
                let text = format!("a moderator banned you from '{name}' {lasting}");
                Some((*conn, with_reason(text, &ban.reason)))
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
                self.muted_notice(name, user, None, true)
            } else {
                let text = format!("a moderator lifted your mute in '{name}': you may post again");
                Some(ServerMessage::room_error(
                    ErrorCode::Moderated,
                    name.clone(),
                    text,
                ))
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
        }
    }
}

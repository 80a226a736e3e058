//! Rooms and membership: joining (waiting for a room's load), what a joiner
//! is owed from the cache, leaving, and dropping a room nobody is in.

use super::*;

#[derive(Default)]
pub(super) struct Room {
    /// Members keep a clone of their outbox here so a broadcast walks one map.
    pub(super) members: HashMap<ConnId, Seat>,
    /// `user_joined` and `user_left` on their way out.
    pub(super) announcements: Announcements,
    /// Connections per user in the room: a user is present while it has one.
    pub(super) presence: HashMap<UserId, usize>,
    /// Cluster mode: who is in the room on any node (this one included),
    /// with their names where known. Kept from the bus's verdicts, so that
    /// an arrival or departure is announced once, whatever the node.
    pub(super) everywhere: HashMap<UserId, Option<DisplayName>>,
    /// The store has answered the load; until then joiners wait.
    pub(super) loaded: bool,
    /// Its topic, privacy and roles, once read; joiners wait for them too.
    pub(super) settings: Option<RoomSettings>,
    /// A joiner's claim on it (it had no owner) is on its way.
    pub(super) claiming: bool,
    /// Its settings' reads, and who waits for them.
    pub(super) reads: SettingsReads,
    /// Joins waiting for the load: the connection and its `after`.
    pub(super) waiting: Vec<(ConnId, Option<u64>)>,
    /// The latest messages, oldest first, within [`ROOM_CACHE`] and
    /// [`ROOM_CACHE_BYTES`].
    pub(super) recent: Window,
    /// Committed messages put in order: this node's, and in cluster mode
    /// other nodes' from the bus. Until the load it holds them all.
    pub(super) sequencer: Sequencer<StoredMessage>,
}

impl Room {
    /// Its history and its settings are in: joiners are admitted at once.
    pub(super) fn ready(&self) -> bool {
        self.loaded && self.settings.is_some()
    }
}

/// A member's place in a room.
pub(super) struct Seat {
    pub(super) outbox: Outbox,
    /// Its number among the room's members, for what it is owed of the
    /// waiting announcements.
    pub(super) number: u64,
    /// It said `hello`: it gets changes to messages too.
    pub(super) extended: bool,
}

/// A `history` of `rows`, oldest first: the messages, and the changes.
pub(super) fn history_frame<'m>(
    room: Option<RoomName>,
    with: Option<UserId>,
    rows: impl Iterator<Item = &'m StoredMessage>,
) -> ServerMessage {
    let mut messages = Vec::new();
    let mut changes = Vec::new();
    for row in rows {
        match row.posted_change() {
            Some(change) => changes.push(change),
            None => messages.push(row.posted()),
        }
    }
    ServerMessage::History {
        room,
        with,
        messages,
        changes,
    }
}

impl BrokerState {
    /// Joining twice announces nothing and changes nothing; the joiner gets
    /// `joined` again (and what it missed, if it says), so a client that
    /// retried its join still hears back.
    pub(super) fn join(&mut self, conn: ConnId, room: RoomName, after: Option<u64>) {
        if after.is_some() {
            self.config.metrics.resumes.inc();
        }
        let Some(session) = self.sessions.get_mut(&conn) else {
            return;
        };
        if session.rooms.len() >= MAX_ROOMS_PER_CONNECTION && !session.rooms.contains(&room) {
            let text = format!(
                "you are in {MAX_ROOMS_PER_CONNECTION} rooms, the most one connection may join; leave one first"
            );
            self.send_to(
                conn,
                &ServerMessage::room_error(ErrorCode::TooManyRooms, room, text),
            );
            return;
        }
        let user = session.user;
        let newly = session.rooms.insert(room.clone());
        match self.rooms.get_mut(&room) {
            Some(existing) if existing.ready() => {
                if newly || !existing.members.contains_key(&conn) {
                    self.admit(conn, &room, after);
                } else {
                    self.send_joined(conn, &room, after);
                }
            }
            Some(loading) => {
                if newly {
                    loading.waiting.push((conn, after));
                    self.hold_behind(conn, room);
                }
            }
            None => {
                if self.bus().is_some() {
                    // Loaded once what is published there reaches this
                    // node, so nothing committed after the load is missed.
                    self.effects
                        .push(Effect::Bus(BusRequest::Subscribe(room.clone())));
                    self.subscribing.insert(room.clone(), self.now.at);
                } else {
                    self.load(room.clone());
                }
                let loading = Room {
                    waiting: vec![(conn, after)],
                    ..Room::default()
                };
                self.rooms.insert(room.clone(), loading);
                // The first joiner of a room nobody owns owns it: its
                // `joined` says so.
                self.read_settings(&room, RoomWork::Claim(user));
                self.hold_behind(conn, room);
            }
        }
    }

    /// Asks the store for a room coming into memory.
    pub(super) fn load(&mut self, room: RoomName) {
        debug!(%room, "loading room");
        let recent = self.cache_size();
        self.effects
            .push(Effect::Store(Request::LoadRoom { room, recent }));
    }

    /// What `conn` sends from now on waits for its join of `room`.
    pub(super) fn hold_behind(&mut self, conn: ConnId, room: RoomName) {
        if let Some(session) = self.sessions.get_mut(&conn) {
            session.held = Some(Box::new(Held {
                room,
                requests: VecDeque::new(),
            }));
        }
    }

    pub(super) fn on_room_loaded(&mut self, name: RoomName, recent: Vec<StoredMessage>, head: u64) {
        let Some(room) = self.rooms.get_mut(&name) else {
            return; // every joiner left while it loaded
        };
        if room.loaded {
            return; // an earlier load already brought it in, and it is current
        }
        room.loaded = true;
        room.recent = Window::from_messages(recent);
        room.recent.trim_to(ROOM_CACHE_BYTES);
        self.cached_bytes += room.recent.bytes();
        // What was committed after the load's read came meanwhile: it goes
        // into the cache, and so to the joiners with the rest. The head was
        // read just before the messages: another node may have committed
        // more in between, which the messages then hold already.
        let head = head.max(room.recent.iter().next_back().map_or(0, |m| m.seq));
        let newer = room.sequencer.start(head, self.now.at);
        self.note_gap(&name);
        self.cache_released(&name, newer);
        self.admit_waiting(&name);
    }

    /// Admits the joiners waiting for `name` once both its history and its
    /// settings are in (each answer calls this; the second admits).
    pub(super) fn admit_waiting(&mut self, name: &RoomName) {
        let Some(room) = self.rooms.get_mut(name) else {
            return;
        };
        if !room.ready() {
            return;
        }
        let waiting = std::mem::take(&mut room.waiting);
        for (conn, after) in &waiting {
            let still_joining = self
                .sessions
                .get(conn)
                .is_some_and(|session| session.rooms.contains(name));
            if still_joining {
                self.admit(*conn, name, *after);
            }
        }
        for (conn, _) in waiting {
            // One refused in memory waits on for a fresh read, and what it
            // sent behind the join with it.
            if !self.rechecking(name, conn) {
                self.release_held(conn, name);
            }
        }
        self.keep_caches_within_budget(name);
        self.drop_room_if_empty(name);
    }

    pub(super) fn on_load_failed(&mut self, name: RoomName) {
        let text = "the room's history could not be read; join again in a moment";
        self.fail_load(name, ErrorCode::StorageFailed, text);
    }

    /// A room's load will not come: its waiting joiners are refused, and
    /// what they sent meanwhile takes effect (or is refused in turn).
    pub(super) fn fail_load(&mut self, name: RoomName, code: ErrorCode, text: &str) {
        let Some(room) = self.rooms.remove(&name) else {
            return;
        };
        self.forget_room(&name);
        for (conn, _) in room.waiting {
            if let Some(session) = self.sessions.get_mut(&conn) {
                session.rooms.remove(&name);
            }
            self.send_to(conn, &ServerMessage::room_error(code, name.clone(), text));
            self.release_held(conn, &name);
        }
    }

    /// Makes a connection a member of a loaded room: announces the user if
    /// it is new there, then sends `joined` and the history it is owed.
    pub(super) fn admit(&mut self, conn: ConnId, name: &RoomName, after: Option<u64>) {
        let Some(session) = self.sessions.get(&conn) else {
            return;
        };
        let (user, outbox, extended) = (session.user, session.outbox.clone(), session.extended);
        if !self.lets_in(name, conn) {
            return self.recheck_entry(conn, name, after);
        }
        self.claim_if_unowned(name, user);
        let Some(room) = self.rooms.get_mut(name) else {
            return;
        };
        let present = room.presence.entry(user).or_default();
        *present += 1;
        if *present == 1 {
            let display = self.users.name_of(user);
            // In a cluster, someone already here on another node is not
            // announced again; the bus tells the other nodes if they are new.
            let known = match &self.config.bus {
                Some(_) => {
                    let known = room.everywhere.insert(user, Some(display.clone()));
                    self.effects.push(Effect::Bus(BusRequest::Arrive {
                        room: Some(name.clone()),
                        user,
                        name: display.clone(),
                    }));
                    known.is_some()
                }
                None => false,
            };
            if !known {
                self.lobby.changed();
                debug!(%conn, %user, room = %name, "join");
                let announcement = encode(&ServerMessage::UserJoined {
                    room: name.clone(),
                    user,
                    name: Some(display),
                });
                // Before the joiner is a member, so it is not owed its own.
                self.announce(name, user, true, announcement);
            }
        }
        if let Some(room) = self.rooms.get_mut(name) {
            let number = room.announcements.admit();
            let seat = Seat {
                outbox,
                number,
                extended,
            };
            room.members.insert(conn, seat);
        }
        self.send_joined(conn, name, after);
    }

    /// `joined`, then the messages after `after`, or the latest ones when
    /// the client has none: as one `history` to a `hello` client (messages
    /// as they are now, and when resuming the changes made since `after`
    /// as well, to messages it has), and as the article's own
    /// `room_message` frames, oldest first, to a client that knows only the
    /// article (it could not decode `history`, and gets no deleted ones).
    pub(super) fn send_joined(&mut self, conn: ConnId, name: &RoomName, after: Option<u64>) {
        let Some(extended) = self.sessions.get(&conn).map(|s| s.extended) else {
            return;
        };
        let Some(room) = self.rooms.get(name) else {
            return;
        };
        let members = extended.then(|| self.member_list(room));
        let settings = room
            .settings
            .as_ref()
            .filter(|_| extended)
            .map(RoomSettings::info);
        let cutoff = self.config.retention.cutoff_ms(self.now.ms);
        // Changes only to a `hello` client that resumes (afresh, the
        // messages show them already).
        let owed: Vec<&StoredMessage> = room
            .recent
            .iter()
            .filter(|m| cutoff.is_none_or(|cutoff| m.ts >= cutoff))
            .filter(|m| after.is_none_or(|after| m.seq > after))
            .filter(|m| m.is_message() || (extended && after.is_some()))
            .filter(|m| extended || !m.extras().deleted)
            .collect();
        // Resuming: all of it (the cache bounds it). Afresh: the latest.
        let skip = match after {
            Some(_) => 0,
            None => owed.len().saturating_sub(self.config.history_on_join),
        };
        let owed = within_budget(&owed[skip..], Keep::Newest);
        let replay = if owed.is_empty() {
            None
        } else if extended {
            Some(Outbound::Text(encode(&history_frame(
                Some(name.clone()),
                None,
                owed.iter().copied(),
            ))))
        } else {
            let frames: Vec<Utf8Bytes> = owed.iter().map(|m| room_message_frame(name, m)).collect();
            Some(Outbound::Batch {
                frames: frames.into(),
                skip: 0,
            })
        };
        let joined = ServerMessage::Joined {
            room: name.clone(),
            members,
            settings,
        };
        self.send_to(conn, &joined);
        if let Some(replay) = replay {
            self.push_item(conn, replay);
        }
        // A muted user's client shows it from the start (after a reload,
        // on another device).
        if extended
            && let Some(user) = self.sessions.get(&conn).map(|session| session.user)
            && let Some(notice) = self.muted_notice(name, user, None, MuteNews::Joined)
        {
            self.send_to(conn, &notice);
        }
    }

    pub(super) fn leave(&mut self, conn: ConnId, room: RoomName) {
        let was_in = self
            .sessions
            .get_mut(&conn)
            .is_some_and(|session| session.rooms.remove(&room));
        if was_in {
            if let Some(extras) = self
                .sessions
                .get_mut(&conn)
                .and_then(|session| session.extras.as_mut())
            {
                extras.typed.forget(&room);
            }
            self.remove_member(conn, &room);
        } else {
            let message = format!("you are not in room '{room}'");
            self.send_to(
                conn,
                &ServerMessage::room_error(ErrorCode::NotAMember, room, message),
            );
        }
    }

    /// Removes `conn` from `room`, whether a member or still waiting (its
    /// session's own room set is the caller's business). The user's leave
    /// is announced once its last connection there is gone.
    pub(super) fn remove_member(&mut self, conn: ConnId, name: &RoomName) {
        let Some(user) = self.sessions.get(&conn).map(|s| s.user) else {
            return;
        };
        let Some(room) = self.rooms.get_mut(name) else {
            return;
        };
        room.waiting.retain(|(waiting, _)| *waiting != conn);
        if room.members.remove(&conn).is_some() {
            let present = room.presence.entry(user).or_default();
            *present = present.saturating_sub(1);
            if *present == 0 {
                room.presence.remove(&user);
                if self.config.bus.is_some() {
                    // Announced when the bus says the user is on no node.
                    self.effects.push(Effect::Bus(BusRequest::Depart {
                        room: Some(name.clone()),
                        user,
                    }));
                    self.drop_room_if_empty(name);
                    return;
                }
                self.lobby.changed();
                debug!(%conn, %user, room = %name, "leave");
                let announcement = encode(&ServerMessage::UserLeft {
                    room: name.clone(),
                    user,
                });
                self.announce(name, user, false, announcement);
            }
        }
        self.drop_room_if_empty(name);
    }

    /// A member's name: theirs here, else as the bus last gave it.
    /// Everyone in `room` (on every node, in cluster mode), with their
    /// names, at most [`MAX_MEMBERS_LISTED`].
    pub(super) fn member_list(&self, room: &Room) -> Vec<Member> {
        let mut users: Vec<UserId> = room
            .presence
            .keys()
            .chain(room.everywhere.keys())
            .copied()
            .collect();
        users.sort();
        users.dedup();
        users.truncate(MAX_MEMBERS_LISTED);
        users
            .into_iter()
            .map(|user| Member {
                user,
                name: self.member_name(room, user),
            })
            .collect()
    }

    pub(super) fn member_name(&self, room: &Room, user: UserId) -> DisplayName {
        match room.everywhere.get(&user) {
            Some(Some(name)) if !self.users.is_connected(user) => name.clone(),
            _ => self.name_of(user),
        }
    }

    /// A loaded room nobody is in leaves memory (its history stays stored).
    pub(super) fn drop_room_if_empty(&mut self, name: &RoomName) {
        if self
            .rooms
            .get(name)
            .is_some_and(|room| room.ready() && room.members.is_empty() && !room.reads.busy())
            && let Some(room) = self.rooms.remove(name)
        {
            self.cached_bytes -= room.recent.bytes();
            self.forget_room(name);
        }
    }
}

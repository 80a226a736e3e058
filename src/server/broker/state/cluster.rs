//! What cluster mode adds to the rules: rooms loaded once the bus brings
//! their publications, other nodes' messages put in each room's order and
//! what the bus did not bring read from storage (a gap that outlived its
//! wait, a room behind the head storage has); arrivals and departures
//! announced once whatever the node (the bus's scripts decide which is
//! first and last); typing, renames and direct messages from other nodes;
//! who is online anywhere; the lobby of all nodes.

use super::*;

impl BrokerState {
    pub(super) fn on_bus(&mut self, event: BusEvent) {
        match event {
            BusEvent::Subscribed { room, members } => match self.rooms.get_mut(&room) {
                Some(loading) if !loading.loaded => {
                    loading.everywhere.extend(members);
                    if self.subscribing.remove(&room).is_some() {
                        self.load(room);
                    }
                }
                // Loaded without waiting for it (the bus was slow): its
                // members are news now.
                Some(_) => self.reconcile(room, members),
                None => {}
            },
            BusEvent::Published { room, messages } => {
                let mut frames = Vec::new();
                for message in messages {
                    let lag_ms = (self.now.ms - message.ts).max(0);
                    self.config
                        .metrics
                        .bus_lag_seconds
                        .observe(lag_ms as f64 / 1000.0);
                    frames.extend(self.sequence(&room, message));
                }
                if !frames.is_empty() {
                    self.broadcast_all(&room, frames);
                }
            }
            BusEvent::Presence {
                room,
                user,
                name,
                present,
            } => self.on_presence(room, user, name, present),
            BusEvent::Typing { room, user, name } => {
                let frame = encode(&ServerMessage::Typing {
                    room: room.clone(),
                    user,
                    name,
                });
                let audience: Vec<ConnId> = self.rooms.get(&room).map_or(Vec::new(), |room| {
                    room.members
                        .keys()
                        .copied()
                        .filter(|member| {
                            self.sessions
                                .get(member)
                                .is_some_and(|s| s.extended && s.user != user)
                        })
                        .collect()
                });
                // Nobody hears of someone typing before hearing that they joined.
                self.send_announcements(&room);
                for member in audience {
                    self.push(member, frame.clone());
                }
            }
            BusEvent::Direct { to, message } => {
                // A change goes only to connections that said `hello`.
                let frame = match message.is_message() {
                    true => direct_message_frame(&message),
                    false => match change_frame(None, &message) {
                        Some(frame) => frame,
                        None => return,
                    },
                };
                for conn in self.users.conns(to).to_vec() {
                    if message.is_message() || self.sessions.get(&conn).is_some_and(|s| s.extended)
                    {
                        self.push(conn, frame.clone());
                    }
                }
            }
            BusEvent::Online(users) => self.online_anywhere = users.into_iter().collect(),
            BusEvent::OnlineChanged { user, present } => {
                if present {
                    self.online_anywhere.insert(user);
                } else {
                    self.online_anywhere.remove(&user);
                }
            }
            BusEvent::Renamed { user, name } => self.on_renamed_elsewhere(user, name),
            BusEvent::Disconnect(user, reason, notice) => {
                self.disconnect_user(user, reason, notice.as_deref());
            }
            BusEvent::RoomChanged(room) => self.room_changed(room, true, None),
            BusEvent::Lobby(rooms) => {
                self.cluster_lobby = Some(rooms);
                self.lobby.changed();
            }
            BusEvent::Restored => self.check_heads(),
            BusEvent::Members(rooms) => {
                for (room, members) in rooms {
                    self.reconcile(room, members);
                }
            }
        }
    }

    /// Who Redis says is in `room` now, read after every verdict this
    /// node has taken in and before any it has not: whoever this node
    /// still counts and Redis does not left (a verdict it missed while its
    /// connection was down, or that Redis lost), and whoever Redis counts
    /// and this node does not arrived. This node's own members stay: Redis
    /// gets them again from the bus.
    fn reconcile(&mut self, name: RoomName, members: Members) {
        let Some(room) = self.rooms.get(&name).filter(|room| room.loaded) else {
            return;
        };
        let listed: HashSet<UserId> = members.iter().map(|(user, _)| *user).collect();
        let gone: Vec<UserId> = room
            .everywhere
            .keys()
            .filter(|user| !listed.contains(user))
            .copied()
            .collect();
        let came: Vec<(UserId, Option<DisplayName>)> = members
            .into_iter()
            .filter(|(user, _)| !room.everywhere.contains_key(user))
            .collect();
        if !gone.is_empty() || !came.is_empty() {
            info!(room = %name, gone = gone.len(), came = came.len(), "presence put right from Redis");
        }
        for user in gone {
            self.on_presence(name.clone(), user, None, false);
        }
        for (user, display) in came {
            self.on_presence(name.clone(), user, display, true);
        }
    }

    /// The bus's verdict: `user` is now in `room` on some node, having
    /// been on none (or is on none any more). Announced here unless this
    /// node knew already (it announced its own member's arrival itself).
    fn on_presence(
        &mut self,
        name: RoomName,
        user: UserId,
        display: Option<DisplayName>,
        present: bool,
    ) {
        let Some(room) = self.rooms.get_mut(&name) else {
            return;
        };
        if present {
            if room.everywhere.contains_key(&user) {
                return;
            }
            room.everywhere.insert(user, display.clone());
        } else if room.presence.contains_key(&user) || room.everywhere.remove(&user).is_none() {
            // Back here meanwhile, or never known: nothing to announce.
            return;
        }
        self.lobby.changed();
        let frame = encode(&if present {
            ServerMessage::UserJoined {
                room: name.clone(),
                user,
                name: Some(display.unwrap_or_else(|| user.guest_name())),
            }
        } else {
            ServerMessage::UserLeft {
                room: name.clone(),
                user,
            }
        });
        self.announce(&name, user, present, frame);
    }

    /// A user on another node renamed: `hello` members of the rooms they
    /// are in hear it.
    fn on_renamed_elsewhere(&mut self, user: UserId, name: DisplayName) {
        let mut audience: HashSet<ConnId> = HashSet::new();
        for room in self.rooms.values_mut() {
            if let Some(known) = room.everywhere.get_mut(&user) {
                *known = Some(name.clone());
                audience.extend(room.members.keys().copied());
            }
        }
        let frame = encode(&ServerMessage::UserRenamed { user, name });
        for conn in audience {
            if self.sessions.get(&conn).is_some_and(|s| s.extended) {
                self.push(conn, frame.clone());
            }
        }
    }

    /// Notes whether `name` has a gap to fill, for
    /// [`BrokerState::fill_gaps`].
    pub(super) fn note_gap(&mut self, name: &RoomName) {
        if self
            .rooms
            .get(name)
            .is_some_and(|room| room.sequencer.wants_fill())
        {
            self.gapped.insert(name.clone());
        }
    }

    /// A room left memory: the bus stops bringing it here.
    pub(super) fn forget_room(&mut self, name: &RoomName) {
        self.gapped.remove(name);
        self.subscribing.remove(name);
        if self.bus().is_some() {
            self.effects
                .push(Effect::Bus(BusRequest::Unsubscribe(name.clone())));
        }
    }

    /// Asks storage for each gap that has waited long enough, and loads
    /// each room whose subscription has not come in [`SUBSCRIBE_PATIENCE`]
    /// (the bus is down or behind): its joiners do not wait for it, and
    /// what the bus would have brought is read from storage by the heads
    /// check until it does.
    pub(in crate::server::broker) fn fill_gaps(&mut self, now: Now) {
        self.now = now;
        let late: Vec<RoomName> = self
            .subscribing
            .iter()
            .filter(|(_, since)| now.at.duration_since(**since) >= SUBSCRIBE_PATIENCE)
            .map(|(room, _)| room.clone())
            .collect();
        for room in late {
            self.subscribing.remove(&room);
            if self.rooms.get(&room).is_some_and(|r| !r.loaded) {
                warn!(%room, "the bus has not subscribed this node to a room yet; loading it without");
                self.load(room);
            }
        }
        let gapped: Vec<RoomName> = self.gapped.iter().cloned().collect();
        for name in gapped {
            let Some(room) = self
                .rooms
                .get_mut(&name)
                .filter(|r| r.sequencer.wants_fill())
            else {
                self.gapped.remove(&name);
                continue;
            };
            if let Some(fill) = room.sequencer.due_fill(now.at) {
                info!(room = %name, after = fill.after, before = ?fill.before, "a gap outlived its wait; reading it from storage");
                self.config.metrics.gap_fills.inc();
                self.effects.push(Effect::Fill { room: name, fill });
            }
        }
    }

    /// A fill's answer: what it closed goes out, in order.
    pub(super) fn on_filled(
        &mut self,
        name: RoomName,
        fill: Fill,
        found: Option<Vec<StoredMessage>>,
    ) {
        let now = self.now.at;
        let Some(room) = self.rooms.get_mut(&name) else {
            return;
        };
        let released = match found {
            Some(found) => {
                let found = found.into_iter().map(|m| (m.seq, m)).collect();
                room.sequencer.filled(fill, found, now)
            }
            None => {
                room.sequencer.fill_failed(now);
                Vec::new()
            }
        };
        self.note_gap(&name);
        let frames = self.cache_released(&name, released);
        if !frames.is_empty() {
            self.broadcast_all(&name, frames);
        }
        self.evict_slow_consumers();
    }

    /// Asks storage for the head of every room in memory.
    pub(in crate::server::broker) fn check_heads(&mut self) {
        let rooms: Vec<RoomName> = self
            .rooms
            .iter()
            .filter(|(_, room)| room.loaded)
            .map(|(name, _)| name.clone())
            .collect();
        if !rooms.is_empty() {
            self.effects.push(Effect::Heads(rooms));
        }
    }

    /// Storage's heads: a room still behind one it saw a check ago missed
    /// messages the bus never brought, and reads them.
    pub(super) fn on_heads(&mut self, heads: Vec<(RoomName, u64)>) {
        for (name, head) in heads {
            if let Some(room) = self.rooms.get_mut(&name)
                && let Some(fill) = room.sequencer.behind(head)
            {
                info!(room = %name, after = fill.after, head, "messages the bus did not bring; reading them from storage");
                self.config.metrics.gap_fills.inc();
                self.effects.push(Effect::Fill { room: name, fill });
            }
        }
    }
}

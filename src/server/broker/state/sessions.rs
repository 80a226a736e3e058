//! Connections and users: who each connection is (`Session`, with its held
//! requests and extras), each user's connections and chosen name (`Users`,
//! with the `NameIndex` that renames are checked against), and renames.

use super::*;

pub(super) struct Session {
    pub(super) user: UserId,
    pub(super) outbox: Outbox,
    /// Rooms joined, or waiting to be (their room is loading).
    pub(super) rooms: ListSet<RoomName>,
    /// Said `hello`: may receive the protocol's additions.
    pub(super) extended: bool,
    /// Cluster mode: its user is counted online across the cluster through
    /// it, from its `hello` or its first message. A connection that says
    /// nothing costs Redis nothing (and nobody can know its id to write
    /// to it).
    pub(super) online: bool,
    /// Its client's address, and whether it is an account's (or an
    /// admin's): what a room's bans are checked against.
    pub(super) address: IpAddr,
    pub(super) account: bool,
    pub(super) admin: bool,
    /// When its user's identity was made, if a guest's (0: not known).
    pub(super) born_ms: i64,
    /// What only some connections need: made at the first history request
    /// or `typing`. An idle connection holds a null pointer.
    pub(super) extras: Option<Box<Extras>>,
    /// Set while a join of this connection waits for its room to load:
    /// what the connection sends meanwhile waits here, so that its requests
    /// take effect in the order it sent them.
    pub(super) held: Option<Box<Held>>,
}

/// A connection's requests held behind its join of a loading room.
pub(super) struct Held {
    pub(super) room: RoomName,
    pub(super) requests: VecDeque<ClientMessage>,
}

#[derive(Default)]
pub(super) struct Extras {
    pub(super) reads: Arc<ReadQuota>,
    /// When this connection last had a `typing` forwarded, per room.
    pub(super) typed: TypingGate,
}

impl Session {
    /// Who the connection is to a room: a guest is asked about by their
    /// address too.
    pub(super) fn who(&self) -> Who {
        Who {
            user: self.user,
            admin: self.admin,
            guest: (!self.account).then_some(Guest {
                at: self.address,
                born_ms: self.born_ms,
            }),
        }
    }

    pub(super) fn extras(&mut self) -> &mut Extras {
        self.extras.get_or_insert_with(Box::default)
    }
}

/// A connected user: every connection of one identity, and its name.
struct User {
    /// `None`: the guest name its id gives, made when needed rather than
    /// kept for every connected guest.
    name: Option<DisplayName>,
    /// Inline up to two: most people have one tab open.
    conns: SmallVec<[ConnId; 2]>,
}

impl BrokerState {
    pub(super) fn identify(
        &mut self,
        conn: ConnId,
        user: UserId,
        stored_name: Option<DisplayName>,
        welcome: Welcome,
    ) {
        let Some(session) = self.sessions.get_mut(&conn) else {
            return;
        };
        // The reader lets `hello` through only as the first message, so the
        // connection is in no room yet and can change identity freely.
        let guest = session.user;
        session.user = user;
        session.extended = true;
        session.account = welcome.username.is_some();
        session.admin = welcome.admin;
        session.born_ms = welcome.born_ms;
        self.remove_user_connection(guest, conn);
        let name = self.add_user_connection(user, conn, stored_name);
        self.go_online(conn);
        debug!(%conn, %user, %name, "hello");
        if let Some(refusal) = welcome.refused {
            let text = match refusal {
                TokenRefusal::Invalid => {
                    "the session token was not issued by this server, was altered or has expired; you have a new identity"
                }
                TokenRefusal::Ended => {
                    "that session was signed out or has expired: sign in again; meanwhile you have a new identity"
                }
            };
            self.send_to(conn, &ServerMessage::error(ErrorCode::InvalidToken, text));
        }
        let welcome = ServerMessage::Welcome {
            user,
            name,
            token: welcome.token,
            protocol: PROTOCOL_VERSION,
            epoch: Some(self.config.store.epoch().to_owned()),
            username: welcome.username,
            admin: welcome.admin,
        };
        self.send_to(conn, &welcome);
    }

    /// Adds a connection to its user; returns the user's name.
    /// In a cluster, a user's first connection here is announced to the
    /// other nodes, and its last one's end.
    pub(super) fn add_user_connection(
        &mut self,
        user: UserId,
        conn: ConnId,
        stored_name: Option<DisplayName>,
    ) -> DisplayName {
        self.users.connect(user, conn, stored_name)
    }

    /// Takes `conn` from `user` (counted offline first, if it was online).
    pub(super) fn remove_user_connection(&mut self, user: UserId, conn: ConnId) {
        self.go_offline(conn, user);
        self.users.disconnect(user, conn);
    }

    /// Cluster mode: `conn` said something, so its user is counted online
    /// through it; the bus registers the user if it is their first such
    /// connection here.
    pub(super) fn go_online(&mut self, conn: ConnId) {
        if self.bus().is_none() {
            return;
        }
        let Some(session) = self.sessions.get_mut(&conn).filter(|s| !s.online) else {
            return;
        };
        session.online = true;
        let user = session.user;
        if self.online_connections(user) == 1 {
            let name = self.name_of(user);
            self.effects.push(Effect::Bus(BusRequest::Arrive {
                room: None,
                user,
                name,
            }));
        }
    }

    /// Cluster mode: `conn` no longer counts `user` online; the bus
    /// unregisters them if it was their last such connection here.
    fn go_offline(&mut self, conn: ConnId, user: UserId) {
        let Some(session) = self.sessions.get_mut(&conn).filter(|s| s.online) else {
            return;
        };
        session.online = false;
        if self.online_connections(user) == 0 {
            self.effects
                .push(Effect::Bus(BusRequest::Depart { room: None, user }));
        }
    }

    fn online_connections(&self, user: UserId) -> usize {
        let conns = self.users.conns(user);
        conns
            .iter()
            .filter(|conn| self.sessions.get(conn).is_some_and(|s| s.online))
            .count()
    }

    pub(super) fn name_of(&self, user: UserId) -> DisplayName {
        self.users.name_of(user)
    }

    /// Changes a user's name everywhere: every connection of the user and
    /// every `hello` client sharing a room with it hears `user_renamed`.
    pub(super) fn rename(&mut self, conn: ConnId, name: DisplayName) {
        let Some(user) = self.sessions.get(&conn).map(|s| s.user) else {
            return;
        };
        if let Some(refusal) = self.name_refusal(user, &name) {
            let error = ServerMessage::error(ErrorCode::InvalidMessage, refusal);
            self.send_to(conn, &error);
            return;
        }
        let Some(own) = self.users.rename(user, &name) else {
            return;
        };
        self.effects.push(Effect::Store(Request::SetName {
            user,
            name: name.clone(),
        }));
        info!(%user, %name, "renamed");
        let rooms: HashSet<RoomName> = own
            .iter()
            .filter_map(|c| self.sessions.get(c))
            .flat_map(|session| session.rooms.iter().cloned())
            .collect();
        let mut audience: HashSet<ConnId> = own.iter().copied().collect();
        for name in &rooms {
            // The user's arrival before its new name.
            self.send_announcements(name);
            if let Some(room) = self.rooms.get(name) {
                audience.extend(room.members.keys().copied());
            }
        }
        if self.config.bus.is_some() {
            self.effects.push(Effect::Bus(BusRequest::Renamed {
                user,
                name: name.clone(),
            }));
        }
        let frame = encode(&ServerMessage::UserRenamed { user, name });
        for conn in audience {
            if self.sessions.get(&conn).is_some_and(|s| s.extended) {
                self.push(conn, frame.clone());
            }
        }
    }

    /// Why `user` may not take `name`, if it may not: a guest's name is
    /// its own (`guest-` and four hex digits: another's would pass for
    /// them), and a name someone else connected uses, in any case, would
    /// make two people look like one.
    pub(super) fn name_refusal(&self, user: UserId, name: &DisplayName) -> Option<&'static str> {
        if name.is_guest_name() && *name != user.guest_name() {
            return Some("names of the form guest-1a2b are the guests' own: choose another");
        }
        // Guests' own names need no check: the rule above reserves them.
        self.users
            .names
            .taken_by_other(user, name)
            .then_some("someone connected already goes by that name: choose another")
    }

    /// Forgets a connection and announces `user_left` where it was the
    /// user's last. Exactly once: a second call finds no session.
    pub(super) fn remove_session(&mut self, conn: ConnId) -> Option<Outbox> {
        let rooms: Vec<RoomName> = self.sessions.get(&conn)?.rooms.iter().cloned().collect();
        for room in &rooms {
            self.remove_member(conn, room);
        }
        let user = self.sessions.get(&conn)?.user;
        self.remove_user_connection(user, conn);
        let session = self.sessions.remove(&conn)?;
        self.lobby.forget(conn);
        Some(session.outbox)
    }
}

/// The connected users: each one's connections and the name it chose, and
/// an index of those names.
#[derive(Default)]
pub(super) struct Users {
    users: HashMap<UserId, User>,
    names: NameIndex,
}

impl Users {
    /// Users connected.
    pub(super) fn len(&self) -> usize {
        self.users.len()
    }

    /// Adds a connection to its user; returns the user's name: the one its
    /// other connections already use, else the stored one, else a guest name.
    fn connect(&mut self, user: UserId, conn: ConnId, stored: Option<DisplayName>) -> DisplayName {
        let names = &mut self.names;
        let entry = self.users.entry(user).or_insert_with(|| {
            if let Some(name) = &stored {
                names.insert(user, name);
            }
            User {
                name: stored,
                conns: SmallVec::new(),
            }
        });
        entry.conns.push(conn);
        self.name_of(user)
    }

    /// Takes a connection from its user, and the user away with its last.
    fn disconnect(&mut self, user: UserId, conn: ConnId) {
        if let Some(entry) = self.users.get_mut(&user) {
            entry.conns.retain(|c| *c != conn);
            if entry.conns.is_empty()
                && let Some(gone) = self.users.remove(&user)
                && let Some(name) = gone.name
            {
                self.names.remove(user, &name);
            }
        }
    }

    pub(super) fn name_of(&self, user: UserId) -> DisplayName {
        self.users
            .get(&user)
            .and_then(|entry| entry.name.clone())
            .unwrap_or_else(|| user.guest_name())
    }

    /// Gives a connected user `name`; returns its connections (`None` if it
    /// is not connected).
    fn rename(&mut self, user: UserId, name: &DisplayName) -> Option<SmallVec<[ConnId; 2]>> {
        let entry = self.users.get_mut(&user)?;
        if let Some(old) = entry.name.replace(name.clone()) {
            self.names.remove(user, &old);
        }
        self.names.insert(user, name);
        Some(entry.conns.clone())
    }

    pub(super) fn is_connected(&self, user: UserId) -> bool {
        self.users.contains_key(&user)
    }

    /// Every connection of `user`.
    pub(super) fn conns(&self, user: UserId) -> &[ConnId] {
        self.users.get(&user).map_or(&[], |entry| &entry.conns)
    }
}

/// The names connected users chose, lowercased, and who holds each (two
/// may, if each took it while the other was away): a rename is checked in
/// one lookup, not by walking every connected user.
#[derive(Default)]
pub(super) struct NameIndex(HashMap<String, SmallVec<[UserId; 1]>>);

impl NameIndex {
    pub(super) fn insert(&mut self, user: UserId, name: &DisplayName) {
        self.0.entry(Self::key(name)).or_default().push(user);
    }

    pub(super) fn remove(&mut self, user: UserId, name: &DisplayName) {
        let key = Self::key(name);
        if let Some(holders) = self.0.get_mut(&key) {
            holders.retain(|holder| *holder != user);
            if holders.is_empty() {
                self.0.remove(&key);
            }
        }
    }

    /// Whether someone other than `user` goes by `name`, in any case.
    pub(super) fn taken_by_other(&self, user: UserId, name: &DisplayName) -> bool {
        self.0
            .get(&Self::key(name))
            .is_some_and(|holders| holders.iter().any(|holder| *holder != user))
    }

    fn key(name: &DisplayName) -> String {
        name.as_str().to_lowercase()
    }
}

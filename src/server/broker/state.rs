//! The broker's state and the rules of the protocol: who is in which room,
//! who gets which message, what a joiner is owed from history. Plain
//! synchronous code owned by the broker task, so every rule can be tested
//! without sockets.
//!
//! A room is in memory while someone is in it, with its latest messages
//! cached: joins are answered (history, resume replay) from the cache, in
//! order, before any later message. A room coming into memory is loaded
//! from the store first; joiners wait for that load.

use std::{
    collections::{HashMap, HashSet, VecDeque},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Utf8Bytes;
use tracing::{debug, info, warn};

use smallvec::SmallVec;

use crate::list_set::ListSet;
use crate::protocol::{
    ClientId, ClientMessage, DisplayName, ErrorCode, Member, MessageContent, PROTOCOL_VERSION,
    RoomName, RoomSummary, ServerMessage, UserId,
};
use crate::server::outbox::{Outbound, Outbox};
use crate::server::store::window::{Window, fit_budget};
use crate::server::store::{
    Appended, Channel, NewMessage, StoreReport, StoredMessage, Tag, now_ms,
};

use super::announcements::Announcements;
use super::{BrokerConfig, Command, ConnId};
use crate::server::close::CloseReason;

/// Rooms one connection may be in at once: each costs the server memory,
/// and no person follows more rooms than this from one tab.
pub const MAX_ROOMS_PER_CONNECTION: usize = 100;

/// Members listed in `joined` at most: a frame must stay a bounded size
/// however large the room.
pub const MAX_MEMBERS_LISTED: usize = 1000;

/// Messages of each room in memory kept for joins and resumes. A client
/// that missed more pages back for the rest.
pub const ROOM_CACHE: usize = 256;

/// Bytes of each room's cache at most (256 messages of 4,000 emoji would be
/// 4 MB): one room's cache is a few pages of history, not a store.
pub const ROOM_CACHE_BYTES: usize = 1024 * 1024;

/// Most messages one history request returns.
pub const HISTORY_PAGE_MAX: usize = 200;

/// Messages a history request returns when it gives no limit.
const HISTORY_PAGE_DEFAULT: usize = 50;

/// Bytes of message text in one `history` frame at most, so that a frame
/// always fits in a connection's send queue (`send_queue_bytes`, at least
/// 64 KiB... 4 MiB by default) with room to spare. A page cut short by it
/// is simply shorter: clients page on from where it ends.
pub const HISTORY_FRAME_BYTES: usize = 256 * 1024;

/// Rooms listed in the lobby at most (the largest).
pub const MAX_ROOMS_LISTED: usize = 200;

/// `typing` forwarded at most this often per connection and room.
pub const TYPING_INTERVAL: Duration = Duration::from_secs(2);

/// Requests a connection may send behind a join that waits for its room to
/// load. They wait with it and then apply in the order sent; past this many
/// the rest are refused as `busy` (a client pipelining this much behind one
/// join is flooding, and each held request is up to a message of memory).
pub const MAX_HELD: usize = 128;

/// History reads one connection may have running at once, and queued:
/// one client's flood of requests must not take the read pool from others.
const READS_RUNNING: usize = 2;
const READS_QUEUED: usize = 32;

pub(super) struct BrokerState {
    config: BrokerConfig,
    sessions: HashMap<ConnId, Session>,
    users: HashMap<UserId, User>,
    rooms: HashMap<RoomName, Room>,
    /// Connections whose outbox filled up during the current command; they
    /// are evicted once it is handled (eviction itself broadcasts, and may
    /// find more).
    slow: Vec<ConnId>,
    shutting_down: bool,
    /// Connections watching the lobby's room list, and whether it changed
    /// since they last got it.
    lobby: HashSet<ConnId>,
    lobby_changed: bool,
    /// Rooms with announcements waiting for the next tick.
    announcing: HashSet<RoomName>,
    /// What the rooms' caches hold together, against `cache_max_bytes`.
    cached_bytes: usize,
}

struct Session {
    user: UserId,
    outbox: Outbox,
    /// Rooms joined, or waiting to be (their room is loading).
    rooms: ListSet<RoomName>,
    /// Said `hello`: may receive the protocol's additions.
    extended: bool,
    /// What only some connections need: made at the first history request
    /// or `typing`. An idle connection holds a null pointer.
    extras: Option<Box<Extras>>,
    /// Set while a join of this connection waits for its room to load:
    /// what the connection sends meanwhile waits here, so that its requests
    /// take effect in the order it sent them.
    held: Option<Box<Held>>,
}

/// A connection's requests held behind its join of a loading room.
struct Held {
    room: RoomName,
    requests: VecDeque<ClientMessage>,
}

#[derive(Default)]
struct Extras {
    reads: Arc<ReadQuota>,
    /// When this connection last had a `typing` forwarded, per room.
    typed: Vec<(RoomName, Instant)>,
}

impl Session {
    fn extras(&mut self) -> &mut Extras {
        self.extras.get_or_insert_with(Box::default)
    }
}

/// A connection's history reads: running, and accepted in all (running or
/// waiting to run).
struct ReadQuota {
    running: Semaphore,
    accepted: AtomicUsize,
}

impl Default for ReadQuota {
    fn default() -> Self {
        Self {
            running: Semaphore::new(READS_RUNNING),
            accepted: AtomicUsize::new(0),
        }
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

#[derive(Default)]
struct Room {
    /// Members keep a clone of their outbox here so a broadcast walks one map.
    members: HashMap<ConnId, Seat>,
    /// `user_joined` and `user_left` on their way out.
    announcements: Announcements,
    /// Connections per user in the room: a user is present while it has one.
    presence: HashMap<UserId, usize>,
    /// The store has answered the load; until then joiners wait.
    loaded: bool,
    /// Joins waiting for the load: the connection and its `after`.
    waiting: Vec<(ConnId, Option<u64>)>,
    /// The latest messages, oldest first, within [`ROOM_CACHE`] and
    /// [`ROOM_CACHE_BYTES`].
    recent: Window,
}

/// A member's place in a room.
struct Seat {
    outbox: Outbox,
    /// Its number among the room's members, for what it is owed of the
    /// waiting announcements.
    number: u64,
}

/// Encodes a message once; the bytes are then shared by every recipient.
fn encode(message: &ServerMessage) -> Utf8Bytes {
    serde_json::to_string(message)
        .expect("a ServerMessage is strings and numbers and always encodes")
        .into()
}

/// A room's stored message as its members get it: the article's
/// `room_message`, with the additions a client ignores if it does not know
/// them.
fn room_message_frame(room: &RoomName, message: &StoredMessage) -> Utf8Bytes {
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
fn tag(conn: ConnId) -> Tag {
    Tag(conn.0)
}

fn conn_of(tag: Tag) -> ConnId {
    ConnId(tag.0)
}

/// Which end of a list of messages to keep when it is over the budget.
#[derive(Clone, Copy)]
enum Keep {
    Oldest,
    Newest,
}

/// The longest run of `messages` from the `keep` end whose text fits in
/// [`HISTORY_FRAME_BYTES`]; always at least one message.
fn within_budget<'m>(
    messages: &'m [impl AsRef<StoredMessage>],
    keep: Keep,
) -> Vec<&'m StoredMessage> {
    let mut budget = HISTORY_FRAME_BYTES;
    let mut taken: Vec<&StoredMessage> = Vec::new();
    let ordered: Box<dyn Iterator<Item = &'m StoredMessage>> = match keep {
        Keep::Oldest => Box::new(messages.iter().map(AsRef::as_ref)),
        Keep::Newest => Box::new(messages.iter().rev().map(AsRef::as_ref)),
    };
    for message in ordered {
        let size = json_size(message.content.as_str()) + json_size(message.name.as_str()) + 200;
        if size > budget && !taken.is_empty() {
            break;
        }
        budget = budget.saturating_sub(size);
        taken.push(message);
    }
    if matches!(keep, Keep::Newest) {
        taken.reverse();
    }
    taken
}

/// The length of `text` as a JSON string body: control characters take up
/// to six bytes, quotes and backslashes two.
fn json_size(text: &str) -> usize {
    text.bytes()
        .map(|b| match b {
            b'"' | b'\\' => 2,
            0..=0x1f => 6,
            _ => 1,
        })
        .sum()
}

impl AsRef<StoredMessage> for StoredMessage {
    fn as_ref(&self) -> &StoredMessage {
        self
    }
}

impl BrokerState {
    pub(super) fn new(config: BrokerConfig) -> Self {
        Self {
            config,
            sessions: HashMap::new(),
            users: HashMap::new(),
            rooms: HashMap::new(),
            slow: Vec::new(),
            shutting_down: false,
            lobby: HashSet::new(),
            lobby_changed: false,
            announcing: HashSet::new(),
            cached_bytes: 0,
        }
    }

    /// Messages kept in a room's cache: retention may keep fewer.
    fn cache_size(&self) -> usize {
        let kept = self.config.retention.max_messages.unwrap_or(u64::MAX);
        ROOM_CACHE.min(usize::try_from(kept).unwrap_or(usize::MAX))
    }

    pub(super) fn handle(&mut self, command: Command) {
        match command {
            Command::Connect { conn, user, outbox } => {
                let session = Session {
                    user,
                    outbox,
                    rooms: ListSet::default(),
                    extended: false,
                    extras: None,
                    held: None,
                };
                self.sessions.insert(conn, session);
                self.add_user_connection(user, conn, None);
                if self.shutting_down {
                    self.notify_shutdown(conn);
                }
            }
            Command::Identify {
                conn,
                user,
                stored_name,
                token,
                token_refused,
            } => {
                if !self.shutting_down {
                    self.identify(conn, user, stored_name, token, token_refused);
                }
            }
            Command::Client { conn, message } => {
                if self.sessions.contains_key(&conn) && !self.shutting_down {
                    self.client_message(conn, message);
                }
            }
            Command::Disconnect { conn } => {
                self.remove_session(conn);
            }
            Command::Shutdown => self.shutdown(),
        }
        self.evict_slow_consumers();
    }

    pub(super) fn on_report(&mut self, report: StoreReport) {
        match report {
            StoreReport::Appended(appended) => self.on_appended(appended),
            StoreReport::AppendFailed(messages) => {
                for message in messages {
                    let room = match message.channel {
                        Channel::Room(room) => Some(room),
                        Channel::Direct(..) => None,
                    };
                    let error = ServerMessage::message_error(
                        ErrorCode::StorageFailed,
                        message.client_id,
                        room,
                        "the message could not be stored and was not delivered; send it again",
                    );
                    self.send_to(conn_of(message.conn), &error);
                }
            }
            StoreReport::RoomLoaded { room, recent } => self.on_room_loaded(room, recent),
            StoreReport::LoadFailed { room } => self.on_load_failed(room),
        }
        self.evict_slow_consumers();
    }

    fn client_message(&mut self, conn: ConnId, message: ClientMessage) {
        let Some(session) = self.sessions.get_mut(&conn) else {
            return;
        };
        if let Some(held) = &mut session.held {
            if held.requests.len() < MAX_HELD {
                held.requests.push_back(message);
            } else {
                self.refuse_held(conn, message);
            }
            return;
        }
        self.apply(conn, message);
    }

    /// A request past [`MAX_HELD`]: refused as `busy`, naming what it was.
    fn refuse_held(&mut self, conn: ConnId, message: ClientMessage) {
        let (id, room) = match message {
            ClientMessage::RoomMessage { id, room, .. } => (id, Some(room)),
            ClientMessage::DirectMessage { id, .. } => (id, None),
            ClientMessage::JoinRoom { room, .. }
            | ClientMessage::LeaveRoom { room }
            | ClientMessage::Typing { room }
            | ClientMessage::History { room, .. } => (None, Some(room)),
            _ => (None, None),
        };
        let text = format!(
            "at most {MAX_HELD} requests may wait behind a join; this one was not carried out, send it again once joined"
        );
        self.send_to(
            conn,
            &ServerMessage::message_error(ErrorCode::Busy, id, room, text),
        );
    }

    /// The join `conn` waited on is settled (joined or refused): what it
    /// sent meanwhile takes effect now, in order, until one of those waits
    /// for a load in turn and holds the rest again.
    fn release_held(&mut self, conn: ConnId, room: &RoomName) {
        let Some(session) = self.sessions.get_mut(&conn) else {
            return;
        };
        if session.held.as_ref().is_none_or(|held| held.room != *room) {
            return;
        }
        if self.shutting_down {
            // Nothing more is carried out: every client has been told.
            session.held = None;
            return;
        }
        let mut requests = session
            .held
            .take()
            .map(|held| held.requests)
            .unwrap_or_default();
        while let Some(message) = requests.pop_front() {
            self.apply(conn, message);
            let Some(session) = self.sessions.get_mut(&conn) else {
                return;
            };
            if let Some(held) = &mut session.held {
                requests.append(&mut held.requests);
                held.requests = requests;
                return;
            }
        }
    }

    /// Carries out a client's request now.
    fn apply(&mut self, conn: ConnId, message: ClientMessage) {
        match message {
            // The reader turns `hello` into `Identify`.
            ClientMessage::Hello { .. } => {}
            ClientMessage::JoinRoom { room, after } => self.join(conn, room, after),
            ClientMessage::LeaveRoom { room } => self.leave(conn, room),
            ClientMessage::RoomMessage { room, content, id } => self.say(conn, room, content, id),
            ClientMessage::DirectMessage { to, content, id } => self.direct(conn, to, content, id),
            ClientMessage::SetName { name } => self.rename(conn, name),
            ClientMessage::Typing { room } => self.typing(conn, room),
            ClientMessage::ListRooms => {
                self.lobby.insert(conn);
                let rooms = self.room_list();
                self.send_to(conn, &rooms);
            }
            ClientMessage::History {
                room,
                before,
                after,
                limit,
            } => {
                let joined = self
                    .sessions
                    .get(&conn)
                    .is_some_and(|session| session.rooms.contains(&room));
                if joined {
                    self.serve_history(conn, Channel::Room(room), None, (before, after, limit));
                } else {
                    let text = format!("join room '{room}' before reading its history");
                    self.send_to(
                        conn,
                        &ServerMessage::room_error(ErrorCode::NotAMember, room, text),
                    );
                }
            }
            ClientMessage::DirectHistory {
                with,
                before,
                after,
                limit,
            } => {
                // The channel is made from the asker's own id: only the two
                // participants can ever name a conversation's history.
                if let Some(user) = self.sessions.get(&conn).map(|s| s.user) {
                    let channel = Channel::direct(user, with);
                    self.serve_history(conn, channel, Some(with), (before, after, limit));
                }
            }
        }
    }

    fn identify(
        &mut self,
        conn: ConnId,
        user: UserId,
        stored_name: Option<DisplayName>,
        token: String,
        token_refused: bool,
    ) {
        let Some(session) = self.sessions.get_mut(&conn) else {
            return;
        };
        // The reader lets `hello` through only as the first message, so the
        // connection is in no room yet and can change identity freely.
        let guest = session.user;
        session.user = user;
        session.extended = true;
        self.remove_user_connection(guest, conn);
        let name = self.add_user_connection(user, conn, stored_name);
        debug!(%conn, %user, %name, "hello");
        if token_refused {
            self.send_to(
                conn,
                &ServerMessage::error(
                    ErrorCode::InvalidToken,
                    "the session token was not issued by this server or was altered; you have a new identity",
                ),
            );
        }
        let welcome = ServerMessage::Welcome {
            user,
            name,
            token,
            protocol: PROTOCOL_VERSION,
            epoch: Some(self.config.store.epoch().to_owned()),
        };
        self.send_to(conn, &welcome);
    }

    /// Adds a connection to its user; returns the user's name: the one its
    /// other connections already use, else the stored one, else a guest name.
    fn add_user_connection(
        &mut self,
        user: UserId,
        conn: ConnId,
        stored_name: Option<DisplayName>,
    ) -> DisplayName {
        let entry = self.users.entry(user).or_insert_with(|| User {
            name: stored_name,
            conns: SmallVec::new(),
        });
        entry.conns.push(conn);
        self.name_of(user)
    }

    fn remove_user_connection(&mut self, user: UserId, conn: ConnId) {
        if let Some(entry) = self.users.get_mut(&user) {
            entry.conns.retain(|c| *c != conn);
            if entry.conns.is_empty() {
                self.users.remove(&user);
            }
        }
    }

    fn name_of(&self, user: UserId) -> DisplayName {
        self.users
            .get(&user)
            .and_then(|entry| entry.name.clone())
            .unwrap_or_else(|| user.guest_name())
    }

    /// Joining twice announces nothing and changes nothing; the joiner gets
    /// `joined` again (and what it missed, if it says), so a client that
    /// retried its join still hears back.
    fn join(&mut self, conn: ConnId, room: RoomName, after: Option<u64>) {
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
        let newly = session.rooms.insert(room.clone());
        match self.rooms.get_mut(&room) {
            Some(existing) if existing.loaded => {
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
                let recent = self.cache_size();
                if self.config.store.load_room(room.clone(), recent).is_err() {
                    if let Some(session) = self.sessions.get_mut(&conn) {
                        session.rooms.remove(&room);
                    }
                    let text = "the server is busy; join again in a moment";
                    self.send_to(
                        conn,
                        &ServerMessage::room_error(ErrorCode::Busy, room, text),
                    );
                    return;
                }
                debug!(%room, "loading room");
                let loading = Room {
                    waiting: vec![(conn, after)],
                    ..Room::default()
                };
                self.rooms.insert(room.clone(), loading);
                self.hold_behind(conn, room);
            }
        }
    }

    /// What `conn` sends from now on waits for its join of `room`.
    fn hold_behind(&mut self, conn: ConnId, room: RoomName) {
        if let Some(session) = self.sessions.get_mut(&conn) {
            session.held = Some(Box::new(Held {
                room,
                requests: VecDeque::new(),
            }));
        }
    }

    fn on_room_loaded(&mut self, name: RoomName, recent: Vec<StoredMessage>) {
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
        let waiting = std::mem::take(&mut room.waiting);
        for (conn, after) in &waiting {
            let still_joining = self
                .sessions
                .get(conn)
                .is_some_and(|session| session.rooms.contains(&name));
            if still_joining {
                self.admit(*conn, &name, *after);
            }
        }
        for (conn, _) in waiting {
            self.release_held(conn, &name);
        }
        self.keep_caches_within_budget(&name);
        self.drop_room_if_empty(&name);
    }

    fn on_load_failed(&mut self, name: RoomName) {
        let Some(room) = self.rooms.remove(&name) else {
            return;
        };
        for (conn, _) in room.waiting {
            if let Some(session) = self.sessions.get_mut(&conn) {
                session.rooms.remove(&name);
            }
            let text = "the room's history could not be read; join again in a moment";
            self.send_to(
                conn,
                &ServerMessage::room_error(ErrorCode::StorageFailed, name.clone(), text),
            );
            self.release_held(conn, &name);
        }
    }

    /// Makes a connection a member of a loaded room: announces the user if
    /// it is new there, then sends `joined` and the history it is owed.
    fn admit(&mut self, conn: ConnId, name: &RoomName, after: Option<u64>) {
        let Some(session) = self.sessions.get(&conn) else {
            return;
        };
        let (user, outbox) = (session.user, session.outbox.clone());
        let Some(room) = self.rooms.get_mut(name) else {
            return;
        };
        let present = room.presence.entry(user).or_default();
        *present += 1;
        if *present == 1 {
            self.lobby_changed = true;
            debug!(%conn, %user, room = %name, "join");
            let announcement = encode(&ServerMessage::UserJoined {
                room: name.clone(),
                user,
                name: Some(self.name_of(user)),
            });
            // Before the joiner is a member, so it is not owed its own.
            self.announce(name, user, true, announcement);
        }
        if let Some(room) = self.rooms.get_mut(name) {
            let number = room.announcements.admit();
            room.members.insert(conn, Seat { outbox, number });
        }
        self.send_joined(conn, name, after);
    }

    /// `joined`, then the messages after `after`, or the latest ones when
    /// the client has none: as one `history` to a `hello` client, and as the
    /// article's own `room_message` frames, oldest first, to a client that
    /// knows only the article (it could not decode `history`).
    fn send_joined(&mut self, conn: ConnId, name: &RoomName, after: Option<u64>) {
        let Some(extended) = self.sessions.get(&conn).map(|s| s.extended) else {
            return;
        };
        let Some(room) = self.rooms.get(name) else {
            return;
        };
        let members = extended.then(|| {
            let mut users: Vec<UserId> = room.presence.keys().copied().collect();
            users.sort();
            users.truncate(MAX_MEMBERS_LISTED);
            users
                .into_iter()
                .map(|user| Member {
                    user,
                    name: self.name_of(user),
                })
                .collect()
        });
        let cutoff = self.config.retention.cutoff_ms(now_ms());
        let owed: Vec<&StoredMessage> = room
            .recent
            .iter()
            .filter(|m| cutoff.is_none_or(|cutoff| m.ts >= cutoff))
            .filter(|m| after.is_none_or(|after| m.seq > after))
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
            Some(Outbound::Text(encode(&ServerMessage::History {
                room: Some(name.clone()),
                with: None,
                messages: owed.iter().map(|m| m.posted()).collect(),
            })))
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
        };
        self.send_to(conn, &joined);
        if let Some(replay) = replay {
            self.push_item(conn, replay);
        }
    }

    fn leave(&mut self, conn: ConnId, room: RoomName) {
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
                extras.typed.retain(|(typed, _)| *typed != room);
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

    fn say(&mut self, conn: ConnId, room: RoomName, content: MessageContent, id: Option<ClientId>) {
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
        self.store(message, Some(room));
    }

    fn direct(&mut self, conn: ConnId, to: UserId, content: MessageContent, id: Option<ClientId>) {
        let Some(user) = self.sessions.get(&conn).map(|s| s.user) else {
            return;
        };
        if to == user {
            let message = "a direct message goes to someone else: 'to' is your own id";
            let error = ServerMessage::message_error(ErrorCode::InvalidMessage, id, None, message);
            self.send_to(conn, &error);
            return;
        }
        if !self.users.contains_key(&to) {
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
        self.store(message, None);
    }

    /// Hands a message to the store; it is delivered when the store reports
    /// it committed.
    fn store(&mut self, message: NewMessage, room: Option<RoomName>) {
        let (conn, id) = (conn_of(message.conn), message.client_id.clone());
        if self.config.store.append(message).is_err() {
            warn!(%conn, "the store's queue is full; refusing a message");
            let error = ServerMessage::message_error(
                ErrorCode::Busy,
                id,
                room,
                "the server is busy; send the message again in a moment",
            );
            self.send_to(conn, &error);
        }
    }

    /// A message is on disk: deliver it (unless it is a resend of one
    /// delivered before) and acknowledge it to its sender.
    /// A committed batch: each room's new messages go to each member as one
    /// queue item (one lock and one wake-up for the lot), and then the
    /// senders' acks, so an ack never comes before its message.
    fn on_appended(&mut self, appended: Vec<Appended>) {
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
    fn acknowledge(&mut self, Appended { conn, message, .. }: Appended) {
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
    fn cache_room_message(
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
    fn deliver_direct_message(&mut self, sender_conn: ConnId, message: &StoredMessage) {
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
            if let Some(entry) = self.users.get(&user) {
                targets.extend(entry.conns.iter().filter(|c| **c != sender_conn));
            }
        }
        targets.sort();
        targets.dedup();
        for conn in targets {
            self.push(conn, frame.clone());
        }
    }

    /// Answers a history request with a read off the broker task: the
    /// broker never waits on the disk. The page is older than anything live,
    /// so its order against live messages does not matter; the client files
    /// it by sequence number.
    fn serve_history(
        &mut self,
        conn: ConnId,
        channel: Channel,
        with: Option<UserId>,
        (before, after, limit): (Option<u64>, Option<u64>, Option<u32>),
    ) {
        let Some((outbox, quota)) = self.sessions.get_mut(&conn).map(|s| {
            let quota = s.extras().reads.clone();
            (s.outbox.clone(), quota)
        }) else {
            return;
        };
        let room = match &channel {
            Channel::Room(room) => Some(room.clone()),
            Channel::Direct(..) => None,
        };
        if quota.accepted.fetch_add(1, Ordering::Relaxed) >= READS_QUEUED {
            quota.accepted.fetch_sub(1, Ordering::Relaxed);
            let error = ServerMessage::message_error(
                ErrorCode::Busy,
                None,
                room,
                format!(
                    "at most {READS_QUEUED} history requests at a time; wait for their answers"
                ),
            );
            self.send_to(conn, &error);
            return;
        }
        let limit = limit
            .map_or(HISTORY_PAGE_DEFAULT, |l| l as usize)
            .clamp(1, HISTORY_PAGE_MAX);
        let store = self.config.store.clone();
        tokio::spawn(async move {
            let _running = quota.running.acquire().await;
            // Forwards from `after`: the oldest part fits; backwards: the newest.
            let keep = if after.is_some() {
                Keep::Oldest
            } else {
                Keep::Newest
            };
            let reply = match store.page(&channel, before, after, limit).await {
                Ok(page) => ServerMessage::History {
                    room,
                    with,
                    messages: within_budget(&page, keep)
                        .iter()
                        .map(|m| m.posted())
                        .collect(),
                },
                Err(error) => {
                    warn!(%conn, %error, "reading history failed");
                    ServerMessage::Error {
                        message: "history could not be read; ask again".into(),
                        code: Some(ErrorCode::StorageFailed),
                        room,
                        id: None,
                    }
                }
            };
            if outbox.push(Outbound::Text(encode(&reply))).is_err() {
                warn!(%conn, "no room in the outbox for a history page");
            }
            quota.accepted.fetch_sub(1, Ordering::Relaxed);
        });
    }

    /// Changes a user's name everywhere: every connection of the user and
    /// every `hello` client sharing a room with it hears `user_renamed`.
    fn rename(&mut self, conn: ConnId, name: DisplayName) {
        let Some(user) = self.sessions.get(&conn).map(|s| s.user) else {
            return;
        };
        if let Some(refusal) = self.name_refusal(user, &name) {
            let error = ServerMessage::error(ErrorCode::InvalidMessage, refusal);
            self.send_to(conn, &error);
            return;
        }
        let Some(entry) = self.users.get_mut(&user) else {
            return;
        };
        entry.name = Some(name.clone());
        let own = entry.conns.clone();
        if self.config.store.set_name(user, name.clone()).is_err() {
            warn!(%user, "the store's queue is full; the new name is not saved");
        }
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
    fn name_refusal(&self, user: UserId, name: &DisplayName) -> Option<&'static str> {
        if name.is_guest_name() && *name != user.guest_name() {
            return Some("names of the form guest-1a2b are the guests' own: choose another");
        }
        let wanted = name.as_str().to_lowercase();
        let taken = self
            .users
            .keys()
            .filter(|other| **other != user)
            .any(|other| self.name_of(*other).as_str().to_lowercase() == wanted);
        taken.then_some("someone connected already goes by that name: choose another")
    }

    /// The lobby's list: rooms with people in them, largest first (then by
    /// name), at most [`MAX_ROOMS_LISTED`].
    fn room_list(&self) -> ServerMessage {
        let mut rooms: Vec<RoomSummary> = self
            .rooms
            .iter()
            .filter(|(_, room)| !room.presence.is_empty())
            .map(|(name, room)| RoomSummary {
                room: name.clone(),
                members: u32::try_from(room.presence.len()).unwrap_or(u32::MAX),
            })
            .collect();
        rooms.sort_by(|a, b| b.members.cmp(&a.members).then_with(|| a.room.cmp(&b.room)));
        rooms.truncate(MAX_ROOMS_LISTED);
        ServerMessage::Rooms { rooms }
    }

    /// Called every second: sends the lobby's watchers the list if it
    /// changed, once, however many joins and leaves made it change.
    pub(super) fn tick(&mut self) {
        if !std::mem::take(&mut self.lobby_changed) || self.lobby.is_empty() {
            return;
        }
        let frame = encode(&self.room_list());
        let watchers: Vec<ConnId> = self.lobby.iter().copied().collect();
        for conn in watchers {
            self.push(conn, frame.clone());
        }
        self.evict_slow_consumers();
    }

    /// Tells the room's other members (`hello` clients: a new type) that the
    /// user is writing; at most one per connection and room every
    /// [`TYPING_INTERVAL`], the rest dropped.
    fn typing(&mut self, conn: ConnId, room: RoomName) {
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
        let now = Instant::now();
        let typed = &mut session.extras().typed;
        match typed.iter_mut().find(|(typed, _)| *typed == room) {
            Some((_, last)) if now.duration_since(*last) < TYPING_INTERVAL => return,
            Some((_, last)) => *last = now,
            None => typed.push((room.clone(), now)),
        }
        let user = session.user;
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
    }

    /// Removes `conn` from `room`, whether a member or still waiting (its
    /// session's own room set is the caller's business). The user's leave
    /// is announced once its last connection there is gone.
    fn remove_member(&mut self, conn: ConnId, name: &RoomName) {
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
                self.lobby_changed = true;
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

    /// A loaded room nobody is in leaves memory (its history stays stored).
    fn drop_room_if_empty(&mut self, name: &RoomName) {
        if self
            .rooms
            .get(name)
            .is_some_and(|room| room.loaded && room.members.is_empty())
            && let Some(room) = self.rooms.remove(name)
        {
            self.cached_bytes -= room.recent.bytes();
        }
    }

    /// Keeps the caches of all rooms within `cache_max_bytes`: past it, the
    /// room that just grew is cut to an equal share of the budget, then the
    /// largest others, oldest messages first. A join then replays less
    /// from memory, and the client pages the rest from the store.
    fn keep_caches_within_budget(&mut self, grown: &RoomName) {
        let budget = self.config.cache_max_bytes;
        fit_budget(
            &mut self.rooms,
            |room| &mut room.recent,
            grown,
            &mut self.cached_bytes,
            budget,
        );
    }

    /// Forgets a connection and announces `user_left` where it was the
    /// user's last. Exactly once: a second call finds no session.
    fn remove_session(&mut self, conn: ConnId) -> Option<Outbox> {
        let rooms: Vec<RoomName> = self.sessions.get(&conn)?.rooms.iter().cloned().collect();
        for room in &rooms {
            self.remove_member(conn, room);
        }
        let session = self.sessions.remove(&conn)?;
        self.lobby.remove(&conn);
        self.remove_user_connection(session.user, conn);
        Some(session.outbox)
    }

    fn shutdown(&mut self) {
        self.shutting_down = true;
        info!(
            sessions = self.sessions.len(),
            "telling every client the server is shutting down"
        );
        let conns: Vec<ConnId> = self.sessions.keys().copied().collect();
        for conn in conns {
            self.notify_shutdown(conn);
        }
    }

    /// The store's writer is gone: joins waiting for a room's load are
    /// refused, and every client is told the server is restarting, since it
    /// can no longer store or load anything.
    pub(super) fn store_stopped(&mut self) {
        let loading: Vec<RoomName> = self
            .rooms
            .iter()
            .filter(|(_, room)| !room.loaded)
            .map(|(name, _)| name.clone())
            .collect();
        for name in loading {
            self.on_load_failed(name);
        }
        self.shutdown();
        self.evict_slow_consumers();
    }

    /// Queues the shutdown notice and the 1012 close frame; a connection
    /// with no room for them is kicked, and its writer sends 1012 directly.
    fn notify_shutdown(&mut self, conn: ConnId) {
        let Some(session) = self.sessions.get(&conn) else {
            return;
        };
        let notice = encode(&ServerMessage::error(
            ErrorCode::ShuttingDown,
            "server shutting down",
        ));
        let queued = session.outbox.push(Outbound::Text(notice)).and_then(|()| {
            session
                .outbox
                .push(Outbound::Close(CloseReason::Restarting))
        });
        if queued.is_err() {
            self.slow.push(conn);
        }
    }

    fn broadcast(&mut self, room: &RoomName, frame: &Utf8Bytes, except: Option<ConnId>) {
        self.send_to_members(room, |conn, _| {
            (Some(conn) != except).then(|| Outbound::Text(frame.clone()))
        });
    }

    /// Sends several frames to every member, as one queue item each.
    fn broadcast_all(&mut self, name: &RoomName, mut frames: Vec<Utf8Bytes>) {
        if frames.len() == 1 {
            let frame = frames.pop().expect("one frame");
            return self.broadcast(name, &frame, None);
        }
        let frames: Arc<[Utf8Bytes]> = frames.into();
        self.send_to_members(name, |_, _| {
            Some(Outbound::Batch {
                frames: frames.clone(),
                skip: 0,
            })
        });
    }

    /// Sends each member of a room what `owed` says (nothing for `None`),
    /// after the announcements waiting there, so nothing overtakes them.
    fn send_to_members(
        &mut self,
        name: &RoomName,
        owed: impl Fn(ConnId, &Seat) -> Option<Outbound>,
    ) {
        // Once shutting down, every queue ends with its close frame: anything
        // queued after it would only fill queues and never be sent.
        if self.shutting_down {
            return;
        }
        self.send_announcements(name);
        self.push_to_members(name, owed);
    }

    /// Queues for each member of a room what `owed` says; a member whose
    /// queue is full is marked slow.
    fn push_to_members(
        &mut self,
        name: &RoomName,
        owed: impl Fn(ConnId, &Seat) -> Option<Outbound>,
    ) {
        let Some(room) = self.rooms.get(name) else {
            return;
        };
        for (conn, seat) in &room.members {
            if let Some(item) = owed(*conn, seat)
                && seat.outbox.push(item).is_err()
            {
                self.slow.push(*conn);
            }
        }
    }

    /// Sends a presence announcement to the room, at once if it has been
    /// quiet, else with the others at the next tick (see [`Announcements`]).
    fn announce(&mut self, name: &RoomName, user: UserId, arrival: bool, frame: Utf8Bytes) {
        let Some(room) = self.rooms.get_mut(name) else {
            return;
        };
        let members = &room.members;
        let seated = |from: u64, to: u64| {
            members
                .values()
                .any(|seat| (from..to).contains(&seat.number))
        };
        if room
            .announcements
            .queue(user, arrival, frame, Instant::now(), seated)
        {
            self.send_announcements(name);
        } else {
            self.announcing.insert(name.clone());
        }
    }

    /// Sends the room's waiting announcements: each member gets the ones it
    /// is owed as one item, which its writer sends in one write.
    fn send_announcements(&mut self, name: &RoomName) {
        if self.shutting_down {
            return;
        }
        let Some(outgoing) = self
            .rooms
            .get_mut(name)
            .and_then(|room| room.announcements.take(Instant::now()))
        else {
            return;
        };
        self.push_to_members(name, |_, seat| {
            let skip = outgoing.first_owed(seat.number);
            match outgoing.frames.len() - skip {
                0 => None,
                1 => Some(Outbound::Text(outgoing.frames[skip].clone())),
                _ => Some(Outbound::Announcements {
                    frames: outgoing.frames.clone(),
                    skip,
                }),
            }
        });
    }

    /// Called every [`ANNOUNCE_EVERY`](super::announcements::ANNOUNCE_EVERY):
    /// sends the announcements that waited.
    pub(super) fn send_waiting_announcements(&mut self) {
        for name in std::mem::take(&mut self.announcing) {
            self.send_announcements(&name);
        }
        self.evict_slow_consumers();
    }

    fn send_to(&mut self, conn: ConnId, message: &ServerMessage) {
        self.push(conn, encode(message));
    }

    fn push(&mut self, conn: ConnId, frame: Utf8Bytes) {
        self.push_item(conn, Outbound::Text(frame));
    }

    fn push_item(&mut self, conn: ConnId, item: Outbound) {
        if self.shutting_down {
            return;
        }
        if let Some(session) = self.sessions.get(&conn)
            && session.outbox.push(item).is_err()
        {
            self.slow.push(conn);
        }
    }

    fn evict_slow_consumers(&mut self) {
        while let Some(conn) = self.slow.pop() {
            if let Some(outbox) = self.remove_session(conn) {
                let reason = if self.shutting_down {
                    CloseReason::Restarting
                } else {
                    CloseReason::SlowConsumer
                };
                info!(%conn, ?reason, "evicting a slow consumer");
                outbox.kick(reason);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};
    use tokio::sync::mpsc;

    use super::*;
    use crate::server::outbox::OutboxReceiver;
    use crate::server::store::{Retention, Store};

    /// A broker state wired to an in-memory store, as the broker task would
    /// run it, with the store's reports applied on `settle`.
    struct Harness {
        state: BrokerState,
        reports: mpsc::Receiver<StoreReport>,
        next_conn: u64,
    }

    struct Client {
        conn: ConnId,
        user: UserId,
        frames: OutboxReceiver,
    }

    impl Client {
        fn received(&mut self) -> Vec<Value> {
            let mut out = Vec::new();
            while let Some(frame) = self.frames.try_recv() {
                match frame {
                    Outbound::Text(text) => out.push(serde_json::from_str(text.as_str()).unwrap()),
                    Outbound::Batch { frames, skip } | Outbound::Announcements { frames, skip } => {
                        out.extend(
                            frames[skip..]
                                .iter()
                                .map(|text| serde_json::from_str::<Value>(text.as_str()).unwrap()),
                        )
                    }
                    Outbound::Close(reason) => out.push(json!({ "close": reason.code() })),
                    Outbound::Binary(_) => panic!("the broker sends text only"),
                }
            }
            out
        }

        fn types(&mut self) -> Vec<String> {
            self.received()
                .iter()
                .map(|frame| frame["type"].as_str().unwrap_or("close").to_owned())
                .collect()
        }
    }

    impl Harness {
        fn new() -> Self {
            Self::with_retention(Retention::default())
        }

        fn with_retention(retention: Retention) -> Self {
            Self::with(retention, 1 << 30)
        }

        fn with(retention: Retention, cache_max_bytes: usize) -> Self {
            let (store, reports) = Store::in_memory(retention, usize::MAX);
            let config = BrokerConfig {
                store,
                history_on_join: 3,
                cache_max_bytes,
                retention,
            };
            Self {
                state: BrokerState::new(config),
                reports,
                next_conn: 0,
            }
        }

        fn connect(&mut self, capacity: usize) -> Client {
            self.next_conn += 1;
            let conn = ConnId(self.next_conn);
            let user = UserId::new_random();
            let (outbox, frames) = Outbox::channel(capacity, 1 << 20);
            self.state.handle(Command::Connect { conn, user, outbox });
            Client { conn, user, frames }
        }

        /// A connection that said hello as `user` (a new one if `None`).
        fn connect_hello(&mut self, capacity: usize, user: Option<UserId>) -> Client {
            let mut client = self.connect(capacity);
            client.user = user.unwrap_or(client.user);
            self.state.handle(Command::Identify {
                conn: client.conn,
                user: client.user,
                stored_name: None,
                token: "token".into(),
                token_refused: false,
            });
            assert_eq!(client.types(), ["welcome"]);
            client
        }

        fn send(&mut self, client: &Client, message: Value) {
            let message = serde_json::from_value(message).unwrap();
            self.state.handle(Command::Client {
                conn: client.conn,
                message,
            });
        }

        /// Lets the store answer everything asked so far and applies it,
        /// and lets the announcements' tick pass.
        async fn settle(&mut self) {
            for _ in 0..50 {
                tokio::task::yield_now().await;
                while let Ok(report) = self.reports.try_recv() {
                    self.state.on_report(report);
                }
            }
            self.state.send_waiting_announcements();
        }

        /// Ana said hello, Ben speaks the article's protocol; both are in
        /// `room`, with what their joins brought already read.
        async fn hello_and_article_client_in(&mut self, room: &str) -> (Client, Client) {
            let mut ana = self.connect_hello(100, None);
            let mut ben = self.connect(100);
            self.join(&mut ana, room).await;
            self.join(&mut ben, room).await;
            ana.received();
            (ana, ben)
        }

        async fn join(&mut self, client: &mut Client, room: &str) -> Vec<Value> {
            self.send(client, json!({"type": "join_room", "room": room}));
            self.settle().await;
            client.received()
        }

        async fn say(&mut self, client: &Client, room: &str, text: &str, id: Option<&str>) {
            let mut message = json!({"type": "room_message", "room": room, "content": text});
            if let Some(id) = id {
                message["id"] = json!(id);
            }
            self.send(client, message);
            self.settle().await;
        }
    }

    #[tokio::test]
    async fn when_the_store_stops_waiting_joins_fail_and_everyone_is_told_to_come_back() {
        let mut h = Harness::new();
        let (mut ana, mut ben) = h.hello_and_article_client_in("general").await;
        ben.received();
        // Ana's join of a new room waits for its load, which never comes.
        h.send(&ana, json!({"type": "join_room", "room": "loading"}));
        assert!(ana.received().is_empty());

        h.state.store_stopped();
        let to_ana = ana.received();
        assert_eq!(
            to_ana[0],
            json!({"type": "error", "code": "storage_failed", "room": "loading",
                "message": "the room's history could not be read; join again in a moment"})
        );
        assert_eq!(to_ana[1]["code"], "shutting_down");
        assert_eq!(to_ana[2], json!({"close": 1012}));
        assert_eq!(ben.types(), ["error", "close"]);
        // Nothing more is taken: the server is going away.
        h.send(&ben, json!({"type": "list_rooms"}));
        assert!(ben.received().is_empty());
    }

    #[tokio::test]
    async fn a_message_is_delivered_only_once_stored_then_acknowledged() {
        let mut h = Harness::new();
        let (mut ana, mut ben) = h.hello_and_article_client_in("general").await;
        h.send(
            &ana,
            json!({"type": "room_message", "room": "general", "content": "hi", "id": "m-1"}),
        );
        assert!(ben.received().is_empty(), "not before the store commits");
        h.settle().await;
        let to_ben = ben.received();
        assert_eq!(
            to_ben,
            [
                json!({"type": "room_message", "room": "general", "from": ana.user.to_string(),
                    "content": "hi", "name": ana.user.guest_name().as_str(), "seq": 1,
                    "ts": to_ben[0]["ts"], "id": "m-1"})
            ]
        );
        let to_ana = ana.received();
        assert_eq!(to_ana[0]["type"], "room_message");
        assert_eq!(
            to_ana[1],
            json!({"type": "ack", "id": "m-1", "room": "general", "seq": 1, "ts": to_ben[0]["ts"]})
        );
        // A resend of the same id: acknowledged again, delivered to nobody.
        h.say(&ana, "general", "hi", Some("m-1")).await;
        assert!(ben.received().is_empty());
        assert_eq!(ana.types(), ["ack"]);
    }

    #[tokio::test]
    async fn joiners_get_recent_history_or_exactly_what_they_missed() {
        let mut h = Harness::new();
        let mut ana = h.connect(100);
        h.join(&mut ana, "general").await;
        for n in 1..=5 {
            h.say(&ana, "general", &n.to_string(), None).await;
        }
        let mut fresh = h.connect_hello(100, None);
        let frames = h.join(&mut fresh, "general").await;
        assert_eq!(frames[0]["type"], "joined");
        let seqs: Vec<_> = frames[1]["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["seq"].clone())
            .collect();
        assert_eq!(
            seqs,
            [json!(3), json!(4), json!(5)],
            "the last history_on_join"
        );

        let mut resumed = h.connect_hello(100, None);
        h.send(
            &resumed,
            json!({"type": "join_room", "room": "general", "after": 1}),
        );
        let frames = resumed.received();
        let texts: Vec<_> = frames[1]["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["content"].clone())
            .collect();
        assert_eq!(texts, [json!("2"), json!("3"), json!("4"), json!("5")]);
        // Up to date: no history frame at all.
        let mut current = h.connect_hello(100, None);
        h.send(
            &current,
            json!({"type": "join_room", "room": "general", "after": 5}),
        );
        assert_eq!(current.types(), ["joined"]);
        // Clients that know only the article get the same latest messages
        // as the article's room_message, oldest first, after joined.
        let mut plain = h.connect(100);
        let frames = h.join(&mut plain, "general").await;
        assert_eq!(frames[0], json!({"type": "joined", "room": "general"}));
        let replayed: Vec<_> = frames[1..]
            .iter()
            .map(|m| (m["type"].clone(), m["room"].clone(), m["content"].clone()))
            .collect();
        let expected: Vec<_> = ["3", "4", "5"]
            .into_iter()
            .map(|text| (json!("room_message"), json!("general"), json!(text)))
            .collect();
        assert_eq!(replayed, expected);
        assert_eq!(frames[1]["from"], ana.user.to_string());
    }

    #[tokio::test]
    async fn the_rooms_caches_stay_within_their_bytes_each_and_together() {
        let budget = 4 * ROOM_CACHE_BYTES;
        let mut h = Harness::with(Retention::default(), budget);
        let mut ana = h.connect(100_000);
        let big = "😀".repeat(MessageContent::MAX_CHARS);
        for n in 0..10 {
            h.join(&mut ana, &format!("room-{n}")).await;
        }
        // The probe: every room filled with the largest messages.
        for round in 0..100 {
            for n in 0..10 {
                let room = format!("room-{n}");
                let content = format!("{round}{big}");
                let content: String = content.chars().take(MessageContent::MAX_CHARS).collect();
                h.send(
                    &ana,
                    json!({"type": "room_message", "room": room, "content": content}),
                );
            }
            h.settle().await;
            ana.received();
        }
        let held: usize = h.state.rooms.values().map(|room| room.recent.bytes()).sum();
        assert_eq!(held, h.state.cached_bytes, "the count is exact");
        assert!(held <= budget, "{held} > {budget}");
        for room in h.state.rooms.values() {
            assert!(room.recent.bytes() <= ROOM_CACHE_BYTES);
        }
        // A joiner still gets the latest messages, as many as are kept.
        let mut ben = h.connect_hello(100, None);
        let frames = h.join(&mut ben, "room-3").await;
        let seqs: Vec<u64> = frames[1]["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["seq"].as_u64().unwrap())
            .collect();
        assert_eq!(seqs, [98, 99, 100]);
        // Everyone gone: nothing is held.
        h.state.handle(Command::Disconnect { conn: ana.conn });
        h.state.handle(Command::Disconnect { conn: ben.conn });
        assert_eq!(h.state.cached_bytes, 0);
    }

    #[tokio::test]
    async fn requests_sent_behind_a_join_wait_for_it_and_apply_in_order() {
        let mut h = Harness::new();
        let mut ana = h.connect(100);
        // The room is not in memory: the join waits for its load, and what
        // Ana sends meanwhile waits with it.
        h.send(&ana, json!({"type": "join_room", "room": "fresh"}));
        for n in 1..=5 {
            let text = format!("message {n}");
            h.send(
                &ana,
                json!({"type": "room_message", "room": "fresh", "content": text}),
            );
        }
        h.send(&ana, json!({"type": "leave_room", "room": "fresh"}));
        h.send(
            &ana,
            json!({"type": "room_message", "room": "fresh", "content": "late"}),
        );
        assert!(
            ana.received().is_empty(),
            "nothing before the room is loaded"
        );
        h.settle().await;
        let frames = ana.received();
        assert_eq!(frames[0], json!({"type": "joined", "room": "fresh"}));
        assert_eq!(
            frames[1],
            json!({"type": "error", "code": "not_a_member", "room": "fresh",
                "message": "join room 'fresh' before posting to it"}),
            "the last one came after the leave"
        );
        // The five were stored in order, before the leave took effect.
        let fresh = Channel::Room(RoomName::parse("fresh").unwrap());
        let texts: Vec<String> = h
            .state
            .config
            .store
            .page(&fresh, None, None, 50)
            .await
            .unwrap()
            .iter()
            .map(|m| m.content.as_str().to_owned())
            .collect();
        assert_eq!(
            texts,
            (1..=5).map(|n| format!("message {n}")).collect::<Vec<_>>()
        );
    }

    #[tokio::test]
    async fn a_join_then_an_immediate_leave_still_gets_its_joined() {
        let mut h = Harness::new();
        let mut ana = h.connect(100);
        let mut ben = h.connect(100);
        h.send(&ana, json!({"type": "join_room", "room": "brief"}));
        h.send(&ana, json!({"type": "leave_room", "room": "brief"}));
        h.settle().await;
        assert_eq!(ana.received(), [json!({"type": "joined", "room": "brief"})]);
        // And in a room already in memory.
        h.join(&mut ben, "brief").await;
        h.send(&ana, json!({"type": "join_room", "room": "brief"}));
        h.send(&ana, json!({"type": "leave_room", "room": "brief"}));
        assert_eq!(ana.types(), ["joined"]);
    }

    #[tokio::test]
    async fn past_the_bound_requests_behind_a_join_are_refused_as_busy() {
        let mut h = Harness::new();
        let mut ana = h.connect(1000);
        h.send(&ana, json!({"type": "join_room", "room": "fresh"}));
        for n in 0..MAX_HELD + 2 {
            let message = json!({"type": "room_message", "room": "fresh",
                "content": n.to_string(), "id": format!("m-{n}")});
            h.send(&ana, message);
        }
        let refused = ana.received();
        assert_eq!(refused.len(), 2, "{refused:?}");
        assert_eq!(refused[0]["code"], "busy");
        assert_eq!(refused[0]["id"], format!("m-{MAX_HELD}"));
        h.settle().await;
        let frames = ana.received();
        assert_eq!(frames[0]["type"], "joined");
        let delivered = frames
            .iter()
            .filter(|f| f["type"] == "room_message")
            .count();
        assert_eq!(delivered, MAX_HELD);
    }

    #[tokio::test]
    async fn joining_and_leaving_in_a_loop_evicts_nobody_and_tells_nobody() {
        let mut h = Harness::new();
        // Members whose queues hold 20 frames.
        let mut members: Vec<Client> = (0..10).map(|_| h.connect(20)).collect();
        for member in &mut members {
            h.join(member, "busy").await;
        }
        h.state.send_waiting_announcements();
        for member in &mut members {
            member.received();
        }
        let mut attacker = h.connect(100_000);
        for _ in 0..1000 {
            h.send(&attacker, json!({"type": "join_room", "room": "busy"}));
            h.send(&attacker, json!({"type": "leave_room", "room": "busy"}));
        }
        assert_eq!(attacker.types().len(), 1000, "a joined for every join");
        h.state.send_waiting_announcements();
        h.say(&members[0], "busy", "still here", None).await;
        for member in &mut members {
            assert_eq!(member.frames.try_kicked(), None);
            let types = member.types();
            // At most the first join, which went out at once, and its leave.
            assert!(types.len() <= 3, "{types:?}");
            assert_eq!(types.last().map(String::as_str), Some("room_message"));
        }
    }

    #[tokio::test]
    async fn messages_past_the_retention_age_are_not_served_from_the_cache() {
        let mut h = Harness::with_retention(Retention {
            max_messages: None,
            max_age: Some(std::time::Duration::from_millis(20)),
        });
        let mut ana = h.connect(100);
        h.join(&mut ana, "general").await;
        for text in ["old 1", "old 2", "old 3"] {
            h.say(&ana, "general", text, None).await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(40)).await;
        for text in ["new 1", "new 2"] {
            h.say(&ana, "general", text, None).await;
        }
        // Five cached, three past the age: the two fresh ones, though
        // history_on_join (3) would reach back into the old ones.
        let mut ben = h.connect_hello(100, None);
        let frames = h.join(&mut ben, "general").await;
        let history: Vec<_> = frames[1]["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["content"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(history, ["new 1", "new 2"]);
    }

    #[tokio::test]
    async fn a_room_comes_back_from_the_store_after_everyone_left() {
        let mut h = Harness::new();
        let mut ana = h.connect(100);
        h.join(&mut ana, "general").await;
        h.say(&ana, "general", "kept", None).await;
        h.send(&ana, json!({"type": "leave_room", "room": "general"}));
        assert!(h.state.rooms.is_empty(), "an empty room leaves memory");
        let mut ben = h.connect_hello(100, None);
        h.send(&ben, json!({"type": "join_room", "room": "general"}));
        assert!(ben.received().is_empty(), "the join waits for the load");
        h.settle().await;
        let frames = ben.received();
        assert_eq!(frames[0]["type"], "joined");
        assert_eq!(frames[1]["messages"][0]["content"], "kept");
        h.say(&ben, "general", "next", None).await;
        assert_eq!(ben.received()[0]["seq"], 2);
    }

    #[tokio::test]
    async fn a_slow_consumer_is_evicted_and_announced_without_stalling_the_room() {
        let mut h = Harness::new();
        let mut fast = h.connect(100);
        let mut slow = h.connect(3);
        h.join(&mut fast, "general").await;
        h.join(&mut slow, "general").await;
        fast.received();
        for n in 0..4 {
            h.say(&fast, "general", &n.to_string(), None).await;
        }
        assert_eq!(slow.frames.try_kicked(), Some(CloseReason::SlowConsumer));
        let fast_saw = fast.received();
        assert_eq!(fast_saw.len(), 5, "{fast_saw:?}");
        assert_eq!(
            fast_saw[4],
            json!({"type": "user_left", "room": "general", "user": slow.user.to_string()})
        );
        // Evicted once: a later disconnect from its reader announces nothing.
        h.state.handle(Command::Disconnect { conn: slow.conn });
        assert!(fast.received().is_empty());
    }

    #[tokio::test]
    async fn messages_committed_together_reach_each_member_as_one_item_then_the_acks() {
        let mut h = Harness::new();
        let (mut ana, mut ben) = h.hello_and_article_client_in("general").await;
        for (text, id) in [("one", "m-1"), ("two", "m-2")] {
            let message =
                json!({"type": "room_message", "room": "general", "content": text, "id": id});
            h.send(&ana, message);
        }
        h.settle().await;
        let Some(Outbound::Batch { frames, skip: 0 }) = ben.frames.try_recv() else {
            panic!("one queue item for both messages");
        };
        let contents: Vec<Value> = frames
            .iter()
            .map(|text| serde_json::from_str::<Value>(text.as_str()).unwrap()["content"].clone())
            .collect();
        assert_eq!(contents, ["one", "two"]);
        assert!(ben.received().is_empty());
        assert_eq!(ana.types(), ["room_message", "room_message", "ack", "ack"]);
    }

    #[tokio::test]
    async fn a_storm_of_joins_is_announced_together_in_order_before_what_follows() {
        let mut h = Harness::new();
        let mut ana = h.connect(100);
        h.join(&mut ana, "general").await;
        let [mut ben, mut cy, mut dan] = [h.connect(100), h.connect(100), h.connect(100)];
        let name = |client: &Client| client.user.guest_name().as_str().to_owned();
        // The room is loaded: these joins are answered without the store.
        // Ana's own join went out just now, so they wait.
        for client in [&ben, &cy, &dan] {
            h.send(client, json!({"type": "join_room", "room": "general"}));
        }
        assert!(ana.received().is_empty(), "the storm waits");
        for client in [&mut ben, &mut cy, &mut dan] {
            assert_eq!(client.types(), ["joined"]);
        }

        // Anything else sent to the room takes the waiting ones first.
        h.say(&ana, "general", "welcome", None).await;
        let Some(Outbound::Announcements { frames, skip: 0 }) = ana.frames.try_recv() else {
            panic!("the announcements in one queue item");
        };
        let joined: Vec<Value> = frames
            .iter()
            .map(|text| serde_json::from_str(text.as_str()).unwrap())
            .collect();
        let names: Vec<&str> = joined.iter().map(|j| j["name"].as_str().unwrap()).collect();
        assert_eq!(names, [name(&ben), name(&cy), name(&dan)]);
        assert_eq!(ana.types(), ["room_message"]);
        // Each is owed only the joins after its own.
        assert_eq!(ben.types(), ["user_joined", "user_joined", "room_message"]);
        assert_eq!(cy.received()[0]["name"], name(&dan));
        assert_eq!(dan.types(), ["room_message"]);
    }

    #[tokio::test]
    async fn one_user_on_two_connections_is_one_member_and_gets_direct_messages_on_both() {
        let mut h = Harness::new();
        let ana = UserId::new_random();
        let mut tab1 = h.connect_hello(100, Some(ana));
        let mut tab2 = h.connect_hello(100, Some(ana));
        let mut ben = h.connect_hello(100, None);
        h.join(&mut ben, "general").await;
        h.join(&mut tab1, "general").await;
        let frames = h.join(&mut tab2, "general").await;
        assert_eq!(frames[0]["members"].as_array().unwrap().len(), 2);
        assert_eq!(ben.types(), ["user_joined"], "announced once");
        h.send(&tab1, json!({"type": "leave_room", "room": "general"}));
        assert!(ben.received().is_empty(), "still present through tab 2");
        h.state.handle(Command::Disconnect { conn: tab2.conn });
        h.state.send_waiting_announcements();
        assert_eq!(ben.types(), ["user_left"]);

        h.send(&ben, json!({"type": "direct_message", "to": ana.to_string(), "content": "psst", "id": "d-1"}));
        h.settle().await;
        assert_eq!(tab1.types(), ["direct_message"]);
        assert_eq!(ben.types(), ["ack"]);
        h.send(
            &tab1,
            json!({"type": "direct_message", "to": ben.user.to_string(), "content": "yes"}),
        );
        h.settle().await;
        let to_ben = ben.received();
        assert_eq!(to_ben[0]["seq"], 2, "one conversation, numbered in order");
        assert!(
            tab1.received().is_empty(),
            "no echo to the sending connection"
        );
    }

    #[tokio::test]
    async fn a_guests_name_or_one_someone_connected_uses_cannot_be_taken() {
        let mut h = Harness::new();
        let mut ana = h.connect_hello(100, None);
        let mut ben = h.connect_hello(100, None);
        h.send(&ana, json!({"type": "set_name", "name": "Ana"}));
        ana.received();
        for taken in ["ana", "ANA", ana.user.guest_name().as_str()] {
            h.send(&ben, json!({"type": "set_name", "name": taken}));
            let refusal = ben.received();
            assert_eq!(
                refusal[0]["code"], "invalid_message",
                "{taken}: {refusal:?}"
            );
        }
        // Ana's old guest name is free again, but reserved for guests.
        let other_guest = ana.user.guest_name();
        h.send(
            &ben,
            json!({"type": "set_name", "name": other_guest.as_str()}),
        );
        assert_eq!(ben.types(), ["error"]);
        // Ben may go back to his own guest name, and take a free one.
        h.send(
            &ben,
            json!({"type": "set_name", "name": ben.user.guest_name().as_str()}),
        );
        assert_eq!(ben.types(), ["user_renamed"]);
        h.send(&ben, json!({"type": "set_name", "name": "Ben"}));
        assert_eq!(ben.types(), ["user_renamed"]);
        // Someone gone frees the name.
        h.state.handle(Command::Disconnect { conn: ana.conn });
        h.send(&ben, json!({"type": "set_name", "name": "Ana"}));
        assert_eq!(ben.types(), ["user_renamed"]);
    }

    #[tokio::test]
    async fn a_rename_reaches_the_users_rooms_and_other_connections() {
        let mut h = Harness::new();
        let ana = UserId::new_random();
        let mut tab1 = h.connect_hello(100, Some(ana));
        let mut tab2 = h.connect_hello(100, Some(ana));
        let mut ben = h.connect_hello(100, None);
        let mut plain = h.connect(100);
        let mut stranger = h.connect_hello(100, None);
        for client in [&mut tab1, &mut ben, &mut plain] {
            h.join(client, "general").await;
        }
        for client in [&mut tab1, &mut tab2, &mut ben, &mut plain] {
            client.received();
        }
        h.send(&tab1, json!({"type": "set_name", "name": " Ana "}));
        let renamed = json!({"type": "user_renamed", "user": ana.to_string(), "name": "Ana"});
        assert_eq!(tab1.received(), std::slice::from_ref(&renamed));
        assert_eq!(tab2.received(), std::slice::from_ref(&renamed));
        assert_eq!(ben.received(), [renamed]);
        assert!(
            plain.received().is_empty(),
            "a new type: hello clients only"
        );
        assert!(stranger.received().is_empty());
        // The new name is on what Ana sends from now on.
        h.say(&tab1, "general", "hi", None).await;
        assert_eq!(ben.received()[0]["name"], "Ana");
    }

    #[tokio::test]
    async fn typing_goes_to_the_rooms_other_hello_members_at_a_bounded_rate() {
        let mut h = Harness::new();
        let ana = UserId::new_random();
        let mut tab1 = h.connect_hello(100, Some(ana));
        let mut tab2 = h.connect_hello(100, Some(ana));
        let mut ben = h.connect_hello(100, None);
        let mut plain = h.connect(100);
        let mut elsewhere = h.connect_hello(100, None);
        for client in [&mut tab1, &mut tab2, &mut ben, &mut plain] {
            h.join(client, "general").await;
        }
        h.join(&mut elsewhere, "other").await;
        for client in [&mut tab1, &mut tab2, &mut ben, &mut plain] {
            client.received();
        }
        h.send(&tab1, json!({"type": "typing", "room": "general"}));
        assert_eq!(
            ben.received(),
            [
                json!({"type": "typing", "room": "general", "user": ana.to_string(),
                    "name": ana.guest_name().as_str()})
            ]
        );
        assert!(
            tab1.received().is_empty() && tab2.received().is_empty(),
            "not to oneself"
        );
        assert!(
            plain.received().is_empty(),
            "a new type: hello clients only"
        );
        assert!(elsewhere.received().is_empty());
        // Faster than allowed: dropped.
        h.send(&tab1, json!({"type": "typing", "room": "general"}));
        assert!(ben.received().is_empty());
        // Only members may say they type.
        h.send(&elsewhere, json!({"type": "typing", "room": "general"}));
        assert_eq!(elsewhere.received()[0]["code"], "not_a_member");
        assert!(ben.received().is_empty());
    }

    #[tokio::test]
    async fn the_lobby_lists_rooms_by_size_and_is_updated_once_per_tick() {
        let mut h = Harness::new();
        let mut watcher = h.connect_hello(100, None);
        let mut ana = h.connect_hello(100, None);
        let mut ben = h.connect_hello(100, None);
        h.join(&mut ana, "small").await;
        h.join(&mut ana, "big").await;
        h.join(&mut ben, "big").await;
        h.state.tick(); // the joins so far are old news
        h.send(&watcher, json!({"type": "list_rooms"}));
        assert_eq!(
            watcher.received(),
            [json!({"type": "rooms", "rooms": [
                {"room": "big", "members": 2}, {"room": "small", "members": 1}]})]
        );
        h.state.tick();
        assert!(watcher.received().is_empty(), "nothing changed since");
        // Two changes, one update.
        h.send(&ben, json!({"type": "join_room", "room": "small"}));
        h.send(&ana, json!({"type": "leave_room", "room": "big"}));
        assert!(watcher.received().is_empty(), "not before the tick");
        h.state.tick();
        assert_eq!(
            watcher.received(),
            [json!({"type": "rooms", "rooms": [
                {"room": "small", "members": 2}, {"room": "big", "members": 1}]})]
        );
        // Watchers only: others hear nothing of the lobby.
        assert!(ana.types().iter().all(|t| t != "rooms"));
    }

    #[tokio::test]
    async fn shutdown_sends_the_notice_then_1012_and_refuses_new_requests() {
        let mut h = Harness::new();
        let mut client = h.connect(10);
        h.state.handle(Command::Shutdown);
        h.send(&client, json!({"type": "join_room", "room": "late"}));
        assert_eq!(
            client.received(),
            [
                json!({"type": "error", "message": "server shutting down", "code": "shutting_down"}),
                json!({"close": 1012}),
            ]
        );
    }

    #[tokio::test]
    async fn a_full_queue_at_shutdown_is_kicked_with_1012_not_1013() {
        let mut h = Harness::new();
        let mut client = h.connect(1);
        h.state.handle(Command::Shutdown);
        assert_eq!(client.frames.try_kicked(), Some(CloseReason::Restarting));
    }

    #[tokio::test]
    async fn the_member_list_in_joined_is_capped() {
        let mut h = Harness::new();
        let mut crowd = Vec::new();
        let mut first = h.connect(2 * MAX_MEMBERS_LISTED);
        h.join(&mut first, "stadium").await;
        // The room is loaded now: later joins are answered at once.
        for _ in 0..MAX_MEMBERS_LISTED + 5 {
            let member = h.connect(2 * MAX_MEMBERS_LISTED);
            h.send(&member, json!({"type": "join_room", "room": "stadium"}));
            crowd.push(member);
        }
        let mut newcomer = h.connect_hello(4, None);
        h.send(&newcomer, json!({"type": "join_room", "room": "stadium"}));
        let joined = newcomer.received().pop().unwrap();
        assert_eq!(
            joined["members"].as_array().unwrap().len(),
            MAX_MEMBERS_LISTED
        );
    }

    #[tokio::test]
    async fn joined_lists_members_with_names_only_for_clients_that_said_hello() {
        let mut h = Harness::new();
        let mut plain = h.connect(10);
        h.join(&mut plain, "general").await;
        let mut modern = h.connect_hello(10, None);
        let frames = h.join(&mut modern, "general").await;
        let mut members = [
            json!({"user": plain.user.to_string(), "name": plain.user.guest_name().as_str()}),
            json!({"user": modern.user.to_string(), "name": modern.user.guest_name().as_str()}),
        ];
        members.sort_by_key(|m| m["user"].as_str().unwrap().to_owned());
        assert_eq!(
            frames,
            [json!({"type": "joined", "room": "general", "members": members})]
        );
        assert_eq!(
            plain.received(),
            [
                json!({"type": "user_joined", "room": "general", "user": modern.user.to_string(),
                    "name": modern.user.guest_name().as_str()})
            ]
        );
    }
}

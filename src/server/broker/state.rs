//! The broker's state and the rules of the protocol: who is in which room,
//! who gets which message, what a joiner is owed from history. Plain
//! synchronous code owned by the broker task, so every rule can be tested
//! without sockets.
//!
//! A room is in memory while someone is in it, with its latest messages
//! cached: joins are answered (history, resume replay) from the cache, in
//! order, before any later message. A room coming into memory is loaded
//! from the store first; joiners wait for that load.
//!
//! This file holds the state, the limits, and the dispatch of commands and
//! store reports (with the requests held behind a join). The rules are one
//! file per part: `sessions.rs` (connections, users, names), `rooms.rs`
//! (joining, the owed history, leaving), `messages.rs` (storing, then
//! delivering and acknowledging), `history.rs` (pages and the caches'
//! budget), `lobby.rs`, `typing.rs`, `delivery.rs` (outboxes,
//! announcements, eviction, the shutdown notice), and `cluster.rs` (what
//! cluster mode adds: the bus, and the gaps storage fills). Each shares the state's
//! names through `use super::*`. Tests are in `tests/`.

use std::{
    collections::{HashMap, HashSet, VecDeque},
    net::IpAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use tokio::sync::{Semaphore, oneshot};
use tokio_tungstenite::tungstenite::Utf8Bytes;
use tracing::{debug, info, warn};

use smallvec::SmallVec;

use crate::list_set::ListSet;
use crate::protocol::{
    Change, ClientId, ClientMessage, DisplayName, ErrorCode, Found, Member, MessageContent,
    PROTOCOL_VERSION, RoomName, RoomSummary, ServerMessage, UserId,
};
use crate::server::outbox::{Outbound, Outbox};
use crate::server::store::window::{Window, fit_budget};
use crate::server::store::{
    Appended, ChangeRequest, Channel, NewKind, NewMessage, Refusal, Request, Store, StoreError,
    StoreReport, StoredMessage, Tag, now_ms,
    search::{self, Scope as SearchScope, Search},
};

use super::announcements::Announcements;
use super::sequencer::{Fill, Sequencer};
use super::{
    ApiCommand, BrokerConfig, BusEvent, BusRequest, Command, ConnId, Members, PostOutcome,
    TokenRefusal, Welcome,
};
use crate::server::close::CloseReason;
use crate::server::rooms::{Guest, RoomSettings, Sanction, Who};

mod api;
mod cluster;
mod delivery;
mod history;
mod lobby;
mod messages;
mod rooms;
mod sessions;
mod settings;
mod typing;

use delivery::encode;
pub(super) use history::HistoryRead;
use history::{Keep, ReadQuota, SearchFilters, within_budget};
use lobby::Lobby;
use messages::{Frame, change_frame, conn_of, direct_message_frame, room_message_frame, tag};
use rooms::{Room, Seat, history_frame};
use sessions::{Held, Session, Users};
pub(super) use settings::RoomWork;
use settings::{MuteNews, SettingsReads};
use typing::TypingGate;

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

/// Results of one search at most, and when it gives no limit.
pub const SEARCH_PAGE_MAX: usize = 50;

const SEARCH_PAGE_DEFAULT: usize = 20;

/// Bytes of message text in one `history` frame at most, so that a frame
/// always fits in a connection's send queue (`send_queue_bytes`, at least
/// 64 KiB... 4 MiB by default) with room to spare. A page cut short by it
/// is simply shorter: clients page on from where it ends.
pub const HISTORY_FRAME_BYTES: usize = 256 * 1024;

/// Rooms listed in the lobby at most (the largest).
pub const MAX_ROOMS_LISTED: usize = 200;

/// Cluster mode: how long a join waits for its room's subscription before
/// the room is loaded without it.
pub const SUBSCRIBE_PATIENCE: Duration = Duration::from_secs(2);

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
    users: Users,
    rooms: HashMap<RoomName, Room>,
    /// Connections whose outbox filled up during the current command; they
    /// are evicted once it is handled (eviction itself broadcasts, and may
    /// find more).
    slow: Vec<ConnId>,
    shutting_down: bool,
    /// Who watches the lobby's room list, and whether it changed.
    lobby: Lobby,
    /// Rooms with announcements waiting for the next tick.
    announcing: HashSet<RoomName>,
    /// Rooms holding messages that came before the ones ahead of them.
    gapped: HashSet<RoomName>,
    /// Cluster mode: rooms waiting for their subscription, since when.
    subscribing: HashMap<RoomName, Instant>,
    /// Cluster mode: everyone connected to any node, per the bus.
    online_anywhere: HashSet<UserId>,
    /// Cluster mode: the lobby of all nodes, per the bus.
    cluster_lobby: Option<Vec<(RoomName, usize)>>,
    /// What the rooms' caches hold together, against `cache_max_bytes`.
    cached_bytes: usize,
    /// The HTTP API's posts on their way to the store, by the name they
    /// were stored under, with where their outcome goes.
    posts: HashMap<ConnId, oneshot::Sender<PostOutcome>>,
    /// The time of the step being taken, as the task passed it in.
    now: Now,
    /// What the task must carry out after this step, in order.
    effects: Vec<Effect>,
}

/// The time a step of the state is taken at: the state never reads a clock.
#[derive(Debug, Clone, Copy)]
pub(super) struct Now {
    /// For intervals (typing, announcements).
    pub at: Instant,
    /// Wall time, milliseconds since the Unix epoch (retention).
    pub ms: i64,
}

impl Now {
    pub(super) fn current() -> Self {
        Self {
            at: Instant::now(),
            ms: now_ms(),
        }
    }
}

/// What the state asks its task to carry out: the state never waits and
/// never spawns. The task runs them in order after every step (the tests
/// run them in place, with no task in between).
pub(super) enum Effect {
    /// A request for the store's committer. One its queue cannot take goes
    /// back to the state ([`BrokerState::store_refused`]).
    Store(Request),
    /// A page of history to read off the task.
    Read(HistoryRead),
    /// Cluster mode: a request for the bus.
    Bus(BusRequest),
    /// Read what closes a room's gap; the answer is [`Command::Filled`].
    Fill { room: RoomName, fill: Fill },
    /// Read these rooms' heads; the answer is [`Command::Heads`].
    Heads(Vec<RoomName>),
    /// Work on a room's rows, then read its settings; the answer is
    /// [`Command::Settings`].
    Rooms {
        room: RoomName,
        work: RoomWork,
        read: u64,
    },
    /// Have `user`'s ban in `scope` (a room's name, or the server's) keep
    /// new guests from `addresses` out too; a room's settings are then
    /// read again, on every node.
    BanAddresses {
        scope: String,
        user: UserId,
        addresses: Vec<IpAddr>,
    },
    /// `user` read `room` up to `seq` (a `mark_read`).
    MarkRead {
        room: RoomName,
        user: UserId,
        seq: u64,
    },
    /// Write a moderator's deletion of `author`'s message `seq` to the
    /// room's audit log.
    Removed {
        room: RoomName,
        moderator: UserId,
        author: UserId,
        seq: u64,
    },
}

impl BrokerState {
    pub(super) fn new(config: BrokerConfig) -> Self {
        Self {
            config,
            sessions: HashMap::new(),
            users: Users::default(),
            rooms: HashMap::new(),
            slow: Vec::new(),
            shutting_down: false,
            lobby: Lobby::default(),
            announcing: HashSet::new(),
            gapped: HashSet::new(),
            subscribing: HashMap::new(),
            online_anywhere: HashSet::new(),
            cluster_lobby: None,
            cached_bytes: 0,
            posts: HashMap::new(),
            now: Now::current(),
            effects: Vec::new(),
        }
    }

    /// Messages kept in a room's cache: retention may keep fewer.
    fn cache_size(&self) -> usize {
        let kept = self.config.retention.max_messages.unwrap_or(u64::MAX);
        ROOM_CACHE.min(usize::try_from(kept).unwrap_or(usize::MAX))
    }

    pub(super) fn handle(&mut self, command: Command, now: Now) {
        self.now = now;
        match command {
            Command::Connect {
                conn,
                user,
                outbox,
                address,
            } => {
                let session = Session {
                    user,
                    outbox,
                    rooms: ListSet::default(),
                    extended: false,
                    online: false,
                    address,
                    account: false,
                    admin: false,
                    // A new guest, made as it connected.
                    born_ms: self.now.ms,
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
                welcome,
            } => {
                if !self.shutting_down {
                    self.identify(conn, user, stored_name, *welcome);
                }
            }
            Command::Client { conn, message } => {
                if self.sessions.contains_key(&conn) && !self.shutting_down {
                    self.go_online(conn);
                    self.client_message(conn, message);
                }
            }
            Command::Disconnect { conn } => {
                self.remove_session(conn);
            }
            Command::Shutdown => self.shutdown(),
            Command::Bus(event) => self.on_bus(event),
            Command::Filled { room, fill, found } => self.on_filled(room, fill, found),
            Command::Heads(heads) => self.on_heads(heads),
            Command::Api(command) => self.api(command),
            Command::Settings {
                room,
                read,
                settings,
            } => self.on_settings(room, read, settings.map(|settings| *settings)),
            Command::Tell { conn, message } => self.send_to(conn, &message),
            Command::RoomChanged { room, done } => self.room_changed(room, false, Some(done)),
        }
        self.evict_slow_consumers();
        self.config.metrics.rooms.set(self.rooms.len() as i64);
        self.config.metrics.users.set(self.users.len() as i64);
    }

    pub(super) fn on_report(&mut self, report: StoreReport, now: Now) {
        self.now = now;
        match report {
            StoreReport::Appended(appended) => self.on_appended(appended),
            StoreReport::Refused(refused) => self.changes_refused(refused),
            StoreReport::AppendFailed(messages) => {
                for message in messages {
                    let text =
                        "the message could not be stored and was not delivered; send it again";
                    self.message_refused(message, ErrorCode::StorageFailed, text);
                }
            }
            StoreReport::RoomLoaded { room, recent, head } => {
                self.on_room_loaded(room, recent, head);
            }
            StoreReport::LoadFailed { room } => self.on_load_failed(room),
        }
        self.evict_slow_consumers();
    }

    pub(super) fn store(&self) -> &Store {
        &self.config.store
    }

    pub(super) fn rooms(&self) -> &crate::server::rooms::Rooms {
        &self.config.rooms
    }

    pub(super) fn guest_ban_ms(&self) -> i64 {
        self.config.guest_ban_ms
    }

    /// Has `user`'s ban in `scope` keep new guests from `addresses` out
    /// too (if the server is set to).
    pub(super) fn ban_addresses(&mut self, scope: &str, user: UserId, addresses: Vec<IpAddr>) {
        if self.config.guest_ban_ms > 0 && !addresses.is_empty() {
            self.effects.push(Effect::BanAddresses {
                scope: scope.to_owned(),
                user,
                addresses,
            });
        }
    }

    /// Cluster mode's bus, if this node is in a cluster.
    pub(super) fn bus(&self) -> Option<&tokio::sync::mpsc::Sender<BusRequest>> {
        self.config.bus.as_ref()
    }

    /// What the task must carry out now, in order.
    pub(super) fn take_effects(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.effects)
    }

    /// The store's queue could not take `request` (the committer is behind,
    /// or gone): whoever asked is told to try again.
    pub(super) fn store_refused(&mut self, request: Request) {
        match request {
            Request::Append(message) => {
                let conn = conn_of(message.conn);
                warn!(%conn, "the store's queue is full; refusing a message");
                let text = "the server is busy; send the message again in a moment";
                self.message_refused(message, ErrorCode::Busy, text);
            }
            Request::LoadRoom { room, .. } => {
                let text = "the server is busy; join again in a moment";
                self.fail_load(room, ErrorCode::Busy, text);
            }
            Request::SetName { user, .. } => {
                warn!(%user, "the store's queue is full; the new name is not saved");
            }
        }
        self.evict_slow_consumers();
    }

    /// A message that was not stored: its sender is told, a connection with
    /// an `error` naming it, an API post with its outcome.
    fn message_refused(&mut self, message: NewMessage, code: ErrorCode, text: &str) {
        let conn = conn_of(message.conn);
        if let Some(reply) = self.posts.remove(&conn) {
            let _ = reply.send(PostOutcome::Refused(code));
            return;
        }
        let room = match message.channel {
            Channel::Room(room) => Some(room),
            Channel::Direct(..) => None,
        };
        let error = ServerMessage::message_error(code, message.client_id, room, text);
        self.send_to(conn, &error);
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
            ClientMessage::RoomMessage {
                room,
                content,
                id,
                reply_to,
                mentions,
            } => {
                let kind = new_kind(reply_to, mentions);
                self.say(conn, room, content, id, kind);
            }
            ClientMessage::DirectMessage {
                to,
                content,
                id,
                reply_to,
            } => {
                let kind = new_kind(reply_to, Vec::new());
                self.direct(conn, to, content, id, kind);
            }
            ClientMessage::EditMessage {
                room,
                with,
                seq,
                content,
            } => {
                let window = self.config.edit_window;
                let sent_after = window.map(|w| self.now.ms.saturating_sub(w.as_millis() as i64));
                let request = ChangeRequest::Edit { sent_after };
                self.change(conn, (room, with), seq, Some(content), request);
            }
            ClientMessage::Search {
                query,
                room,
                with,
                from,
                before,
                limit,
            } => {
                let filters = SearchFilters {
                    room,
                    with,
                    from,
                    before,
                    limit,
                };
                self.search(conn, query, filters);
            }
            ClientMessage::DeleteMessage { room, with, seq } => {
                self.change(conn, (room, with), seq, None, ChangeRequest::Delete);
            }
            ClientMessage::React {
                room,
                with,
                seq,
                emoji,
                on,
            } => {
                let request = ChangeRequest::React { emoji, on };
                self.change(conn, (room, with), seq, None, request);
            }
            ClientMessage::SetName { name } => self.rename(conn, name),
            ClientMessage::Typing { room } => self.typing(conn, room),
            // Up to the room's last number at most (a mark past it would
            // hide what comes next); in a room not in memory here, which
            // the client is not in, nothing.
            ClientMessage::MarkRead { room, seq } => {
                let head = self.rooms.get(&room).and_then(|r| r.sequencer.head());
                if let (Some(session), Some(head)) = (self.sessions.get(&conn), head) {
                    let (user, seq) = (session.user, seq.min(head));
                    self.effects.push(Effect::MarkRead { room, user, seq });
                }
            }
            ClientMessage::ListRooms => {
                self.lobby.watch(conn);
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
}

/// What a new message is besides its text.
fn new_kind(reply_to: Option<u64>, mentions: Vec<UserId>) -> NewKind {
    if reply_to.is_none() && mentions.is_empty() {
        NewKind::Plain
    } else {
        NewKind::Message { reply_to, mentions }
    }
}

#[cfg(test)]
mod tests;

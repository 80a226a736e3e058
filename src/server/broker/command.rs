//! What connections (and, in cluster mode, the bus) ask of the broker, how
//! it names a connection, and what it asks of the bus.

use std::net::IpAddr;

use tokio::sync::oneshot;

use crate::protocol::{
    ClientId, ClientMessage, DisplayName, ErrorCode, Member, MessageContent, RoomName, RoomSummary,
    ServerMessage, UserId,
};
use crate::server::close::CloseReason;
use crate::server::outbox::Outbox;
use crate::server::rooms::RoomSettings;
use crate::server::store::StoredMessage;

use super::sequencer::Fill;

/// One connection. A user (one identity) may have several at once: tabs,
/// devices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

impl std::fmt::Display for ConnId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "c{}", self.0)
    }
}

/// What connections ask of the broker.
#[derive(Debug)]
pub enum Command {
    /// A new connection, as a fresh guest `user`; it must come before any
    /// other command for `conn`.
    Connect {
        conn: ConnId,
        user: UserId,
        outbox: Outbox,
        /// The client's address: a ban may keep its new guests out.
        address: IpAddr,
    },
    /// The connection opened with `hello`: from now on it is `user`, with
    /// the name the store remembers for it, if any, and `welcome` says the
    /// rest.
    Identify {
        conn: ConnId,
        user: UserId,
        stored_name: Option<DisplayName>,
        welcome: Box<Welcome>,
    },
    /// A decoded, validated message from the client (never `hello`).
    Client {
        conn: ConnId,
        message: ClientMessage,
    },
    /// The connection ended for any reason. Idempotent.
    Disconnect { conn: ConnId },
    /// Tell every client the server is stopping, then close them with 1012.
    Shutdown,
    /// Cluster mode: news from the bus.
    Bus(BusEvent),
    /// A gap's fill was read: what storage has of it, or `None` if the read
    /// failed (it is asked for again).
    Filled {
        room: RoomName,
        fill: Fill,
        found: Option<Vec<StoredMessage>>,
    },
    /// Cluster mode: the last number storage has handed out in each room
    /// in memory, to catch up what the bus did not bring.
    Heads(Vec<(RoomName, u64)>),
    /// The HTTP API: an order or a question, answered on its own channel.
    Api(ApiCommand),
    /// Read number `read` of a room's settings (`None`: it failed).
    /// Boxed: the largest command by far, and a rare one.
    Settings {
        room: RoomName,
        read: u64,
        settings: Option<Box<RoomSettings>>,
    },
    /// Send `message` to `conn` (a task's answer for it: `memberships`).
    Tell {
        conn: ConnId,
        message: Box<ServerMessage>,
    },
    /// A room's rows were changed here (the HTTP API): every node that has
    /// it in memory reads them again; `done` is told once this one has.
    RoomChanged {
        room: RoomName,
        done: oneshot::Sender<()>,
    },
}

/// What a `welcome` says beyond the user and their name.
#[derive(Debug, Default)]
pub struct Welcome {
    /// The session token to connect with next time.
    pub token: String,
    /// The account's username, if the user has one.
    pub username: Option<String>,
    /// The account is one of the server's admins.
    pub admin: bool,
    /// When a guest's identity was made (0: not known).
    pub born_ms: i64,
    /// Why the token the client presented was refused (the user is new).
    pub refused: Option<TokenRefusal>,
}

/// Why a `hello`'s token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRefusal {
    /// Not issued by this server, altered, or expired.
    Invalid,
    /// An account's session that was signed out or has expired.
    Ended,
}

/// What the HTTP API asks of the broker. A reply channel whose receiver
/// is gone (the request was abandoned) is simply not answered.
#[derive(Debug)]
pub enum ApiCommand {
    /// Post as `from` (a bot, named `name`) into `room`: stored, numbered,
    /// delivered and published like any message, without joining. `conn`
    /// names the post to the store (taken from the connections' counter,
    /// so it is no connection's).
    Post {
        conn: ConnId,
        room: RoomName,
        from: UserId,
        name: DisplayName,
        content: MessageContent,
        id: Option<ClientId>,
        reply: oneshot::Sender<PostOutcome>,
    },
    /// A moderator's deletion of message `seq` of `room`, by `by` (named
    /// `conn` to the store, like a post): anyone's message but those of
    /// `protected`. Answered like a post.
    Remove {
        conn: ConnId,
        room: RoomName,
        seq: u64,
        by: UserId,
        protected: Vec<UserId>,
        reply: oneshot::Sender<PostOutcome>,
    },
    /// The addresses `user` is connected from here.
    Addresses {
        user: UserId,
        reply: oneshot::Sender<Vec<IpAddr>>,
    },
    /// The lobby's rooms.
    Rooms(oneshot::Sender<Vec<RoomSummary>>),
    /// Who is in `room`, on every node (in cluster mode, read from Redis
    /// when nobody here is in it); `None` when Redis cannot say.
    Members {
        room: RoomName,
        reply: oneshot::Sender<Option<Vec<Member>>>,
    },
    /// Close every connection of `user` here (and, in cluster mode, have
    /// every node close theirs) for `reason`, after sending them `notice`
    /// (an `error` of code `moderated`) if given; how many were here.
    Disconnect {
        user: UserId,
        reason: CloseReason,
        notice: Option<String>,
        reply: oneshot::Sender<usize>,
    },
}

/// How an API post ended.
#[derive(Debug)]
pub enum PostOutcome {
    /// Stored now (`new`), or earlier under the same id.
    Stored { message: StoredMessage, new: bool },
    /// Not stored (`storage_failed`, `busy`, `shutting_down`): post again.
    Refused(ErrorCode),
}

/// Who is in a room on every node, with their names where known.
pub type Members = Vec<(UserId, Option<DisplayName>)>;

/// What cluster mode's bus (`cluster/`) tells the broker.
#[derive(Debug)]
pub enum BusEvent {
    /// What is published in `room` reaches this node now, and these are
    /// its members on every node: it can be loaded.
    Subscribed { room: RoomName, members: Members },
    /// Messages another node committed in `room`, in its order.
    Published {
        room: RoomName,
        messages: Vec<StoredMessage>,
    },
    /// `user` arrived in `room`, having been there on no node; or (not
    /// `present`) is there on none any more.
    Presence {
        room: RoomName,
        user: UserId,
        name: Option<DisplayName>,
        present: bool,
    },
    /// Someone on another node is typing in `room`.
    Typing {
        room: RoomName,
        user: UserId,
        name: DisplayName,
    },
    /// A direct message another node committed, for `to`'s connections
    /// here (the recipient's, or the sender's other tabs).
    Direct { to: UserId, message: StoredMessage },
    /// Everyone connected to any node.
    Online(Vec<UserId>),
    /// `user` connected to some node, having been on none; or (not
    /// `present`) is on none any more.
    OnlineChanged { user: UserId, present: bool },
    /// A user on another node took a new name.
    Renamed { user: UserId, name: DisplayName },
    /// The rooms with the most members on all nodes, and how many.
    Lobby(Vec<(RoomName, usize)>),
    /// The bus lost its connection and has it back: anything may have been
    /// missed meanwhile, so every room is checked against storage.
    Restored,
    /// Who is in each of these rooms on every node, as Redis has it now:
    /// presence put right after verdicts were missed.
    Members(Vec<(RoomName, Members)>),
    /// Another node was asked to disconnect `user` everywhere (telling
    /// them the notice first, if any).
    Disconnect(UserId, CloseReason, Option<String>),
    /// Another node changed a room's rows: read them again.
    RoomChanged(RoomName),
}

/// What the broker asks of cluster mode's bus.
#[derive(Debug)]
pub enum BusRequest {
    /// Publish messages this node committed in `room`, in order.
    Publish {
        room: RoomName,
        messages: Vec<StoredMessage>,
    },
    /// Publish a direct message this node committed.
    PublishDirect(StoredMessage),
    /// This node has someone in `room`: the bus answers with
    /// [`BusEvent::Subscribed`] once publications there reach it.
    Subscribe(RoomName),
    /// Nobody here is in `room` any more.
    Unsubscribe(RoomName),
    /// `user` is in `room` (`None`: connected) here now, having not been.
    Arrive {
        room: Option<RoomName>,
        user: UserId,
        name: DisplayName,
    },
    /// `user` is not in `room` (`None`: connected) here any more.
    Depart {
        room: Option<RoomName>,
        user: UserId,
    },
    Typing {
        room: RoomName,
        user: UserId,
        name: DisplayName,
    },
    Renamed {
        user: UserId,
        name: DisplayName,
    },
    /// Every node closes `user`'s connections (the HTTP API's disconnect,
    /// a session signed out, a ban), telling them the notice first.
    Disconnect(UserId, CloseReason, Option<String>),
    /// This node changed `room`'s rows: the nodes that have it in memory
    /// read them again.
    RoomChanged(RoomName),
    /// `room` is private (or not), as its settings were read here: for
    /// every node's lobby.
    Privacy {
        room: RoomName,
        private: bool,
    },
    /// Who is in `room` on every node, as Redis has it (for the HTTP API,
    /// when nobody here is in it); `None` if Redis cannot say.
    Members {
        room: RoomName,
        reply: oneshot::Sender<Option<Vec<Member>>>,
    },
}

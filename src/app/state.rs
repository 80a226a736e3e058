//! What the chat screen shows, as plain data: the connection status, who
//! the user is, the joined rooms with their members and timelines, the
//! direct conversations, the messages still waiting for their ack, and the
//! notices. Server messages are applied here and UI actions recorded here,
//! with no browser API involved, so the rules are tested natively.
//!
//! A timeline files stored messages by sequence number, so a message that
//! arrives twice (live and in a replay) is shown once, and older pages slot
//! in where they belong. Own messages show as pending until acknowledged;
//! they live in the list of unsent messages, which survives reloads (the
//! socket module saves it) and goes again after every reconnect.
//!
//! `apply.rs` applies what the server sends, `timeline.rs` holds one
//! conversation's lines, `saved.rs` what a reload keeps; the rules are
//! tested in `tests.rs`.

mod actions;
mod apply;
mod saved;
mod search;
mod timeline;

use std::collections::{BTreeSet, HashMap};

use serde::Serialize;

use crate::list_set::ListSet;
use crate::protocol::{
    ClientId, ClientMessage, DisplayName, ErrorCode, Extras, Member, MessageContent,
    PROTOCOL_VERSION, Posted, Role, RoomInfo, RoomName, RoomSummary, ServerMessage, UserId,
};
pub use saved::Saved;
pub use search::{SearchView, highlights};
#[cfg(test)]
use timeline::MAX_LINES;
use timeline::group;
pub use timeline::{Delivery, GROUP_WITHIN_MS, Line, LineKind, Timeline};

/// Notices kept on screen at once; the oldest goes first.
const MAX_NOTICES: usize = 3;

/// How long a `typing` shows, unless repeated (the sender repeats it every
/// few seconds while it types).
pub const TYPING_SHOWN_MS: i64 = 5_000;

/// Messages asked for per history page.
pub const PAGE: u32 = 50;

/// Characters of a message a notification shows.
const ALERT_CHARS: usize = 120;

/// Messages asked for per page while filling a gap after a resume.
const FILL_PAGE: u32 = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConnectionStatus {
    #[default]
    Connecting,
    Connected,
    Disconnected,
}

impl ConnectionStatus {
    pub fn label(self) -> &'static str {
        match self {
            Self::Connecting => "Connecting…",
            Self::Connected => "Connected",
            Self::Disconnected => "Disconnected",
        }
    }

    /// The `data-status` value the stylesheet and tests key on.
    pub fn key(self) -> &'static str {
        match self {
            Self::Connecting => "connecting",
            Self::Connected => "connected",
            Self::Disconnected => "disconnected",
        }
    }
}

/// Which conversation the main pane shows; also where a message goes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub enum Conversation {
    Room(RoomName),
    Direct(UserId),
}

/// A message of the user's own, not acknowledged yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unsent {
    pub id: ClientId,
    pub to: Conversation,
    pub content: MessageContent,
    /// The message it answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<u64>,
    /// The users it names.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mentions: Vec<UserId>,
    #[serde(skip)]
    pub failed: bool,
    /// Waiting for the server's rate limit: goes out after the wait, one
    /// at a time, each after the last's ack.
    #[serde(skip)]
    pub held: bool,
}

impl Unsent {
    fn message(&self) -> ClientMessage {
        match &self.to {
            Conversation::Room(room) => ClientMessage::RoomMessage {
                room: room.clone(),
                content: self.content.clone(),
                id: Some(self.id.clone()),
                reply_to: self.reply_to,
                mentions: self.mentions.clone(),
            },
            Conversation::Direct(to) => ClientMessage::DirectMessage {
                to: *to,
                content: self.content.clone(),
                id: Some(self.id.clone()),
                reply_to: self.reply_to,
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomView {
    pub name: RoomName,
    pub members: BTreeSet<UserId>,
    pub timeline: Timeline,
    /// Its topic, privacy and staff, as `joined` or `room_updated` said.
    pub settings: RoomInfo,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectView {
    pub peer: UserId,
    pub timeline: Timeline,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub id: u64,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChatState {
    pub status: ConnectionStatus,
    /// A connection has been up since the page loaded: a lost one is news.
    pub was_connected: bool,
    /// The state saved by the last page is back (the browser sets it).
    pub restored: bool,
    /// Rooms asked for and not joined yet.
    pending_joins: ListSet<RoomName>,
    /// The server's rooms with people in them, largest first.
    pub lobby: Vec<RoomSummary>,
    /// Who was last seen typing, where, and until when (client clock).
    /// Expired entries go as new ones come: it holds a handful.
    typing: Vec<(RoomName, UserId, i64)>,
    pub me: Option<UserId>,
    /// The session token from the last `welcome`, presented in `hello`.
    pub token: Option<String>,
    /// The account's username, once the server has said (a guest has none).
    pub username: Option<String>,
    /// The server's numbering the timelines hold (from `welcome`).
    epoch: Option<String>,
    /// Joined rooms in the order they were joined.
    pub rooms: Vec<RoomView>,
    pub directs: Vec<DirectView>,
    pub active: Option<Conversation>,
    pub notices: Vec<Notice>,
    /// Display names of everyone seen.
    names: HashMap<UserId, DisplayName>,
    /// Own messages not acknowledged yet, oldest first.
    pub unsent: Vec<Unsent>,
    /// Until when (client clock, ms) the server asked the user to wait
    /// before sending more (`rate_limited`).
    pub slow_until: Option<i64>,
    /// Rooms the user left whose late `joined` (from a join still in flight)
    /// must not bring them back.
    left: ListSet<RoomName>,
    next_id: u64,
    /// The user turned browser notifications on (and the browser allowed
    /// them).
    pub alerts_on: bool,
    /// What each conversation notifies of, where the user chose.
    pub alert_levels: Vec<(Conversation, AlertLevel)>,
    /// Notifications due, for the browser to show if the tab is hidden.
    pub alerts: Vec<Alert>,
    /// `mark_read`s to send, taken by whoever sends what the state asks.
    pub marks: Vec<ClientMessage>,
    /// The search on screen, if any.
    pub search: Option<SearchView>,
    /// The user is one of the server's admins, who run every room (as
    /// `welcome` said).
    pub admin: bool,
    /// Rooms the user is muted in, until when (client clock; `None`: until
    /// a moderator lifts it), as `moderated` errors said.
    pub muted: Vec<(RoomName, Option<i64>)>,
    /// Why the server refuses the user altogether (banned from it: close
    /// code 4003): the chat says so and stops reconnecting.
    pub banned: Option<String>,
}

/// How high someone stands in a room, as the server ranks it: staff
/// (moderators) moderate those below them, owners also set roles and
/// privacy, and the server's admins stand above every owner.
pub const STAFF: u8 = 1;
pub const OWNERS: u8 = 2;
const ADMINS: u8 = 3;

/// What a conversation notifies of while the tab is hidden.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum AlertLevel {
    All,
    Mentions,
    Nothing,
}

impl AlertLevel {
    pub const ALL: [AlertLevel; 3] = [AlertLevel::All, AlertLevel::Mentions, AlertLevel::Nothing];

    pub fn label(self) -> &'static str {
        match self {
            AlertLevel::All => "All messages",
            AlertLevel::Mentions => "Mentions only",
            AlertLevel::Nothing => "Nothing",
        }
    }

    pub fn key(self) -> &'static str {
        match self {
            AlertLevel::All => "All",
            AlertLevel::Mentions => "Mentions",
            AlertLevel::Nothing => "Nothing",
        }
    }

    pub fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|level| level.key() == key)
    }
}

/// A browser notification to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    pub title: String,
    pub body: String,
    pub conversation: Conversation,
}

impl ChatState {
    /// The state a reload starts from: the same identity, rooms, direct
    /// conversations and unsent messages.
    pub fn restore(saved: Saved) -> Self {
        let mut state = Self {
            token: saved.token,
            unsent: saved.unsent,
            restored: true,
            alerts_on: saved.alerts,
            alert_levels: saved.alert_levels,
            ..Self::default()
        };
        for room in saved.rooms {
            state.room_entry(room);
        }
        for (peer, name) in saved.directs {
            state.names.insert(peer, name);
            state.direct_entry(peer);
        }
        state.active = state
            .rooms
            .first()
            .map(|room| Conversation::Room(room.name.clone()));
        state
    }

    pub fn saved(&self) -> Saved {
        Saved {
            token: self.token.clone(),
            rooms: self.rooms.iter().map(|r| r.name.clone()).collect(),
            directs: self
                .directs
                .iter()
                .map(|d| (d.peer, self.name_of(d.peer)))
                .collect(),
            unsent: self.unsent.clone(),
            alerts: self.alerts_on,
            alert_levels: self.alert_levels.clone(),
        }
    }

    /// What `conversation` notifies of: as the user chose, else every
    /// direct message and, in rooms, mentions.
    pub fn alert_level(&self, conversation: &Conversation) -> AlertLevel {
        let chosen = self.alert_levels.iter().find(|(c, _)| c == conversation);
        match (chosen, conversation) {
            (Some((_, level)), _) => *level,
            (None, Conversation::Room(_)) => AlertLevel::Mentions,
            (None, Conversation::Direct(_)) => AlertLevel::All,
        }
    }

    pub fn set_alert_level(&mut self, conversation: Conversation, level: AlertLevel) {
        self.alert_levels.retain(|(c, _)| *c != conversation);
        self.alert_levels.push((conversation, level));
    }

    /// What a fresh connection sends first: `hello` with the token, then a
    /// join for every room, each saying how far the user has read, so the
    /// server replays exactly what was missed.
    pub fn greeting(&self) -> Vec<ClientMessage> {
        let hello = ClientMessage::Hello {
            protocol: PROTOCOL_VERSION,
            token: self.token.clone(),
        };
        let joins = self.rooms.iter().map(|room| ClientMessage::JoinRoom {
            room: room.name.clone(),
            after: room.timeline.newest_seq(),
        });
        std::iter::once(hello).chain(joins).collect()
    }

    /// The server's history started over (its numbering changed): every
    /// line held is numbered in a history that is gone, so each timeline
    /// starts empty again. Returns the requests for each room's latest page
    /// (the resume of each room asked for messages after a number that no
    /// longer means anything); direct conversations ask for theirs on
    /// `welcome`. Unsent messages stay, and go out as usual.
    fn forget_history(&mut self) -> Vec<ClientMessage> {
        for direct in &mut self.directs {
            direct.timeline = Timeline::default();
        }
        self.rooms
            .iter_mut()
            .map(|room| {
                room.timeline = Timeline::default();
                history_request(&Conversation::Room(room.name.clone()), None, None, PAGE)
            })
            .collect()
    }

    /// Takes an acknowledged (or echoed) message out of the unsent messages.
    fn settle(&mut self, id: Option<&ClientId>) -> Option<Unsent> {
        let id = id?;
        let index = self.unsent.iter().position(|o| &o.id == id)?;
        Some(self.unsent.remove(index))
    }

    /// The unsent messages going to matching conversations, in order (but
    /// those held for a rate limit: the first of them follows, when allowed).
    fn resend(&mut self, to: impl Fn(&Conversation) -> bool) -> Vec<ClientMessage> {
        let mut messages: Vec<ClientMessage> = self
            .unsent
            .iter_mut()
            .filter(|o| to(&o.to) && !o.held)
            .map(|o| {
                o.failed = false;
                o.message()
            })
            .collect();
        messages.extend(self.next_held(&to));
        messages
    }

    fn unsent_mut(&mut self, id: Option<ClientId>) -> Option<&mut Unsent> {
        let id = id?;
        self.unsent.iter_mut().find(|o| o.id == id)
    }

    /// The first message held for a rate limit to a matching conversation,
    /// once the wait is over.
    fn next_held(&mut self, to: &dyn Fn(&Conversation) -> bool) -> Option<ClientMessage> {
        if self.slow_until.is_some() || self.status != ConnectionStatus::Connected {
            return None;
        }
        let held = self.unsent.iter_mut().find(|o| o.held && to(&o.to))?;
        held.held = false;
        held.failed = false;
        Some(held.message())
    }

    /// The wait the server asked for is over at `now_ms`: the first held
    /// message goes again (each ack sends the next).
    pub fn release(&mut self, now_ms: i64) -> Option<ClientMessage> {
        if self.slow_until.is_some_and(|until| until > now_ms) {
            return None;
        }
        self.slow_until = None;
        self.next_held(&|_| true)
    }

    /// The user wrote a message: it is pending until acknowledged. Returns
    /// what to send now, if the conversation is ready for it.
    /// `reply_to`: the message it answers. Whom it mentions is read from
    /// its text (see [`Self::mentions_in`]).
    pub fn compose(
        &mut self,
        to: Conversation,
        content: MessageContent,
        id: ClientId,
        reply_to: Option<u64>,
    ) -> Option<ClientMessage> {
        // Behind messages held for a rate limit, it waits its turn.
        let held = self.slow_until.is_some() || self.unsent.iter().any(|o| o.held);
        let mentions = match &to {
            Conversation::Room(_) => self.mentions_in(&to, content.as_str()),
            Conversation::Direct(_) => Vec::new(),
        };
        let outgoing = Unsent {
            id,
            to,
            content,
            reply_to,
            mentions,
            failed: false,
            held,
        };
        let message = outgoing.message();
        let ready = !held
            && self.status == ConnectionStatus::Connected
            && match &outgoing.to {
                Conversation::Room(room) => self.room(room).is_some(),
                Conversation::Direct(_) => true,
            };
        self.unsent.push(outgoing);
        ready.then_some(message)
    }

    /// Shows a conversation: it becomes the active one, and read. The room
    /// it leaves, and the one it opens, are marked read up to what they
    /// show (for the user's other devices).
    pub fn open(&mut self, conversation: Conversation) {
        if let Some(timeline) = self.timeline_mut(&conversation) {
            timeline.unread = 0;
            timeline.mentions = 0;
        }
        let before = self.active.replace(conversation.clone());
        for shown in before.into_iter().chain([conversation]) {
            if let Some(mark) = self.read_mark(&shown) {
                self.marks.push(mark);
            }
        }
    }

    /// `mark_read` for what `conversation` shows, if it is a room the user
    /// is a member of (a private one they are in, or one they run): their
    /// other devices then count only what came after as unread.
    fn read_mark(&self, conversation: &Conversation) -> Option<ClientMessage> {
        let Conversation::Room(room) = conversation else {
            return None;
        };
        let view = self.room(room)?;
        let member = view.settings.private
            || self
                .me
                .is_some_and(|me| view.settings.role_of(me).is_some());
        let seq = view.timeline.newest_seq()?;
        member.then(|| ClientMessage::MarkRead {
            room: room.clone(),
            seq,
        })
    }

    /// Opens a room by name (a link): joins it first, once, unless joined.
    /// Returns the join to send.
    pub fn open_room(&mut self, room: RoomName) -> Option<ClientMessage> {
        self.joining(&room);
        let join =
            (self.room(&room).is_none() && self.pending_joins.insert(room.clone())).then(|| {
                ClientMessage::JoinRoom {
                    room: room.clone(),
                    after: None,
                }
            });
        self.open(Conversation::Room(room));
        join
    }

    /// New messages from others in a conversation not on screen.
    pub fn unread(&self, conversation: &Conversation) -> u32 {
        self.timeline(conversation).map_or(0, |t| t.unread)
    }

    /// Of those, the ones that mention the user.
    pub fn mentions(&self, conversation: &Conversation) -> u32 {
        self.timeline(conversation).map_or(0, |t| t.mentions)
    }

    /// New messages from others in every conversation not on screen.
    pub fn unread_total(&self) -> u32 {
        let rooms = self.rooms.iter().map(|r| r.timeline.unread);
        let directs = self.directs.iter().map(|d| d.timeline.unread);
        rooms.chain(directs).sum()
    }

    /// The user asked to send a refused message again.
    pub fn retry(&mut self, id: &ClientId) -> Option<ClientMessage> {
        let pending = self.unsent.iter_mut().find(|o| &o.id == id)?;
        pending.failed = false;
        (self.status == ConnectionStatus::Connected).then(|| pending.message())
    }

    /// The request for the page before the oldest message shown, unless one
    /// is already on its way.
    pub fn load_older(&mut self, conversation: &Conversation) -> Option<ClientMessage> {
        let timeline = self.timeline_mut(conversation)?;
        if timeline.loading_older || !timeline.has_older() {
            return None;
        }
        timeline.loading_older = true;
        let first = timeline.first_seq();
        Some(history_request(conversation, None, first, PAGE))
    }

    /// The request for the page after the last line held, when they do not
    /// reach the end, unless one is already on its way.
    pub fn load_newer(&mut self, conversation: &Conversation) -> Option<ClientMessage> {
        let timeline = self.timeline_mut(conversation)?;
        if timeline.loading_newer || timeline.jumping || !timeline.detached() {
            return None;
        }
        timeline.loading_newer = true;
        let last = timeline.last_seq();
        Some(history_request(conversation, last, None, PAGE))
    }

    /// The request for the latest page, to show instead of the lines held
    /// when they do not reach the end.
    pub fn jump_to_latest(&mut self, conversation: &Conversation) -> Option<ClientMessage> {
        let timeline = self.timeline_mut(conversation)?;
        if timeline.jumping || !timeline.detached() {
            return None;
        }
        timeline.jumping = true;
        Some(history_request(conversation, None, None, PAGE))
    }

    /// Whether the lines of the active conversation stop short of its end.
    pub fn active_detached(&self) -> bool {
        self.active
            .as_ref()
            .and_then(|c| self.timeline(c))
            .is_some_and(Timeline::detached)
    }

    /// The connection dropped: who is online is unknown until it is back.
    pub fn disconnected(&mut self) {
        self.status = ConnectionStatus::Disconnected;
        self.me = None;
        // A new connection starts with new counts: what is held goes then.
        self.slow_until = None;
        // Joins in flight are lost with the connection: asked for again.
        self.pending_joins.clear();
        // A gap fill under way is kept: it resumes after the next greeting.
        for room in &mut self.rooms {
            room.members.clear();
            room.timeline.loading_older = false;
            room.timeline.loading_newer = false;
        }
        for direct in &mut self.directs {
            direct.timeline.loading_older = false;
            direct.timeline.loading_newer = false;
        }
    }

    /// The user asked to join `room`: a `joined` for it is welcome again.
    pub fn joining(&mut self, room: &RoomName) {
        self.left.remove(room);
    }

    /// Forgets a room the user left (and its unsent messages); the next room
    /// (if any) becomes active.
    pub fn left(&mut self, room: &RoomName) {
        self.left.insert(room.clone());
        self.typing.retain(|(place, _, _)| place != room);
        self.rooms.retain(|view| &view.name != room);
        let gone = Conversation::Room(room.clone());
        self.unsent.retain(|o| o.to != gone);
        if self.active.as_ref() == Some(&gone) {
            self.active = None;
            if let Some(next) = self.rooms.first().map(|view| view.name.clone()) {
                self.open(Conversation::Room(next));
            }
        }
    }

    /// Opens (creating if needed) the conversation with `peer`; returns the
    /// request for its history when it is new.
    pub fn open_direct(&mut self, peer: UserId) -> Option<ClientMessage> {
        let new = self.direct(&peer).is_none();
        self.direct_entry(peer);
        self.open(Conversation::Direct(peer));
        (new && self.status == ConnectionStatus::Connected).then_some(
            ClientMessage::DirectHistory {
                with: peer,
                before: None,
                after: None,
                limit: Some(PAGE),
            },
        )
    }

    pub fn notify(&mut self, text: String) {
        self.next_id += 1;
        self.notices.push(Notice {
            id: self.next_id,
            text,
        });
        if self.notices.len() > MAX_NOTICES {
            self.notices.remove(0);
        }
    }

    pub fn dismiss(&mut self, notice: u64) {
        self.notices.retain(|n| n.id != notice);
    }

    pub fn room(&self, name: &RoomName) -> Option<&RoomView> {
        self.rooms.iter().find(|view| &view.name == name)
    }

    fn room_mut(&mut self, name: &RoomName) -> Option<&mut RoomView> {
        self.rooms.iter_mut().find(|view| &view.name == name)
    }

    fn direct(&self, peer: &UserId) -> Option<&DirectView> {
        self.directs.iter().find(|view| &view.peer == peer)
    }

    fn timeline(&self, conversation: &Conversation) -> Option<&Timeline> {
        match conversation {
            Conversation::Room(name) => self.room(name).map(|v| &v.timeline),
            Conversation::Direct(peer) => self.direct(peer).map(|v| &v.timeline),
        }
    }

    fn timeline_mut(&mut self, conversation: &Conversation) -> Option<&mut Timeline> {
        match conversation {
            Conversation::Room(name) => self.room_mut(name).map(|v| &mut v.timeline),
            Conversation::Direct(peer) => self
                .directs
                .iter_mut()
                .find(|view| view.peer == *peer)
                .map(|v| &mut v.timeline),
        }
    }

    /// The display name of a user: the last one seen, else the guest name.
    pub fn name_of(&self, user: UserId) -> DisplayName {
        self.names
            .get(&user)
            .cloned()
            .unwrap_or_else(|| user.guest_name())
    }

    /// Everyone the user shares a room or a conversation with, and the
    /// user, by name: whom a search can be narrowed to.
    pub fn known_people(&self) -> Vec<(UserId, DisplayName)> {
        let mut people: Vec<UserId> = self
            .rooms
            .iter()
            .flat_map(|room| room.members.iter().copied())
            .chain(self.directs.iter().map(|d| d.peer))
            .chain(self.me)
            .collect();
        people.sort_unstable();
        people.dedup();
        let mut named: Vec<(UserId, DisplayName)> = people
            .into_iter()
            .map(|user| (user, self.name_of(user)))
            .collect();
        named.sort_by(|a, b| a.1.as_str().cmp(b.1.as_str()));
        named
    }

    /// How high `user` stands in `room`, as its settings say: whether
    /// someone else is an admin is not known here (the server refuses what
    /// it protects).
    pub fn rank_of(&self, room: &RoomName, user: UserId) -> u8 {
        let role = self.room(room).and_then(|view| view.settings.role_of(user));
        match role {
            Some(Role::Owner) => OWNERS,
            Some(Role::Moderator) => STAFF,
            Some(Role::Member) | None => 0,
        }
    }

    /// How high the user stands in `room`.
    pub fn my_rank(&self, room: &RoomName) -> u8 {
        match self.me {
            _ if self.admin => ADMINS,
            Some(me) => self.rank_of(room, me),
            None => 0,
        }
    }

    /// Whether the user may moderate `user` in `room` (delete their
    /// messages, mute, kick or ban them): they help run it, and stand
    /// higher.
    pub fn may_moderate(&self, room: &RoomName, user: UserId) -> bool {
        let mine = self.my_rank(room);
        mine >= STAFF && mine > self.rank_of(room, user) && self.me != Some(user)
    }

    /// Whether the user is muted in `room` at `now_ms`, and until when
    /// (`Some(None)`: until lifted).
    pub fn muted_in(&self, room: &RoomName, now_ms: i64) -> Option<Option<i64>> {
        self.muted
            .iter()
            .find(|(muted, until)| muted == room && until.is_none_or(|until| until > now_ms))
            .map(|(_, until)| *until)
    }

    /// The user's own name, once welcomed.
    pub fn my_name(&self) -> DisplayName {
        self.me
            .map(|me| self.name_of(me))
            .unwrap_or_else(|| DisplayName::parse("you").expect("a valid name"))
    }

    /// "Ana is typing…", "Ana and Ben are typing…": who is writing in `room`
    /// at `now_ms`, if anyone.
    pub fn typing_label(&self, room: &RoomName, now_ms: i64) -> Option<String> {
        let names: Vec<String> = self
            .typing
            .iter()
            .filter(|(place, _, until)| place == room && *until > now_ms)
            .map(|(_, user, _)| self.name_of(*user).to_string())
            .collect();
        Some(match names.as_slice() {
            [] => return None,
            [one] => format!("{one} is typing…"),
            [one, two] => format!("{one} and {two} are typing…"),
            [one, two, three] => format!("{one}, {two} and {three} are typing…"),
            [one, two, rest @ ..] => format!("{one}, {two} and {} others are typing…", rest.len()),
        })
    }

    /// The connection was up and is not now: the page says so.
    pub fn reconnecting(&self) -> bool {
        self.was_connected && self.status != ConnectionStatus::Connected && self.banned.is_none()
    }

    /// The lines of the active conversation: stored messages and events in
    /// order, then the user's own pending messages.
    pub fn active_lines(&self) -> Vec<Line> {
        let Some(conversation) = &self.active else {
            return Vec::new();
        };
        let Some(timeline) = self.timeline(conversation) else {
            return Vec::new();
        };
        let pending = self
            .unsent
            .iter()
            .filter(|o| &o.to == conversation)
            .map(|o| Line {
                continued: false,
                key: format!("p.{}", o.id.as_str()),
                kind: LineKind::Message {
                    from: self.me,
                    name: self.my_name(),
                    text: o.content.clone(),
                    ts: None,
                    delivery: if o.failed {
                        Delivery::Failed
                    } else {
                        Delivery::Pending
                    },
                    seq: None,
                    extras: Extras {
                        reply_to: o.reply_to,
                        mentions: o.mentions.clone(),
                        ..Extras::default()
                    },
                },
            });
        let mut lines: Vec<Line> = timeline.lines().chain(pending).collect();
        group(&mut lines);
        lines
    }

    /// Whether the active conversation has older messages to load.
    pub fn active_has_older(&self) -> bool {
        self.active
            .as_ref()
            .and_then(|c| self.timeline(c))
            .is_some_and(Timeline::has_older)
    }

    fn learn(&mut self, members: Vec<Member>) {
        for member in members {
            self.names.insert(member.user, member.name);
        }
    }

    fn room_entry(&mut self, name: RoomName) -> &mut RoomView {
        let index = match self.rooms.iter().position(|view| view.name == name) {
            Some(index) => index,
            None => {
                self.rooms.push(RoomView {
                    name,
                    members: BTreeSet::new(),
                    timeline: Timeline::default(),
                    settings: RoomInfo::default(),
                });
                self.rooms.len() - 1
            }
        };
        &mut self.rooms[index]
    }

    fn direct_entry(&mut self, peer: UserId) -> &mut DirectView {
        let index = match self.directs.iter().position(|view| view.peer == peer) {
            Some(index) => index,
            None => {
                self.directs.push(DirectView {
                    peer,
                    timeline: Timeline::default(),
                });
                self.directs.len() - 1
            }
        };
        &mut self.directs[index]
    }
}

/// A page request; a `before` of `u64::MAX` (a fill up to no end) is sent
/// as no bound at all.
fn history_request(
    conversation: &Conversation,
    after: Option<u64>,
    before: Option<u64>,
    limit: u32,
) -> ClientMessage {
    let before = before.filter(|before| *before != u64::MAX);
    match conversation {
        Conversation::Room(room) => ClientMessage::History {
            room: room.clone(),
            before,
            after,
            limit: Some(limit),
        },
        Conversation::Direct(with) => ClientMessage::DirectHistory {
            with: *with,
            before,
            after,
            limit: Some(limit),
        },
    }
}

#[cfg(test)]
mod tests;

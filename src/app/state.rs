//! What the chat screen shows, as plain data: the connection status, who
//! the user is, the joined rooms with their members and timelines, the
//! direct conversations, the messages still waiting for their ack, and the
//! notices. Server messages are applied here and UI actions recorded here,
//! with no browser API involved, so the rules are tested natively.
//!
//! A timeline files stored messages by sequence number, so a message that
//! arrives twice (live and in a replay) is shown once, and older pages slot
//! in where they belong. Own messages show as pending until acknowledged;
//! they live in the unsent messages, which survives reloads (the socket module saves
//! it) and is sent again after every reconnect.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;

use crate::list_set::ListSet;
use crate::protocol::decode::{checked, list, parsed, required, text};
use crate::protocol::{
    ClientId, ClientMessage, DecodeError, DisplayName, ErrorCode, JsonValue, Member,
    MessageContent, PROTOCOL_VERSION, Posted, RoomName, RoomSummary, ServerMessage, UserId,
};

/// Lines kept per conversation while new ones arrive; older ones leave
/// memory and the DOM (and can be paged back in).
const MAX_LINES: usize = 500;

/// Notices kept on screen at once; the oldest goes first.
const MAX_NOTICES: usize = 3;

/// How long a `typing` shows, unless repeated (the sender repeats it every
/// few seconds while it types).
pub const TYPING_SHOWN_MS: i64 = 5_000;

/// Messages asked for per history page.
pub const PAGE: u32 = 50;

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

/// How far one of the user's own messages has got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Stored by the server (it has a sequence number).
    Sent,
    /// Sent or waiting to be sent; no ack yet.
    Pending,
    /// The server refused it for now (busy, recipient offline...): it waits
    /// for the user's retry or the next reconnect.
    Failed,
}

impl Delivery {
    /// The `data-delivery` value the stylesheet and tests key on.
    pub fn key(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Pending => "pending",
            Self::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineKind {
    Message {
        /// Unknown for a pending message written before the first welcome.
        from: Option<UserId>,
        name: DisplayName,
        text: String,
        ts: Option<i64>,
        delivery: Delivery,
    },
    Joined(UserId),
    Left(UserId),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Unique within its conversation, the key for keyed rendering.
    pub key: String,
    pub kind: LineKind,
    /// A message from the same sender as the message just before, within
    /// [`GROUP_WITHIN_MS`]: shown under it without the name again.
    pub continued: bool,
}

/// Consecutive messages of one sender closer together than this are grouped.
pub const GROUP_WITHIN_MS: i64 = 5 * 60 * 1000;

/// A message of the user's own, not acknowledged yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unsent {
    pub id: ClientId,
    pub to: Conversation,
    pub content: MessageContent,
    #[serde(skip)]
    pub failed: bool,
}

impl Unsent {
    fn message(&self) -> ClientMessage {
        match &self.to {
            Conversation::Room(room) => ClientMessage::RoomMessage {
                room: room.clone(),
                content: self.content.clone(),
                id: Some(self.id.clone()),
            },
            Conversation::Direct(to) => ClientMessage::DirectMessage {
                to: *to,
                content: self.content.clone(),
                id: Some(self.id.clone()),
            },
        }
    }
}

/// Stored messages and the quiet system lines between them, in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Timeline {
    /// (seq, 0) for the message numbered seq; (seq, n) for the n-th event
    /// seen after it.
    entries: BTreeMap<(u64, u32), LineKind>,
    /// A gap being filled after a resume: messages after `.0` and before
    /// `.1` are being fetched.
    filling: Option<(u64, u64)>,
    /// An older page was asked for and has not come yet.
    loading_older: bool,
    /// Set while the lines held do not reach the end of the conversation
    /// (the reader went far up, and the newest lines were let go to keep
    /// the page small): the newest message known to exist past them.
    beyond: Option<u64>,
    /// A page after the last line held was asked for and has not come yet.
    loading_newer: bool,
    /// The latest page was asked for, to replace the lines held.
    jumping: bool,
    /// New messages from others since the conversation was last open.
    pub unread: u32,
}

impl Timeline {
    /// The highest sequence number shown.
    pub fn last_seq(&self) -> Option<u64> {
        self.entries
            .iter()
            .rev()
            .find(|(key, _)| key.1 == 0)
            .map(|(key, _)| key.0)
    }

    fn first_seq(&self) -> Option<u64> {
        self.entries.keys().find(|key| key.1 == 0).map(|key| key.0)
    }

    /// Older messages exist on the server (as far as the client can tell).
    pub fn has_older(&self) -> bool {
        self.first_seq().is_some_and(|first| first > 1)
    }

    /// The highest sequence number known: the last held, or past them.
    pub fn newest_seq(&self) -> Option<u64> {
        self.beyond.or_else(|| self.last_seq())
    }

    /// The lines held do not reach the end of the conversation.
    pub fn detached(&self) -> bool {
        self.beyond.is_some()
    }

    fn insert_message(&mut self, seq: u64, kind: LineKind) {
        self.entries.insert((seq, 0), kind);
    }

    fn event(&mut self, kind: LineKind) {
        if self.detached() {
            return; // it happens past the lines held, not after them
        }
        let after = self.entries.keys().next_back().map_or((0, 0), |key| *key);
        self.entries.insert((after.0, after.1 + 1), kind);
        self.trim();
    }

    /// Drops the oldest lines beyond the bound.
    fn trim(&mut self) {
        while self.entries.len() > MAX_LINES {
            self.entries.pop_first();
        }
    }

    fn lines(&self) -> impl Iterator<Item = Line> + '_ {
        self.entries.iter().map(|((seq, n), kind)| Line {
            key: format!("{seq}.{n}"),
            kind: kind.clone(),
            continued: false,
        })
    }

    /// Drops the newest lines beyond the bound: the lines held no longer
    /// reach the end.
    fn trim_newest(&mut self) {
        while self.entries.len() > MAX_LINES {
            if let Some(((seq, _), _)) = self.entries.pop_last() {
                self.beyond = Some(self.beyond.map_or(seq, |beyond| beyond.max(seq)));
            }
        }
    }

    /// Files `messages` (oldest first; `page`: an answer to a history
    /// request, else live). Returns the range of a gap between what was
    /// shown and the first of them, if they skip ahead.
    ///
    /// At most [`MAX_LINES`] lines are held: an older page lets the newest
    /// go (the reader is up there), anything else the oldest.
    fn merge(&mut self, mut messages: Vec<Posted>, page: bool) -> Option<(u64, u64)> {
        let (first, last) = (self.first_seq(), self.last_seq());
        let older = page
            && messages
                .last()
                .is_some_and(|m| first.is_some_and(|first| m.seq < first));
        if older {
            for posted in messages {
                self.insert_message(posted.seq, message_line(&posted, Delivery::Sent));
            }
            self.trim_newest();
            return None;
        }
        if let Some(beyond) = self.beyond {
            let past = |m: &Posted| last.is_none_or(|last| m.seq > last);
            if !(page && (self.loading_newer || self.jumping)) {
                // Past the lines held: noted, shown when the reader gets there.
                let newest = messages.iter().filter(|m| past(m)).map(|m| m.seq).max();
                self.beyond = Some(newest.map_or(beyond, |newest| newest.max(beyond)));
                messages.retain(|m| !past(m));
            } else {
                // The page after the last line held, or the latest page.
                if self.jumping
                    && messages
                        .first()
                        .is_some_and(|m| past(m) && Some(m.seq - 1) != last)
                {
                    self.entries.clear(); // not adjacent: it replaces them
                }
                if messages.last().is_none_or(|m| m.seq >= beyond) {
                    self.beyond = None;
                }
                // Still short of the end (more came meanwhile): the reader
                // pages on from here.
                self.loading_newer = false;
                self.jumping = false;
            }
            for posted in messages {
                self.insert_message(posted.seq, message_line(&posted, Delivery::Sent));
            }
            self.trim();
            return None;
        }
        let first_new = messages.first().map(|m| m.seq);
        let gap = match (last, first_new) {
            (Some(last), Some(first)) if first > last + 1 => Some((last, first)),
            _ => None,
        };
        let newer = messages
            .last()
            .is_some_and(|m| last.is_none_or(|last| m.seq > last));
        for posted in messages {
            self.insert_message(posted.seq, message_line(&posted, Delivery::Sent));
        }
        if newer {
            self.trim();
        }
        gap
    }

    /// After a page arrived while filling a gap: the next request, if the
    /// gap is not closed and the page made progress (an empty page means
    /// retention pruned the rest: nothing more to fetch).
    fn continue_fill(&mut self) -> Option<(u64, u64)> {
        let (after, before) = self.filling?;
        let mut reached = after;
        while reached + 1 < before && self.entries.contains_key(&(reached + 1, 0)) {
            reached += 1;
        }
        if reached + 1 >= before || reached == after {
            self.filling = None;
        } else {
            self.filling = Some((reached, before));
        }
        self.filling
    }
}

fn message_line(posted: &Posted, delivery: Delivery) -> LineKind {
    LineKind::Message {
        from: Some(posted.from),
        name: posted.name.clone(),
        text: posted.content.as_str().to_owned(),
        ts: Some(posted.ts),
        delivery,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomView {
    pub name: RoomName,
    pub members: BTreeSet<UserId>,
    pub timeline: Timeline,
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

/// What the browser keeps across page reloads: written with serde, read
/// back with [`Saved::from_json`] (see `protocol::decode` for why not serde).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Saved {
    pub token: Option<String>,
    pub rooms: Vec<RoomName>,
    pub directs: Vec<(UserId, DisplayName)>,
    /// Saved as `outbox`, its name in pages of earlier versions.
    #[serde(rename = "outbox")]
    pub unsent: Vec<Unsent>,
}

impl Saved {
    /// Reads what serde wrote: `{"token", "rooms", "directs": [[user,
    /// name]], "outbox": [{"id", "to": {"Room": name} or {"Direct": user},
    /// "content"}]}`.
    pub fn from_json<V: JsonValue>(json: &V) -> Result<Self, DecodeError> {
        let direct = |pair: &V| match pair.elements().as_deref() {
            Some([user, name]) => Ok((parsed(user, "directs")?, parsed(name, "directs")?)),
            _ => Err(DecodeError::invalid("directs", "expected [user, name]")),
        };
        let unsent = |item: &V| {
            let to = required(item.get("to"), "to")?;
            let to = match (checked(&to, "Room")?, checked(&to, "Direct")?) {
                (Some(room), _) => Conversation::Room(room),
                (None, Some(user)) => Conversation::Direct(user),
                (None, None) => return Err(DecodeError::invalid("to", "expected Room or Direct")),
            };
            Ok(Unsent {
                id: required(checked(item, "id")?, "id")?,
                to,
                content: required(checked(item, "content")?, "content")?,
                failed: false,
            })
        };
        Ok(Self {
            token: text(json, "token")?,
            rooms: list(json, "rooms", |room| parsed(room, "rooms"))?.unwrap_or_default(),
            directs: list(json, "directs", direct)?.unwrap_or_default(),
            unsent: list(json, "outbox", unsent)?.unwrap_or_default(),
        })
    }
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
    /// Rooms the user left whose late `joined` (from a join still in flight)
    /// must not bring them back.
    left: ListSet<RoomName>,
    next_id: u64,
}

impl ChatState {
    /// The state a reload starts from: the same identity, rooms, direct
    /// conversations and unsent messages.
    pub fn restore(saved: Saved) -> Self {
        let mut state = Self {
            token: saved.token,
            unsent: saved.unsent,
            restored: true,
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
        }
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

    /// Applies a server message; returns what to send in response (resends,
    /// history requests).
    pub fn apply(&mut self, message: ServerMessage) -> Vec<ClientMessage> {
        self.apply_at(message, 0)
    }

    /// [`apply`](Self::apply), at `now_ms` on the client's clock (for what
    /// expires: typing).
    pub fn apply_at(&mut self, message: ServerMessage, now_ms: i64) -> Vec<ClientMessage> {
        let mut replies = Vec::new();
        match message {
            ServerMessage::Welcome {
                user,
                name,
                token,
                epoch,
                ..
            } => {
                self.me = Some(user);
                self.names.insert(user, name);
                self.token = Some(token);
                self.status = ConnectionStatus::Connected;
                self.was_connected = true;
                // The lobby: its list now, and again as it changes.
                replies.push(ClientMessage::ListRooms);
                if epoch.is_some() && self.epoch.is_some() && epoch != self.epoch {
                    replies.extend(self.forget_history());
                }
                self.epoch = epoch.or(self.epoch.take());
                // Direct conversations resume from what was shown, page by
                // page until a page comes back empty (a fill up to no end);
                // a fill cut off by the disconnect goes on where it was.
                for view in &mut self.directs {
                    let conversation = Conversation::Direct(view.peer);
                    let timeline = &mut view.timeline;
                    if timeline.filling.is_none() {
                        timeline.filling = timeline.newest_seq().map(|last| (last, u64::MAX));
                    }
                    let (after, before) = match timeline.filling {
                        Some((after, before)) => (Some(after), Some(before)),
                        None => (None, None),
                    };
                    replies.push(history_request(&conversation, after, before, FILL_PAGE));
                }
                replies.extend(self.resend(|to| matches!(to, Conversation::Direct(_))));
            }
            ServerMessage::Joined { room, members } => {
                self.pending_joins.remove(&room);
                if self.left.contains(&room) {
                    return replies;
                }
                let view = self.room_entry(room.clone());
                if let Some(members) = members {
                    view.members = members.iter().map(|m| m.user).collect();
                    self.learn(members);
                }
                if self.active.is_none() {
                    self.open(Conversation::Room(room.clone()));
                }
                // A gap fill the last connection did not finish goes on.
                let conversation = Conversation::Room(room.clone());
                if let Some((after, before)) = self
                    .timeline_mut(&conversation)
                    .and_then(|timeline| timeline.filling)
                {
                    replies.push(history_request(
                        &conversation,
                        Some(after),
                        Some(before),
                        FILL_PAGE,
                    ));
                }
                // Only now may the room's unsent messages go out.
                replies.extend(self.resend(|to| *to == Conversation::Room(room.clone())));
            }
            ServerMessage::UserJoined { room, user, name } => {
                if let Some(name) = name {
                    self.names.insert(user, name);
                }
                if let Some(view) = self.room_mut(&room) {
                    view.members.insert(user);
                    view.timeline.event(LineKind::Joined(user));
                }
            }
            ServerMessage::UserLeft { room, user } => {
                if let Some(view) = self.room_mut(&room) {
                    view.members.remove(&user);
                    view.timeline.event(LineKind::Left(user));
                }
            }
            ServerMessage::RoomMessage {
                room,
                from,
                content,
                name,
                seq,
                ts,
                id,
            } => {
                let name = name.unwrap_or_else(|| self.name_of(from));
                self.names.insert(from, name.clone());
                // Their message is here: they are no longer typing it.
                self.typing
                    .retain(|(place, who, _)| !(*place == room && *who == from));
                let posted = Posted {
                    seq: seq.unwrap_or(0),
                    ts: ts.unwrap_or(0),
                    from,
                    name,
                    content,
                    to: None,
                    id: id.clone(),
                };
                self.settle(id.as_ref());
                replies.extend(self.file(Conversation::Room(room), vec![posted], true));
            }
            ServerMessage::DirectMessage {
                from,
                content,
                to,
                name,
                seq,
                ts,
                id,
            } => {
                let name = name.unwrap_or_else(|| self.name_of(from));
                self.names.insert(from, name.clone());
                let peer = if Some(from) == self.me {
                    to.unwrap_or(from)
                } else {
                    from
                };
                let posted = Posted {
                    seq: seq.unwrap_or(0),
                    ts: ts.unwrap_or(0),
                    from,
                    name,
                    content,
                    to,
                    id: id.clone(),
                };
                self.settle(id.as_ref());
                self.direct_entry(peer);
                replies.extend(self.file(Conversation::Direct(peer), vec![posted], true));
            }
            ServerMessage::Ack {
                id,
                room,
                to,
                seq,
                ts,
            } => {
                if let (Some(sent), Some(me)) = (self.settle(Some(&id)), self.me) {
                    let conversation = match (room, to) {
                        (Some(room), _) => Conversation::Room(room),
                        (None, Some(to)) => Conversation::Direct(to),
                        (None, None) => sent.to.clone(),
                    };
                    if let Conversation::Direct(peer) = &conversation {
                        self.direct_entry(*peer);
                    }
                    let posted = Posted {
                        seq,
                        ts,
                        from: me,
                        name: self.my_name(),
                        content: sent.content,
                        to: None,
                        id: Some(id),
                    };
                    replies.extend(self.file(conversation, vec![posted], true));
                }
            }
            ServerMessage::History {
                room,
                with,
                messages,
            } => {
                for posted in &messages {
                    self.names
                        .entry(posted.from)
                        .or_insert_with(|| posted.name.clone());
                }
                let conversation = match (room, with) {
                    (Some(room), _) => Conversation::Room(room),
                    (None, Some(with)) => {
                        if messages.is_empty() && self.direct(&with).is_none() {
                            return replies;
                        }
                        self.direct_entry(with);
                        Conversation::Direct(with)
                    }
                    (None, None) => return replies,
                };
                // A page of a fill under way continues it; a page that
                // opens a gap (a resume's replay) starts one.
                let was_filling = self.timeline_mut(&conversation).is_some_and(|timeline| {
                    timeline.loading_older = false;
                    timeline.filling.is_some()
                });
                replies.extend(self.file(conversation.clone(), messages, false));
                let next = self
                    .timeline_mut(&conversation)
                    .filter(|_| was_filling)
                    .and_then(Timeline::continue_fill);
                if let Some((after, before)) = next {
                    replies.push(history_request(
                        &conversation,
                        Some(after),
                        Some(before),
                        FILL_PAGE,
                    ));
                }
            }
            ServerMessage::UserRenamed { user, name } => {
                self.names.insert(user, name);
            }
            ServerMessage::Rooms { rooms } => self.lobby = rooms,
            ServerMessage::Typing { room, user, name } => {
                self.names.insert(user, name);
                self.typing.retain(|(place, who, until)| {
                    *until > now_ms && !(*place == room && *who == user)
                });
                self.typing.push((room, user, now_ms + TYPING_SHOWN_MS));
            }
            ServerMessage::Error {
                message, code, id, ..
            } => {
                if let Some(pending) = id.and_then(|id| self.unsent.iter_mut().find(|o| o.id == id))
                {
                    pending.failed = true;
                }
                if code == Some(ErrorCode::InvalidToken) {
                    // The old identity is gone; the welcome that follows
                    // brings the new one.
                    self.token = None;
                }
                self.notify(message);
            }
        }
        replies
    }

    /// Files stored messages into a conversation; returns the request that
    /// starts filling a gap, if they skip ahead of what was shown.
    ///
    /// Messages from others newer than what was shown count as unread unless
    /// the conversation is open; `live` says they are just happening (a
    /// first message in an empty conversation counts, a first page of
    /// history does not).
    fn file(
        &mut self,
        conversation: Conversation,
        messages: Vec<Posted>,
        live: bool,
    ) -> Vec<ClientMessage> {
        let (me, open) = (self.me, self.active.as_ref() == Some(&conversation));
        let Some(timeline) = self.timeline_mut(&conversation) else {
            return Vec::new(); // a room already left
        };
        let messages: Vec<Posted> = messages.into_iter().filter(|m| m.seq > 0).collect();
        if !open {
            let last = timeline.newest_seq();
            let unread = messages
                .iter()
                .filter(|m| Some(m.from) != me && !timeline.entries.contains_key(&(m.seq, 0)))
                .filter(|m| last.map_or(live, |last| m.seq > last))
                .count();
            timeline.unread += unread as u32;
        }
        match timeline.merge(messages, !live) {
            Some((after, before)) if timeline.filling.is_none() => {
                timeline.filling = Some((after, before));
                vec![history_request(
                    &conversation,
                    Some(after),
                    Some(before),
                    FILL_PAGE,
                )]
            }
            _ => Vec::new(),
        }
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

    /// The unsent messages going to matching conversations, in order.
    fn resend(&mut self, to: impl Fn(&Conversation) -> bool) -> Vec<ClientMessage> {
        self.unsent
            .iter_mut()
            .filter(|o| to(&o.to))
            .map(|o| {
                o.failed = false;
                o.message()
            })
            .collect()
    }

    /// The user wrote a message: it is pending until acknowledged. Returns
    /// what to send now, if the conversation is ready for it.
    pub fn compose(
        &mut self,
        to: Conversation,
        content: MessageContent,
        id: ClientId,
    ) -> Option<ClientMessage> {
        let outgoing = Unsent {
            id,
            to,
            content,
            failed: false,
        };
        let message = outgoing.message();
        let ready = self.status == ConnectionStatus::Connected
            && match &outgoing.to {
                Conversation::Room(room) => self.room(room).is_some(),
                Conversation::Direct(_) => true,
            };
        self.unsent.push(outgoing);
        ready.then_some(message)
    }

    /// Shows a conversation: it becomes the active one, and read.
    pub fn open(&mut self, conversation: Conversation) {
        if let Some(timeline) = self.timeline_mut(&conversation) {
            timeline.unread = 0;
        }
        self.active = Some(conversation);
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
        self.was_connected && self.status != ConnectionStatus::Connected
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
                    text: o.content.as_str().to_owned(),
                    ts: None,
                    delivery: if o.failed {
                        Delivery::Failed
                    } else {
                        Delivery::Pending
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

/// Marks each message that follows one from the same sender closely enough.
fn group(lines: &mut [Line]) {
    for i in 1..lines.len() {
        let continued = match (&lines[i - 1].kind, &lines[i].kind) {
            (
                LineKind::Message {
                    from: Some(a),
                    ts: ta,
                    ..
                },
                LineKind::Message {
                    from: Some(b),
                    ts: tb,
                    ..
                },
            ) => {
                a == b
                    && match (ta, tb) {
                        (Some(ta), Some(tb)) => tb - ta < GROUP_WITHIN_MS,
                        // A pending message has no time yet: it is now.
                        _ => true,
                    }
            }
            _ => false,
        };
        lines[i].continued = continued;
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
mod tests {
    use super::*;

    fn room(name: &str) -> RoomName {
        RoomName::parse(name).unwrap()
    }

    fn user(n: u8) -> UserId {
        UserId::parse(&format!("00000000-0000-4000-8000-0000000000{n:02}")).unwrap()
    }

    fn name(text: &str) -> DisplayName {
        DisplayName::parse(text).unwrap()
    }

    fn id(text: &str) -> ClientId {
        ClientId::parse(text).unwrap()
    }

    fn posted(seq: u64, from: UserId, text: &str) -> Posted {
        Posted {
            seq,
            ts: 1_000 + seq as i64,
            from,
            name: from.guest_name(),
            content: MessageContent::parse(text).unwrap(),
            to: None,
            id: None,
        }
    }

    fn live(room_name: &str, message: Posted) -> ServerMessage {
        ServerMessage::RoomMessage {
            room: room(room_name),
            from: message.from,
            content: message.content,
            name: Some(message.name),
            seq: Some(message.seq),
            ts: Some(message.ts),
            id: message.id,
        }
    }

    fn history(room_name: &str, messages: Vec<Posted>) -> ServerMessage {
        ServerMessage::History {
            room: Some(room(room_name)),
            with: None,
            messages,
        }
    }

    fn connected_as(me: UserId) -> ChatState {
        let mut state = ChatState::default();
        welcome(&mut state, me, "e1");
        state
    }

    /// The server's `welcome` to `me`, its history numbered in `epoch`.
    fn welcome(state: &mut ChatState, me: UserId, epoch: &str) -> Vec<ClientMessage> {
        state.apply(ServerMessage::Welcome {
            user: me,
            name: name("Me"),
            token: "token-1".into(),
            protocol: PROTOCOL_VERSION,
            epoch: Some(epoch.into()),
        })
    }

    fn joined(state: &mut ChatState, room_name: &str) -> Vec<ClientMessage> {
        state.apply(ServerMessage::Joined {
            room: room(room_name),
            members: Some(vec![Member {
                user: state.me.unwrap(),
                name: name("Me"),
            }]),
        })
    }

    /// (text, delivery) of the active conversation's messages.
    fn texts(state: &ChatState) -> Vec<(String, Delivery)> {
        state
            .active_lines()
            .into_iter()
            .filter_map(|line| match line.kind {
                LineKind::Message { text, delivery, .. } => Some((text, delivery)),
                _ => None,
            })
            .collect()
    }

    fn sent(items: &[&str]) -> Vec<(String, Delivery)> {
        items
            .iter()
            .map(|t| (t.to_string(), Delivery::Sent))
            .collect()
    }

    #[test]
    fn joining_opens_the_room_with_its_members_and_their_names() {
        let mut state = connected_as(user(1));
        assert_eq!(state.status, ConnectionStatus::Connected);
        assert_eq!(state.token.as_deref(), Some("token-1"));
        state.apply(ServerMessage::Joined {
            room: room("general"),
            members: Some(vec![
                Member {
                    user: user(1),
                    name: name("Me"),
                },
                Member {
                    user: user(2),
                    name: name("Ben"),
                },
            ]),
        });
        assert_eq!(state.active, Some(Conversation::Room(room("general"))));
        let view = state.room(&room("general")).unwrap();
        assert_eq!(view.members, BTreeSet::from([user(1), user(2)]));
        assert_eq!(state.name_of(user(2)), name("Ben"));
        assert_eq!(state.name_of(user(9)), user(9).guest_name());
        state.apply(ServerMessage::UserRenamed {
            user: user(2),
            name: name("Benedita"),
        });
        assert_eq!(state.name_of(user(2)), name("Benedita"));
    }

    #[test]
    fn events_and_messages_become_lines_in_order() {
        let mut state = connected_as(user(1));
        joined(&mut state, "general");
        state.apply(ServerMessage::UserJoined {
            room: room("general"),
            user: user(2),
            name: Some(name("Ben")),
        });
        state.apply(live("general", posted(1, user(2), "<b>hi</b>")));
        state.apply(ServerMessage::UserLeft {
            room: room("general"),
            user: user(2),
        });
        let kinds: Vec<_> = state
            .active_lines()
            .into_iter()
            .map(|line| line.kind)
            .collect();
        assert_eq!(kinds.len(), 3);
        assert_eq!(kinds[0], LineKind::Joined(user(2)));
        assert!(
            matches!(&kinds[1], LineKind::Message { text, from: Some(from), .. } if text == "<b>hi</b>" && *from == user(2))
        );
        assert_eq!(kinds[2], LineKind::Left(user(2)));
        assert_eq!(
            state.room(&room("general")).unwrap().members,
            BTreeSet::from([user(1)])
        );
    }

    #[test]
    fn a_message_seen_twice_shows_once_and_older_pages_slot_in_before() {
        let mut state = connected_as(user(1));
        joined(&mut state, "a");
        state.apply(history(
            "a",
            vec![posted(5, user(2), "five"), posted(6, user(2), "six")],
        ));
        state.apply(live("a", posted(6, user(2), "six")));
        state.apply(live("a", posted(7, user(2), "seven")));
        assert_eq!(texts(&state), sent(&["five", "six", "seven"]));
        assert!(state.active_has_older());
        let request = state.load_older(&Conversation::Room(room("a"))).unwrap();
        assert_eq!(
            request,
            ClientMessage::History {
                room: room("a"),
                before: Some(5),
                after: None,
                limit: Some(PAGE)
            }
        );
        // One request at a time.
        assert_eq!(state.load_older(&Conversation::Room(room("a"))), None);
        let replies = state.apply(history(
            "a",
            (1..=4)
                .map(|n| posted(n, user(2), &n.to_string()))
                .collect(),
        ));
        assert!(replies.is_empty(), "an older page is no gap: {replies:?}");
        assert_eq!(
            texts(&state),
            sent(&["1", "2", "3", "4", "five", "six", "seven"])
        );
        assert!(!state.active_has_older());
    }

    #[test]
    fn own_messages_are_pending_until_acknowledged_and_resent_after_a_reconnect() {
        let mut state = connected_as(user(1));
        joined(&mut state, "a");
        let to = Conversation::Room(room("a"));
        let first = state.compose(to.clone(), MessageContent::parse("one").unwrap(), id("m1"));
        assert_eq!(
            first,
            Some(ClientMessage::RoomMessage {
                room: room("a"),
                content: MessageContent::parse("one").unwrap(),
                id: Some(id("m1")),
            })
        );
        state.compose(to.clone(), MessageContent::parse("two").unwrap(), id("m2"));
        assert_eq!(
            texts(&state),
            [
                ("one".into(), Delivery::Pending),
                ("two".into(), Delivery::Pending)
            ]
        );
        // The ack files "one" as sent; its echo later changes nothing.
        state.apply(ServerMessage::Ack {
            id: id("m1"),
            room: Some(room("a")),
            to: None,
            seq: 1,
            ts: 5,
        });
        let mut echo = posted(1, user(1), "one");
        echo.id = Some(id("m1"));
        state.apply(live("a", echo));
        assert_eq!(
            texts(&state),
            [
                ("one".into(), Delivery::Sent),
                ("two".into(), Delivery::Pending)
            ]
        );

        // The connection drops before "two" is acknowledged; the greeting
        // resumes after seq 1 and "two" goes again once the room is back.
        assert!(!state.reconnecting());
        state.disconnected();
        assert!(state.reconnecting(), "a lost connection shows");

        assert_eq!(
            state.greeting(),
            [
                ClientMessage::Hello {
                    protocol: PROTOCOL_VERSION,
                    token: Some("token-1".into())
                },
                ClientMessage::JoinRoom {
                    room: room("a"),
                    after: Some(1)
                },
            ]
        );
        // Offline, a new message is only queued.
        assert_eq!(
            state.compose(to, MessageContent::parse("three").unwrap(), id("m3")),
            None
        );
        connected_again(&mut state);
        let resent = joined(&mut state, "a");
        let ids: Vec<_> = resent
            .iter()
            .map(|m| match m {
                ClientMessage::RoomMessage { id, .. } => id.clone().unwrap(),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(ids, [id("m2"), id("m3")]);
    }

    fn connected_again(state: &mut ChatState) {
        welcome(state, user(1), "e1");
    }

    #[test]
    fn a_history_that_started_over_is_shown_afresh_not_merged_with_the_old_one() {
        let mut state = connected_as(user(1));
        joined(&mut state, "a");
        state.apply(history(
            "a",
            vec![posted(1, user(2), "old one"), posted(2, user(3), "old two")],
        ));
        state.open_direct(user(2));
        state.apply(ServerMessage::History {
            room: None,
            with: Some(user(2)),
            messages: vec![posted(1, user(2), "old direct")],
        });
        state.open(Conversation::Room(room("a")));
        state.compose(
            Conversation::Room(room("a")),
            MessageContent::parse("unsent").unwrap(),
            id("m1"),
        );
        state.disconnected();

        // The same numbering: the resume goes on from what was shown.
        let replies = welcome(&mut state, user(1), "e1");
        assert!(
            !replies.contains(&history_request(
                &Conversation::Room(room("a")),
                None,
                None,
                PAGE
            )),
            "{replies:?}"
        );
        state.disconnected();

        // A new numbering (memory storage restarted): nothing held is kept,
        // the latest pages are asked for, and the unsent message stays.
        let replies = welcome(&mut state, user(1), "e2");
        assert!(
            replies.contains(&history_request(
                &Conversation::Room(room("a")),
                None,
                None,
                PAGE
            )),
            "{replies:?}"
        );
        assert!(
            replies.contains(&history_request(
                &Conversation::Direct(user(2)),
                None,
                None,
                FILL_PAGE
            )),
            "{replies:?}"
        );
        assert_eq!(texts(&state), [("unsent".into(), Delivery::Pending)]);
        let resent = joined(&mut state, "a");
        assert_eq!(resent.len(), 1, "{resent:?}");
        // The new history's first message, by someone else, shows under its
        // own sender; the old seq 1 is gone.
        state.apply(live("a", posted(1, user(4), "new one")));
        state.apply(ServerMessage::Ack {
            id: id("m1"),
            room: Some(room("a")),
            to: None,
            seq: 2,
            ts: 9,
        });
        let shown: Vec<_> = state
            .active_lines()
            .into_iter()
            .filter_map(|line| match line.kind {
                LineKind::Message { from, text, .. } => Some((from, text)),
                _ => None,
            })
            .collect();
        assert_eq!(
            shown,
            [
                (Some(user(4)), "new one".to_owned()),
                (Some(user(1)), "unsent".to_owned())
            ]
        );
    }

    #[test]
    fn a_refused_message_is_marked_failed_and_can_be_retried() {
        let mut state = connected_as(user(1));
        joined(&mut state, "a");
        state.compose(
            Conversation::Room(room("a")),
            MessageContent::parse("x").unwrap(),
            id("m1"),
        );
        state.apply(ServerMessage::message_error(
            ErrorCode::Busy,
            Some(id("m1")),
            Some(room("a")),
            "busy",
        ));
        assert_eq!(texts(&state), [("x".into(), Delivery::Failed)]);
        assert_eq!(state.notices.len(), 1);
        assert!(state.retry(&id("m1")).is_some());
        assert_eq!(texts(&state), [("x".into(), Delivery::Pending)]);
    }

    fn fill_request(after: u64, before: u64) -> ClientMessage {
        ClientMessage::History {
            room: room("a"),
            before: Some(before),
            after: Some(after),
            limit: Some(FILL_PAGE),
        }
    }

    #[test]
    fn a_resume_gap_is_filled_page_by_page_until_closed() {
        let mut state = connected_as(user(1));
        joined(&mut state, "a");
        state.apply(history(
            "a",
            vec![posted(1, user(2), "1"), posted(2, user(2), "2")],
        ));
        // After a reconnect the replay starts at 500: 3..=499 are missing.
        let replies = state.apply(history("a", vec![posted(500, user(2), "500")]));
        assert_eq!(replies, [fill_request(2, 500)]);
        let replies = state.apply(history(
            "a",
            (3..=202).map(|n| posted(n, user(2), "x")).collect(),
        ));
        assert_eq!(replies, [fill_request(202, 500)]);
        let replies = state.apply(history(
            "a",
            (203..=402).map(|n| posted(n, user(2), "x")).collect(),
        ));
        assert_eq!(replies, [fill_request(402, 500)]);
        let replies = state.apply(history(
            "a",
            (403..=499).map(|n| posted(n, user(2), "x")).collect(),
        ));
        assert!(replies.is_empty(), "closed: {replies:?}");
        let seqs: Vec<u64> = state
            .room(&room("a"))
            .unwrap()
            .timeline
            .entries
            .keys()
            .map(|k| k.0)
            .collect();
        assert_eq!(seqs.len(), MAX_LINES.min(500));
        assert_eq!(*seqs.last().unwrap(), 500);
    }

    #[test]
    fn a_gap_fill_cut_off_by_a_disconnect_goes_on_after_the_reconnect() {
        let mut state = connected_as(user(1));
        joined(&mut state, "a");
        state.apply(history(
            "a",
            vec![posted(1, user(2), "1"), posted(2, user(2), "2")],
        ));
        state.apply(history("a", vec![posted(500, user(2), "500")]));
        let replies = state.apply(history(
            "a",
            (3..=202).map(|n| posted(n, user(2), "x")).collect(),
        ));
        assert_eq!(replies, [fill_request(202, 500)]);
        state.disconnected();
        assert_eq!(
            state.greeting()[1],
            ClientMessage::JoinRoom {
                room: room("a"),
                after: Some(500)
            }
        );
        connected_again(&mut state);
        assert_eq!(joined(&mut state, "a"), [fill_request(202, 500)]);
    }

    #[test]
    fn direct_conversations_catch_up_page_by_page_after_a_reconnect() {
        let mut state = connected_as(user(1));
        state.open_direct(user(2));
        let dm = |seqs: Vec<u64>| ServerMessage::History {
            room: None,
            with: Some(user(2)),
            messages: seqs.into_iter().map(|n| posted(n, user(2), "x")).collect(),
        };
        state.apply(dm((1..=5).collect()));
        state.disconnected();
        let ask = |after: u64| ClientMessage::DirectHistory {
            with: user(2),
            before: None,
            after: Some(after),
            limit: Some(FILL_PAGE),
        };
        assert_eq!(
            welcome(&mut state, user(1), "e1"),
            [ClientMessage::ListRooms, ask(5)]
        );
        assert_eq!(
            state.apply(dm((6..=205).collect())),
            [ask(205)],
            "a full page: ask on"
        );
        assert_eq!(state.apply(dm((206..=230).collect())), [ask(230)]);
        assert!(
            state.apply(dm(Vec::new())).is_empty(),
            "an empty page ends it"
        );
        assert_eq!(
            state.direct(&user(2)).unwrap().timeline.last_seq(),
            Some(230)
        );
    }

    #[test]
    fn a_gap_retention_pruned_is_given_up_after_an_empty_page() {
        let mut state = connected_as(user(1));
        joined(&mut state, "a");
        state.apply(history("a", vec![posted(1, user(2), "1")]));
        assert_eq!(
            state
                .apply(history("a", vec![posted(10, user(2), "10")]))
                .len(),
            1
        );
        assert!(state.apply(history("a", vec![])).is_empty());
    }

    #[test]
    fn identity_rooms_conversations_and_unsent_messages_survive_a_reload() {
        let mut state = connected_as(user(1));
        joined(&mut state, "a");
        joined(&mut state, "b");
        state.apply(ServerMessage::DirectMessage {
            from: user(2),
            content: MessageContent::parse("psst").unwrap(),
            to: Some(user(1)),
            name: Some(name("Ben")),
            seq: Some(1),
            ts: Some(5),
            id: None,
        });
        state.compose(
            Conversation::Room(room("b")),
            MessageContent::parse("unsent").unwrap(),
            id("m9"),
        );
        let saved = state.saved();
        let json = serde_json::to_value(&saved).unwrap();
        assert_eq!(Saved::from_json(&&json), Ok(saved.clone()));
        let reloaded = ChatState::restore(Saved::from_json(&&json).unwrap());
        assert_eq!(reloaded.token.as_deref(), Some("token-1"));
        assert_eq!(
            reloaded.greeting(),
            [
                ClientMessage::Hello {
                    protocol: PROTOCOL_VERSION,
                    token: Some("token-1".into())
                },
                ClientMessage::JoinRoom {
                    room: room("a"),
                    after: None
                },
                ClientMessage::JoinRoom {
                    room: room("b"),
                    after: None
                },
            ]
        );
        assert_eq!(reloaded.unsent.len(), 1);
        assert_eq!(reloaded.name_of(user(2)), name("Ben"));
        let mut reloaded = reloaded;
        let replies = welcome(&mut reloaded, user(1), "e1");
        assert_eq!(
            replies,
            [
                ClientMessage::ListRooms,
                ClientMessage::DirectHistory {
                    with: user(2),
                    before: None,
                    after: None,
                    limit: Some(FILL_PAGE)
                }
            ]
        );
    }

    #[test]
    fn a_save_written_by_an_earlier_page_reads_back() {
        let json = serde_json::json!({
            "token": "t",
            "rooms": ["a"],
            "directs": [[user(2).to_string(), "Ben"]],
            "outbox": [
                {"id": "m9", "to": {"Room": "a"}, "content": "unsent"},
                {"id": "m10", "to": {"Direct": user(2).to_string()}, "content": "psst"}
            ]
        });
        let saved = Saved::from_json(&&json).unwrap();
        assert_eq!(
            serde_json::to_value(&saved).unwrap(),
            json,
            "the same format both ways"
        );
        assert_eq!(saved.unsent[1].to, Conversation::Direct(user(2)));
        let broken = serde_json::json!({"rooms": ["a"], "directs": [[1, 2]]});
        assert!(Saved::from_json(&&broken).is_err());
        assert_eq!(
            Saved::from_json(&&serde_json::json!({})),
            Ok(Saved::default())
        );
    }

    #[test]
    fn direct_messages_both_ways_share_one_conversation_per_peer() {
        let mut state = connected_as(user(1));
        state.apply(ServerMessage::DirectMessage {
            from: user(2),
            content: MessageContent::parse("psst").unwrap(),
            to: Some(user(1)),
            name: None,
            seq: Some(1),
            ts: Some(5),
            id: None,
        });
        state.open_direct(user(2));
        state.compose(
            Conversation::Direct(user(2)),
            MessageContent::parse("yes?").unwrap(),
            id("d1"),
        );
        state.apply(ServerMessage::Ack {
            id: id("d1"),
            room: None,
            to: Some(user(2)),
            seq: 2,
            ts: 6,
        });
        // Written in another tab of mine.
        state.apply(ServerMessage::DirectMessage {
            from: user(1),
            content: MessageContent::parse("from my phone").unwrap(),
            to: Some(user(2)),
            name: None,
            seq: Some(3),
            ts: Some(7),
            id: Some(id("other-tab")),
        });
        assert_eq!(texts(&state), sent(&["psst", "yes?", "from my phone"]));
        assert_eq!(state.directs.len(), 1);
    }

    #[test]
    fn a_late_joined_does_not_bring_back_a_room_the_user_left() {
        let mut state = connected_as(user(1));
        state.joining(&room("quick"));
        state.compose(
            Conversation::Room(room("quick")),
            MessageContent::parse("x").unwrap(),
            id("q"),
        );
        state.left(&room("quick"));
        assert!(state.unsent.is_empty(), "a left room's unsent messages go");
        joined(&mut state, "quick");
        assert!(state.room(&room("quick")).is_none());
        state.apply(live("quick", posted(1, user(2), "late")));
        assert!(state.room(&room("quick")).is_none());
        // Joining again later works.
        state.joining(&room("quick"));
        joined(&mut state, "quick");
        assert!(state.room(&room("quick")).is_some());
    }

    #[test]
    fn consecutive_messages_of_one_sender_are_grouped() {
        let mut state = connected_as(user(1));
        joined(&mut state, "a");
        let at = |seq: u64, from: UserId, ts: i64| {
            let mut message = posted(seq, from, "x");
            message.ts = ts;
            live("a", message)
        };
        state.apply(at(1, user(2), 0));
        state.apply(at(2, user(2), 60_000));
        state.apply(at(3, user(3), 61_000));
        state.apply(at(4, user(3), 61_000 + GROUP_WITHIN_MS));
        state.apply(ServerMessage::UserJoined {
            room: room("a"),
            user: user(4),
            name: None,
        });
        state.apply(at(5, user(3), 62_000 + GROUP_WITHIN_MS));
        let grouped: Vec<bool> = state.active_lines().iter().map(|l| l.continued).collect();
        assert_eq!(grouped, [false, true, false, false, false, false]);
    }

    #[test]
    fn messages_in_conversations_not_on_screen_count_as_unread_until_opened() {
        let mut state = connected_as(user(1));
        joined(&mut state, "a");
        joined(&mut state, "b");
        let (a, b) = (Conversation::Room(room("a")), Conversation::Room(room("b")));
        assert_eq!(state.active, Some(a.clone()));
        // A fresh join's history is not news.
        state.apply(history("b", vec![posted(1, user(2), "old")]));
        assert_eq!(state.unread(&b), 0);
        state.apply(live("b", posted(2, user(2), "new")));
        state.apply(live("b", posted(2, user(2), "new"))); // seen twice
        state.apply(live("b", posted(3, user(1), "mine")));
        state.apply(live("a", posted(1, user(2), "on screen")));
        assert_eq!((state.unread(&a), state.unread(&b)), (0, 1));
        // Missed during a disconnect and replayed: news too.
        state.apply(history("b", vec![posted(4, user(2), "missed")]));
        assert_eq!(state.unread(&b), 2);
        state.open(b.clone());
        assert_eq!(state.unread(&b), 0);
        // Direct messages likewise.
        state.apply(ServerMessage::DirectMessage {
            from: user(3),
            content: MessageContent::parse("psst").unwrap(),
            to: Some(user(1)),
            name: None,
            seq: Some(1),
            ts: Some(5),
            id: None,
        });
        assert_eq!(state.unread(&Conversation::Direct(user(3))), 1);
        state.open_direct(user(3));
        assert_eq!(state.unread(&Conversation::Direct(user(3))), 0);
    }

    #[test]
    fn opening_a_room_by_link_joins_it_once_then_just_opens_it() {
        let mut state = connected_as(user(1));
        let join = ClientMessage::JoinRoom {
            room: room("a"),
            after: None,
        };
        assert_eq!(state.open_room(room("a")), Some(join.clone()));
        assert_eq!(state.open_room(room("a")), None, "already on its way");
        assert_eq!(state.active, Some(Conversation::Room(room("a"))));
        joined(&mut state, "a");
        joined(&mut state, "b");
        assert_eq!(state.open_room(room("a")), None, "joined: just opened");
        state.left(&room("a"));
        assert_eq!(state.open_room(room("a")), Some(join), "left: joined again");
    }

    #[test]
    fn typing_shows_for_a_while_and_ends_with_the_message() {
        let mut state = connected_as(user(1));
        joined(&mut state, "a");
        let typing = |n: u8, who: &str| ServerMessage::Typing {
            room: room("a"),
            user: user(n),
            name: name(who),
        };
        assert_eq!(state.typing_label(&room("a"), 0), None);
        state.apply_at(typing(2, "Ana"), 1_000);
        assert_eq!(
            state.typing_label(&room("a"), 2_000).as_deref(),
            Some("Ana is typing…")
        );
        state.apply_at(typing(3, "Ben"), 3_000);
        assert_eq!(
            state.typing_label(&room("a"), 4_000).as_deref(),
            Some("Ana and Ben are typing…")
        );
        // Ana's runs out; Ben's is still fresh.
        assert_eq!(
            state
                .typing_label(&room("a"), 1_000 + TYPING_SHOWN_MS)
                .as_deref(),
            Some("Ben is typing…")
        );
        for (n, who) in [(4, "Cy"), (5, "Di"), (2, "Ana")] {
            state.apply_at(typing(n, who), 5_000);
        }
        assert_eq!(
            state.typing_label(&room("a"), 6_000).as_deref(),
            Some("Ben, Cy and 2 others are typing…")
        );
        // Ben's message arrives: he is done typing it.
        state.apply(live("a", posted(1, user(3), "done")));
        assert_eq!(
            state.typing_label(&room("a"), 6_000).as_deref(),
            Some("Cy, Di and Ana are typing…")
        );
    }

    #[test]
    fn lines_and_notices_stay_bounded() {
        let mut state = connected_as(user(1));
        joined(&mut state, "busy");
        for n in 1..=(MAX_LINES as u64 + 10) {
            state.apply(live("busy", posted(n, user(2), &n.to_string())));
        }
        let lines = texts(&state);
        assert_eq!(lines.len(), MAX_LINES);
        assert_eq!(lines[0].0, "11");
        for n in 0..5 {
            state.notify(format!("notice {n}"));
        }
        let notices: Vec<_> = state.notices.iter().map(|n| n.text.as_str()).collect();
        assert_eq!(notices, ["notice 2", "notice 3", "notice 4"]);
    }

    /// The sequence numbers of the active conversation's messages.
    fn seqs(state: &ChatState) -> Vec<u64> {
        texts(state)
            .iter()
            .map(|(text, _)| text.parse().unwrap())
            .collect()
    }

    fn page(range: std::ops::RangeInclusive<u64>) -> Vec<Posted> {
        range.map(|n| posted(n, user(2), &n.to_string())).collect()
    }

    #[test]
    fn far_up_a_long_history_the_newest_lines_go_and_paging_down_or_jumping_brings_them_back() {
        let mut state = connected_as(user(1));
        joined(&mut state, "long");
        let long = Conversation::Room(room("long"));
        state.apply(history("long", page(9_951..=10_000)));
        // Up through 600 older messages, a page at a time.
        for _ in 0..12 {
            let Some(ClientMessage::History { before, limit, .. }) = state.load_older(&long) else {
                panic!("an older page is asked for");
            };
            let before = before.unwrap();
            state.apply(history(
                "long",
                page(before - u64::from(limit.unwrap())..=before - 1),
            ));
        }
        let held = seqs(&state);
        assert_eq!(held.len(), MAX_LINES, "the lines held stay bounded");
        assert_eq!(held, (9_351..=9_850).collect::<Vec<_>>(), "the newest went");
        assert!(state.active_detached());
        // What happens meanwhile is noted, not shown after the lines held.
        state.apply(live("long", posted(10_001, user(2), "10001")));
        state.apply(ServerMessage::UserJoined {
            room: room("long"),
            user: user(3),
            name: None,
        });
        assert_eq!(seqs(&state).last(), Some(&9_850));
        assert_eq!(state.active_lines().len(), MAX_LINES);
        assert!(
            matches!(
                &state.greeting()[1],
                ClientMessage::JoinRoom {
                    after: Some(10_001),
                    ..
                }
            ),
            "a resume starts after the newest known, not the newest held"
        );
        // Paging down: the page after the last line held, once at a time.
        assert_eq!(
            state.load_newer(&long),
            Some(history_request(&long, Some(9_850), None, PAGE))
        );
        assert_eq!(state.load_newer(&long), None, "one on its way");
        state.apply(history("long", page(9_851..=9_900)));
        assert_eq!(seqs(&state), (9_401..=9_900).collect::<Vec<_>>());
        assert!(state.active_detached());
        // The latest page replaces the lines held, and they reach the end.
        assert_eq!(
            state.jump_to_latest(&long),
            Some(history_request(&long, None, None, PAGE))
        );
        state.apply(history("long", page(9_952..=10_001)));
        assert_eq!(seqs(&state), (9_952..=10_001).collect::<Vec<_>>());
        assert!(!state.active_detached());
        assert_eq!(state.load_newer(&long), None, "nothing past the end");
        state.apply(live("long", posted(10_002, user(2), "10002")));
        assert_eq!(seqs(&state).last(), Some(&10_002), "live again");
    }

    #[test]
    fn paging_down_to_the_end_joins_the_live_conversation_again() {
        let mut state = connected_as(user(1));
        joined(&mut state, "long");
        let long = Conversation::Room(room("long"));
        state.apply(history("long", page(551..=1_000)));
        state.load_older(&long);
        state.apply(history("long", page(501..=550)));
        state.load_older(&long);
        state.apply(history("long", page(451..=500)));
        assert_eq!(seqs(&state), (451..=950).collect::<Vec<_>>());
        state.load_newer(&long);
        state.apply(history("long", page(951..=1_000)));
        assert!(
            !state.active_detached(),
            "the page reached the newest known"
        );
        assert_eq!(seqs(&state), (501..=1_000).collect::<Vec<_>>());
        state.apply(live("long", posted(1_001, user(2), "1001")));
        assert_eq!(seqs(&state).last(), Some(&1_001));
    }
}

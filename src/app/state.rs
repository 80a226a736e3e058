//! What the chat screen shows, as plain data: the connection status, the
//! joined rooms with their members and lines, the direct conversations and
//! the notices. Server messages are applied here and UI actions recorded
//! here, with no browser API involved, so the rules are tested natively.

use std::collections::BTreeSet;

use crate::protocol::{ClientMessage, MessageContent, RoomName, ServerMessage, UserId};

/// Lines kept per conversation; older ones are dropped from memory and DOM.
const MAX_LINES: usize = 500;

/// Notices kept on screen at once; the oldest goes first.
const MAX_NOTICES: usize = 3;

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

/// Which conversation the main pane shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conversation {
    Room(RoomName),
    Direct(UserId),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineKind {
    Message { from: UserId, text: String },
    Joined(UserId),
    Left(UserId),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Unique in this state, the key for keyed rendering.
    pub id: u64,
    pub kind: LineKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomView {
    pub name: RoomName,
    pub members: BTreeSet<UserId>,
    pub lines: Vec<Line>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectView {
    pub peer: UserId,
    pub lines: Vec<Line>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub id: u64,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChatState {
    pub status: ConnectionStatus,
    pub me: Option<UserId>,
    /// Joined rooms in the order they were joined.
    pub rooms: Vec<RoomView>,
    pub directs: Vec<DirectView>,
    pub active: Option<Conversation>,
    pub notices: Vec<Notice>,
    /// Rooms the user left whose late `joined` (from a join still in flight)
    /// must not bring them back.
    left: BTreeSet<RoomName>,
    next_id: u64,
}

impl ChatState {
    /// What a fresh connection sends first: `hello`, then a join for every
    /// room the user was in, so a reconnect puts them back where they were.
    pub fn greeting(&self) -> Vec<ClientMessage> {
        let hello = ClientMessage::Hello {
            protocol: crate::protocol::PROTOCOL_VERSION,
        };
        let joins = self.rooms.iter().map(|room| ClientMessage::JoinRoom {
            room: room.name.clone(),
        });
        std::iter::once(hello).chain(joins).collect()
    }

    pub fn apply(&mut self, message: ServerMessage) {
        match message {
            ServerMessage::Welcome { user, .. } => {
                self.me = Some(user);
                self.status = ConnectionStatus::Connected;
            }
            ServerMessage::Joined { room, members } => {
                if self.left.contains(&room) {
                    return;
                }
                let view = self.room_entry(room.clone());
                if let Some(members) = members {
                    view.members = members.into_iter().collect();
                }
                if self.active.is_none() {
                    self.active = Some(Conversation::Room(room));
                }
            }
            ServerMessage::UserJoined { room, user } => {
                self.room_line(&room, LineKind::Joined(user), |view| {
                    view.members.insert(user);
                });
            }
            ServerMessage::UserLeft { room, user } => {
                self.room_line(&room, LineKind::Left(user), |view| {
                    view.members.remove(&user);
                });
            }
            ServerMessage::RoomMessage {
                room,
                from,
                content,
            } => {
                let kind = LineKind::Message {
                    from,
                    text: content.into(),
                };
                self.room_line(&room, kind, |_| {});
            }
            ServerMessage::DirectMessage { from, content } => {
                let kind = LineKind::Message {
                    from,
                    text: content.into(),
                };
                self.direct_line(from, kind);
            }
            ServerMessage::Error { message, .. } => self.notify(message),
        }
    }

    /// The connection dropped: who is online is unknown until it is back.
    pub fn disconnected(&mut self) {
        self.status = ConnectionStatus::Disconnected;
        self.me = None;
        for room in &mut self.rooms {
            room.members.clear();
        }
    }

    /// Records the user's own direct message, which the server does not echo.
    pub fn sent_direct(&mut self, to: UserId, content: &MessageContent) {
        if let Some(me) = self.me {
            let kind = LineKind::Message {
                from: me,
                text: content.as_str().to_owned(),
            };
            self.direct_line(to, kind);
        }
    }

    /// The user asked to join `room`: a `joined` for it is welcome again.
    pub fn joining(&mut self, room: &RoomName) {
        self.left.remove(room);
    }

    /// Forgets a room the user left; the next room (if any) becomes active.
    pub fn left(&mut self, room: &RoomName) {
        self.left.insert(room.clone());
        self.rooms.retain(|view| &view.name != room);
        if self.active == Some(Conversation::Room(room.clone())) {
            self.active = self
                .rooms
                .first()
                .map(|view| Conversation::Room(view.name.clone()));
        }
    }

    pub fn open_direct(&mut self, peer: UserId) {
        self.direct_entry(peer);
        self.active = Some(Conversation::Direct(peer));
    }

    pub fn notify(&mut self, text: String) {
        let id = self.next_line_id();
        self.notices.push(Notice { id, text });
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

    /// The lines of the active conversation.
    pub fn active_lines(&self) -> Vec<Line> {
        match &self.active {
            Some(Conversation::Room(name)) => self.room(name).map(|v| v.lines.clone()),
            Some(Conversation::Direct(peer)) => self
                .directs
                .iter()
                .find(|v| v.peer == *peer)
                .map(|v| v.lines.clone()),
            None => None,
        }
        .unwrap_or_default()
    }

    fn room_entry(&mut self, name: RoomName) -> &mut RoomView {
        let index = match self.rooms.iter().position(|view| view.name == name) {
            Some(index) => index,
            None => {
                self.rooms.push(RoomView {
                    name,
                    members: BTreeSet::new(),
                    lines: Vec::new(),
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
                    lines: Vec::new(),
                });
                self.directs.len() - 1
            }
        };
        &mut self.directs[index]
    }

    /// Adds a line to a joined room; messages for rooms the user already
    /// left (still in flight when they left) are dropped.
    fn room_line(&mut self, room: &RoomName, kind: LineKind, update: impl FnOnce(&mut RoomView)) {
        let id = self.next_line_id();
        if let Some(view) = self.rooms.iter_mut().find(|view| &view.name == room) {
            update(view);
            push_bounded(&mut view.lines, Line { id, kind });
        }
    }

    fn direct_line(&mut self, peer: UserId, kind: LineKind) {
        let id = self.next_line_id();
        push_bounded(&mut self.direct_entry(peer).lines, Line { id, kind });
    }

    fn next_line_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }
}

fn push_bounded(lines: &mut Vec<Line>, line: Line) {
    lines.push(line);
    if lines.len() > MAX_LINES {
        lines.drain(..lines.len() - MAX_LINES);
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

    fn connected_as(me: UserId) -> ChatState {
        let mut state = ChatState::default();
        state.apply(ServerMessage::Welcome {
            user: me,
            protocol: 1,
        });
        state
    }

    #[test]
    fn joining_opens_the_room_with_its_members() {
        let mut state = connected_as(user(1));
        assert_eq!(state.status, ConnectionStatus::Connected);
        state.apply(ServerMessage::Joined {
            room: room("general"),
            members: Some(vec![user(1), user(2)]),
        });
        assert_eq!(state.active, Some(Conversation::Room(room("general"))));
        let view = state.room(&room("general")).unwrap();
        assert_eq!(view.members, BTreeSet::from([user(1), user(2)]));
    }

    #[test]
    fn joins_leaves_and_messages_become_lines_and_update_members() {
        let mut state = connected_as(user(1));
        state.apply(ServerMessage::Joined {
            room: room("general"),
            members: Some(vec![user(1)]),
        });
        state.apply(ServerMessage::UserJoined {
            room: room("general"),
            user: user(2),
        });
        state.apply(ServerMessage::RoomMessage {
            room: room("general"),
            from: user(2),
            content: MessageContent::parse("<b>hi</b>").unwrap(),
        });
        state.apply(ServerMessage::UserLeft {
            room: room("general"),
            user: user(2),
        });
        let kinds: Vec<_> = state
            .active_lines()
            .into_iter()
            .map(|line| line.kind)
            .collect();
        assert_eq!(
            kinds,
            [
                LineKind::Joined(user(2)),
                LineKind::Message {
                    from: user(2),
                    text: "<b>hi</b>".into()
                },
                LineKind::Left(user(2)),
            ]
        );
        assert_eq!(
            state.room(&room("general")).unwrap().members,
            BTreeSet::from([user(1)])
        );
    }

    #[test]
    fn messages_for_a_room_already_left_are_dropped() {
        let mut state = connected_as(user(1));
        state.apply(ServerMessage::Joined {
            room: room("a"),
            members: None,
        });
        state.apply(ServerMessage::Joined {
            room: room("b"),
            members: None,
        });
        state.left(&room("a"));
        assert_eq!(state.active, Some(Conversation::Room(room("b"))));
        state.apply(ServerMessage::RoomMessage {
            room: room("a"),
            from: user(2),
            content: MessageContent::parse("late").unwrap(),
        });
        assert!(state.room(&room("a")).is_none());
    }

    #[test]
    fn a_late_joined_does_not_bring_back_a_room_the_user_left() {
        let mut state = connected_as(user(1));
        state.joining(&room("quick"));
        state.left(&room("quick"));
        state.apply(ServerMessage::Joined {
            room: room("quick"),
            members: None,
        });
        assert!(state.room(&room("quick")).is_none());
        // Joining again later works.
        state.joining(&room("quick"));
        state.apply(ServerMessage::Joined {
            room: room("quick"),
            members: None,
        });
        assert!(state.room(&room("quick")).is_some());
    }

    #[test]
    fn direct_messages_both_ways_share_one_conversation_per_peer() {
        let mut state = connected_as(user(1));
        state.apply(ServerMessage::DirectMessage {
            from: user(2),
            content: MessageContent::parse("psst").unwrap(),
        });
        state.sent_direct(user(2), &MessageContent::parse("yes?").unwrap());
        state.open_direct(user(2));
        let texts: Vec<_> = state
            .active_lines()
            .into_iter()
            .map(|line| match line.kind {
                LineKind::Message { from, text } => (from, text),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(texts, [(user(2), "psst".into()), (user(1), "yes?".into())]);
        assert_eq!(state.directs.len(), 1);
    }

    #[test]
    fn a_reconnect_greets_and_rejoins_every_room() {
        let mut state = connected_as(user(1));
        state.apply(ServerMessage::Joined {
            room: room("a"),
            members: Some(vec![user(1)]),
        });
        state.apply(ServerMessage::Joined {
            room: room("b"),
            members: None,
        });
        state.disconnected();
        assert_eq!(state.status, ConnectionStatus::Disconnected);
        assert!(state.room(&room("a")).unwrap().members.is_empty());
        assert_eq!(
            state.greeting(),
            [
                ClientMessage::Hello { protocol: 1 },
                ClientMessage::JoinRoom { room: room("a") },
                ClientMessage::JoinRoom { room: room("b") },
            ]
        );
    }

    #[test]
    fn lines_and_notices_stay_bounded() {
        let mut state = connected_as(user(1));
        state.apply(ServerMessage::Joined {
            room: room("busy"),
            members: None,
        });
        for n in 0..(MAX_LINES + 10) {
            state.apply(ServerMessage::RoomMessage {
                room: room("busy"),
                from: user(2),
                content: MessageContent::parse(n.to_string()).unwrap(),
            });
        }
        let lines = state.active_lines();
        assert_eq!(lines.len(), MAX_LINES);
        assert_eq!(
            lines[0].kind,
            LineKind::Message {
                from: user(2),
                text: "10".into()
            }
        );
        for n in 0..5 {
            state.notify(format!("notice {n}"));
        }
        let texts: Vec<_> = state.notices.iter().map(|n| n.text.as_str()).collect();
        assert_eq!(texts, ["notice 2", "notice 3", "notice 4"]);
    }
}

//! The broker's state and the rules of the protocol: who is in which room,
//! who gets which message. Plain synchronous code owned by the broker task,
//! so every rule can be tested without sockets.

use std::collections::{HashMap, HashSet};

use axum::extract::ws::Utf8Bytes;
use tokio::sync::oneshot;
use tracing::{debug, info};

use crate::protocol::{
    ClientMessage, ErrorCode, MessageContent, PROTOCOL_VERSION, RoomName, ServerMessage, UserId,
    close_code,
};
use crate::server::outbox::{Outbound, Outbox};

use super::{Command, Kick};

/// Rooms one connection may be in at once: each costs the server memory,
/// and no person follows more rooms than this from one tab.
pub const MAX_ROOMS_PER_CONNECTION: usize = 100;

/// Members listed in `joined` at most: a frame must stay a bounded size
/// however large the room.
pub const MAX_MEMBERS_LISTED: usize = 1000;

#[derive(Default)]
pub(super) struct BrokerState {
    sessions: HashMap<UserId, Session>,
    rooms: HashMap<RoomName, Room>,
    /// Connections whose outbox filled up during the current command; they
    /// are evicted once it is handled (eviction itself broadcasts, and may
    /// find more).
    slow: Vec<UserId>,
    shutting_down: bool,
}

struct Session {
    outbox: Outbox,
    kick: oneshot::Sender<Kick>,
    rooms: HashSet<RoomName>,
    /// Said `hello`: may receive the protocol's additions.
    extended: bool,
}

/// Members keep a clone of their outbox here so a broadcast walks one map.
#[derive(Default)]
struct Room {
    members: HashMap<UserId, Outbox>,
}

/// Encodes a message once; the bytes are then shared by every recipient.
fn encode(message: &ServerMessage) -> Utf8Bytes {
    serde_json::to_string(message)
        .expect("a ServerMessage is strings and numbers and always encodes")
        .into()
}

impl BrokerState {
    pub(super) fn handle(&mut self, command: Command) {
        match command {
            Command::Connect { id, outbox, kick } => {
                let session = Session {
                    outbox,
                    kick,
                    rooms: HashSet::new(),
                    extended: false,
                };
                self.sessions.insert(id, session);
                if self.shutting_down {
                    self.notify_shutdown(id);
                }
            }
            Command::Client { id, message } => {
                if self.sessions.contains_key(&id) && !self.shutting_down {
                    self.client_message(id, message);
                }
            }
            Command::Disconnect { id } => {
                self.remove_session(id);
            }
            Command::SlowConsumer { id } => self.slow.push(id),
            Command::Shutdown => self.shutdown(),
        }
        self.evict_slow_consumers();
    }

    fn client_message(&mut self, id: UserId, message: ClientMessage) {
        match message {
            ClientMessage::Hello { protocol } => {
                debug!(%id, protocol, "hello");
                if let Some(session) = self.sessions.get_mut(&id) {
                    session.extended = true;
                }
                let welcome = ServerMessage::Welcome {
                    user: id,
                    protocol: PROTOCOL_VERSION,
                };
                self.send_to(id, &welcome);
            }
            ClientMessage::JoinRoom { room } => self.join(id, room),
            ClientMessage::LeaveRoom { room } => self.leave(id, room),
            ClientMessage::RoomMessage { room, content } => self.say(id, room, content),
            ClientMessage::DirectMessage { to, content } => self.direct(id, to, content),
        }
    }

    /// Joining twice announces nothing and changes nothing; the joiner gets
    /// `joined` again, so a client that retried its join still hears back.
    fn join(&mut self, id: UserId, room: RoomName) {
        let Some(session) = self.sessions.get_mut(&id) else {
            return;
        };
        if session.rooms.len() >= MAX_ROOMS_PER_CONNECTION && !session.rooms.contains(&room) {
            let text = format!(
                "you are in {MAX_ROOMS_PER_CONNECTION} rooms, the most one connection may join; leave one first"
            );
            self.send_to(
                id,
                &ServerMessage::room_error(ErrorCode::TooManyRooms, room, text),
            );
            return;
        }
        let newly_joined = session.rooms.insert(room.clone());
        let extended = session.extended;
        let outbox = session.outbox.clone();
        let members = self.rooms.entry(room.clone()).or_default();
        if newly_joined {
            debug!(%id, %room, "join");
            let announcement = encode(&ServerMessage::UserJoined {
                room: room.clone(),
                user: id,
            });
            members.members.insert(id, outbox);
            self.broadcast(&room, &announcement, Some(id));
        }
        let member_list = extended.then(|| {
            let mut ids: Vec<UserId> = self.rooms[&room].members.keys().copied().collect();
            ids.sort();
            ids.truncate(MAX_MEMBERS_LISTED);
            ids
        });
        self.send_to(
            id,
            &ServerMessage::Joined {
                room,
                members: member_list,
            },
        );
    }

    fn leave(&mut self, id: UserId, room: RoomName) {
        let was_member = self
            .sessions
            .get_mut(&id)
            .is_some_and(|session| session.rooms.remove(&room));
        if was_member {
            debug!(%id, %room, "leave");
            self.remove_member(id, &room);
        } else {
            let message = format!("you are not in room '{room}'");
            self.send_to(
                id,
                &ServerMessage::room_error(ErrorCode::NotAMember, room, message),
            );
        }
    }

    fn say(&mut self, id: UserId, room: RoomName, content: MessageContent) {
        let is_member = self
            .rooms
            .get(&room)
            .is_some_and(|r| r.members.contains_key(&id));
        if !is_member {
            let message = format!("join room '{room}' before posting to it");
            self.send_to(
                id,
                &ServerMessage::room_error(ErrorCode::NotAMember, room, message),
            );
            return;
        }
        let frame = encode(&ServerMessage::RoomMessage {
            room: room.clone(),
            from: id,
            content,
        });
        self.broadcast(&room, &frame, None);
    }

    fn direct(&mut self, id: UserId, to: UserId, content: MessageContent) {
        if self.sessions.contains_key(&to) {
            self.send_to(to, &ServerMessage::DirectMessage { from: id, content });
        } else {
            let message = format!("no connected user has id {to}");
            self.send_to(id, &ServerMessage::error(ErrorCode::UnknownUser, message));
        }
    }

    /// Removes `id` from `room` (its session's own room set is the caller's
    /// business), tells the rest, and drops the room once it is empty.
    fn remove_member(&mut self, id: UserId, room: &RoomName) {
        let Some(members) = self.rooms.get_mut(room) else {
            return;
        };
        members.members.remove(&id);
        if members.members.is_empty() {
            self.rooms.remove(room);
            return;
        }
        let announcement = encode(&ServerMessage::UserLeft {
            room: room.clone(),
            user: id,
        });
        self.broadcast(room, &announcement, None);
    }

    /// Forgets a connection and announces `user_left` in each of its rooms.
    /// Exactly once: a second call finds no session.
    fn remove_session(&mut self, id: UserId) -> Option<oneshot::Sender<Kick>> {
        let session = self.sessions.remove(&id)?;
        for room in &session.rooms {
            self.remove_member(id, room);
        }
        Some(session.kick)
    }

    fn shutdown(&mut self) {
        self.shutting_down = true;
        info!(
            sessions = self.sessions.len(),
            "telling every client the server is shutting down"
        );
        let ids: Vec<UserId> = self.sessions.keys().copied().collect();
        for id in ids {
            self.notify_shutdown(id);
        }
    }

    /// Queues the shutdown notice and the 1012 close frame; a connection
    /// with no room for them is kicked, and its writer sends 1012 directly.
    fn notify_shutdown(&mut self, id: UserId) {
        let Some(session) = self.sessions.get(&id) else {
            return;
        };
        let notice = encode(&ServerMessage::error(
            ErrorCode::ShuttingDown,
            "server shutting down",
        ));
        let queued = session.outbox.push(Outbound::Text(notice)).and_then(|()| {
            session.outbox.push(Outbound::Close {
                code: close_code::SERVICE_RESTART,
                reason: Utf8Bytes::from_static("server restarting"),
            })
        });
        if queued.is_err() {
            self.slow.push(id);
        }
    }

    fn broadcast(&mut self, room: &RoomName, frame: &Utf8Bytes, except: Option<UserId>) {
        // Once shutting down, every queue ends with its close frame: anything
        // queued after it would only fill queues and never be sent.
        if self.shutting_down {
            return;
        }
        let Some(room) = self.rooms.get(room) else {
            return;
        };
        for (id, outbox) in &room.members {
            if Some(*id) != except && outbox.push(Outbound::Text(frame.clone())).is_err() {
                self.slow.push(*id);
            }
        }
    }

    fn send_to(&mut self, id: UserId, message: &ServerMessage) {
        if let Some(session) = self.sessions.get(&id) {
            if session
                .outbox
                .push(Outbound::Text(encode(message)))
                .is_err()
            {
                self.slow.push(id);
            }
        }
    }

    fn evict_slow_consumers(&mut self) {
        while let Some(id) = self.slow.pop() {
            if let Some(kick) = self.remove_session(id) {
                let reason = if self.shutting_down {
                    Kick::ShuttingDown
                } else {
                    Kick::SlowConsumer
                };
                info!(%id, ?reason, "evicting a slow consumer");
                let _ = kick.send(reason);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::outbox::OutboxReceiver;

    struct Client {
        id: UserId,
        frames: OutboxReceiver,
        kicked: oneshot::Receiver<Kick>,
    }

    impl Client {
        fn received(&mut self) -> Vec<serde_json::Value> {
            let mut out = Vec::new();
            while let Some(frame) = self.frames.try_recv() {
                match frame {
                    Outbound::Text(text) => out.push(serde_json::from_str(text.as_str()).unwrap()),
                    Outbound::Close { code, .. } => out.push(serde_json::json!({ "close": code })),
                }
            }
            out
        }
    }

    fn connect(state: &mut BrokerState, capacity: usize) -> Client {
        let id = UserId::new_random();
        let (outbox, frames) = Outbox::channel(capacity, 1 << 20);
        let (kick, kicked) = oneshot::channel();
        state.handle(Command::Connect { id, outbox, kick });
        Client { id, frames, kicked }
    }

    fn send(state: &mut BrokerState, client: &Client, json: serde_json::Value) {
        let message = serde_json::from_value(json).unwrap();
        state.handle(Command::Client {
            id: client.id,
            message,
        });
    }

    fn join(state: &mut BrokerState, client: &mut Client, room: &str) {
        send(
            state,
            client,
            serde_json::json!({"type": "join_room", "room": room}),
        );
        client.received();
    }

    #[test]
    fn a_slow_consumer_is_evicted_and_announced_without_stalling_the_room() {
        let mut state = BrokerState::default();
        let mut fast = connect(&mut state, 100);
        let mut slow = connect(&mut state, 3);
        join(&mut state, &mut fast, "general");
        join(&mut state, &mut slow, "general");
        fast.received();
        for n in 0..4 {
            send(
                &mut state,
                &fast,
                serde_json::json!({"type": "room_message", "room": "general", "content": n.to_string()}),
            );
        }
        assert_eq!(slow.kicked.try_recv(), Ok(Kick::SlowConsumer));
        let fast_saw = fast.received();
        assert_eq!(fast_saw.len(), 5, "{fast_saw:?}");
        assert_eq!(
            fast_saw[4],
            serde_json::json!({"type": "user_left", "room": "general", "user": slow.id.to_string()})
        );
        // Evicted once: a later disconnect from its reader announces nothing.
        state.handle(Command::Disconnect { id: slow.id });
        assert!(fast.received().is_empty());
    }

    #[test]
    fn shutdown_sends_the_notice_then_1012_and_refuses_new_requests() {
        let mut state = BrokerState::default();
        let mut client = connect(&mut state, 10);
        state.handle(Command::Shutdown);
        send(
            &mut state,
            &client,
            serde_json::json!({"type": "join_room", "room": "late"}),
        );
        assert_eq!(
            client.received(),
            [
                serde_json::json!({"type": "error", "message": "server shutting down", "code": "shutting_down"}),
                serde_json::json!({"close": 1012}),
            ]
        );
    }

    #[test]
    fn a_full_queue_at_shutdown_is_kicked_with_1012_not_1013() {
        let mut state = BrokerState::default();
        let client = connect(&mut state, 1);
        let mut client = client;
        state.handle(Command::Shutdown);
        assert_eq!(client.kicked.try_recv(), Ok(Kick::ShuttingDown));
    }

    #[test]
    fn the_member_list_in_joined_is_capped() {
        let mut state = BrokerState::default();
        let mut crowd = Vec::new();
        // Queues large enough for every join announcement, so nobody is evicted.
        for _ in 0..MAX_MEMBERS_LISTED + 5 {
            let mut member = connect(&mut state, 2 * MAX_MEMBERS_LISTED);
            join(&mut state, &mut member, "stadium");
            crowd.push(member);
        }
        let newcomer = connect(&mut state, 4);
        let mut newcomer = newcomer;
        send(&mut state, &newcomer, serde_json::json!({"type": "hello"}));
        send(
            &mut state,
            &newcomer,
            serde_json::json!({"type": "join_room", "room": "stadium"}),
        );
        let joined = newcomer.received().pop().unwrap();
        assert_eq!(
            joined["members"].as_array().unwrap().len(),
            MAX_MEMBERS_LISTED
        );
    }

    #[test]
    fn joined_lists_members_only_for_clients_that_said_hello() {
        let mut state = BrokerState::default();
        let mut plain = connect(&mut state, 10);
        let mut modern = connect(&mut state, 10);
        join(&mut state, &mut plain, "general");
        send(&mut state, &modern, serde_json::json!({"type": "hello"}));
        send(
            &mut state,
            &modern,
            serde_json::json!({"type": "join_room", "room": "general"}),
        );
        let mut ids = [plain.id.to_string(), modern.id.to_string()];
        ids.sort();
        assert_eq!(
            modern.received(),
            [
                serde_json::json!({"type": "welcome", "user": modern.id.to_string(), "protocol": 1}),
                serde_json::json!({"type": "joined", "room": "general", "members": ids}),
            ]
        );
    }
}

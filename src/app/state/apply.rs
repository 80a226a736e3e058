//! Applying what the server sends to the chat state: the one reducer over
//! server messages, and the filing of stored messages (and changes to
//! them) into conversations.

use super::*;

impl ChatState {
    /// The notifications new live `messages` of `conversation` are due:
    /// others' messages (not one seen before), as the conversation's level
    /// says.
    fn alerts_for(&self, conversation: &Conversation, messages: &[Posted]) -> Vec<Alert> {
        let level = self.alert_level(conversation);
        let Some(timeline) = self.timeline(conversation) else {
            return Vec::new();
        };
        messages
            .iter()
            .filter(|m| Some(m.from) != self.me && timeline.message(m.seq).is_none())
            .filter(|m| match level {
                AlertLevel::All => true,
                AlertLevel::Mentions => self.me.is_some_and(|me| m.extras.mentions.contains(&me)),
                AlertLevel::Nothing => false,
            })
            .map(|m| {
                let place = match conversation {
                    Conversation::Room(room) => format!(" in #{room}"),
                    Conversation::Direct(_) => String::new(),
                };
                let mut body = crate::markup::plain(m.content.as_str());
                if let Some((cut, _)) = body.char_indices().nth(ALERT_CHARS) {
                    body.truncate(cut);
                    body.push('…');
                }
                Alert {
                    title: format!("{}{place}", m.name),
                    body,
                    conversation: conversation.clone(),
                }
            })
            .collect()
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
                username,
                admin,
                ..
            } => {
                self.me = Some(user);
                self.admin = admin;
                self.username = username;
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
            ServerMessage::Joined {
                room,
                members,
                settings,
            } => {
                self.pending_joins.remove(&room);
                if self.left.contains(&room) {
                    return replies;
                }
                let view = self.room_entry(room.clone());
                if let Some(settings) = settings {
                    view.settings = settings;
                }
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
            // The user themselves: put out of the room (kicked, banned, no
            // longer a member of a private one).
            ServerMessage::UserLeft { room, user } if Some(user) == self.me => self.left(&room),
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
                reply_to,
                mentions,
                quote,
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
                    extras: Extras {
                        reply_to,
                        mentions,
                        quote,
                        ..Extras::default()
                    },
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
                reply_to,
                quote,
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
                    extras: Extras {
                        reply_to,
                        quote,
                        ..Extras::default()
                    },
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
                    // A reply quotes what it answers as held now: it may
                    // leave the page later.
                    let quote = sent
                        .reply_to
                        .and_then(|to| self.quote(&conversation, to, None))
                        .map(Box::new);
                    let posted = Posted {
                        seq,
                        ts,
                        from: me,
                        name: self.my_name(),
                        content: sent.content,
                        to: None,
                        id: Some(id),
                        extras: Extras {
                            reply_to: sent.reply_to,
                            mentions: sent.mentions,
                            quote,
                            ..Extras::default()
                        },
                    };
                    replies.extend(self.file(conversation, vec![posted], true));
                }
                replies.extend(self.next_held(&|_| true));
            }
            ServerMessage::History {
                room,
                with,
                messages,
                changes,
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
                let empty = messages.is_empty();
                let was_filling = self.timeline_mut(&conversation).is_some_and(|timeline| {
                    let older = std::mem::take(&mut timeline.loading_older);
                    let other =
                        timeline.filling.is_some() || timeline.loading_newer || timeline.jumping;
                    if older && empty && !other {
                        timeline.bottomed = true;
                    }
                    timeline.filling.is_some()
                });
                // The changes' numbers first, so that they leave no gap;
                // then, with their messages held, the changes themselves.
                if let Some(timeline) = self.timeline_mut(&conversation) {
                    timeline.changes.extend(changes.iter().map(|c| c.seq));
                }
                replies.extend(self.file(conversation.clone(), messages, false));
                if let Some(timeline) = self.timeline_mut(&conversation) {
                    for change in changes {
                        timeline.change(change);
                    }
                }
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
            ServerMessage::RoomUpdated { room, settings } => {
                if let Some(view) = self.rooms.iter_mut().find(|view| view.name == room) {
                    view.settings = settings;
                }
            }
            // The user's rooms, from another device too: those not here
            // are joined, with what came while away as unread. (Those here
            // count what their resume brings.) A room left here stays left.
            ServerMessage::Memberships { rooms } => {
                for membership in rooms {
                    let room = membership.room;
                    if self.left.contains(&room) || self.room(&room).is_some() {
                        continue;
                    }
                    let view = self.room_entry(room.clone());
                    view.timeline.unread = membership.unread;
                    if self.pending_joins.insert(room.clone()) {
                        replies.push(ClientMessage::JoinRoom { room, after: None });
                    }
                }
            }
            // Shown from issue 15's next step (the web client's edits,
            // deletions and reactions); until then the text stays as sent.
            ServerMessage::MessageChanged { room, to, change } => {
                let conversation = match (room, to) {
                    (Some(room), _) => Conversation::Room(room),
                    (None, Some(to)) => {
                        let peer = if Some(change.from) == self.me {
                            to
                        } else {
                            change.from
                        };
                        Conversation::Direct(peer)
                    }
                    (None, None) => return replies,
                };
                self.names.insert(change.from, change.name.clone());
                if let Some(timeline) = self.timeline_mut(&conversation) {
                    timeline.change(change);
                }
            }
            ServerMessage::SearchResults {
                query,
                results,
                more,
            } => self.found(query, results, more),
            ServerMessage::Typing { room, user, name } => {
                self.names.insert(user, name);
                self.typing.retain(|(place, who, until)| {
                    *until > now_ms && !(*place == room && *who == user)
                });
                self.typing.push((room, user, now_ms + TYPING_SHOWN_MS));
            }
            ServerMessage::Error {
                code: Some(ErrorCode::RateLimited),
                id,
                retry_after_ms,
                ..
            } => {
                // No notice: the composer says to slow down, and the
                // message goes again by itself.
                let wait = retry_after_ms.unwrap_or(1_000).min(60_000) as i64;
                self.slow_until = Some(self.slow_until.unwrap_or(0).max(now_ms + wait));
                if let Some(pending) = self.unsent_mut(id) {
                    pending.held = true;
                }
            }
            ServerMessage::Error {
                message,
                code,
                id,
                room,
                muted,
                retry_after_ms,
            } => {
                if let Some(pending) = self.unsent_mut(id) {
                    pending.failed = true;
                }
                // A join refused (private, banned): asking again may be
                // let in later.
                if let Some(room) = room.as_ref().filter(|room| self.room(room).is_none()) {
                    self.pending_joins.remove(room);
                }
                if let (Some(room), Some(muted)) = (room, muted) {
                    // Muted anew, or for longer, or no more.
                    self.muted.retain(|(place, _)| *place != room);
                    if muted {
                        let until = retry_after_ms.map(|ms| now_ms.saturating_add_unsigned(ms));
                        self.muted.push((room, until));
                    }
                }
                if code == Some(ErrorCode::InvalidToken) {
                    // The old identity is gone; the welcome that follows
                    // brings the new one.
                    self.token = None;
                }
                self.notify(message);
            }
        }
        replies.append(&mut self.marks);
        replies
    }

    /// Files stored messages into a conversation; returns the request that
    /// starts filling a gap, if they skip ahead of what was shown.
    ///
    /// Messages from others newer than what was shown count as unread unless
    /// the conversation is open; `live` says they are just happening (a
    /// first message in an empty conversation counts, a first page of
    /// history does not).
    pub(super) fn file(
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
            let unread: Vec<&Posted> = messages
                .iter()
                .filter(|m| Some(m.from) != me && !timeline.entries.contains_key(&(m.seq, 0)))
                .filter(|m| last.map_or(live, |last| m.seq > last))
                .collect();
            let mentions = unread
                .iter()
                .filter(|m| me.is_some_and(|me| m.extras.mentions.contains(&me)))
                .count();
            timeline.unread += unread.len() as u32;
            timeline.mentions += mentions as u32;
        }
        let alerts = if live && self.alerts_on {
            self.alerts_for(&conversation, &messages)
        } else {
            Vec::new()
        };
        self.alerts.extend(alerts);
        let Some(timeline) = self.timeline_mut(&conversation) else {
            return Vec::new();
        };
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
}

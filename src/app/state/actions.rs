//! What the user does to messages already sent: reply, react, edit,
//! delete, and whom a message names. Each returns the request to send; the
//! change shows when the server's `message_changed` comes back, so every
//! tab and every member sees the same thing.

use super::*;
use crate::protocol::{Emoji, Quoted};

impl ChatState {
    /// Puts `emoji` on message `seq`, or takes it off if the user's is
    /// there already (`on` said outright, so a resend changes nothing).
    pub fn react(&self, to: &Conversation, seq: u64, emoji: Emoji) -> Option<ClientMessage> {
        let me = self.me?;
        let mine = match self.timeline(to)?.message(seq)? {
            LineKind::Message { extras, .. } => extras.has_reacted(&emoji, me),
            _ => return None,
        };
        let (room, with) = place(to);
        Some(ClientMessage::React {
            room,
            with,
            seq,
            emoji,
            on: Some(!mine),
        })
    }

    pub fn edit(&self, to: &Conversation, seq: u64, content: MessageContent) -> ClientMessage {
        let (room, with) = place(to);
        ClientMessage::EditMessage {
            room,
            with,
            seq,
            content,
        }
    }

    pub fn delete(&self, to: &Conversation, seq: u64) -> ClientMessage {
        let (room, with) = place(to);
        ClientMessage::DeleteMessage { room, with, seq }
    }

    /// The user's own latest message in `to` that can still be edited:
    /// what the Up key in an empty composer edits.
    pub fn last_own(&self, to: &Conversation) -> Option<(u64, MessageContent)> {
        let me = self.me?;
        self.timeline(to)?
            .entries
            .values()
            .rev()
            .find_map(|line| match line {
                LineKind::Message {
                    from: Some(from),
                    seq: Some(seq),
                    text,
                    extras,
                    ..
                } if *from == me && !extras.deleted => Some((*seq, text.clone())),
                _ => None,
            })
    }

    /// The members of a room whose `@name` the text holds (a name followed
    /// by the end, a space or punctuation), by id.
    pub fn mentions_in(&self, to: &Conversation, text: &str) -> Vec<UserId> {
        let Conversation::Room(room) = to else {
            return Vec::new();
        };
        let Some(view) = self.room(room) else {
            return Vec::new();
        };
        let mut found: Vec<UserId> = view
            .members
            .iter()
            .copied()
            .filter(|user| names_at(text, self.name_of(*user).as_str()))
            .collect();
        found.sort_unstable();
        found.truncate(crate::protocol::MAX_MENTIONS);
        found
    }

    /// Members of the room whose names start with `prefix` (ASCII letters
    /// in any case: Unicode's case tables would cost the bundle 7 KB), for
    /// the composer's `@` suggestions: at most `most`, by name.
    pub fn members_named(
        &self,
        room: &RoomName,
        prefix: &str,
        most: usize,
    ) -> Vec<(UserId, DisplayName)> {
        let Some(view) = self.room(room) else {
            return Vec::new();
        };
        let mut found: Vec<(UserId, DisplayName)> = view
            .members
            .iter()
            .filter(|user| Some(**user) != self.me)
            .map(|user| (*user, self.name_of(*user)))
            .filter(|(_, name)| {
                let name = name.as_str();
                name.get(..prefix.len())
                    .is_some_and(|start| start.eq_ignore_ascii_case(prefix))
            })
            .collect();
        found.sort_by(|a, b| a.1.as_str().cmp(b.1.as_str()));
        found.truncate(most);
        found
    }
}

/// Messages shown before a message jumped to (and as many after).
const CONTEXT: u64 = 20;

impl ChatState {
    /// The message to bring into view in the open conversation, if any.
    pub fn active_focus(&self) -> Option<u64> {
        self.timeline(self.active.as_ref()?)?.focus
    }

    /// What a reply in `to` (numbered `reply`, if stored) shows of message
    /// `seq`: the message itself if held, else the quote the server sent
    /// with the reply (kept current by the changes since).
    pub fn quote(&self, to: &Conversation, seq: u64, reply: Option<u64>) -> Option<Quoted> {
        let timeline = self.timeline(to)?;
        if let Some(LineKind::Message {
            from: Some(from),
            name,
            text,
            extras,
            ..
        }) = timeline.message(seq)
        {
            return Some(Quoted::of(*from, name.clone(), text, extras.deleted));
        }
        match timeline.message(reply?)? {
            LineKind::Message { extras, .. } => extras.quote.as_deref().cloned(),
            _ => None,
        }
    }

    /// Shows message `seq` of `to` in its context: at once if held (the
    /// view brings it into sight), else the lines held give way to the
    /// page around it, read from history, and the reader pages on from
    /// there (newer, to the end, or older).
    pub fn jump_to(&mut self, to: &Conversation, seq: u64) -> Option<ClientMessage> {
        self.open(to.clone());
        let timeline = self.timeline_mut(to)?;
        timeline.focus = Some(seq);
        if timeline.message(seq).is_some() || timeline.loading_newer || timeline.jumping {
            return None;
        }
        let newest = timeline.newest_seq().unwrap_or(seq).max(seq);
        timeline.entries.clear();
        timeline.changes.clear();
        timeline.filling = None;
        timeline.bottomed = false;
        timeline.beyond = Some(newest);
        timeline.loading_newer = true;
        let after = seq.saturating_sub(CONTEXT + 1);
        Some(history_request(
            to,
            Some(after),
            None,
            2 * CONTEXT as u32 + 1,
        ))
    }
}

/// Whether `text` holds `@name` with nothing of a longer name after it.
fn names_at(text: &str, name: &str) -> bool {
    let needle = format!("@{name}");
    text.match_indices(&needle).any(|(at, _)| {
        text[at + needle.len()..]
            .chars()
            .next()
            .is_none_or(|next| !next.is_ascii_alphanumeric() && next != '_' && next != '-')
    })
}

/// A change request's `room` or `with`.
fn place(to: &Conversation) -> (Option<RoomName>, Option<UserId>) {
    match to {
        Conversation::Room(room) => (Some(room.clone()), None),
        Conversation::Direct(peer) => (None, Some(*peer)),
    }
}

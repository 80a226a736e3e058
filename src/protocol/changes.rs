//! What becomes of a message after it is posted: edits, deletion and
//! reactions. Each is an event numbered in its room's (or conversation's)
//! sequence, like a message, so resuming after a number brings the changes
//! made meanwhile too, once each and in order; and a message read from
//! history carries its state as it is now (its text, whether edited or
//! deleted, its reactions) with the number of the last change it reflects
//! (`rev`), so a change that a page already shows is not applied twice.
//!
//! The state follows the changes by [`Extras::apply`], the one rule that the
//! store, the broker's cache and the browser all run.

use serde::{Deserialize, Serialize};

use super::values::{DisplayName, Emoji, MessageContent, UserId};

/// One emoji on a message and who put it there, first reactor first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reaction {
    pub emoji: Emoji,
    pub users: Vec<UserId>,
}

/// A message's state beyond its text, each field absent while it has its
/// default: what a plain message that nobody touched carries is nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extras {
    /// The message this one answers, by its number in the same channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<u64>,
    /// The users the message names, by id, so a rename breaks nothing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mentions: Vec<UserId>,
    /// When it was last edited (server time, ms since the Unix epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited: Option<i64>,
    /// Deleted by its author: its text is gone (empty `content`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub deleted: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reactions: Vec<Reaction>,
    /// The number of the last change this state reflects; absent if none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rev: Option<u64>,
    /// What the message answers (`reply_to`), as it is now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quote: Option<Box<Quoted>>,
}

/// The message a reply answers, as it is now, so that a reader sees what
/// was answered without holding it: its author and its first line as
/// plain text, or that it was deleted. The server fills it in on every
/// message it sends and never stores it (a deleted original's words go
/// with it); the changes to the original keep it current
/// ([`Quoted::follow`]), as they keep the original.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quoted {
    pub from: UserId,
    pub name: DisplayName,
    /// The original's first line that has words, as plain text, cut at
    /// [`QUOTED_CHARS`] characters; empty once it is deleted.
    #[serde(default)]
    pub text: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub deleted: bool,
}

/// Characters of an original that a quote keeps at most (then "…").
pub const QUOTED_CHARS: usize = 100;

impl Quoted {
    /// How a reply quotes a message by `from` (named `name`) whose text is
    /// `content`.
    pub fn of(from: UserId, name: DisplayName, content: &MessageContent, deleted: bool) -> Self {
        Self {
            from,
            name,
            text: if deleted {
                String::new()
            } else {
                first_line(content)
            },
            deleted,
        }
    }

    /// Follows a change to the original: its new text, or its deletion.
    pub fn follow(&mut self, change: &Change, new_text: Option<&MessageContent>) {
        match (change, new_text) {
            (Change::Edit, Some(text)) if !self.deleted => self.text = first_line(text),
            (Change::Delete, _) => {
                self.text.clear();
                self.deleted = true;
            }
            _ => {}
        }
    }
}

/// The first line of `content` that has words, read as plain text.
fn first_line(content: &MessageContent) -> String {
    let plain = crate::markup::plain(content.as_str());
    let line = plain
        .lines()
        .map(str::trim)
        .find(|line| !line.is_empty())
        .unwrap_or("");
    match line.char_indices().nth(QUOTED_CHARS) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line.to_owned(),
    }
}

fn is_false(value: &bool) -> bool {
    !*value
}

/// Distinct emoji one message may carry: the picker's row, and a bound on
/// what one message costs to keep and send.
pub const MAX_REACTIONS: usize = 20;

/// What a change does. On the wire it is the `change` field of a
/// `message_changed` (and of each of `history`'s `changes`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Change {
    /// The author replaced the text (the new text is the change's `content`).
    Edit,
    /// The author deleted the message; its text is gone.
    Delete,
    /// `from` put `emoji` on the message (`on`) or took it off.
    React { emoji: Emoji, on: bool },
}

/// A change as it travels: in `history`'s `changes`, and live in a
/// `message_changed`. `seq` is the change's own number in the channel,
/// `target` the message's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostedChange {
    pub seq: u64,
    /// Server time, milliseconds since the Unix epoch.
    pub ts: i64,
    /// Who made it: the author for an edit or a deletion, the reactor for a
    /// reaction.
    pub from: UserId,
    pub name: DisplayName,
    pub target: u64,
    #[serde(flatten)]
    pub change: Change,
    /// An edit's new text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<MessageContent>,
}

impl Extras {
    /// Whether there is nothing to say beyond the text.
    pub fn is_plain(&self) -> bool {
        *self == Self::default()
    }

    /// Applies the change numbered `seq`, made by `from` at `ts`, to a
    /// message whose text is `content`; `new_text` is an edit's. A change
    /// the state already reflects (numbered at or below `rev`) changes
    /// nothing: false. Reactions are set, not toggled, so applying one
    /// twice is harmless anyway; an edit of a deleted message is ignored.
    pub fn apply(
        &mut self,
        content: &mut MessageContent,
        change: &Change,
        new_text: Option<&MessageContent>,
        (from, seq, ts): (UserId, u64, i64),
    ) -> bool {
        if self.rev.is_some_and(|rev| seq <= rev) {
            return false;
        }
        match change {
            Change::Edit => {
                if let (false, Some(text)) = (self.deleted, new_text) {
                    *content = text.clone();
                    self.edited = Some(ts);
                }
            }
            Change::Delete => {
                *content = MessageContent::removed();
                self.deleted = true;
                self.mentions.clear();
                self.reactions.clear();
                self.quote = None;
            }
            Change::React { emoji, on } => self.react(emoji, from, *on),
        }
        self.rev = Some(seq);
        true
    }

    /// Whether `user` has put `emoji` on the message.
    pub fn has_reacted(&self, emoji: &Emoji, user: UserId) -> bool {
        self.reactions
            .iter()
            .any(|r| r.emoji == *emoji && r.users.contains(&user))
    }

    fn react(&mut self, emoji: &Emoji, user: UserId, on: bool) {
        let found = self.reactions.iter().position(|r| r.emoji == *emoji);
        match (found, on) {
            (Some(at), true) => {
                let users = &mut self.reactions[at].users;
                if !users.contains(&user) {
                    users.push(user);
                }
            }
            (None, true) => self.reactions.push(Reaction {
                emoji: emoji.clone(),
                users: vec![user],
            }),
            (Some(at), false) => {
                self.reactions[at].users.retain(|u| *u != user);
                if self.reactions[at].users.is_empty() {
                    self.reactions.remove(at);
                }
            }
            (None, false) => {}
        }
    }
}

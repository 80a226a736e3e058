//! One conversation's lines as the screen shows them: stored messages filed
//! by sequence number (a message seen twice shows once, older pages slot in
//! where they belong), the system lines between them, the gap a resume is
//! filling, and how far the reader has paged away from the newest.
//!
//! Edits, deletions and reactions are numbered in the same sequence as the
//! messages: each is applied to the message it targets (once: see
//! `protocol::changes`), its number noted so that the sequence shows no gap
//! there, and one whose message is not held waits for a page to bring it.

use std::collections::{BTreeMap, BTreeSet};

use crate::protocol::{DisplayName, Extras, MessageContent, Posted, PostedChange, UserId};

/// Lines kept per conversation while new ones arrive; older ones leave
/// memory and the DOM (and can be paged back in).
pub(super) const MAX_LINES: usize = 500;

/// Changes kept for messages not held yet, newest: one for a message
/// further back than this is forgotten (its page shows it as it is).
const MAX_WAITING: usize = 200;

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
        /// Empty once deleted.
        text: MessageContent,
        ts: Option<i64>,
        delivery: Delivery,
        /// Its number in the conversation; none while pending.
        seq: Option<u64>,
        /// What it answers, whom it names, and what became of it.
        extras: Extras,
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

/// Stored messages and the quiet system lines between them, in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Timeline {
    /// (seq, 0) for the message numbered seq; (seq, n) for the n-th event
    /// seen after it.
    pub(super) entries: BTreeMap<(u64, u32), LineKind>,
    /// A gap being filled after a resume: messages after `.0` and before
    /// `.1` are being fetched.
    pub(super) filling: Option<(u64, u64)>,
    /// An older page was asked for and has not come yet.
    pub(super) loading_older: bool,
    /// An older page came back empty: nothing older is left on the server
    /// (retention pruned it, or memory storage forgot the conversation and
    /// numbers on past a gap), however high the first number held.
    pub(super) bottomed: bool,
    /// Set while the lines held do not reach the end of the conversation
    /// (the reader went far up, and the newest lines were let go to keep
    /// the page small): the newest message known to exist past them.
    pub(super) beyond: Option<u64>,
    /// A page after the last line held was asked for and has not come yet.
    pub(super) loading_newer: bool,
    /// The latest page was asked for, to replace the lines held.
    pub(super) jumping: bool,
    /// New messages from others since the conversation was last open.
    pub unread: u32,
    /// Of those, the ones that mention the user.
    pub mentions: u32,
    /// The numbers of the changes seen within the lines held: the
    /// sequence has no gap there.
    pub(super) changes: BTreeSet<u64>,
    /// Changes to messages not held, oldest first, at most [`MAX_WAITING`].
    pub(super) waiting: Vec<PostedChange>,
    /// A message to bring into view and mark once it is held (a reply's
    /// original, a search result).
    pub focus: Option<u64>,
}

impl Timeline {
    /// The highest sequence number shown: of a message, or of a change.
    pub fn last_seq(&self) -> Option<u64> {
        let message = self
            .entries
            .iter()
            .rev()
            .find(|(key, _)| key.1 == 0)
            .map(|(key, _)| key.0);
        message.max(self.changes.last().copied())
    }

    pub(super) fn first_seq(&self) -> Option<u64> {
        self.entries.keys().find(|key| key.1 == 0).map(|key| key.0)
    }

    /// Older messages exist on the server (as far as the client can tell).
    pub fn has_older(&self) -> bool {
        !self.bottomed && self.first_seq().is_some_and(|first| first > 1)
    }

    /// The highest sequence number known: the last held, or past them.
    pub fn newest_seq(&self) -> Option<u64> {
        self.beyond.or_else(|| self.last_seq())
    }

    /// The lines held do not reach the end of the conversation.
    pub fn detached(&self) -> bool {
        self.beyond.is_some()
    }

    /// Files a stored message as it is now, unless the one held is newer
    /// (a change came live after this page was read), then applies the
    /// changes that waited for it.
    fn insert_posted(&mut self, posted: Posted) {
        let key = (posted.seq, 0);
        if let Some(LineKind::Message { extras, .. }) = self.entries.get(&key)
            && extras.rev > posted.extras.rev
        {
            return;
        }
        let mut line = message_line(posted, Delivery::Sent);
        let (now, later): (Vec<PostedChange>, Vec<PostedChange>) =
            std::mem::take(&mut self.waiting)
                .into_iter()
                .partition(|change| change.target == key.0);
        self.waiting = later;
        for change in &now {
            apply(&mut line, change);
        }
        self.entries.insert(key, line);
    }

    /// Applies a change to the message it targets, or keeps it for when
    /// that message comes. Returns whether a line held changed.
    pub(super) fn change(&mut self, change: PostedChange) -> bool {
        self.changes.insert(change.seq);
        let requoted = self.requote(&change);
        let changed = match self.entries.get_mut(&(change.target, 0)) {
            Some(line) => apply(line, &change),
            None => {
                if self.first_seq().is_none_or(|first| change.target < first) {
                    self.waiting.push(change);
                    if self.waiting.len() > MAX_WAITING {
                        self.waiting.remove(0);
                    }
                }
                false
            }
        };
        self.trim_changes();
        changed || requoted
    }

    /// Brings the quotes of the replies held to `change`'s target up to
    /// date; whether there were any.
    fn requote(&mut self, change: &PostedChange) -> bool {
        let mut any = false;
        for line in self.entries.values_mut() {
            if let LineKind::Message { extras, .. } = line
                && extras.reply_to == Some(change.target)
                && let Some(quote) = extras.quote.as_mut()
            {
                quote.follow(&change.change, change.content.as_ref());
                any = true;
            }
        }
        any
    }

    /// The message numbered `seq`, if held.
    pub fn message(&self, seq: u64) -> Option<&LineKind> {
        self.entries.get(&(seq, 0))
    }

    /// Forgets the numbers of changes outside the lines held.
    fn trim_changes(&mut self) {
        let (Some(first), Some(last)) = (
            self.entries.keys().next().map(|key| key.0),
            self.entries.keys().next_back().map(|key| key.0),
        ) else {
            return;
        };
        let beyond = self.beyond.is_some();
        self.changes
            .retain(|seq| *seq >= first && (!beyond || *seq <= last));
    }

    pub(super) fn event(&mut self, kind: LineKind) {
        if self.detached() {
            return; // it happens past the lines held, not after them
        }
        let after = self.entries.keys().next_back().map_or((0, 0), |key| *key);
        self.entries.insert((after.0, after.1 + 1), kind);
        self.trim();
    }

    /// Drops the oldest lines beyond the bound.
    pub(super) fn trim(&mut self) {
        while self.entries.len() > MAX_LINES {
            self.entries.pop_first();
        }
        self.trim_changes();
    }

    pub(super) fn lines(&self) -> impl Iterator<Item = Line> + '_ {
        self.entries.iter().map(|((seq, n), kind)| Line {
            key: format!("{seq}.{n}"),
            kind: kind.clone(),
            continued: false,
        })
    }

    /// Drops the newest lines beyond the bound: the lines held no longer
    /// reach the end.
    pub(super) fn trim_newest(&mut self) {
        while self.entries.len() > MAX_LINES {
            if let Some(((seq, _), _)) = self.entries.pop_last() {
                self.beyond = Some(self.beyond.map_or(seq, |beyond| beyond.max(seq)));
            }
        }
        self.trim_changes();
    }

    /// Files `messages` (oldest first; `page`: an answer to a history
    /// request, else live). Returns the range of a gap between what was
    /// shown and the first of them, if they skip ahead.
    ///
    /// At most [`MAX_LINES`] lines are held: an older page lets the newest
    /// go (the reader is up there), anything else the oldest.
    pub(super) fn merge(&mut self, mut messages: Vec<Posted>, page: bool) -> Option<(u64, u64)> {
        let (first, last) = (self.first_seq(), self.last_seq());
        let older = page
            && messages
                .last()
                .is_some_and(|m| first.is_some_and(|first| m.seq < first));
        if older {
            for posted in messages {
                self.insert_posted(posted);
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
                self.insert_posted(posted);
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
            self.insert_posted(posted);
        }
        if newer {
            self.trim();
        }
        gap
    }

    /// After a page arrived while filling a gap: the next request, if the
    /// gap is not closed and the page made progress (an empty page means
    /// retention pruned the rest: nothing more to fetch).
    pub(super) fn continue_fill(&mut self) -> Option<(u64, u64)> {
        let (after, before) = self.filling?;
        let mut reached = after;
        while reached + 1 < before
            && (self.entries.contains_key(&(reached + 1, 0))
                || self.changes.contains(&(reached + 1)))
        {
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

fn message_line(posted: Posted, delivery: Delivery) -> LineKind {
    LineKind::Message {
        from: Some(posted.from),
        name: posted.name,
        text: posted.content,
        ts: Some(posted.ts),
        delivery,
        seq: Some(posted.seq),
        extras: posted.extras,
    }
}

/// Applies `change` to a message line; whether it changed.
fn apply(line: &mut LineKind, change: &PostedChange) -> bool {
    match line {
        LineKind::Message { text, extras, .. } => extras.apply(
            text,
            &change.change,
            change.content.as_ref(),
            (change.from, change.seq, change.ts),
        ),
        _ => false,
    }
}

/// Marks each message that follows one from the same sender closely enough.
pub(super) fn group(lines: &mut [Line]) {
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

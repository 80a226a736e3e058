//! Numbering a batch, the rule every backend applies once it has read what
//! the batch needs (the originals of resent client ids, the channels'
//! heads, and the messages its changes target): each new message gets its
//! channel's next number; a resend is answered with its original; a change
//! is checked against the message it targets (yours to edit? still
//! there?) and, if allowed, numbered like a message and applied to its
//! target, which the backend then writes back.

use std::collections::HashMap;

use crate::protocol::{Change, ClientId, MAX_REACTIONS, MessageContent, UserId};

use super::{ChangeRequest, Channel, Extra, NewKind, NewMessage, StoredMessage};

/// Why the store did not take a change: nothing was stored for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No message has that number in the channel (or it was pruned).
    NoSuchMessage,
    /// Only a message's author may edit or delete it.
    NotYours,
    /// The message was deleted: there is nothing left to change.
    Deleted,
    /// The operator's edit window is over for that message.
    TooLate,
    /// The message carries as many distinct emoji as it may.
    TooManyReactions,
    /// It would change nothing (a reaction already there, or not there).
    Unchanged,
}

impl Refusal {
    /// What the client is told.
    pub fn text(self) -> &'static str {
        match self {
            Refusal::NoSuchMessage => "there is no such message here",
            Refusal::NotYours => {
                "only its author may edit a message, and delete it (or the room's moderators)"
            }
            Refusal::Deleted => "that message was deleted",
            Refusal::TooLate => "that message is too old to edit",
            Refusal::TooManyReactions => "that message has as many different reactions as it may",
            Refusal::Unchanged => "that changes nothing",
        }
    }
}

/// A message's key among the originals of a batch.
pub(super) type OriginalKey = (Channel, UserId, ClientId);

/// What numbering a batch decided.
#[derive(Debug, Default)]
pub(super) struct Numbered {
    /// For each message of the batch, in order: stored (new, or the
    /// original of a resend: `false`), or refused.
    pub results: Vec<Result<(StoredMessage, bool), Refusal>>,
    /// The new rows to insert, in order.
    pub rows: Vec<StoredMessage>,
    /// Messages the batch changed, as they are now: to write back after
    /// the rows are inserted (some may be among them).
    pub changed: Vec<StoredMessage>,
}

/// The message that `message` changes or answers, if any.
pub(super) fn target_of(message: &NewMessage) -> Option<u64> {
    match &message.kind {
        NewKind::Change { target, .. } => Some(*target),
        NewKind::Message { reply_to, .. } => *reply_to,
        NewKind::Plain => None,
    }
}

/// The messages a batch's changes target and its replies answer, by
/// channel and number.
pub(super) fn targets_of(batch: &[NewMessage]) -> Vec<(Channel, u64)> {
    let mut targets: Vec<(Channel, u64)> = batch
        .iter()
        .filter_map(|message| Some((message.channel.clone(), target_of(message)?)))
        .collect();
    targets.sort_unstable_by_key(|(channel, seq)| (channel.key(), *seq));
    targets.dedup();
    targets
}

/// Numbers `batch` from `heads` (each channel's last number, raised as
/// numbers are handed out), with `originals` (stored messages by their
/// sender's client id) and `targets` (the messages the changes target and
/// the replies answer, as stored: see [`targets_of`]). A message numbered
/// here can be the target of a change, or answered, later in the same
/// batch. A reply gets the quote of what it answers.
pub(super) fn number(
    batch: &[NewMessage],
    heads: &mut HashMap<Channel, u64>,
    mut originals: HashMap<OriginalKey, StoredMessage>,
    mut targets: HashMap<(Channel, u64), StoredMessage>,
    now_ms: i64,
) -> Numbered {
    let mut numbered = Numbered::default();
    let mut changed: Vec<(Channel, u64)> = Vec::new();
    for message in batch {
        let key = message
            .client_id
            .clone()
            .map(|id| (message.channel.clone(), message.from, id));
        if let Some(original) = key.as_ref().and_then(|key| originals.get(key)) {
            numbered.results.push(Ok((original.clone(), false)));
            continue;
        }
        let extra = match &message.kind {
            NewKind::Plain => None,
            NewKind::Message { reply_to, mentions } => {
                // A reply answers a number handed out already, to a
                // message (not a change); one since pruned has no quote.
                let head = heads.get(&message.channel).copied().unwrap_or(0);
                let answered = reply_to.and_then(|to| targets.get(&(message.channel.clone(), to)));
                if reply_to.is_some_and(|to| to == 0 || to > head)
                    || answered.is_some_and(|answered| !answered.is_message())
                {
                    numbered.results.push(Err(Refusal::NoSuchMessage));
                    continue;
                }
                let mut extra = Extra::default();
                extra.shown.reply_to = *reply_to;
                extra.shown.mentions = mentions.clone();
                extra.shown.quote = answered.map(|answered| Box::new(answered.quoted()));
                (!extra.shown.is_plain()).then(|| Box::new(extra))
            }
            NewKind::Change { target, request } => {
                let found = targets.get(&(message.channel.clone(), *target));
                match decide(found, message, request) {
                    Ok((change, author)) => Some(Box::new(Extra {
                        change: Some((*target, change)),
                        author,
                        ..Extra::default()
                    })),
                    Err(refusal) => {
                        numbered.results.push(Err(refusal));
                        continue;
                    }
                }
            }
        };
        // The backend read the head of every channel of the batch first.
        let head = heads.entry(message.channel.clone()).or_default();
        *head += 1;
        let seq = *head;
        let mut stored = message.stored(seq, now_ms, extra);
        if let Some((target, change)) = stored.change() {
            if !matches!(change, Change::Edit) {
                stored.content = MessageContent::removed();
            }
            let at = (message.channel.clone(), target);
            if let Some(message) = targets.get_mut(&at) {
                message.apply(&stored);
                if !changed.contains(&at) {
                    changed.push(at);
                }
            }
        } else {
            targets.insert((message.channel.clone(), seq), stored.clone());
        }
        if let Some(key) = key {
            originals.insert(key, stored.clone());
        }
        numbered.rows.push(stored.clone());
        numbered.results.push(Ok((stored, true)));
    }
    numbered.changed = changed.iter().filter_map(|at| targets.remove(at)).collect();
    numbered
}

/// Whether `request`, from `message`'s sender, may change `target`, and
/// what it does if so (with the author, for a moderator's deletion).
fn decide(
    target: Option<&StoredMessage>,
    message: &NewMessage,
    request: &ChangeRequest,
) -> Result<(Change, Option<UserId>), Refusal> {
    let target = target
        .filter(|target| target.is_message())
        .ok_or(Refusal::NoSuchMessage)?;
    let extras = target.extras();
    if extras.deleted {
        return Err(Refusal::Deleted);
    }
    match request {
        ChangeRequest::Edit { sent_after } => {
            if target.from != message.from {
                return Err(Refusal::NotYours);
            }
            if sent_after.is_some_and(|after| target.ts < after) {
                return Err(Refusal::TooLate);
            }
            if target.content == message.content {
                return Err(Refusal::Unchanged);
            }
            Ok((Change::Edit, None))
        }
        ChangeRequest::Delete | ChangeRequest::Remove { .. } => {
            if target.from == message.from {
                return Ok((Change::Delete, None));
            }
            match request {
                ChangeRequest::Remove { protected } if !protected.contains(&target.from) => {
                    Ok((Change::Delete, Some(target.from)))
                }
                _ => Err(Refusal::NotYours),
            }
        }
        ChangeRequest::React { emoji, on } => {
            let has = extras.has_reacted(emoji, message.from);
            let on = on.unwrap_or(!has);
            if on == has {
                return Err(Refusal::Unchanged);
            }
            let new_emoji = !extras.reactions.iter().any(|r| r.emoji == *emoji);
            if on && new_emoji && extras.reactions.len() >= MAX_REACTIONS {
                return Err(Refusal::TooManyReactions);
            }
            Ok((
                Change::React {
                    emoji: emoji.clone(),
                    on,
                },
                None,
            ))
        }
    }
}

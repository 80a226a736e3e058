//! `storage = "memory"`: the committer's numbering and a recent window of every
//! channel, in memory. For throwaway deployments and for measuring what
//! persistence costs; nothing survives a restart.
//!
//! What is kept is bounded: per channel the latest [`WINDOW`] messages
//! within [`WINDOW_BYTES`], and `memory_storage_max_bytes` for all channels
//! together (past it, the channel that grew is cut to an equal share, then
//! the largest others, oldest messages first). Each channel's numbering is
//! kept whatever its window holds, so numbers are never reused; names too.

use std::{
    collections::HashMap,
    sync::{Mutex, MutexGuard},
};

use futures_util::future::BoxFuture;

use super::backend::Backend;
use super::window::{Window, fit_budget};
use super::{Channel, NewMessage, StoreError, StoredMessage};
use crate::protocol::{DisplayName, UserId};

/// Messages kept per channel.
const WINDOW: usize = 1000;

/// Bytes kept per channel (see [`window::cost`](super::window::cost)).
const WINDOW_BYTES: usize = 2 * 1024 * 1024;

/// The memory backend: the log behind a lock that is only ever held for a
/// synchronous step, and an epoch of its own (a new one each start).
pub struct Memory {
    log: Mutex<MemoryLog>,
    epoch: String,
}

impl Memory {
    pub fn new(max_bytes: usize, epoch: String) -> Self {
        Self {
            log: Mutex::new(MemoryLog::new(max_bytes)),
            epoch,
        }
    }

    fn log(&self) -> MutexGuard<'_, MemoryLog> {
        self.log
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Everything is at hand: each call is answered at once.
fn ready<'a, T: Send + 'a>(value: T) -> BoxFuture<'a, Result<T, StoreError>> {
    Box::pin(std::future::ready(Ok(value)))
}

impl Backend for Memory {
    fn epoch(&self) -> &str {
        &self.epoch
    }

    fn append<'a>(
        &'a self,
        batch: &'a [NewMessage],
        now_ms: i64,
    ) -> BoxFuture<'a, Result<Vec<(StoredMessage, bool)>, StoreError>> {
        ready(self.log().append(batch, now_ms))
    }

    fn page<'a>(
        &'a self,
        channel: &'a Channel,
        before: Option<u64>,
        after: Option<u64>,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<StoredMessage>, StoreError>> {
        ready(self.log().page(channel, before, after, limit))
    }

    fn recent<'a>(
        &'a self,
        channel: &'a Channel,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<StoredMessage>, StoreError>> {
        ready(self.log().page(channel, None, None, limit))
    }

    fn set_name<'a>(
        &'a self,
        user: UserId,
        name: &'a DisplayName,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        self.log().set_name(user, name.clone());
        ready(())
    }

    fn user_name(&self, user: UserId) -> BoxFuture<'_, Result<Option<DisplayName>, StoreError>> {
        ready(self.log().user_name(user))
    }

    /// All at once, whatever `chunk`: it is all in memory.
    fn prune(
        &self,
        max_messages: Option<u64>,
        older_than_ms: Option<i64>,
        _chunk: usize,
    ) -> BoxFuture<'_, Result<usize, StoreError>> {
        ready(self.log().prune(max_messages, older_than_ms))
    }
}

pub struct MemoryLog {
    channels: HashMap<Channel, Log>,
    names: HashMap<UserId, DisplayName>,
    /// What the windows hold together, and the most they may.
    bytes: usize,
    max_bytes: usize,
}

#[derive(Default)]
struct Log {
    head: u64,
    recent: Window,
}

impl MemoryLog {
    pub fn new(max_bytes: usize) -> Self {
        Self {
            channels: HashMap::new(),
            names: HashMap::new(),
            bytes: 0,
            max_bytes,
        }
    }

    /// Numbers and keeps each message; a resent client id (still in the
    /// window) is answered with the original, like the database does.
    pub fn append(&mut self, batch: &[NewMessage], now_ms: i64) -> Vec<(StoredMessage, bool)> {
        batch
            .iter()
            .map(|message| {
                let log = self.channels.entry(message.channel.clone()).or_default();
                if let Some(client_id) = &message.client_id {
                    let original = log.recent.iter().find(|stored| {
                        stored.from == message.from && stored.client_id.as_ref() == Some(client_id)
                    });
                    if let Some(original) = original {
                        return (original.clone(), false);
                    }
                }
                log.head += 1;
                let stored = message.stored(log.head, now_ms);
                let grew = log.recent.push(stored.clone(), WINDOW, WINDOW_BYTES);
                self.bytes = self.bytes.saturating_add_signed(grew);
                let channels = &mut self.channels;
                fit_budget(
                    channels,
                    |log| &mut log.recent,
                    &message.channel,
                    &mut self.bytes,
                    self.max_bytes,
                );
                (stored, true)
            })
            .collect()
    }

    /// What every channel's window holds together.
    #[cfg(test)]
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn page(
        &self,
        channel: &Channel,
        before: Option<u64>,
        after: Option<u64>,
        limit: usize,
    ) -> Vec<StoredMessage> {
        let Some(log) = self.channels.get(channel) else {
            return Vec::new();
        };
        let before = before.unwrap_or(u64::MAX);
        let in_range = log
            .recent
            .iter()
            .filter(|m| m.seq < before && after.is_none_or(|after| m.seq > after));
        match after {
            Some(_) => in_range.take(limit).cloned().collect(),
            None => {
                let mut page: Vec<_> = in_range.rev().take(limit).cloned().collect();
                page.reverse();
                page
            }
        }
    }

    pub fn set_name(&mut self, user: UserId, name: DisplayName) {
        self.names.insert(user, name);
    }

    pub fn user_name(&self, user: UserId) -> Option<DisplayName> {
        self.names.get(&user).cloned()
    }

    /// Applies retention at once (it is all in memory); returns how many
    /// messages went.
    pub fn prune(&mut self, max_messages: Option<u64>, older_than_ms: Option<i64>) -> usize {
        let mut deleted = 0;
        for log in self.channels.values_mut() {
            let bytes = log.recent.bytes();
            if let Some(max) = max_messages {
                deleted += log
                    .recent
                    .keep_newest(usize::try_from(max).unwrap_or(usize::MAX));
            }
            if let Some(cutoff) = older_than_ms {
                deleted += log.recent.drop_oldest_while(|m| m.ts < cutoff).0;
            }
            self.bytes -= bytes - log.recent.bytes();
        }
        deleted
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{MessageContent, RoomName};

    fn message(room: &str, text: &str) -> NewMessage {
        let user = UserId::new_random();
        NewMessage {
            conn: super::super::Tag(0),
            channel: Channel::Room(RoomName::parse(room).unwrap()),
            from: user,
            name: user.guest_name(),
            to: None,
            content: MessageContent::parse(text).unwrap(),
            client_id: None,
        }
    }

    #[test]
    fn the_log_holds_at_most_its_budget_and_numbers_on_regardless() {
        let budget = 4 * 1024 * 1024;
        let mut log = MemoryLog::new(budget);
        let big = "😀".repeat(4000);
        // One connection's worth of the probe: 100 rooms of big messages.
        for n in 0..3000 {
            let room = format!("room-{}", n % 100);
            log.append(&[message(&room, &big)], 0);
        }
        assert!(log.bytes() <= budget, "{} > {budget}", log.bytes());
        let kept: usize = log.channels.values().map(|l| l.recent.bytes()).sum();
        assert_eq!(kept, log.bytes(), "the count is exact");
        // Numbering went on: room-0 had 30 messages, the newest kept.
        let room = Channel::Room(RoomName::parse("room-0").unwrap());
        let page = log.page(&room, None, None, 1000);
        assert_eq!(page.last().map(|m| m.seq), Some(30));
        assert!(page.len() < 30, "the oldest went");
        // And one channel alone is bounded by its window.
        let mut alone = MemoryLog::new(usize::MAX);
        for _ in 0..300 {
            alone.append(&[message("solo", &big)], 0);
        }
        assert!(alone.bytes() <= WINDOW_BYTES);
    }
}

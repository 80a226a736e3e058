//! `storage = "memory"`: the writer's numbering and a recent window of every
//! channel, in memory. For throwaway deployments and for measuring what
//! persistence costs; nothing survives a restart.

use std::collections::{HashMap, VecDeque};

use super::{Channel, NewMessage, StoredMessage};
use crate::protocol::{DisplayName, UserId};

/// Messages kept per channel.
const WINDOW: usize = 1000;

#[derive(Default)]
pub struct MemoryLog {
    channels: HashMap<Channel, Log>,
    names: HashMap<UserId, DisplayName>,
}

#[derive(Default)]
struct Log {
    head: u64,
    recent: VecDeque<StoredMessage>,
}

impl MemoryLog {
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
                if log.recent.len() == WINDOW {
                    log.recent.pop_front();
                }
                log.recent.push_back(stored.clone());
                (stored, true)
            })
            .collect()
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
            let before = log.recent.len();
            if let Some(max) = max_messages {
                while log.recent.len() as u64 > max {
                    log.recent.pop_front();
                }
            }
            if let Some(cutoff) = older_than_ms {
                while log.recent.front().is_some_and(|m| m.ts < cutoff) {
                    log.recent.pop_front();
                }
            }
            deleted += before - log.recent.len();
        }
        deleted
    }
}

//! `storage = "memory"`: the committer's numbering and a recent window of every
//! channel, in memory. For throwaway deployments and for measuring what
//! persistence costs; nothing survives a restart.
//!
//! What is kept is bounded: per channel the latest [`WINDOW`] messages
//! within [`WINDOW_BYTES`], and `memory_storage_max_bytes` for all channels
//! together (past it, the channel that grew is cut to an equal share, then
//! the largest others, oldest messages first). Each channel's numbering is
//! kept whatever its window holds, so numbers are never reused; names too.
//!
//! The channels and names kept are bounded in number as well (one per 2 KiB
//! of the budget, at least 1,024 each). Past that, the eighth of the
//! channels written least recently are forgotten whole; a forgotten
//! channel's last number is kept in one of a fixed set of floors, and a
//! channel made afresh numbers on from its floor, so that a number once
//! handed out is still never handed out again (a client sees a gap, and
//! paging back into it finds nothing). Past the bound of names, an eighth
//! of them are forgotten: those users show their guest names again.

use std::{
    collections::HashMap,
    hash::{BuildHasher, BuildHasherDefault, DefaultHasher},
    sync::{Mutex, MutexGuard},
};

use futures_util::future::BoxFuture;

use super::backend::{Backend, Outcome, ROWS_PER_MESSAGE, Rows};
use super::changes::{OriginalKey, number, target_of};
use super::search::Search;
use super::window::{Window, fit_budget};
use super::{Channel, NewMessage, StoreError, StoredMessage};
use crate::protocol::{DisplayName, UserId};

/// Messages kept per channel.
const WINDOW: usize = 1000;

/// Bytes of the budget per channel (and per name) that may be kept.
const BYTES_PER_ENTRY: usize = 2048;

/// Floors of forgotten channels' numbering: 64 Ki of them, 512 KiB, made
/// only once a channel is forgotten.
const FLOORS: usize = 1 << 16;

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
    ) -> BoxFuture<'a, Result<Vec<Outcome>, StoreError>> {
        ready(self.log().append(batch, now_ms))
    }

    fn page<'a>(
        &'a self,
        channel: &'a Channel,
        before: Option<u64>,
        after: Option<u64>,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<StoredMessage>, StoreError>> {
        let rows = match after {
            Some(after) => Rows::After(after),
            None => Rows::Messages,
        };
        ready(self.log().page(channel, rows, before, limit))
    }

    fn messages_after<'a>(
        &'a self,
        channel: &'a Channel,
        after: u64,
        before: Option<u64>,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<StoredMessage>, StoreError>> {
        let rows = Rows::MessagesAfter(after);
        ready(self.log().page(channel, rows, before, limit))
    }

    fn recent<'a>(
        &'a self,
        channel: &'a Channel,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<StoredMessage>, StoreError>> {
        ready(self.log().page(channel, Rows::Newest, None, limit))
    }

    fn head<'a>(&'a self, channel: &'a Channel) -> BoxFuture<'a, Result<u64, StoreError>> {
        ready(self.log().head(channel))
    }

    fn search<'a>(
        &'a self,
        search: &'a Search,
    ) -> BoxFuture<'a, Result<Vec<StoredMessage>, StoreError>> {
        ready(self.log().search(search))
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
    /// Channels (and names) kept at most.
    max_entries: usize,
    /// Appends so far: when each channel was last written.
    clock: u64,
    /// The highest number a forgotten channel had handed out, per bucket
    /// of channels (see [`MemoryLog::floor`]).
    floors: Option<Box<[u64]>>,
}

#[derive(Default)]
struct Log {
    head: u64,
    recent: Window,
    written: u64,
}

impl MemoryLog {
    pub fn new(max_bytes: usize) -> Self {
        Self {
            channels: HashMap::new(),
            names: HashMap::new(),
            bytes: 0,
            max_bytes,
            max_entries: (max_bytes / BYTES_PER_ENTRY).max(1024),
            clock: 0,
            floors: None,
        }
    }

    /// The bucket of floors `channel` numbers on from, if it was forgotten.
    fn bucket(channel: &Channel) -> usize {
        BuildHasherDefault::<DefaultHasher>::default().hash_one(channel) as usize % FLOORS
    }

    /// A channel's log, made (numbering on from its floor) if it has none.
    fn log(&mut self, channel: &Channel) -> &mut Log {
        if !self.channels.contains_key(channel) {
            if self.channels.len() >= self.max_entries {
                self.forget_least_written();
            }
            let head = self
                .floors
                .as_ref()
                .map_or(0, |floors| floors[Self::bucket(channel)]);
            let log = Log {
                head,
                ..Log::default()
            };
            self.channels.insert(channel.clone(), log);
        }
        self.channels.get_mut(channel).expect("made above")
    }

    /// Forgets the eighth of the channels written least recently, keeping
    /// each one's last number in its floor.
    fn forget_least_written(&mut self) {
        let mut written: Vec<u64> = self.channels.values().map(|log| log.written).collect();
        let cut = written.len() / 8;
        let (_, &mut before, _) = written.select_nth_unstable(cut);
        let floors = self
            .floors
            .get_or_insert_with(|| vec![0; FLOORS].into_boxed_slice());
        let bytes = &mut self.bytes;
        self.channels.retain(|channel, log| {
            let keep = log.written > before;
            if !keep {
                let floor = &mut floors[Self::bucket(channel)];
                *floor = (*floor).max(log.head);
                *bytes -= log.recent.bytes();
            }
            keep
        });
    }

    /// Numbers and keeps each message; a resent client id (still in the
    /// window) is answered with the original, and a change is checked
    /// against its target (still in the window), like the database does.
    pub fn append(&mut self, batch: &[NewMessage], now_ms: i64) -> Vec<Outcome> {
        let mut heads: HashMap<Channel, u64> = HashMap::new();
        let mut originals: HashMap<OriginalKey, StoredMessage> = HashMap::new();
        let mut targets: HashMap<(Channel, u64), StoredMessage> = HashMap::new();
        for message in batch {
            self.clock += 1;
            let clock = self.clock;
            let log = self.log(&message.channel);
            log.written = clock;
            heads.entry(message.channel.clone()).or_insert(log.head);
            if let Some(client_id) = &message.client_id {
                let original = log.recent.iter().find(|stored| {
                    stored.from == message.from && stored.client_id.as_ref() == Some(client_id)
                });
                if let Some(original) = original {
                    let key = (message.channel.clone(), message.from, client_id.clone());
                    originals.insert(key, original.clone());
                }
            }
            if let Some(target) = target_of(message)
                && let Some(found) = log.recent.get(target)
            {
                targets.insert((message.channel.clone(), target), found.clone());
            }
        }
        let numbered = number(batch, &mut heads, originals, targets, now_ms);
        for (channel, head) in heads {
            self.log(&channel).head = head;
        }
        for row in numbered.rows {
            let channel = row.channel.clone();
            let recent = &mut self.log(&channel).recent;
            let grew = recent.requote(&row) + recent.push(row, WINDOW, WINDOW_BYTES);
            self.bytes = self.bytes.saturating_add_signed(grew);
            fit_budget(
                &mut self.channels,
                |log| &mut log.recent,
                &channel,
                &mut self.bytes,
                self.max_bytes,
            );
        }
        for message in numbered.changed {
            let log = self.log(&message.channel);
            let mut grew = 0;
            if message.extras().deleted {
                grew += log.recent.blank_changes_to(message.seq);
            }
            grew += log.recent.replace(message);
            self.bytes = self.bytes.saturating_add_signed(grew);
        }
        numbered.results
    }

    /// What every channel's window holds together.
    #[cfg(test)]
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn page(
        &self,
        channel: &Channel,
        rows: Rows,
        before: Option<u64>,
        limit: usize,
    ) -> Vec<StoredMessage> {
        let Some(log) = self.channels.get(channel) else {
            return Vec::new();
        };
        let before = before.unwrap_or(u64::MAX);
        let in_range = log.recent.iter().filter(|m| m.seq < before);
        match rows {
            Rows::After(after) => in_range
                .filter(|m| m.seq > after)
                .take(limit)
                .cloned()
                .collect(),
            Rows::MessagesAfter(after) => in_range
                .filter(|m| m.seq > after && m.is_message() && !m.extras().deleted)
                .take(limit)
                .cloned()
                .collect(),
            Rows::Messages => {
                let mut page: Vec<_> = in_range
                    .rev()
                    .filter(|m| m.is_message())
                    .take(limit)
                    .cloned()
                    .collect();
                page.reverse();
                page
            }
            Rows::Newest => {
                let mut messages = 0;
                let mut page: Vec<_> = in_range
                    .rev()
                    .take_while(|m| {
                        let more = messages < limit;
                        messages += usize::from(m.is_message());
                        more
                    })
                    .take(limit.saturating_mul(ROWS_PER_MESSAGE))
                    .cloned()
                    .collect();
                page.reverse();
                page
            }
        }
    }

    /// The newest messages `search` finds among what the windows hold.
    pub fn search(&self, search: &Search) -> Vec<StoredMessage> {
        let mut found: Vec<StoredMessage> = self
            .channels
            .iter()
            .filter(|(channel, _)| search.allows(channel))
            .flat_map(|(_, log)| log.recent.iter())
            .filter(|m| m.is_message() && !m.extras().deleted)
            .filter(|m| search.from.is_none_or(|from| m.from == from))
            .filter(|m| search.before.is_none_or(|before| m.ts < before))
            .filter(|m| search.matches(&crate::markup::plain(m.content.as_str())))
            .cloned()
            .collect();
        found.sort_unstable_by_key(|m| std::cmp::Reverse((m.ts, m.seq)));
        found.truncate(search.limit);
        found
    }

    /// The last number `channel` handed out: a forgotten channel numbers on
    /// from its floor.
    pub fn head(&self, channel: &Channel) -> u64 {
        match self.channels.get(channel) {
            Some(log) => log.head,
            None => self
                .floors
                .as_ref()
                .map_or(0, |floors| floors[Self::bucket(channel)]),
        }
    }

    pub fn set_name(&mut self, user: UserId, name: DisplayName) {
        if self.names.len() >= self.max_entries && !self.names.contains_key(&user) {
            let mut forget = self.names.len() / 8;
            self.names.retain(|_, _| {
                let keep = forget == 0;
                forget = forget.saturating_sub(1);
                keep
            });
        }
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
    use crate::server::store::NewKind;

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
            kind: NewKind::Plain,
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
        let page = log.page(&room, Rows::Newest, None, 1000);
        assert_eq!(page.last().map(|m| m.seq), Some(30));
        assert!(page.len() < 30, "the oldest went");
        // And one channel alone is bounded by its window.
        let mut alone = MemoryLog::new(usize::MAX);
        for _ in 0..300 {
            alone.append(&[message("solo", &big)], 0);
        }
        assert!(alone.bytes() <= WINDOW_BYTES);
    }

    #[test]
    fn past_its_bound_of_channels_the_log_forgets_the_least_written_and_never_reuses_a_number() {
        let mut log = MemoryLog::new(usize::MAX);
        log.max_entries = 16;
        let room = |n: usize| Channel::Room(RoomName::parse(format!("room-{n}")).unwrap());
        for n in 0..100 {
            log.append(&[message(&format!("room-{n}"), "hi")], 0);
            log.append(&[message(&format!("room-{n}"), "again")], 0);
        }
        assert!(log.channels.len() <= 16, "{}", log.channels.len());
        let kept: usize = log.channels.values().map(|l| l.recent.bytes()).sum();
        assert_eq!(kept, log.bytes(), "the count is exact");
        // The newest are kept, numbering on as usual.
        assert!(log.channels.contains_key(&room(99)));
        assert_eq!(log.page(&room(99), Rows::Newest, None, 10).len(), 2);
        // A forgotten room numbers on past what it handed out.
        assert!(!log.channels.contains_key(&room(0)));
        let again = log.append(&[message("room-0", "back")], 0);
        assert!(
            again[0].as_ref().unwrap().0.seq > 2,
            "seq {:?} was handed out before",
            again[0]
        );
    }

    #[test]
    fn past_its_bound_of_names_the_log_forgets_some() {
        let mut log = MemoryLog::new(usize::MAX);
        log.max_entries = 16;
        for _ in 0..100 {
            log.set_name(UserId::new_random(), DisplayName::parse("Ana").unwrap());
        }
        assert!(log.names.len() <= 16);
        let last = UserId::new_random();
        log.set_name(last, DisplayName::parse("Ben").unwrap());
        assert_eq!(log.user_name(last).unwrap().as_str(), "Ben");
    }
}

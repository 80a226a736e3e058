//! The latest messages of one channel, bounded by count and by bytes: a
//! room's cache in the broker (for joins and resumes), and a channel's
//! history with `storage = "memory"`. Messages of up to 4,000 characters are
//! up to 16 KB each, so a count alone let 256 of them hold 4 MB per room.
//!
//! What a message costs is counted roughly (its strings plus the struct
//! and the queue slot), the same way everywhere, so that bounds summed
//! over many windows mean something.

use std::{
    collections::{HashMap, VecDeque},
    hash::Hash,
};

use super::StoredMessage;
use crate::protocol::Change;

/// What a message costs besides its strings: the struct, its channel's
/// name and the queue slot, about.
const OVERHEAD: usize = 160;

/// A message's cost in a window.
pub fn cost(message: &StoredMessage) -> usize {
    OVERHEAD
        + message.content.as_str().len()
        + message.name.as_str().len()
        + message.client_id.as_ref().map_or(0, |id| id.as_str().len())
        + message.extra.as_ref().map_or(0, |extra| {
            let shown = &extra.shown;
            let users: usize = shown.reactions.iter().map(|r| r.users.len() + 2).sum();
            EXTRA_OVERHEAD
                + 16 * (users + shown.mentions.len())
                + shown.quote.as_ref().map_or(0, |quote| {
                    EXTRA_OVERHEAD + quote.name.as_str().len() + quote.text.len()
                })
                + extra
                    .original
                    .as_ref()
                    .map_or(0, |text| text.as_str().len())
        })
}

/// What a row's extra state costs besides its lists and text.
const EXTRA_OVERHEAD: usize = 160;

/// A channel's latest rows, oldest first: its latest messages, and the
/// changes numbered among them. A count bound counts messages alone, so
/// that a run of changes (reactions toggled over and over) cannot push the
/// messages out; the bytes bound counts everything.
#[derive(Debug, Default)]
pub struct Window {
    messages: VecDeque<StoredMessage>,
    bytes: usize,
    /// How many of the rows are messages.
    held: usize,
}

impl Window {
    pub fn from_messages(messages: Vec<StoredMessage>) -> Self {
        let bytes = messages.iter().map(cost).sum();
        let held = messages.iter().filter(|m| m.is_message()).count();
        Self {
            messages: messages.into(),
            bytes,
            held,
        }
    }

    /// What the messages cost in all.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &StoredMessage> {
        self.messages.iter()
    }

    /// The row numbered `seq`, if kept.
    pub fn get(&self, seq: u64) -> Option<&StoredMessage> {
        let at = self.messages.binary_search_by_key(&seq, |m| m.seq).ok()?;
        self.messages.get(at)
    }

    /// Puts `message` in place of the row with its number, if kept (a
    /// message brought up to date by a change); returns the bytes the
    /// window grew by.
    pub fn replace(&mut self, message: StoredMessage) -> isize {
        let Ok(at) = self.messages.binary_search_by_key(&message.seq, |m| m.seq) else {
            return 0;
        };
        let (old, new) = (cost(&self.messages[at]), cost(&message));
        self.messages[at] = message;
        self.bytes = self.bytes + new - old;
        new as isize - old as isize
    }

    /// Blanks the text of the edits of message `seq` (it was deleted: its
    /// words go from every version); returns the bytes the window grew by
    /// (negative).
    pub fn blank_changes_to(&mut self, seq: u64) -> isize {
        let before = self.bytes;
        for row in self.messages.iter_mut() {
            if row.change().is_some_and(|(target, _)| target == seq) && !row.content.is_removed() {
                self.bytes -= row.content.as_str().len();
                row.content = crate::protocol::MessageContent::removed();
            }
        }
        self.bytes as isize - before as isize
    }

    /// Applies `change`, a change row, to the message it targets, if kept,
    /// and to the quotes of the replies to it; returns the bytes the
    /// window grew by.
    pub fn apply(&mut self, change: &StoredMessage) -> isize {
        let Some((target, _)) = change.change() else {
            return 0;
        };
        let grew = self.requote(change);
        let Ok(at) = self.messages.binary_search_by_key(&target, |m| m.seq) else {
            return grew;
        };
        let old = cost(&self.messages[at]);
        self.messages[at].apply(change);
        let new = cost(&self.messages[at]);
        self.bytes = self.bytes + new - old;
        grew + new as isize - old as isize
    }

    /// Brings the quotes of the kept replies to the message that `change`
    /// targets up to date (its new text, or its deletion); returns the
    /// bytes the window grew by.
    pub fn requote(&mut self, change: &StoredMessage) -> isize {
        let Some((target, what)) = change.change() else {
            return 0;
        };
        if matches!(what, Change::React { .. }) {
            return 0;
        }
        let before = self.bytes;
        for message in self.messages.iter_mut() {
            let old = cost(message);
            let Some(extra) = message.extra.as_mut() else {
                continue;
            };
            let Some(quote) = extra.shown.quote.as_mut() else {
                continue;
            };
            if extra.shown.reply_to == Some(target) {
                quote.follow(what, Some(&change.content));
                self.bytes = self.bytes + cost(message) - old;
            }
        }
        self.bytes as isize - before as isize
    }

    /// Adds the newest row, then lets the oldest go until at most
    /// `max_messages` messages (with the changes among them) and
    /// `max_bytes` are kept (the newest always stays). Returns the bytes
    /// the window grew by, which may be negative.
    pub fn push(&mut self, message: StoredMessage, max_messages: usize, max_bytes: usize) -> isize {
        let before = self.bytes;
        self.bytes += cost(&message);
        self.held += usize::from(message.is_message());
        self.messages.push_back(message);
        while self.held > max_messages.max(1) {
            self.pop_oldest();
        }
        self.trim_to(max_bytes);
        self.bytes as isize - before as isize
    }

    /// Lets the oldest messages go until the window costs at most
    /// `max_bytes` or holds one message; returns the bytes freed.
    pub fn trim_to(&mut self, max_bytes: usize) -> usize {
        let before = self.bytes;
        while self.bytes > max_bytes && self.messages.len() > 1 {
            self.pop_oldest();
        }
        before - self.bytes
    }

    /// Keeps the newest `count` messages (and the changes after the
    /// oldest of them); returns the rows freed.
    pub fn keep_newest(&mut self, count: usize) -> usize {
        let before = self.messages.len();
        while self.held > count {
            self.pop_oldest();
        }
        before - self.messages.len()
    }

    /// Lets go the oldest messages for which `expired` holds; returns the
    /// messages and bytes freed.
    pub fn drop_oldest_while(
        &mut self,
        expired: impl Fn(&StoredMessage) -> bool,
    ) -> (usize, usize) {
        let (count, bytes) = (self.messages.len(), self.bytes);
        while self.messages.front().is_some_and(&expired) {
            self.pop_oldest();
        }
        (count - self.messages.len(), bytes - self.bytes)
    }

    fn pop_oldest(&mut self) {
        if let Some(oldest) = self.messages.pop_front() {
            self.bytes -= cost(&oldest);
            self.held -= usize::from(oldest.is_message());
        }
    }
}

/// Keeps the windows of `map` (`window` finds each) within `budget` bytes
/// together, `held` being what they hold: past it, the window of `grown`
/// is cut to an equal share of the budget, then the others from the
/// largest down, oldest messages first, until they fit; if they still do
/// not (a window of one large message cannot be cut: each keeps at least
/// its newest), the others down to their newest message.
pub fn fit_budget<K: Eq + Hash, V>(
    map: &mut HashMap<K, V>,
    window: impl Fn(&mut V) -> &mut Window,
    grown: &K,
    held: &mut usize,
    budget: usize,
) {
    if *held <= budget {
        return;
    }
    let share = budget / map.len().max(1);
    if let Some(value) = map.get_mut(grown) {
        *held -= window(value).trim_to(share);
    }
    // Each down to its share; if windows that cannot be cut (one large
    // message) keep it over, the others down to their newest message.
    for target in [share, 0] {
        let mut windows: Vec<&mut Window> = map.values_mut().map(&window).collect();
        windows.sort_unstable_by_key(|w| std::cmp::Reverse(w.bytes()));
        for largest in windows {
            if *held <= budget {
                return;
            }
            *held -= largest.trim_to(target);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{DisplayName, MessageContent, RoomName, UserId};
    use crate::server::store::Channel;

    fn message(seq: u64, text: &str) -> StoredMessage {
        StoredMessage {
            channel: Channel::Room(RoomName::parse("r").unwrap()),
            seq,
            ts: 0,
            from: UserId::new_random(),
            name: DisplayName::parse("Ana").unwrap(),
            to: None,
            content: MessageContent::parse(text).unwrap(),
            client_id: None,
            extra: None,
        }
    }

    fn seqs(window: &Window) -> Vec<u64> {
        window.iter().map(|m| m.seq).collect()
    }

    #[test]
    fn a_window_keeps_the_newest_within_its_count_and_its_bytes() {
        let mut window = Window::default();
        for seq in 1..=5 {
            window.push(message(seq, "hi"), 3, usize::MAX);
        }
        assert_eq!(seqs(&window), [3, 4, 5]);
        let big = "😀".repeat(4000); // 16,000 bytes
        let limit = 2 * cost(&message(0, &big)) + 10;
        for seq in 6..=9 {
            window.push(message(seq, &big), 100, limit);
        }
        assert_eq!(seqs(&window), [8, 9], "two big ones fit the bytes");
        assert!(window.bytes() <= limit);
        assert_eq!(window.bytes(), window.iter().map(cost).sum::<usize>());
    }

    #[test]
    fn the_newest_message_stays_whatever_the_bounds() {
        let mut window = Window::default();
        window.push(message(1, "a"), 10, 1);
        window.push(message(2, "b"), 0, 1);
        assert_eq!(seqs(&window), [2]);
        assert_eq!(window.trim_to(0), 0);
    }

    #[test]
    fn trimming_frees_the_oldest_and_says_how_much() {
        let mut window = Window::from_messages((1..=4).map(|seq| message(seq, "x")).collect());
        let each = cost(&message(0, "x"));
        assert_eq!(window.trim_to(2 * each), 2 * each);
        assert_eq!(seqs(&window), [3, 4]);
        assert_eq!(window.drop_oldest_while(|m| m.seq < 4), (1, each));
        assert_eq!(seqs(&window), [4]);
    }

    #[test]
    fn past_the_budget_windows_are_cut_from_the_largest_down_past_one_that_cannot_be() {
        let big = "😀".repeat(4000);
        let small = cost(&message(0, "x"));
        let mut map: HashMap<&str, Window> = HashMap::new();
        // One large message alone: it cannot be cut.
        map.insert("one big", Window::from_messages(vec![message(1, &big)]));
        map.insert(
            "many",
            Window::from_messages((1..=40).map(|seq| message(seq, "x")).collect()),
        );
        map.insert("grown", Window::from_messages(vec![message(1, "x")]));
        let mut held: usize = map.values().map(Window::bytes).sum();
        let budget = cost(&message(0, &big)) + 10 * small;
        fit_budget(&mut map, |w| w, &"grown", &mut held, budget);
        assert!(held <= budget, "{held} > {budget}");
        assert_eq!(held, map.values().map(Window::bytes).sum::<usize>());
        assert_eq!(map["one big"].iter().count(), 1);
        assert!(map["many"].iter().count() < 40, "the next largest was cut");
    }
}

//! One channel's messages released strictly in sequence order, each once:
//! a message that comes early (its predecessor committed on another node
//! and still on its way over the bus) waits; a gap that outlives
//! [`GAP_WAIT`] asks to be filled from storage, where every committed
//! message is. Pure: time is passed in, and a fill is asked for, never run.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

/// How long an early message waits for the ones before it to arrive over
/// the bus before they are read from storage instead. Messages published
/// by two nodes a moment apart commonly arrive out of order by well under
/// a millisecond; one that is this late was most likely lost (a node died
/// between its commit and its publish, Redis restarted, a subscription
/// dropped).
pub const GAP_WAIT: Duration = Duration::from_millis(100);

/// Messages one fill asks storage for at most; a longer gap takes several.
pub const FILL_PAGE: usize = 200;

/// Early messages held at most per channel: past it the newest are let go
/// (a fill from storage brings them back).
pub const MAX_HELD: usize = 4096;

#[derive(Debug)]
pub struct Sequencer<T> {
    /// The last sequence number released; `None` until the channel's head
    /// is known (its load), while everything offered is held.
    head: Option<u64>,
    /// Messages above `head + 1`, waiting for the ones before them.
    held: BTreeMap<u64, T>,
    /// When the current gap was first seen.
    gap_since: Option<Instant>,
    /// A fill asked for and not yet answered.
    filling: bool,
    /// The head storage had at the last check ([`Sequencer::behind`]).
    stored_head: Option<u64>,
    /// The end of a range whose last fill came back a full page: storage
    /// has more of it, read next without waiting.
    unfinished: Option<u64>,
}

/// What to read from storage to close a gap: the messages numbered above
/// `after` and below `before` (if set), oldest first, at most [`FILL_PAGE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fill {
    pub after: u64,
    pub before: Option<u64>,
}

impl<T> Default for Sequencer<T> {
    fn default() -> Self {
        Self {
            head: None,
            held: BTreeMap::new(),
            gap_since: None,
            filling: false,
            stored_head: None,
            unfinished: None,
        }
    }
}

impl<T> Sequencer<T> {
    /// A channel whose messages up to `head` are all released (or were
    /// never owed here).
    #[cfg(test)]
    pub fn new(head: u64) -> Self {
        Self {
            head: Some(head),
            ..Self::default()
        }
    }

    /// The number of the last message released, once the room is loaded.
    pub fn head(&self) -> Option<u64> {
        self.head
    }

    /// The head is known now: what was held past it goes out, in order.
    pub fn start(&mut self, head: u64, now: Instant) -> Vec<T> {
        if self.head.is_some() {
            return Vec::new();
        }
        self.head = Some(head);
        self.held = self.held.split_off(&(head + 1));
        self.release(now)
    }

    /// A committed message `seq`, from this node or over the bus: what can
    /// go out now, in order (none if it is early, or seen before).
    pub fn offer(&mut self, seq: u64, item: T, now: Instant) -> Vec<T> {
        if self.head.is_some_and(|head| seq <= head) {
            return Vec::new(); // released already
        }
        let next = self.head.is_some_and(|head| seq == head + 1);
        if self.held.len() >= MAX_HELD && !next && !self.held.contains_key(&seq) {
            // Keep the oldest: they go out first. What is let go is in
            // storage, and the fill the gap asks for brings it back.
            if self
                .held
                .last_key_value()
                .is_some_and(|(&last, _)| seq > last)
            {
                return Vec::new();
            }
            self.held.pop_last();
        }
        self.held.entry(seq).or_insert(item);
        self.release(now)
    }

    /// Releases whatever follows the head without a gap, and notes when a
    /// gap opened.
    fn release(&mut self, now: Instant) -> Vec<T> {
        let Some(head) = self.head.as_mut() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        while let Some(entry) = self.held.first_entry() {
            if *entry.key() != *head + 1 {
                break;
            }
            *head += 1;
            out.push(entry.remove());
        }
        if self.held.is_empty() {
            self.gap_since = None;
        } else if !out.is_empty() || self.gap_since.is_none() {
            self.gap_since = Some(now);
        }
        out
    }

    /// The read that would close the current gap, if it has waited
    /// [`GAP_WAIT`] (or storage has said it has more) and no fill is under
    /// way; the caller runs it and answers with [`Sequencer::filled`] (or
    /// [`Sequencer::fill_failed`]).
    pub fn due_fill(&mut self, now: Instant) -> Option<Fill> {
        let head = self.head?;
        if self.filling {
            return None;
        }
        if let Some(before) = self.unfinished.filter(|&before| head + 1 < before) {
            self.filling = true;
            return Some(Fill {
                after: head,
                before: Some(before),
            });
        }
        let since = self.gap_since?;
        if now.duration_since(since) < GAP_WAIT {
            return None;
        }
        self.filling = true;
        Some(Fill {
            after: head,
            before: self.held.keys().next().copied(),
        })
    }

    /// Whether a fill will be due: messages are held, waiting for earlier
    /// ones, or storage has more of a range being read.
    pub fn wants_fill(&self) -> bool {
        !self.held.is_empty() || self.unfinished.is_some()
    }

    /// Checked periodically against the head storage has now: a fill for
    /// messages committed after `head` that have not come by the next
    /// check (a node published nothing, or the bus lost them) with no
    /// later message to show the gap. Waiting a check apart leaves the bus
    /// time to bring what was committed just before a check.
    pub fn behind(&mut self, stored_head: u64) -> Option<Fill> {
        let head = self.head?;
        let due = self.stored_head.is_some_and(|seen| seen > head);
        self.stored_head = Some(stored_head);
        if self.filling || !due {
            return None;
        }
        self.filling = true;
        let first_held = self.held.keys().next().copied();
        Some(Fill {
            after: head,
            before: Some(first_held.map_or(stored_head + 1, |held| held.min(stored_head + 1))),
        })
    }

    /// The answer to `fill`: `found` are the stored messages it covers,
    /// oldest first. When storage gave fewer than a page, every number in
    /// the range it did not give is gone (pruned by retention) and is
    /// skipped. Returns what goes out now, in order.
    pub fn filled(&mut self, fill: Fill, found: Vec<(u64, T)>, now: Instant) -> Vec<T> {
        self.filling = false;
        self.unfinished = None;
        let complete = found.len() < FILL_PAGE;
        let mut out = Vec::new();
        for (seq, item) in found {
            out.extend(self.offer(seq, item, now));
        }
        if let (true, Some(before)) = (complete, fill.before) {
            // Each number below `before` that storage did not give is
            // skipped, up to the next message there is.
            while let Some(head) = self.head.filter(|&head| head + 1 < before) {
                let next = self.held.keys().next().copied().filter(|&seq| seq < before);
                self.head = Some(next.unwrap_or(before) - 1);
                debug_assert!(self.head >= Some(head));
                out.extend(self.release(now));
            }
        }
        // A full page: the rest of the range is read at once. Another gap
        // still open waits its turn again from now.
        if let (false, Some(before)) = (complete, fill.before)
            && self.head.is_some_and(|head| head + 1 < before)
        {
            self.unfinished = Some(before);
        }
        if !self.held.is_empty() {
            self.gap_since = Some(now);
        }
        out
    }

    /// The fill could not be read (storage unreachable): the gap is asked
    /// for again after another wait.
    pub fn fill_failed(&mut self, now: Instant) {
        self.filling = false;
        self.unfinished = None;
        if !self.held.is_empty() {
            self.gap_since = Some(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_messages_go_out_at_once_and_repeats_never() {
        let now = Instant::now();
        let mut s = Sequencer::new(4);
        assert_eq!(s.offer(5, "5", now), ["5"]);
        assert_eq!(s.offer(6, "6", now), ["6"]);
        assert!(s.offer(6, "6 again", now).is_empty());
        assert!(s.offer(3, "old", now).is_empty());
        assert_eq!(s.head(), Some(6));
        assert_eq!(s.due_fill(now + GAP_WAIT * 10), None, "no gap, no fill");
    }

    #[test]
    fn an_early_message_waits_for_the_one_before_it() {
        let now = Instant::now();
        let mut s = Sequencer::new(0);
        assert!(s.offer(2, "2", now).is_empty());
        assert!(s.offer(3, "3", now).is_empty());
        assert_eq!(s.due_fill(now + GAP_WAIT / 2), None, "it waits first");
        assert_eq!(s.offer(1, "1", now), ["1", "2", "3"]);
        assert_eq!(s.due_fill(now + GAP_WAIT * 2), None, "the gap closed");
    }

    #[test]
    fn a_gap_that_stays_open_is_filled_from_storage_once() {
        let now = Instant::now();
        let mut s = Sequencer::new(10);
        assert!(s.offer(14, "14", now).is_empty());
        let later = now + GAP_WAIT;
        let fill = s.due_fill(later).expect("the gap outlived its wait");
        assert_eq!(
            fill,
            Fill {
                after: 10,
                before: Some(14)
            }
        );
        assert_eq!(s.due_fill(later), None, "one fill at a time");
        // The bus brings 11 meanwhile; storage brings 11 to 13.
        assert_eq!(s.offer(11, "11", later), ["11"]);
        let out = s.filled(fill, vec![(11, "11"), (12, "12"), (13, "13")], later);
        assert_eq!(out, ["12", "13", "14"]);
        assert_eq!(s.head(), Some(14));
    }

    #[test]
    fn numbers_storage_no_longer_has_are_skipped_after_a_fill() {
        let now = Instant::now();
        let mut s = Sequencer::new(10);
        s.offer(20, "20", now);
        let fill = s.due_fill(now + GAP_WAIT).unwrap();
        // Retention pruned 11 to 17.
        let out = s.filled(fill, vec![(18, "18"), (19, "19")], now + GAP_WAIT);
        assert_eq!(out, ["18", "19", "20"]);
        let mut s = Sequencer::new(10);
        s.offer(20, "20", now);
        let fill = s.due_fill(now + GAP_WAIT).unwrap();
        assert_eq!(s.filled(fill, vec![], now + GAP_WAIT), ["20"]);
    }

    #[test]
    fn a_full_page_fills_part_of_the_gap_and_asks_again() {
        let now = Instant::now();
        let mut s = Sequencer::new(0);
        let last = FILL_PAGE as u64 + 50;
        s.offer(last, last, now);
        let fill = s.due_fill(now + GAP_WAIT).unwrap();
        let page: Vec<(u64, u64)> = (1..=FILL_PAGE as u64).map(|n| (n, n)).collect();
        let out = s.filled(fill, page, now + GAP_WAIT);
        assert_eq!(out.len(), FILL_PAGE, "a full page skips nothing");
        assert_eq!(s.head(), Some(FILL_PAGE as u64));
        let again = s
            .due_fill(now + GAP_WAIT)
            .expect("the rest, without waiting");
        assert_eq!(again.after, FILL_PAGE as u64);
    }

    #[test]
    fn a_channel_far_behind_storage_is_read_page_after_page() {
        let now = Instant::now();
        let mut s = Sequencer::new(0);
        let stored = 2 * FILL_PAGE as u64 + 50;
        assert_eq!(s.behind(stored), None);
        let mut fill = s.behind(stored).expect("behind a check apart");
        let mut released = 0;
        loop {
            let page: Vec<(u64, u64)> = (fill.after + 1..fill.before.unwrap())
                .take(FILL_PAGE)
                .map(|n| (n, n))
                .collect();
            released += s.filled(fill, page, now).len();
            assert!(s.wants_fill() || released == stored as usize);
            match s.due_fill(now) {
                Some(next) => fill = next,
                None => break,
            }
        }
        assert_eq!(released, stored as usize, "all of it, at once");
        assert_eq!(s.head(), Some(stored));
        assert!(!s.wants_fill());
    }

    #[test]
    fn a_failed_fill_is_asked_for_again_after_another_wait() {
        let now = Instant::now();
        let mut s = Sequencer::new(0);
        s.offer(2, "2", now);
        s.due_fill(now + GAP_WAIT).unwrap();
        s.fill_failed(now + GAP_WAIT);
        assert_eq!(s.due_fill(now + GAP_WAIT + GAP_WAIT / 2), None);
        assert!(s.due_fill(now + GAP_WAIT * 2).is_some());
    }

    #[test]
    fn a_channel_behind_storage_with_nothing_held_is_filled_a_check_later() {
        let now = Instant::now();
        let mut s = Sequencer::<&str>::new(5);
        assert_eq!(s.behind(5), None);
        assert_eq!(s.behind(7), None, "they may still be on their way");
        let fill = s.behind(7).expect("two messages were never published");
        assert_eq!(
            fill,
            Fill {
                after: 5,
                before: Some(8)
            }
        );
        assert_eq!(s.filled(fill, vec![(6, "6"), (7, "7")], now), ["6", "7"]);
        // Messages that came by the next check need no fill.
        assert_eq!(s.behind(9), None);
        s.offer(8, "8", now);
        s.offer(9, "9", now);
        assert_eq!(s.behind(9), None);
    }

    #[test]
    fn while_the_head_is_unknown_everything_is_held_then_what_is_newer_goes() {
        let now = Instant::now();
        let mut s = Sequencer::default();
        assert!(s.offer(7, "7", now).is_empty());
        assert!(s.offer(9, "9", now).is_empty());
        assert_eq!(s.due_fill(now + GAP_WAIT), None, "no fill before the load");
        // The load saw up to 7: only 9 is new, and 8 is awaited.
        assert!(s.start(7, now).is_empty());
        assert_eq!(s.offer(8, "8", now), ["8", "9"]);
    }

    #[test]
    fn held_messages_are_bounded_keeping_the_oldest() {
        let now = Instant::now();
        let mut s = Sequencer::new(0);
        for seq in 2..(MAX_HELD as u64 + 10) {
            s.offer(seq, seq, now);
        }
        assert_eq!(s.held.len(), MAX_HELD);
        assert_eq!(s.held.keys().next(), Some(&2));
        let out = s.offer(1, 1, now);
        assert_eq!(out.len(), MAX_HELD + 1);
        assert_eq!(out.last(), Some(&(MAX_HELD as u64 + 1)));
    }
}

//! A room's presence announcements (`user_joined`, `user_left`) on their
//! way out. A lone announcement goes at once; during a storm of joins they
//! wait and go together, at most once per [`ANNOUNCE_EVERY`], so each member
//! gets them in one write instead of one write each (the broker flushes the
//! waiting ones on its tick, and before anything else it sends to the room,
//! so they keep their order with messages).
//!
//! Members are numbered as they are admitted. An announcement is owed to
//! the members admitted before it was made: a member who joins while one
//! waits already has its news in the `joined` member list. So what a member
//! is owed is always the tail of what waits, and all members share one list
//! of frames: one item in each member's queue, not one per frame.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use tokio_tungstenite::tungstenite::Utf8Bytes;

/// How long announcements may wait for others to go with them. With
/// 15,000 connections opening into rooms of 150 (`confab-bench idle`),
/// 100 ms let 3,470 open per second and 250 ms 10,300: the longer the wait,
/// the more joins share each member's write. A quarter of a second late is
/// still live for a member list.
pub const ANNOUNCE_EVERY: Duration = Duration::from_millis(250);

#[derive(Debug, Default)]
pub struct Announcements {
    /// Encoded frames not sent yet, each with the number of the first member
    /// who must not get it.
    waiting: Vec<(Utf8Bytes, u64)>,
    /// When announcements last went out.
    sent: Option<Instant>,
    /// Members admitted so far.
    admitted: u64,
}

impl Announcements {
    /// The number of a member being admitted. Announce its arrival first,
    /// so it does not get its own.
    pub fn admit(&mut self) -> u64 {
        self.admitted += 1;
        self.admitted
    }

    /// Queues an announcement for the members admitted so far. True when
    /// the room may send at once: nothing went out in the last period.
    pub fn queue(&mut self, frame: Utf8Bytes, now: Instant) -> bool {
        self.waiting.push((frame, self.admitted + 1));
        self.sent
            .is_none_or(|sent| now.duration_since(sent) >= ANNOUNCE_EVERY)
    }

    /// Takes what waits, to send now; `None` when nothing does.
    pub fn take(&mut self, now: Instant) -> Option<Outgoing> {
        if self.waiting.is_empty() {
            return None;
        }
        self.sent = Some(now);
        let (frames, first_excluded): (Vec<_>, _) =
            std::mem::take(&mut self.waiting).into_iter().unzip();
        Some(Outgoing {
            frames: frames.into(),
            first_excluded,
        })
    }
}

/// Announcements being sent.
pub struct Outgoing {
    pub frames: Arc<[Utf8Bytes]>,
    /// Per frame, in the same order (never decreasing).
    first_excluded: Vec<u64>,
}

impl Outgoing {
    /// Where the frames owed to the member admitted as `member` start.
    pub fn first_owed(&self, member: u64) -> usize {
        self.first_excluded
            .partition_point(|first_excluded| *first_excluded <= member)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(outgoing: &Outgoing, member: u64) -> Vec<&str> {
        outgoing.frames[outgoing.first_owed(member)..]
            .iter()
            .map(Utf8Bytes::as_str)
            .collect()
    }

    #[test]
    fn a_lone_announcement_goes_at_once_and_a_storm_waits_for_the_period() {
        let mut room = Announcements::default();
        let start = Instant::now();
        assert!(room.queue("first".into(), start), "nothing sent yet");
        assert!(room.take(start).is_some());
        assert!(!room.queue("soon after".into(), start + ANNOUNCE_EVERY / 2));
        assert!(!room.queue("and another".into(), start + ANNOUNCE_EVERY / 2));
        let later = start + ANNOUNCE_EVERY / 2;
        let outgoing = room.take(later).unwrap();
        assert_eq!(frames(&outgoing, 0), ["soon after", "and another"]);
        assert!(room.take(later).is_none(), "taken once");
        assert!(
            room.queue("quiet again".into(), later + ANNOUNCE_EVERY),
            "a period after the last went out"
        );
    }

    #[test]
    fn an_announcement_is_owed_only_to_members_admitted_before_it() {
        let mut room = Announcements::default();
        let now = Instant::now();
        let ana = room.admit();
        room.queue("ben joined".into(), now);
        let ben = room.admit();
        room.queue("cy joined".into(), now);
        let cy = room.admit();
        room.queue("ana left".into(), now);
        let outgoing = room.take(now).unwrap();
        assert_eq!(
            frames(&outgoing, ana),
            ["ben joined", "cy joined", "ana left"]
        );
        assert_eq!(frames(&outgoing, ben), ["cy joined", "ana left"]);
        assert_eq!(frames(&outgoing, cy), ["ana left"]);
    }
}

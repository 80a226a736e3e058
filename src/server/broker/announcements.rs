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
//!
//! A user who comes and goes while its arrival still waits cancels out:
//! nobody owed the arrival hears of it, nor of the departure. So one client
//! that joins and leaves a room as fast as it can makes at most two waiting
//! announcements (a departure, then an arrival), not two per round. A
//! departure followed by an arrival is not cancelled: the arrival may carry
//! a name the user took while away, which the room must hear.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::protocol::UserId;

/// How long announcements may wait for others to go with them. With
/// 15,000 connections opening into rooms of 150 (`confab-bench idle`),
/// 100 ms let 3,470 open per second and 250 ms 10,300: the longer the wait,
/// the more joins share each member's write. A quarter of a second late is
/// still live for a member list.
pub const ANNOUNCE_EVERY: Duration = Duration::from_millis(250);

#[derive(Debug, Default)]
pub struct Announcements {
    /// Announcements not sent yet, in order.
    waiting: Vec<Waiting>,
    /// When announcements last went out.
    sent: Option<Instant>,
    /// Members admitted so far.
    admitted: u64,
}

#[derive(Debug)]
struct Waiting {
    frame: Utf8Bytes,
    /// Whose arrival or departure it tells.
    user: UserId,
    arrival: bool,
    /// The number of the first member who must not get it.
    first_excluded: u64,
}

impl Announcements {
    /// The number of a member being admitted. Announce its arrival first,
    /// so it does not get its own.
    pub fn admit(&mut self) -> u64 {
        self.admitted += 1;
        self.admitted
    }

    /// Queues `user`'s arrival (or departure) for the members admitted so
    /// far. True when the room may send at once: nothing went out in the
    /// last period.
    ///
    /// A departure whose user's arrival still waits, with no member now in
    /// the room admitted since (`seated(from, to)` says whether one was,
    /// with a number in `from..to`), cancels it: whoever is owed the one is
    /// owed the other too, and nobody else saw either.
    pub fn queue(
        &mut self,
        user: UserId,
        arrival: bool,
        frame: Utf8Bytes,
        now: Instant,
        seated: impl Fn(u64, u64) -> bool,
    ) -> bool {
        let first_excluded = self.admitted + 1;
        // A user's arrivals and departures alternate, so the last waiting
        // one of the user is the opposite of this.
        if !arrival
            && let Some(index) = self.waiting.iter().rposition(|w| w.user == user)
            && self.waiting[index].arrival
            && !seated(self.waiting[index].first_excluded, first_excluded)
        {
            self.waiting.remove(index);
            return false;
        }
        self.waiting.push(Waiting {
            frame,
            user,
            arrival,
            first_excluded,
        });
        self.sent
            .is_none_or(|sent| now.duration_since(sent) >= ANNOUNCE_EVERY)
    }

    /// Takes what waits, to send now; `None` when nothing does.
    pub fn take(&mut self, now: Instant) -> Option<Outgoing> {
        if self.waiting.is_empty() {
            return None;
        }
        self.sent = Some(now);
        let (frames, first_excluded): (Vec<_>, _) = std::mem::take(&mut self.waiting)
            .into_iter()
            .map(|w| (w.frame, w.first_excluded))
            .unzip();
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

    /// Nobody seated in any range: every opposite pair may cancel.
    fn nobody(_: u64, _: u64) -> bool {
        false
    }

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
        let user = UserId::new_random;
        assert!(
            room.queue(user(), true, "first".into(), start, nobody),
            "nothing sent yet"
        );
        assert!(room.take(start).is_some());
        let soon = start + ANNOUNCE_EVERY / 2;
        assert!(!room.queue(user(), true, "soon after".into(), soon, nobody));
        assert!(!room.queue(user(), true, "and another".into(), soon, nobody));
        let outgoing = room.take(soon).unwrap();
        assert_eq!(frames(&outgoing, 0), ["soon after", "and another"]);
        assert!(room.take(soon).is_none(), "taken once");
        assert!(
            room.queue(
                user(),
                true,
                "quiet again".into(),
                soon + ANNOUNCE_EVERY,
                nobody
            ),
            "a period after the last went out"
        );
    }

    #[test]
    fn an_announcement_is_owed_only_to_members_admitted_before_it() {
        let mut room = Announcements::default();
        let now = Instant::now();
        let [ana_id, ben_id, cy_id] = [(); 3].map(|()| UserId::new_random());
        let ana = room.admit();
        room.queue(ben_id, true, "ben joined".into(), now, nobody);
        let ben = room.admit();
        room.queue(cy_id, true, "cy joined".into(), now, nobody);
        let cy = room.admit();
        room.queue(ana_id, false, "ana left".into(), now, nobody);
        let outgoing = room.take(now).unwrap();
        assert_eq!(
            frames(&outgoing, ana),
            ["ben joined", "cy joined", "ana left"]
        );
        assert_eq!(frames(&outgoing, ben), ["cy joined", "ana left"]);
        assert_eq!(frames(&outgoing, cy), ["ana left"]);
    }

    #[test]
    fn coming_and_going_while_the_arrival_waits_cancels_out() {
        let mut room = Announcements::default();
        let now = Instant::now();
        let (ana, ben) = (UserId::new_random(), UserId::new_random());
        room.admit();
        room.queue(ana, true, "ana joined".into(), now, nobody);
        room.take(now);
        // Ben comes and goes a thousand times within one period.
        for _ in 0..1000 {
            room.queue(ben, true, "ben joined".into(), now, nobody);
            room.admit(); // Ben's own seat, gone again before he leaves
            room.queue(ben, false, "ben left".into(), now, nobody);
        }
        assert!(room.take(now).is_none(), "nothing is left to tell");
    }

    #[test]
    fn a_member_admitted_between_an_arrival_and_a_departure_is_still_told() {
        let mut room = Announcements::default();
        let now = Instant::now();
        let (ben, cy) = (UserId::new_random(), UserId::new_random());
        let ana = room.admit();
        room.take(now);
        room.queue(cy, true, "cy joined".into(), now, nobody);
        let cy_seat = room.admit();
        room.queue(ben, true, "ben joined".into(), now, nobody);
        room.admit(); // Ben
        // Dan arrives while Ben is in: his member list shows Ben.
        let dan = room.admit();
        let seated = |from: u64, to: u64| (from..to).contains(&dan);
        room.queue(ben, false, "ben left".into(), now, seated);
        let outgoing = room.take(now).unwrap();
        assert_eq!(
            frames(&outgoing, ana),
            ["cy joined", "ben joined", "ben left"]
        );
        assert_eq!(frames(&outgoing, cy_seat), ["ben joined", "ben left"]);
        assert_eq!(
            frames(&outgoing, dan),
            ["ben left"],
            "Dan saw Ben in joined"
        );
    }

    #[test]
    fn a_return_is_announced_though_the_departure_still_waits() {
        let mut room = Announcements::default();
        let now = Instant::now();
        let ana = UserId::new_random();
        let first = room.admit();
        room.take(now);
        room.queue(ana, false, "ana left".into(), now, nobody);
        // Ana comes back, perhaps under a new name: both go out.
        room.queue(ana, true, "ana joined as Ann".into(), now, nobody);
        let outgoing = room.take(now).unwrap();
        assert_eq!(frames(&outgoing, first), ["ana left", "ana joined as Ann"]);
    }
}

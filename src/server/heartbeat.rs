//! A connection's deadlines, as a pure state machine its task consults when
//! its one timer fires: when to ping, when a silent client is gone, and
//! when a kicked connection's close has taken too long. Time is passed in.
//!
//! Only a client that has been silent for the ping interval is pinged:
//! anything it sends (a message, a typing notice, a pong) shows it is
//! there, and a ping would only cost both sides a frame each way. At 10,000
//! connections pinging everyone every 5 s was about a fifth of the server's
//! CPU per delivery (BENCHMARKS.md, "Issue 14").

use std::time::Duration;

use tokio::time::Instant;

/// What a tick found due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    Nothing,
    /// Send a ping: the client has been silent for the interval.
    Ping,
    /// Nothing at all arrived for the timeout: the client is gone.
    Silent,
    /// The close frame of a kicked connection took too long.
    CloseTimedOut,
}

/// The deadlines. A frame moves the heartbeat's, but the task's timer is
/// only re-armed when it fires (resetting a timer per frame would cost
/// more): a tick that finds nothing due says when to look again.
#[derive(Debug)]
pub struct Heartbeat {
    /// When the client was last heard from.
    heard: Instant,
    /// When it was last pinged (or the connection opened).
    pinged: Instant,
    close_by: Option<Instant>,
    /// Milliseconds (a `Duration` is four times the size, in every
    /// connection).
    silent_after_ms: u32,
    ping_every_ms: u32,
}

fn millis(duration: Duration) -> u32 {
    u32::try_from(duration.as_millis()).unwrap_or(u32::MAX)
}

impl Heartbeat {
    /// A connection opened `now`: pinged after `ping_every` of silence, gone
    /// after `silent_after` of it.
    pub fn new(now: Instant, silent_after: Duration, ping_every: Duration) -> Self {
        Self {
            heard: now,
            pinged: now,
            close_by: None,
            silent_after_ms: millis(silent_after),
            ping_every_ms: millis(ping_every),
        }
    }

    /// A frame arrived.
    pub fn heard(&mut self, now: Instant) {
        self.heard = now;
    }

    /// A kicked connection's close frame must be out by `deadline`.
    pub fn close_by(&mut self, deadline: Instant) {
        self.close_by = Some(deadline);
    }

    fn silent_at(&self) -> Instant {
        self.heard + Duration::from_millis(self.silent_after_ms.into())
    }

    /// Silence for the interval since the later of the last frame heard and
    /// the last ping sent.
    fn ping_at(&self) -> Instant {
        self.heard.max(self.pinged) + Duration::from_millis(self.ping_every_ms.into())
    }

    /// When the timer should next fire.
    pub fn next_deadline(&self) -> Instant {
        let next = self.silent_at().min(self.ping_at());
        self.close_by.map_or(next, |close| next.min(close))
    }

    /// What is due at `now` (a ping due is taken as sent).
    pub fn tick(&mut self, now: Instant) -> Due {
        if self.close_by.is_some_and(|close| now >= close) {
            Due::CloseTimedOut
        } else if now >= self.silent_at() {
            Due::Silent
        } else if now >= self.ping_at() {
            self.pinged = now;
            Due::Ping
        } else {
            Due::Nothing
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PING: Duration = Duration::from_secs(25);
    const SILENT: Duration = Duration::from_secs(45);

    fn at(start: Instant, seconds: u64) -> Instant {
        start + Duration::from_secs(seconds)
    }

    #[test]
    fn a_silent_client_is_pinged_each_interval_then_let_go_at_the_timeout() {
        let start = Instant::now();
        let mut heartbeat = Heartbeat::new(start, SILENT, PING);
        assert_eq!(heartbeat.next_deadline(), at(start, 25));
        assert_eq!(heartbeat.tick(at(start, 24)), Due::Nothing);
        assert_eq!(heartbeat.tick(at(start, 25)), Due::Ping);
        // The next ping would be at 50: the timeout at 45 comes first.
        assert_eq!(heartbeat.next_deadline(), at(start, 45));
        assert_eq!(heartbeat.tick(at(start, 44)), Due::Nothing);
        assert_eq!(heartbeat.tick(at(start, 45)), Due::Silent);
    }

    #[test]
    fn a_client_that_answers_is_pinged_once_per_interval_of_silence() {
        let start = Instant::now();
        let mut heartbeat = Heartbeat::new(start, SILENT, PING);
        assert_eq!(heartbeat.tick(at(start, 25)), Due::Ping);
        heartbeat.heard(at(start, 26)); // the pong
        assert_eq!(heartbeat.next_deadline(), at(start, 51));
        assert_eq!(heartbeat.tick(at(start, 50)), Due::Nothing);
        assert_eq!(heartbeat.tick(at(start, 51)), Due::Ping);
        heartbeat.heard(at(start, 52));
        assert_eq!(heartbeat.tick(at(start, 76)), Due::Nothing);
        assert_eq!(heartbeat.tick(at(start, 77)), Due::Ping);
        // No answer this time: gone 45 s after the last frame.
        assert_eq!(heartbeat.tick(at(start, 96)), Due::Nothing);
        assert_eq!(heartbeat.tick(at(start, 97)), Due::Silent);
    }

    #[test]
    fn a_client_that_talks_is_never_pinged() {
        let start = Instant::now();
        let mut heartbeat = Heartbeat::new(start, SILENT, PING);
        for second in (10..=300).step_by(10) {
            heartbeat.heard(at(start, second));
            // The timer fires at the deadline it was last armed with.
            let deadline = heartbeat.next_deadline();
            assert_eq!(deadline, at(start, second + 25));
            assert_eq!(heartbeat.tick(at(start, second + 5)), Due::Nothing);
        }
    }

    #[test]
    fn a_kicked_connection_has_until_its_close_deadline() {
        let start = Instant::now();
        let mut heartbeat = Heartbeat::new(start, SILENT, PING);
        heartbeat.close_by(at(start, 2));
        assert_eq!(heartbeat.next_deadline(), at(start, 2));
        assert_eq!(heartbeat.tick(at(start, 1)), Due::Nothing);
        assert_eq!(heartbeat.tick(at(start, 2)), Due::CloseTimedOut);
    }
}

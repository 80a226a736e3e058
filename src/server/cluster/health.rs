//! Whether the bus is usable: set lost by any failure (a dropped
//! connection, a Redis call that failed, a renewal that did not answer),
//! and recovered only by a recovery that no failure interrupted. Shared by
//! the bus task, the lease's task, the connection's push handler and the
//! readiness check.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct Health {
    lost: AtomicBool,
    /// Failures so far: a recovery counts only if none came during it.
    failures: AtomicU64,
    /// Set when a renewal found this node's lease gone (it was swept out
    /// while stalled, or Redis lost everything), until the bus task has
    /// registered everything again. Sticky: no later renewal clears it.
    lease_lost: AtomicBool,
}

impl Health {
    /// Something failed: the bus is lost until it recovers. Whether it was
    /// usable until now (to log the first failure only).
    pub fn fail(&self) -> bool {
        self.failures.fetch_add(1, Ordering::AcqRel);
        !self.lost.swap(true, Ordering::AcqRel)
    }

    pub fn is_lost(&self) -> bool {
        self.lost.load(Ordering::Acquire)
    }

    /// Where the failures stand, before a recovery starts.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Acquire)
    }

    /// The recovery that started at `seen` is done: the bus is usable
    /// again, unless something failed meanwhile (then it stays lost, and
    /// the next recovery goes on).
    pub fn recovered(&self, seen: u64) -> bool {
        self.lost.store(false, Ordering::Release);
        if self.failures.load(Ordering::Acquire) != seen {
            self.lost.store(true, Ordering::Release);
            return false;
        }
        true
    }

    pub fn lose_lease(&self) {
        self.lease_lost.store(true, Ordering::Release);
    }

    /// Whether the lease was found gone since the last call.
    pub fn take_lease_lost(&self) -> bool {
        self.lease_lost.swap(false, Ordering::AcqRel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recovery_interrupted_by_a_failure_does_not_count() {
        let health = Health::default();
        assert!(!health.is_lost());
        assert!(health.fail(), "the first failure is news");
        assert!(!health.fail(), "the second is not");
        let seen = health.failures();
        health.fail(); // during the recovery
        assert!(!health.recovered(seen));
        assert!(health.is_lost());
        let seen = health.failures();
        assert!(health.recovered(seen));
        assert!(!health.is_lost());
    }

    #[test]
    fn a_lost_lease_stays_reported_until_taken() {
        let health = Health::default();
        assert!(!health.take_lease_lost());
        health.lose_lease();
        assert!(health.take_lease_lost());
        assert!(!health.take_lease_lost());
    }
}

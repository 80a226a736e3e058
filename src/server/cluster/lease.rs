//! This node's lease in Redis, renewed every second on a task of its own
//! (a bus task held up behind a slow broker must not get its live node
//! taken for dead), and the sweeping out of nodes whose lease ran out.

use std::sync::Arc;

use redis::aio::ConnectionManager;
use tokio::{sync::mpsc, time::MissedTickBehavior};
use tracing::warn;

use super::health::Health;
use super::presence::{self, Presence};

/// Renews the lease once: a lease found gone is noted in `health` (the
/// bus task then registers everything again), and each node whose lease
/// ran out is swept out, which tells every node who left.
pub async fn renew(
    manager: &mut ConnectionManager,
    presence: &Presence,
    health: &Health,
) -> redis::RedisResult<()> {
    let (held, expired) = presence.renew(manager).await?;
    if !held {
        health.lose_lease();
    }
    for dead in expired {
        let gone = presence.sweep(manager, &dead).await?;
        if !gone.is_empty() {
            warn!(node = %dead, gone = gone.len(), "a node stopped renewing its lease: its users are gone; the sweep told every node");
        }
    }
    Ok(())
}

/// Renews the lease every [`presence::RENEW_EVERY`] until the bus task
/// ends, waking it after each renewal (a wake it has not taken yet is
/// enough: what a renewal found stays in `health`).
pub async fn keep(
    mut manager: ConnectionManager,
    presence: Presence,
    health: Arc<Health>,
    wake: mpsc::Sender<()>,
) {
    let mut every = tokio::time::interval(presence::RENEW_EVERY);
    every.set_missed_tick_behavior(MissedTickBehavior::Delay);
    every.tick().await; // the bus task renewed as it started
    loop {
        tokio::select! {
            _ = every.tick() => {}
            () = wake.closed() => return,
        }
        match renew(&mut manager, &presence, &health).await {
            Ok(()) => {
                let _ = wake.try_send(());
            }
            Err(error) => {
                if health.fail() {
                    warn!(%error, "renewing this node's lease failed; presence is put right once Redis answers again");
                }
            }
        }
    }
}

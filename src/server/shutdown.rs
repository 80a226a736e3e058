//! The process's stop signals, and how each asks the server to stop: the
//! future `main` hands to `server::run`.

use std::{future::Future, pin::Pin};

/// How the server is asked to stop.
pub enum Stop {
    /// Drain first (SIGTERM, from a supervisor or an orchestrator):
    /// `/readyz` answers 503 for `drain_delay_ms` while everything is still
    /// served, so a load balancer stops sending clients here before any is
    /// refused; the drain ends early when `cut_short` resolves (a second
    /// signal).
    Drain {
        cut_short: Pin<Box<dyn Future<Output = ()> + Send>>,
    },
    /// At once (SIGINT: someone at a terminal; tests).
    Now,
}

/// Resolves on the first SIGINT (Ctrl-C) or SIGTERM: how to stop.
pub async fn signal() -> Stop {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing the SIGTERM handler cannot fail on a running runtime");
    tokio::select! {
        () = interrupt() => {
            tracing::info!("SIGINT received: stopping now");
            Stop::Now
        }
        _ = terminate.recv() => {
            tracing::info!("SIGTERM received: draining");
            let cut_short = Box::pin(async move {
                tokio::select! {
                    () = interrupt() => {}
                    _ = terminate.recv() => {}
                }
                tracing::info!("a second signal: the drain is cut short");
            });
            Stop::Drain { cut_short }
        }
    }
}

async fn interrupt() {
    tokio::signal::ctrl_c()
        .await
        .expect("installing the SIGINT handler cannot fail on a running runtime");
}

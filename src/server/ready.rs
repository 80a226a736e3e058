//! `GET /readyz`: whether this node should be sent traffic, for a load
//! balancer. 200 when its storage answers and, in cluster mode, its bus is
//! connected; else 503 with what is wrong. `/health` only says the process
//! is alive.

use std::{sync::atomic::Ordering, time::Duration};

use axum::{extract::State, http::StatusCode};
use tracing::warn;

use super::app_state::AppState;

/// How long storage may take to answer before the node counts as not
/// ready.
const STORAGE_PATIENCE: Duration = Duration::from_secs(2);

pub(super) async fn readyz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    if state
        .bus_lost
        .as_ref()
        .is_some_and(|lost| lost.load(Ordering::Acquire))
    {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: Redis (the bus between nodes) is unreachable\n",
        );
    }
    match tokio::time::timeout(STORAGE_PATIENCE, state.store.ping()).await {
        Ok(Ok(())) => (StatusCode::OK, "ready\n"),
        Ok(Err(error)) => {
            warn!(%error, "not ready: storage does not answer");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "not ready: storage is unreachable\n",
            )
        }
        Err(_) => {
            warn!("not ready: storage does not answer in time");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "not ready: storage is unreachable\n",
            )
        }
    }
}

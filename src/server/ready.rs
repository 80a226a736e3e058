//! `GET /healthz` and `GET /readyz`, for a supervisor and a load balancer.
//! `/healthz` (and the older `/health`) says the process is alive and
//! serving HTTP. `/readyz` says whether this node should be sent traffic:
//! 200 when it is not draining, its storage answers and takes writes, and,
//! in cluster mode, its bus is connected; else 503 with what is wrong.

use std::{sync::atomic::Ordering, time::Duration};

use axum::{extract::State, http::StatusCode};
use tracing::warn;

use super::app_state::AppState;

/// How long storage may take to answer before the node counts as not
/// ready.
const STORAGE_PATIENCE: Duration = Duration::from_secs(2);

pub(super) async fn healthz() -> &'static str {
    "alive\n"
}

pub(super) async fn readyz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    let unavailable = |why| (StatusCode::SERVICE_UNAVAILABLE, why);
    if state.draining.load(Ordering::Acquire) {
        return unavailable("not ready: draining, the server is stopping\n");
    }
    if state.bus.as_ref().is_some_and(|bus| bus.is_lost()) {
        return unavailable("not ready: Redis (the bus between nodes) is unreachable\n");
    }
    match tokio::time::timeout(STORAGE_PATIENCE, state.store.ping()).await {
        Ok(Ok(())) => (StatusCode::OK, "ready\n"),
        Ok(Err(error)) => {
            warn!(%error, "not ready: storage does not answer, or takes no writes");
            unavailable("not ready: storage is unreachable or takes no writes\n")
        }
        Err(_) => {
            warn!("not ready: storage does not answer in time");
            unavailable("not ready: storage is unreachable\n")
        }
    }
}

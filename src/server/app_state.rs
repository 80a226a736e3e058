//! What every request handler and connection can reach: the settings, the
//! broker's handle, the connection permits, the identity secret, the
//! accounts, the allowed origins and the store. Built once by `serve`, shared by pointer.

use std::{
    ops::Deref,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64},
    },
};

use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use tokio::sync::Semaphore;

use super::broker::Broker;
use super::config::Settings;
use super::identity::Identity;
use super::origin::Origins;
use super::store::Store;

/// What every request handler can reach. One pointer: every connection
/// holds a copy.
#[derive(Clone)]
pub struct AppState(pub(super) Arc<Shared>);

pub struct Shared {
    pub(super) settings: Settings,
    pub(super) leptos: LeptosOptions,
    pub(super) broker: Broker,
    /// One permit per open WebSocket, `max_connections` in all.
    pub(super) connections: Arc<Semaphore>,
    pub(super) identity: Identity,
    /// Accounts and their sessions.
    pub(super) accounts: super::accounts::Accounts,
    /// Rooms' settings, roles and invites.
    pub(super) rooms: super::rooms::Rooms,
    /// Where browsers may open `/ws` from.
    pub(super) origins: Origins,
    pub(super) store: Store,
    /// Cluster mode: whether the bus is usable.
    pub(super) bus: Option<Arc<super::cluster::Health>>,
    /// What the server counts, for `/metrics`.
    pub(super) metrics: Arc<super::metrics::Metrics>,
    /// Rate limits, and the counts kept for them.
    pub(super) limits: Arc<super::limits::Limits>,
    /// The HTTP API's keys.
    pub(super) api_keys: super::api_keys::ApiKeys,
    /// `trusted_proxies`, parsed.
    pub(super) trusted_proxies: Vec<ipnet::IpNet>,
    /// Set once a drain has begun: `/readyz` answers 503 from then on.
    pub(super) draining: AtomicBool,
    /// The last connection id handed out.
    pub(super) last_conn: AtomicU64,
}

impl Shared {
    /// A new connection's id (also what an API post is stored under, so
    /// that the two never meet).
    pub(super) fn next_conn_id(&self) -> super::broker::ConnId {
        super::broker::ConnId(
            self.last_conn
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                + 1,
        )
    }
}

impl Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        LeptosOptions::clone(&state.leptos)
    }
}

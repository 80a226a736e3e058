//! The HTTP server: routes (`/ws`, `/health`, `/healthz`, `/readyz`,
//! `/metrics`, the HTTP API under `/api`, the Leptos pages and `/pkg`
//! assets) and [`run`], which serves them on a bound
//! listener until a shutdown future resolves, then drains: readiness off
//! first (on SIGTERM), then the WebSocket connections told to go.
//!
//! `run` takes an already bound listener so tests can bind port 0.

mod accounts;
mod api;
mod api_keys;
mod app_state;
mod broker;
mod client_addr;
mod close;
mod cluster;
pub mod config;
mod connection;
mod headers;
mod heartbeat;
mod http;
pub mod identity;
mod limits;
mod metrics;
mod origin;
mod outbox;
pub mod process;
mod ready;
mod rooms;
pub mod shutdown;
mod socket;
mod store;
mod writer;
mod ws;

use std::{
    future::Future,
    sync::{
        Arc, OnceLock,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
};

use axum::{Router, routing::get};
use leptos::config::LeptosOptions;
use tokio::{
    net::TcpListener,
    sync::{Notify, Semaphore},
};
use tracing::{error, info, warn};

use crate::app::shell;
use accounts::Accounts;
use app_state::{AppState, Shared};
use broker::{Broker, BrokerConfig, Command, Exit};
use cluster::Bus;
use config::Settings;
use identity::Identity;
use limits::Limits;
use metrics::Metrics;
use origin::Origins;
use rooms::Rooms;
use shutdown::Stop;
use store::{Retention, Store};

/// `GET /metrics`: the queue depths read now, then everything counted.
async fn metrics_page(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> impl axum::response::IntoResponse {
    let metrics = &state.metrics;
    metrics.broker_queue.set(state.broker.queue_depth() as i64);
    metrics.store_queue.set(state.store.queue_depth() as i64);
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        metrics.encode(),
    )
}

fn router(state: AppState) -> Router {
    // Server rendering spawns on tokio (a second call, from another server
    // in the same process, finds it set up already).
    let _ = any_spawner::Executor::init_tokio();
    let leptos = LeptosOptions::clone(&state.leptos);
    // The chat page's paths (see app::location); anything else is a file
    // of the site, or the app's "Page not found".
    let page = leptos_axum::render_app_to_stream(move || {
        headers::set_page_policy();
        shell(leptos.clone())
    });
    let mut router = Router::new();
    if let Some(path) = &state.settings.echo_path {
        router = router.route(path, get(ws::upgrade::<true>));
    }
    if state.settings.metrics_addr.is_none() {
        router = router.route("/metrics", get(metrics_page));
    }
    let router = router
        .nest("/api", api::router(state.clone()))
        .route("/api/", get(api::not_found))
        .route("/ws", get(ws::upgrade::<false>))
        .route("/health", get(|| async { "OK" }))
        .route("/healthz", get(ready::healthz))
        .route("/readyz", get(ready::readyz))
        .route("/", get(page.clone()))
        .route("/r/{room}", get(page.clone()))
        .route("/i/{code}", get(page.clone()))
        .route("/sign-up", get(page.clone()))
        .route("/sign-in", get(page.clone()))
        .route("/account", get(page))
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        .with_state(state);
    headers::secure(router)
}

/// Opens the storage, then serves until `shutdown` resolves. Then, if it
/// says [`Stop::Drain`], `/readyz` answers 503 for `drain_delay_ms` while
/// everything is still served; then the server stops accepting, sends every
/// client the shutdown notice and a 1012 close frame, and waits up to
/// `shutdown_grace_ms` for the connections to close.
pub async fn run(
    listener: TcpListener,
    settings: Settings,
    shutdown: impl Future<Output = Stop> + Send + 'static,
) -> anyhow::Result<()> {
    Server::open(settings)
        .await?
        .serve(listener, shutdown)
        .await
}

/// A server whose storage and identity secret are open, not yet serving:
/// `main` opens it before it binds and announces the address, so that a
/// server that cannot keep history (an unusable `data_dir`) fails before
/// saying it listens.
pub struct Server {
    settings: Settings,
    identity: Identity,
    accounts: Accounts,
    rooms: Rooms,
    store: Store,
    reports: tokio::sync::mpsc::Receiver<store::StoreReport>,
    /// Cluster mode's bus, connected.
    bus: Option<Bus>,
    metrics: Arc<Metrics>,
    /// Bound at `metrics_addr`, when set.
    metrics_listener: Option<TcpListener>,
}

impl Server {
    pub async fn open(settings: Settings) -> anyhow::Result<Self> {
        if let Some(bad) = settings
            .admins
            .iter()
            .find(|name| accounts::username::Username::parse(name).is_err())
        {
            anyhow::bail!(
                "invalid settings: admins: {bad:?} is not a username (see the README's Accounts)"
            );
        }
        let metrics = Metrics::new(settings.redis_url.is_some());
        let (store, reports) = Store::open(&settings, metrics.clone()).await?;
        let identity = Identity::load(&settings, store.token_secret())?;
        // One pool for both: with memory storage, each `tables()` is a new
        // database.
        let tables = store.tables().await?;
        let accounts = Accounts::new(tables.clone(), &settings)?;
        let rooms = Rooms::new(tables);
        let bus = match &settings.redis_url {
            Some(url) => Some(Bus::connect(url).await?),
            None => None,
        };
        let metrics_listener = match settings.metrics_addr {
            Some(addr) => Some(TcpListener::bind(addr).await.map_err(|error| {
                anyhow::anyhow!("cannot listen on metrics_addr {addr}: {error}")
            })?),
            None => None,
        };
        Ok(Self {
            settings,
            identity,
            accounts,
            rooms,
            store,
            reports,
            bus,
            metrics,
            metrics_listener,
        })
    }

    /// Serves until `shutdown` resolves; see [`run`].
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = Stop> + Send + 'static,
    ) -> anyhow::Result<()> {
        serve(listener, self, shutdown).await
    }
}

async fn serve(
    listener: TcpListener,
    server: Server,
    shutdown: impl Future<Output = Stop> + Send + 'static,
) -> anyhow::Result<()> {
    let Server {
        settings,
        identity,
        accounts,
        rooms,
        store,
        reports,
        bus,
        metrics,
        metrics_listener,
    } = server;
    let max_connections = settings.max_connections;
    let grace = settings.shutdown_grace();
    let drain_delay = settings.drain_delay();
    let connections = Arc::new(Semaphore::new(max_connections));
    let config = BrokerConfig {
        store: store.clone(),
        rooms: rooms.clone(),
        history_on_join: settings.history_on_join,
        cache_max_bytes: settings.cache_max_bytes,
        retention: Retention::from_settings(&settings),
        edit_window: settings.edit_window(),
        bus: bus.as_ref().map(Bus::sender),
        metrics: metrics.clone(),
        guest_ban_ms: settings.guest_ban_ms(),
    };
    let bus_health = bus.as_ref().map(Bus::health);
    let (broker, broker_task) = Broker::spawn(config, reports);
    if let Some(bus) = bus {
        bus.start(broker.downgrade(), metrics.clone());
    }
    let origins = Origins::new(
        &settings.public_origins,
        &settings.allowed_origins,
        listener.local_addr()?,
    );
    let limits = Arc::new(Limits::new(&settings.rate_limits));
    // The counts of users and addresses not heard from lately go; the task
    // ends with the server (it holds the last reference but one).
    let tidied = Arc::downgrade(&limits);
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
        every.tick().await;
        loop {
            every.tick().await;
            match tidied.upgrade() {
                Some(limits) => limits.forget_idle(),
                None => break,
            }
        }
    });
    let state = AppState(Arc::new(Shared {
        api_keys: api_keys::ApiKeys::new(&settings.api_keys),
        trusted_proxies: settings.trusted_proxies(),
        limits,
        origins,
        leptos: settings.leptos_options(),
        settings,
        broker: broker.clone(),
        connections: connections.clone(),
        identity,
        accounts,
        rooms,
        store,
        bus: bus_health,
        metrics,
        draining: AtomicBool::default(),
        last_conn: AtomicU64::default(),
    }));
    let ready = state.clone();
    // `/metrics` on an address of its own: served until the server ends.
    let metrics_server = metrics_listener.map(|listener| {
        let router = Router::new()
            .route("/metrics", get(metrics_page))
            .with_state(state.clone());
        info!(address = ?listener.local_addr().ok(), "serving /metrics");
        tokio::spawn(async move { axum::serve(listener, router).await })
    });
    let open_files = http::open_file_limit();
    let sockets = http::http_socket_budget(open_files.unwrap_or(1024));
    info!(address = %listener.local_addr()?, ?open_files, http_sockets = sockets, max_connections, "serving");
    if let Some(open_files) = open_files
        && (max_connections + sockets) as u64 > open_files
    {
        warn!(
            max_connections,
            open_files,
            "max_connections cannot all be open: the process may open only {open_files} files, {sockets} of them for HTTP before the upgrade"
        );
    }
    // Set when the shutdown signal fires; the grace period runs from there.
    let stopping = Arc::new(Notify::new());
    let signalled = stopping.clone();
    // Set if the broker ends while serving: then the server must exit.
    let failure = Arc::new(OnceLock::new());
    let failed = failure.clone();
    let header_timeout = state.settings.http_header_timeout();
    let serving = http::serve(
        listener,
        router(state),
        header_timeout,
        sockets,
        async move {
            tokio::select! {
                stop = shutdown => {
                    if let Stop::Drain { cut_short } = stop {
                        ready.draining.store(true, Ordering::Release);
                        info!(drain_delay_ms = drain_delay.as_millis() as u64, "draining: /readyz answers 503 while everything is still served");
                        tokio::select! {
                            () = tokio::time::sleep(drain_delay) => {}
                            () = cut_short => {}
                        }
                    }
                    info!("stopping: telling every client to go");
                    broker.send(Command::Shutdown).await;
                }
                why = broker_ended(broker_task) => {
                    error!(why, "stopping: nothing can be delivered any more");
                    let _ = failed.set(why);
                }
            }
            signalled.notify_one();
        },
    );
    // The drain waits for every HTTP request in hand: a client that sent
    // half of one must not hold the process past the grace period.
    let deadline = async {
        stopping.notified().await;
        tokio::time::sleep(grace).await;
    };
    tokio::select! {
        () = serving => {}
        () = deadline => warn!("HTTP requests still open after the shutdown grace period; dropping them"),
    }

    if let Some(server) = metrics_server {
        server.abort();
    }
    if let Some(why) = failure.get() {
        // The clients were told to come back (1012) if the broker could.
        anyhow::bail!("{why}; exiting");
    }

    // Every open WebSocket holds a permit: all of them back means all closed.
    let all = u32::try_from(max_connections).expect("settings cap max_connections at u32::MAX");
    match tokio::time::timeout(grace, connections.acquire_many(all)).await {
        Ok(_) => info!("every connection closed; exiting"),
        Err(_) => warn!(
            open = max_connections - connections.available_permits(),
            "connections still open after the shutdown grace period; exiting anyway"
        ),
    }
    Ok(())
}

/// Waits for the broker task to end, which it does while the server serves
/// only if something went wrong; says what.
async fn broker_ended(task: tokio::task::JoinHandle<Exit>) -> &'static str {
    match task.await {
        Ok(Exit::StoreStopped) => "the store's committer stopped",
        Ok(Exit::Done) => "the broker stopped",
        Err(error) if error.is_panic() => "the broker panicked",
        Err(_) => "the broker was cancelled",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_broker_that_ends_while_serving_is_reported_with_the_cause() {
        let stopped = tokio::spawn(async { Exit::StoreStopped });
        assert_eq!(broker_ended(stopped).await, "the store's committer stopped");
        let panicked = tokio::spawn(async {
            if u64::MAX > 0 {
                panic!("a bug in the broker");
            }
            Exit::Done
        });
        assert_eq!(broker_ended(panicked).await, "the broker panicked");
    }
}

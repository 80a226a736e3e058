//! The HTTP/1.1 server under the routes: the accept loop, with a budget of
//! open sockets, a deadline for each request's headers, and a drain on
//! shutdown. A WebSocket leaves it at its upgrade (the connection limit,
//! `max_connections`, counts it from then on).
//!
//! axum's own `serve` has no deadline at all: a client that connects and
//! says nothing, or trickles a header a byte at a time, held a socket
//! forever, and enough of them took every file the process may open, so
//! that `/health` timed out behind "Too many open files". Here hyper gives
//! each request `http_header_timeout_ms` to arrive whole, the idle time of
//! a kept-alive connection included; a connection not upgraded lives at
//! most six of those, however busy; and the loop stops accepting (leaving
//! new connections in the listen queue) while its budget is spent, rather
//! than failing to accept.

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use axum::{Router, body::Body, extract::ConnectInfo};
use hyper::{body::Incoming, server::conn::http1, service::service_fn};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::{
    net::{TcpListener, TcpStream},
    sync::{OwnedSemaphorePermit, Semaphore, watch},
};
use tower_service::Service;
use tracing::{debug, info, warn};

/// Files the process keeps for itself (the database, its journal, the
/// listener, the log) besides the connections.
const RESERVED_FILES: u64 = 64;

/// A connection not upgraded is let go after this many header timeouts
/// (a minute by default), however busy: the header deadline alone never
/// ends one that keeps asking, nor one that never reads its answers, and
/// each holds a place in the budget. Browsers simply open another.
const LIFETIME_IN_HEADER_TIMEOUTS: u32 = 6;

/// After being told to finish, how long a connection may take to do it
/// (a response the client does not read never finishes).
const FINISH_WITHIN: Duration = Duration::from_secs(5);

/// How long the loop waits after a failed accept before the next: the
/// failure is almost always the file limit, which only a close can lift.
const ACCEPT_RETRY: Duration = Duration::from_millis(50);

/// Sockets not yet upgraded to WebSockets that may be open at once: a
/// quarter of what the process may open (the rest is for WebSockets), and
/// never fewer than 32.
pub fn http_socket_budget(open_files: u64) -> usize {
    let budget = open_files.saturating_sub(RESERVED_FILES) / 4;
    usize::try_from(budget).unwrap_or(usize::MAX).max(32)
}

/// The soft limit of open files of this process (`/proc/self/limits`), if
/// it can be read.
pub fn open_file_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Serves `router` on `listener` until `shutdown` resolves, then lets each
/// connection finish the request in hand and waits for them all.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    header_timeout: Duration,
    sockets: usize,
    shutdown: impl Future<Output = ()>,
) {
    let budget = Arc::new(Semaphore::new(sockets));
    // `stop` tells connections to finish; `done` is held by each of them, so
    // its sender sees every receiver gone once they all have.
    let (stop, stopping) = watch::channel(false);
    let (done, finished) = watch::channel(());
    tokio::pin!(shutdown);
    let mut waiting_for_budget = false;
    loop {
        let permit = tokio::select! {
            permit = budget.clone().acquire_owned() => {
                permit.expect("the socket budget is never closed")
            }
            () = &mut shutdown => break,
        };
        if waiting_for_budget {
            waiting_for_budget = false;
            info!("accepting again");
        }
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    warn!(%error, "accept failed; retrying shortly");
                    tokio::time::sleep(ACCEPT_RETRY).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        if budget.available_permits() == 0 {
            waiting_for_budget = true;
            warn!(
                sockets,
                "every HTTP socket of the budget is open: new connections wait in the listen queue"
            );
        }
        let connection = serve_connection(
            stream,
            peer,
            router.clone(),
            header_timeout,
            permit,
            stopping.clone(),
        );
        let finished = finished.clone();
        tokio::spawn(async move {
            connection.await;
            drop(finished);
        });
    }
    drop(listener);
    let _ = stop.send(true);
    drop(finished);
    done.closed().await;
}

/// One TCP connection: HTTP/1.1 requests until the client closes, a
/// deadline passes, the server stops, or a WebSocket upgrade takes the
/// socket over. `permit` is its place in the budget.
async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    header_timeout: Duration,
    permit: OwnedSemaphorePermit,
    mut stopping: watch::Receiver<bool>,
) {
    let service = service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        let mut router = router.clone();
        // The router's error is `Infallible`: every request gets a response.
        async move { router.call(request.map(Body::new)).await }
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    let connection = builder
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    tokio::pin!(connection);
    let lifetime = tokio::time::sleep(header_timeout * LIFETIME_IN_HEADER_TIMEOUTS);
    tokio::pin!(lifetime);
    // Set once the connection is told to finish: when it must be done.
    let mut finish_by: Option<tokio::time::Instant> = None;
    loop {
        let deadline = finish_by.unwrap_or_else(|| tokio::time::Instant::now() + FINISH_WITHIN);
        tokio::select! {
            served = connection.as_mut() => {
                if let Err(error) = served {
                    debug!(%peer, %error, "HTTP connection ended");
                }
                break;
            }
            changed = stopping.changed(), if finish_by.is_none() => {
                if changed.is_ok() {
                    connection.as_mut().graceful_shutdown();
                    finish_by = Some(tokio::time::Instant::now() + FINISH_WITHIN);
                }
            }
            () = &mut lifetime, if finish_by.is_none() => {
                connection.as_mut().graceful_shutdown();
                finish_by = Some(tokio::time::Instant::now() + FINISH_WITHIN);
            }
            () = tokio::time::sleep_until(deadline), if finish_by.is_some() => {
                debug!(%peer, "HTTP connection dropped: it did not finish in time");
                break;
            }
        }
    }
    drop(permit);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_is_a_quarter_of_the_files_left_and_never_tiny() {
        assert_eq!(http_socket_budget(20_000), (20_000 - 64) / 4);
        assert_eq!(http_socket_budget(1024), 240);
        assert_eq!(http_socket_budget(100), 32);
    }

    #[test]
    fn this_process_has_a_file_limit() {
        assert!(open_file_limit().is_some_and(|limit| limit > 0));
    }
}

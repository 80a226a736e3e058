//! `churn`: people come and go. Each worker loops: connect, join a room,
//! post a message and wait for it, leave, disconnect. Reports the rate of
//! whole visits, and checks that afterwards the server holds no connection
//! of theirs and that its memory levels off: the second half of the churn
//! may not add more than [`MAX_SECOND_HALF_GROWTH`] to what the first half
//! left (a leak grows with the visits; the allocator's pools do not).

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Result, bail};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

use crate::client::{Dialer, delivered_content, join, room_message};
use crate::report::{Report, mib};
use crate::server::Server;

/// The server `churn` starts keeps 100 messages per room: every visit
/// posts one, and history kept in memory without a limit would grow by
/// design, hiding what the check below is for.
pub const SERVER_SETTINGS: &[(&str, &str)] = &[("CONFAB_RETENTION_MAX_MESSAGES", "100")];

/// Churning before the baseline is taken: the allocator's pools, the
/// rooms' caches and the kept history fill up first.
const WARM_UP: Duration = Duration::from_secs(2);

/// Growth of the server's RSS allowed in the second half, as a fraction of
/// what it was after the first. Measured: +1.6 MiB after 56,000 visits and
/// +1.8 MiB after 266,000, from 14.6 MiB: about 1 % between the halves.
const MAX_SECOND_HALF_GROWTH: f64 = 0.05;

#[derive(clap::Args, Clone, Debug)]
pub struct Args {
    /// Visits going on at once.
    #[arg(long, default_value_t = 64)]
    pub workers: usize,
    /// Rooms visited.
    #[arg(long, default_value_t = 20)]
    pub rooms: usize,
    /// Seconds of churning.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
}

pub async fn run(server: &Server, args: &Args) -> Result<Report> {
    let dialer = Arc::new(Dialer::new(server.addr, server.url()));
    let sockets_before = server.sockets()?;
    // A first round warms the allocator up: the baseline is a server that
    // has seen visitors, not a fresh one.
    churn(&dialer, args, WARM_UP).await?;
    settle().await;
    let rss_before = server.rss()?;
    let cpu_before = server.cpu()?;
    let half = Duration::from_secs(args.seconds) / 2;
    let started = Instant::now();
    let mut visits = churn(&dialer, args, half).await?;
    let rss_half = server.rss()?;
    visits += churn(&dialer, args, half).await?;
    let elapsed = started.elapsed();
    let cpu = server.cpu()? - cpu_before;
    settle().await;
    let rss_after = server.rss()?;
    let sockets_after = server.sockets()?;

    let mut report = Report::new("churn");
    report.row(
        "visits",
        format!(
            "{visits} (connect, join, post, leave, close), {} at once",
            args.workers
        ),
    );
    report.row(
        "visits per second",
        format!("{:.0}", visits as f64 / elapsed.as_secs_f64()),
    );
    report.row(
        "server CPU per visit",
        format!("{:.1} µs", cpu.as_secs_f64() * 1e6 / visits as f64),
    );
    report.row(
        "server connections after",
        format!(
            "{} (before: {})",
            sockets_after.saturating_sub(1),
            sockets_before.saturating_sub(1)
        ),
    );
    let growth = |from: u64, to: u64| (to as f64 / from as f64 - 1.0) * 100.0;
    report.row(
        "server RSS before / half-way / after",
        format!(
            "{:.1} / {:.1} / {:.1} MiB (second half {:+.1} %)",
            mib(rss_before),
            mib(rss_half),
            mib(rss_after),
            growth(rss_half, rss_after)
        ),
    );
    if sockets_after != sockets_before {
        bail!(
            "the server still holds {} connections",
            sockets_after.saturating_sub(sockets_before)
        );
    }
    if rss_after as f64 > rss_half as f64 * (1.0 + MAX_SECOND_HALF_GROWTH) {
        bail!(
            "the server's memory keeps growing: {:.1} MiB half-way, {:.1} MiB after",
            mib(rss_half),
            mib(rss_after)
        );
    }
    Ok(report)
}

/// Workers visiting for `length`; returns the number of visits.
async fn churn(dialer: &Arc<Dialer>, args: &Args, length: Duration) -> Result<u64> {
    let until = Instant::now() + length;
    let mut workers = Vec::new();
    for w in 0..args.workers {
        let (dialer, rooms) = (dialer.clone(), args.rooms);
        workers.push(tokio::spawn(async move {
            let mut visits = 0u64;
            while Instant::now() < until {
                visit(&dialer, &format!("churn-{}", (w + visits as usize) % rooms)).await?;
                visits += 1;
            }
            anyhow::Ok(visits)
        }));
    }
    let mut visits = 0;
    for worker in workers {
        visits += worker.await??;
    }
    Ok(visits)
}

async fn visit(dialer: &Dialer, room: &str) -> Result<()> {
    let mut socket = dialer.connect().await?;
    join(&mut socket, room).await?;
    socket.send(room_message(room, "hello")).await?;
    while let Some(frame) = socket.next().await {
        if let Message::Text(text) = frame?
            && delivered_content(&text) == Some("hello")
        {
            break;
        }
    }
    let leave = format!(r#"{{"type":"leave_room","room":"{room}"}}"#);
    socket.send(Message::text(leave)).await?;
    socket.close(None).await?;
    // Read to the end of the closing handshake.
    while socket.next().await.is_some() {}
    Ok(())
}

/// Time for the server to finish closing what was closed.
async fn settle() {
    tokio::time::sleep(Duration::from_secs(2)).await;
}

//! `idle`: many joined connections that say nothing. What each costs the
//! server in resident memory, and how fast they can be opened (upgrade plus
//! join).

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Result;
use futures_util::SinkExt;
use tokio_tungstenite::tungstenite::Message;

use crate::client::{Dialer, Socket, join};
use crate::report::{Report, mib};
use crate::server::Server;

#[derive(clap::Args, Clone, Debug)]
pub struct Args {
    /// Connections to open and keep.
    #[arg(long, default_value_t = 15_000)]
    pub connections: usize,
    /// Rooms they are spread over.
    #[arg(long, default_value_t = 100)]
    pub rooms: usize,
    /// Connections being opened at once.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Open as the web client does, with `hello` first: each join then
    /// brings the room's member list, and the joins after it.
    #[arg(long)]
    pub hello: bool,
}

pub async fn run(server: &Server, args: &Args) -> Result<Report> {
    let dialer = Arc::new(Dialer::new(server.addr, server.url()));
    let baseline = server.rss()?;
    let cpu_before = server.cpu()?;
    let started = Instant::now();
    let mut openers = Vec::new();
    for first in 0..args.concurrency.min(args.connections) {
        let (dialer, args) = (dialer.clone(), args.clone());
        openers.push(tokio::spawn(async move {
            let mut kept: Vec<Socket> = Vec::new();
            for n in (first..args.connections).step_by(args.concurrency) {
                let mut socket = dialer.connect().await?;
                if args.hello {
                    socket.send(Message::text(r#"{"type":"hello"}"#)).await?;
                }
                join(&mut socket, &format!("idle-{}", n % args.rooms)).await?;
                kept.push(socket);
            }
            anyhow::Ok(kept)
        }));
    }
    let mut kept = Vec::with_capacity(args.connections);
    for opener in openers {
        kept.extend(opener.await??);
    }
    let opening = started.elapsed();
    let cpu = server.cpu()? - cpu_before;
    // Let the announcements of the last joins go out before measuring.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss = server.rss()?;
    let n = kept.len() as f64;
    let mut report = Report::new("idle");
    report.row(
        "connections",
        format!(
            "{} in {} rooms{}",
            kept.len(),
            args.rooms,
            if args.hello { ", said hello" } else { "" }
        ),
    );
    report.row(
        "server RSS before / after",
        format!("{:.1} MiB / {:.1} MiB", mib(baseline), mib(rss)),
    );
    report.row(
        "server RSS per connection",
        format!("{:.0} B", (rss.saturating_sub(baseline)) as f64 / n),
    );
    report.row(
        "connections opened per second",
        format!("{:.0}", n / opening.as_secs_f64()),
    );
    report.row(
        "server CPU per connection opened",
        format!("{:.1} µs", cpu.as_secs_f64() * 1e6 / n),
    );
    drop(kept);
    Ok(report)
}

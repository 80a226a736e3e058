//! `burst`: one sender posts as fast as it can to one room of many members.
//! Reports the peak and overall deliveries per second, the time until every
//! member has every message, and the server's CPU time per delivery.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Result, bail};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

use crate::client::{Dialer, Socket, delivered_content, join, room_message};
use crate::report::Report;
use crate::server::Server;

#[derive(clap::Args, Clone, Debug)]
pub struct Args {
    /// Members of the room, the sender included.
    #[arg(long, default_value_t = 500)]
    pub members: usize,
    /// Messages the sender posts.
    #[arg(long, default_value_t = 2_000)]
    pub messages: usize,
}

/// Deliveries counted by a reader before it adds them to the shared total.
const TALLY_EVERY: u64 = 64;

/// How often the total is sampled, for the peak rate.
const SAMPLE: Duration = Duration::from_millis(100);

pub async fn run(server: &Server, args: &Args) -> Result<Report> {
    let dialer = Dialer::new(server.addr, server.url());
    let room = format!("burst-{}", std::process::id());
    let mut members: Vec<Socket> = Vec::with_capacity(args.members);
    for _ in 0..args.members {
        let mut socket = dialer.connect().await?;
        join(&mut socket, &room).await?;
        members.push(socket);
    }
    let sender = members.pop().expect("at least one member");
    let total = Arc::new(AtomicU64::new(0));
    let expected = args.messages as u64;
    let readers: Vec<_> = members
        .into_iter()
        .map(|socket| tokio::spawn(count(socket, expected, total.clone())))
        .collect();
    // The join announcements drain before the clock starts.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let cpu_before = server.cpu()?;
    let started = Instant::now();
    let messages = args.messages;
    let room_name = room.clone();
    let send = tokio::spawn(send_all(sender, room_name, messages, total.clone()));
    let sampler = tokio::spawn(peak(total.clone(), expected * args.members as u64));
    // The sender first: if the server refused a message, say so rather
    // than wait for it forever.
    let mut done = vec![send.await??];
    for reader in readers {
        done.push(reader.await??);
    }
    let elapsed = done.iter().max().copied().unwrap_or(started) - started;
    let cpu = server.cpu()? - cpu_before;
    let peak = sampler.await?;

    let deliveries = expected * args.members as u64;
    let mut report = Report::new("burst");
    report.row(
        "room",
        format!(
            "1 room, {} members, 1 sender, {} messages",
            args.members, messages
        ),
    );
    report.row(
        "every member has every message after",
        format!("{:.3} s", elapsed.as_secs_f64()),
    );
    report.row(
        "deliveries per second (overall)",
        format!("{:.0}", deliveries as f64 / elapsed.as_secs_f64()),
    );
    report.row("deliveries per second (peak 100 ms)", format!("{peak:.0}"));
    report.row(
        "server CPU per delivery",
        format!("{:.3} µs", cpu.as_secs_f64() * 1e6 / deliveries as f64),
    );
    Ok(report)
}

/// Messages the sender has in flight at most (sent, not yet back): under
/// the store's queue of requests (8,192), past which the server refuses a
/// message as busy rather than queue it. A burst longer than that goes as
/// fast as the server takes it.
const IN_FLIGHT: u64 = 4_096;

/// Sends `messages` to `room`, at most [`IN_FLIGHT`] ahead of its own
/// copies coming back, and reads those; returns when the last came. An
/// error from the server ends the run.
async fn send_all(
    socket: Socket,
    room: String,
    messages: usize,
    total: Arc<AtomicU64>,
) -> Result<Instant> {
    let (mut sink, mut stream) = socket.split();
    let mut back = 0;
    let own_copy = async |stream: &mut futures_util::stream::SplitStream<Socket>| {
        while let Some(frame) = stream.next().await {
            if let Message::Text(text) = frame? {
                if delivered_content(&text).is_some() {
                    total.fetch_add(1, Ordering::Relaxed);
                    return Ok(());
                }
                if text.starts_with(r#"{"type":"error""#) {
                    bail!("the server refused a message: {}", text.as_str());
                }
            }
        }
        bail!("closed during the burst")
    };
    for n in 0..messages as u64 {
        sink.feed(room_message(&room, &n.to_string())).await?;
        if n % 64 == 63 {
            sink.flush().await?;
        }
        if n + 1 - back >= IN_FLIGHT {
            sink.flush().await?;
            own_copy(&mut stream).await?;
            back += 1;
        }
    }
    sink.flush().await?;
    while back < messages as u64 {
        own_copy(&mut stream).await?;
        back += 1;
    }
    Ok(Instant::now())
}

/// Reads until `expected` room messages came; returns when the last did.
async fn count(socket: Socket, expected: u64, total: Arc<AtomicU64>) -> Result<Instant> {
    let (_sink, stream) = socket.split();
    read_half(stream, expected, total).await
}

async fn read_half(
    mut stream: futures_util::stream::SplitStream<Socket>,
    expected: u64,
    total: Arc<AtomicU64>,
) -> Result<Instant> {
    let (mut seen, mut untallied) = (0, 0);
    while let Some(frame) = stream.next().await {
        if let Message::Text(text) = frame?
            && delivered_content(&text).is_some()
        {
            seen += 1;
            untallied += 1;
            if untallied == TALLY_EVERY || seen == expected {
                total.fetch_add(std::mem::take(&mut untallied), Ordering::Relaxed);
            }
            if seen == expected {
                return Ok(Instant::now());
            }
        }
    }
    bail!("closed after {seen} of {expected} messages")
}

/// The highest delivery rate seen over one sampling period, until `all`.
async fn peak(total: Arc<AtomicU64>, all: u64) -> f64 {
    let mut best = 0.0f64;
    let mut last = 0;
    let mut tick = tokio::time::interval(SAMPLE);
    loop {
        tick.tick().await;
        let now = total.load(Ordering::Relaxed);
        best = best.max((now - last) as f64 / SAMPLE.as_secs_f64());
        last = now;
        if now >= all {
            return best;
        }
    }
}

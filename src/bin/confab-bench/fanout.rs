//! `fanout`: many rooms, senders posting at a fixed rate, their phases
//! spread over the period (senders that all start on one tick would turn a
//! steady rate into one burst per period). Every member of a room reads
//! every message and measures its latency from the send time carried in the
//! message. Reports latency percentiles, deliveries per second, messages
//! lost, and with `--curve`, p50/p99 against offered load up to saturation.
//!
//! On several nodes (`cluster`), each room's members are spread over them
//! in turn, so most deliveries cross from the sender's node to another.

use std::{
    sync::{Arc, OnceLock},
    time::{Duration, Instant},
};

use anyhow::Result;
use futures_util::{SinkExt, StreamExt};
use tokio::{sync::watch, task::JoinHandle};
use tokio_tungstenite::tungstenite::Message;

use crate::client::{Dialer, Socket, delivered_content, join, room_message};
use crate::report::Report;
use crate::server::{Server, cpu_of};

#[derive(clap::Args, Clone, Debug)]
pub struct Args {
    /// Rooms.
    #[arg(long, default_value_t = 100)]
    pub rooms: usize,
    /// Members per room, senders included.
    #[arg(long, default_value_t = 100)]
    pub members: usize,
    /// Senders per room.
    #[arg(long, default_value_t = 1)]
    pub senders: usize,
    /// Messages per second from each sender.
    #[arg(long, default_value_t = 1.0)]
    pub rate: f64,
    /// Seconds of sending.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Also step the rate up (doubling) until the server saturates, and
    /// report p50/p99 at each step.
    #[arg(long)]
    pub curve: bool,
}

/// The bench's clock: send times are microseconds since this instant.
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn now_micros() -> u64 {
    epoch().elapsed().as_micros() as u64
}

/// Time allowed, after the last send, for the last deliveries.
const DRAIN: Duration = Duration::from_secs(2);

pub async fn run(server: &Server, args: &Args) -> Result<Report> {
    run_on("fanout", &[server], &[], args).await
}

/// Processes other than the nodes whose CPU time is reported too (Redis,
/// PostgreSQL): a name and a way to list their pids now.
pub type Engine<'a> = (&'static str, &'a dyn Fn() -> Vec<u32>);

/// The scenario with each room's members spread over `servers` in turn.
pub async fn run_on(
    scenario: &'static str,
    servers: &[&Server],
    engines: &[Engine<'_>],
    args: &Args,
) -> Result<Report> {
    epoch();
    let dialers: Vec<Dialer> = servers
        .iter()
        .map(|server| Dialer::new(server.addr, server.url()))
        .collect();
    // Connect everyone once; each step of the curve reuses them.
    let mut rooms: Vec<Vec<Socket>> = Vec::with_capacity(args.rooms);
    for r in 0..args.rooms {
        let mut members = Vec::with_capacity(args.members);
        for m in 0..args.members {
            let mut socket = dialers[m % dialers.len()].connect().await?;
            join(&mut socket, &room_name(r)).await?;
            members.push(socket);
        }
        rooms.push(members);
    }
    let mut report = Report::new(scenario);
    report.row(
        "rooms",
        format!(
            "{} rooms of {} members, {} sender(s) each",
            args.rooms, args.members, args.senders
        ),
    );
    let mut group = Group::start(rooms, args.senders);
    tokio::time::sleep(Duration::from_millis(500)).await; // join announcements
    let mut rate = args.rate;
    loop {
        let step = group
            .step(servers, engines, rate, Duration::from_secs(args.seconds))
            .await?;
        let offered = rate * (args.rooms * args.senders * args.members) as f64;
        let label = format!("{offered:.0} offered deliveries/s");
        let mut cpu = format!("server CPU {:.2} µs/delivery", step.cpu_per_delivery_us);
        if servers.len() > 1 {
            let nodes: Vec<String> = step
                .node_cpu_us
                .iter()
                .map(|us| format!("{us:.2}"))
                .collect();
            cpu += &format!(" (per node: {})", nodes.join(", "));
        }
        for (name, us) in &step.engine_cpu_us {
            cpu += &format!(", {name} {us:.2} µs/delivery");
        }
        report.row(
            label,
            format!(
                "{:.0} delivered/s, p50 {}, p99 {}, p99.9 {}, max {}, lost {}, {cpu}",
                step.delivered_per_second,
                ms(step.percentile(50.0)),
                ms(step.percentile(99.0)),
                ms(step.percentile(99.9)),
                ms(step.percentile(100.0)),
                step.lost,
            ),
        );
        let saturated = step.lost > 0
            || step.delivered_per_second < 0.9 * offered
            || step.percentile(99.0) > 100_000;
        if !args.curve || saturated {
            break;
        }
        rate *= 2.0;
    }
    group.stop().await;
    Ok(report)
}

fn room_name(r: usize) -> String {
    format!("fanout-{}-{r}", std::process::id())
}

fn ms(micros: u64) -> String {
    format!("{:.2} ms", micros as f64 / 1000.0)
}

/// The connected rooms: a reader task per member collecting latencies, and
/// the senders' write halves.
struct Group {
    readers: Vec<JoinHandle<()>>,
    senders: Vec<(String, futures_util::stream::SplitSink<Socket, Message>)>,
    collect: watch::Sender<u64>,
    samples: Arc<std::sync::Mutex<Vec<u32>>>,
    /// Members per room.
    members: usize,
}

struct Step {
    /// Latencies in µs, sorted.
    latencies: Vec<u32>,
    delivered_per_second: f64,
    lost: u64,
    /// All nodes' CPU time per delivery, and each node's.
    cpu_per_delivery_us: f64,
    node_cpu_us: Vec<f64>,
    /// Each engine's CPU time per delivery.
    engine_cpu_us: Vec<(&'static str, f64)>,
}

impl Step {
    fn percentile(&self, p: f64) -> u64 {
        if self.latencies.is_empty() {
            return 0;
        }
        let rank = ((p / 100.0) * (self.latencies.len() - 1) as f64).round() as usize;
        u64::from(self.latencies[rank])
    }
}

impl Group {
    fn start(rooms: Vec<Vec<Socket>>, senders_per_room: usize) -> Group {
        let (collect, generation) = watch::channel(0u64);
        let samples = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut readers = Vec::new();
        let mut senders = Vec::new();
        let members_per_room = rooms.first().map_or(0, Vec::len);
        for (r, members) in rooms.into_iter().enumerate() {
            for (m, socket) in members.into_iter().enumerate() {
                let (sink, stream) = socket.split();
                if m < senders_per_room {
                    senders.push((room_name(r), sink));
                }
                readers.push(tokio::spawn(read(
                    stream,
                    generation.clone(),
                    samples.clone(),
                )));
            }
        }
        Group {
            readers,
            senders,
            collect,
            samples,
            members: members_per_room,
        }
    }

    /// Sends at `rate` per sender for `length`, then collects what arrived.
    async fn step(
        &mut self,
        servers: &[&Server],
        engines: &[Engine<'_>],
        rate: f64,
        length: Duration,
    ) -> Result<Step> {
        let period = Duration::from_secs_f64(1.0 / rate);
        let per_sender = (length.as_secs_f64() * rate).round().max(1.0) as u64;
        let count = self.senders.len();
        let nodes_before = servers
            .iter()
            .map(|s| s.cpu())
            .collect::<Result<Vec<_>>>()?;
        let engines_before: Vec<Duration> = engines
            .iter()
            .map(|(_, pids)| cpu_of_all(&pids()))
            .collect();
        let started = Instant::now();
        let mut sending = Vec::new();
        for (i, (room, mut sink)) in std::mem::take(&mut self.senders).into_iter().enumerate() {
            // Phases spread evenly over one period.
            let offset = period.mul_f64(i as f64 / count as f64);
            sending.push(tokio::spawn(async move {
                let mut tick = tokio::time::interval_at((started + offset).into(), period);
                for _ in 0..per_sender {
                    tick.tick().await;
                    sink.send(room_message(&room, &now_micros().to_string()))
                        .await?;
                }
                anyhow::Ok((room, sink))
            }));
        }
        for sender in sending {
            self.senders.push(sender.await??);
        }
        tokio::time::sleep(DRAIN).await;
        let mut node_cpu = Vec::with_capacity(servers.len());
        for (server, before) in servers.iter().zip(nodes_before) {
            node_cpu.push(server.cpu()? - before);
        }
        let engine_cpu: Vec<Duration> = engines
            .iter()
            .zip(engines_before)
            .map(|((_, pids), before)| cpu_of_all(&pids()).saturating_sub(before))
            .collect();
        // Readers hand over what they have collected.
        self.collect.send_modify(|g| *g += 1);
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut latencies = std::mem::take(&mut *self.samples.lock().unwrap());
        latencies.sort_unstable();
        // Every member of the room gets every message, the sender included.
        let expected = per_sender * count as u64 * self.members as u64;
        let delivered = latencies.len() as u64;
        let sending_time = length.as_secs_f64();
        let per_delivery = |cpu: Duration| cpu.as_secs_f64() * 1e6 / delivered.max(1) as f64;
        Ok(Step {
            delivered_per_second: delivered as f64 / sending_time,
            lost: expected.saturating_sub(delivered),
            cpu_per_delivery_us: per_delivery(node_cpu.iter().sum()),
            node_cpu_us: node_cpu.into_iter().map(per_delivery).collect(),
            engine_cpu_us: engines
                .iter()
                .zip(engine_cpu)
                .map(|((name, _), cpu)| (*name, per_delivery(cpu)))
                .collect(),
            latencies,
        })
    }

    async fn stop(self) {
        for reader in self.readers {
            reader.abort();
        }
    }
}

/// CPU time of several processes together (those gone count nothing).
fn cpu_of_all(pids: &[u32]) -> Duration {
    pids.iter().filter_map(|pid| cpu_of(*pid).ok()).sum()
}

/// Reads room messages, keeping each one's latency; hands them over when
/// the generation changes.
async fn read(
    mut stream: futures_util::stream::SplitStream<Socket>,
    mut generation: watch::Receiver<u64>,
    samples: Arc<std::sync::Mutex<Vec<u32>>>,
) {
    let mut mine: Vec<u32> = Vec::new();
    loop {
        tokio::select! {
            frame = stream.next() => {
                let Some(Ok(Message::Text(text))) = frame else {
                    if frame.is_none() { return; }
                    continue;
                };
                if let Some(sent) = delivered_content(&text).and_then(|c| c.parse::<u64>().ok()) {
                    let latency = now_micros().saturating_sub(sent);
                    mine.push(u32::try_from(latency).unwrap_or(u32::MAX));
                }
            }
            changed = generation.changed() => {
                if changed.is_err() { return; }
                samples.lock().unwrap().append(&mut mine);
            }
        }
    }
}

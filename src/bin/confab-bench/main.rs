//! confab-bench: a load generator for confab, over real WebSockets and our
//! own protocol. It starts the release server itself (or is pointed at a
//! running one), runs scenarios, reads the server's memory and CPU time from
//! /proc, and prints one table.
//!
//! `cargo run --release --features bench --bin confab-bench -- all`
//! (`make bench` does that against a fresh release build).

mod baseline;
mod burst;
mod churn;
mod client;
mod cluster;
mod fanout;
mod idle;
mod report;
mod server;
mod steady;

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};

use report::Report;
use server::Server;

#[derive(Parser, Debug)]
#[command(about = "Load generator for confab")]
struct Cli {
    /// The server binary to start (a fresh one per scenario).
    #[arg(long, global = true, default_value = "target/release/confab")]
    server_bin: PathBuf,
    /// History storage of the started server: memory or sqlite.
    #[arg(long, global = true, default_value = "memory")]
    storage: String,
    /// Use a running server at this address instead (with --pid).
    #[arg(long, global = true, requires = "pid")]
    addr: Option<std::net::SocketAddr>,
    /// The pid of that running server, for its memory and CPU time.
    #[arg(long, global = true)]
    pid: Option<u32>,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand, Debug)]
enum Scenario {
    /// Joined connections that say nothing: memory per connection, opening rate.
    Idle(idle::Args),
    /// One sender as fast as it can to one big room: peak fan-out.
    Burst(burst::Args),
    /// Many rooms, senders at a fixed rate: latency, losses, and the curve.
    Fanout(fanout::Args),
    /// Connect, join, post, leave, disconnect, over and over.
    Churn(churn::Args),
    /// Fanout across two nodes on PostgreSQL and Redis, beside one node on
    /// SQLite.
    Cluster(fanout::Args),
    /// Fanout against the baseline broker, then confab in memory and on
    /// SQLite: the steady state's cost, compared in one run.
    Steady(fanout::Args),
    /// Runs the baseline broker (what `steady` starts; not a scenario).
    #[command(hide = true)]
    BaselineServer,
    /// Every scenario with its defaults.
    All,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    if let Scenario::BaselineServer = cli.scenario {
        return baseline::serve();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let reports = runtime.block_on(run(&cli))?;
    Report::print(&reports);
    Ok(())
}

async fn run(cli: &Cli) -> Result<Vec<Report>> {
    let start_with = |settings: &[(&str, &str)]| -> Result<Server> {
        match (cli.addr, cli.pid) {
            (Some(addr), Some(pid)) => Ok(Server::attach(addr, pid)),
            _ => Server::spawn(&cli.server_bin, &cli.storage, settings),
        }
    };
    let start = || start_with(&[]);
    let mut reports = Vec::new();
    match &cli.scenario {
        Scenario::Idle(args) => reports.push(idle::run(&start()?, args).await?),
        Scenario::Burst(args) => reports.push(burst::run(&start()?, args).await?),
        Scenario::Fanout(args) => reports.push(fanout::run(&start()?, args).await?),
        Scenario::Churn(args) => {
            reports.push(churn::run(&start_with(churn::SERVER_SETTINGS)?, args).await?);
        }
        Scenario::Cluster(args) => reports.extend(cluster::run(&cli.server_bin, args).await?),
        Scenario::Steady(args) => reports.extend(steady::run(&cli.server_bin, args).await?),
        Scenario::BaselineServer => unreachable!("served before the runtime starts"),
        Scenario::All => {
            reports.push(idle::run(&start()?, &default_args()).await?);
            reports.push(burst::run(&start()?, &default_args()).await?);
            let mut curve: fanout::Args = default_args();
            reports.push(fanout::run(&start()?, &curve).await?);
            curve.curve = true;
            curve.seconds = 5;
            reports.push(fanout::run(&start()?, &curve).await?);
            let server = start_with(churn::SERVER_SETTINGS)?;
            reports.push(churn::run(&server, &default_args()).await?);
        }
    }
    Ok(reports)
}

/// A scenario's arguments with their defaults.
fn default_args<T: clap::FromArgMatches + clap::Args>() -> T {
    let command = T::augment_args(clap::Command::new("defaults"));
    T::from_arg_matches(&command.get_matches_from(["defaults"])).expect("defaults parse")
}

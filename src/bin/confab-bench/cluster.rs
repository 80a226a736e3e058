//! `cluster`: the fanout scenario on two nodes sharing a PostgreSQL and a
//! Redis (started here, on loopback; PostgreSQL fsyncs every commit, as
//! SQLite does), beside one node on SQLite, in one
//! run, so the two compare on the same machine at the same moment. Each
//! room's members alternate between the two nodes, so half of every
//! message's deliveries cross from the sender's node to the other. Besides
//! latency and losses it reports each node's CPU time per delivery, and
//! Redis's and PostgreSQL's.

use std::path::Path;

use anyhow::Result;

use crate::fanout::{self, Engine};
use crate::report::Report;
use crate::server::Server;

#[path = "../../../tests/services/mod.rs"]
mod services;

pub async fn run(bin: &Path, args: &fanout::Args) -> Result<Vec<Report>> {
    let mut reports = Vec::new();
    {
        let single = Server::spawn(bin, "sqlite", &[])?;
        reports.push(fanout::run_on("one node, SQLite", &[&single], &[], args).await?);
    }
    let postgres = tokio::task::spawn_blocking(services::Postgres::start_durable).await?;
    let redis = tokio::task::spawn_blocking(services::Redis::start).await?;
    let database = postgres.url("postgres");
    let bus = redis.url();
    let settings = [
        ("CONFAB_DATABASE_URL", database.as_str()),
        ("CONFAB_REDIS_URL", bus.as_str()),
    ];
    let one = Server::spawn(bin, "postgres", &settings)?;
    let two = Server::spawn(bin, "postgres", &settings)?;
    let redis_pids = || redis.pid().into_iter().collect::<Vec<_>>();
    let postgres_pids = || postgres.pids();
    let engines: [Engine<'_>; 2] = [("Redis", &redis_pids), ("PostgreSQL", &postgres_pids)];
    reports.push(
        fanout::run_on(
            "two nodes, PostgreSQL + Redis",
            &[&one, &two],
            &engines,
            args,
        )
        .await?,
    );
    Ok(reports)
}

//! `steady`: the steady state the issue names, 10,000 deliveries a second
//! over 10,000 connections (100 rooms of 100, one message a second each),
//! measured against the baseline broker (`baseline.rs`), confab with
//! storage in memory and confab on SQLite, one after another in one run, so
//! that the ratios compare like with like on a shared machine.

use std::path::Path;

use anyhow::Result;

use crate::fanout::{self, Args};
use crate::report::Report;
use crate::server::Server;

pub async fn run(server_bin: &Path, args: &Args) -> Result<Vec<Report>> {
    let mut reports = Vec::new();
    let baseline = Server::spawn_baseline()?;
    reports.push(fanout::run_on("steady: baseline broker", &[&baseline], &[], args).await?);
    drop(baseline);
    for (label, storage) in [
        ("steady: confab, memory", "memory"),
        ("steady: confab, SQLite", "sqlite"),
    ] {
        let server = Server::spawn(server_bin, storage, &[])?;
        reports.push(fanout::run_on(label, &[&server], &[], args).await?);
    }
    Ok(reports)
}

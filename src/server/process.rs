//! Starting the `confab` binary as a child process, as the integration
//! tests, the benchmarks and `confab-bench` do: on 127.0.0.1, port 0, with
//! the embedded defaults and settings as `CONFAB_*` variables. The address
//! comes from the line the binary prints once it listens, [`LISTENING`].

use std::{
    io::{BufRead, BufReader, Write},
    net::SocketAddr,
    path::Path,
    process::{Child, Command, Stdio},
};

use anyhow::{Context, Result, bail};

/// What the binary prints, followed by its address, once it listens.
pub const LISTENING: &str = "confab listening on http://";

/// For measuring throughput: room for the load generator's connections
/// (the file limit here is 20,000), and deep send queues, because the
/// readers share the cores with the server and now and then one is not
/// scheduled for a while; the slow-consumer rule must not end a run. No
/// rate limits: a load generator sends as fast as it can on purpose.
pub const LOAD_TEST_SETTINGS: &[(&str, &str)] = &[
    ("CONFAB_RATE_LIMITS", "off"),
    ("CONFAB_MAX_CONNECTIONS", "19000"),
    ("CONFAB_SEND_QUEUE_FRAMES", "8192"),
    ("CONFAB_SEND_QUEUE_BYTES", "33554432"),
];

/// Starts `bin` and waits until it listens. Logs at `warn` unless
/// `settings` says otherwise; its output keeps being read, so it never
/// blocks on a full pipe.
pub fn spawn(bin: &Path, settings: &[(&str, &str)]) -> Result<(Child, SocketAddr)> {
    spawn_command(Command::new(bin), settings)
}

/// The same, with the binary started by `command` (under `prlimit`, say).
pub fn spawn_command(command: Command, settings: &[(&str, &str)]) -> Result<(Child, SocketAddr)> {
    spawn_logged(command, settings, None)
}

/// The same, with what the binary prints kept in `log`, if given.
pub fn spawn_logged(
    mut command: Command,
    settings: &[(&str, &str)],
    log: Option<&Path>,
) -> Result<(Child, SocketAddr)> {
    let program = command.get_program().to_owned();
    let mut child = command
        .env("CONFAB_SITE_ADDR", "127.0.0.1:0")
        .env("CONFAB_CONFIG", "/nonexistent/use-the-defaults.toml")
        .env("RUST_LOG", "warn")
        .envs(settings.iter().copied())
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {}", program.display()))?;
    let mut stdout = BufReader::new(child.stdout.take().context("no stdout")?);
    let mut line = String::new();
    let addr = loop {
        line.clear();
        if stdout.read_line(&mut line)? == 0 {
            bail!("{} exited before listening", program.display());
        }
        if let Some(addr) = line.trim().strip_prefix(LISTENING) {
            break addr.parse()?;
        }
    };
    let mut log = log.map(std::fs::File::create).transpose()?;
    std::thread::spawn(move || {
        for line in stdout.lines() {
            if let (Some(log), Ok(line)) = (&mut log, line) {
                let _ = writeln!(log, "{line}");
            }
        }
    });
    Ok((child, addr))
}

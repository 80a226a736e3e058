//! The server under test: the release `confab` binary started by the bench
//! (its own data directory, chosen storage, port 0), or one already running
//! given by address and pid. Reads what the kernel says about it: resident
//! memory from `/proc/<pid>/status`, CPU time from `/proc/<pid>/stat`, open
//! sockets from `/proc/<pid>/fd`.

use std::{
    path::{Path, PathBuf},
    process::Child,
    time::Duration,
};

use anyhow::{Context, Result};
use confab::server::process;

pub struct Server {
    pub addr: std::net::SocketAddr,
    pub pid: u32,
    child: Option<Child>,
    data_dir: Option<PathBuf>,
}

impl Server {
    /// Starts `bin` on 127.0.0.1, port 0, with `storage` ("memory",
    /// "sqlite" or "postgres"), the load-test settings (deep send queues) and `settings`,
    /// more `CONFAB_*` variables for this scenario.
    pub fn spawn(bin: &Path, storage: &str, settings: &[(&str, &str)]) -> Result<Server> {
        static STARTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let data_dir =
            std::env::temp_dir().join(format!("confab-bench-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&data_dir)?;
        let storage_dir = data_dir.to_str().context("a temporary path in UTF-8")?;
        let mut all = vec![
            ("CONFAB_STORAGE", storage),
            ("CONFAB_DATA_DIR", storage_dir),
        ];
        all.extend_from_slice(process::LOAD_TEST_SETTINGS);
        all.extend_from_slice(settings);
        let (child, addr) = process::spawn(bin, &all)?;
        Ok(Server {
            addr,
            pid: child.id(),
            child: Some(child),
            data_dir: Some(data_dir),
        })
    }

    /// The baseline broker (`baseline.rs`): this binary, run as
    /// `confab-bench baseline-server`, in a process of its own so its CPU
    /// time is its own.
    pub fn spawn_baseline() -> Result<Server> {
        let mut command = std::process::Command::new(std::env::current_exe()?);
        command.arg("baseline-server");
        let (child, addr) = process::spawn_command(command, &[])?;
        Ok(Server {
            addr,
            pid: child.id(),
            child: Some(child),
            data_dir: None,
        })
    }

    /// A server started elsewhere.
    pub fn attach(addr: std::net::SocketAddr, pid: u32) -> Server {
        Server {
            addr,
            pid,
            child: None,
            data_dir: None,
        }
    }

    pub fn url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// Resident memory (VmRSS), in bytes.
    pub fn rss(&self) -> Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid))?;
        let kib = status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
            .context("VmRSS in /proc/<pid>/status")?;
        Ok(kib * 1024)
    }

    /// CPU time used so far, user plus system.
    pub fn cpu(&self) -> Result<Duration> {
        cpu_of(self.pid)
    }

    /// Open sockets (the listener included).
    pub fn sockets(&self) -> Result<usize> {
        let mut count = 0;
        for entry in std::fs::read_dir(format!("/proc/{}/fd", self.pid))? {
            if let Ok(target) = std::fs::read_link(entry?.path())
                && target.to_string_lossy().starts_with("socket:")
            {
                count += 1;
            }
        }
        Ok(count)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(dir) = &self.data_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// CPU time process `pid` used so far, user plus system.
#[allow(unsafe_code)]
pub fn cpu_of(pid: u32) -> Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name may hold spaces: fields are counted after its ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .context("/proc/<pid>/stat")?
        .1
        .split_whitespace()
        .collect();
    // utime and stime are fields 14 and 15 of the whole line; 12 and 13
    // after the name (state is the first).
    let ticks: u64 = fields[11].parse::<u64>()? + fields[12].parse::<u64>()?;
    // SAFETY: sysconf only reads a system constant.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Ok(Duration::from_nanos(ticks * 1_000_000_000 / per_second))
}

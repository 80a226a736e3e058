//! The `confab` binary: settings, logging, bind, serve until SIGINT or SIGTERM.

#[cfg(feature = "ssr")]
fn main() -> anyhow::Result<()> {
    few_malloc_arenas();
    let files = raise_open_file_limit();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(serve(files))
}

#[cfg(feature = "ssr")]
async fn serve(files: Option<(u64, u64)>) -> anyhow::Result<()> {
    use confab::server::{
        self,
        config::{LogFormat, Settings},
    };
    use tracing_subscriber::EnvFilter;

    // Settings first: they say how to log. An error in them is printed
    // before any log, as the error `main` returns.
    let settings = Settings::load()?;
    let log = tracing_subscriber::fmt().with_env_filter(
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
    );
    match settings.log_format {
        LogFormat::Text => log.init(),
        // One object per line, the event's fields (conn, user, room...) at
        // its top level.
        LogFormat::Json => log.json().flatten_event(true).init(),
    }
    match files {
        Some((was, now)) if was < now => {
            tracing::info!(was, now, "raised the limit of open files to the hard limit")
        }
        Some(_) => {}
        None => tracing::warn!("the limit of open files could not be read or raised"),
    }
    let site_addr = settings.site_addr;
    // Storage first: a server that cannot keep history never says it listens.
    let server = server::Server::open(settings).await?;
    let listener = tokio::net::TcpListener::bind(site_addr).await?;
    // Tests and scripts read this line to learn the port when it was 0.
    println!("{}{}", server::process::LISTENING, listener.local_addr()?);
    server.serve(listener, server::shutdown::signal()).await?;
    Ok(())
}

/// Two glibc malloc arenas for the whole process (one per core here),
/// instead of up to eight per core: the memory a connection frees while
/// opening (its HTTP buffers) then serves the next ones, rather than
/// staying in the arena of a thread that opens none. 15,000 idle
/// connections hold about 200 B less each (`confab-bench idle`); opening
/// is as fast, which it is not with one arena (half the rate, as the
/// threads wait for its lock). Small allocations come from each thread's
/// cache without a lock either way. An operator's `MALLOC_ARENA_MAX` is
/// left alone. Called before any thread is started.
#[cfg(feature = "ssr")]
#[allow(unsafe_code)]
fn few_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: sets a parameter of glibc's allocator, with no other
        // thread running yet.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}

/// Raises the soft limit of open files to the hard one: each connection is
/// a file, and the common soft limit of 1,024 would cap the server far
/// below `max_connections` (and fail accepts, `/health`'s included, once
/// reached). Returns the limit before and after.
#[cfg(feature = "ssr")]
#[allow(unsafe_code)]
fn raise_open_file_limit() -> Option<(u64, u64)> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit read and write the struct given,
    // which lives for both calls.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return None;
        }
        let was = limit.rlim_cur;
        if limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Some((was, was));
            }
        }
        Some((was, limit.rlim_cur))
    }
}

#[cfg(not(feature = "ssr"))]
fn main() {
    // The binary is the server; build it with `--features ssr` (cargo leptos does).
}

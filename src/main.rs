//! The `confab` binary: settings, logging, bind, serve until SIGINT or SIGTERM.

#[cfg(feature = "ssr")]
fn main() -> anyhow::Result<()> {
    few_malloc_arenas();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(serve())
}

#[cfg(feature = "ssr")]
async fn serve() -> anyhow::Result<()> {
    use confab::server::{self, config::Settings};
    use tracing_subscriber::EnvFilter;

    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let settings = Settings::load()?;
    let listener = tokio::net::TcpListener::bind(settings.site_addr).await?;
    // Tests and scripts read this line to learn the port when it was 0.
    println!("{}{}", server::process::LISTENING, listener.local_addr()?);
    server::run(listener, settings, server::shutdown::signal()).await?;
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

#[cfg(not(feature = "ssr"))]
fn main() {
    // The binary is the server; build it with `--features ssr` (cargo leptos does).
}

//! The `confab` binary: settings, logging, bind, serve until SIGINT or SIGTERM.

#[cfg(feature = "ssr")]
#[tokio::main]
async fn main() -> anyhow::Result<()> {
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

#[cfg(not(feature = "ssr"))]
fn main() {
    // The binary is the server; build it with `--features ssr` (cargo leptos does).
}

//! Graceful shutdown, in-process and of the real binary on SIGTERM.

mod common;

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::Duration,
};

use common::{Client, spawn_app};
use serde_json::json;

fn shutdown_notice() -> serde_json::Value {
    json!({"type": "error", "message": "server shutting down", "code": "shutting_down"})
}

#[tokio::test]
async fn shutdown_sends_every_client_the_notice_then_1012_and_returns() {
    let app = spawn_app().await;
    let mut ana = app.connect().await;
    let mut ben = app.connect().await;
    ana.join("general").await;
    ben.join("general").await;
    ana.recv().await;
    let url = app.ws_url();
    let stopping = tokio::spawn(app.shut_down());
    for client in [&mut ana, &mut ben] {
        let (texts, code, reason) = client.recv_close().await;
        assert_eq!(texts, [shutdown_notice()]);
        assert_eq!((code, reason.as_str()), (1012, "server restarting"));
    }
    stopping.await.unwrap().expect("run returns Ok");
    assert!(
        tokio_tungstenite::connect_async(&url).await.is_err(),
        "no longer accepting"
    );
}

#[tokio::test]
async fn the_binary_exits_zero_on_sigterm_after_notifying_clients() {
    let mut server = Command::new(env!("CARGO_BIN_EXE_confab"))
        .env("CONFAB_SITE_ADDR", "127.0.0.1:0")
        .env("CONFAB_CONFIG", "/nonexistent/use-the-defaults.toml")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .spawn()
        .expect("the confab binary starts");
    let mut stdout = BufReader::new(server.stdout.take().unwrap());
    let mut line = String::new();
    let addr = loop {
        line.clear();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "confab exited before listening"
        );
        if let Some(addr) = line.trim().strip_prefix("confab listening on http://") {
            break addr.to_owned();
        }
    };
    // Keep draining the log so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in stdout.lines() {});

    let mut client = Client::connect(&format!("ws://{addr}/ws")).await;
    client.join("general").await;
    let terminated = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(terminated.success());
    let (texts, code, _) = client.recv_close().await;
    assert_eq!(texts, [shutdown_notice()]);
    assert_eq!(code, 1012);

    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = server.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "confab did not exit after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(status.code(), Some(0));
}

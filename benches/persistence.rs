//! What persistence costs the broadcast path: the real `confab` binary,
//! once with `storage = "memory"` and once with `storage = "sqlite"` (WAL,
//! `synchronous = FULL`, group commit), under the same load: one sender
//! posting as fast as its acks allow (a window of unacknowledged messages)
//! to one room of many readers. It reports deliveries per second (messages
//! times readers, over the time until every reader has every message) and
//! the ratio of the two modes. Rounds alternate between the modes so that
//! noise from the shared machine hits both alike. The server's send queues
//! are deeper than the default (8,192 frames): the load generator shares the
//! two cores, and a reader it leaves unscheduled for a moment must not be
//! evicted as a slow consumer in the middle of a measurement.
//!
//! `make bench-persistence`, or:
//! `cargo bench --no-default-features --features ssr --bench persistence`
//! Environment: READERS (200), MESSAGES (5000), WINDOW (256), ROUNDS (3).

use std::{
    path::Path,
    process::Child,
    time::{Duration, Instant},
};

use confab::server::process;

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::{
    connect_async_with_config,
    tungstenite::{Message, protocol::WebSocketConfig},
};

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

struct Server {
    child: Child,
    url: String,
    _data: tempfile::TempDir,
}

impl Server {
    fn start(storage: &str) -> Self {
        let data = tempfile::tempdir().unwrap();
        let data_dir = data.path().to_str().expect("a temporary path in UTF-8");
        let mut settings = vec![("CONFAB_STORAGE", storage), ("CONFAB_DATA_DIR", data_dir)];
        settings.extend_from_slice(process::LOAD_TEST_SETTINGS);
        let (child, addr) = process::spawn(Path::new(env!("CARGO_BIN_EXE_confab")), &settings)
            .expect("the confab binary starts and listens");
        Self {
            child,
            url: format!("ws://{addr}/ws"),
            _data: data,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A small read buffer: tungstenite's default 128 KiB is zeroed on every
/// read, which would make the readers, not the server, the bottleneck.
fn client_config() -> WebSocketConfig {
    WebSocketConfig::default().read_buffer_size(4096)
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(url: &str) -> Socket {
    let (socket, _) = connect_async_with_config(url, Some(client_config()), false)
        .await
        .expect("the upgrade succeeds");
    socket
}

/// Joins `room` with `hello` and waits for `joined`.
async fn join(socket: &mut Socket, room: &str) {
    for message in [
        r#"{"type":"hello"}"#.to_owned(),
        format!(r#"{{"type":"join_room","room":"{room}"}}"#),
    ] {
        socket.send(Message::text(message)).await.unwrap();
    }
    while let Some(Ok(frame)) = socket.next().await {
        if let Message::Text(text) = frame
            && text.contains(r#""type":"joined""#)
        {
            return;
        }
    }
    panic!("no joined");
}

/// One round: deliveries per second.
async fn round(storage: &str, readers: usize, messages: usize, window: usize) -> f64 {
    let server = Server::start(storage);
    let room = "bench";
    // Each reader reads from the moment it has joined: the joins of the
    // readers after it would otherwise pile up unread in its queue.
    let (done, mut finished) = tokio::sync::mpsc::channel(readers);
    for _ in 0..readers {
        let mut socket = connect(&server.url).await;
        join(&mut socket, room).await;
        let done = done.clone();
        tokio::spawn(async move {
            let mut seen = 0;
            while seen < messages {
                match socket.next().await {
                    Some(Ok(Message::Text(text))) if text.contains(r#""type":"room_message""#) => {
                        seen += 1;
                    }
                    Some(Ok(Message::Close(frame))) => {
                        let why = format!("a reader was closed after {seen} messages: {frame:?}");
                        let _ = done.send(Err(why)).await;
                        return;
                    }
                    Some(Ok(_)) => {}
                    other => {
                        let why =
                            format!("a reader lost its socket after {seen} messages: {other:?}");
                        let _ = done.send(Err(why)).await;
                        return;
                    }
                }
            }
            let _ = done.send(Ok(Instant::now())).await;
            // Keep the socket open (and read) until the round is over.
            while socket.next().await.is_some() {}
        });
    }
    drop(done);

    let mut sender = connect(&server.url).await;
    join(&mut sender, room).await;
    let started = Instant::now();
    let (mut sent, mut acked) = (0, 0);
    while acked < messages {
        while sent < messages && sent - acked < window {
            sent += 1;
            let message = format!(
                r#"{{"type":"room_message","room":"{room}","content":"message {sent} of the persistence benchmark","id":"b{sent}"}}"#
            );
            sender.feed(Message::text(message)).await.unwrap();
        }
        sender.flush().await.unwrap();
        match sender.next().await {
            Some(Ok(Message::Text(text))) if text.contains(r#""type":"ack""#) => acked += 1,
            Some(Ok(Message::Text(text))) if text.contains(r#""type":"error""#) => {
                panic!("the server refused a message: {text}")
            }
            Some(Ok(_)) => {}
            other => panic!("the sender lost its socket: {other:?}"),
        }
    }
    let mut last = started;
    for _ in 0..readers {
        let at = tokio::time::timeout(Duration::from_secs(120), finished.recv())
            .await
            .expect("every reader reports within 2 minutes")
            .expect("a reader reports")
            // A reader too slow for the server (1013) ends the run: on a
            // machine this busy the numbers would mean nothing.
            .unwrap_or_else(|why| panic!("{storage}: {why}"));
        last = last.max(at);
    }
    let elapsed = last - started;
    (messages * readers) as f64 / elapsed.as_secs_f64()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[tokio::main]
async fn main() {
    let readers = setting("READERS", 200);
    let messages = setting("MESSAGES", 5000);
    let window = setting("WINDOW", 256);
    let rounds = setting("ROUNDS", 3);
    println!(
        "persistence benchmark: 1 room, {readers} readers, 1 sender, {messages} messages, window {window}, {rounds} rounds per mode"
    );
    let (mut memory, mut sqlite) = (Vec::new(), Vec::new());
    for n in 1..=rounds {
        for (storage, results) in [("memory", &mut memory), ("sqlite", &mut sqlite)] {
            let rate = round(storage, readers, messages, window).await;
            println!("round {n} {storage:>6}: {rate:>12.0} deliveries/s");
            results.push(rate);
        }
    }
    let (memory, sqlite) = (median(memory), median(sqlite));
    println!("median memory: {memory:>12.0} deliveries/s");
    println!("median sqlite: {sqlite:>12.0} deliveries/s");
    println!(
        "sqlite / memory: {:.3} ({:+.1}%)",
        sqlite / memory,
        (sqlite / memory - 1.0) * 100.0
    );
}

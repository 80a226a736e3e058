//! Shared set-up for the integration tests: a real server on 127.0.0.1 port
//! 0 (in-process, or the real binary) and a small JSON WebSocket client.

#![allow(dead_code)] // each test binary uses its own part of this module

use std::{
    collections::HashMap,
    net::SocketAddr,
    path::Path,
    process::{Child, Command},
    time::Duration,
};

use confab::server::{
    self,
    config::{RateLimits, Settings},
};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::{net::TcpStream, sync::oneshot, task::JoinHandle};
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream, connect_async,
    tungstenite::{self, Message, client::IntoClientRequest, protocol::frame::coding::CloseCode},
};

/// How long a test waits for a frame it expects.
pub const PATIENCE: Duration = Duration::from_secs(5);

/// A server running in this process until dropped or shut down.
pub struct TestApp {
    pub addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
    /// The server's data directory, removed when the test ends.
    pub data: tempfile::TempDir,
}

/// Starts a server with the default settings (and a fresh data directory)
/// changed by `configure`. Without rate limits: many tests send hundreds
/// of requests at once on purpose. The limits have tests of their own
/// (tests/limits.rs), and the browser tests run with the defaults.
pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    let data = tempfile::tempdir().unwrap();
    let mut settings = Settings {
        data_dir: data.path().to_owned(),
        rate_limits: RateLimits::off(),
        ..Settings::default()
    };
    configure(&mut settings);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (shutdown, stop) = oneshot::channel::<()>();
    let server = tokio::spawn(server::run(listener, settings, async {
        let _ = stop.await;
        server::shutdown::Stop::Now
    }));
    // Serving starts once the database is open; a request made earlier
    // waits in the listen queue, so this returns once the server is up.
    let (status, _) = http_get(addr, "/health").await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    TestApp {
        addr,
        shutdown: Some(shutdown),
        server: Some(server),
        data,
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

impl TestApp {
    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// A client that speaks only the article's protocol.
    pub async fn connect(&self) -> Client {
        Client::connect(&self.ws_url()).await
    }

    /// A client that said `hello` and knows its own id.
    pub async fn connect_with_hello(&self) -> Client {
        Client::connect_with_token(&self.ws_url(), None).await.0
    }

    /// Two `hello` clients in `room`; the first has already seen the
    /// second's `user_joined`, so both start with empty inboxes.
    pub async fn two_members_of(&self, room: &str) -> (Client, Client) {
        two_members_of(&self.ws_url(), room).await
    }

    /// Triggers the graceful shutdown and waits for `run` to return.
    pub async fn shut_down(mut self) -> anyhow::Result<()> {
        let _ = self.shutdown.take().unwrap().send(());
        let server = self.server.take().unwrap();
        tokio::time::timeout(Duration::from_secs(10), server)
            .await
            .expect("the server stops within its grace period")
            .expect("the server task does not panic")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

/// Two `hello` clients in `room` of the server at `url`; the first has
/// already seen the second's `user_joined`, so both start with empty inboxes.
pub async fn two_members_of(url: &str, room: &str) -> (Client, Client) {
    let (mut first, _, _) = Client::connect_with_token(url, None).await;
    let (mut second, _, _) = Client::connect_with_token(url, None).await;
    first.join(room).await;
    second.join(room).await;
    let announced = first.recv().await;
    assert_eq!(announced["type"], "user_joined");
    assert_eq!(announced["user"], second.id());
    (first, second)
}

/// A WebSocket client that sends and expects JSON text frames.
pub struct Client {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// Known once the client said hello.
    pub id: Option<String>,
}

impl Client {
    pub async fn connect(url: &str) -> Self {
        Self::try_connect(url).await.expect("the upgrade succeeds")
    }

    pub fn from_socket(socket: WebSocketStream<MaybeTlsStream<TcpStream>>) -> Self {
        Self { socket, id: None }
    }

    pub async fn try_connect(url: &str) -> Result<Self, tungstenite::Error> {
        let (socket, _) = connect_async(url).await?;
        Ok(Self { socket, id: None })
    }

    /// Connects and says `hello` with `token`; returns the client and the
    /// `welcome` (after an `invalid_token` error, if any, which must come
    /// first and is returned too).
    pub async fn connect_with_token(
        url: &str,
        token: Option<&str>,
    ) -> (Self, Value, Option<Value>) {
        let mut client = Self::connect(url).await;
        let mut hello = json!({"type": "hello"});
        if let Some(token) = token {
            hello["token"] = json!(token);
        }
        client.send(hello).await;
        let mut first = client.recv().await;
        let mut refusal = None;
        if first["type"] == "error" {
            refusal = Some(first);
            first = client.recv().await;
        }
        assert_eq!(first["type"], "welcome", "{first}");
        client.id = Some(first["user"].as_str().unwrap().to_owned());
        (client, first, refusal)
    }

    /// The next frame of type `kind`, skipping others.
    pub async fn recv_type(&mut self, kind: &str) -> Value {
        loop {
            let frame = self.recv().await;
            if frame["type"] == kind {
                return frame;
            }
        }
    }

    /// The next frame of one of these types, skipping others.
    pub async fn recv_type_of(&mut self, kinds: &[&str]) -> Value {
        loop {
            let frame = self.recv().await;
            if kinds.iter().any(|kind| frame["type"] == *kind) {
                return frame;
            }
        }
    }

    /// The next `count` frames of these types, skipping others: replies
    /// that come by different paths (the connection's own refusals, the
    /// broker's answers) in whichever order they arrive.
    pub async fn recv_each_of(&mut self, kinds: &[&str], count: usize) -> Vec<Value> {
        let mut frames = Vec::with_capacity(count);
        while frames.len() < count {
            frames.push(self.recv_type_of(kinds).await);
        }
        frames
    }

    /// Posts with a client id and waits for the ack; returns its seq.
    pub async fn say_acked(&mut self, room: &str, content: &str, id: &str) -> u64 {
        self.send(json!({"type": "room_message", "room": room, "content": content, "id": id}))
            .await;
        loop {
            let frame = self.recv().await;
            if frame["type"] == "ack" && frame["id"] == id {
                return frame["seq"].as_u64().unwrap();
            }
        }
    }

    /// One page of a room's history: the `history` reply's messages.
    pub async fn history(
        &mut self,
        room: &str,
        before: Option<u64>,
        after: Option<u64>,
        limit: u32,
    ) -> Vec<Value> {
        let mut request = json!({"type": "history", "room": room, "limit": limit});
        if let Some(before) = before {
            request["before"] = json!(before);
        }
        if let Some(after) = after {
            request["after"] = json!(after);
        }
        self.send(request).await;
        self.recv_type("history").await["messages"]
            .as_array()
            .unwrap()
            .clone()
    }

    pub fn id(&self) -> &str {
        self.id.as_deref().expect("connected with hello")
    }

    pub async fn send(&mut self, message: Value) {
        self.send_raw(Message::text(message.to_string())).await;
    }

    pub async fn send_raw(&mut self, message: Message) {
        self.socket
            .send(message)
            .await
            .expect("the socket accepts the frame");
    }

    /// The next text frame as JSON, skipping pings and pongs.
    pub async fn recv(&mut self) -> Value {
        self.recv_within(PATIENCE).await
    }

    /// The same, waiting up to `wait` for it.
    pub async fn recv_within(&mut self, wait: Duration) -> Value {
        match self.next_frame(wait).await {
            Some(Message::Text(text)) => {
                serde_json::from_str(text.as_str()).expect("the server sends JSON")
            }
            other => panic!("expected a text frame within {wait:?}, got {other:?}"),
        }
    }

    /// The close frame's code and reason, after any text frames, which are
    /// returned too.
    pub async fn recv_close(&mut self) -> (Vec<Value>, u16, String) {
        let mut texts = Vec::new();
        loop {
            match self.next_frame(PATIENCE).await {
                Some(Message::Text(text)) => {
                    texts.push(serde_json::from_str(text.as_str()).unwrap())
                }
                Some(Message::Close(Some(frame))) => {
                    return (texts, u16::from(frame.code), frame.reason.to_string());
                }
                other => panic!("expected a close frame, got {other:?} after {texts:?}"),
            }
        }
    }

    /// Asserts nothing but pings arrives for `quiet`.
    pub async fn expect_silence(&mut self, quiet: Duration) {
        if let Some(frame) = self.next_frame(quiet).await {
            panic!("expected silence, got {frame:?}");
        }
    }

    /// The next frame other than ping and pong, or None after `wait`.
    async fn next_frame(&mut self, wait: Duration) -> Option<Message> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.socket.next()).await {
                Err(_) => return None,
                Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
                Ok(Some(Ok(message))) => return Some(message),
                Ok(Some(Err(error))) => panic!("socket error: {error}"),
                Ok(None) => panic!("the socket ended without a close frame"),
            }
        }
    }

    /// Sends a ping and waits for its pong.
    pub async fn ping_pong(&mut self, payload: &'static [u8]) -> Vec<u8> {
        self.send_raw(Message::Ping(payload.into())).await;
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            match tokio::time::timeout_at(deadline, self.socket.next()).await {
                Ok(Some(Ok(Message::Pong(data)))) => return data.to_vec(),
                Ok(Some(Ok(Message::Ping(_)))) => continue,
                other => panic!("expected a pong, got {other:?}"),
            }
        }
    }

    pub async fn close(mut self) {
        self.socket
            .close(Some(tungstenite::protocol::CloseFrame {
                code: CloseCode::Normal,
                reason: "bye".into(),
            }))
            .await
            .unwrap();
        // Read until the server's close reply ends the stream.
        while let Ok(Some(Ok(_))) = tokio::time::timeout(PATIENCE, self.socket.next()).await {}
    }

    /// Hands back the raw socket, e.g. to stop reading it entirely.
    pub fn into_inner(self) -> WebSocketStream<MaybeTlsStream<TcpStream>> {
        self.socket
    }

    /// Posts `content` to `room`.
    pub async fn say(&mut self, room: &str, content: &str) {
        self.send(json!({"type": "room_message", "room": room, "content": content}))
            .await;
    }

    /// Joins `room`: the next frame is `joined` (past a `memberships`,
    /// which a returning user's connection may get at any time after
    /// `welcome`).
    pub async fn join(&mut self, room: &str) -> Value {
        self.send(json!({"type": "join_room", "room": room})).await;
        let mut joined = self.recv().await;
        while joined["type"] == "memberships" {
            joined = self.recv().await;
        }
        assert_eq!(joined["type"], "joined", "{joined}");
        joined
    }
}

/// The upgrade's HTTP failure status and headers, for a refused upgrade.
pub async fn refused_upgrade(
    url: &str,
    origin: Option<&str>,
) -> tungstenite::http::Response<Option<Vec<u8>>> {
    let mut request = url.into_client_request().unwrap();
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("origin", origin.parse().unwrap());
    }
    match connect_async(request).await {
        Err(tungstenite::Error::Http(response)) => *response,
        Err(other) => panic!("expected an HTTP refusal, got {other}"),
        Ok(_) => panic!("expected the upgrade to be refused"),
    }
}

/// Whether an upgrade with this `Origin` header succeeds.
pub async fn upgrade_with_origin(url: &str, origin: &str) -> bool {
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("origin", origin.parse().unwrap());
    connect_async(request).await.is_ok()
}

/// A minimal HTTP/1.1 GET: status line and body.
pub async fn http_get(addr: SocketAddr, path: &str) -> (String, String) {
    let (head, body) = http_get_with_head(addr, path).await;
    (head.lines().next().unwrap_or_default().to_owned(), body)
}

/// A minimal HTTP/1.1 GET: the whole head (status line and headers) and
/// the body.
pub async fn http_get_with_head(addr: SocketAddr, path: &str) -> (String, String) {
    http_request(addr, "GET", path, &[], None).await
}

/// A minimal HTTP/1.1 request with extra header lines (`"Authorization:
/// Bearer …"`) and a JSON body: the whole head of the response and its body.
pub async fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[&str],
    body: Option<&str>,
) -> (String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for header in headers {
        request.push_str(header);
        request.push_str("\r\n");
    }
    if let Some(body) = body {
        request.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    request.push_str("\r\n");
    request.push_str(body.unwrap_or_default());
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    (head.to_owned(), body.to_owned())
}

/// Status, head (in lower case) and JSON body of a request to `addr`
/// with `bearer` as its `Authorization`.
pub async fn call_json(
    addr: &str,
    method: &str,
    path: &str,
    bearer: Option<&str>,
    body: Option<Value>,
) -> (u16, String, Value) {
    let auth = bearer.map(|bearer| format!("Authorization: Bearer {bearer}"));
    let headers: Vec<&str> = auth.iter().map(String::as_str).collect();
    let body = body.map(|body| body.to_string());
    let (head, text) = http_request(
        addr.parse().unwrap(),
        method,
        path,
        &headers,
        body.as_deref(),
    )
    .await;
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let json = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {head}\n{text}"))
    };
    (status, head.to_ascii_lowercase(), json)
}

/// `GET /metrics`, as Prometheus scrapes it: each sample's value by its
/// name and labels (`confab_rooms`, `confab_errors_sent_total{code="busy"}`).
pub async fn scrape(addr: impl ToString) -> (String, HashMap<String, f64>) {
    let addr = addr.to_string().parse().unwrap();
    let (status, body) = http_get_with_head(addr, "/metrics").await;
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    assert!(status.contains("application/openmetrics-text"), "{status}");
    let samples = body
        .lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(|line| {
            let (name, value) = line.rsplit_once(' ').unwrap();
            (name.to_owned(), value.parse().unwrap())
        })
        .collect();
    (body, samples)
}

/// Scrapes until the sample `name` reads `value` (what a connection's end
/// counts comes a moment after the client saw the close).
pub async fn until_sample(addr: impl ToString, name: &str, value: f64) {
    let addr = addr.to_string();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let (_, samples) = scrape(&addr).await;
        if samples.get(name) == Some(&value) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name} is {:?}, not {value}",
            samples.get(name)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The real `confab` binary, on 127.0.0.1 port 0 with its own data directory.
/// Killed (SIGKILL) when dropped.
pub struct Binary {
    child: Child,
    pub addr: String,
    /// What it prints, in its data directory.
    log: std::path::PathBuf,
}

impl Binary {
    pub fn start(data_dir: &Path) -> Self {
        Self::start_with(data_dir, &[])
    }

    /// With extra settings, as `CONFAB_<KEY>` variables.
    pub fn start_with(data_dir: &Path, settings: &[(&str, &str)]) -> Self {
        Self::start_command(
            Command::new(env!("CARGO_BIN_EXE_confab")),
            data_dir,
            settings,
        )
    }

    /// Allowed at most `files` open files (soft and hard limit).
    pub fn start_with_file_limit(data_dir: &Path, files: u32, settings: &[(&str, &str)]) -> Self {
        let mut command = Command::new("prlimit");
        command
            .arg(format!("--nofile={files}:{files}"))
            .arg("--")
            .arg(env!("CARGO_BIN_EXE_confab"));
        Self::start_command(command, data_dir, settings)
    }

    fn start_command(command: Command, data_dir: &Path, settings: &[(&str, &str)]) -> Self {
        let log = data_dir.join("confab.log");
        let data_dir = data_dir.to_str().expect("a temporary path in UTF-8");
        // SIGTERM stops at once unless a test asks for a drain; no rate
        // limits unless a test sets some (see `spawn_app_with`).
        let mut all = vec![
            ("CONFAB_DATA_DIR", data_dir),
            ("RUST_LOG", "info"),
            ("CONFAB_DRAIN_DELAY_MS", "0"),
        ];
        if !settings
            .iter()
            .any(|(key, _)| key.starts_with("CONFAB_RATE_LIMITS"))
        {
            all.push(("CONFAB_RATE_LIMITS", "off"));
        }
        all.extend_from_slice(settings);
        let (child, addr) = server::process::spawn_logged(command, &all, Some(&log))
            .expect("the confab binary starts and listens");
        Self {
            child,
            addr: addr.to_string(),
            log,
        }
    }

    /// What the binary has logged so far, without colours.
    pub fn log(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let mut plain = String::with_capacity(text.len());
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            if c == '\u{1b}' {
                // An escape sequence: up to its final letter.
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            } else {
                plain.push(c);
            }
        }
        plain
    }

    /// Asserts the binary logged nothing at `WARN` or `ERROR`.
    pub fn assert_calm(&self) {
        let log = self.log();
        let loud: Vec<&str> = log
            .lines()
            .filter(|line| line.contains(" WARN ") || line.contains(" ERROR "))
            .collect();
        assert!(loud.is_empty(), "the node complained:\n{}", loud.join("\n"));
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// A client that said `hello` and knows its own id.
    pub async fn connect_with_hello(&self) -> Client {
        Client::connect_with_token(&self.ws_url(), None).await.0
    }

    pub fn signal(&self, signal: &str) {
        let sent = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
    }

    /// SIGKILL: no shutdown code runs, nothing is flushed.
    pub fn kill_9(mut self) {
        self.signal("-KILL");
        self.child.wait().unwrap();
    }

    /// Waits for the process to exit; its exit code.
    pub async fn exit_code(&mut self) -> Option<i32> {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            assert!(std::time::Instant::now() < deadline, "confab did not exit");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

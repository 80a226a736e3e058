//! One WebSocket connection: a reader loop (decode, validate, forward to the
//! broker, watch the heartbeat) and exactly one writer task (drain the
//! outbox, batch frames into one flush, send pings). Only the writer writes.
//!
//! Both loops are generic over `Stream`/`Sink`, not tied to the socket type.

use std::{net::SocketAddr, pin::Pin, sync::atomic::Ordering, time::Duration};

use futures_util::{
    Sink, SinkExt, Stream, StreamExt,
    stream::{SplitSink, SplitStream},
};
use hyper::upgrade::OnUpgrade;
use tokio::{
    sync::{OwnedSemaphorePermit, oneshot},
    task::JoinHandle,
    time::{Instant, sleep_until, timeout},
};
use tokio_tungstenite::tungstenite::{
    Bytes, Error as WsError, Message, Utf8Bytes,
    protocol::{
        CloseFrame,
        frame::{
            Frame,
            coding::{Data, OpCode},
        },
    },
};
use tracing::{debug, info, warn};

use super::AppState;
use super::broker::{Broker, Command, ConnId, Kick};
use super::identity::Identity;
use super::outbox::{Outbound, Outbox, OutboxReceiver, SlowConsumer};
use super::store::Store;
use super::ws::{self, WebSocket};
use crate::protocol::{ClientMessage, ErrorCode, ServerMessage, UserId, close_code};

/// Frames the writer takes from its outbox per flush. Writing a batch with
/// one flush costs one syscall instead of one per frame.
const WRITE_BATCH: usize = 32;

/// Messages longer than this go out in fragments of this size: the socket's
/// write buffer holds one frame at a time, and keeps the size of the largest
/// (see [`GatheredWrites`](super::socket::GatheredWrites)).
const FRAGMENT_BYTES: usize = 1024;

/// Characters of a decoding error's text sent back to the client.
const ERROR_TEXT_CHARS: usize = 200;

/// How long the writer may take to deliver a final close frame once the
/// connection is over, before the socket is dropped regardless.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// How a connection ended, for the log and for the close frame it gets.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ending {
    /// The client sent a close frame.
    ClientClosed,
    /// The TCP stream ended or failed without a close frame.
    ConnectionLost(String),
    /// A message larger than the configured limit.
    MessageTooBig,
    /// Nothing arrived within the heartbeat timeout.
    HeartbeatTimeout,
    /// The outbox was full when the reader queued an error reply.
    SlowConsumer,
    /// The writer stopped: the broker evicted this connection, the server is
    /// shutting down, or the socket failed on write.
    WriterStopped,
}

impl Ending {
    /// The close frame the server sends for this ending, if it sends one.
    fn close_frame(&self, max_message: usize) -> Option<Outbound> {
        let (code, reason) = match self {
            Ending::MessageTooBig => (
                close_code::MESSAGE_TOO_BIG,
                format!("message too big: the limit is {max_message} bytes").into(),
            ),
            Ending::HeartbeatTimeout => (
                close_code::HEARTBEAT_TIMEOUT,
                Utf8Bytes::from_static("heartbeat timeout"),
            ),
            _ => return None,
        };
        Some(Outbound::Close { code, reason })
    }
}

/// Serves a connection from its upgrade until it closes. `permit` is its
/// place under the connection limit, released when it ends.
///
/// The connection's loop is a task of its own, spawned once the socket is
/// open: in one future with the opening (2,424 B) it would have kept the
/// opening's state for its whole life (its own is 1,056 B).
pub async fn serve(
    on_upgrade: OnUpgrade,
    peer: SocketAddr,
    permit: OwnedSemaphorePermit,
    app: AppState,
) {
    match ws::open(on_upgrade, app.settings.max_message_bytes).await {
        Ok(socket) => {
            let (sink, stream) = socket.split();
            tokio::spawn(connection_loop(sink, stream, peer, permit, app));
        }
        Err(error) => info!(%peer, %error, "WebSocket upgrade failed"),
    }
}

async fn connection_loop(
    sink: SplitSink<WebSocket, Message>,
    mut stream: SplitStream<WebSocket>,
    peer: SocketAddr,
    _permit: OwnedSemaphorePermit,
    app: AppState,
) {
    let id = ConnId(app.last_conn.fetch_add(1, Ordering::Relaxed) + 1);
    // A guest until a `hello` with a token says otherwise.
    let guest = UserId::new_random();
    info!(%id, %peer, "connected");
    let settings = &app.settings;
    let (outbox, frames) = Outbox::channel(settings.send_queue_frames, settings.send_queue_bytes);
    let (kick, kicked) = oneshot::channel();
    app.broker
        .send(Command::Connect {
            conn: id,
            user: guest,
            outbox: outbox.clone(),
            kick,
        })
        .await;

    let mut writer = tokio::spawn(connection_writer_loop(
        sink,
        frames,
        kicked,
        settings.heartbeat_interval(),
    ));
    let mut reader = Reader {
        id,
        guest,
        spoke: false,
        outbox: &outbox,
        broker: &app.broker,
        identity: &app.identity,
        store: &app.store,
        heartbeat_timeout: settings.heartbeat_timeout(),
    };
    let ending = reader.run(&mut stream, &mut writer).await;

    match &ending {
        // tungstenite has queued its close reply; frames still queued for the
        // writer could not follow it. Stop the writer and let one more read
        // flush the reply (reads write pending control frames first).
        Ending::ClientClosed => {
            writer.abort();
            await_close_reply(&mut stream).await;
        }
        Ending::ConnectionLost(_) => writer.abort(),
        // The broker evicts and kicks; the writer sends 1013 and stops.
        Ending::SlowConsumer => {
            app.broker.send(Command::SlowConsumer { conn: id }).await;
            await_writer(&mut writer).await;
            await_close_reply(&mut stream).await;
        }
        // The writer already sent its close frame (or failed).
        Ending::WriterStopped => await_close_reply(&mut stream).await,
        Ending::MessageTooBig | Ending::HeartbeatTimeout => {
            if let Some(close) = ending.close_frame(settings.max_message_bytes) {
                let _ = outbox.push(close);
            }
        }
    }
    app.broker.send(Command::Disconnect { conn: id }).await;
    drop(outbox);
    if matches!(ending, Ending::MessageTooBig | Ending::HeartbeatTimeout) {
        // With the last sender gone the writer drains the queue, ending
        // with the close frame, and stops.
        await_writer(&mut writer).await;
        await_close_reply(&mut stream).await;
    }
    info!(%id, %peer, ?ending, "disconnected");
}

/// The closing handshake's second half. Dropping the socket straight after
/// our close frame would answer anything the client still sends (a pong, a
/// message in flight) with a TCP reset, and a reset makes the client's
/// kernel discard what it has not read yet: our notice and close frame.
///
/// This and [`await_writer`] come boxed: they run once per connection, and
/// their timers would otherwise make every connection's future larger for
/// its whole life.
fn await_close_reply<S>(stream: &mut S) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>
where
    S: Stream<Item = Result<Message, WsError>> + Unpin + Send,
{
    Box::pin(async {
        let reply = async {
            while let Some(Ok(message)) = stream.next().await {
                if matches!(message, Message::Close(_)) {
                    break;
                }
            }
        };
        let _ = timeout(CLOSE_TIMEOUT, reply).await;
    })
}

/// Gives the writer [`CLOSE_TIMEOUT`] to finish, then stops it.
fn await_writer(writer: &mut JoinHandle<()>) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
    Box::pin(async {
        if timeout(CLOSE_TIMEOUT, &mut *writer).await.is_err() {
            writer.abort();
        }
    })
}

struct Reader<'a> {
    id: ConnId,
    /// The identity the connection started with.
    guest: UserId,
    /// A message has come already: `hello` is only allowed first.
    spoke: bool,
    outbox: &'a Outbox,
    broker: &'a Broker,
    identity: &'a Identity,
    store: &'a Store,
    heartbeat_timeout: Duration,
}

impl Reader<'_> {
    /// Reads until the connection is over and says why.
    async fn run<S>(&mut self, stream: &mut S, writer: &mut JoinHandle<()>) -> Ending
    where
        S: Stream<Item = Result<Message, WsError>> + Unpin,
    {
        // The deadline moves with every frame, but the timer is only re-armed
        // when it fires: resetting a timer per frame would cost more.
        let mut last_heard = Instant::now();
        let idle = sleep_until(last_heard + self.heartbeat_timeout);
        tokio::pin!(idle);
        loop {
            tokio::select! {
                frame = stream.next() => {
                    last_heard = Instant::now();
                    match frame {
                        Some(Ok(message)) => {
                            if let Some(ending) = self.on_message(message).await {
                                return ending;
                            }
                        }
                        Some(Err(error)) => return Self::on_error(error),
                        None => return Ending::ConnectionLost("stream ended".into()),
                    }
                }
                () = &mut idle => {
                    let deadline = last_heard + self.heartbeat_timeout;
                    if Instant::now() >= deadline {
                        return Ending::HeartbeatTimeout;
                    }
                    idle.as_mut().reset(deadline);
                }
                _ = &mut *writer => return Ending::WriterStopped,
            }
        }
    }

    async fn on_message(&mut self, message: Message) -> Option<Ending> {
        if matches!(message, Message::Binary(_)) {
            self.spoke = true;
        }
        match message {
            Message::Text(text) => match serde_json::from_str::<ClientMessage>(text.as_str()) {
                // Boxed: once per connection, and its wait for the store
                // would otherwise enlarge every connection's future.
                Ok(ClientMessage::Hello { token, .. }) => Box::pin(self.hello(token)).await,
                Ok(message) => {
                    self.spoke = true;
                    let command = Command::Client {
                        conn: self.id,
                        message,
                    };
                    self.broker.send(command).await;
                    None
                }
                Err(error) => {
                    self.spoke = true;
                    // serde's text can quote the input: it is clipped for the
                    // client and kept out of the log (no message bodies there).
                    let (kind, line, column) = (error.classify(), error.line(), error.column());
                    info!(id = %self.id, ?kind, line, column, "refused an invalid message");
                    let text = format!("invalid message: {}", clip(&error.to_string()));
                    self.reply_error(ErrorCode::InvalidMessage, text)
                }
            },
            Message::Binary(_) => {
                info!(id = %self.id, "refused a binary frame");
                self.reply_error(
                    ErrorCode::BinaryFrame,
                    "binary frames are not supported: send JSON as a text frame",
                )
            }
            // tungstenite answers pings itself; any frame counts as life.
            // (Raw frames are only ever written, never read.)
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => None,
            Message::Close(_) => Some(Ending::ClientClosed),
        }
    }

    /// Settles who the connection is before anything else it says: the
    /// user its token names (with the name it chose), or a new one. The
    /// reader reads nothing more until the broker has the answer queued.
    async fn hello(&mut self, token: Option<String>) -> Option<Ending> {
        if std::mem::replace(&mut self.spoke, true) {
            return self.reply_error(
                ErrorCode::InvalidMessage,
                "hello must be the first message of a connection",
            );
        }
        let verified = token
            .as_deref()
            .and_then(|token| self.identity.verify(token));
        let token_refused = token.is_some() && verified.is_none();
        if token_refused {
            info!(id = %self.id, "refused a session token; issuing a new identity");
        }
        let user = verified.unwrap_or(self.guest);
        let stored_name = match verified {
            Some(user) => self.store.user_name(user).await.unwrap_or_else(|error| {
                warn!(id = %self.id, %error, "reading a display name failed");
                None
            }),
            None => None,
        };
        let command = Command::Identify {
            conn: self.id,
            user,
            stored_name,
            token: self.identity.issue(user),
            token_refused,
        };
        self.broker.send(command).await;
        None
    }

    fn reply_error(&self, code: ErrorCode, message: impl Into<String>) -> Option<Ending> {
        let frame = serde_json::to_string(&ServerMessage::error(code, message))
            .expect("an error message always encodes");
        match self.outbox.push(Outbound::Text(frame.into())) {
            Ok(()) => None,
            Err(SlowConsumer) => Some(Ending::SlowConsumer),
        }
    }

    fn on_error(error: WsError) -> Ending {
        match error {
            WsError::Capacity(_) => Ending::MessageTooBig,
            error => Ending::ConnectionLost(error.to_string()),
        }
    }
}

/// The only task that writes to the socket. Sends batches from the outbox
/// with one flush each and a ping every `ping_every`; stops after a close
/// frame, when the outbox is closed and drained, on a write error, or at
/// once when the broker kicks the connection.
async fn connection_writer_loop<S>(
    mut sink: S,
    mut frames: OutboxReceiver,
    kicked: oneshot::Receiver<Kick>,
    ping_every: Duration,
) where
    S: Sink<Message, Error = WsError> + Unpin,
{
    // A dropped kick sender means the session ended normally: never fires.
    let kick = async {
        match kicked.await {
            Ok(kick) => kick,
            Err(_) => std::future::pending().await,
        }
    };
    let delivery = deliver(&mut sink, &mut frames, ping_every);
    let kick = tokio::select! {
        biased;
        kick = kick => kick,
        result = delivery => {
            if let Err(error) = result {
                debug!(%error, "write failed");
            }
            return;
        }
    };
    let close = match kick {
        Kick::SlowConsumer => close_message(
            close_code::SLOW_CONSUMER,
            Utf8Bytes::from_static("slow consumer"),
        ),
        Kick::ShuttingDown => close_message(
            close_code::SERVICE_RESTART,
            Utf8Bytes::from_static("server restarting"),
        ),
    };
    // The socket is probably full: try once, briefly. (Boxed, as the rare
    // paths below: the writer's future stays small while it waits.)
    let _ = Box::pin(timeout(CLOSE_TIMEOUT, sink.send(close))).await;
}

async fn deliver<S>(
    sink: &mut S,
    frames: &mut OutboxReceiver,
    ping_every: Duration,
) -> Result<(), WsError>
where
    S: Sink<Message, Error = WsError> + Unpin,
{
    let mut ping = tokio::time::interval_at(Instant::now() + ping_every, ping_every);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            frame = frames.recv() => {
                let Some(first) = frame else {
                    return sink.flush().await;
                };
                // Feed what is queued, up to a batch, and flush once.
                let (mut next, mut fed) = (Some(first), 0);
                while let Some(frame) = next.take() {
                    match frame {
                        Outbound::Text(text) => feed_text(sink, text).await?,
                        Outbound::Batch { frames, skip } => {
                            for text in &frames[skip..] {
                                feed_text(sink, text.clone()).await?;
                            }
                        }
                        Outbound::Close { code, reason } => {
                            return Box::pin(sink.send(close_message(code, reason))).await;
                        }
                    }
                    fed += 1;
                    if fed < WRITE_BATCH {
                        next = frames.try_recv();
                    }
                }
                sink.flush().await?;
            }
            _ = ping.tick() => Box::pin(sink.send(Message::Ping(Default::default()))).await?,
        }
    }
}

/// Queues a text message for the next flush: as one frame, or in fragments
/// of [`FRAGMENT_BYTES`] when longer (every client reassembles them; a
/// fragment may end inside a character, RFC 6455 §5.6).
async fn feed_text<S>(sink: &mut S, text: Utf8Bytes) -> Result<(), WsError>
where
    S: Sink<Message, Error = WsError> + Unpin,
{
    if text.len() <= FRAGMENT_BYTES {
        return sink.feed(Message::Text(text)).await;
    }
    Box::pin(feed_fragments(sink, text)).await
}

async fn feed_fragments<S>(sink: &mut S, text: Utf8Bytes) -> Result<(), WsError>
where
    S: Sink<Message, Error = WsError> + Unpin,
{
    let bytes = Bytes::from(text);
    let mut start = 0;
    while start < bytes.len() {
        let end = bytes.len().min(start + FRAGMENT_BYTES);
        let opcode = if start == 0 {
            Data::Text
        } else {
            Data::Continue
        };
        let fragment = Frame::message(
            bytes.slice(start..end),
            OpCode::Data(opcode),
            end == bytes.len(),
        );
        sink.feed(Message::Frame(fragment)).await?;
        start = end;
    }
    Ok(())
}

/// At most `ERROR_TEXT_CHARS` characters of an error text that may quote
/// client input, so a reply can never be larger than what provoked it.
fn clip(text: &str) -> String {
    match text.char_indices().nth(ERROR_TEXT_CHARS) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

fn close_message(code: u16, reason: Utf8Bytes) -> Message {
    Message::Close(Some(CloseFrame {
        code: code.into(),
        reason,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `feed_text` hands the socket.
    async fn fed(text: &str) -> Vec<Message> {
        let mut sent = Vec::new();
        let mut sink = (&mut sent).sink_map_err(|never: std::convert::Infallible| match never {});
        feed_text(&mut sink, text.into()).await.unwrap();
        sent
    }

    #[tokio::test]
    async fn a_long_message_goes_out_in_fragments_that_join_up_exactly() {
        assert_eq!(fed("short").await, [Message::text("short")]);

        // Three-byte characters, so fragments end inside characters.
        let long = "€".repeat(1000);
        let frames = fed(&long).await;
        let mut joined = Vec::new();
        for (n, message) in frames.iter().enumerate() {
            let Message::Frame(frame) = message else {
                panic!("a fragment, not {message:?}");
            };
            let header = frame.header();
            let expected = if n == 0 { Data::Text } else { Data::Continue };
            assert_eq!(header.opcode, OpCode::Data(expected));
            assert_eq!(header.is_final, n == frames.len() - 1);
            assert!(frame.payload().len() <= FRAGMENT_BYTES);
            joined.extend_from_slice(frame.payload());
        }
        assert_eq!(frames.len(), 3000_usize.div_ceil(FRAGMENT_BYTES));
        assert_eq!(joined, long.as_bytes());
    }
}

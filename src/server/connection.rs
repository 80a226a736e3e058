//! One WebSocket connection, served by one task. It reads: decodes,
//! validates and forwards to the broker, and watches the heartbeat. It is
//! also the socket's one writer, through [`Writer`]: the outbox drained in
//! batches with one flush each, and pings.
//!
//! Reading and writing share the task, not a task each: an idle connection
//! then holds one task, one timer, and the socket unshared (the two tasks
//! and the lock between them cost about 1.5 KB per connection). Each turn
//! of the loop polls the writer, the socket's next frame and the timer, so
//! neither side waits on the other; only the handling of a frame (a queue
//! push, or the store's answer to `hello`) briefly holds up writing.
//!
//! Its state is one box beside the task's future (see [`Connection`]), so
//! that the future holds little more than its timer.

use std::{future::poll_fn, net::IpAddr, task::Poll, time::Duration};

use futures_util::{Stream, StreamExt, stream::FusedStream};
use hyper::upgrade::OnUpgrade;
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt},
    sync::OwnedSemaphorePermit,
    time::{Instant, sleep_until, timeout},
};
use tokio_tungstenite::tungstenite::{Error as WsError, Message, error::ProtocolError};
use tracing::{debug, info, warn};

use super::accounts::Admission;
use super::app_state::AppState;
use super::broker::{Command, ConnId, TokenRefusal, Waiting, Welcome};
use super::close::CloseReason;
use super::heartbeat::{Due, Heartbeat};
use super::identity::SessionId;
use super::limits::{Action, AddressSlot, ConnectionLimits, Limits, Verdict};
use super::outbox::{Outbound, Outbox, QueueFull};
use super::rooms::{Guest, SERVER, Who};
use super::socket::{self, WebSocket};
use super::store::now_ms;
use super::writer::Writer;
use crate::protocol::{ClientMessage, DisplayName, ErrorCode, ServerMessage, UserId};

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
    /// The server ends it with a close frame for this reason: a message
    /// over the limit, the heartbeat timeout, or a protocol violation.
    Closed(CloseReason),
    /// The outbox was full when the reader queued an error reply or owed a
    /// pong: the client is a slow consumer (closed with 1013).
    QueueFull,
    /// The writer stopped: the broker evicted this connection, the server is
    /// shutting down, or the socket failed on write.
    WriterStopped,
}

/// What a connection is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// confab's chat protocol, through the broker.
    Chat,
    /// Every message sent straight back (`echo_path`, for conformance
    /// suites): the same reading, writing, size limits and closing, no
    /// broker (and so no rate limits on what is sent).
    Echo,
}

/// A connection's places under the limits on connections open, released
/// when it ends, however it ends.
pub struct Places {
    /// Under `max_connections`.
    _permit: OwnedSemaphorePermit,
    /// Under its client address's `open_per_ip`.
    _slot: AddressSlot,
}

impl Places {
    pub fn new(permit: OwnedSemaphorePermit, slot: AddressSlot) -> Self {
        Self {
            _permit: permit,
            _slot: slot,
        }
    }
}

/// Serves a connection from its upgrade until it closes.
///
/// The connection's loop is a task of its own, spawned once the socket is
/// open: in one future with the opening it would have kept the opening's
/// state for its whole life.
pub async fn serve(
    on_upgrade: OnUpgrade,
    peer: IpAddr,
    places: Places,
    app: AppState,
    service: Service,
) {
    match socket::open(on_upgrade, app.settings.max_message_bytes).await {
        Ok(socket) => {
            app.metrics.connections_opened.inc();
            app.metrics.connections_open.inc();
            let connection = Connection::new(socket, peer, places, app, service);
            // The peer is in this line only: the id names the connection in
            // the lines after it.
            info!(conn = %connection.id, %peer, "connected");
            tokio::spawn(connection.run());
        }
        Err(error) => info!(%peer, %error, "WebSocket upgrade failed"),
    }
}

/// A connection's state, on the heap, apart from its task's future. A
/// future keeps each value moved into it twice over (once as it came in,
/// once where the code moved it; rust-lang/rust#62958): an `async fn`
/// handed the socket and the rest by value was 2,200 B. Handed this box,
/// its future holds what its waits need and a pointer.
struct Connection {
    socket: WebSocket,
    writer: Writer,
    heartbeat: Heartbeat,
    outbox: Outbox,
    app: AppState,
    id: ConnId,
    /// Who the connection is: a guest, until a `hello` with a token says
    /// otherwise.
    user: UserId,
    /// A message has come already: `hello` is only allowed first.
    spoke: bool,
    /// Checked against the server's bans (at `hello`, or before the first
    /// message of a client that says none).
    vetted: bool,
    service: Service,
    /// Its rate limits' counts, from its first limited request on.
    limits: Option<Box<ConnectionLimits>>,
    /// The client's address (behind trusted proxies, the forwarded one).
    address: IpAddr,
    _places: Places,
}

impl Connection {
    fn new(
        socket: WebSocket,
        address: IpAddr,
        places: Places,
        app: AppState,
        service: Service,
    ) -> Box<Self> {
        let settings = &app.settings;
        let (outbox, frames) =
            Outbox::channel(settings.send_queue_frames, settings.send_queue_bytes);
        Box::new(Self {
            socket,
            writer: Writer::new(frames),
            heartbeat: Heartbeat::new(
                Instant::now(),
                settings.heartbeat_timeout(),
                settings.heartbeat_interval(),
            ),
            outbox,
            id: app.next_conn_id(),
            user: UserId::new_random(),
            spoke: false,
            vetted: false,
            service,
            limits: None,
            address,
            app,
            _places: places,
        })
    }

    async fn run(mut self: Box<Self>) {
        if self.service == Service::Chat {
            let connect = Command::Connect {
                conn: self.id,
                user: self.user,
                outbox: self.outbox.clone(),
                address: self.address,
            };
            self.app.broker.send(connect).await;
        }
        let ending = self.serve_frames().await;
        // Boxed: it runs once, and its waits would otherwise make every
        // connection's future larger for its whole life.
        Box::pin(self.close(ending)).await;
    }
}

/// What one turn of the loop found.
enum Event {
    Frame(Option<Result<Message, WsError>>),
    Tick,
    /// The writer stopped: `Ok` after a close frame or a closed outbox.
    WriterStopped(Result<(), WsError>),
}

/// What the reader makes of a frame.
enum Step {
    Go,
    End(Ending),
    Forward(Command),
    Hello(Option<String>),
    /// A `set_name`, once the name is checked against the usernames.
    Rename(DisplayName),
}

impl From<Option<Ending>> for Step {
    fn from(ending: Option<Ending>) -> Self {
        ending.map_or(Step::Go, Step::End)
    }
}

impl Connection {
    /// Reads and writes until the connection is over, and says why.
    async fn serve_frames(&mut self) -> Ending {
        let timer = sleep_until(self.heartbeat.next_deadline());
        tokio::pin!(timer);
        loop {
            let event = poll_fn(|cx| {
                let Connection {
                    socket,
                    writer,
                    heartbeat,
                    app,
                    ..
                } = &mut *self;
                let written = writer.poll_write(socket, cx);
                let (delivered, bytes) = writer.take_sent();
                if delivered > 0 || bytes > 0 {
                    app.metrics.deliveries.inc_by(u64::from(delivered));
                    app.metrics.sent_bytes.inc_by(u64::from(bytes));
                }
                if let Poll::Ready(result) = written {
                    return Poll::Ready(Event::WriterStopped(result));
                }
                if writer.take_kick() {
                    // The close frame gets a little time, then the socket goes.
                    heartbeat.close_by(Instant::now() + CLOSE_TIMEOUT);
                    timer.as_mut().reset(heartbeat.next_deadline());
                }
                if let Poll::Ready(frame) = socket.poll_next_unpin(cx) {
                    return Poll::Ready(Event::Frame(frame));
                }
                timer.as_mut().poll(cx).map(|()| Event::Tick)
            })
            .await;
            // What the event leaves to wait for. A small value of its own: a
            // future keeps whatever is in scope across a wait, and the event
            // and the reader's step are larger.
            let wait = match event {
                Event::Frame(frame) => {
                    self.heartbeat.heard(Instant::now());
                    let message = match frame {
                        Some(Ok(message)) => message,
                        Some(Err(error)) => return self.on_error(error),
                        None => return Ending::ConnectionLost("stream ended".into()),
                    };
                    match self.on_message(message) {
                        Step::Go => Wait::Nothing,
                        Step::End(ending) => return ending,
                        step @ (Step::Forward(_) | Step::Rename(_)) if !self.vetted => {
                            Wait::Vet(Box::new(step))
                        }
                        Step::Forward(command) => self
                            .app
                            .broker
                            .try_send(command)
                            .map_or(Wait::Nothing, Wait::Broker),
                        Step::Hello(token) => Wait::Hello(token),
                        Step::Rename(name) => Wait::Rename(name),
                    }
                }
                Event::Tick => {
                    match self.heartbeat.tick(Instant::now()) {
                        Due::Nothing => {}
                        Due::Ping => self.writer.ping(),
                        Due::Silent => return Ending::Closed(CloseReason::HeartbeatTimeout),
                        Due::CloseTimedOut => return Ending::WriterStopped,
                    }
                    timer.as_mut().reset(self.heartbeat.next_deadline());
                    Wait::Nothing
                }
                Event::WriterStopped(result) => {
                    if let Err(error) = result {
                        debug!(%error, "write failed");
                    }
                    return Ending::WriterStopped;
                }
            };
            match wait {
                Wait::Nothing => {}
                Wait::Broker(waiting) => waiting.await,
                // Boxed: once per connection, and its wait for the store would
                // otherwise enlarge every connection's future.
                Wait::Hello(token) => {
                    if let Some(ending) = Box::pin(self.hello(token)).await {
                        return ending;
                    }
                }
                Wait::Rename(name) => {
                    if let Some(ending) = Box::pin(self.rename(name)).await {
                        return ending;
                    }
                }
                Wait::Vet(step) => {
                    let vetted = async {
                        let who = Who {
                            user: self.user,
                            admin: false,
                            guest: Some(Guest {
                                at: self.address,
                                born_ms: now_ms(),
                            }),
                        };
                        if let Some(ending) = self.refuse_if_banned(who).await {
                            return Some(ending);
                        }
                        match *step {
                            Step::Forward(command) => self.app.broker.send(command).await,
                            Step::Rename(name) => return self.rename(name).await,
                            _ => {}
                        }
                        None
                    };
                    if let Some(ending) = Box::pin(vetted).await {
                        return ending;
                    }
                }
            }
        }
    }
}

/// What a turn of the loop waits for before the next.
enum Wait {
    Nothing,
    /// Room in the broker's queue, which was full.
    Broker(Waiting),
    /// The `hello` settled.
    Hello(Option<String>),
    /// A new name checked against the usernames.
    Rename(DisplayName),
    /// The first message of a client that said no `hello`, once the
    /// server's bans of guests from its address are checked.
    Vet(Box<Step>),
}

impl Connection {
    /// The end of a connection: the closing handshake as its ending calls
    /// for, and the broker told.
    async fn close(self: Box<Self>, ending: Ending) {
        let Connection {
            mut socket,
            mut writer,
            outbox,
            app,
            id,
            service,
            ..
        } = *self;
        let socket = &mut socket;
        match &ending {
            // tungstenite has queued its close reply; frames still queued
            // for the writer could not follow it. One more read flushes the
            // reply (reads write pending control frames first).
            Ending::ClientClosed => await_close_reply(socket).await,
            Ending::ConnectionLost(_) => {}
            // The writer sends 1013 and stops; the broker learns of it as a
            // disconnect, below.
            Ending::QueueFull => {
                info!(conn = %id, "closing a slow consumer");
                outbox.kick(CloseReason::SlowConsumer);
                finish_writing(socket, &mut writer).await;
                await_close_reply(socket).await;
            }
            // The writer already sent its close frame (or failed).
            Ending::WriterStopped => await_close_reply(socket).await,
            Ending::Closed(reason) => {
                // A full queue cannot take the close frame: the writer then
                // sends it at once, in place of what is queued.
                if outbox.push(Outbound::Close(*reason)).is_err() {
                    outbox.kick(*reason);
                }
            }
        }
        if service == Service::Chat {
            app.broker.send(Command::Disconnect { conn: id }).await;
        }
        drop(outbox);
        if matches!(ending, Ending::Closed(_)) {
            // With the last sender gone the writer drains the queue, ending
            // with the close frame, and stops.
            finish_writing(socket, &mut writer).await;
            if socket.is_terminated() {
                // A read error ended the WebSocket's stream (a protocol
                // violation): wait for the client's close on the bytes.
                drain_until_closed(socket.get_mut()).await;
            } else {
                await_close_reply(socket).await;
            }
        }
        let how = match &ending {
            Ending::ClientClosed => "client",
            Ending::ConnectionLost(_) => "lost",
            Ending::Closed(reason) => reason.label(),
            Ending::QueueFull => CloseReason::SlowConsumer.label(),
            Ending::WriterStopped => writer.closed_with().map_or("lost", CloseReason::label),
        };
        if how == CloseReason::SlowConsumer.label() {
            app.metrics.slow_consumers.inc();
        }
        app.metrics.closed(how);
        app.metrics.connections_open.dec();
        info!(conn = %id, ?ending, "disconnected");
    }
}

/// Gives the writer [`CLOSE_TIMEOUT`] to finish.
async fn finish_writing(socket: &mut WebSocket, writer: &mut Writer) {
    let writing = poll_fn(|cx| writer.poll_write(socket, cx));
    if let Ok(Err(error)) = timeout(CLOSE_TIMEOUT, writing).await {
        debug!(%error, "write failed");
    }
}

/// The closing handshake's second half. Dropping the socket straight after
/// our close frame would answer anything the client still sends (a pong, a
/// message in flight) with a TCP reset, and a reset makes the client's
/// kernel discard what it has not read yet: our notice and close frame.
async fn await_close_reply<S>(stream: &mut S)
where
    S: Stream<Item = Result<Message, WsError>> + Unpin,
{
    {
        let reply = async {
            while let Some(Ok(message)) = stream.next().await {
                if matches!(message, Message::Close(_)) {
                    break;
                }
            }
        };
        let _ = timeout(CLOSE_TIMEOUT, reply).await;
    }
}

/// After a protocol violation the client's bytes are no longer frames:
/// our side of the TCP stream is shut (FIN, after the close frame) and what
/// the client still sends is read and dropped until it closes its side, for
/// the reason [`await_close_reply`] gives.
async fn drain_until_closed<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S) {
    let drain = async {
        let _ = stream.shutdown().await;
        let mut discard = [0u8; 256];
        while let Ok(1..) = stream.read(&mut discard).await {}
    };
    let _ = timeout(CLOSE_TIMEOUT, drain).await;
}

impl Connection {
    /// What to do about a frame the client sent.
    fn on_message(&mut self, message: Message) -> Step {
        if matches!(message, Message::Binary(_)) {
            self.spoke = true;
        }
        match message {
            Message::Text(text) if self.service == Service::Echo => {
                self.queue(Outbound::Text(text))
            }
            Message::Binary(bytes) if self.service == Service::Echo => {
                self.queue(Outbound::Binary(bytes))
            }
            Message::Text(text) => match serde_json::from_str::<ClientMessage>(text.as_str()) {
                Ok(ClientMessage::Hello { token, .. }) => {
                    self.app.metrics.received("hello");
                    Step::Hello(token)
                }
                Ok(message) => {
                    self.spoke = true;
                    self.app.metrics.received(message.kind());
                    match Action::of(&message).map(|action| (action, self.admit(action))) {
                        None | Some((_, Verdict::Pass)) => match message {
                            ClientMessage::SetName { name } => Step::Rename(name),
                            message => Step::Forward(Command::Client {
                                conn: self.id,
                                message,
                            }),
                        },
                        Some((action, Verdict::Wait(refused))) => {
                            let scope = refused.scope.label();
                            self.app.metrics.rate_limited(action.label(), scope);
                            debug!(conn = %self.id, action = action.label(), scope, "rate limited");
                            // Rounded up: a client that waits this long passes.
                            let wait = refused.retry_after.as_nanos().div_ceil(1_000_000);
                            let ms = u64::try_from(wait).unwrap_or(u64::MAX);
                            let text = format!(
                                "slow down: too many {} (try again in {:.1} s)",
                                action.plural(),
                                ms.div_ceil(100) as f64 / 10.0
                            );
                            let id = message.id().cloned();
                            let room = message.room().cloned();
                            self.reply(ServerMessage::rate_limited(id, room, ms, text))
                                .into()
                        }
                        Some((_, Verdict::Close)) => self.keeps_hammering(),
                    }
                }
                Err(error) => {
                    self.spoke = true;
                    self.app.metrics.received("invalid");
                    if !self.refuse() {
                        return self.keeps_hammering();
                    }
                    // serde's text can quote the input: it is clipped for the
                    // client and kept out of the log (no message bodies there).
                    let (kind, line, column) = (error.classify(), error.line(), error.column());
                    info!(conn = %self.id, ?kind, line, column, "refused an invalid message");
                    let text = format!("invalid message: {}", clip(&error.to_string()));
                    self.reply_error(ErrorCode::InvalidMessage, text).into()
                }
            },
            Message::Binary(_) => {
                self.app.metrics.received("binary");
                if !self.refuse() {
                    return self.keeps_hammering();
                }
                info!(conn = %self.id, "refused a binary frame");
                self.reply_error(
                    ErrorCode::BinaryFrame,
                    "binary frames are not supported: send JSON as a text frame",
                )
                .into()
            }
            // tungstenite answers pings itself; the writer owes the pong
            // until it is flushed, against the outbox's limits, so a client
            // pinging without reading is a slow consumer like any other.
            Message::Ping(payload) => match self.writer.owe_pong(payload.len()) {
                Ok(()) => Step::Go,
                Err(QueueFull) => Step::End(Ending::QueueFull),
            },
            // Any frame counts as life. (Raw frames are only ever written,
            // never read.)
            Message::Pong(_) | Message::Frame(_) => Step::Go,
            Message::Close(_) => Step::End(Ending::ClientClosed),
        }
    }

    /// Settles who the connection is before anything else it says: the
    /// user its token names (with the name it chose), or a new one. The
    /// reader reads nothing more until the broker has the answer queued.
    async fn hello(&mut self, token: Option<String>) -> Option<Ending> {
        if std::mem::replace(&mut self.spoke, true) {
            if !self.refuse() {
                return Some(Ending::Closed(CloseReason::PolicyViolation));
            }
            return self.reply_error(
                ErrorCode::InvalidMessage,
                "hello must be the first message of a connection",
            );
        }
        let now = now_ms();
        let identity = &self.app.identity;
        let verified = token
            .as_deref()
            .and_then(|token| identity.verify(token, now / 1000));
        let mut refused = (token.is_some() && verified.is_none()).then_some(TokenRefusal::Invalid);
        let admitted = match &verified {
            Some(verified) => match self.app.accounts.admit(identity, verified, now).await {
                Ok(Admission::Admitted { username, token }) => {
                    Some((verified.user, username, token))
                }
                Ok(Admission::Ended) => {
                    refused = Some(TokenRefusal::Ended);
                    None
                }
                Err(error) => {
                    // Not a new identity: the client would forget its own.
                    warn!(conn = %self.id, %error, "reading a session failed; asking the client to come back");
                    return Some(Ending::Closed(CloseReason::TryAgainLater));
                }
            },
            None => None,
        };
        if refused.is_some() {
            info!(conn = %self.id, "refused a session token; issuing a new identity");
        }
        // A user who came back (not a new guest) may have rooms of theirs.
        let returning = admitted.is_some();
        // When a guest's identity was made (a ban of their address holds
        // against those made after it): with their session, or now.
        let born_ms = match &verified {
            Some(verified) if returning => verified
                .session
                .as_ref()
                .and_then(SessionId::born_ms)
                .unwrap_or(0),
            _ => now,
        };
        let (user, username, token) = admitted.unwrap_or_else(|| {
            let token = self.app.accounts.new_guest(identity, self.user, now);
            (self.user, None, token)
        });
        self.user = user;
        let admin = username
            .as_ref()
            .is_some_and(|name| self.app.accounts.is_admin(name));
        let who = Who {
            user,
            admin,
            guest: username.is_none().then_some(Guest {
                at: self.address,
                born_ms,
            }),
        };
        if let Some(ending) = self.refuse_if_banned(who).await {
            return Some(ending);
        }
        let stored_name = match verified {
            Some(_) => self
                .app
                .store
                .user_name(user)
                .await
                .unwrap_or_else(|error| {
                    warn!(conn = %self.id, %error, "reading a display name failed");
                    None
                }),
            None => None,
        };
        // A name chosen before someone took it as their username is not
        // shown any more: the guest name instead, until they choose another.
        let stored_name = match stored_name {
            Some(name) => match self.app.accounts.owner_of_name(name.as_str()).await {
                Ok(Some(owner)) if owner != user => None,
                _ => Some(name),
            },
            None => None,
        };
        let command = Command::Identify {
            conn: self.id,
            user,
            stored_name,
            welcome: Box::new(Welcome {
                token,
                admin,
                born_ms,
                username: username.map(|name| name.to_string()),
                refused,
            }),
        };
        self.app.broker.send(command).await;
        // Which rooms are the user's, and what came in them while away:
        // right after `welcome`, before anything the client sent after its
        // `hello` is read.
        if returning {
            match self.app.rooms.unread_of(&self.app.store, user).await {
                Ok(rooms) if rooms.is_empty() => {}
                Ok(rooms) => {
                    let message = Box::new(ServerMessage::Memberships { rooms });
                    let conn = self.id;
                    self.app.broker.send(Command::Tell { conn, message }).await;
                }
                Err(error) => {
                    warn!(conn = %self.id, %error, "reading a user's rooms failed");
                }
            }
        }
        None
    }

    /// Ends the connection (code 4003, after an `error` that says how long
    /// and why) if `who` is banned from the server, or is a guest from an
    /// address whose new guests a server-wide ban keeps out. A banned user
    /// seen from an address has its new guests kept out too. If the bans
    /// cannot be read, the connection goes on (and the log says so): a ban
    /// is a guard against abuse, not a lock.
    async fn refuse_if_banned(&mut self, who: Who) -> Option<Ending> {
        self.vetted = true;
        let rooms = &self.app.rooms;
        let now = now_ms();
        let ban = match rooms.server_ban(&who, now).await {
            Ok(ban) => ban?,
            Err(error) => {
                warn!(conn = %self.id, %error, "reading the server's bans failed; letting the connection in");
                return None;
            }
        };
        info!(conn = %self.id, user = %who.user, "refused a connection banned from the server");
        let at_most = self.app.settings.guest_ban_ms();
        if at_most > 0 {
            let address = [self.address];
            if let Err(error) = rooms
                .ban_addresses(SERVER, who.user, &address, now, at_most)
                .await
            {
                warn!(conn = %self.id, %error, "writing a ban's address failed");
            }
        }
        self.reply_error(ErrorCode::Moderated, ban.server_ban_words(now));
        Some(Ending::Closed(CloseReason::Banned))
    }

    /// Passes a new name on to the broker, unless it reads as another
    /// account's username: nobody may look like someone who has one.
    async fn rename(&mut self, name: DisplayName) -> Option<Ending> {
        match self.app.accounts.owner_of_name(name.as_str()).await {
            Ok(Some(owner)) if owner != self.user => {
                return self.reply_error(
                    ErrorCode::NotAllowed,
                    "that name reads as another account's username: choose another",
                );
            }
            Ok(_) => {}
            Err(error) => {
                warn!(conn = %self.id, %error, "checking a name against the usernames failed");
                return self.reply_error(
                    ErrorCode::StorageFailed,
                    "the name could not be checked; try again",
                );
            }
        }
        let message = ClientMessage::SetName { name };
        let command = Command::Client {
            conn: self.id,
            message,
        };
        self.app.broker.send(command).await;
        None
    }

    /// Queues a frame for the writer; a full queue ends the connection.
    fn queue(&self, item: Outbound) -> Step {
        match self.outbox.push(item) {
            Ok(()) => Step::Go,
            Err(QueueFull) => Step::End(Ending::QueueFull),
        }
    }

    fn reply_error(&self, code: ErrorCode, message: impl Into<String>) -> Option<Ending> {
        self.reply(ServerMessage::error(code, message))
    }

    fn reply(&self, error: ServerMessage) -> Option<Ending> {
        if let ServerMessage::Error {
            code: Some(code), ..
        } = &error
        {
            self.app.metrics.error_sent(code.name());
        }
        let frame = serde_json::to_string(&error).expect("an error message always encodes");
        match self.outbox.push(Outbound::Text(frame.into())) {
            Ok(()) => None,
            Err(QueueFull) => Some(Ending::QueueFull),
        }
    }

    /// Whether the connection may do `action` now, by its own limits and
    /// its user's.
    fn admit(&mut self, action: Action) -> Verdict {
        let (user, address) = (self.user, self.address);
        self.with_counts(|limits, counts| limits.admit(counts, user, address, action))
    }

    /// Counts a refusal (an invalid message); false once there were too many.
    fn refuse(&mut self) -> bool {
        self.with_counts(|limits, counts| limits.refuse(counts))
    }

    /// Runs `f` on the connection's counts, made on its first limited
    /// request. With no limit kept per connection there is nothing to count
    /// and nothing is kept (the counts' 240 B were most of what a listening
    /// connection that joined a room held beyond one that did not).
    fn with_counts<T>(&mut self, f: impl FnOnce(&Limits, &mut ConnectionLimits) -> T) -> T {
        let limits = &self.app.limits;
        if !limits.counts_connections() {
            return f(limits, &mut limits.connection());
        }
        let counts = self
            .limits
            .get_or_insert_with(|| Box::new(limits.connection()));
        f(limits, counts)
    }

    /// A client that keeps going after being told to wait is closed.
    fn keeps_hammering(&self) -> Step {
        info!(conn = %self.id, "closing a connection that keeps exceeding its rate limits");
        Step::End(Ending::Closed(CloseReason::PolicyViolation))
    }

    /// How a read error ends the connection: RFC 6455 wants a close frame
    /// for what the client did wrong, and none for a connection already gone.
    fn on_error(&self, error: WsError) -> Ending {
        let reason = match error {
            WsError::Capacity(_) => CloseReason::MessageTooBig {
                limit: self.app.settings.max_message_bytes,
            },
            WsError::Utf8(_) => CloseReason::InvalidUtf8,
            WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => {
                return Ending::ConnectionLost(error.to_string());
            }
            WsError::Protocol(violation) => {
                info!(conn = %self.id, %violation, "closing a connection that broke the protocol");
                CloseReason::ProtocolError
            }
            error => return Ending::ConnectionLost(error.to_string()),
        };
        Ending::Closed(reason)
    }
}

/// At most `ERROR_TEXT_CHARS` characters of an error text that may quote
/// client input, so a reply can never be larger than what provoked it.
fn clip(text: &str) -> String {
    match text.char_indices().nth(ERROR_TEXT_CHARS) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

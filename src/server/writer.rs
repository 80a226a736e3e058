//! The only code that writes to a connection's socket: a state machine its
//! task polls between reads. It takes frames from the outbox, hands them to
//! the socket and flushes once per batch, sends pings when asked to, and
//! stops after a close frame, when the outbox is closed and drained, on a
//! write error, or at once when the broker kicks the connection.
//!
//! It is polled, not a task of its own: a task per writer cost every idle
//! connection about 0.9 KB (the task, its timer, and the socket shared by
//! two halves behind a lock). Reads do not wait on it: while a slow client's
//! socket is full, the task keeps reading, and the writer carries on from
//! where it stopped when the socket drains.

use std::{
    sync::Arc,
    task::{Context, Poll, ready},
};

use futures_util::{Sink, SinkExt};
use tokio_tungstenite::tungstenite::{
    Bytes, Error as WsError, Message, Utf8Bytes,
    protocol::frame::{
        Frame,
        coding::{Data, OpCode},
    },
};

use super::close::CloseReason;
use super::outbox::{Outbound, OutboxReceiver, QueueFull};

/// Items the writer takes from its outbox per flush. Writing a batch with
/// one flush costs one syscall instead of one per frame.
const WRITE_BATCH: usize = 32;

/// Messages longer than this go out in fragments of this size: the socket's
/// write buffer holds one frame at a time, and keeps the size of the largest
/// (see [`GatheredWrites`](super::socket::GatheredWrites)).
pub const FRAGMENT_BYTES: usize = 1024;

pub struct Writer {
    frames: OutboxReceiver,
    /// Where the writer is in its life.
    phase: Phase,
    /// What is left of the item in hand.
    sending: Sending,
    /// Items taken since the last flush.
    taken: usize,
    /// Frames handed to the socket and not flushed yet.
    unflushed: bool,
    ping_due: bool,
    /// Pongs are owed (see [`Writer::owe_pong`]): flush when next idle.
    pongs_owed: bool,
    /// Set by a kick, for the task: the close frame must go out quickly.
    kick_seen: bool,
    /// The close frame's reason, once one is on its way.
    closed_with: Option<CloseReason>,
    /// Messages and payload bytes handed to the socket, since the task
    /// last took them for the metrics.
    delivered: u32,
    sent_bytes: u32,
}

/// A writer's life: it takes from the queue until it takes the last item (a
/// close frame, or the end of a closed and drained queue), or until a kick
/// replaces whatever it holds with the kick's close frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Taking,
    /// What is in hand is the last: stop once it is sent and flushed.
    Finishing,
    /// Kicked: finishing with the kick's close frame; later kicks are moot.
    Kicked,
}

/// An item taken from the outbox, as the frames still to go.
enum Sending {
    Nothing,
    /// A message, or a batch's frames from `next` on.
    Texts {
        texts: Texts,
        next: usize,
    },
    /// What remains of a long message, sent in fragments. (Rare, as
    /// control frames are: boxed, so that every writer is smaller.)
    Fragments(Box<Fragments>),
    Control(Box<Message>),
}

struct Fragments {
    bytes: Bytes,
    /// A binary message (the echo endpoint's), not text.
    binary: bool,
    sent: usize,
    /// The message came from `texts`, which goes on after it.
    then: Option<(Texts, usize)>,
}

enum Texts {
    One(Utf8Bytes),
    Batch(Arc<[Utf8Bytes]>),
}

impl Texts {
    fn get(&self, index: usize) -> Option<&Utf8Bytes> {
        match self {
            Texts::One(text) => (index == 0).then_some(text),
            Texts::Batch(frames) => frames.get(index),
        }
    }
}

impl Sending {
    fn from(item: Outbound) -> (Self, bool) {
        match item {
            Outbound::Text(text) => (
                Sending::Texts {
                    texts: Texts::One(text),
                    next: 0,
                },
                false,
            ),
            Outbound::Batch { frames, skip } | Outbound::Announcements { frames, skip } => (
                Sending::Texts {
                    texts: Texts::Batch(frames),
                    next: skip,
                },
                false,
            ),
            Outbound::Binary(bytes) => (
                Sending::Fragments(Box::new(Fragments {
                    bytes,
                    binary: true,
                    sent: 0,
                    then: None,
                })),
                false,
            ),
            Outbound::Close(reason) => (Sending::Control(Box::new(reason.message())), true),
        }
    }

    /// The next frame to hand the socket, if any is left: a message as one
    /// frame, or in fragments of [`FRAGMENT_BYTES`] when longer (every client
    /// reassembles them; a fragment may end inside a character, RFC 6455
    /// §5.6).
    fn next_frame(&mut self) -> Option<Message> {
        match std::mem::replace(self, Sending::Nothing) {
            Sending::Nothing => None,
            Sending::Control(message) => Some(*message),
            Sending::Texts { texts, next } => {
                let text = texts.get(next)?.clone();
                let rest = texts.get(next + 1).is_some().then_some((texts, next + 1));
                if text.len() <= FRAGMENT_BYTES {
                    if let Some((texts, next)) = rest {
                        *self = Sending::Texts { texts, next };
                    }
                    return Some(Message::Text(text));
                }
                *self = Sending::Fragments(Box::new(Fragments {
                    bytes: Bytes::from(text),
                    binary: false,
                    sent: 0,
                    then: rest,
                }));
                self.next_frame()
            }
            Sending::Fragments(mut fragments) => {
                let (sent, length) = (fragments.sent, fragments.bytes.len());
                let end = length.min(sent + FRAGMENT_BYTES);
                let opcode = match (sent, fragments.binary) {
                    (0, false) => Data::Text,
                    (0, true) => Data::Binary,
                    _ => Data::Continue,
                };
                let last = end == length;
                let payload = fragments.bytes.slice(sent..end);
                let fragment = Frame::message(payload, OpCode::Data(opcode), last);
                *self = match (last, fragments.then.take()) {
                    (false, then) => {
                        fragments.sent = end;
                        fragments.then = then;
                        Sending::Fragments(fragments)
                    }
                    (true, Some((texts, next))) => Sending::Texts { texts, next },
                    (true, None) => Sending::Nothing,
                };
                Some(Message::Frame(fragment))
            }
        }
    }

    fn is_empty(&self) -> bool {
        matches!(self, Sending::Nothing)
    }
}

impl Writer {
    pub fn new(frames: OutboxReceiver) -> Self {
        Self {
            frames,
            phase: Phase::Taking,
            sending: Sending::Nothing,
            taken: 0,
            unflushed: false,
            ping_due: false,
            pongs_owed: false,
            kick_seen: false,
            closed_with: None,
            delivered: 0,
            sent_bytes: 0,
        }
    }

    /// The client pinged with `payload` bytes: tungstenite has queued the
    /// pong, and the writer flushes it when it is next between batches. The
    /// pong counts against the outbox's limits until then; `Err` when it
    /// does not fit (a client that pings without reading).
    pub fn owe_pong(&mut self, payload: usize) -> Result<(), QueueFull> {
        // A server's pong has a 2-byte header (the payload is at most 125).
        self.frames.owe_pong(payload + 2)?;
        self.pongs_owed = true;
        Ok(())
    }

    /// A ping goes out when the writer is next between batches.
    pub fn ping(&mut self) {
        self.ping_due = true;
    }

    /// Whether the broker kicked the connection since the last call.
    pub fn take_kick(&mut self) -> bool {
        std::mem::take(&mut self.kick_seen)
    }

    /// Writes what it can. `Ready` once the writer has stopped: `Ok` after a
    /// close frame or a closed and drained outbox, `Err` if the socket failed.
    pub fn poll_write<S>(
        &mut self,
        socket: &mut S,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), WsError>>
    where
        S: Sink<Message, Error = WsError> + Unpin,
    {
        self.poll_kick(cx);
        loop {
            if !self.sending.is_empty() {
                ready!(socket.poll_ready_unpin(cx))?;
                if let Some(frame) = self.sending.next_frame() {
                    self.sent_bytes = self.sent_bytes.saturating_add(frame.len() as u32);
                    socket.start_send_unpin(frame)?;
                    self.unflushed = true;
                }
                continue;
            }
            if self.phase != Phase::Taking {
                if self.unflushed {
                    ready!(socket.poll_flush_unpin(cx))?;
                }
                return Poll::Ready(Ok(()));
            }
            if self.taken < WRITE_BATCH {
                match self.frames.poll_recv(cx) {
                    Poll::Ready(Some(item)) => {
                        self.count(&item);
                        let last;
                        (self.sending, last) = Sending::from(item);
                        if last {
                            self.phase = Phase::Finishing;
                        }
                        self.taken += 1;
                        continue;
                    }
                    // Every sender is gone and the queue drained.
                    Poll::Ready(None) => {
                        self.phase = Phase::Finishing;
                        continue;
                    }
                    Poll::Pending => {}
                }
            }
            if self.unflushed || self.pongs_owed {
                ready!(socket.poll_flush_unpin(cx))?;
                if std::mem::take(&mut self.pongs_owed) {
                    self.frames.pongs_flushed();
                }
                self.unflushed = false;
                self.taken = 0;
                continue;
            }
            self.taken = 0;
            if std::mem::take(&mut self.ping_due) {
                self.sending = Sending::Control(Box::new(Message::Ping(Bytes::new())));
                continue;
            }
            return Poll::Pending;
        }
    }

    /// Notes what an item taken delivers.
    fn count(&mut self, item: &Outbound) {
        let messages = match item {
            Outbound::Text(_) | Outbound::Binary(_) => 1,
            Outbound::Batch { frames, skip } | Outbound::Announcements { frames, skip } => {
                frames.len().saturating_sub(*skip) as u32
            }
            Outbound::Close(reason) => {
                self.closed_with = Some(*reason);
                0
            }
        };
        self.delivered = self.delivered.saturating_add(messages);
    }

    /// Messages and bytes handed to the socket since the last call.
    pub fn take_sent(&mut self) -> (u32, u32) {
        (
            std::mem::take(&mut self.delivered),
            std::mem::take(&mut self.sent_bytes),
        )
    }

    /// The reason of the close frame sent or on its way, if any.
    pub fn closed_with(&self) -> Option<CloseReason> {
        self.closed_with
    }

    /// A kick drops what is queued and in hand: the close frame goes next,
    /// and last.
    fn poll_kick(&mut self, cx: &mut Context<'_>) {
        if self.phase == Phase::Kicked {
            return;
        }
        let Poll::Ready(kick) = self.frames.poll_kicked(cx) else {
            return;
        };
        self.phase = Phase::Kicked;
        self.closed_with = Some(kick);
        self.sending = Sending::Control(Box::new(kick.message()));
        self.ping_due = false;
        self.kick_seen = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::close::CloseReason;

    fn frames_of(item: Outbound) -> Vec<Message> {
        let (mut sending, _) = Sending::from(item);
        std::iter::from_fn(|| sending.next_frame()).collect()
    }

    /// The fragments' payloads joined, checking their headers on the way.
    fn joined(frames: &[Message]) -> Vec<u8> {
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
        joined
    }

    #[test]
    fn a_long_message_goes_out_in_fragments_that_join_up_exactly() {
        assert_eq!(
            frames_of(Outbound::Text("short".into())),
            [Message::text("short")]
        );

        // Three-byte characters, so fragments end inside characters.
        let long = "€".repeat(1000);
        let frames = frames_of(Outbound::Text(long.as_str().into()));
        assert_eq!(frames.len(), 3000_usize.div_ceil(FRAGMENT_BYTES));
        assert_eq!(joined(&frames), long.as_bytes());
    }

    #[test]
    fn a_batch_goes_out_in_order_from_its_skip_with_long_ones_in_fragments() {
        let long = "x".repeat(2 * FRAGMENT_BYTES + 1);
        let batch: Arc<[Utf8Bytes]> = vec![
            "skipped".into(),
            "a".into(),
            long.as_str().into(),
            "b".into(),
        ]
        .into();
        let frames = frames_of(Outbound::Batch {
            frames: batch,
            skip: 1,
        });
        assert_eq!(frames.len(), 1 + 3 + 1);
        assert_eq!(frames[0], Message::text("a"));
        assert_eq!(joined(&frames[1..4]), long.as_bytes());
        assert_eq!(frames[4], Message::text("b"));
    }

    /// A socket that takes every frame while open, and nothing while
    /// `full`, counting flushes.
    #[derive(Default)]
    struct TestSocket {
        sent: Vec<Message>,
        flushes: usize,
        full: bool,
    }

    impl Sink<Message> for TestSocket {
        type Error = WsError;

        fn poll_ready(
            self: std::pin::Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Result<(), WsError>> {
            if self.full {
                Poll::Pending
            } else {
                Poll::Ready(Ok(()))
            }
        }

        fn start_send(self: std::pin::Pin<&mut Self>, item: Message) -> Result<(), WsError> {
            self.get_mut().sent.push(item);
            Ok(())
        }

        fn poll_flush(
            self: std::pin::Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Result<(), WsError>> {
            let this = self.get_mut();
            if this.full {
                return Poll::Pending;
            }
            this.flushes += 1;
            Poll::Ready(Ok(()))
        }

        fn poll_close(
            self: std::pin::Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Result<(), WsError>> {
            Poll::Ready(Ok(()))
        }
    }

    fn writer() -> (super::super::outbox::Outbox, Writer, TestSocket) {
        let (outbox, frames) = super::super::outbox::Outbox::channel(64, 1 << 20);
        (outbox, Writer::new(frames), TestSocket::default())
    }

    fn poll(writer: &mut Writer, socket: &mut TestSocket) -> Poll<Result<(), WsError>> {
        writer.poll_write(socket, &mut Context::from_waker(std::task::Waker::noop()))
    }

    #[test]
    fn what_is_queued_goes_out_in_order_with_one_flush_then_waits() {
        let (outbox, mut writer, mut socket) = writer();
        for text in ["a", "b", "c"] {
            outbox.push(Outbound::Text(text.into())).unwrap();
        }
        assert!(poll(&mut writer, &mut socket).is_pending());
        assert_eq!(socket.sent, ["a", "b", "c"].map(Message::text));
        assert_eq!(socket.flushes, 1);
        // Nothing more queued: no more writes, no more flushes.
        assert!(poll(&mut writer, &mut socket).is_pending());
        assert_eq!(socket.flushes, 1);
    }

    #[test]
    fn a_full_socket_holds_the_writer_and_it_carries_on_where_it_stopped() {
        let (outbox, mut writer, mut socket) = writer();
        socket.full = true;
        outbox.push(Outbound::Text("first".into())).unwrap();
        outbox.push(Outbound::Text("second".into())).unwrap();
        assert!(poll(&mut writer, &mut socket).is_pending());
        assert!(socket.sent.is_empty());
        socket.full = false;
        assert!(poll(&mut writer, &mut socket).is_pending());
        assert_eq!(socket.sent, ["first", "second"].map(Message::text));
    }

    #[test]
    fn a_ping_goes_out_between_batches() {
        let (outbox, mut writer, mut socket) = writer();
        outbox.push(Outbound::Text("a".into())).unwrap();
        writer.ping();
        assert!(poll(&mut writer, &mut socket).is_pending());
        assert_eq!(
            socket.sent,
            [Message::text("a"), Message::Ping(Bytes::new())]
        );
        assert_eq!(socket.flushes, 2, "the batch, then the ping");
    }

    #[test]
    fn a_kick_drops_what_is_queued_and_sends_only_its_close_frame() {
        let (outbox, mut writer, mut socket) = writer();
        for _ in 0..5 {
            outbox.push(Outbound::Text("stale".into())).unwrap();
        }
        outbox.kick(CloseReason::SlowConsumer);
        assert!(matches!(
            poll(&mut writer, &mut socket),
            Poll::Ready(Ok(()))
        ));
        assert_eq!(socket.sent, [CloseReason::SlowConsumer.message()]);
        assert!(writer.take_kick(), "the task is told, to time the close");
        assert!(!writer.take_kick());
    }

    #[test]
    fn a_queued_close_frame_is_the_last_thing_written() {
        let (outbox, mut writer, mut socket) = writer();
        outbox.push(Outbound::Text("notice".into())).unwrap();
        outbox
            .push(Outbound::Close(CloseReason::Restarting))
            .unwrap();
        outbox.push(Outbound::Text("never".into())).unwrap();
        assert!(matches!(
            poll(&mut writer, &mut socket),
            Poll::Ready(Ok(()))
        ));
        assert_eq!(
            socket.sent,
            [Message::text("notice"), CloseReason::Restarting.message()]
        );
    }

    #[test]
    fn the_writer_stops_once_every_sender_is_gone_and_the_queue_drained() {
        let (outbox, mut writer, mut socket) = writer();
        outbox.push(Outbound::Text("last".into())).unwrap();
        drop(outbox);
        assert!(matches!(
            poll(&mut writer, &mut socket),
            Poll::Ready(Ok(()))
        ));
        assert_eq!(socket.sent, [Message::text("last")]);
    }

    #[test]
    fn owed_pongs_are_flushed_and_then_free_their_place_in_the_queue() {
        let (outbox, frames) = super::super::outbox::Outbox::channel(2, 1 << 20);
        let (mut writer, mut socket) = (Writer::new(frames), TestSocket::default());
        socket.full = true;
        writer.owe_pong(125).unwrap();
        writer.owe_pong(125).unwrap();
        assert_eq!(
            writer.owe_pong(125),
            Err(QueueFull),
            "the queue is full of pongs"
        );
        assert!(outbox.push(Outbound::Text("x".into())).is_err());
        assert!(poll(&mut writer, &mut socket).is_pending());
        socket.full = false;
        assert!(poll(&mut writer, &mut socket).is_pending());
        assert_eq!(socket.flushes, 1);
        assert_eq!(outbox.push(Outbound::Text("x".into())), Ok(()));
    }

    #[test]
    fn a_binary_message_goes_out_whole_or_in_binary_fragments() {
        assert_eq!(
            frames_of(Outbound::Binary(Bytes::from_static(b"\x00\x01"))).len(),
            1
        );
        let long = vec![9u8; 2 * FRAGMENT_BYTES + 5];
        let frames = frames_of(Outbound::Binary(Bytes::from(long.clone())));
        assert_eq!(frames.len(), 3);
        let Message::Frame(first) = &frames[0] else {
            panic!()
        };
        assert_eq!(first.header().opcode, OpCode::Data(Data::Binary));
        let joined: Vec<u8> = frames
            .iter()
            .flat_map(|m| match m {
                Message::Frame(f) => f.payload().to_vec(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(joined, long);
    }
}

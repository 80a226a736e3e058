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
    protocol::{
        CloseFrame,
        frame::{
            Frame,
            coding::{Data, OpCode},
        },
    },
};

use super::broker::Kick;
use super::outbox::{Outbound, OutboxReceiver};
use crate::protocol::close_code;

/// Items the writer takes from its outbox per flush. Writing a batch with
/// one flush costs one syscall instead of one per frame.
const WRITE_BATCH: usize = 32;

/// Messages longer than this go out in fragments of this size: the socket's
/// write buffer holds one frame at a time, and keeps the size of the largest
/// (see [`GatheredWrites`](super::socket::GatheredWrites)).
pub const FRAGMENT_BYTES: usize = 1024;

pub struct Writer {
    frames: OutboxReceiver,
    /// A kick has been seen: nothing more comes from the queue.
    kicked: bool,
    /// What is left of the item in hand.
    sending: Sending,
    /// Items taken since the last flush.
    taken: usize,
    /// Frames handed to the socket and not flushed yet.
    unflushed: bool,
    /// The frame in hand is the last: stop once it is flushed.
    last: bool,
    ping_due: bool,
    /// Set by a kick, for the task: the close frame must go out quickly.
    kick_seen: bool,
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
            Outbound::Batch { frames, skip } => (
                Sending::Texts {
                    texts: Texts::Batch(frames),
                    next: skip,
                },
                false,
            ),
            Outbound::Close { code, reason } => (
                Sending::Control(Box::new(close_message(code, reason))),
                true,
            ),
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
                    sent: 0,
                    then: rest,
                }));
                self.next_frame()
            }
            Sending::Fragments(mut fragments) => {
                let (sent, length) = (fragments.sent, fragments.bytes.len());
                let end = length.min(sent + FRAGMENT_BYTES);
                let opcode = if sent == 0 {
                    Data::Text
                } else {
                    Data::Continue
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
            kicked: false,
            sending: Sending::Nothing,
            taken: 0,
            unflushed: false,
            last: false,
            ping_due: false,
            kick_seen: false,
        }
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
                    socket.start_send_unpin(frame)?;
                    self.unflushed = true;
                }
                continue;
            }
            if self.last {
                if self.unflushed {
                    ready!(socket.poll_flush_unpin(cx))?;
                }
                return Poll::Ready(Ok(()));
            }
            if self.taken < WRITE_BATCH {
                match self.frames.poll_recv(cx) {
                    Poll::Ready(Some(item)) => {
                        (self.sending, self.last) = Sending::from(item);
                        self.taken += 1;
                        continue;
                    }
                    // Every sender is gone and the queue drained.
                    Poll::Ready(None) => {
                        self.last = true;
                        continue;
                    }
                    Poll::Pending => {}
                }
            }
            if self.unflushed {
                ready!(socket.poll_flush_unpin(cx))?;
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

    /// A kick drops what is queued and in hand: the close frame goes next,
    /// and last.
    fn poll_kick(&mut self, cx: &mut Context<'_>) {
        if self.kicked {
            return;
        }
        let Poll::Ready(kick) = self.frames.poll_kicked(cx) else {
            return;
        };
        self.kicked = true;
        let (code, reason) = match kick {
            Kick::SlowConsumer => (close_code::SLOW_CONSUMER, "slow consumer"),
            Kick::ShuttingDown => (close_code::SERVICE_RESTART, "server restarting"),
        };
        let close = close_message(code, Utf8Bytes::from_static(reason));
        self.sending = Sending::Control(Box::new(close));
        self.last = true;
        self.ping_due = false;
        self.kick_seen = true;
    }
}

pub fn close_message(code: u16, reason: Utf8Bytes) -> Message {
    Message::Close(Some(CloseFrame {
        code: code.into(),
        reason,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

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
}

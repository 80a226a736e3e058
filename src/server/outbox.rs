//! The per-connection send queue: the only way frames reach the one task that
//! writes to a socket. The broker and the connection's own reader push into
//! it without ever waiting; a full queue marks a slow consumer.

use axum::extract::ws::Utf8Bytes;
use tokio::sync::mpsc;

/// One frame waiting for a connection's writer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outbound {
    /// JSON already encoded; a broadcast shares one buffer among recipients.
    Text(Utf8Bytes),
    /// Send this close frame after everything queued before it, then stop.
    Close { code: u16, reason: Utf8Bytes },
}

/// The queue was full: the client is not reading fast enough.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlowConsumer;

/// The sending side, cloned into every room the connection is in.
#[derive(Debug, Clone)]
pub struct Outbox {
    frames: mpsc::Sender<Outbound>,
}

impl Outbox {
    /// A bounded queue of `capacity` frames and its receiving end.
    pub fn channel(capacity: usize) -> (Self, mpsc::Receiver<Outbound>) {
        let (frames, receiver) = mpsc::channel(capacity);
        (Self { frames }, receiver)
    }

    /// Queues a frame without waiting. A queue whose writer has already gone
    /// accepts silently: that connection is ending and its disconnect is on
    /// its way to the broker, so there is nobody left to tell.
    pub fn push(&self, frame: Outbound) -> Result<(), SlowConsumer> {
        match self.frames.try_send(frame) {
            Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => Err(SlowConsumer),
        }
    }
}

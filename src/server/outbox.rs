//! The per-connection send queue: the only way frames reach the one task that
//! writes to a socket. The broker and the connection's own reader push into
//! it without ever waiting; a full queue marks a slow consumer.
//!
//! It is bounded twice: by frames and by bytes (shared counters; a batch is
//! one item but counts all its frames), so neither many small frames nor a
//! few large ones can make one client hold much memory. The channel is
//! flume's: its queue allocates only
//! when frames wait (tokio's allocates a block of 32 slots per channel up
//! front, 1.3 KB for every idle connection).

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    task::{Context, Poll},
};

use futures_util::StreamExt;

use tokio_tungstenite::tungstenite::Utf8Bytes;

/// One frame waiting for a connection's writer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outbound {
    /// JSON already encoded; a broadcast shares one buffer among recipients.
    Text(Utf8Bytes),
    /// Several frames, sent in order from `skip` on: one queue slot for what
    /// goes out together (the frames are shared among recipients too).
    Batch {
        frames: Arc<[Utf8Bytes]>,
        skip: usize,
    },
    /// Send this close frame after everything queued before it, then stop.
    Close { code: u16, reason: Utf8Bytes },
}

impl Outbound {
    /// Frames and bytes, as counted against the queue's limits.
    fn size(&self) -> (usize, usize) {
        match self {
            Outbound::Text(text) => (1, text.len()),
            Outbound::Batch { frames, skip } => (
                frames.len() - skip,
                frames[*skip..].iter().map(|text| text.len()).sum(),
            ),
            Outbound::Close { reason, .. } => (1, reason.len() + 2),
        }
    }
}

/// What waits in one queue, and the most that may. (The limits are here,
/// not in every `Outbox`: one is cloned into each room of the connection.)
#[derive(Debug, Default)]
struct Queued {
    frames: AtomicUsize,
    bytes: AtomicUsize,
    max_frames: usize,
    max_bytes: usize,
}

/// The queue was full: the client is not reading fast enough.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlowConsumer;

/// The sending side, cloned into every room the connection is in.
#[derive(Debug, Clone)]
pub struct Outbox {
    frames: flume::Sender<Outbound>,
    queued: Arc<Queued>,
}

/// The writer's side.
#[derive(Debug)]
pub struct OutboxReceiver {
    frames: flume::r#async::RecvStream<'static, Outbound>,
    queued: Arc<Queued>,
}

impl Outbox {
    /// A queue of at most `max_frames` frames and `max_bytes` bytes.
    pub fn channel(max_frames: usize, max_bytes: usize) -> (Self, OutboxReceiver) {
        // Items are never more than frames: the counter is the limit.
        let (frames, receiver) = flume::bounded(max_frames);
        let queued = Arc::new(Queued {
            max_frames,
            max_bytes,
            ..Queued::default()
        });
        let outbox = Self {
            frames,
            queued: queued.clone(),
        };
        (
            outbox,
            OutboxReceiver {
                frames: receiver.into_stream(),
                queued,
            },
        )
    }

    /// Queues a frame without waiting. A queue whose writer has already gone
    /// accepts silently: that connection is ending and its disconnect is on
    /// its way to the broker, so there is nobody left to tell.
    pub fn push(&self, frame: Outbound) -> Result<(), SlowConsumer> {
        let (frames, bytes) = frame.size();
        // Only pushers add, so a load-then-add race can overshoot a limit by
        // at most one item per concurrent pusher: still bounded.
        let queued = &*self.queued;
        if queued.frames.load(Ordering::Relaxed) + frames > queued.max_frames
            || queued.bytes.load(Ordering::Relaxed) + bytes > queued.max_bytes
        {
            return Err(SlowConsumer);
        }
        match self.frames.try_send(frame) {
            Ok(()) => {
                self.queued.frames.fetch_add(frames, Ordering::Relaxed);
                self.queued.bytes.fetch_add(bytes, Ordering::Relaxed);
                Ok(())
            }
            Err(flume::TrySendError::Disconnected(_)) => Ok(()),
            Err(flume::TrySendError::Full(_)) => Err(SlowConsumer),
        }
    }
}

impl OutboxReceiver {
    /// The next frame; `None` once every sender is gone and the queue is
    /// drained. While the queue is empty the task is woken on the next push.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Outbound>> {
        self.frames
            .poll_next_unpin(cx)
            .map(|frame| frame.map(|frame| self.taken(frame)))
    }

    /// Waits for the next frame (see [`poll_recv`](Self::poll_recv)).
    #[cfg(test)]
    pub async fn recv(&mut self) -> Option<Outbound> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// The next frame if one is queued, without waiting.
    #[cfg(test)]
    pub fn try_recv(&mut self) -> Option<Outbound> {
        futures_util::FutureExt::now_or_never(self.recv()).flatten()
    }

    fn taken(&self, frame: Outbound) -> Outbound {
        let (frames, bytes) = frame.size();
        self.queued.frames.fetch_sub(frames, Ordering::Relaxed);
        self.queued.bytes.fetch_sub(bytes, Ordering::Relaxed);
        frame
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(len: usize) -> Outbound {
        Outbound::Text("x".repeat(len).into())
    }

    #[tokio::test]
    async fn the_queue_is_bounded_by_frames_and_by_bytes_and_frees_both() {
        let (outbox, mut receiver) = Outbox::channel(3, 100);
        assert_eq!(outbox.push(text(60)), Ok(()));
        assert_eq!(outbox.push(text(60)), Err(SlowConsumer), "byte limit");
        assert_eq!(outbox.push(text(10)), Ok(()));
        assert_eq!(outbox.push(text(10)), Ok(()));
        assert_eq!(outbox.push(text(1)), Err(SlowConsumer), "frame limit");
        assert_eq!(receiver.recv().await, Some(text(60)));
        assert_eq!(receiver.try_recv(), Some(text(10)));
        assert_eq!(receiver.try_recv(), Some(text(10)));
        assert_eq!(receiver.try_recv(), None);
        assert_eq!(outbox.push(text(100)), Ok(()), "everything was freed");
        assert!(receiver.try_recv().is_some());

        // A batch is one item but counts every frame it sends.
        let batch = |n: usize| Outbound::Batch {
            frames: vec!["x".into(); n].into(),
            skip: 1,
        };
        assert_eq!(outbox.push(batch(5)), Err(SlowConsumer), "4 frames");
        assert_eq!(outbox.push(batch(4)), Ok(()), "3 frames fit");
        assert_eq!(
            outbox.push(text(1)),
            Err(SlowConsumer),
            "the batch filled it"
        );
        assert!(receiver.try_recv().is_some());
        assert_eq!(outbox.push(text(1)), Ok(()), "taking it freed it");
    }
}

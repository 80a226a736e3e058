//! The per-connection send queue: the only way frames reach the one task that
//! writes to a socket. The broker and the connection's own reader push into
//! it without ever waiting; a full queue marks a slow consumer.
//!
//! It is bounded twice: by frames and by bytes (a batch is one item but
//! counts all its frames), so neither many small frames nor a few large
//! ones can make one client hold much memory.
//!
//! The queue is a list behind a lock, shared by the senders (the
//! connection, and the broker's copies for its session and each of its
//! rooms) and the one receiver, the connection's writer. It holds memory
//! only while frames wait: the list is let go whenever the writer empties
//! it. The channels of crates cost an idle connection more: tokio's
//! allocates a block of 32 slots up front (1.3 KB), and flume's (used
//! before) kept its queue at the largest size it reached and a list of
//! waiting receivers, about 520 B in all against about 130 B here
//! (`confab-bench idle`).

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex, MutexGuard},
    task::{Context, Poll, Waker},
};

use tokio_tungstenite::tungstenite::{Bytes, Utf8Bytes};

use super::close::CloseReason;

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
    /// A binary message: only the echo endpoint sends them (confab's own
    /// protocol is JSON text).
    Binary(Bytes),
    /// Presence announcements that waited to go out together: sent like a
    /// batch, but counted as one frame against the queue's frame limit
    /// (their bytes count in full). A storm of joins and leaves is news
    /// worth one write, and must not fill a member's queue by number alone.
    Announcements {
        frames: Arc<[Utf8Bytes]>,
        skip: usize,
    },
    /// Send this close frame after everything queued before it, then stop.
    Close(CloseReason),
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
            Outbound::Announcements { frames, skip } => {
                (1, frames[*skip..].iter().map(|text| text.len()).sum())
            }
            Outbound::Binary(bytes) => (1, bytes.len()),
            Outbound::Close(reason) => (1, reason.text().len() + 2),
        }
    }
}

/// The queue was full: the client is not reading fast enough (the broker
/// and the reader then close it as a slow consumer, 1013).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueFull;

/// The sending side, cloned into every room the connection is in.
#[derive(Debug)]
pub struct Outbox {
    shared: Arc<Shared>,
}

/// The writer's side.
#[derive(Debug)]
pub struct OutboxReceiver {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    queue: Mutex<Queue>,
    max_frames: usize,
    max_bytes: usize,
}

#[derive(Debug, Default)]
struct Queue {
    items: VecDeque<Outbound>,
    /// Frames and bytes of `items`, as counted against the limits.
    frames: usize,
    bytes: usize,
    /// Pongs owed to the client and not yet flushed to the socket, also
    /// counted against the limits. tungstenite answers pings itself, into a
    /// buffer of its own that grows while the socket is full (to 8 MiB per
    /// connection: a client pinging without reading pinned hundreds of MB),
    /// so the writer owes them here and flushes them like any frame.
    owed_frames: usize,
    owed_bytes: usize,
    /// The writer, waiting for a frame.
    waiting: Option<Waker>,
    /// `Outbox` handles alive: at 0 the writer drains what is left and stops.
    senders: usize,
    /// The writer is gone: frames pushed now go nowhere.
    closed: bool,
    /// The broker let the connection go: its writer sends this close and
    /// nothing more. (Through the queue, not a channel of its own, which
    /// would cost every connection another allocation.)
    kicked: Option<CloseReason>,
}

impl Queue {
    /// The writer's task is woken by the next push, kick or last sender gone.
    fn wait(&mut self, cx: &Context<'_>) {
        match &mut self.waiting {
            Some(waker) => waker.clone_from(cx.waker()),
            waiting => *waiting = Some(cx.waker().clone()),
        }
    }
}

impl Shared {
    /// Whether `frames` more frames of `bytes` bytes fit under the limits.
    fn fits(&self, queue: &Queue, frames: usize, bytes: usize) -> bool {
        queue.frames + queue.owed_frames + frames <= self.max_frames
            && queue.bytes + queue.owed_bytes + bytes <= self.max_bytes
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        // Nothing panics while holding it; a poisoned queue is still sound.
        self.queue
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Outbox {
    /// A queue of at most `max_frames` frames and `max_bytes` bytes.
    pub fn channel(max_frames: usize, max_bytes: usize) -> (Self, OutboxReceiver) {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                senders: 1,
                ..Queue::default()
            }),
            max_frames,
            max_bytes,
        });
        (
            Self {
                shared: shared.clone(),
            },
            OutboxReceiver { shared },
        )
    }

    /// Queues a frame without waiting. A queue whose writer has already gone
    /// accepts silently: that connection is ending and its disconnect is on
    /// its way to the broker, so there is nobody left to tell.
    pub fn push(&self, frame: Outbound) -> Result<(), QueueFull> {
        let (frames, bytes) = frame.size();
        let mut queue = self.shared.lock();
        if queue.closed {
            return Ok(());
        }
        if !self.shared.fits(&queue, frames, bytes) {
            return Err(QueueFull);
        }
        queue.items.push_back(frame);
        queue.frames += frames;
        queue.bytes += bytes;
        let waiting = queue.waiting.take();
        drop(queue);
        if let Some(writer) = waiting {
            writer.wake();
        }
        Ok(())
    }
}

impl Outbox {
    /// Tells the writer to close the connection now, for `kick`'s reason,
    /// whatever is queued.
    pub fn kick(&self, kick: CloseReason) {
        let mut queue = self.shared.lock();
        queue.kicked = Some(kick);
        let waiting = queue.waiting.take();
        drop(queue);
        if let Some(writer) = waiting {
            writer.wake();
        }
    }
}

impl Clone for Outbox {
    fn clone(&self) -> Self {
        self.shared.lock().senders += 1;
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        let mut queue = self.shared.lock();
        queue.senders -= 1;
        let waiting = if queue.senders == 0 {
            queue.waiting.take()
        } else {
            None
        };
        drop(queue);
        if let Some(writer) = waiting {
            writer.wake();
        }
    }
}

impl OutboxReceiver {
    /// A kick, if one came; otherwise the task is woken when one does.
    pub fn poll_kicked(&mut self, cx: &mut Context<'_>) -> Poll<CloseReason> {
        let mut queue = self.shared.lock();
        match queue.kicked.take() {
            Some(kick) => Poll::Ready(kick),
            None => {
                queue.wait(cx);
                Poll::Pending
            }
        }
    }

    /// The next frame; `None` once every sender is gone and the queue is
    /// drained. While the queue is empty the task is woken on the next push.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Outbound>> {
        let mut queue = self.shared.lock();
        if let Some(frame) = queue.items.pop_front() {
            let (frames, bytes) = frame.size();
            queue.frames -= frames;
            queue.bytes -= bytes;
            if queue.items.is_empty() {
                // An idle connection holds no queue.
                queue.items = VecDeque::new();
            }
            return Poll::Ready(Some(frame));
        }
        if queue.senders == 0 {
            return Poll::Ready(None);
        }
        queue.wait(cx);
        Poll::Pending
    }

    /// Counts a pong of `bytes` (payload and header) that the socket owes
    /// the client until [`pongs_flushed`](Self::pongs_flushed); refused when
    /// the queue has no room for it, like any frame.
    pub fn owe_pong(&self, bytes: usize) -> Result<(), QueueFull> {
        let mut queue = self.shared.lock();
        if !self.shared.fits(&queue, 1, bytes) {
            return Err(QueueFull);
        }
        queue.owed_frames += 1;
        queue.owed_bytes += bytes;
        Ok(())
    }

    /// The socket was flushed: every pong owed has gone out.
    pub fn pongs_flushed(&self) {
        let mut queue = self.shared.lock();
        queue.owed_frames = 0;
        queue.owed_bytes = 0;
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

    /// The kick, if one came.
    #[cfg(test)]
    pub fn try_kicked(&mut self) -> Option<CloseReason> {
        self.shared.lock().kicked.take()
    }
}

impl Drop for OutboxReceiver {
    fn drop(&mut self) {
        let items = {
            let mut queue = self.shared.lock();
            queue.closed = true;
            queue.frames = 0;
            queue.bytes = 0;
            std::mem::take(&mut queue.items)
        };
        // Dropped outside the lock: the last copy of a batch frees it.
        drop(items);
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
        assert_eq!(outbox.push(text(60)), Err(QueueFull), "byte limit");
        assert_eq!(outbox.push(text(10)), Ok(()));
        assert_eq!(outbox.push(text(10)), Ok(()));
        assert_eq!(outbox.push(text(1)), Err(QueueFull), "frame limit");
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
        assert_eq!(outbox.push(batch(5)), Err(QueueFull), "4 frames");
        assert_eq!(outbox.push(batch(4)), Ok(()), "3 frames fit");
        assert_eq!(outbox.push(text(1)), Err(QueueFull), "the batch filled it");
        assert!(receiver.try_recv().is_some());
        assert_eq!(outbox.push(text(1)), Ok(()), "taking it freed it");
    }

    #[tokio::test]
    async fn the_writer_is_woken_by_a_push_and_ends_when_every_sender_is_gone() {
        let (outbox, mut receiver) = Outbox::channel(8, 1024);
        let copy = outbox.clone();
        let writer = tokio::spawn(async move {
            let mut got = Vec::new();
            while let Some(frame) = receiver.recv().await {
                got.push(frame);
            }
            got
        });
        tokio::task::yield_now().await;
        outbox.push(text(1)).unwrap();
        copy.push(text(2)).unwrap();
        drop(outbox);
        tokio::task::yield_now().await;
        copy.push(text(3)).unwrap();
        drop(copy);
        let got = tokio::time::timeout(std::time::Duration::from_secs(5), writer)
            .await
            .expect("the writer ends once the senders are gone")
            .unwrap();
        assert_eq!(got, [text(1), text(2), text(3)], "all of it, in order");
    }

    #[test]
    fn a_queue_whose_writer_is_gone_takes_frames_and_keeps_nothing() {
        let (outbox, receiver) = Outbox::channel(1, 1024);
        outbox.push(text(10)).unwrap();
        drop(receiver);
        assert_eq!(outbox.push(text(10)), Ok(()), "no slow consumer");
        assert_eq!(outbox.push(text(10)), Ok(()));
        assert!(outbox.shared.lock().items.is_empty());
    }

    #[test]
    fn pongs_owed_count_against_the_limits_until_flushed() {
        let (outbox, receiver) = Outbox::channel(4, 1024);
        outbox.push(text(10)).unwrap();
        for _ in 0..3 {
            assert_eq!(receiver.owe_pong(127), Ok(()));
        }
        assert_eq!(receiver.owe_pong(127), Err(QueueFull), "frame limit");
        assert_eq!(outbox.push(text(1)), Err(QueueFull), "pongs fill it too");
        receiver.pongs_flushed();
        assert_eq!(outbox.push(text(1)), Ok(()));
        assert_eq!(receiver.owe_pong(1020), Err(QueueFull), "byte limit");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn senders_on_other_threads_lose_nothing_reorder_nothing_and_always_wake_the_writer() {
        const THREADS: usize = 4;
        const EACH: usize = 20_000;
        // A small queue, so that senders keep finding it full and the writer
        // keeps finding it empty: every wake-up matters.
        let (outbox, mut receiver) = Outbox::channel(8, 1 << 20);
        let senders: Vec<_> = (0..THREADS)
            .map(|thread| {
                let outbox = outbox.clone();
                std::thread::spawn(move || {
                    for n in 0..EACH {
                        let frame = Outbound::Text(format!("{thread}:{n}").into());
                        while outbox.push(frame.clone()).is_err() {
                            std::thread::yield_now();
                        }
                    }
                })
            })
            .collect();
        drop(outbox);
        let mut next = [0usize; THREADS];
        let receiving = async {
            while let Some(Outbound::Text(text)) = receiver.recv().await {
                let (thread, n) = text.as_str().split_once(':').unwrap();
                let thread: usize = thread.parse().unwrap();
                assert_eq!(
                    n.parse::<usize>().unwrap(),
                    next[thread],
                    "in order per sender"
                );
                next[thread] += 1;
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(60), receiving)
            .await
            .expect("the writer is never left asleep with frames queued");
        for sender in senders {
            sender.join().unwrap();
        }
        assert_eq!(next, [EACH; THREADS], "every frame arrived");
    }
}

//! The upgraded socket: a WebSocket with this server's buffer and size
//! limits ([`open`]), over a byte stream that gathers the writer's batches:
//! what is written waits in a buffer until the flush, goes to the socket in
//! one write, and the buffer is then let go.
//!
//! tungstenite has a write buffer of its own, but it keeps the largest size
//! it ever reached for the connection's whole life: one member list or
//! history page, or one storm of announcements, and an idle connection held
//! kilobytes forever. With tungstenite's buffer set to 0 it holds one frame
//! at a time (the writer cuts long messages into fragments), and the batch
//! waits here instead, where it is freed once sent.
//!
//! One write of tungstenite's is never flushed: its answer to the client's
//! close frame, written as it ends the connection. So what is still
//! gathered when the socket is dropped gets one attempt then, without
//! waiting.

use std::{
    io,
    pin::Pin,
    task::{Context, Poll, Waker, ready},
};

use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_tungstenite::{
    WebSocketStream,
    tungstenite::protocol::{Role, WebSocketConfig},
};

/// A connection's WebSocket once upgraded.
pub type WebSocket = WebSocketStream<GatheredWrites<TokioIo<Upgraded>>>;

/// What tungstenite reads at a time, and keeps as a connection's read
/// buffer for its whole life. Its default of 128 KiB is zeroed on every read
/// and costs about 136 KB of RSS per idle connection; 1 KiB still cost
/// 700 B more per connection than 256, and 256 about 80 B more than this
/// (measured with `confab-bench idle`). Client frames are small (a `join`
/// fits): a longer one takes more reads, and `burst` is as fast as with
/// 4 KiB.
const READ_BUFFER_BYTES: usize = 128;

/// tungstenite refuses a frame that does not fit its write buffer and drops
/// the connection. The buffer holds one frame at a time (its batching is
/// off: [`GatheredWrites`] does it), and the writer sends long messages in
/// fragments, so this is a ceiling that is never near.
const MAX_WRITE_BUFFER_BYTES: usize = 8 * 1024 * 1024;

/// The upgraded socket as a WebSocket, with this server's limits.
pub async fn open(on_upgrade: OnUpgrade, max_message: usize) -> hyper::Result<WebSocket> {
    let upgraded = on_upgrade.await?;
    let config = WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER_BYTES)
        // Every frame goes straight to `GatheredWrites`.
        .write_buffer_size(0)
        .max_write_buffer_size(MAX_WRITE_BUFFER_BYTES)
        .max_message_size(Some(max_message))
        .max_frame_size(Some(max_message));
    let socket = GatheredWrites::new(TokioIo::new(upgraded));
    Ok(WebSocketStream::from_raw_socket(socket, Role::Server, Some(config)).await)
}

/// Bytes gathered before they are written without waiting for the flush:
/// the most a connection holds here.
const MAX_GATHERED: usize = 64 * 1024;

#[derive(Debug)]
pub struct GatheredWrites<S: AsyncWrite + Unpin> {
    inner: S,
    gathered: Vec<u8>,
    /// How much of `gathered` the socket has taken.
    written: usize,
}

impl<S: AsyncWrite + Unpin> GatheredWrites<S> {
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            gathered: Vec::new(),
            written: 0,
        }
    }
}

impl<S: AsyncWrite + Unpin> GatheredWrites<S> {
    /// Writes out what is gathered, then frees the buffer.
    fn poll_write_gathered(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.gathered.len() {
            let n =
                ready!(Pin::new(&mut self.inner).poll_write(cx, &self.gathered[self.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        self.gathered = Vec::new();
        self.written = 0;
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for GatheredWrites<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for GatheredWrites<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.gathered.len() + buf.len() > MAX_GATHERED {
            ready!(this.poll_write_gathered(cx))?;
            if buf.len() > MAX_GATHERED {
                return Pin::new(&mut this.inner).poll_write(cx, buf);
            }
        }
        this.gathered.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_write_gathered(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_write_gathered(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

impl<S: AsyncWrite + Unpin> Drop for GatheredWrites<S> {
    fn drop(&mut self) {
        if self.written < self.gathered.len() {
            let _ = self.poll_write_gathered(&mut Context::from_waker(Waker::noop()));
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt, duplex};

    use super::*;

    #[tokio::test]
    async fn writes_wait_for_the_flush_and_go_out_whole_and_in_order() {
        let (near, mut far) = duplex(1 << 20);
        let mut socket = GatheredWrites::new(near);
        socket.write_all(b"one ").await.unwrap();
        socket.write_all(b"two").await.unwrap();
        let mut byte = [0u8; 1];
        let early =
            tokio::time::timeout(std::time::Duration::from_millis(20), far.read(&mut byte)).await;
        assert!(
            early.is_err(),
            "nothing reaches the socket before the flush"
        );
        socket.flush().await.unwrap();
        assert_eq!(socket.gathered.capacity(), 0, "the buffer is let go");
        let mut received = [0u8; 7];
        far.read_exact(&mut received).await.unwrap();
        assert_eq!(&received, b"one two");
    }

    #[tokio::test]
    async fn what_is_gathered_when_dropped_is_written_once_without_waiting() {
        let (near, mut far) = duplex(1 << 20);
        let mut socket = GatheredWrites::new(near);
        socket.write_all(b"close reply").await.unwrap();
        drop(socket);
        let mut received = Vec::new();
        far.read_to_end(&mut received).await.unwrap();
        assert_eq!(received, b"close reply");
    }

    #[tokio::test]
    async fn a_full_buffer_is_written_out_without_waiting_for_the_flush() {
        let (near, mut far) = duplex(4 * MAX_GATHERED);
        let mut socket = GatheredWrites::new(near);
        let chunk = vec![7u8; MAX_GATHERED / 2 + 1];
        socket.write_all(&chunk).await.unwrap();
        socket.write_all(&chunk).await.unwrap();
        assert!(socket.gathered.len() <= MAX_GATHERED);
        let mut first = vec![0u8; chunk.len()];
        far.read_exact(&mut first).await.unwrap();
        assert_eq!(first, chunk);
    }
}

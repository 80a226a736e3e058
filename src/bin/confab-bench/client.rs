//! Connections to the server under test, as a chat client makes them: a real
//! TCP connection and WebSocket upgrade, then JSON text frames.
//!
//! Two traps are avoided here. tungstenite's default read buffer (128 KiB)
//! is zeroed on every read, so a client with default settings spends its
//! time in memset rather than the server in its work: ours is 4 KiB. And one
//! source address has only ~28,000 ephemeral ports: connections are spread
//! over 127.0.0.2, 127.0.0.3, … (all of 127/8 is this machine).

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::atomic::{AtomicUsize, Ordering},
};

use anyhow::{Context, Result, bail};
use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::{
    WebSocketStream, client_async_with_config,
    tungstenite::{Message, protocol::WebSocketConfig},
};

pub type Socket = WebSocketStream<TcpStream>;

/// Source addresses to spread connections over.
const SOURCES: u8 = 16;

pub struct Dialer {
    server: SocketAddr,
    url: String,
    next: AtomicUsize,
}

impl Dialer {
    pub fn new(server: SocketAddr, url: String) -> Dialer {
        Dialer {
            server,
            url,
            next: AtomicUsize::new(0),
        }
    }

    /// A new WebSocket to the server, from the next source address.
    pub async fn connect(&self) -> Result<Socket> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let source = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2 + (n % SOURCES as usize) as u8));
        let socket = TcpSocket::new_v4()?;
        socket.bind(SocketAddr::new(source, 0))?;
        let stream = socket
            .connect(self.server)
            .await
            .with_context(|| format!("connecting from {source}"))?;
        stream.set_nodelay(true)?;
        let config = WebSocketConfig::default().read_buffer_size(4096);
        let (socket, _) = client_async_with_config(self.url.as_str(), stream, Some(config))
            .await
            .context("upgrading")?;
        Ok(socket)
    }
}

/// Joins `room` and waits for `joined` (frames before it are dropped).
pub async fn join(socket: &mut Socket, room: &str) -> Result<()> {
    let join = format!(r#"{{"type":"join_room","room":"{room}"}}"#);
    socket.send(Message::text(join)).await?;
    while let Some(frame) = socket.next().await {
        if let Message::Text(text) = frame? {
            if text.starts_with(r#"{"type":"joined""#) {
                return Ok(());
            }
            if text.starts_with(r#"{"type":"error""#) {
                bail!("join refused: {text}");
            }
        }
    }
    bail!("closed before joined")
}

/// A room message whose content is `content`.
pub fn room_message(room: &str, content: &str) -> Message {
    Message::text(format!(
        r#"{{"type":"room_message","room":"{room}","content":"{content}"}}"#
    ))
}

/// The content of a delivered room message, if the frame is one. Found
/// without a JSON parse, so that reading costs the bench little.
pub fn delivered_content(frame: &str) -> Option<&str> {
    if !frame.starts_with(r#"{"type":"room_message""#) {
        return None;
    }
    let start = frame.find(r#""content":""#)? + r#""content":""#.len();
    let end = start + frame[start..].find('"')?;
    Some(&frame[start..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_content_of_a_delivered_message_is_found_without_parsing() {
        let frame = r#"{"type":"room_message","room":"r","from":"u","content":"12 34","seq":3}"#;
        assert_eq!(delivered_content(frame), Some("12 34"));
        assert_eq!(
            delivered_content(r#"{"type":"user_joined","content":"x"}"#),
            None
        );
    }
}

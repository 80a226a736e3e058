//! The browser's WebSocket to `/ws`: connects, greets, feeds server messages
//! into the [`ChatState`] signal, sends what the UI queues, and reconnects
//! with exponential backoff and jitter when the connection drops.
//!
//! On the server (SSR) a [`ChatClient`] exists so components render, but it
//! opens nothing and sends nothing.

use leptos::prelude::*;

use super::state::ChatState;
use crate::protocol::ClientMessage;

/// The UI's handle: the state to render and a way to send.
#[derive(Clone)]
pub struct ChatClient {
    pub state: RwSignal<ChatState>,
    #[cfg(feature = "hydrate")]
    outgoing: futures_channel::mpsc::UnboundedSender<ClientMessage>,
}

impl ChatClient {
    /// Creates the state and, in the browser, starts the connection loop.
    pub fn start() -> Self {
        let state = RwSignal::new(ChatState::default());
        #[cfg(feature = "hydrate")]
        {
            let (outgoing, queued) = futures_channel::mpsc::unbounded();
            leptos::task::spawn_local(browser::connection_loop(state, queued));
            Self { state, outgoing }
        }
        #[cfg(not(feature = "hydrate"))]
        Self { state }
    }

    /// Queues a message. While disconnected it waits in the queue and goes
    /// out after the reconnect, behind the greeting that rejoins the rooms.
    pub fn send(&self, message: ClientMessage) {
        #[cfg(feature = "hydrate")]
        let _ = self.outgoing.unbounded_send(message);
        #[cfg(not(feature = "hydrate"))]
        let _ = message;
    }
}

#[cfg(feature = "hydrate")]
mod browser {
    use futures_channel::mpsc::UnboundedReceiver;
    use futures_util::{SinkExt, StreamExt, future::Either};
    use gloo_net::websocket::{Message, WebSocketError, futures::WebSocket};
    use leptos::prelude::*;

    use crate::app::state::{ChatState, ConnectionStatus};
    use crate::protocol::{ClientMessage, ServerMessage};

    const FIRST_RETRY_MS: f64 = 250.0;
    const LONGEST_RETRY_MS: f64 = 15_000.0;

    /// How a session ended.
    enum SessionEnd {
        /// The connection dropped; `welcomed` if it got as far as the
        /// server's welcome, which resets the backoff.
        Dropped { welcomed: bool },
        /// Every `ChatClient` is gone: nobody is left to reconnect for.
        Unused,
    }

    pub(super) async fn connection_loop(
        state: RwSignal<ChatState>,
        mut queued: UnboundedReceiver<ClientMessage>,
    ) {
        let mut failures: i32 = 0;
        // A message taken from the queue whose send failed: first out next time.
        let mut unsent = None;
        loop {
            state.update(|s| s.status = ConnectionStatus::Connecting);
            match WebSocket::open(&socket_url()) {
                Ok(socket) => match session(socket, state, &mut queued, &mut unsent).await {
                    SessionEnd::Unused => return,
                    SessionEnd::Dropped { welcomed: true } => failures = 0,
                    SessionEnd::Dropped { welcomed: false } => {}
                },
                Err(error) => leptos::logging::warn!("cannot open the chat socket: {error}"),
            }
            if state.try_update(ChatState::disconnected).is_none() {
                return; // the page that owned the state is gone
            }
            failures += 1;
            gloo_timers::future::TimeoutFuture::new(retry_delay_ms(failures)).await;
        }
    }

    /// Runs one connection until it drops.
    async fn session(
        socket: WebSocket,
        state: RwSignal<ChatState>,
        queued: &mut UnboundedReceiver<ClientMessage>,
        unsent: &mut Option<ClientMessage>,
    ) -> SessionEnd {
        let (mut write, mut read) = socket.split();
        let mut welcomed = false;
        let greeting = state.with_untracked(ChatState::greeting);
        for message in greeting.iter().chain(unsent.iter()) {
            if write.send(encode(message)).await.is_err() {
                return SessionEnd::Dropped { welcomed };
            }
        }
        *unsent = None;
        loop {
            match futures_util::future::select(read.next(), queued.next()).await {
                Either::Left((Some(Ok(Message::Text(text))), _)) => {
                    match ServerMessage::decode(&text) {
                        Ok(Some(message)) => {
                            welcomed |= matches!(message, ServerMessage::Welcome { .. });
                            state.update(|s| s.apply(message));
                        }
                        Ok(None) => {} // a newer server's message type
                        Err(error) => leptos::logging::warn!("undecodable server message: {error}"),
                    }
                }
                Either::Left((Some(Ok(Message::Bytes(_))), _)) => {}
                Either::Left((Some(Err(WebSocketError::ConnectionClose(close))), _)) => {
                    leptos::logging::log!("chat socket closed: {} {}", close.code, close.reason);
                    return SessionEnd::Dropped { welcomed };
                }
                Either::Left((Some(Err(_)) | None, _)) => return SessionEnd::Dropped { welcomed },
                Either::Right((Some(message), _)) => {
                    if write.send(encode(&message)).await.is_err() {
                        *unsent = Some(message);
                        return SessionEnd::Dropped { welcomed };
                    }
                }
                Either::Right((None, _)) => return SessionEnd::Unused,
            }
        }
    }

    fn encode(message: &ClientMessage) -> Message {
        Message::Text(serde_json::to_string(message).expect("a ClientMessage always encodes"))
    }

    /// `ws://host/ws`, or `wss://` when the page came over HTTPS.
    fn socket_url() -> String {
        let location = window().location();
        let scheme = match location.protocol().as_deref() {
            Ok("https:") => "wss:",
            _ => "ws:",
        };
        let host = location.host().unwrap_or_default();
        format!("{scheme}//{host}/ws")
    }

    /// Exponential backoff with jitter: 250 ms doubling to 15 s, each wait
    /// drawn from its upper half so that clients dropped together (a server
    /// restart) do not all come back on the same tick.
    fn retry_delay_ms(failures: i32) -> u32 {
        let ceiling = (FIRST_RETRY_MS * 2f64.powi(failures.clamp(1, 16) - 1)).min(LONGEST_RETRY_MS);
        (ceiling * (0.5 + 0.5 * js_sys::Math::random())) as u32
    }
}

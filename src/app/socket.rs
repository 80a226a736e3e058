//! The browser's WebSocket to `/ws`: connects, greets (token, rooms and how
//! far each was read), feeds server messages into the [`ChatState`] signal,
//! sends what the UI queues and what the state asks for in reply, and
//! reconnects with exponential backoff and jitter when the connection drops.
//!
//! What must survive a reload (token, rooms, conversations, unsent
//! messages) is kept in `localStorage`: restored once the page is hydrated,
//! saved after every change.
//!
//! On the server (SSR) a [`ChatClient`] exists so components render, but it
//! opens nothing and sends nothing.

use leptos::prelude::*;

use super::state::{ChatState, Conversation};
use crate::protocol::{ClientId, ClientMessage, MessageContent, UserId};

/// The UI's handle: the state to render and a way to send. `Copy`, like
/// the signals it holds, so every event handler can own one.
#[derive(Clone, Copy)]
pub struct ChatClient {
    pub state: RwSignal<ChatState>,
    /// The client's clock (ms since the epoch), ticking every second, for
    /// what shows only for a while (typing).
    pub clock: RwSignal<i64>,
    #[cfg(feature = "hydrate")]
    outgoing: StoredValue<futures_channel::mpsc::UnboundedSender<ClientMessage>>,
}

impl ChatClient {
    /// Creates the state and, in the browser, starts the connection loop.
    pub fn start() -> Self {
        let state = RwSignal::new(ChatState::default());
        let clock = RwSignal::new(0);
        #[cfg(feature = "hydrate")]
        {
            let (outgoing, queued) = futures_channel::mpsc::unbounded();
            leptos::task::spawn_local(browser::connection_loop(state, queued));
            leptos::task::spawn_local(browser::tick(clock, state, outgoing.clone()));
            Self {
                state,
                clock,
                outgoing: StoredValue::new(outgoing),
            }
        }
        #[cfg(not(feature = "hydrate"))]
        Self { state, clock }
    }

    /// Queues a message for the socket. While disconnected it waits in the
    /// queue and goes out after the reconnect's greeting.
    pub fn send(&self, message: ClientMessage) {
        #[cfg(feature = "hydrate")]
        self.outgoing.with_value(|outgoing| {
            let _ = outgoing.unbounded_send(message);
        });
        #[cfg(not(feature = "hydrate"))]
        let _ = message;
    }

    /// Runs a state change made by the user, saves, and sends what it asks.
    pub fn act(&self, change: impl FnOnce(&mut ChatState) -> Option<ClientMessage>) {
        let message = self.state.try_update(change).flatten();
        self.acted(message);
    }

    /// What every [`Self::act`] does after its change (not generic: one
    /// copy in the bundle, not one per caller).
    fn acted(&self, message: Option<ClientMessage>) {
        #[cfg(feature = "hydrate")]
        browser::save(self.state);
        let marks = self
            .state
            .try_update_untracked(|state| std::mem::take(&mut state.marks))
            .unwrap_or_default();
        for message in marks.into_iter().chain(message) {
            self.send(message);
        }
    }

    /// Writes a message (answering `reply_to`, if given): pending (and
    /// saved) at once, sent when it can be.
    pub fn compose(&self, to: Conversation, content: MessageContent, reply_to: Option<u64>) {
        // Far up a long history, writing takes the reader to the end.
        self.jump_to_latest(to.clone());
        let id = new_client_id();
        self.act(|s| s.compose(to, content, id, reply_to));
    }

    /// Turns browser notifications on (asking the browser's permission
    /// first, if it was never given) or off.
    pub fn set_alerts(&self, on: bool) {
        if on {
            #[cfg(feature = "hydrate")]
            leptos::task::spawn_local(browser::enable_alerts(self.state));
        } else {
            self.act(|s| {
                s.alerts_on = false;
                None
            });
        }
    }

    /// Brings message `seq` of `to` into view, loading it if need be.
    pub fn jump_to(&self, to: Conversation, seq: u64) {
        self.act(|s| s.jump_to(&to, seq));
    }

    pub fn retry(&self, id: ClientId) {
        self.act(|s| s.retry(&id));
    }

    pub fn load_older(&self, conversation: Conversation) {
        self.act(|s| s.load_older(&conversation));
    }

    pub fn load_newer(&self, conversation: Conversation) {
        self.act(|s| s.load_newer(&conversation));
    }

    pub fn jump_to_latest(&self, conversation: Conversation) {
        self.act(|s| s.jump_to_latest(&conversation));
    }

    pub fn open_direct(&self, peer: UserId) {
        self.act(|s| s.open_direct(peer));
    }
}

/// A fresh id for an outgoing message: time and randomness, unique enough
/// per user (the server keys ids per sender).
fn new_client_id() -> ClientId {
    #[cfg(feature = "hydrate")]
    let (now, random) = (
        js_sys::Date::now() as u64,
        (js_sys::Math::random() * f64::from(u32::MAX)) as u32,
    );
    #[cfg(not(feature = "hydrate"))]
    let (now, random) = (0u64, 0u32);
    // `unreachable!` rather than `expect`: no error formatting in the bundle.
    ClientId::parse(format!("{now:x}-{random:08x}"))
        .unwrap_or_else(|_| unreachable!("hex digits and a dash are a valid id"))
}

#[cfg(feature = "hydrate")]
pub(super) use browser::{Json, save_token, saved_token};

#[cfg(feature = "hydrate")]
mod browser {
    use std::cell::Cell;

    use futures_channel::mpsc::{UnboundedReceiver, UnboundedSender};
    use futures_util::{SinkExt, StreamExt, future::Either};
    use gloo_net::websocket::{Message, WebSocketError, futures::WebSocket};
    use leptos::prelude::*;

    use leptos::wasm_bindgen::{JsCast, JsValue};

    use crate::app::state::{ChatState, ConnectionStatus, Saved};
    use crate::protocol::{ClientMessage, JsonValue, ServerMessage};

    const FIRST_RETRY_MS: f64 = 250.0;
    const LONGEST_RETRY_MS: f64 = 15_000.0;

    /// The `localStorage` key of the saved state.
    const STORAGE_KEY: &str = "confab.session";

    thread_local! {
        /// Set once the saved state is restored: saving before that would
        /// overwrite it with the empty start state.
        static RESTORED: Cell<bool> = const { Cell::new(false) };
    }

    /// How a session ended.
    enum SessionEnd {
        /// The connection dropped; `welcomed` if it got as far as the
        /// server's welcome, which resets the backoff.
        Dropped { welcomed: bool },
        /// Every `ChatClient` is gone: nobody is left to reconnect for.
        Unused,
        /// The user is banned from the server (close code 4003): connecting
        /// again would be refused the same way.
        Banned,
    }

    fn storage() -> Option<web_sys::Storage> {
        window().local_storage().ok().flatten()
    }

    fn restore() -> Saved {
        storage()
            .and_then(|storage| storage.get_item(STORAGE_KEY).ok().flatten())
            .and_then(|text| Saved::from_json(&Json::parse(&text)?).ok())
            .unwrap_or_default()
    }

    /// The session token this browser keeps, if any.
    pub fn saved_token() -> Option<String> {
        restore().token
    }

    /// Keeps `token` as this browser's (None: forgets it), with the rest of
    /// what is saved if `keep` (the same user), or nothing else (rooms and
    /// drafts of another user are not the new one's).
    pub fn save_token(token: Option<String>, keep: bool) {
        let mut saved = if keep { restore() } else { Saved::default() };
        saved.token = token;
        if let (Some(storage), Ok(text)) = (storage(), serde_json::to_string(&saved)) {
            let _ = storage.set_item(STORAGE_KEY, &text);
        }
    }

    pub(super) fn save(state: RwSignal<ChatState>) {
        if !RESTORED.get() {
            return;
        }
        let Some(saved) = state.try_with_untracked(ChatState::saved) else {
            return;
        };
        if let (Some(storage), Ok(text)) = (storage(), serde_json::to_string(&saved)) {
            let _ = storage.set_item(STORAGE_KEY, &text);
        }
    }

    pub(super) async fn connection_loop(
        state: RwSignal<ChatState>,
        mut queued: UnboundedReceiver<ClientMessage>,
    ) {
        // After hydration, so the first render matched the server's HTML.
        let saved = restore();
        state.update(|s| {
            let notices = std::mem::take(&mut s.notices);
            *s = ChatState::restore(saved);
            s.notices = notices;
        });
        RESTORED.set(true);
        let mut failures: i32 = 0;
        loop {
            state.update(|s| s.status = ConnectionStatus::Connecting);
            match WebSocket::open(&socket_url()) {
                Ok(socket) => match session(socket, state, &mut queued).await {
                    SessionEnd::Unused => return,
                    SessionEnd::Banned => {
                        state.update(|s| {
                            s.disconnected();
                            // The `moderated` error before the close said
                            // for how long and why.
                            let words = s.notices.last().map(|notice| notice.text.clone());
                            s.banned = Some(
                                words.unwrap_or_else(|| "you are banned from this server".into()),
                            );
                        });
                        return;
                    }
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

    /// Runs one connection until it drops. Messages of the user's that were
    /// in flight are in the state's unsent messages and go again after the next
    /// greeting; anything else lost with the socket is idempotent.
    async fn session(
        socket: WebSocket,
        state: RwSignal<ChatState>,
        queued: &mut UnboundedReceiver<ClientMessage>,
    ) -> SessionEnd {
        let (mut write, mut read) = socket.split();
        let mut welcomed = false;
        let greeting = state.with_untracked(ChatState::greeting);
        for message in &greeting {
            if write.send(encode(message)).await.is_err() {
                return SessionEnd::Dropped { welcomed };
            }
        }
        loop {
            match futures_util::future::select(read.next(), queued.next()).await {
                Either::Left((Some(Ok(Message::Text(text))), _)) => {
                    let json = Json::parse(&text).ok_or_else(|| "not JSON".to_owned());
                    let decoded = json.and_then(|json| {
                        ServerMessage::from_json(&json).map_err(|error| error.to_string())
                    });
                    match decoded {
                        Ok(Some(message)) => {
                            welcomed |= matches!(message, ServerMessage::Welcome { .. });
                            let now = js_sys::Date::now() as i64;
                            let replies = state
                                .try_update(|s| s.apply_at(message, now))
                                .unwrap_or_default();
                            save(state);
                            show_alerts(state);
                            for reply in &replies {
                                if write.send(encode(reply)).await.is_err() {
                                    return SessionEnd::Dropped { welcomed };
                                }
                            }
                        }
                        Ok(None) => {} // a newer server's message type
                        Err(error) => leptos::logging::warn!("undecodable server message: {error}"),
                    }
                }
                Either::Left((Some(Ok(Message::Bytes(_))), _)) => {}
                Either::Left((Some(Err(WebSocketError::ConnectionClose(close))), _)) => {
                    leptos::logging::log!("chat socket closed: {} {}", close.code, close.reason);
                    if close.code == crate::protocol::close_code::BANNED {
                        return SessionEnd::Banned;
                    }
                    return SessionEnd::Dropped { welcomed };
                }
                Either::Left((Some(Err(_)) | None, _)) => return SessionEnd::Dropped { welcomed },
                Either::Right((Some(message), _)) => {
                    if write.send(encode(&message)).await.is_err() {
                        return SessionEnd::Dropped { welcomed };
                    }
                }
                Either::Right((None, _)) => return SessionEnd::Unused,
            }
        }
    }

    /// Shows the notifications that messages made due, while the tab is
    /// hidden (on screen, the messages show themselves).
    fn show_alerts(state: RwSignal<ChatState>) {
        let Some(alerts) = state.try_update_untracked(|s| std::mem::take(&mut s.alerts)) else {
            return;
        };
        if alerts.is_empty()
            || !document().hidden()
            || web_sys::Notification::permission() != web_sys::NotificationPermission::Granted
        {
            return;
        }
        for alert in alerts {
            let options = web_sys::NotificationOptions::new();
            options.set_body(&alert.body);
            let _ = web_sys::Notification::new_with_options(&alert.title, &options);
        }
    }

    /// Asks the browser for permission to notify (only now that the user
    /// asked for notifications), and turns them on if given.
    pub(super) async fn enable_alerts(state: RwSignal<ChatState>) {
        use web_sys::{Notification, NotificationPermission};
        let granted = match Notification::permission() {
            NotificationPermission::Granted => true,
            NotificationPermission::Denied => false,
            _ => match Notification::request_permission() {
                Ok(asked) => wasm_bindgen_futures::JsFuture::from(asked)
                    .await
                    .ok()
                    .and_then(|answer| answer.as_string())
                    .is_some_and(|answer| answer == "granted"),
                Err(_) => false,
            },
        };
        state.update(|s| {
            s.alerts_on = granted;
            if !granted {
                s.notify(
                    "The browser blocks notifications from this site: allow them in its site settings"
                        .to_owned(),
                );
            }
        });
        save(state);
    }

    /// Sets `clock` to the time every second, while anyone reads it; and
    /// once a wait the server asked for (a rate limit) is over, sends the
    /// first message held for it.
    pub(super) async fn tick(
        clock: RwSignal<i64>,
        state: RwSignal<ChatState>,
        outgoing: UnboundedSender<ClientMessage>,
    ) {
        loop {
            let now = js_sys::Date::now() as i64;
            if clock.try_set(now).is_some() {
                return; // the page that owned the signal is gone
            }
            // Checked first: an update every second would redraw the page.
            let due = state.with_untracked(|s| s.slow_until.is_some_and(|until| until <= now));
            if due && let Some(Some(message)) = state.try_update(|s| s.release(now)) {
                save(state);
                let _ = outgoing.unbounded_send(message);
            }
            gloo_timers::future::TimeoutFuture::new(1_000).await;
        }
    }

    /// JSON as the browser's own `JSON.parse` reads it: decoding with it
    /// instead of serde_json keeps a parser and serde's decoders out of the
    /// bundle (see `protocol::decode`).
    pub struct Json(JsValue);

    impl Json {
        pub fn parse(text: &str) -> Option<Self> {
            js_sys::JSON::parse(text).ok().map(Self)
        }
    }

    impl JsonValue for Json {
        fn get(&self, key: &str) -> Option<Self> {
            if !self.0.is_object() {
                return None;
            }
            let value = js_sys::Reflect::get(&self.0, &JsValue::from_str(key)).ok()?;
            (!value.is_undefined() && !value.is_null()).then_some(Self(value))
        }

        fn as_text(&self) -> Option<String> {
            self.0.as_string()
        }

        fn as_integer(&self) -> Option<i64> {
            // Doubles hold every integer up to 2^53 exactly.
            const EXACT: f64 = 9_007_199_254_740_992.0;
            let number = self.0.as_f64()?;
            (number.fract() == 0.0 && number.abs() <= EXACT).then_some(number as i64)
        }

        fn elements(&self) -> Option<Vec<Self>> {
            js_sys::Array::is_array(&self.0).then(|| {
                self.0
                    .unchecked_ref::<js_sys::Array>()
                    .iter()
                    .map(Self)
                    .collect()
            })
        }

        fn as_flag(&self) -> Option<bool> {
            self.0.as_bool()
        }
    }

    fn encode(message: &ClientMessage) -> Message {
        let text = serde_json::to_string(message);
        Message::Text(text.unwrap_or_else(|_| unreachable!("a ClientMessage always encodes")))
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

//! The broker's rules, driven through its state with an in-memory store:
//! the harness here, the tests by part in the files beside it.

use serde_json::{Value, json};

use super::*;
use crate::server::metrics::Metrics;
use crate::server::outbox::OutboxReceiver;
use crate::server::rooms::Rooms;
use crate::server::store::{self, Backend, Memory, Retention, Store, Tables};

mod changes;
mod cluster;
mod messages;
mod rooms;
mod sessions;

/// A broker state over an in-memory backend, driven as the broker task
/// drives it, but with no task in between: `settle` carries out what the
/// state asked for (store requests, history reads) in place and applies
/// the store's reports, at the harness's own time.
struct Harness {
    state: BrokerState,
    backend: Arc<dyn Backend>,
    store: Store,
    /// Rooms' rows, in an in-memory database.
    rooms: Rooms,
    now: Now,
    next_conn: u64,
    /// Cluster mode: what the state asked of the bus (nothing answers).
    bus: Option<Vec<BusRequest>>,
}

struct Client {
    conn: ConnId,
    user: UserId,
    frames: OutboxReceiver,
}

impl Client {
    fn received(&mut self) -> Vec<Value> {
        let mut out = Vec::new();
        while let Some(frame) = self.frames.try_recv() {
            match frame {
                Outbound::Text(text) => out.push(serde_json::from_str(text.as_str()).unwrap()),
                Outbound::Batch { frames, skip } | Outbound::Announcements { frames, skip } => out
                    .extend(
                        frames[skip..]
                            .iter()
                            .map(|text| serde_json::from_str::<Value>(text.as_str()).unwrap()),
                    ),
                Outbound::Close(reason) => out.push(json!({ "close": reason.code() })),
                Outbound::Binary(_) => panic!("the broker sends text only"),
            }
        }
        out
    }

    fn types(&mut self) -> Vec<String> {
        self.received()
            .iter()
            .map(|frame| frame["type"].as_str().unwrap_or("close").to_owned())
            .collect()
    }
}

impl Harness {
    async fn new() -> Self {
        Self::with_retention(Retention::default()).await
    }

    async fn with_retention(retention: Retention) -> Self {
        Self::with(retention, 1 << 30).await
    }

    async fn with(retention: Retention, cache_max_bytes: usize) -> Self {
        let backend: Arc<dyn Backend> = Arc::new(Memory::new(usize::MAX, "test".into()));
        // Its committer task gets nothing: `settle` carries out the requests.
        let (store, _reports) = Store::start(backend.clone(), retention, Metrics::new(false));
        let rooms = Rooms::new(Tables::in_memory().await.unwrap());
        let config = BrokerConfig {
            store: store.clone(),
            rooms: rooms.clone(),
            history_on_join: 3,
            cache_max_bytes,
            retention,
            bus: None,
            metrics: Metrics::new(false),
            edit_window: None,
            guest_ban_ms: 3_600_000,
        };
        Self {
            state: BrokerState::new(config),
            backend,
            store,
            rooms,
            now: Now::current(),
            next_conn: 0,
            bus: None,
        }
    }

    /// A node of a cluster whose bus never answers: requests for it are
    /// kept in `bus`.
    async fn clustered() -> Self {
        let mut h = Self::new().await;
        let (sender, _) = tokio::sync::mpsc::channel(1);
        h.state.config.bus = Some(sender);
        h.bus = Some(Vec::new());
        h
    }

    fn handle(&mut self, command: Command) {
        self.state.handle(command, self.now);
    }

    fn connect(&mut self, capacity: usize) -> Client {
        self.next_conn += 1;
        let conn = ConnId(self.next_conn);
        let user = UserId::new_random();
        let (outbox, frames) = Outbox::channel(capacity, 1 << 20);
        let address = std::net::Ipv4Addr::LOCALHOST.into();
        self.handle(Command::Connect {
            conn,
            user,
            outbox,
            address,
        });
        Client { conn, user, frames }
    }

    /// A connection that said hello as `user` (a new one if `None`).
    fn connect_hello(&mut self, capacity: usize, user: Option<UserId>) -> Client {
        let mut client = self.connect(capacity);
        client.user = user.unwrap_or(client.user);
        self.handle(Command::Identify {
            conn: client.conn,
            user: client.user,
            stored_name: None,
            welcome: Welcome::default().into(),
        });
        assert_eq!(client.types(), ["welcome"]);
        client
    }

    fn send(&mut self, client: &Client, message: Value) {
        let message = serde_json::from_value(message).unwrap();
        self.handle(Command::Client {
            conn: client.conn,
            message,
        });
    }

    /// Carries out everything the state asked for, as the broker task and
    /// the store's committer would, until nothing more is asked; then lets
    /// the announcements' tick pass.
    async fn settle(&mut self) {
        loop {
            let effects = self.state.take_effects();
            if effects.is_empty() {
                break;
            }
            let mut requests = Vec::new();
            for effect in effects {
                match effect {
                    Effect::Store(request) => requests.push(request),
                    Effect::Read(read) => read.run(self.store.clone()).await,
                    Effect::Bus(request) => self
                        .bus
                        .as_mut()
                        .expect("only a node of a cluster asks a bus")
                        .push(request),
                    Effect::Rooms { room, work, read } => {
                        let settings =
                            crate::server::broker::work_on_room(&self.rooms, &room, work).await;
                        let settings = Command::Settings {
                            room,
                            read,
                            settings: settings.map(Box::new),
                        };
                        self.state.handle(settings, self.now);
                    }
                    Effect::Fill { .. } | Effect::Heads(_) => {
                        panic!("the harness's rooms never wait on a gap")
                    }
                    // Rows of moderation only: tests/moderation.rs has them
                    // written by the real broker task.
                    Effect::BanAddresses { .. }
                    | Effect::Removed { .. }
                    | Effect::MarkRead { .. } => {}
                }
            }
            let done = store::carry_out(&*self.backend, &mut requests, self.now.ms, None).await;
            for report in done {
                self.state.on_report(report, self.now);
            }
        }
        self.state.send_waiting_announcements(self.now);
    }

    /// Ana said hello, Ben speaks the article's protocol; both are in
    /// `room`, with what their joins brought already read.
    async fn hello_and_article_client_in(&mut self, room: &str) -> (Client, Client) {
        let mut ana = self.connect_hello(100, None);
        let mut ben = self.connect(100);
        self.join(&mut ana, room).await;
        self.join(&mut ben, room).await;
        ana.received();
        (ana, ben)
    }

    async fn join(&mut self, client: &mut Client, room: &str) -> Vec<Value> {
        self.send(client, json!({"type": "join_room", "room": room}));
        self.settle().await;
        client.received()
    }

    async fn say(&mut self, client: &Client, room: &str, text: &str, id: Option<&str>) {
        let mut message = json!({"type": "room_message", "room": room, "content": text});
        if let Some(id) = id {
            message["id"] = json!(id);
        }
        self.send(client, message);
        self.settle().await;
    }
}

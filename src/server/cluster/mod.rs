//! Cluster mode's bus between nodes, on Redis pub/sub: one task owns the
//! node's Redis connection. It publishes what the broker committed,
//! subscribes to the rooms this node has members in, and hands what other
//! nodes published to the broker. The broker orders and delivers; nothing
//! here decides who gets what.
//!
//! Redis may lose anything at any time and nothing is lost with it: every
//! committed message is in PostgreSQL, and the broker reads what the bus
//! did not bring (see `broker/sequencer.rs`). When the connection drops
//! (Redis restarted, `CLIENT KILL`, a network fault), redis-rs's connection
//! manager reconnects and resubscribes; once a `PING` answers again this
//! task subscribes to every room once more and tells the broker, which
//! catches each room up from PostgreSQL.

pub mod wire;

use std::{
    collections::HashSet,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use redis::{
    Client, IntoConnectionInfo, ProtocolVersion, PushInfo, PushKind, Value,
    aio::{ConnectionManager, ConnectionManagerConfig},
};
use tokio::sync::mpsc;
use tracing::{debug, error, info, warn};

use crate::server::broker::{BusEvent, BusRequest, Command, WeakBroker};
use wire::{Published, room_topic, topic_room};

/// Requests queued for the bus task. When full (Redis is slow or gone), a
/// request is dropped: other nodes read an unpublished message from
/// PostgreSQL when they notice the gap.
const REQUEST_QUEUE: usize = 8192;

/// Publications sent to Redis in one pipeline.
const PUBLISH_BATCH: usize = 256;

/// Publications received and not yet handed to the broker. When full (the
/// broker is behind), one is dropped, and read from PostgreSQL instead.
const PUSH_QUEUE: usize = 8192;

/// How long one Redis command may take before it counts as failed.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);

/// How often a lost connection is retried.
const RETRY_EVERY: Duration = Duration::from_millis(250);

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("cannot connect to Redis at redis_url: {0}")]
    Redis(#[from] redis::RedisError),
}

/// A connected bus, its task not yet started: the broker must exist first
/// to hear from it.
pub struct Bus {
    manager: ConnectionManager,
    /// Where the broker's requests come in, and the sender for the broker.
    requests: mpsc::Receiver<BusRequest>,
    sender: mpsc::Sender<BusRequest>,
    pushes: mpsc::Receiver<PushInfo>,
    /// Set when the connection dropped, until the bus has recovered.
    lost: Arc<AtomicBool>,
    /// This node's id, in what it publishes, so it can skip its own.
    node: String,
}

impl Bus {
    /// Connects to the Redis at `url` (RESP3, whatever the URL says).
    pub async fn connect(url: &str) -> Result<Self, BusError> {
        let info = url.into_connection_info()?;
        let settings = info
            .redis_settings()
            .clone()
            .set_protocol(ProtocolVersion::RESP3);
        let client = Client::open(info.set_redis_settings(settings))?;
        let (push_sender, pushes) = mpsc::channel(PUSH_QUEUE);
        let lost = Arc::new(AtomicBool::new(false));
        let flag = lost.clone();
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(RESPONSE_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_max_delay(Duration::from_secs(1))
            .set_automatic_resubscription()
            .set_push_sender(move |push: PushInfo| {
                if push.kind == PushKind::Disconnection {
                    flag.store(true, Ordering::Release);
                }
                // Full: this publication is read from PostgreSQL instead.
                push_sender.try_send(push)
            });
        let manager = ConnectionManager::new_with_config(client, config).await?;
        let (sender, requests) = mpsc::channel(REQUEST_QUEUE);
        let node = uuid::Uuid::new_v4().simple().to_string();
        info!(%node, "cluster mode: this node's bus is connected to Redis");
        Ok(Self {
            manager,
            requests,
            sender,
            pushes,
            lost,
            node,
        })
    }

    /// The queue the broker sends its requests to. When it is full a
    /// request is dropped: the nodes that miss a publication read it from
    /// PostgreSQL, and a subscription is made again when the bus recovers.
    pub fn sender(&self) -> mpsc::Sender<BusRequest> {
        self.sender.clone()
    }

    /// Starts the bus task; it ends when the broker drops its sender.
    pub fn start(self, broker: WeakBroker) -> tokio::task::JoinHandle<()> {
        tokio::spawn(bus_loop(self, broker))
    }
}

async fn bus_loop(bus: Bus, broker: WeakBroker) {
    let Bus {
        mut manager,
        mut requests,
        sender,
        mut pushes,
        lost,
        node,
    } = bus;
    drop(sender);
    let mut topics: HashSet<String> = HashSet::new();
    let mut batch = Vec::with_capacity(PUBLISH_BATCH);
    let mut retry = tokio::time::interval(RETRY_EVERY);
    retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            received = requests.recv_many(&mut batch, PUBLISH_BATCH) => {
                if received == 0 {
                    return; // the broker is gone: the server is exiting
                }
                let mut pipe = redis::pipe();
                for request in batch.drain(..) {
                    match request {
                        BusRequest::Publish { room, messages } => {
                            let published = Published::committed(&node, &room, &messages);
                            let payload = serde_json::to_string(&published)
                                .expect("a publication is strings and numbers and always encodes");
                            pipe.publish(room_topic(&room), payload).ignore();
                        }
                        BusRequest::Subscribe(room) => {
                            let topic = room_topic(&room);
                            if let Err(error) = manager.subscribe(&topic).await {
                                warn!(%room, %error, "subscribing to a room failed; it is caught up from PostgreSQL once Redis answers");
                                lost.store(true, Ordering::Release);
                            }
                            topics.insert(topic);
                            tell(&broker, BusEvent::Subscribed(room)).await;
                        }
                        BusRequest::Unsubscribe(room) => {
                            let topic = room_topic(&room);
                            topics.remove(&topic);
                            if let Err(error) = manager.unsubscribe(&topic).await {
                                debug!(%room, %error, "unsubscribing failed");
                            }
                        }
                    }
                }
                if let Err(error) = pipe.query_async::<()>(&mut manager).await {
                    warn!(%error, "publishing to Redis failed; other nodes read these messages from PostgreSQL");
                    lost.store(true, Ordering::Release);
                }
            }
            Some(push) = pushes.recv() => {
                if let Some(event) = received(push, &node) {
                    tell(&broker, event).await;
                }
            }
            _ = retry.tick(), if lost.load(Ordering::Acquire) => {
                if restore(&mut manager, &topics).await {
                    lost.store(false, Ordering::Release);
                    info!(rooms = topics.len(), "the bus is back: catching every room up from PostgreSQL");
                    tell(&broker, BusEvent::Restored).await;
                }
            }
        }
    }
}

/// After a lost connection: whether Redis answers again, with every
/// topic subscribed.
async fn restore(manager: &mut ConnectionManager, topics: &HashSet<String>) -> bool {
    let answered: redis::RedisResult<String> = redis::cmd("PING").query_async(manager).await;
    if let Err(error) = answered {
        debug!(%error, "Redis does not answer yet");
        return false;
    }
    let topics: Vec<&String> = topics.iter().collect();
    for chunk in topics.chunks(PUBLISH_BATCH) {
        if let Err(error) = manager.subscribe(chunk).await {
            warn!(%error, "subscribing again failed; trying again");
            return false;
        }
    }
    true
}

/// A publication from another node, as the broker takes it.
fn received(push: PushInfo, node: &str) -> Option<BusEvent> {
    match push.kind {
        PushKind::Message => {}
        PushKind::Disconnection => {
            error!(
                "the connection to Redis dropped: messages from other nodes are read from PostgreSQL until it is back"
            );
            return None;
        }
        _ => return None,
    }
    let [topic, payload] = <[Value; 2]>::try_from(push.data).ok()?;
    let topic: String = redis::from_redis_value(topic).ok()?;
    let payload: Vec<u8> = redis::from_redis_value(payload).ok()?;
    let published: Published = match serde_json::from_slice(&payload) {
        Ok(published) => published,
        Err(error) => {
            warn!(%topic, %error, "ignoring a publication that is not confab's");
            return None;
        }
    };
    if published.node() == node {
        return None; // this node delivered its own already
    }
    let Published::Committed { room, messages, .. } = published;
    if topic_room(&topic).as_ref() != Some(&room) {
        warn!(%topic, %room, "ignoring a publication on another room's topic");
        return None;
    }
    let messages = messages
        .into_iter()
        .map(|posted| wire::stored(&room, posted))
        .collect();
    Some(BusEvent::Published { room, messages })
}

/// Hands `event` to the broker, waiting while it is behind (the push queue
/// fills meanwhile, and what it drops is read from PostgreSQL).
async fn tell(broker: &WeakBroker, event: BusEvent) {
    if let Some(broker) = broker.upgrade() {
        broker.send(Command::Bus(event)).await;
    }
}

//! Durable room history. One task is the only writer of the database: it
//! takes messages from the broker in order, gives each the next sequence
//! number of its room inside a transaction, commits batches (group commit:
//! whatever queued up during one fsync goes into the next), and reports each
//! committed batch back, so that only committed messages are ever delivered.
//! A sequence number is therefore never handed out for a message that is not
//! on disk, and never handed out twice.
//!
//! Reads for paging go to a separate reader pool and never wait on commits.

mod sqlite;

use std::{
    collections::HashMap,
    time::{SystemTime, UNIX_EPOCH},
};

use tokio::sync::mpsc;
use tracing::error;

pub use sqlite::{Database, StoreError};

use crate::protocol::{ClientId, MessageContent, RoomName, UserId};

/// Requests queued for the writer before the broker refuses new messages
/// with a "busy" error rather than wait.
const REQUEST_QUEUE: usize = 8192;

/// Reports waiting for the broker before the writer pauses.
const REPORT_QUEUE: usize = 256;

/// Requests taken per wake-up; their appends share one transaction.
const REQUEST_BATCH: usize = 1024;

/// A room message the broker has accepted (sender is a member), not yet
/// numbered or stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    pub room: RoomName,
    pub from: UserId,
    pub content: MessageContent,
    pub client_id: Option<ClientId>,
}

/// A message as stored: numbered within its room and timestamped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    pub room: RoomName,
    pub seq: u64,
    /// Server time, milliseconds since the Unix epoch.
    pub ts: i64,
    pub from: UserId,
    pub content: MessageContent,
    pub client_id: Option<ClientId>,
}

/// What the writer reports back to the broker, in request order.
#[derive(Debug)]
pub enum StoreReport {
    /// Each message of a committed batch; `new` is false for a resend of a
    /// client id already stored, which carries the original.
    Appended(Vec<(StoredMessage, bool)>),
    /// The batch was rolled back: none of these messages was stored.
    AppendFailed(Vec<NewMessage>),
    /// The newest messages of a room, for a room coming into memory.
    RoomLoaded {
        room: RoomName,
        recent: Vec<StoredMessage>,
    },
    /// Loading a room failed; its waiting joiners must be told.
    LoadFailed { room: RoomName },
}

enum Request {
    Append(NewMessage),
    LoadRoom { room: RoomName, recent: usize },
}

/// The queue was full: the writer is behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreBusy;

/// The broker's handle on the writer.
#[derive(Clone)]
pub struct Store {
    requests: mpsc::Sender<Request>,
    database: Database,
}

impl Store {
    /// Starts the writer task. Its reports come out of the receiver, in
    /// request order; the writer waits while that channel is full.
    pub fn spawn(database: Database) -> (Self, mpsc::Receiver<StoreReport>) {
        let (requests, receiver) = mpsc::channel(REQUEST_QUEUE);
        let (reports, report_receiver) = mpsc::channel(REPORT_QUEUE);
        tokio::spawn(store_loop(database.clone(), receiver, reports));
        (Self { requests, database }, report_receiver)
    }

    pub fn append(&self, message: NewMessage) -> Result<(), StoreBusy> {
        self.requests
            .try_send(Request::Append(message))
            .map_err(|_| StoreBusy)
    }

    /// Asks for the `recent` newest messages of `room`, reported after every
    /// append requested before.
    pub fn load_room(&self, room: RoomName, recent: usize) -> Result<(), StoreBusy> {
        self.requests
            .try_send(Request::LoadRoom { room, recent })
            .map_err(|_| StoreBusy)
    }

    /// The reader side, for paging; never waits on the writer.
    pub fn database(&self) -> &Database {
        &self.database
    }
}

async fn store_loop(
    database: Database,
    mut requests: mpsc::Receiver<Request>,
    reports: mpsc::Sender<StoreReport>,
) {
    let mut heads = HashMap::new();
    let mut batch = Vec::with_capacity(REQUEST_BATCH);
    let mut appends = Vec::new();
    while requests.recv_many(&mut batch, REQUEST_BATCH).await > 0 {
        for request in batch.drain(..) {
            match request {
                Request::Append(message) => appends.push(message),
                Request::LoadRoom { room, recent } => {
                    // A load must see every append requested before it.
                    commit(&database, &mut appends, &mut heads, &reports).await;
                    let report = match database.page(&room, None, recent).await {
                        Ok(recent) => StoreReport::RoomLoaded { room, recent },
                        Err(error) => {
                            error!(%room, %error, "loading a room's history failed");
                            StoreReport::LoadFailed { room }
                        }
                    };
                    if reports.send(report).await.is_err() {
                        return; // the broker is gone: the server is exiting
                    }
                }
            }
        }
        commit(&database, &mut appends, &mut heads, &reports).await;
    }
}

async fn commit(
    database: &Database,
    appends: &mut Vec<NewMessage>,
    heads: &mut HashMap<RoomName, u64>,
    reports: &mpsc::Sender<StoreReport>,
) {
    if appends.is_empty() {
        return;
    }
    let report = match database.append(appends, heads, now_ms()).await {
        Ok(stored) => {
            appends.clear();
            StoreReport::Appended(stored)
        }
        Err(error) => {
            error!(%error, messages = appends.len(), "storing messages failed; the batch was rolled back");
            heads.clear();
            StoreReport::AppendFailed(std::mem::take(appends))
        }
    };
    let _ = reports.send(report).await;
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room(name: &str) -> RoomName {
        RoomName::parse(name).unwrap()
    }

    fn message(room_name: &str, from: UserId, text: &str, client_id: Option<&str>) -> NewMessage {
        NewMessage {
            room: room(room_name),
            from,
            content: MessageContent::parse(text).unwrap(),
            client_id: client_id.map(|id| ClientId::parse(id).unwrap()),
        }
    }

    /// Appends one message and returns (room, seq, new, content) for it.
    async fn append(
        store: &Store,
        reports: &mut mpsc::Receiver<StoreReport>,
        new: NewMessage,
    ) -> (String, u64, bool, String) {
        store.append(new).unwrap();
        match reports.recv().await.unwrap() {
            StoreReport::Appended(mut stored) => {
                assert_eq!(stored.len(), 1);
                let (message, new) = stored.remove(0);
                (
                    message.room.to_string(),
                    message.seq,
                    new,
                    message.content.as_str().to_owned(),
                )
            }
            other => panic!("expected an append report, got {other:?}"),
        }
    }

    fn seqs(page: &[StoredMessage]) -> Vec<u64> {
        page.iter().map(|m| m.seq).collect()
    }

    #[tokio::test]
    async fn messages_are_numbered_per_room_without_gaps_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let ana = UserId::new_random();
        {
            let (store, mut reports) = Store::spawn(Database::open(dir.path()).await.unwrap());
            for (name, expected) in [("a", 1), ("a", 2), ("b", 1), ("a", 3), ("b", 2)] {
                let (_, seq, new, _) =
                    append(&store, &mut reports, message(name, ana, "hi", None)).await;
                assert_eq!((seq, new), (expected, true), "room {name}");
            }
        }
        // A new process: the numbering continues from what is on disk.
        let database = Database::open(dir.path()).await.unwrap();
        assert_eq!(
            seqs(&database.page(&room("a"), None, 10).await.unwrap()),
            [1, 2, 3]
        );
        let (store, mut reports) = Store::spawn(database);
        let (_, seq, _, _) = append(&store, &mut reports, message("a", ana, "again", None)).await;
        assert_eq!(seq, 4);
    }

    #[tokio::test]
    async fn a_resent_client_id_is_stored_once_and_answered_with_the_original() {
        let dir = tempfile::tempdir().unwrap();
        let (store, mut reports) = Store::spawn(Database::open(dir.path()).await.unwrap());
        let (ana, ben) = (UserId::new_random(), UserId::new_random());
        let first = append(
            &store,
            &mut reports,
            message("a", ana, "original", Some("m-1")),
        )
        .await;
        assert_eq!(first, ("a".into(), 1, true, "original".into()));
        let resend = append(
            &store,
            &mut reports,
            message("a", ana, "original", Some("m-1")),
        )
        .await;
        assert_eq!(resend, ("a".into(), 1, false, "original".into()));
        // Client ids are per sender: another user may reuse the text.
        let other = append(&store, &mut reports, message("a", ben, "mine", Some("m-1"))).await;
        assert_eq!((other.1, other.2), (2, true));
        // No number was spent on the duplicate.
        let next = append(&store, &mut reports, message("a", ana, "next", Some("m-2"))).await;
        assert_eq!((next.1, next.2), (3, true));
        assert_eq!(
            seqs(&store.database().page(&room("a"), None, 10).await.unwrap()),
            [1, 2, 3]
        );
    }

    #[tokio::test]
    async fn pages_split_exactly_at_their_boundaries() {
        let dir = tempfile::tempdir().unwrap();
        let (store, mut reports) = Store::spawn(Database::open(dir.path()).await.unwrap());
        let ana = UserId::new_random();
        for n in 1..=10 {
            append(
                &store,
                &mut reports,
                message("a", ana, &n.to_string(), None),
            )
            .await;
        }
        let database = store.database();
        assert_eq!(
            seqs(&database.page(&room("a"), None, 3).await.unwrap()),
            [8, 9, 10]
        );
        assert_eq!(
            seqs(&database.page(&room("a"), Some(8), 3).await.unwrap()),
            [5, 6, 7]
        );
        assert_eq!(
            seqs(&database.page(&room("a"), Some(3), 3).await.unwrap()),
            [1, 2]
        );
        assert!(
            database
                .page(&room("a"), Some(1), 3)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            database
                .page(&room("elsewhere"), None, 3)
                .await
                .unwrap()
                .is_empty()
        );
        let page = database.page(&room("a"), Some(2), 1).await.unwrap();
        assert_eq!(page[0].content.as_str(), "1");
        assert_eq!(page[0].from, ana);
    }

    #[tokio::test]
    async fn a_room_load_sees_every_append_requested_before_it() {
        let dir = tempfile::tempdir().unwrap();
        let (store, mut reports) = Store::spawn(Database::open(dir.path()).await.unwrap());
        let ana = UserId::new_random();
        // Queued back to back: the load must come after both appends commit.
        store.append(message("a", ana, "one", None)).unwrap();
        store.append(message("a", ana, "two", None)).unwrap();
        store.load_room(room("a"), 50).unwrap();
        let mut appended = 0;
        loop {
            match reports.recv().await.unwrap() {
                StoreReport::Appended(stored) => appended += stored.len(),
                StoreReport::RoomLoaded {
                    room: loaded,
                    recent,
                } => {
                    assert_eq!(loaded, room("a"));
                    assert_eq!(appended, 2, "appends are reported before the load");
                    assert_eq!(seqs(&recent), [1, 2]);
                    break;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }
}

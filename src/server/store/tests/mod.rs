//! The store through its committer task and through each backend: numbering,
//! resends, pages, loads, names, retention, the epoch (here), and what
//! happens to messages after they are posted (`changes.rs`).
//! `raw_backends()` and `backends()` are the suite every backend passes.

use std::sync::OnceLock;

use super::*;

#[path = "../../../../tests/services/mod.rs"]
mod services;

mod changes;

/// One PostgreSQL server for this process's tests, each test with a fresh
/// database of it.
fn postgres() -> &'static services::Postgres {
    static SERVER: OnceLock<services::Postgres> = OnceLock::new();
    SERVER.get_or_init(services::Postgres::start)
}

async fn fresh_postgres() -> Postgres {
    Postgres::open(&fresh_postgres_url().await).await.unwrap()
}

async fn fresh_postgres_url() -> String {
    tokio::task::spawn_blocking(|| postgres().new_database())
        .await
        .unwrap()
}

fn room(name: &str) -> Channel {
    Channel::Room(RoomName::parse(name).unwrap())
}

fn message(channel: &Channel, from: UserId, text: &str, client_id: Option<&str>) -> NewMessage {
    NewMessage {
        conn: Tag(7),
        channel: channel.clone(),
        from,
        name: from.guest_name(),
        to: None,
        content: MessageContent::parse(text).unwrap(),
        client_id: client_id.map(|id| ClientId::parse(id).unwrap()),
        kind: NewKind::Plain,
    }
}

/// Appends one message and returns (seq, new, content) for it.
async fn append(
    store: &Store,
    reports: &mut mpsc::Receiver<StoreReport>,
    new: NewMessage,
) -> (u64, bool, String) {
    store.append(new).unwrap();
    match reports.recv().await.unwrap() {
        StoreReport::Appended(mut stored) => {
            assert_eq!(stored.len(), 1);
            let appended = stored.remove(0);
            assert_eq!(appended.conn, Tag(7));
            (
                appended.message.seq,
                appended.new,
                appended.message.content.as_str().to_owned(),
            )
        }
        other => panic!("expected an append report, got {other:?}"),
    }
}

/// A batch's outcomes, every one of them stored.
trait AllStored {
    fn stored(self) -> Vec<(StoredMessage, bool)>;
}

impl AllStored for Result<Vec<Outcome>, StoreError> {
    fn stored(self) -> Vec<(StoredMessage, bool)> {
        self.unwrap()
            .into_iter()
            .map(|outcome| outcome.unwrap())
            .collect()
    }
}

fn seqs(page: &[StoredMessage]) -> Vec<u64> {
    page.iter().map(|m| m.seq).collect()
}

/// Every backend, each with its own fresh storage: the suite each of
/// them passes. The directory lives as long as the backend is used.
async fn raw_backends() -> Vec<(Arc<dyn Backend>, tempfile::TempDir)> {
    let dir = tempfile::tempdir().unwrap();
    let database = Database::open(dir.path()).await.unwrap();
    vec![
        (Arc::new(database), dir),
        (
            Arc::new(Memory::new(usize::MAX, new_epoch())),
            tempfile::tempdir().unwrap(),
        ),
        (
            Arc::new(fresh_postgres().await),
            tempfile::tempdir().unwrap(),
        ),
    ]
}

/// Every backend behind a store and its committer task, each with its own
/// fresh storage; the directory lives as long as the store is used.
async fn backends() -> Vec<(Store, mpsc::Receiver<StoreReport>, tempfile::TempDir)> {
    raw_backends()
        .await
        .into_iter()
        .map(|(backend, dir)| {
            let (store, reports) = Store::start(backend, Retention::default(), Metrics::new(false));
            (store, reports, dir)
        })
        .collect()
}

#[tokio::test]
async fn the_epoch_stays_with_a_database_and_changes_with_a_new_history() {
    let dir = tempfile::tempdir().unwrap();
    let first = Database::open(dir.path()).await.unwrap().epoch().to_owned();
    let reopened = Database::open(dir.path()).await.unwrap().epoch().to_owned();
    assert_eq!(first, reopened, "the same file, the same numbering");
    assert_eq!(first.len(), 16);
    let other_dir = tempfile::tempdir().unwrap();
    let other = Database::open(other_dir.path()).await.unwrap();
    assert_ne!(other.epoch(), first, "a new database numbers afresh");
    let (one, _) = Store::in_memory(Retention::default(), usize::MAX);
    let (two, _) = Store::in_memory(Retention::default(), usize::MAX);
    assert_ne!(
        one.epoch(),
        two.epoch(),
        "memory storage starts over each time"
    );
}

#[tokio::test]
async fn messages_are_numbered_per_channel_without_gaps_and_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let (ana, ben) = (UserId::new_random(), UserId::new_random());
    let dm = Channel::direct(ben, ana);
    {
        let database = Database::open(dir.path()).await.unwrap();
        let (store, mut reports) = Store::sqlite(database, Retention::default());
        for (channel, expected) in [
            (room("a"), 1),
            (room("a"), 2),
            (room("b"), 1),
            (dm.clone(), 1),
            (room("a"), 3),
            (Channel::direct(ana, ben), 2),
        ] {
            let (seq, new, _) =
                append(&store, &mut reports, message(&channel, ana, "hi", None)).await;
            assert_eq!((seq, new), (expected, true), "{channel:?}");
        }
    }
    // A new process: the numbering continues from what is on disk.
    let database = Database::open(dir.path()).await.unwrap();
    assert_eq!(
        seqs(&database.page(&room("a"), None, None, 10).await.unwrap()),
        [1, 2, 3]
    );
    assert_eq!(
        seqs(&database.page(&dm, None, None, 10).await.unwrap()),
        [1, 2]
    );
    let (store, mut reports) = Store::sqlite(database, Retention::default());
    let (seq, _, _) = append(
        &store,
        &mut reports,
        message(&room("a"), ana, "again", None),
    )
    .await;
    assert_eq!(seq, 4);
}

#[tokio::test]
async fn a_resent_client_id_is_stored_once_and_answered_with_the_original() {
    for (store, mut reports, _dir) in backends().await {
        let (ana, ben) = (UserId::new_random(), UserId::new_random());
        let a = room("a");
        let first = append(
            &store,
            &mut reports,
            message(&a, ana, "original", Some("m-1")),
        )
        .await;
        assert_eq!(first, (1, true, "original".into()));
        let resend = append(
            &store,
            &mut reports,
            message(&a, ana, "original", Some("m-1")),
        )
        .await;
        assert_eq!(resend, (1, false, "original".into()));
        // Client ids are per sender: another user may reuse one.
        let other = append(&store, &mut reports, message(&a, ben, "mine", Some("m-1"))).await;
        assert_eq!((other.0, other.1), (2, true));
        // No number was spent on the duplicate.
        let next = append(&store, &mut reports, message(&a, ana, "next", Some("m-2"))).await;
        assert_eq!((next.0, next.1), (3, true));
        assert_eq!(
            seqs(&store.page(&a, None, None, 10).await.unwrap()),
            [1, 2, 3]
        );
    }
}

#[tokio::test]
async fn a_client_id_repeated_within_one_batch_is_stored_once() {
    for (backend, _dir) in raw_backends().await {
        let (ana, ben) = (UserId::new_random(), UserId::new_random());
        let a = room("a");
        let batch = [
            message(&a, ana, "first", Some("x")),
            message(&a, ben, "other sender", Some("x")),
            message(&a, ana, "first", Some("x")),
            message(&a, ana, "no id", None),
        ];
        let stored = backend.append(&batch, 5).await.stored();
        let summary: Vec<_> = stored.iter().map(|(m, new)| (m.seq, *new)).collect();
        assert_eq!(summary, [(1, true), (2, true), (1, false), (3, true)]);
        // The same id in another room is another message.
        let elsewhere = backend
            .append(&[message(&room("b"), ana, "first", Some("x"))], 6)
            .await
            .stored();
        assert_eq!((elsewhere[0].0.seq, elsewhere[0].1), (1, true));
        // And across batches, from what is stored.
        let again = backend.append(&batch[..1], 6).await.stored();
        assert_eq!((again[0].0.seq, again[0].1), (1, false));
        // In a room whose head is known (SQLite's one-statement append,
        // which a repeat makes fall back): the same, and no number spent.
        let repeated = [
            message(&a, ben, "y", Some("y")),
            message(&a, ben, "y", Some("y")),
        ];
        let stored = backend.append(&repeated, 7).await.stored();
        let summary: Vec<_> = stored.iter().map(|(m, new)| (m.seq, *new)).collect();
        assert_eq!(summary, [(4, true), (4, false)]);
        let next = backend
            .append(&[message(&a, ben, "z", Some("z"))], 8)
            .await
            .stored();
        assert_eq!((next[0].0.seq, next[0].1), (5, true));
        assert_eq!(
            seqs(&backend.page(&a, None, None, 10).await.unwrap()),
            [1, 2, 3, 4, 5]
        );
    }
}

#[tokio::test]
async fn every_backend_prunes_by_count_and_age_and_numbers_on() {
    for (backend, _dir) in raw_backends().await {
        let ana = UserId::new_random();
        let (a, b) = (room("a"), room("b"));
        let batch: Vec<_> = (1..=10)
            .map(|n| message(&a, ana, &n.to_string(), None))
            .collect();
        backend.append(&batch, 1_000).await.stored();
        backend.append(&batch[..3], 5_000).await.stored();
        let batch: Vec<_> = (1..=2)
            .map(|n| message(&b, ana, &n.to_string(), None))
            .collect();
        backend.append(&batch, 5_000).await.stored();
        // The newest 5 of each channel.
        assert_eq!(backend.prune(Some(5), None, 1_000).await.unwrap(), 8);
        assert_eq!(
            seqs(&backend.recent(&a, 100).await.unwrap()),
            [9, 10, 11, 12, 13]
        );
        // Nothing stamped before 2,000.
        assert_eq!(backend.prune(None, Some(2_000), 1_000).await.unwrap(), 2);
        assert_eq!(
            seqs(&backend.page(&a, None, None, 100).await.unwrap()),
            [11, 12, 13]
        );
        assert_eq!(
            seqs(&backend.page(&b, None, None, 100).await.unwrap()),
            [1, 2]
        );
        // A head counts what was pruned too.
        let none = room("none");
        assert_eq!(backend.head(&a).await.unwrap(), 13);
        assert_eq!(backend.head(&none).await.unwrap(), 0);
        let channels = [b.clone(), none, a.clone()];
        assert_eq!(backend.heads(&channels).await.unwrap(), [2, 0, 13]);
        // Numbering goes on past what was pruned.
        let next = backend.append(&batch[..1], 9_000).await.stored();
        assert_eq!(next[0].0.seq, 3);
        let next = backend
            .append(&[message(&a, ana, "x", None)], 9_000)
            .await
            .stored();
        assert_eq!(next[0].0.seq, 14);
    }
}

#[tokio::test]
async fn pages_split_exactly_at_their_boundaries() {
    for (store, mut reports, _dir) in backends().await {
        let ana = UserId::new_random();
        let a = room("a");
        for n in 1..=10 {
            append(&store, &mut reports, message(&a, ana, &n.to_string(), None)).await;
        }
        let page = |before, after, limit| {
            let store = store.clone();
            let a = a.clone();
            async move { seqs(&store.page(&a, before, after, limit).await.unwrap()) }
        };
        // Backwards from the newest.
        assert_eq!(page(None, None, 3).await, [8, 9, 10]);
        assert_eq!(page(Some(8), None, 3).await, [5, 6, 7]);
        assert_eq!(page(Some(3), None, 3).await, [1, 2]);
        assert!(page(Some(1), None, 3).await.is_empty());
        // Forwards from a resume point, optionally up to a bound.
        assert_eq!(page(None, Some(0), 3).await, [1, 2, 3]);
        assert_eq!(page(None, Some(7), 5).await, [8, 9, 10]);
        assert_eq!(page(Some(6), Some(2), 10).await, [3, 4, 5]);
        assert!(page(None, Some(10), 3).await.is_empty());
        assert!(
            store
                .page(&room("elsewhere"), None, None, 3)
                .await
                .unwrap()
                .is_empty()
        );
        let first = store.page(&a, Some(2), None, 1).await.unwrap();
        assert_eq!(first[0].content.as_str(), "1");
        assert_eq!(first[0].from, ana);
        assert_eq!(first[0].name, ana.guest_name());
    }
}

#[tokio::test]
async fn a_room_load_sees_every_append_requested_before_it() {
    for (store, mut reports, _dir) in backends().await {
        let ana = UserId::new_random();
        // Queued back to back: the load must come after both appends.
        store.append(message(&room("a"), ana, "one", None)).unwrap();
        store.append(message(&room("a"), ana, "two", None)).unwrap();
        store.load_room(RoomName::parse("a").unwrap(), 50).unwrap();
        let mut appended = 0;
        loop {
            match reports.recv().await.unwrap() {
                StoreReport::Appended(stored) => appended += stored.len(),
                StoreReport::RoomLoaded {
                    room: loaded,
                    recent,
                    head,
                } => {
                    assert_eq!(loaded.as_str(), "a");
                    assert_eq!(appended, 2, "appends are reported before the load");
                    assert_eq!(seqs(&recent), [1, 2]);
                    assert_eq!(head, 2);
                    break;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }
}

#[tokio::test]
async fn names_are_kept_per_user() {
    for (store, _reports, _dir) in backends().await {
        let ana = UserId::new_random();
        assert_eq!(store.user_name(ana).await.unwrap(), None);
        store
            .set_name(ana, DisplayName::parse("Ana").unwrap())
            .unwrap();
        store
            .set_name(ana, DisplayName::parse("Ana L").unwrap())
            .unwrap();
        // The committer applies requests in order; wait for it.
        let mut name = None;
        for _ in 0..100 {
            name = store.user_name(ana).await.unwrap();
            if name.as_ref().is_some_and(|n| n.as_str() == "Ana L") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(name.unwrap().as_str(), "Ana L");
    }
}

#[tokio::test]
async fn retention_prunes_by_count_and_age_but_never_reuses_a_number() {
    let dir = tempfile::tempdir().unwrap();
    let database = Database::open(dir.path()).await.unwrap();
    let ana = UserId::new_random();
    let (a, b) = (room("a"), room("b"));
    let batch: Vec<_> = (1..=10)
        .map(|n| message(&a, ana, &n.to_string(), None))
        .collect();
    database.append(&batch, 1_000).await.stored();
    let batch: Vec<_> = (1..=3)
        .map(|n| message(&b, ana, &n.to_string(), None))
        .collect();
    database.append(&batch, 5_000).await.stored();

    // Keep 4 per channel, in chunks of 3: room a loses 1..=6 over two steps.
    assert_eq!(database.prune(Some(4), None, 3).await.unwrap(), 3);
    assert_eq!(database.prune(Some(4), None, 3).await.unwrap(), 3);
    assert_eq!(database.prune(Some(4), None, 3).await.unwrap(), 0);
    assert_eq!(
        seqs(&database.page(&a, None, None, 100).await.unwrap()),
        [7, 8, 9, 10]
    );
    assert_eq!(
        seqs(&database.page(&b, None, None, 100).await.unwrap()),
        [1, 2, 3]
    );

    // Everything stamped before 2,000 goes: all of room a.
    assert_eq!(database.prune(None, Some(2_000), 100).await.unwrap(), 4);
    assert!(database.page(&a, None, None, 100).await.unwrap().is_empty());
    assert_eq!(
        seqs(&database.page(&b, None, None, 100).await.unwrap()),
        [1, 2, 3]
    );

    // An emptied channel keeps counting, in this process and the next.
    drop(database);
    let database = Database::open(dir.path()).await.unwrap();
    let stored = database
        .append(&[message(&a, ana, "after", None)], 9_000)
        .await
        .stored();
    assert_eq!(stored[0].0.seq, 11);
}

#[test]
fn channel_keys_round_trip_and_direct_channels_ignore_order() {
    let (ana, ben) = (UserId::new_random(), UserId::new_random());
    assert_eq!(Channel::direct(ana, ben), Channel::direct(ben, ana));
    for channel in [room("general"), Channel::direct(ana, ben)] {
        assert_eq!(Channel::from_key(&channel.key()), Some(channel));
    }
    assert_eq!(Channel::from_key("x:general"), None);
    assert_eq!(Channel::from_key("d:not-an-id:either"), None);
}

/// Two nodes on one PostgreSQL, appending into the same room at once, in
/// batches: every number is handed out once, none is skipped, and each
/// node's messages keep their order.
#[tokio::test]
async fn nodes_sharing_postgres_number_one_room_without_gaps_or_repeats() {
    let url = fresh_postgres_url().await;
    let one = Postgres::open(&url).await.unwrap();
    let two = Postgres::open(&url).await.unwrap();
    assert_eq!(one.epoch(), two.epoch(), "one history, one numbering");
    assert_eq!(
        one.token_secret(),
        two.token_secret(),
        "tokens verify on both"
    );
    let a = room("a");
    let (ana, ben) = (UserId::new_random(), UserId::new_random());
    let node = |database: Postgres, user: UserId| {
        let a = a.clone();
        tokio::spawn(async move {
            let mut seqs = Vec::new();
            for batch in 0..20 {
                let messages: Vec<_> = (0..10)
                    .map(|n| message(&a, user, &format!("{batch}.{n}"), None))
                    .collect();
                for (stored, new) in database.append(&messages, 1).await.stored() {
                    assert!(new);
                    seqs.push(stored.seq);
                }
            }
            seqs
        })
    };
    let (from_one, from_two) = (node(one.clone(), ana), node(two.clone(), ben));
    let (from_one, from_two) = (from_one.await.unwrap(), from_two.await.unwrap());
    assert!(from_one.is_sorted() && from_two.is_sorted());
    let mut all: Vec<u64> = from_one.iter().chain(&from_two).copied().collect();
    all.sort_unstable();
    assert_eq!(all, (1..=400).collect::<Vec<u64>>());
    let page = one.page(&a, None, Some(0), 400).await.unwrap();
    assert_eq!(seqs(&page), (1..=400).collect::<Vec<u64>>());
}

/// A client that resends through another node gets the original number,
/// also when both nodes are handed the message at once.
#[tokio::test]
async fn a_resend_to_another_node_is_answered_with_the_original() {
    let url = fresh_postgres_url().await;
    let one = Postgres::open(&url).await.unwrap();
    let two = Postgres::open(&url).await.unwrap();
    let a = room("a");
    let ana = UserId::new_random();
    let stored = one
        .append(&[message(&a, ana, "hi", Some("m-1"))], 1)
        .await
        .stored();
    assert_eq!((stored[0].0.seq, stored[0].1), (1, true));
    let resent = two
        .append(&[message(&a, ana, "hi", Some("m-1"))], 2)
        .await
        .stored();
    assert_eq!(
        (resent[0].0.seq, resent[0].1, resent[0].0.ts),
        (1, false, 1)
    );
    for n in 0..20 {
        let id = format!("race-{n}");
        let batch = [message(&a, ana, "both", Some(&id))];
        let (first, second) = tokio::join!(one.append(&batch, 3), two.append(&batch, 3));
        let (first, second) = (first.stored(), second.stored());
        assert_eq!(
            first[0].0.seq, second[0].0.seq,
            "one number for one message"
        );
        assert!(
            first[0].1 != second[0].1,
            "stored once: {first:?} {second:?}"
        );
    }
    assert_eq!(
        seqs(&one.page(&a, None, Some(0), 100).await.unwrap()),
        (1..=21).collect::<Vec<u64>>()
    );
}

/// PostgreSQL stopped: appends fail (nothing is acknowledged); started
/// again: the next message takes the next number, none was spent.
#[tokio::test]
async fn with_postgres_down_appends_fail_and_numbering_resumes_without_a_gap() {
    let server = tokio::task::spawn_blocking(services::Postgres::start)
        .await
        .unwrap();
    let database = Postgres::open(&server.url("postgres")).await.unwrap();
    let a = room("a");
    let ana = UserId::new_random();
    let first = database
        .append(&[message(&a, ana, "one", None)], 1)
        .await
        .stored();
    assert_eq!(first[0].0.seq, 1);
    let server = tokio::task::spawn_blocking(move || {
        server.stop();
        server
    })
    .await
    .unwrap();
    let refused = database.append(&[message(&a, ana, "lost", None)], 2).await;
    assert!(refused.is_err(), "{refused:?}");
    let server = tokio::task::spawn_blocking(move || {
        server.start_again();
        server
    })
    .await
    .unwrap();
    let mut stored = None;
    for _ in 0..50 {
        match database.append(&[message(&a, ana, "two", None)], 3).await {
            Ok(done) => {
                stored = Some(done);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    assert_eq!(Ok(stored.expect("appends work again")).stored()[0].0.seq, 2);
    drop(server);
}

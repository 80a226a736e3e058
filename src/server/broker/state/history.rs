//! History: pages read off the broker task within a per-connection quota
//! and a frame's byte budget, and the rooms' caches within their total.

use super::*;

/// A connection's history reads: running, and accepted in all (running or
/// waiting to run).
pub(super) struct ReadQuota {
    pub(super) running: Semaphore,
    pub(super) accepted: AtomicUsize,
}

impl Default for ReadQuota {
    fn default() -> Self {
        Self {
            running: Semaphore::new(READS_RUNNING),
            accepted: AtomicUsize::new(0),
        }
    }
}

/// Which end of a list of messages to keep when it is over the budget.
#[derive(Clone, Copy)]
pub(super) enum Keep {
    Oldest,
    Newest,
}

/// The longest run of `messages` from the `keep` end whose text fits in
/// [`HISTORY_FRAME_BYTES`]; always at least one message.
pub(super) fn within_budget<'m>(
    messages: &'m [impl AsRef<StoredMessage>],
    keep: Keep,
) -> Vec<&'m StoredMessage> {
    let mut budget = HISTORY_FRAME_BYTES;
    let mut taken: Vec<&StoredMessage> = Vec::new();
    let ordered: Box<dyn Iterator<Item = &'m StoredMessage>> = match keep {
        Keep::Oldest => Box::new(messages.iter().map(AsRef::as_ref)),
        Keep::Newest => Box::new(messages.iter().rev().map(AsRef::as_ref)),
    };
    for message in ordered {
        let size = json_size(message.content.as_str()) + json_size(message.name.as_str()) + 200;
        if size > budget && !taken.is_empty() {
            break;
        }
        budget = budget.saturating_sub(size);
        taken.push(message);
    }
    if matches!(keep, Keep::Newest) {
        taken.reverse();
    }
    taken
}

/// The length of `text` as a JSON string body: control characters take up
/// to six bytes, quotes and backslashes two.
pub(super) fn json_size(text: &str) -> usize {
    text.bytes()
        .map(|b| match b {
            b'"' | b'\\' => 2,
            0..=0x1f => 6,
            _ => 1,
        })
        .sum()
}

impl AsRef<StoredMessage> for StoredMessage {
    fn as_ref(&self) -> &StoredMessage {
        self
    }
}

impl BrokerState {
    /// Answers a history request with a read off the broker task (an
    /// [`Effect::Read`]): the broker never waits on the disk. The page is older than anything live,
    /// so its order against live messages does not matter; the client files
    /// it by sequence number.
    pub(super) fn serve_history(
        &mut self,
        conn: ConnId,
        channel: Channel,
        with: Option<UserId>,
        (before, after, limit): (Option<u64>, Option<u64>, Option<u32>),
    ) {
        let Some((outbox, quota)) = self.sessions.get_mut(&conn).map(|s| {
            let quota = s.extras().reads.clone();
            (s.outbox.clone(), quota)
        }) else {
            return;
        };
        let room = match &channel {
            Channel::Room(room) => Some(room.clone()),
            Channel::Direct(..) => None,
        };
        if quota.accepted.fetch_add(1, Ordering::Relaxed) >= READS_QUEUED {
            quota.accepted.fetch_sub(1, Ordering::Relaxed);
            let error = ServerMessage::message_error(
                ErrorCode::Busy,
                None,
                room,
                format!(
                    "at most {READS_QUEUED} history requests at a time; wait for their answers"
                ),
            );
            self.send_to(conn, &error);
            return;
        }
        let limit = limit
            .map_or(HISTORY_PAGE_DEFAULT, |l| l as usize)
            .clamp(1, HISTORY_PAGE_MAX);
        self.config.metrics.history_requests.inc();
        self.effects.push(Effect::Read(HistoryRead {
            conn,
            outbox,
            quota,
            channel,
            room,
            with,
            before,
            after,
            limit,
        }));
    }

    /// Keeps the caches of all rooms within `cache_max_bytes`: past it, the
    /// room that just grew is cut to an equal share of the budget, then the
    /// largest others, oldest messages first. A join then replays less
    /// from memory, and the client pages the rest from the store.
    pub(super) fn keep_caches_within_budget(&mut self, grown: &RoomName) {
        let budget = self.config.cache_max_bytes;
        fit_budget(
            &mut self.rooms,
            |room| &mut room.recent,
            grown,
            &mut self.cached_bytes,
            budget,
        );
    }
}

/// A page of history to read and send, off the broker task.
pub(in crate::server::broker) struct HistoryRead {
    conn: ConnId,
    outbox: Outbox,
    quota: Arc<ReadQuota>,
    channel: Channel,
    room: Option<RoomName>,
    with: Option<UserId>,
    before: Option<u64>,
    after: Option<u64>,
    limit: usize,
}

impl HistoryRead {
    /// Reads the page (once the connection has a read of its quota free)
    /// and queues it for the connection.
    pub(in crate::server::broker) async fn run(self, store: Store) {
        let HistoryRead {
            conn,
            outbox,
            quota,
            channel,
            room,
            with,
            before,
            after,
            limit,
        } = self;
        let _running = quota.running.acquire().await;
        // Forwards from `after`: the oldest part fits; backwards: the newest.
        let keep = if after.is_some() {
            Keep::Oldest
        } else {
            Keep::Newest
        };
        let reply = match store.page(&channel, before, after, limit).await {
            Ok(page) => history_frame(room, with, within_budget(&page, keep).into_iter()),
            Err(error) => {
                warn!(%conn, %error, "reading history failed");
                ServerMessage::Error {
                    message: "history could not be read; ask again".into(),
                    code: Some(ErrorCode::StorageFailed),
                    room,
                    id: None,
                    retry_after_ms: None,
                }
            }
        };
        if outbox.push(Outbound::Text(encode(&reply))).is_err() {
            warn!(%conn, "no room in the outbox for a history page");
        }
        quota.accepted.fetch_sub(1, Ordering::Relaxed);
    }
}

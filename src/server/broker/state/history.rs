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
        let room = match &channel {
            Channel::Room(room) => Some(room.clone()),
            Channel::Direct(..) => None,
        };
        let limit = limit
            .map_or(HISTORY_PAGE_DEFAULT, |l| l as usize)
            .clamp(1, HISTORY_PAGE_MAX);
        let wanted = Wanted::Page {
            channel,
            room,
            with,
            before,
            after,
            limit,
        };
        if self.read(conn, wanted) {
            self.config.metrics.history_requests.inc();
        }
    }

    /// Answers a search, off the broker task like a page of history, and
    /// within the same quota. It looks in the rooms this connection is in
    /// and the user's direct conversations, or in the one named, which
    /// must be among them: what the asker cannot read, it cannot find.
    pub(super) fn search(&mut self, conn: ConnId, query: String, filters: SearchFilters) {
        let Some(session) = self.sessions.get(&conn) else {
            return;
        };
        let (user, joined) = (session.user, session.rooms.iter().cloned().collect());
        let terms = search::terms(&query);
        let refuse = |code, text: String| ServerMessage::message_error(code, None, None, text);
        if terms.is_empty() {
            let text = "search for at least one word (letters or digits)".to_owned();
            self.send_to(conn, &refuse(ErrorCode::InvalidMessage, text));
            return;
        }
        let scope = match (filters.room, filters.with) {
            (Some(room), None) if session.rooms.contains(&room) => {
                SearchScope::Only(Channel::Room(room))
            }
            (Some(room), None) => {
                let text = format!("join room '{room}' before searching it");
                let error = ServerMessage::room_error(ErrorCode::NotAMember, room, text);
                self.send_to(conn, &error);
                return;
            }
            (None, Some(with)) => SearchScope::Only(Channel::direct(user, with)),
            (None, None) => SearchScope::Everywhere {
                rooms: joined,
                user,
            },
            (Some(_), Some(_)) => {
                let text = "search one room or one conversation, not both".to_owned();
                self.send_to(conn, &refuse(ErrorCode::InvalidMessage, text));
                return;
            }
        };
        let limit = filters
            .limit
            .map_or(SEARCH_PAGE_DEFAULT, |l| l as usize)
            .clamp(1, SEARCH_PAGE_MAX);
        let search = Search {
            terms,
            scope,
            from: filters.from,
            before: filters.before,
            // One more than shown: whether there is more.
            limit: limit + 1,
        };
        if self.read(
            conn,
            Wanted::Search {
                search,
                query,
                me: user,
            },
        ) {
            self.config.metrics.searches.inc();
        }
    }

    /// Queues a read for `conn` within its quota; false if refused.
    fn read(&mut self, conn: ConnId, wanted: Wanted) -> bool {
        let Some((outbox, quota)) = self.sessions.get_mut(&conn).map(|s| {
            let quota = s.extras().reads.clone();
            (s.outbox.clone(), quota)
        }) else {
            return false;
        };
        if quota.accepted.fetch_add(1, Ordering::Relaxed) >= READS_QUEUED {
            quota.accepted.fetch_sub(1, Ordering::Relaxed);
            let room = match &wanted {
                Wanted::Page { room, .. } => room.clone(),
                Wanted::Search { .. } => None,
            };
            let error = ServerMessage::message_error(
                ErrorCode::Busy,
                None,
                room,
                format!(
                    "at most {READS_QUEUED} history requests and searches at a time; wait for their answers"
                ),
            );
            self.send_to(conn, &error);
            return false;
        }
        self.effects.push(Effect::Read(HistoryRead {
            conn,
            outbox,
            quota,
            wanted,
        }));
        true
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

/// What a search may narrow itself to, as the client asked.
pub(super) struct SearchFilters {
    pub(super) room: Option<RoomName>,
    pub(super) with: Option<UserId>,
    pub(super) from: Option<UserId>,
    pub(super) before: Option<i64>,
    pub(super) limit: Option<u32>,
}

/// A page of history, or a search, to read and send off the broker task.
pub(in crate::server::broker) struct HistoryRead {
    conn: ConnId,
    outbox: Outbox,
    quota: Arc<ReadQuota>,
    wanted: Wanted,
}

enum Wanted {
    Page {
        channel: Channel,
        room: Option<RoomName>,
        with: Option<UserId>,
        before: Option<u64>,
        after: Option<u64>,
        limit: usize,
    },
    /// `me`: the asker, for naming each conversation by its other person.
    Search {
        search: Search,
        query: String,
        me: UserId,
    },
}

impl HistoryRead {
    /// Reads the page (once the connection has a read of its quota free)
    /// and queues it for the connection.
    pub(in crate::server::broker) async fn run(self, store: Store) {
        let HistoryRead {
            conn,
            outbox,
            quota,
            wanted,
        } = self;
        let _running = quota.running.acquire().await;
        let reply = match wanted {
            Wanted::Page {
                channel,
                room,
                with,
                before,
                after,
                limit,
            } => {
                // Forwards from `after`: the oldest part fits; backwards: the newest.
                let keep = if after.is_some() {
                    Keep::Oldest
                } else {
                    Keep::Newest
                };
                match store.page(&channel, before, after, limit).await {
                    Ok(page) => history_frame(room, with, within_budget(&page, keep).into_iter()),
                    Err(error) => read_failed(conn, &error, room),
                }
            }
            Wanted::Search { search, query, me } => match store.search(&search).await {
                Ok(mut found) => {
                    let more = found.len() >= search.limit;
                    found.truncate(search.limit - 1);
                    let results = within_budget(&found, Keep::Oldest)
                        .into_iter()
                        .map(|message| found_frame(message, me, &search))
                        .collect();
                    ServerMessage::SearchResults {
                        query,
                        results,
                        more,
                    }
                }
                Err(error) => read_failed(conn, &error, None),
            },
        };
        if outbox.push(Outbound::Text(encode(&reply))).is_err() {
            warn!(%conn, "no room in the outbox for a history page");
        }
        quota.accepted.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A message a search found, named by its room or by the other person of
/// its conversation with `me`, with a preview around what matched.
fn found_frame(message: &StoredMessage, me: UserId, search: &Search) -> Found {
    let (room, with) = match &message.channel {
        Channel::Room(room) => (Some(room.clone()), None),
        Channel::Direct(a, b) => (None, Some(if *a == me { *b } else { *a })),
    };
    Found {
        room,
        with,
        message: message.posted(),
        preview: search.preview(message.content.as_str()),
    }
}

fn read_failed(conn: ConnId, error: &StoreError, room: Option<RoomName>) -> ServerMessage {
    warn!(%conn, %error, "reading history failed");
    ServerMessage::Error {
        message: "history could not be read; ask again".into(),
        code: Some(ErrorCode::StorageFailed),
        room,
        id: None,
        retry_after_ms: None,
        muted: None,
    }
}

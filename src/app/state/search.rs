//! Searching from the web client: the query and filters asked, the results
//! as they come (a page at a time, newest first), and which words of a
//! result to mark.

use super::*;
use crate::protocol::Found;

/// Results asked for per page.
const SEARCH_PAGE: u32 = 20;

/// A search and what it found so far.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SearchView {
    pub query: String,
    /// One room or conversation, or (none) everywhere.
    pub place: Option<Conversation>,
    /// One sender, or anyone.
    pub from: Option<UserId>,
    pub results: Vec<Found>,
    /// Older results match too.
    pub more: bool,
    /// A page was asked for and has not come.
    pub loading: bool,
}

impl ChatState {
    /// Starts a search; the request to send.
    pub fn search(
        &mut self,
        query: String,
        place: Option<Conversation>,
        from: Option<UserId>,
    ) -> Option<ClientMessage> {
        if query.trim().is_empty() {
            return None;
        }
        let view = SearchView {
            query,
            place,
            from,
            loading: true,
            ..SearchView::default()
        };
        let request = search_request(&view, None);
        self.search = Some(view);
        Some(request)
    }

    /// The next page of the current search, older than what is shown.
    pub fn search_more(&mut self) -> Option<ClientMessage> {
        let view = self.search.as_mut().filter(|v| v.more && !v.loading)?;
        view.loading = true;
        let before = view.results.last().map(|found| found.message.ts);
        Some(search_request(view, before))
    }

    pub fn close_search(&mut self) {
        self.search = None;
    }

    /// A page of results: the first replaces, the next ones add.
    pub(super) fn found(&mut self, query: String, results: Vec<Found>, more: bool) {
        let Some(view) = self
            .search
            .as_mut()
            .filter(|v| v.query == query && v.loading)
        else {
            return; // an answer to a search since replaced
        };
        view.loading = false;
        view.more = more;
        view.results.extend(results);
    }

    /// Opens the conversation of a result at that message.
    pub fn open_found(&mut self, found: &Found) -> Option<ClientMessage> {
        let conversation = match (&found.room, found.with) {
            (Some(room), _) => Conversation::Room(room.clone()),
            (None, Some(with)) => {
                self.direct_entry(with);
                Conversation::Direct(with)
            }
            (None, None) => return None,
        };
        self.search = None;
        self.jump_to(&conversation, found.message.seq)
    }
}

fn search_request(view: &SearchView, before: Option<i64>) -> ClientMessage {
    let (room, with) = match &view.place {
        Some(Conversation::Room(room)) => (Some(room.clone()), None),
        Some(Conversation::Direct(peer)) => (None, Some(*peer)),
        None => (None, None),
    };
    ClientMessage::Search {
        query: view.query.clone(),
        room,
        with,
        from: view.from,
        before,
        limit: Some(SEARCH_PAGE),
    }
}

/// `text` cut into runs, each marked if it is a word that starts with one
/// of the query's words (ASCII letters in any case, as the bundle keeps no
/// Unicode case tables; other letters as typed).
pub fn highlights(text: &str, query: &str) -> Vec<(String, bool)> {
    let word = |c: char| c.is_ascii_alphanumeric() || (!c.is_ascii() && !c.is_whitespace());
    let terms: Vec<&str> = query
        .split(|c: char| !word(c))
        .filter(|t| !t.is_empty())
        .collect();
    let matches = |candidate: &str| {
        terms.iter().any(|term| {
            candidate
                .get(..term.len())
                .is_some_and(|start| start.eq_ignore_ascii_case(term))
        })
    };
    let mut runs: Vec<(String, bool)> = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let in_word = rest.chars().next().is_some_and(word);
        let end = rest
            .char_indices()
            .find(|(_, c)| word(*c) != in_word)
            .map_or(rest.len(), |(at, _)| at);
        let (piece, after) = rest.split_at(end);
        let marked = in_word && matches(piece);
        match runs.last_mut() {
            Some((last, false)) if !marked => last.push_str(piece),
            _ => runs.push((piece.to_owned(), marked)),
        }
        rest = after;
    }
    runs
}

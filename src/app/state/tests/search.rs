//! Searching from the client: pages of results, filters, opening a result,
//! and which words are marked.

use super::*;
use crate::protocol::Found;

fn found(room_name: &str, seq: u64, ts: i64, preview: &str) -> Found {
    Found {
        room: Some(room(room_name)),
        with: None,
        message: Posted {
            ts,
            ..posted(seq, user(2), preview)
        },
        preview: preview.to_owned(),
    }
}

#[test]
fn a_search_pages_on_from_its_oldest_result_and_ignores_stale_answers() {
    let mut state = connected_as(user(1));
    joined(&mut state, "general");
    let asked = state.search(
        "lunch".into(),
        Some(Conversation::Room(room("general"))),
        Some(user(2)),
    );
    assert_eq!(
        asked,
        Some(ClientMessage::Search {
            query: "lunch".into(),
            room: Some(room("general")),
            with: None,
            from: Some(user(2)),
            before: None,
            limit: Some(20),
        })
    );
    // An answer to an earlier query is not this search's.
    state.apply(ServerMessage::SearchResults {
        query: "lunc".into(),
        results: vec![found("general", 9, 900, "lunc")],
        more: false,
    });
    assert!(state.search.as_ref().unwrap().results.is_empty());
    state.apply(ServerMessage::SearchResults {
        query: "lunch".into(),
        results: vec![
            found("general", 7, 700, "lunch?"),
            found("general", 3, 300, "lunch!"),
        ],
        more: true,
    });
    let Some(ClientMessage::Search { before, .. }) = state.search_more() else {
        panic!("no next page");
    };
    assert_eq!(before, Some(300));
    assert_eq!(state.search_more(), None, "one page at a time");
    state.apply(ServerMessage::SearchResults {
        query: "lunch".into(),
        results: vec![found("general", 1, 100, "lunch.")],
        more: false,
    });
    let view = state.search.clone().unwrap();
    assert_eq!(view.results.len(), 3);
    assert!(!view.more);
    // A result opens its conversation at that message, and the search goes.
    let request = state.open_found(&view.results[2]);
    assert_eq!(state.active, Some(Conversation::Room(room("general"))));
    assert_eq!(state.active_focus(), Some(1));
    assert!(
        matches!(request, Some(ClientMessage::History { after: Some(0), .. })),
        "{request:?}"
    );
    assert!(state.search.is_none());
}

#[test]
fn words_that_start_with_a_query_word_are_marked() {
    assert_eq!(
        highlights("Lunch at noon, then lunchtime talk", "LUNCH noon"),
        [
            ("Lunch".to_owned(), true),
            (" at ".to_owned(), false),
            ("noon".to_owned(), true),
            (", then ".to_owned(), false),
            ("lunchtime".to_owned(), true),
            (" talk".to_owned(), false),
        ]
    );
    assert_eq!(
        highlights("a brunch", "lunch"),
        [("a brunch".to_owned(), false)]
    );
}

//! Full-text search: what a search asks of a backend, and the words of a
//! query. Every backend matches the same way: the query's words (letters
//! and digits; anything else separates them), each as the start of a word
//! of the message, all of them, whatever the case. Only messages as they
//! are now are searched (an edit replaces the words found, a deletion
//! removes them), and only where the asker may read.

use super::Channel;
use crate::protocol::{RoomName, UserId};

/// Words of a query at most: more narrow nothing a person would notice,
/// and each costs the index a lookup.
pub const MAX_TERMS: usize = 8;

/// Characters of one word at most.
const MAX_TERM_CHARS: usize = 64;

/// A search, as the broker asks it: where the asker may read is decided
/// there (the rooms the connection is in, the user's conversations).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Search {
    /// Lower-case words, at least one (see [`terms`]).
    pub terms: Vec<String>,
    pub scope: Scope,
    pub from: Option<UserId>,
    /// Only messages stamped before this (ms since the Unix epoch).
    pub before: Option<i64>,
    pub limit: usize,
}

/// Where a search looks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// These rooms, and every direct conversation of `user`.
    Everywhere { rooms: Vec<RoomName>, user: UserId },
    /// One room or conversation (that the asker may read).
    Only(Channel),
}

impl Search {
    /// Whether a message of `channel` is the asker's to find.
    pub fn allows(&self, channel: &Channel) -> bool {
        match (&self.scope, channel) {
            (Scope::Only(only), channel) => only == channel,
            (Scope::Everywhere { rooms, .. }, Channel::Room(room)) => rooms.contains(room),
            (Scope::Everywhere { user, .. }, Channel::Direct(a, b)) => a == user || b == user,
        }
    }

    /// The channels it names outright (rooms, or the one conversation);
    /// direct conversations of [`Scope::Everywhere`] are found by
    /// [`Self::direct_patterns`].
    pub fn channel_keys(&self) -> Vec<String> {
        match &self.scope {
            Scope::Only(channel) => vec![channel.key()],
            Scope::Everywhere { rooms, .. } => rooms
                .iter()
                .map(|room| Channel::Room(room.clone()).key())
                .collect(),
        }
    }

    /// `LIKE` patterns of the keys of the asker's direct conversations
    /// (its id first or second), or ones that match no key.
    pub fn direct_patterns(&self) -> [String; 2] {
        match &self.scope {
            Scope::Everywhere { user, .. } => [format!("d:{user}:%"), format!("d:%:{user}")],
            Scope::Only(_) => [String::new(), String::new()],
        }
    }

    /// The query in SQLite FTS5's syntax: each word a quoted prefix, all
    /// required. The words are letters and digits only, so nothing in a
    /// query can be read as FTS5 syntax.
    pub fn fts5_query(&self) -> String {
        self.terms
            .iter()
            .map(|term| format!("\"{term}\"*"))
            .collect::<Vec<_>>()
            .join(" AND ")
    }

    /// The query as a PostgreSQL `tsquery` (`simple` configuration).
    pub fn tsquery(&self) -> String {
        self.terms
            .iter()
            .map(|term| format!("{term}:*"))
            .collect::<Vec<_>>()
            .join(" & ")
    }

    /// Whether `text` holds every word, each as the start of one of its
    /// words: the rule the databases' indexes follow, for the memory
    /// backend.
    pub fn matches(&self, text: &str) -> bool {
        let words: Vec<String> = terms_in(text, usize::MAX);
        self.terms
            .iter()
            .all(|term| words.iter().any(|word| word.starts_with(term.as_str())))
    }
}

/// Characters of a result's preview at most, and of what comes before
/// its first match.
const PREVIEW_CHARS: usize = 200;
const PREVIEW_BEFORE: usize = 60;

impl Search {
    /// What a result shows of `content`: its text as a reader sees it
    /// (the Markdown parser's plain text), from a little before the first
    /// word that matches, cut with an ellipsis where it is cut.
    pub fn preview(&self, content: &str) -> String {
        let plain = crate::markup::plain(content);
        let lower = plain.to_lowercase();
        let first = self
            .terms
            .iter()
            .filter_map(|term| {
                lower
                    .match_indices(term.as_str())
                    .find(|(at, _)| {
                        !lower[..*at]
                            .chars()
                            .next_back()
                            .is_some_and(char::is_alphanumeric)
                    })
                    .map(|(at, _)| at)
            })
            .min()
            .unwrap_or(0);
        // Lower-casing can change a text's length: count characters.
        let first_char = lower[..first.min(lower.len())].chars().count();
        let skip = first_char.saturating_sub(PREVIEW_BEFORE);
        let mut preview: String = plain.chars().skip(skip).take(PREVIEW_CHARS).collect();
        if skip > 0 {
            preview.insert(0, '…');
        }
        if plain.chars().count() > skip + PREVIEW_CHARS {
            preview.push('…');
        }
        preview
    }
}

/// The words of a search query, lower case, at most [`MAX_TERMS`].
pub fn terms(query: &str) -> Vec<String> {
    let mut terms = terms_in(query, MAX_TERMS);
    for term in &mut terms {
        if let Some((cut, _)) = term.char_indices().nth(MAX_TERM_CHARS) {
            term.truncate(cut);
        }
    }
    terms
}

fn terms_in(text: &str, most: usize) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_lowercase)
        .take(most)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn search(query: &str) -> Search {
        Search {
            terms: terms(query),
            scope: Scope::Only(Channel::Room(RoomName::parse("r").unwrap())),
            from: None,
            before: None,
            limit: 10,
        }
    }

    #[test]
    fn a_query_is_words_that_cannot_be_read_as_syntax() {
        let hostile = search(r#"lunch" OR "x"* NEAR(a b) -- '; DROP TABLE:* & !"#);
        assert_eq!(
            hostile.terms,
            ["lunch", "or", "x", "near", "a", "b", "drop", "table"]
        );
        assert!(
            hostile
                .fts5_query()
                .split(" AND ")
                .all(|t| t.starts_with('"') && t.ends_with("\"*"))
        );
        assert_eq!(search("Ça Va").tsquery(), "ça:* & va:*");
        assert!(search("   ").terms.is_empty());
    }

    #[test]
    fn a_preview_is_the_plain_text_around_the_first_match() {
        let long = format!(
            "{} **the lunch** {}",
            "word ".repeat(40),
            "more ".repeat(60)
        );
        let preview = search("LUNCH").preview(&long);
        assert!(
            preview.starts_with('…') && preview.ends_with('…'),
            "{preview}"
        );
        assert!(preview.contains("the lunch more"), "{preview}");
        assert!(preview.chars().count() <= 202);
        assert_eq!(search("x").preview("`short` *one*"), "short one");
    }

    #[test]
    fn every_word_must_start_a_word_of_the_text() {
        let s = search("lun TOM");
        assert!(s.matches("Lunch tomorrow?"));
        assert!(!s.matches("lunch only"));
        assert!(
            !s.matches("alunch tomorrow"),
            "a prefix of a word, not any part"
        );
    }

    #[test]
    fn everywhere_means_the_rooms_given_and_the_askers_own_conversations() {
        let (ana, ben, carl) = (
            UserId::new_random(),
            UserId::new_random(),
            UserId::new_random(),
        );
        let general = RoomName::parse("general").unwrap();
        let s = Search {
            scope: Scope::Everywhere {
                rooms: vec![general.clone()],
                user: ana,
            },
            ..search("x")
        };
        assert!(s.allows(&Channel::Room(general)));
        assert!(!s.allows(&Channel::Room(RoomName::parse("other").unwrap())));
        assert!(s.allows(&Channel::direct(ben, ana)));
        assert!(!s.allows(&Channel::direct(ben, carl)));
    }
}

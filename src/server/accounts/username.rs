//! Usernames: what may be one, and the key that decides when two are the
//! same. Pure: no storage, no I/O.
//!
//! A username is kept in lower case (after NFKC normalization), so that no
//! `I` passes for an `l`, and compared by its key: that, through UTS #39's
//! confusable skeleton, so that `Alice`, `ALICE`, `ａｌｉｃｅ` (full width)
//! and `аlice` (a Cyrillic `а`) are one name, and nobody can take a name
//! that reads as someone else's.

use unicode_normalization::UnicodeNormalization;
use unicode_security::{GeneralSecurityProfile, MixedScript, skeleton};

/// Characters a username has at least and at most.
pub const MIN_CHARS: usize = 2;
pub const MAX_CHARS: usize = 32;

/// A valid username: NFKC, lower case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

/// Bytes of a typed username looked at, at most: longer is no username,
/// and normalizing it (which can make it many times longer) is not done.
pub const MAX_TYPED_BYTES: usize = 4 * 4 * MAX_CHARS;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsernameError {
    #[error("a username is {MIN_CHARS} to {MAX_CHARS} characters")]
    Length,
    #[error("a username cannot be a guest's name (guest- and four hex digits)")]
    GuestName,
    #[error(
        "a username is letters and digits, with `.`, `_` or `-` between them; {0:?} is not allowed"
    )]
    Character(char),
    #[error("a username starts and ends with a letter or a digit")]
    Edges,
    #[error("a username is written in one script (not, say, Latin and Cyrillic letters mixed)")]
    MixedScripts,
}

impl Username {
    pub fn parse(written: &str) -> Result<Self, UsernameError> {
        if written.len() > MAX_TYPED_BYTES {
            return Err(UsernameError::Length);
        }
        let name: String = written.nfkc().flat_map(char::to_lowercase).nfkc().collect();
        let chars = name.chars().count();
        if !(MIN_CHARS..=MAX_CHARS).contains(&chars) {
            return Err(UsernameError::Length);
        }
        let letter = |c: char| c.is_alphanumeric() && c.identifier_allowed();
        if let Some(bad) = name.chars().find(|&c| !letter(c) && !"._-".contains(c)) {
            return Err(UsernameError::Character(bad));
        }
        let edges = [name.chars().next(), name.chars().last()];
        if !edges.into_iter().flatten().all(letter) {
            return Err(UsernameError::Edges);
        }
        if !name.as_str().is_single_script() {
            return Err(UsernameError::MixedScripts);
        }
        let guest = crate::protocol::DisplayName::parse(name.as_str())
            .is_ok_and(|as_name| as_name.is_guest_name());
        if guest {
            return Err(UsernameError::GuestName);
        }
        Ok(Self(name))
    }

    /// As a trusted source wrote it (the database).
    pub fn from_stored(name: String) -> Self {
        Self(name)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What two usernames that read alike share: unique among accounts.
    pub fn key(&self) -> String {
        key_of(&self.0)
    }
}

impl std::fmt::Display for Username {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The comparison key of any text, valid username or not (a sign-in's
/// typed name is looked up by it). The caller bounds its length
/// ([`MAX_TYPED_BYTES`]): normalization can make text many times longer.
pub fn key_of(text: &str) -> String {
    let folded: String = text.nfkc().flat_map(char::to_lowercase).collect();
    let skeleton: String = skeleton(&folded).collect();
    skeleton.nfkc().flat_map(char::to_lowercase).collect()
}

/// The keys a display name is checked by: as [`key_of`], and with its
/// capitals taken as they look before lower case (a capital I reads as an
/// l, a Cyrillic В as a B), since display names keep their case.
pub fn keys_of_display(name: &str) -> [String; 2] {
    let cased: String = skeleton(&name.nfkc().collect::<String>()).collect();
    [key_of(name), key_of(&cased)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn look_alikes_share_one_key() {
        let alice = Username::parse("Alice").unwrap().key();
        for same in ["alice", "ALICE", "ａｌｉｃｅ", "Alice"] {
            assert_eq!(key_of(same), alice, "{same}");
        }
        assert_ne!(key_of("alicia"), alice);
        // All in Cyrillic letters: one script, so a valid name, but the
        // same key as the Latin one it looks like.
        let cyrillic = Username::parse("асе").unwrap();
        assert_ne!(cyrillic.as_str(), "ace");
        assert_eq!(cyrillic.key(), key_of("ace"));
        assert_eq!(key_of("paypal"), key_of("paypa1"));
        assert_eq!(key_of("rn"), key_of("m"));
    }

    #[test]
    fn a_display_name_in_capitals_that_look_like_a_username_shares_its_key() {
        let alice = key_of("alice");
        // A capital I for the l; a Greek capital iota; Cherokee A.
        for name in ["AIice", "aIice", "AΙice", "Ꭺlice"] {
            assert!(keys_of_display(name).contains(&alice), "{name}");
        }
        // Cyrillic capitals for BOB.
        assert!(keys_of_display("ВОВ").contains(&key_of("bob")));
        assert!(!keys_of_display("Alicia").contains(&alice));
    }

    #[test]
    fn usernames_are_letters_digits_and_inner_marks_of_one_script() {
        for good in ["ana", "ben_2", "o.k", "Zoë", "日本語", "ab"] {
            assert!(Username::parse(good).is_ok(), "{good}");
        }
        assert_eq!(Username::parse("a"), Err(UsernameError::Length));
        assert_eq!(Username::parse(&"a".repeat(33)), Err(UsernameError::Length));
        assert_eq!(Username::parse("a b"), Err(UsernameError::Character(' ')));
        assert_eq!(Username::parse("a@b"), Err(UsernameError::Character('@')));
        assert_eq!(
            Username::parse("ana\u{200b}"),
            Err(UsernameError::Character('\u{200b}'))
        );
        assert_eq!(Username::parse("_ana"), Err(UsernameError::Edges));
        assert_eq!(Username::parse("ana-"), Err(UsernameError::Edges));
        // Latin with one Cyrillic letter.
        assert_eq!(Username::parse("pаypal"), Err(UsernameError::MixedScripts));
        // Written in full width or in capitals, kept as NFKC in lower case:
        // an upper-case I cannot pass for an l.
        assert_eq!(Username::parse("ＡＮＡ").unwrap().as_str(), "ana");
        assert_eq!(Username::parse("AIice").unwrap().as_str(), "aiice");
        // The guests' own names, and what is far too long to look at.
        assert_eq!(Username::parse("Guest-BEEF"), Err(UsernameError::GuestName));
        assert!(Username::parse("guest-beefy").is_ok());
        let huge = "\u{fdfa}".repeat(100_000);
        assert_eq!(Username::parse(&huge), Err(UsernameError::Length));
    }
}

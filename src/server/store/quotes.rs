//! Replies quote what they answer as it is now, never as stored: the
//! quote is filled in as a page is read (here) or a reply numbered, and
//! followed by the changes to the original after that, so a deleted
//! original's words are nowhere but in the rows its deletion blanked.

use std::collections::{HashMap, HashSet};

use super::StoredMessage;

/// The numbers of the messages that `page`'s replies answer and `page`
/// does not hold: what a backend reads to quote them, in order, once each.
pub(super) fn unheld_originals(page: &[StoredMessage]) -> Vec<u64> {
    let held: HashSet<u64> = page.iter().map(|m| m.seq).collect();
    let mut wanted: Vec<u64> = replies(page).filter(|to| !held.contains(to)).collect();
    wanted.sort_unstable();
    wanted.dedup();
    wanted
}

/// Gives each reply of `page` the quote of what it answers, found in
/// `page` itself or among `originals` (one channel's rows); a reply whose
/// original is gone (pruned) has none.
pub(super) fn quote_replies(page: &mut [StoredMessage], originals: &[StoredMessage]) {
    let answered: HashSet<u64> = replies(page).collect();
    if answered.is_empty() {
        return;
    }
    // Quoting reads the text as plain text: only what is answered.
    let quotes: HashMap<u64, _> = page
        .iter()
        .chain(originals)
        .filter(|m| m.is_message() && answered.contains(&m.seq))
        .map(|m| (m.seq, Box::new(m.quoted())))
        .collect();
    for message in page.iter_mut() {
        let Some(extra) = message.extra.as_mut() else {
            continue;
        };
        let shown = &mut extra.shown;
        if let (Some(to), false) = (shown.reply_to, shown.deleted) {
            shown.quote = quotes.get(&to).cloned();
        }
    }
}

/// What the live replies of `page` answer.
fn replies(page: &[StoredMessage]) -> impl Iterator<Item = u64> + '_ {
    page.iter()
        .map(StoredMessage::extras)
        .filter(|extras| !extras.deleted)
        .filter_map(|extras| extras.reply_to)
}

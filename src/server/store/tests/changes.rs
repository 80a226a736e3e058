//! Changes to messages on every backend: each checked against its message,
//! numbered and applied; the first text kept; the reactions' cap; replies'
//! quotes as the originals are now; and pages forwards of messages alone.

use super::*;
use crate::protocol::MAX_REACTIONS;

/// A change to message `target` of `channel`, from `from`.
fn change(
    channel: &Channel,
    from: UserId,
    target: u64,
    request: ChangeRequest,
    text: Option<&str>,
) -> NewMessage {
    NewMessage {
        kind: NewKind::Change { target, request },
        content: text.map_or_else(MessageContent::removed, |t| {
            MessageContent::parse(t).unwrap()
        }),
        ..message(channel, from, "unused", None)
    }
}

fn react(emoji: &str, on: Option<bool>) -> ChangeRequest {
    ChangeRequest::React {
        emoji: Emoji::parse(emoji).unwrap(),
        on,
    }
}

fn edit() -> ChangeRequest {
    ChangeRequest::Edit { sent_after: None }
}

#[tokio::test]
async fn changes_are_checked_numbered_and_applied_to_their_message_by_every_backend() {
    for (backend, _dir) in raw_backends().await {
        let (ana, ben) = (UserId::new_random(), UserId::new_random());
        let a = room("a");
        let replying = NewMessage {
            kind: NewKind::Message {
                reply_to: Some(1),
                mentions: vec![ana],
            },
            ..message(&a, ben, "@Ana hi", None)
        };
        // A message, and in the same batch a reply to it, its author's
        // edit, a reaction; then what is refused, and why.
        let outcomes = backend
            .append(
                &[
                    message(&a, ana, "helo", None),
                    replying,
                    change(&a, ana, 1, edit(), Some("hello")),
                    change(&a, ben, 1, react("👍", None), None),
                    change(&a, ben, 1, edit(), Some("mine now")),
                    change(&a, ben, 1, react("👍", Some(true)), None),
                    change(&a, ana, 99, edit(), Some("nothing there")),
                    change(&a, ana, 3, edit(), Some("a change is no message")),
                    NewMessage {
                        kind: NewKind::Message {
                            reply_to: Some(50),
                            mentions: vec![],
                        },
                        ..message(&a, ana, "to the future", None)
                    },
                    change(
                        &a,
                        ana,
                        1,
                        ChangeRequest::Edit {
                            sent_after: Some(11),
                        },
                        Some("too late"),
                    ),
                ],
                10,
            )
            .await
            .unwrap();
        let summary: Vec<Result<u64, Refusal>> = outcomes
            .iter()
            .map(|o| o.as_ref().map(|(m, _)| m.seq).map_err(|r| *r))
            .collect();
        assert_eq!(
            summary,
            [
                Ok(1),
                Ok(2),
                Ok(3),
                Ok(4),
                Err(Refusal::NotYours),
                Err(Refusal::Unchanged),
                Err(Refusal::NoSuchMessage),
                Err(Refusal::NoSuchMessage),
                Err(Refusal::NoSuchMessage),
                Err(Refusal::TooLate),
            ]
        );
        let more = backend
            .append(
                &[
                    change(&a, ana, 1, react("👍", Some(true)), None),
                    change(&a, ben, 1, react("👍", None), None),
                ],
                20,
            )
            .await
            .stored();
        assert_eq!(more[1].0.change().map(|(t, c)| (t, c.clone())), {
            let off = Change::React {
                emoji: Emoji::parse("👍").unwrap(),
                on: false,
            };
            Some((1, off))
        });
        // A batch of nothing but refusals writes nothing.
        let alone = NewMessage {
            kind: NewKind::Message {
                reply_to: Some(99),
                mentions: vec![],
            },
            ..message(&a, ana, "to nothing", None)
        };
        let refused = backend.append(&[alone], 21).await.unwrap();
        assert_eq!(refused[0].as_ref().err(), Some(&Refusal::NoSuchMessage));
        // History shows messages as they are now; forwards, the changes too.
        let page = backend.page(&a, None, None, 10).await.unwrap();
        assert_eq!(seqs(&page), [1, 2], "a page back holds messages only");
        let first = page[0].extras();
        assert_eq!(page[0].content.as_str(), "hello");
        assert_eq!(first.edited, Some(10));
        assert_eq!(first.rev, Some(6));
        assert_eq!(first.reactions.len(), 1);
        assert_eq!(first.reactions[0].users, [ana]);
        assert_eq!(page[1].extras().reply_to, Some(1));
        assert_eq!(page[1].extras().mentions, [ana]);
        let forwards = backend.page(&a, None, Some(0), 10).await.unwrap();
        assert_eq!(seqs(&forwards), [1, 2, 3, 4, 5, 6]);
        assert_eq!(forwards[2].content.as_str(), "hello", "the edit's text");
        // The newest messages, and the changes after the oldest of them.
        assert_eq!(seqs(&backend.recent(&a, 1).await.unwrap()), [2, 3, 4, 5, 6]);
        assert_eq!(
            seqs(&backend.recent(&a, 3).await.unwrap()),
            [1, 2, 3, 4, 5, 6]
        );

        // A deletion takes the words from the message and its edits, and
        // nothing can change it after.
        let deleted = backend
            .append(&[change(&a, ana, 1, ChangeRequest::Delete, None)], 30)
            .await
            .stored();
        assert_eq!(deleted[0].0.seq, 7);
        let after = backend
            .append(
                &[
                    change(&a, ana, 1, edit(), Some("back")),
                    change(&a, ben, 1, react("🎉", None), None),
                    change(&a, ben, 2, ChangeRequest::Delete, None),
                ],
                40,
            )
            .await
            .unwrap();
        let refusals: Vec<_> = after.iter().map(|o| o.as_ref().err().copied()).collect();
        assert_eq!(
            refusals,
            [Some(Refusal::Deleted), Some(Refusal::Deleted), None]
        );
        let rows = backend.page(&a, None, Some(0), 10).await.unwrap();
        assert!(rows[0].content.is_removed() && rows[0].extras().deleted);
        assert!(rows[0].extras().reactions.is_empty());
        assert!(rows[2].content.is_removed(), "the edit's words went too");
        assert_eq!(
            rows[0].extra.as_ref().and_then(|e| e.original.clone()),
            None
        );
        assert_eq!(seqs(&rows), [1, 2, 3, 4, 5, 6, 7, 8]);
    }
}

#[tokio::test]
async fn an_edit_keeps_the_first_text_and_a_message_takes_so_many_kinds_of_reaction() {
    for (backend, _dir) in raw_backends().await {
        let ana = UserId::new_random();
        let a = room("a");
        backend
            .append(&[message(&a, ana, "first", None)], 1)
            .await
            .stored();
        backend
            .append(&[change(&a, ana, 1, edit(), Some("second"))], 2)
            .await
            .stored();
        backend
            .append(&[change(&a, ana, 1, edit(), Some("third"))], 3)
            .await
            .stored();
        let page = backend.page(&a, None, None, 1).await.unwrap();
        let original = page[0].extra.as_ref().and_then(|e| e.original.clone());
        assert_eq!(original.unwrap().as_str(), "first");
        assert_eq!(page[0].content.as_str(), "third");
        let emoji: Vec<NewMessage> = (0..=MAX_REACTIONS)
            .map(|n| {
                let symbol = char::from_u32(0x1F600 + n as u32).unwrap().to_string();
                change(&a, ana, 1, react(&symbol, Some(true)), None)
            })
            .collect();
        let outcomes = backend.append(&emoji, 4).await.unwrap();
        assert!(outcomes[..MAX_REACTIONS].iter().all(Result::is_ok));
        assert_eq!(
            outcomes[MAX_REACTIONS].as_ref().err(),
            Some(&Refusal::TooManyReactions)
        );
    }
}

#[tokio::test]
async fn replies_quote_what_they_answer_as_it_is_now_on_every_backend() {
    for (backend, _dir) in raw_backends().await {
        let (ana, ben) = (UserId::new_random(), UserId::new_random());
        let a = room("a");
        let reply = |to: u64, text: &str| NewMessage {
            kind: NewKind::Message {
                reply_to: Some(to),
                mentions: vec![],
            },
            ..message(&a, ben, text, None)
        };
        // An original and a reply to it in one batch; a reply on its own.
        let first = backend
            .append(
                &[
                    message(&a, ana, "first **line**\nsecond", None),
                    message(&a, ana, "other", None),
                    reply(1, "same batch"),
                ],
                1,
            )
            .await
            .stored();
        let quote = first[2].0.extras().quote.clone().expect("quoted");
        assert_eq!((quote.from, quote.text.as_str()), (ana, "first line"));
        assert_eq!(quote.name, ana.guest_name());
        let alone = backend.append(&[reply(2, "alone")], 2).await.stored();
        assert_eq!(alone[0].0.extras().quote.as_ref().unwrap().text, "other");
        // The quote is never stored: what is kept is the reply alone.
        let (_, kept) = super::sql::extra_columns(&alone[0].0);
        assert!(!kept.unwrap().contains("other"), "no quote in the row");
        // A change is no message to answer.
        let edited = backend
            .append(&[change(&a, ana, 1, edit(), Some("> edited"))], 3)
            .await
            .stored();
        assert_eq!(edited[0].0.seq, 5);
        let refused = backend.append(&[reply(5, "to a change")], 4).await.unwrap();
        assert_eq!(refused[0].as_ref().err(), Some(&Refusal::NoSuchMessage));
        // Read back without their originals, replies quote them as they
        // are now: edited, then deleted.
        let page = backend.page(&a, None, None, 2).await.unwrap();
        assert_eq!(seqs(&page), [3, 4]);
        let texts = |page: &[StoredMessage]| -> Vec<(String, bool)> {
            page.iter()
                .map(|m| {
                    let quote = m.extras().quote.clone().expect("quoted");
                    (quote.text, quote.deleted)
                })
                .collect()
        };
        assert_eq!(
            texts(&page),
            [("edited".to_owned(), false), ("other".to_owned(), false)]
        );
        backend
            .append(&[change(&a, ana, 1, ChangeRequest::Delete, None)], 5)
            .await
            .stored();
        let page = backend.page(&a, None, None, 2).await.unwrap();
        assert_eq!(
            texts(&page),
            [(String::new(), true), ("other".to_owned(), false)]
        );
        // The same with the original on the page, and in the newest rows
        // the broker loads; a reply's quote goes when it is deleted itself.
        let all = backend.page(&a, None, None, 10).await.unwrap();
        assert_eq!(seqs(&all), [1, 2, 3, 4]);
        assert!(all[2].extras().quote.as_ref().unwrap().deleted);
        backend
            .append(&[change(&a, ben, 4, ChangeRequest::Delete, None)], 6)
            .await
            .stored();
        let recent = backend.recent(&a, 10).await.unwrap();
        let quotes: Vec<Option<bool>> = recent
            .iter()
            .filter(|m| m.is_message())
            .map(|m| m.extras().quote.as_ref().map(|q| q.deleted))
            .collect();
        assert_eq!(quotes, [None, None, Some(true), None]);
        // Forwards, messages alone: no changes, none deleted.
        let forwards = backend.messages_after(&a, 0, None, 10).await.unwrap();
        assert_eq!(seqs(&forwards), [2, 3]);
        let one = backend.messages_after(&a, 2, None, 1).await.unwrap();
        assert_eq!(seqs(&one), [3]);
        let below = backend.messages_after(&a, 0, Some(3), 10).await.unwrap();
        assert_eq!(seqs(&below), [2]);
    }
}

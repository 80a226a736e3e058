//! The composer: writing a message (Enter sends, Shift+Enter starts a new
//! line), answering one (a bar says which, Escape or Cancel drops it),
//! editing one of the user's own (Edit in its actions, or Up in an empty
//! composer), telling the room the user is typing, and suggesting members
//! after `@` (a list the arrow keys move through, Enter or Tab picks).

use leptos::prelude::*;

use super::socket::ChatClient;
use super::state::Conversation;
use crate::protocol::{ClientMessage, DisplayName, MessageContent, RoomName, UserId};

/// How often the composer says the user is typing, while they are.
const TYPING_EVERY_MS: i64 = 3_000;

/// Members suggested after `@` at most.
const SUGGESTED: usize = 6;

/// What the composer is doing besides writing a new message, shared with
/// the messages' action bars.
#[derive(Clone, Copy)]
pub struct Composing {
    /// The message being answered.
    reply: RwSignal<Option<u64>>,
    /// The user's own message being edited.
    editing: RwSignal<Option<u64>>,
    draft: RwSignal<String>,
    input: NodeRef<leptos::html::Textarea>,
}

impl Composing {
    pub fn new() -> Self {
        Self {
            reply: RwSignal::new(None),
            editing: RwSignal::new(None),
            draft: RwSignal::new(String::new()),
            input: NodeRef::new(),
        }
    }

    pub fn reply_to(&self, seq: u64) {
        self.stop_editing();
        self.reply.set(Some(seq));
        self.focus();
    }

    /// Puts the message's text in the composer to change it.
    pub fn edit(&self, seq: u64, text: MessageContent) {
        self.reply.set(None);
        self.editing.set(Some(seq));
        self.draft.set(text.as_str().to_owned());
        self.focus();
    }

    /// Back to writing a new message.
    fn cancel(&self) {
        self.reply.set(None);
        self.stop_editing();
    }

    fn stop_editing(&self) {
        if self.editing.get_untracked().is_some() {
            self.editing.set(None);
            self.draft.set(String::new());
        }
    }

    fn focus(&self) {
        if let Some(input) = self.input.get_untracked() {
            let _ = input.focus();
        }
    }
}

#[component]
pub fn Composer() -> impl IntoView {
    let client = expect_context::<ChatClient>();
    let composing = expect_context::<Composing>();
    let state = client.state;
    let (draft, input) = (composing.draft, composing.input);
    // Each conversation keeps what was being written in it; opening one
    // puts the cursor in its composer.
    let drafts = StoredValue::new(super::conversation::PerConversation::<String>::default());
    let active = Memo::new(move |_| state.with(|s| s.active.clone()));
    Effect::new(move |before: Option<Option<Conversation>>| {
        let now = active.get();
        composing.cancel();
        if let Some(Some(before)) = before {
            let text = draft.get_untracked();
            drafts.update_value(|d| d.set(&before, Some(text).filter(|text| !text.is_empty())));
        }
        let text = now
            .as_ref()
            .and_then(|now| drafts.with_value(|d| d.get(now).cloned()))
            .unwrap_or_default();
        draft.set(text);
        composing.focus();
        now
    });
    let suggestions = RwSignal::new(Vec::<(UserId, DisplayName)>::new());
    let chosen = RwSignal::new(0usize);

    let send = move || {
        let Some(conversation) = state.with_untracked(|s| s.active.clone()) else {
            return;
        };
        match MessageContent::parse_new(draft.get_untracked()) {
            Ok(content) => {
                match composing.editing.get_untracked() {
                    Some(seq) => client.act(|s| Some(s.edit(&conversation, seq, content))),
                    None => {
                        let reply_to = composing.reply.get_untracked();
                        client.compose(conversation, content, reply_to);
                    }
                }
                composing.cancel();
                draft.set(String::new());
            }
            Err(error) => state.update(|s| s.notify(error.to_string())),
        }
    };
    let pick = move |index: usize| {
        let Some((_, name)) = suggestions.with_untracked(|s| s.get(index).cloned()) else {
            return;
        };
        let Some(input) = input.get_untracked() else {
            return;
        };
        let text = draft.get_untracked();
        let cursor = cursor_at(&input, &text);
        if let Some(at) = mention_start(&text[..cursor]) {
            let completed = format!("{}@{name} {}", &text[..at], &text[cursor..]);
            let end = (at + name.as_str().len() + 2) as u32;
            draft.set(completed.clone());
            input.set_value(&completed);
            let end = utf16_len(&completed[..end as usize]);
            let _ = input.set_selection_range(end, end);
        }
        suggestions.set(Vec::new());
    };
    let on_keydown = move |event: leptos::ev::KeyboardEvent| {
        let open = suggestions.with_untracked(|s| s.len());
        match event.key().as_str() {
            "ArrowDown" | "ArrowUp" if open > 0 => {
                event.prevent_default();
                let step = if event.key() == "ArrowDown" {
                    1
                } else {
                    open - 1
                };
                chosen.update(|c| *c = (*c + step) % open);
            }
            "Enter" | "Tab" if open > 0 && !event.shift_key() => {
                event.prevent_default();
                pick(chosen.get_untracked());
            }
            "Escape" if open > 0 => suggestions.set(Vec::new()),
            "Escape" => composing.cancel(),
            "Enter" if !event.shift_key() && !event.is_composing() => {
                event.prevent_default();
                send();
            }
            "ArrowUp" if draft.with_untracked(String::is_empty) => {
                let last = state
                    .with_untracked(|s| s.active.as_ref().and_then(|active| s.last_own(active)));
                if let Some((seq, text)) = last {
                    event.prevent_default();
                    composing.edit(seq, text);
                }
            }
            _ => {}
        }
    };
    // Tells the room the user is typing: on input, at most every few
    // seconds; and offers members after `@`.
    let last_typing = StoredValue::new(None::<(RoomName, i64)>);
    let on_input = move |_| {
        let room = state.with_untracked(|s| match &s.active {
            Some(Conversation::Room(room)) => Some(room.clone()),
            _ => None,
        });
        let Some(room) = room else {
            return;
        };
        let offered = input.get_untracked().and_then(|input| {
            let text = draft.get_untracked();
            let prefix = mention_start(&text[..cursor_at(&input, &text)])
                .map(|at| text[at + 1..cursor_at(&input, &text)].to_owned())?;
            Some(state.with_untracked(|s| s.members_named(&room, &prefix, SUGGESTED)))
        });
        chosen.set(0);
        suggestions.set(offered.unwrap_or_default());
        let connected =
            state.with_untracked(|s| s.status == super::state::ConnectionStatus::Connected);
        let now = client.clock.get_untracked();
        let recent = last_typing.with_value(|last| {
            last.as_ref()
                .is_some_and(|(r, at)| *r == room && now - at < TYPING_EVERY_MS)
        });
        if connected && !recent {
            last_typing.set_value(Some((room.clone(), now)));
            client.send(ClientMessage::Typing { room });
        }
    };
    let on_submit = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        send();
    };
    let bar = move || {
        let (reply, editing) = (composing.reply.get(), composing.editing.get());
        let text = match (reply, editing) {
            (_, Some(_)) => "Editing your message".to_owned(),
            (Some(seq), None) => {
                let quote = state.with(|s| s.active.as_ref().and_then(|a| s.quote(a, seq, None)));
                match quote {
                    Some(quote) if !quote.deleted => {
                        format!("Replying to {}: {}", quote.name, quote.text)
                    }
                    _ => "Replying to an earlier message".to_owned(),
                }
            }
            (None, None) => return None,
        };
        Some(view! {
            <div class="composing">
                <span class="composing-what">{text}</span>
                <button type="button" on:click=move |_| composing.cancel()>
                    "Cancel"
                </button>
            </div>
        })
    };
    let options = move || {
        suggestions
            .get()
            .into_iter()
            .enumerate()
            .map(|(index, (user, name))| {
                view! {
                    <li
                        id=format!("mention-{index}")
                        role="option"
                        aria-selected=move || if chosen.get() == index { "true" } else { "false" }
                        data-user=user.to_string()
                        on:mousedown=move |event| {
                            event.prevent_default();
                            pick(index);
                        }
                    >
                        {name.to_string()}
                    </li>
                }
            })
            .collect_view()
    };
    let listed = move || suggestions.with(|s| !s.is_empty());
    view! {
        <form class="composer" on:submit=on_submit>
            {bar}
            <ul
                id="mention-list"
                class="mentions"
                role="listbox"
                aria-label="Members to mention"
                hidden=move || !listed()
            >
                {options}
            </ul>
            <div class="composer-row">
                <label for="message-input" class="visually-hidden">
                    "Message"
                </label>
                <textarea
                    id="message-input"
                    node_ref=input
                    rows="2"
                    placeholder="Write a message… (Enter sends, Shift+Enter for a new line, @ to mention)"
                    maxlength=MessageContent::MAX_CHARS
                    aria-autocomplete="list"
                    aria-controls="mention-list"
                    aria-activedescendant=move || {
                        listed().then(|| format!("mention-{}", chosen.get()))
                    }
                    bind:value=draft
                    on:keydown=on_keydown
                    on:input=on_input
                ></textarea>
                <button type="submit">
                    {move || if composing.editing.get().is_some() { "Save" } else { "Send" }}
                </button>
            </div>
        </form>
    }
}

/// Where the cursor is in `text`, as a byte offset (the browser counts
/// UTF-16 units).
fn cursor_at(input: &leptos::web_sys::HtmlTextAreaElement, text: &str) -> usize {
    let units = input.selection_start().ok().flatten().unwrap_or(0) as usize;
    let mut counted = 0;
    for (at, c) in text.char_indices() {
        if counted >= units {
            return at;
        }
        counted += c.len_utf16();
    }
    text.len()
}

fn utf16_len(text: &str) -> u32 {
    text.chars().map(|c| c.len_utf16() as u32).sum()
}

/// Where a mention being typed starts: an `@` at the start or after white
/// space, with no white space between it and the cursor.
fn mention_start(before_cursor: &str) -> Option<usize> {
    let at = before_cursor.rfind('@')?;
    let typed = &before_cursor[at + 1..];
    let starts_word = before_cursor[..at]
        .chars()
        .next_back()
        .is_none_or(char::is_whitespace);
    (starts_word && !typed.contains(char::is_whitespace)).then_some(at)
}

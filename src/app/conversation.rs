//! The active conversation: its title (and a Leave button for rooms), its
//! lines, and the composer. Message text is rendered as text nodes only.

use leptos::prelude::*;

use super::socket::ChatClient;
use super::state::{Conversation, LineKind};
use crate::protocol::{ClientMessage, MessageContent, UserId};

#[component]
pub fn ConversationPane() -> impl IntoView {
    let client = expect_context::<ChatClient>();
    let state = client.state;
    let active = move || state.with(|s| s.active.clone());
    let title = move || match active() {
        Some(Conversation::Room(room)) => format!("#{room}"),
        Some(Conversation::Direct(peer)) => format!("Direct messages with {}", peer.guest_name()),
        None => "No conversation open".to_owned(),
    };
    let leave = {
        let client = client.clone();
        move |_| {
            if let Some(Conversation::Room(room)) = active() {
                state.update(|s| s.left(&room));
                client.send(ClientMessage::LeaveRoom { room });
            }
        }
    };

    view! {
        <main class="conversation" aria-labelledby="conversation-title">
            <header class="conversation-header">
                <h1 id="conversation-title">{title}</h1>
                <Show when=move || matches!(active(), Some(Conversation::Room(_)))>
                    <button type="button" class="leave" on:click=leave.clone()>
                        "Leave room"
                    </button>
                </Show>
            </header>
            <Show
                when=move || active().is_some()
                fallback=|| {
                    view! {
                        <p class="empty">"Join a room on the left to start chatting."</p>
                    }
                }
            >
                <Lines />
                <Composer />
            </Show>
        </main>
    }
}

#[component]
fn Lines() -> impl IntoView {
    let state = expect_context::<ChatClient>().state;
    let name = move |id: UserId| {
        let me = state.with_untracked(|s| s.me);
        if me == Some(id) {
            format!("{} (you)", id.guest_name())
        } else {
            id.guest_name()
        }
    };
    view! {
        <ol class="lines" role="log" aria-live="polite" aria-label="Messages">
            <For each=move || state.with(|s| s.active_lines()) key=|line| line.id let:line>
                {match line.kind {
                    LineKind::Message { from, text } => {
                        view! {
                            <li class="line message">
                                <span class="from">{name(from)}</span>
                                <span class="text">{text}</span>
                            </li>
                        }
                            .into_any()
                    }
                    LineKind::Joined(user) => {
                        view! { <li class="line system">{format!("{} joined", name(user))}</li> }
                            .into_any()
                    }
                    LineKind::Left(user) => {
                        view! { <li class="line system">{format!("{} left", name(user))}</li> }
                            .into_any()
                    }
                }}
            </For>
        </ol>
    }
}

/// Enter sends, Shift+Enter starts a new line.
#[component]
fn Composer() -> impl IntoView {
    let client = expect_context::<ChatClient>();
    let state = client.state;
    let draft = RwSignal::new(String::new());

    let send = move || {
        let Some(conversation) = state.with_untracked(|s| s.active.clone()) else {
            return;
        };
        let content = match MessageContent::parse(draft.get_untracked()) {
            Ok(content) => content,
            Err(error) => {
                state.update(|s| s.notify(error.to_string()));
                return;
            }
        };
        match conversation {
            Conversation::Room(room) => client.send(ClientMessage::RoomMessage { room, content }),
            Conversation::Direct(to) => {
                state.update(|s| s.sent_direct(to, &content));
                client.send(ClientMessage::DirectMessage { to, content });
            }
        }
        draft.set(String::new());
    };
    let on_keydown = {
        let send = send.clone();
        move |event: leptos::ev::KeyboardEvent| {
            if event.key() == "Enter" && !event.shift_key() && !event.is_composing() {
                event.prevent_default();
                send();
            }
        }
    };
    let on_submit = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        send();
    };

    view! {
        <form class="composer" on:submit=on_submit>
            <label for="message-input" class="visually-hidden">
                "Message"
            </label>
            <textarea
                id="message-input"
                rows="2"
                placeholder="Write a message… (Enter sends, Shift+Enter for a new line)"
                maxlength=MessageContent::MAX_CHARS
                bind:value=draft
                on:keydown=on_keydown
            ></textarea>
            <button type="submit">"Send"</button>
        </form>
    }
}

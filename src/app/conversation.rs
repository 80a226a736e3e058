//! The active conversation: its title (and a Leave button for rooms), a
//! button for older messages, its lines (own messages marked pending until
//! acknowledged), and the composer. Message text is rendered as text only.

use leptos::prelude::*;

use leptos_router::hooks::use_navigate;

use super::sidebar::room_path;
use super::socket::ChatClient;
use super::state::{ConnectionStatus, Conversation, Delivery, LineKind};
use super::text::{Segment, segments};
use crate::protocol::{ClientId, ClientMessage, MessageContent, RoomName};

#[component]
pub fn ConversationPane() -> AnyView {
    let client = expect_context::<ChatClient>();
    let state = client.state;
    let active = move || state.with(|s| s.active.clone());
    let title = move || match active() {
        Some(Conversation::Room(room)) => format!("#{room}"),
        Some(Conversation::Direct(peer)) => {
            format!("Direct messages with {}", state.with(|s| s.name_of(peer)))
        }
        None => "No conversation open".to_owned(),
    };
    let navigate = use_navigate();
    let leave = move |_| {
        if let Some(Conversation::Room(room)) = active() {
            state.update(|s| s.left(&room));
            client.act(|_| Some(ClientMessage::LeaveRoom { room }));
            // The path follows to the room now open, if any.
            let path = match state.with_untracked(|s| s.active.clone()) {
                Some(Conversation::Room(next)) => room_path(&next),
                _ => "/".to_owned(),
            };
            let replace = leptos_router::NavigateOptions {
                replace: true,
                ..Default::default()
            };
            navigate(&path, replace);
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
                <TypingLine />
                <Composer />
            </Show>
        </main>
    }
    .into_any()
}

#[component]
fn Lines() -> impl IntoView {
    let client = expect_context::<ChatClient>();
    let state = client.state;
    let me = move || state.with(|s| s.me);
    let name_of = move |id| state.with_untracked(|s| s.name_of(id).to_string());
    let has_older = move || state.with(|s| s.active_has_older());
    let older = move |_| {
        if let Some(conversation) = state.with_untracked(|s| s.active.clone()) {
            client.load_older(conversation);
        }
    };
    let lines = Memo::new(move |_| state.with(|s| s.active_lines()));
    let list = NodeRef::<leptos::html::Ol>::new();
    // The reader is at the bottom (so new messages keep them there), and
    // messages arrived below while they were not.
    let at_bottom = RwSignal::new(true);
    let unseen = RwSignal::new(false);
    let height_before = StoredValue::new(0);
    Effect::new(move |seen: Option<Seen>| {
        let now = Seen {
            first: lines.with(|l| l.first().map(|line| line.key.clone())),
            last: lines.with(|l| l.last().map(|line| line.key.clone())),
            conversation: state.with_untracked(|s| s.active.clone()),
        };
        let Some(list) = list.get() else {
            return now;
        };
        let change = match &seen {
            Some(seen) if seen.conversation == now.conversation => {
                if seen.last != now.last {
                    Change::Newer
                } else if seen.first != now.first {
                    Change::Older
                } else {
                    Change::None
                }
            }
            _ => Change::Opened,
        };
        request_animation_frame(move || {
            match change {
                Change::Opened => {
                    list.set_scroll_top(list.scroll_height());
                    at_bottom.set(true);
                    unseen.set(false);
                }
                Change::Newer if at_bottom.get_untracked() => {
                    list.set_scroll_top(list.scroll_height())
                }
                Change::Newer => unseen.set(true),
                // Older messages went in above: the view stays where it was.
                Change::Older => {
                    let grown = list.scroll_height() - height_before.get_value();
                    list.set_scroll_top(list.scroll_top() + grown);
                }
                Change::None => {}
            }
            height_before.set_value(list.scroll_height());
        });
        now
    });
    let on_scroll = move |_| {
        let Some(list) = list.get_untracked() else {
            return;
        };
        let bottom = list.scroll_top() + list.client_height() >= list.scroll_height() - NEAR_PX;
        at_bottom.set(bottom);
        if bottom {
            unseen.set(false);
        }
        height_before.set_value(list.scroll_height());
        if list.scroll_top() < NEAR_PX
            && let Some(conversation) = state.with_untracked(|s| s.active.clone())
        {
            client.load_older(conversation);
        }
    };
    let jump = move |_| {
        if let Some(list) = list.get_untracked() {
            list.set_scroll_top(list.scroll_height());
        }
        unseen.set(false);
    };
    view! {
        <Show when=has_older>
            <button type="button" class="load-older" on:click=older>
                "Load older messages"
            </button>
        </Show>
        <Show when=move || unseen.get()>
            <button type="button" class="new-messages" on:click=jump>
                "New messages ↓"
            </button>
        </Show>
        <ol
            class="lines"
            role="log"
            aria-live="polite"
            aria-label="Messages"
            node_ref=list
            on:scroll=on_scroll
        >
            <For
                each=move || lines.get()
                key=|line| (line.key.clone(), line_state(&line.kind), line.continued)
                let:line
            >
                {match line.kind {
                    LineKind::Message { from, name, text, delivery, ts } => {
                        let mine = from.is_some() && from == me();
                        let shown = if mine { format!("{name} (you)") } else { name.to_string() };
                        let id = line.key.strip_prefix("p.").and_then(|id| ClientId::parse(id).ok());
                        view! {
                            <li
                                class="line message"
                                class:mine=mine
                                class:continued=line.continued
                                data-delivery=delivery.key()
                            >
                                <span class="meta">
                                    <span class="from">{shown}</span>
                                    <MessageTime ts />
                                </span>
                                <span class="text">{linked(&text)}</span>
                                <DeliveryMark delivery id />
                            </li>
                        }
                            .into_any()
                    }
                    LineKind::Joined(user) => {
                        view! { <li class="line system">{format!("{} joined", name_of(user))}</li> }
                            .into_any()
                    }
                    LineKind::Left(user) => {
                        view! { <li class="line system">{format!("{} left", name_of(user))}</li> }
                            .into_any()
                    }
                }}
            </For>
        </ol>
    }
}

/// Message text as text nodes, with `http(s)` links as anchors that open
/// in a new tab and pass nothing to the site they lead to.
fn linked(text: &str) -> impl IntoView + use<> {
    segments(text)
        .into_iter()
        .map(|segment| match segment {
            Segment::Text(text) => text.to_owned().into_any(),
            Segment::Link(url) => view! {
                <a href=url.to_owned() target="_blank" rel="noopener noreferrer nofollow">
                    {url.to_owned()}
                </a>
            }
            .into_any(),
        })
        .collect_view()
}

/// The server's time of a message, in the reader's locale and time zone
/// (hours and minutes; the full date and time on hover).
#[component]
fn MessageTime(ts: Option<i64>) -> impl IntoView {
    let (short, full, iso) = ts.map(clock).unwrap_or_default();
    view! {
        <time class="time" datetime=iso title=full>
            {short}
        </time>
    }
}

#[cfg(feature = "hydrate")]
fn clock(ts: i64) -> (String, String, String) {
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ts as f64));
    let options = js_sys::Object::new();
    for (key, value) in [("hour", "2-digit"), ("minute", "2-digit")] {
        let _ = js_sys::Reflect::set(&options, &key.into(), &value.into());
    }
    let short = date.to_locale_time_string_with_options("default", &options);
    (
        short.into(),
        date.to_locale_string("default", &wasm_bindgen::JsValue::UNDEFINED)
            .into(),
        date.to_iso_string().into(),
    )
}

/// On the server there are no messages to render: the page fills in the
/// browser.
#[cfg(not(feature = "hydrate"))]
fn clock(_ts: i64) -> (String, String, String) {
    Default::default()
}

/// Part of a line's key, so that a change of delivery re-renders the line.
fn line_state(kind: &LineKind) -> &'static str {
    match kind {
        LineKind::Message { delivery, .. } => delivery.key(),
        _ => "event",
    }
}

/// Nothing for a stored message; "Sending…" while pending; "Not sent" and a
/// Retry button once refused.
#[component]
fn DeliveryMark(delivery: Delivery, id: Option<ClientId>) -> impl IntoView {
    let client = expect_context::<ChatClient>();
    match (delivery, id) {
        (Delivery::Pending, _) => view! { <span class="delivery">"Sending…"</span> }.into_any(),
        (Delivery::Failed, Some(id)) => view! {
            <span class="delivery failed">"Not sent"</span>
            <button type="button" class="retry" on:click=move |_| client.retry(id.clone())>
                "Retry"
            </button>
        }
        .into_any(),
        _ => ().into_any(),
    }
}

/// Pixels from an end of the message list that count as at that end.
const NEAR_PX: i32 = 40;

/// The message list as last seen by its scroll effect.
#[derive(Clone, PartialEq)]
struct Seen {
    first: Option<String>,
    last: Option<String>,
    conversation: Option<Conversation>,
}

/// What changed in the message list since the last look.
#[derive(Clone, Copy)]
enum Change {
    /// Another conversation (or the first render): start at the bottom.
    Opened,
    /// Something new at the end.
    Newer,
    /// An older page went in at the top.
    Older,
    None,
}

/// "Ana is typing…" under the messages of the open room; empty (but kept,
/// so nothing jumps) when nobody is.
#[component]
fn TypingLine() -> impl IntoView {
    let client = expect_context::<ChatClient>();
    let (state, clock) = (client.state, client.clock);
    let label = move || {
        state.with(|s| match &s.active {
            Some(Conversation::Room(room)) => s.typing_label(room, clock.get()),
            _ => None,
        })
    };
    view! { <p class="typing" aria-live="polite">{label}</p> }
}

/// How often the composer says the user is typing, while they are.
const TYPING_EVERY_MS: i64 = 3_000;

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
        match MessageContent::parse(draft.get_untracked()) {
            Ok(content) => {
                client.compose(conversation, content);
                draft.set(String::new());
            }
            Err(error) => state.update(|s| s.notify(error.to_string())),
        }
    };
    let on_keydown = move |event: leptos::ev::KeyboardEvent| {
        if event.key() == "Enter" && !event.shift_key() && !event.is_composing() {
            event.prevent_default();
            send();
        }
    };
    // Tells the room the user is typing: on input, at most every few seconds.
    let last_typing = StoredValue::new(None::<(RoomName, i64)>);
    let on_input = move |_| {
        let Some(Conversation::Room(room)) = state.with_untracked(|s| {
            (s.status == ConnectionStatus::Connected)
                .then(|| s.active.clone())
                .flatten()
        }) else {
            return;
        };
        let now = client.clock.get_untracked();
        let recent = last_typing.with_value(|last| {
            last.as_ref()
                .is_some_and(|(r, at)| *r == room && now - at < TYPING_EVERY_MS)
        });
        if !recent {
            last_typing.set_value(Some((room.clone(), now)));
            client.send(ClientMessage::Typing { room });
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
                on:input=on_input
            ></textarea>
            <button type="submit">"Send"</button>
        </form>
    }
}

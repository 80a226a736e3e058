//! The active conversation: its title (and a Leave button for rooms), a
//! button for older messages, its lines (own messages marked pending until
//! acknowledged), and the composer. Message text is rendered as text only.

use leptos::either::{Either, EitherOf3};
use leptos::prelude::*;
use leptos::wasm_bindgen::JsCast;
use leptos::web_sys;

use super::composer::{Composer, Composing};
use super::location::{Location, room_path};
use super::message::{LongPress, MessageActions, MessageBody, names_me};
use super::panels::{Panel, PanelToggle};
use super::room_settings::RoomSettings;
use super::show_or;
use super::socket::ChatClient;
use super::state::{AlertLevel, Conversation, Delivery, LineKind, STAFF};
use crate::protocol::{ClientId, ClientMessage};

#[component]
pub fn ConversationPane() -> impl IntoView {
    let client = expect_context::<ChatClient>();
    provide_context(Composing::new());
    let state = client.state;
    let active = move || state.with(|s| s.active.clone());
    let title = move || match active() {
        Some(Conversation::Room(room)) => format!("#{room}"),
        Some(Conversation::Direct(peer)) => {
            format!("Direct messages with {}", state.with(|s| s.name_of(peer)))
        }
        None => "No conversation open".to_owned(),
    };
    let members_label = move || {
        let count = state.with(|s| match &s.active {
            Some(Conversation::Room(room)) => s.room(room).map_or(0, |view| view.members.len()),
            _ => 0,
        });
        format!("Members ({count})")
    };
    let level = move || state.with(|s| s.active.as_ref().map(|a| s.alert_level(a)));
    let on_level = move |event| {
        let chosen = AlertLevel::from_key(&event_target_value(&event));
        if let (Some(chosen), Some(conversation)) = (chosen, active()) {
            client.act(|s| {
                s.set_alert_level(conversation, chosen);
                None
            });
        }
    };
    let levels = AlertLevel::ALL
        .into_iter()
        .map(|option| {
            view! {
                <option value=option.key() selected=move || level() == Some(option)>
                    {option.label()}
                </option>
            }
        })
        .collect_view();
    let topic = move || {
        state.with(|s| match &s.active {
            Some(Conversation::Room(room)) => s.room(room).map(|v| v.settings.topic.clone()),
            _ => None,
        })
    };
    // The settings panel, for those who run the room; closed by opening
    // another conversation.
    let settings_open = RwSignal::new(false);
    let shown = Memo::new(move |_| active());
    Effect::new(move |_| {
        shown.track();
        settings_open.set(false);
    });
    let runs_room = move || {
        state.with(|s| match &s.active {
            Some(Conversation::Room(room)) => s.my_rank(room) >= STAFF,
            _ => false,
        })
    };
    // Built anew only when it opens, closes, or shows another room (not
    // at every change of the state).
    let settings_room = Memo::new(move |_| match shown.get() {
        Some(Conversation::Room(room)) if settings_open.get() && runs_room() => Some(room),
        _ => None,
    });
    let settings = move || {
        settings_room
            .get()
            .map(|room| view! { <RoomSettings room open=settings_open /> })
    };
    let location = expect_context::<Location>();
    let leave = move |_| {
        if let Some(Conversation::Room(room)) = active() {
            state.update(|s| s.left(&room));
            client.act(|_| Some(ClientMessage::LeaveRoom { room }));
            // The path follows to the room now open, if any.
            let path = match state.with_untracked(|s| s.active.clone()) {
                Some(Conversation::Room(next)) => room_path(&next),
                _ => "/".to_owned(),
            };
            location.navigate(&path, true);
        }
    };

    view! {
        <main
            class="conversation"
            class:settings-open=move || settings_room.with(Option::is_some)
            aria-labelledby="conversation-title"
        >
            <header class="conversation-header">
                <h1 id="conversation-title">{title}</h1>
                <p class="topic" hidden=move || topic().is_none_or(|t| t.is_empty())>
                    {move || topic().unwrap_or_default()}
                </p>
                <Show when=move || active().is_some()>
                    <label class="alert-level">
                        "Notify me of "
                        <select on:change=on_level>{levels.clone()}</select>
                    </label>
                </Show>
                <Show when=move || matches!(active(), Some(Conversation::Room(_)))>
                    <PanelToggle panel=Panel::Members label=Signal::derive(members_label) />
                    <Show when=runs_room>
                        <button
                            type="button"
                            id="settings-toggle"
                            aria-expanded=move || settings_open.get().to_string()
                            on:click=move |_| settings_open.update(|open| *open = !*open)
                        >
                            "Room settings"
                        </button>
                    </Show>
                    <button type="button" class="leave" on:click=leave>
                        "Leave room"
                    </button>
                </Show>
            </header>
            {settings}
            {show_or(
                move || active().is_some(),
                || view! {
                    <Lines />
                    <TypingLine />
                    <MutedBanner />
                    <Composer />
                },
                || view! {
                    <p class="empty">
                        "Pick a room from All rooms, or join one by name, to start chatting."
                    </p>
                },
            )}
        </main>
    }
}

#[component]
fn Lines() -> impl IntoView {
    let client = expect_context::<ChatClient>();
    let state = client.state;
    let me = move || state.with(|s| s.me);
    let name_of = move |id| state.with_untracked(|s| s.name_of(id).to_string());
    let has_older = move || state.with(|s| s.active_has_older());
    let detached = Memo::new(move |_| state.with(|s| s.active_detached()));
    let active = move || state.with_untracked(|s| s.active.clone());
    let older = move |_| {
        if let Some(conversation) = active() {
            client.load_older(conversation);
        }
    };
    let lines = Memo::new(move |_| state.with(|s| s.active_lines()));
    // A message jumped to (a reply's original, a search result) is
    // brought into view once it is on the page, and marked.
    let focused = move || state.with(|s| s.active_focus());
    let scrolled_to = StoredValue::new(None::<u64>);
    let list = NodeRef::<leptos::html::Div>::new();
    let press = LongPress::new();
    // The reader is at the bottom (so new messages keep them there), and
    // messages arrived below while they were not.
    let at_bottom = RwSignal::new(true);
    let unseen = RwSignal::new(false);
    // Where the reader is in each conversation (none: at the bottom), so
    // that switching back finds them where they were; and in this one, the
    // line to hold in place while lines come and go around it.
    let positions = StoredValue::new(PerConversation::<Anchor>::default());
    let anchor = StoredValue::new(None::<Anchor>);
    // Where the list was scrolled to last: only a move up leaves the
    // bottom (lines arriving below are not the reader moving).
    let last_top = StoredValue::new(0);
    Effect::new(move |seen: Option<Seen>| {
        let now = Seen {
            first: lines.with(|l| l.first().map(|line| line.key.clone())),
            last: lines.with(|l| l.last().map(|line| line.key.clone())),
            conversation: state.with_untracked(|s| s.active.clone()),
            detached: detached.get(),
        };
        let Some(list) = list.get() else {
            return now;
        };
        let change = match &seen {
            Some(seen) if seen.conversation == now.conversation => {
                if seen.detached || now.detached {
                    Change::Moved(anchor.get_value())
                } else if seen.last != now.last {
                    Change::Newer
                } else if seen.first != now.first {
                    Change::Moved(anchor.get_value())
                } else {
                    Change::None
                }
            }
            // Places are read now: a scroll event may come before the frame.
            _ => Change::Opened(
                now.conversation
                    .as_ref()
                    .and_then(|c| positions.with_value(|p| p.get(c).cloned())),
            ),
        };
        request_animation_frame(move || {
            let held = match change {
                Change::Opened(saved) => saved.is_some_and(|saved| saved.restore(&list)),
                Change::Newer if at_bottom.get_untracked() => false,
                Change::Newer => {
                    unseen.set(true);
                    return;
                }
                Change::Moved(held) => held.is_some_and(|held| held.restore(&list)),
                Change::None => return,
            };
            if !held {
                list.set_scroll_top(list.scroll_height());
                unseen.set(false);
            }
            last_top.set_value(list.scroll_top());
            at_bottom.set(near_bottom(&list) && !detached.get_untracked());
        });
        now
    });
    Effect::new(move |_| {
        lines.track();
        let Some(seq) = focused() else {
            return;
        };
        if scrolled_to.get_value() == Some(seq) {
            return;
        }
        request_animation_frame(move || {
            let found = list
                .get_untracked()
                .and_then(|list| list.query_selector(&format!("[data-key=\"{seq}.0\"]")).ok())
                .flatten();
            if let Some(line) = found {
                line.scroll_into_view_with_bool(false);
                scrolled_to.set_value(Some(seq));
            }
        });
    });
    let on_scroll = move |_| {
        let Some(list) = list.get_untracked() else {
            return;
        };
        let Some(conversation) = active() else {
            return;
        };
        let top = list.scroll_top();
        let bottom = near_bottom(&list);
        let up = top < last_top.get_value();
        last_top.set_value(top);
        let stays = bottom || (!up && at_bottom.get_untracked());
        at_bottom.set(stays && !detached.get_untracked());
        let here = Anchor::of(&list);
        anchor.set_value(here.clone());
        positions.update_value(|p| {
            p.set(&conversation, here.filter(|_| !at_bottom.get_untracked()));
        });
        if bottom {
            unseen.set(false);
            client.load_newer(conversation.clone());
        }
        if list.scroll_top() < NEAR_PX {
            client.load_older(conversation);
        }
    };
    let jump = move |_| {
        if let Some(conversation) = active() {
            client.jump_to_latest(conversation);
        }
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
        <Show when=move || unseen.get() || detached.get()>
            <button type="button" class="new-messages" on:click=jump>
                {move || if detached.get() { "Jump to latest ↓" } else { "New messages ↓" }}
            </button>
        </Show>
        // Keys are unique within a conversation only: the conversation is
        // part of them, or another's lines would be kept on a switch.
        // The scrolling log holds a list (a log role on the list itself
        // would hide its items' list semantics).
        <div
            class="lines"
            tabindex="0"
            role="log"
            aria-live="polite"
            aria-label="Messages"
            node_ref=list
            on:scroll=on_scroll
        >
            <ol class="line-list">
            <For
                each=move || lines.get()
                key=move |line| {
                    (active(), line.key.clone(), line_state(&line.kind), line.continued)
                }
                let:line
            >
                {match line.kind {
                    LineKind::Message { from, name, text, delivery, ts, seq, extras } => {
                        let mine = from.is_some() && from == me();
                        let shown = if mine { format!("{name} (you)") } else { name.to_string() };
                        let id = line.key.strip_prefix("p.").and_then(|id| ClientId::parse(id).ok());
                        let mentioned = names_me(&extras, me());
                        let deleted = extras.deleted;
                        let actions = seq
                            .filter(|_| !deleted)
                            .map(|seq| view! { <MessageActions seq mine from text=text.clone() /> });
                        let pressable = seq.is_some() && !deleted;
                        let message = view! {
                            <li
                                data-key=line.key.clone()
                                class="line message"
                                class:mine=mine
                                class:mentioned=mentioned
                                class:continued=line.continued
                                class:focused=move || seq.is_some() && focused() == seq
                                on:pointerdown=move |event| {
                                    if pressable {
                                        press.down(&event);
                                    }
                                }
                                on:pointerup=move |_| press.cancel()
                                on:pointercancel=move |_| press.cancel()
                                on:contextmenu=move |event| press.context_menu(&event)
                                on:touchend=move |event| press.lifted(&event)
                                data-delivery=delivery.key()
                            >
                                <span class="meta">
                                    <span class="from">{shown}</span>
                                    <MessageTime ts />
                                </span>
                                <MessageBody text extras seq />
                                <DeliveryMark delivery id />
                                {actions}
                            </li>
                        };
                        Either::Left(message)
                    }
                    LineKind::Joined(user) | LineKind::Left(user) => {
                        let what = if matches!(line.kind, LineKind::Joined(_)) { "joined" } else { "left" };
                        Either::Right(view! {
                            <li data-key=line.key.clone() class="line system">
                                {format!("{} {what}", name_of(user))}
                            </li>
                        })
                    }
                }}
            </For>
            </ol>
        </div>
    }
}

/// The server's time of a message, in the reader's locale and time zone
/// (hours and minutes; the full date and time on hover).
#[component]
pub(super) fn MessageTime(ts: Option<i64>) -> impl IntoView {
    let (short, full, iso) = ts.map(clock).unwrap_or_default();
    view! {
        <time class="time" datetime=iso title=full>
            {short}
        </time>
    }
}

#[cfg(feature = "hydrate")]
pub(super) fn clock(ts: i64) -> (String, String, String) {
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
pub(super) fn clock(_ts: i64) -> (String, String, String) {
    Default::default()
}

/// Part of a line's key, so that a change of delivery, or a change to the
/// message (its `rev`), re-renders the line.
fn line_state(kind: &LineKind) -> (&'static str, Option<u64>) {
    match kind {
        LineKind::Message {
            delivery, extras, ..
        } => (delivery.key(), extras.rev),
        _ => ("event", None),
    }
}

/// Nothing for a stored message; "Sending…" while pending; "Not sent" and a
/// Retry button once refused.
#[component]
fn DeliveryMark(delivery: Delivery, id: Option<ClientId>) -> impl IntoView {
    let client = expect_context::<ChatClient>();
    match (delivery, id) {
        (Delivery::Pending, _) => EitherOf3::A(view! { <span class="delivery">"Sending…"</span> }),
        (Delivery::Failed, Some(id)) => EitherOf3::B(view! {
            <span class="delivery failed">"Not sent"</span>
            <button type="button" class="retry" on:click=move |_| client.retry(id.clone())>
                "Retry"
            </button>
        }),
        _ => EitherOf3::C(()),
    }
}

/// The first line in the scrolling log (in its one list).
fn first_line(log: &web_sys::HtmlElement) -> Option<web_sys::Element> {
    log.first_element_child()?.first_element_child()
}

/// Pixels from an end of the message list that count as at that end.
const NEAR_PX: i32 = 40;

fn near_bottom(list: &web_sys::HtmlElement) -> bool {
    list.scroll_top() + list.client_height() >= list.scroll_height() - NEAR_PX
}

/// The message list as last seen by its scroll effect.
#[derive(Clone, PartialEq)]
struct Seen {
    first: Option<String>,
    last: Option<String>,
    conversation: Option<Conversation>,
    /// Its lines stopped short of the end.
    detached: bool,
}

/// What changed in the message list since the last look.
#[derive(Clone)]
enum Change {
    /// Another conversation (or the first render): back where the reader
    /// was in it, or at the bottom.
    Opened(Option<Anchor>),
    /// Something new at the end.
    Newer,
    /// Lines came or went above or below: the one the reader was looking at
    /// stays where it was.
    Moved(Option<Anchor>),
    None,
}

/// A place in the message list: the first line in view, and how far its
/// top is below the top of the view (negative: partly scrolled past).
#[derive(Clone, Debug, PartialEq)]
struct Anchor {
    key: String,
    offset: i32,
}

impl Anchor {
    /// Where the list is scrolled to now.
    fn of(list: &web_sys::HtmlElement) -> Option<Anchor> {
        let top = list.scroll_top();
        let mut child = first_line(list);
        while let Some(element) = child {
            let line: &web_sys::HtmlElement = element.unchecked_ref();
            if line.offset_top() + line.offset_height() > top {
                return Some(Anchor {
                    key: element.get_attribute("data-key")?,
                    offset: line.offset_top() - top,
                });
            }
            child = element.next_element_sibling();
        }
        None
    }

    /// Scrolls the list so the line is where it was; false if it is gone.
    fn restore(&self, list: &web_sys::HtmlElement) -> bool {
        let mut child = first_line(list);
        while let Some(element) = child {
            if element.get_attribute("data-key").as_deref() == Some(self.key.as_str()) {
                let line: &web_sys::HtmlElement = element.unchecked_ref();
                list.set_scroll_top(line.offset_top() - self.offset);
                return true;
            }
            child = element.next_element_sibling();
        }
        false
    }
}

/// "Ana is typing…" under the messages of the open room; empty (but kept,
/// so nothing jumps) when nobody is. While the server asks the user to wait
/// (a rate limit), it says so instead.
#[component]
fn TypingLine() -> impl IntoView {
    let client = expect_context::<ChatClient>();
    let (state, clock) = (client.state, client.clock);
    let label = move || {
        state.with(|s| match &s.active {
            _ if s.slow_until.is_some() => {
                Some("Slow down: your messages go out in a moment".to_owned())
            }
            Some(Conversation::Room(room)) => s.typing_label(room, clock.get()),
            _ => None,
        })
    };
    view! { <p class="typing" aria-live="polite">{label}</p> }
}

/// Over the composer while the user is muted in the open room: until when,
/// and that what they write is not sent. Gone when the mute ends or is
/// lifted.
#[component]
fn MutedBanner() -> impl IntoView {
    let client = expect_context::<ChatClient>();
    let (state, clock_ms) = (client.state, client.clock);
    let words = move || {
        let now = clock_ms.get();
        state.with(|s| match &s.active {
            Some(Conversation::Room(room)) => s.muted_in(room, now).map(|until| {
                let until = match until {
                    Some(ms) => format!("until {}", clock(ms).1),
                    None => "until a moderator lifts it".to_owned(),
                };
                format!("You are muted in this room {until}: you can read, but what you write is not sent.")
            }),
            _ => None,
        })
    };
    view! {
        <div class="muted-region" aria-live="polite">
            {move || words().map(|words| view! { <p class="muted-banner">{words}</p> })}
        </div>
    }
}

/// Something kept for each conversation (a scroll place, a draft): a list,
/// as there are a few dozen conversations at most, and a map per kind of
/// value would bring the browser bundle code of its own.
pub(super) struct PerConversation<T>(Vec<(Conversation, T)>);

impl<T> Default for PerConversation<T> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<T> PerConversation<T> {
    pub(super) fn get(&self, conversation: &Conversation) -> Option<&T> {
        let (_, value) = self.0.iter().find(|(c, _)| c == conversation)?;
        Some(value)
    }

    /// Keeps `value` for `conversation`, or forgets it with `None`.
    pub(super) fn set(&mut self, conversation: &Conversation, value: Option<T>) {
        self.0.retain(|(c, _)| c != conversation);
        if let Some(value) = value {
            self.0.push((conversation.clone(), value));
        }
    }
}

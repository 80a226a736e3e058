//! One message's parts beyond its sender and time: the quote of the message
//! it answers, its text (or the placeholder of a deleted one) with
//! "(edited)", its reactions, and its action bar (reply, react, edit,
//! delete). Everything is a button or a list: usable by mouse, keyboard
//! and screen reader alike. The bar shows on hover or focus; on a touch
//! screen, which has no hover, a long press focuses it ([`LongPress`]),
//! and until then it is out of sight there but in reach of a screen reader.

use std::time::Duration;

use leptos::either::{Either, EitherOf4};
use leptos::ev::PointerEvent;
use leptos::prelude::*;
use leptos::wasm_bindgen::JsCast;
use leptos::web_sys;

use super::composer::Composing;
use super::socket::ChatClient;
use super::state::Conversation;
use super::text::{Segment, link_target, segments};
use crate::markup::{FlatKind, Run, flat};
use crate::protocol::{Emoji, Extras, MessageContent, UserId};

/// The emoji the React menu offers.
const QUICK: [&str; 6] = ["👍", "❤️", "😂", "🎉", "😮", "👀"];

/// A stored message's body: what it answers, its text, when edited, and
/// its reactions; for a deleted one a placeholder.
#[component]
pub fn MessageBody(text: MessageContent, extras: Extras, seq: Option<u64>) -> impl IntoView {
    if extras.deleted {
        return Either::Left(view! { <span class="text deleted">"Message deleted"</span> });
    }
    let reply = extras
        .reply_to
        .map(|target| view! { <ReplyQuote target seq /> });
    let edited = extras.edited.map(|ts| {
        view! { <small class="edited" title=edited_title(ts)>"(edited)"</small> }
    });
    let reactions = seq
        .filter(|_| !extras.reactions.is_empty())
        .map(|seq| view! { <Reactions seq extras=extras.clone() /> });
    Either::Right(view! {
        {reply}
        <div class="text">{rich(text.as_str())} {edited}</div>
        {reactions}
    })
}

/// "↪ Ana: the first line", a button that brings the original into view
/// (loading it if it is not on the page). `seq` is the reply's own.
#[component]
fn ReplyQuote(target: u64, seq: Option<u64>) -> impl IntoView {
    let client = expect_context::<ChatClient>();
    let state = client.state;
    let quote = move || {
        state.with(|s| {
            let conversation = s.active.as_ref()?;
            s.quote(conversation, target, seq)
        })
    };
    let label = move || match quote() {
        Some(quote) if quote.deleted => format!("{}: message deleted", quote.name),
        Some(quote) => format!("{}: {}", quote.name, quote.text),
        None => "an earlier message".to_owned(),
    };
    let jump = move |_| {
        if let Some(conversation) = state.with_untracked(|s| s.active.clone()) {
            client.jump_to(conversation, target);
        }
    };
    view! {
        <button type="button" class="reply-quote" on:click=jump>
            <span class="visually-hidden">"In reply to "</span>
            <span aria-hidden="true">"↪ "</span>
            {label}
        </button>
    }
}

/// Each emoji with its count: pressed if the user's is among them, the
/// names of who reacted on hover and focus. A press takes the user's off
/// or puts it on.
#[component]
fn Reactions(seq: u64, extras: Extras) -> impl IntoView {
    let client = expect_context::<ChatClient>();
    let state = client.state;
    let me = state.with_untracked(|s| s.me);
    let items = extras
        .reactions
        .into_iter()
        .map(|reaction| {
            let mine = me.is_some_and(|me| reaction.users.contains(&me));
            let who = names(state.with_untracked(|s| {
                reaction
                    .users
                    .iter()
                    .map(|user| who_reacted(s.name_of(*user).to_string(), Some(*user) == me))
                    .collect::<Vec<_>>()
            }));
            let count = reaction.users.len();
            let emoji = reaction.emoji;
            let label = format!("{} {count}: {who}", emoji.as_str());
            let toggle = {
                let emoji = emoji.clone();
                move |_| react(client, seq, emoji.clone())
            };
            view! {
                <li>
                    <button
                        type="button"
                        class="reaction"
                        class:mine=mine
                        aria-pressed=if mine { "true" } else { "false" }
                        aria-label=label
                        on:click=toggle
                    >
                        {emoji.as_str().to_owned()}
                        " "
                        {count}
                        <span class="who" aria-hidden="true">{who}</span>
                    </button>
                </li>
            }
        })
        .collect_view();
    view! { <ul class="reactions" aria-label="Reactions">{items}</ul> }
}

fn who_reacted(name: String, me: bool) -> String {
    if me { format!("{name} (you)") } else { name }
}

/// "Ana, Ben and Carl".
fn names(mut names: Vec<String>) -> String {
    match names.len() {
        0 => String::new(),
        1 => names.remove(0),
        _ => {
            let last = names.pop().unwrap_or_default();
            format!("{} and {last}", names.join(", "))
        }
    }
}

fn react(client: ChatClient, seq: u64, emoji: Emoji) {
    if let Some(conversation) = client.state.with_untracked(|s| s.active.clone()) {
        client.act(|s| s.react(&conversation, seq, emoji));
    }
}

/// How long a finger rests on a message to open its action bar.
const LONG_PRESS: Duration = Duration::from_millis(450);

/// A long press on a message, with a finger or a pen, opens its action
/// bar: the bar's first button takes focus, which shows the bar (as any
/// focus in the message does) and tells a screen reader where the user is;
/// it closes when focus leaves. Lifting the finger first, or scrolling
/// (the browser then cancels the pointer), is no long press; lifting it
/// after one is no tap. A mouse has hover and right-click for itself: it
/// is left alone.
#[derive(Clone, Copy)]
pub struct LongPress {
    timer: StoredValue<Option<TimeoutHandle>>,
    /// A long press opened a bar, and the finger is still down.
    opened: StoredValue<bool>,
}

impl LongPress {
    pub fn new() -> Self {
        Self {
            timer: StoredValue::new(None),
            opened: StoredValue::new(false),
        }
    }

    /// A finger down on a message.
    pub fn down(self, event: &PointerEvent) {
        self.cancel();
        self.opened.set_value(false);
        if event.pointer_type() == "mouse" {
            return;
        }
        let line = event.current_target();
        let open = move || {
            self.timer.set_value(None);
            self.opened.set_value(true);
            open_actions(line);
        };
        self.timer
            .set_value(set_timeout_with_handle(open, LONG_PRESS).ok());
    }

    /// Lifted, or taken by the browser, before the time.
    pub fn cancel(self) {
        if let Some(timer) = self.timer.get_value() {
            timer.clear();
        }
        self.timer.set_value(None);
    }

    /// The browser's own long press (its context menu, on Android) during
    /// ours: the bar opens now, and the menu is not shown over it.
    pub fn context_menu(self, event: &leptos::ev::MouseEvent) {
        if self.timer.get_value().is_some() {
            event.prevent_default();
            self.cancel();
            self.opened.set_value(true);
            open_actions(event.current_target());
        }
    }

    /// The finger lifted after a long press: not a tap, whose click would
    /// take the focus from the bar again.
    pub fn lifted(self, event: &leptos::ev::TouchEvent) {
        if self.opened.get_value() {
            self.opened.set_value(false);
            event.prevent_default();
        }
    }
}

/// Focuses the first button of the action bar of the message `line`.
fn open_actions(line: Option<web_sys::EventTarget>) {
    let first = line
        .and_then(|line| line.dyn_into::<web_sys::Element>().ok())
        .and_then(|line| line.query_selector(".actions button").ok().flatten())
        .and_then(|button| button.dyn_into::<web_sys::HtmlElement>().ok());
    if let Some(first) = first {
        let _ = first.focus();
    }
}

/// Reply, React (a menu of emoji), for the user's own messages Edit, and
/// Delete (which asks again, in place) for their own and, in a room they
/// help run, for those of people who stand lower.
#[component]
pub fn MessageActions(
    seq: u64,
    mine: bool,
    from: Option<UserId>,
    text: MessageContent,
) -> impl IntoView {
    let client = expect_context::<ChatClient>();
    let composing = expect_context::<Composing>();
    let picking = RwSignal::new(false);
    let confirming = RwSignal::new(false);
    let reply = move |_| composing.reply_to(seq);
    let edit = move |_| composing.edit(seq, text.clone());
    let delete = move |_| {
        confirming.set(false);
        let conversation = client.state.with_untracked(|s| s.active.clone());
        if let Some(conversation) = conversation {
            client.act(|s| Some(s.delete(&conversation, seq)));
        }
    };
    let menu = move || {
        picking.get().then(|| {
            QUICK
                .iter()
                .filter_map(|emoji| Emoji::parse(*emoji).ok())
                .map(|emoji| {
                    let label = format!("React with {}", emoji.as_str());
                    let shown = emoji.as_str().to_owned();
                    let pick = move |_| {
                        picking.set(false);
                        react(client, seq, emoji.clone());
                    };
                    view! {
                        <button type="button" class="emoji" aria-label=label on:click=pick>
                            {shown}
                        </button>
                    }
                })
                .collect_view()
        })
    };
    let removable = move || {
        mine || client.state.with(|s| match (&s.active, from) {
            (Some(Conversation::Room(room)), Some(from)) => s.may_moderate(room, from),
            _ => false,
        })
    };
    let asking = move || {
        removable().then(|| {
            if confirming.get() {
                Either::Left(view! {
                    <span class="confirm">"Delete for everyone?"</span>
                    <button type="button" class="danger" on:click=delete>"Yes, delete"</button>
                    <button type="button" on:click=move |_| confirming.set(false)>"Keep"</button>
                })
            } else {
                Either::Right(view! {
                    <button type="button" on:click=move |_| confirming.set(true)>"Delete"</button>
                })
            }
        })
    };
    let own = mine.then(|| view! { <button type="button" on:click=edit>"Edit"</button> });
    view! {
        <div class="actions" role="group" aria-label="Message actions">
            <button type="button" on:click=reply>"Reply"</button>
            <button
                type="button"
                aria-expanded=move || if picking.get() { "true" } else { "false" }
                on:click=move |_| picking.update(|open| *open = !*open)
                on:keydown=move |event: leptos::ev::KeyboardEvent| {
                    if event.key() == "Escape" {
                        picking.set(false);
                    }
                }
            >
                "React"
            </button>
            <span class="emoji-menu" role="group" aria-label="Reactions to add">{menu}</span>
            {own}
            {asking}
        </div>
    }
}

/// "Edited at 14:03" in the reader's locale.
fn edited_title(ts: i64) -> String {
    format!("Edited {}", super::conversation::clock(ts).1)
}

/// A message's Markdown as elements (never HTML from the text): each
/// block a line of its own, quoted ones marked by their depth, code
/// blocks preformatted, and each run of text with its marks as classes.
fn rich(text: &str) -> impl IntoView + use<> {
    flat(text)
        .into_iter()
        .map(|block| match block.kind {
            FlatKind::Code(code) => Either::Left(view! {
                <pre class="md-code" data-depth=block.depth><code>{code}</code></pre>
            }),
            FlatKind::Text(runs) => Either::Right(view! {
                <span class="md-p" data-depth=block.depth>
                    {runs.into_iter().map(run).collect_view()}
                </span>
            }),
        })
        .collect_view()
}

/// One run: a link, inline code, or text (bare addresses in it linked).
fn run(run: Run) -> impl IntoView {
    let mut class = String::new();
    for (on, name) in [
        (run.bold, "md-b "),
        (run.italic, "md-i "),
        (run.strike, "md-s "),
    ] {
        if on {
            class.push_str(name);
        }
    }
    match (run.link, run.code) {
        (Some(url), _) => {
            // A label can claim to be any site: the host it leads to shows
            // beside it, as the real address of a bare link does.
            let href = link_target(&url);
            let host = href
                .split("://")
                .nth(1)
                .and_then(|rest| rest.split('/').next())
                .map(|host| format!(" ({host})"))
                .unwrap_or_default();
            EitherOf4::A(view! {
                <a class=class href=href target="_blank" rel="noopener noreferrer nofollow">
                    {run.text}
                </a>
                <span class="md-host">{host}</span>
            })
        }
        (None, true) => EitherOf4::B(view! { <code class=class>{run.text}</code> }),
        (None, false) if class.is_empty() => EitherOf4::C(linked(&run.text)),
        (None, false) => EitherOf4::D(view! { <span class=class>{linked(&run.text)}</span> }),
    }
}

/// Message text as text nodes, with `http(s)` links as anchors that open
/// in a new tab and pass nothing to the site they lead to. A link shows the
/// address it goes to (see [`link_target`]), left to right and isolated
/// from the text around it (by the style sheet: an attribute would cost the
/// bundle another copy of the view's code).
pub fn linked(text: &str) -> impl IntoView + use<> {
    segments(text)
        .into_iter()
        .map(|segment| match segment {
            Segment::Text(text) => Either::Left(text.to_owned()),
            Segment::Link(url) => {
                let href = link_target(url);
                let shown = href.clone();
                Either::Right(view! {
                    <a href=href target="_blank" rel="noopener noreferrer nofollow">
                        {shown}
                    </a>
                })
            }
        })
        .collect_view()
}

/// Whether `me` is among the users a message names.
pub fn names_me(extras: &Extras, me: Option<UserId>) -> bool {
    me.is_some_and(|me| extras.mentions.contains(&me))
}

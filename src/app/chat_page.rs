//! The chat screen: header with the connection status, the sidebar of rooms
//! and conversations, the active conversation, and the member list.

use leptos::prelude::*;

use super::conversation::ConversationPane;
use super::location::{Location, Page};
use super::members::MemberList;
use super::panels::{Panel, PanelToggle, Panels};
use super::search::SearchPanel;
use super::show_or;
use super::sidebar::Sidebar;
use super::socket::ChatClient;
use super::state::ConnectionStatus;
use crate::protocol::{ClientMessage, DisplayName, RoomName};

#[component]
pub fn ChatPage() -> impl IntoView {
    let client = ChatClient::start();
    let state = client.state;
    provide_context(client);

    let panels = Panels(RwSignal::new(None));
    provide_context(panels);
    // Opening a conversation closes the panel it was chosen in.
    let active = Memo::new(move |_| state.with(|s| s.active.clone()));
    Effect::new(move |_| {
        active.track();
        panels.close(false);
    });
    let on_keydown = move |event: leptos::ev::KeyboardEvent| {
        if event.key() == "Escape" && panels.0.get_untracked().is_some() {
            panels.close(true);
        }
    };
    let unread = Memo::new(move |_| state.with(|s| s.unread_total()));
    // The tab's title counts what is unread, for a tab in the background.
    Effect::new(move |_| {
        let title = match unread.get() {
            0 => "confab".to_owned(),
            n => format!("({n}) confab"),
        };
        document().set_title(&title);
    });

    let status = move || state.with(|s| s.status);
    view! {
        <div
            class="chat"
            class:idle=move || active.with(Option::is_none)
            data-panel=move || panels.open().map(Panel::key)
            on:keydown=on_keydown
        >
            <header class="topbar">
                <span class="brand">"confab"</span>
                <PanelToggle panel=Panel::Rooms label="Rooms".to_owned() unread=unread />
                <MyName />
                <AccountLink />

                <span class="status" role="status" data-status=move || status().key()>
                    <span class="status-label">{move || status().label()}</span>
                </span>
            </header>
            <ConnectionBanner />
            <Notices />
            <OpenRoom />
            <UseInvite />
            <Sidebar />
            <ConversationPane />
            <SearchPanel />
            <MemberList />
        </div>
    }
}

/// `/r/<room>`: opens that room, joining it first if need be. Renders
/// nothing; runs when the path changes (a link, back and forward) and once
/// the saved state is restored, so a deep link on a fresh page works too.
#[component]
fn OpenRoom() -> impl IntoView {
    let client = expect_context::<ChatClient>();
    let state = client.state;
    let location = expect_context::<Location>();
    let named = Memo::new(move |_| match location.page() {
        Page::Chat { room } => room,
        Page::Invite(_) | Page::Account(_) | Page::NotFound => None,
    });
    let restored = Memo::new(move |_| state.with(|s| s.restored));
    // Acts once per path: the effect may run again for the same one (the
    // route being torn down after a leave), which must not join again.
    Effect::new(move |done: Option<Option<String>>| {
        let name = named.get();
        if !restored.get() {
            return None;
        }
        if done.as_ref() == Some(&name) {
            return name;
        }
        match name.as_deref().map(RoomName::parse) {
            Some(Ok(room)) => client.act(|s| s.open_room(room)),
            Some(Err(error)) => state.update(|s| s.notify(error.to_string())),
            None => {}
        }
        name
    });
}

/// `/i/<code>`: uses the invite once the server knows this browser's user
/// (after `welcome`: a first visit has no token before), then opens its
/// room; if it cannot be used, says why and shows the chat page.
#[component]
fn UseInvite() -> impl IntoView {
    let state = expect_context::<ChatClient>().state;
    let location = expect_context::<Location>();
    let code = Memo::new(move |_| match location.page() {
        Page::Invite(code) => Some(code),
        _ => None,
    });
    let connected = Memo::new(move |_| state.with(|s| s.status == ConnectionStatus::Connected));
    let used = StoredValue::new(None::<String>);
    Effect::new(move || {
        let Some(code) = code.get().filter(|_| connected.get()) else {
            return;
        };
        if used.get_value().as_ref() == Some(&code) {
            return;
        }
        used.set_value(Some(code.clone()));
        #[cfg(feature = "hydrate")]
        leptos::task::spawn_local(async move {
            match super::api::accept_invite(&code).await {
                Ok(room) => location.navigate(&super::location::room_path(&room), true),
                Err(text) => {
                    state.update(|s| s.notify(text));
                    location.navigate("/", true);
                }
            }
        });
    });
}

/// The user's display name, and a small form to change it.
#[component]
fn MyName() -> impl IntoView {
    let client = expect_context::<ChatClient>();
    let state = client.state;
    let editing = RwSignal::new(false);
    let draft = RwSignal::new(String::new());
    let name = move || state.with(|s| s.me.map(|_| s.my_name().to_string()).unwrap_or_default());
    let start = move |_| {
        draft.set(name());
        editing.set(true);
    };
    let save = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        match DisplayName::parse_new(draft.get_untracked()) {
            Ok(name) => {
                client.send(ClientMessage::SetName { name });
                editing.set(false);
            }
            Err(error) => state.update(|s| s.notify(error.to_string())),
        }
    };
    // Focus goes into the form when it opens, and back to the name when it
    // closes.
    let input = NodeRef::<leptos::html::Input>::new();
    let button = NodeRef::<leptos::html::Button>::new();
    Effect::new(move |was: Option<bool>| {
        let now = editing.get();
        if was.is_some_and(|was| was != now) {
            request_animation_frame(move || {
                if let Some(input) = input.get_untracked().filter(|_| now) {
                    let _ = input.focus();
                    input.select();
                } else if let Some(button) = button.get_untracked() {
                    let _ = button.focus();
                }
            });
        }
        now
    });
    let on_keydown = move |event: leptos::ev::KeyboardEvent| {
        if event.key() == "Escape" {
            event.stop_propagation();
            editing.set(false);
        }
    };
    show_or(
        move || editing.get(),
        move || {
            view! {
                <form class="name-form" on:submit=save on:keydown=on_keydown>
                    <label for="name-input" class="visually-hidden">
                        "Display name"
                    </label>
                    <input
                        id="name-input"
                        node_ref=input
                        type="text"
                        maxlength=DisplayName::MAX_CHARS
                        autocomplete="nickname"
                        bind:value=draft
                    />
                    <button type="submit">"Save"</button>
                </form>
            }
        },
        move || {
            view! {
                <button
                    type="button"
                    class="me"
                    node_ref=button
                    title="Change your display name"
                    aria-label=move || format!("Your name: {}. Change it", name())
                    on:click=start
                >
                    {name}
                </button>
            }
        },
    )
}

/// Who is signed in, linking to the account page; for a guest, sign in.
#[component]
fn AccountLink() -> impl IntoView {
    let state = expect_context::<ChatClient>().state;
    let username = Memo::new(move |_| state.with(|s| s.username.clone()));
    show_or(
        move || username.with(Option::is_some),
        move || {
            view! {
                <a class="account-link" href="/account" aria-label=move || {
                    format!("Account: {}", username.get().unwrap_or_default())
                }>{move || format!("@{}", username.get().unwrap_or_default())}</a>
            }
        },
        || {
            view! {
                <a class="account-link" href="/sign-in">
                    "Sign in"
                </a>
            }
        },
    )
}

/// While a lost connection is being re-established: says so, and that
/// nothing written meanwhile is lost; or that the user is banned from the
/// server, and the chat no longer connects. The live region is always there, so
/// screen readers announce the change.
#[component]
fn ConnectionBanner() -> impl IntoView {
    let state = expect_context::<ChatClient>().state;
    let reconnecting = move || state.with(|s| s.reconnecting());
    let banned = move || state.with(|s| s.banned.clone());
    view! {
        <div class="banner-region" aria-live="polite">
            <Show when=reconnecting>
                <p class="banner">
                    "Connection lost. Reconnecting… Messages you write are kept and sent when it is back."
                </p>
            </Show>
            {move || banned().map(|words| view! {
                <p class="banner banned">
                    {format!("You cannot chat here: {words}. Reload the page once the ban is over.")}
                </p>
            })}
        </div>
    }
}

/// Server errors, shown briefly in place and dismissed by the user.
#[component]
fn Notices() -> impl IntoView {
    let state = expect_context::<ChatClient>().state;
    view! {
        <div class="notices" aria-live="assertive">
            <For each=move || state.with(|s| s.notices.clone()) key=|notice| notice.id let:notice>
                <p class="notice">
                    <span>{notice.text}</span>
                    <button
                        type="button"
                        class="dismiss"
                        aria-label="Dismiss"
                        on:click=move |_| state.update(|s| s.dismiss(notice.id))
                    >
                        "×"
                    </button>
                </p>
            </For>
        </div>
    }
}

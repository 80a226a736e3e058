//! The chat screen: header with the connection status, the sidebar of rooms
//! and conversations, the active conversation, and the member list.

use leptos::prelude::*;

use super::conversation::ConversationPane;
use super::members::MemberList;
use super::sidebar::Sidebar;
use leptos_router::{components::Outlet, hooks::use_params_map};

use super::socket::ChatClient;
use crate::protocol::{ClientMessage, DisplayName, RoomName};

#[component]
pub fn ChatPage() -> impl IntoView {
    let client = ChatClient::start();
    let state = client.state;
    provide_context(client);

    let status = move || state.with(|s| s.status);
    view! {
        <div class="chat">
            <header class="topbar">
                <span class="brand">"confab"</span>
                <MyName />
                <span class="status" role="status" data-status=move || status().key()>
                    {move || status().label()}
                </span>
            </header>
            <ConnectionBanner />
            <Notices />
            <Outlet />
            <Sidebar />
            <ConversationPane />
            <MemberList />
        </div>
    }
}

/// `/r/<room>`: opens that room, joining it first if need be. Renders
/// nothing; runs when the path changes (a link, back and forward) and once
/// the saved state is restored, so a deep link on a fresh page works too.
#[component]
pub fn OpenRoom() -> impl IntoView {
    let client = expect_context::<ChatClient>();
    let state = client.state;
    let params = use_params_map();
    let restored = Memo::new(move |_| state.with(|s| s.restored));
    // Acts once per path: the effect may run again for the same one (the
    // route being torn down after a leave), which must not join again.
    Effect::new(move |done: Option<Option<String>>| {
        let name = params.read().get("room");
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
        match DisplayName::parse(draft.get_untracked()) {
            Ok(name) => {
                client.send(ClientMessage::SetName { name });
                editing.set(false);
            }
            Err(error) => state.update(|s| s.notify(error.to_string())),
        }
    };
    let on_keydown = move |event: leptos::ev::KeyboardEvent| {
        if event.key() == "Escape" {
            editing.set(false);
        }
    };
    view! {
        <Show
            when=move || editing.get()
            fallback=move || {
                view! {
                    <button
                        type="button"
                        class="me"
                        title="Change your display name"
                        aria-label=move || format!("Your name: {}. Change it", name())
                        on:click=start
                    >
                        {name}
                    </button>
                }
            }
        >
            <form class="name-form" on:submit=save on:keydown=on_keydown>
                <label for="name-input" class="visually-hidden">
                    "Display name"
                </label>
                <input
                    id="name-input"
                    type="text"
                    maxlength=DisplayName::MAX_CHARS
                    autocomplete="nickname"
                    bind:value=draft
                />
                <button type="submit">"Save"</button>
            </form>
        </Show>
    }
}

/// While a lost connection is being re-established: says so, and that
/// nothing written meanwhile is lost. The live region is always there, so
/// screen readers announce the change.
#[component]
fn ConnectionBanner() -> impl IntoView {
    let state = expect_context::<ChatClient>().state;
    let reconnecting = move || state.with(|s| s.reconnecting());
    view! {
        <div class="banner-region" aria-live="polite">
            <Show when=reconnecting>
                <p class="banner">
                    "Connection lost. Reconnecting… Messages you write are kept and sent when it is back."
                </p>
            </Show>
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

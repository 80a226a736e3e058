//! The chat screen: header with the connection status, the sidebar of rooms
//! and conversations, the active conversation, and the member list.

use leptos::prelude::*;

use super::conversation::ConversationPane;
use super::members::MemberList;
use super::sidebar::Sidebar;
use super::socket::ChatClient;

#[component]
pub fn ChatPage() -> impl IntoView {
    let client = ChatClient::start();
    let state = client.state;
    provide_context(client);

    let status = move || state.with(|s| s.status);
    let me = move || state.with(|s| s.me.map(|id| id.guest_name()).unwrap_or_default());
    view! {
        <div class="chat">
            <header class="topbar">
                <span class="brand">"confab"</span>
                <span class="me" title="Your name in this session">{me}</span>
                <span class="status" role="status" data-status=move || status().key()>
                    {move || status().label()}
                </span>
            </header>
            <Notices />
            <Sidebar />
            <ConversationPane />
            <MemberList />
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

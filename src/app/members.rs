//! The members of the active room, each with a button to start a direct
//! conversation with them.

use leptos::prelude::*;

use super::socket::ChatClient;
use super::state::Conversation;

#[component]
pub fn MemberList() -> impl IntoView {
    let state = expect_context::<ChatClient>().state;
    let members = move || {
        state.with(|s| match &s.active {
            Some(Conversation::Room(room)) => s
                .room(room)
                .map(|view| view.members.iter().copied().collect::<Vec<_>>())
                .unwrap_or_default(),
            _ => Vec::new(),
        })
    };
    let me = move || state.with(|s| s.me);

    view! {
        <aside class="members" aria-label="Members">
            <h2>"Members"</h2>
            <ul class="member-list">
                <For each=members key=|id| *id let:id>
                    <li class="member">
                        <span class="member-name">{id.guest_name()}</span>
                        <Show
                            when=move || me() != Some(id)
                            fallback=|| view! { <span class="you">"you"</span> }
                        >
                            <button
                                type="button"
                                class="dm"
                                aria-label=format!("Direct message {}", id.guest_name())
                                on:click=move |_| state.update(|s| s.open_direct(id))
                            >
                                "Message"
                            </button>
                        </Show>
                    </li>
                </For>
            </ul>
        </aside>
    }
}

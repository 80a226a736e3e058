//! The members of the active room, each with a button to start a direct
//! conversation with them.

use leptos::prelude::*;

use super::socket::ChatClient;
use super::state::Conversation;

#[component]
pub fn MemberList() -> AnyView {
    let client = expect_context::<ChatClient>();
    let state = client.state;
    let name_of = move |id| state.with(|s| s.name_of(id).to_string());
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
                        <span class="member-name">{move || name_of(id)}</span>
                        <Show
                            when=move || me() != Some(id)
                            fallback=|| view! { <span class="you">"you"</span> }
                        >
                            <button
                                type="button"
                                class="dm"
                                aria-label=move || format!("Direct message {}", name_of(id))
                                on:click=move |_| client.open_direct(id)
                            >
                                "Message"
                            </button>
                        </Show>
                    </li>
                </For>
            </ul>
        </aside>
    }
    .into_any()
}

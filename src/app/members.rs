//! The members of the active room, each with a button to start a direct
//! conversation with them and, for those who may, one to moderate them.

use std::cmp::Ordering;

use leptos::prelude::*;

use super::moderation::ModerateMember;
use super::panels::{Panel, PanelClose};
use super::show_or;
use super::socket::ChatClient;
use super::state::Conversation;

#[component]
pub fn MemberList() -> impl IntoView {
    let client = expect_context::<ChatClient>();
    let state = client.state;
    let name_of = move |id| state.with(|s| s.name_of(id).to_string());
    // By name, so the list stays put as people come and go.
    let members = move || {
        state.with(|s| match &s.active {
            Some(Conversation::Room(room)) => {
                let mut members: Vec<_> = s
                    .room(room)
                    .map(|view| view.members.iter().copied().collect())
                    .unwrap_or_default();
                members.sort_by(|a, b| {
                    by_name(s.name_of(*a).as_str(), s.name_of(*b).as_str()).then(a.cmp(b))
                });
                members
            }
            _ => Vec::new(),
        })
    };
    let in_room = move || state.with(|s| matches!(s.active, Some(Conversation::Room(_))));
    // The open room, if the user may moderate `user` in it.
    let moderated_by_me = move |user| {
        state.with(|s| match &s.active {
            Some(Conversation::Room(room)) if s.may_moderate(room, user) => Some(room.clone()),
            _ => None,
        })
    };
    let me = move || state.with(|s| s.me);

    view! {
        <aside class="members" id="members-panel" tabindex="-1" aria-label="Members">
            <PanelClose panel=Panel::Members />
            <h2>"Members"</h2>
            <Show when=move || !in_room()>
                <p class="hint">"Open a room to see who is in it."</p>
            </Show>
            <ul class="member-list">
                <For each=members key=|id| *id let:id>
                    <li class="member">
                        <span class="member-name">{move || name_of(id)}</span>
                        {show_or(
                            move || me() != Some(id),
                            move || view! {
                                <button
                                    type="button"
                                    class="dm"
                                    aria-label=move || format!("Direct message {}", name_of(id))
                                    on:click=move |_| client.open_direct(id)
                                >
                                    "Message"
                                </button>
                            },
                            || view! { <span class="you">"you"</span> },
                        )}
                        {move || moderated_by_me(id).map(|room| {
                            let name = Signal::derive(move || name_of(id));
                            view! { <ModerateMember room user=id name /> }
                        })}
                    </li>
                </For>
            </ul>
        </aside>
    }
}

/// Display names in the reader's own alphabetical order: the browser's
/// collation (`localeCompare`), which also puts "émile" beside "Emile".
/// The server only ever renders the list empty, so it needs no order.
fn by_name(a: &str, b: &str) -> Ordering {
    #[cfg(feature = "hydrate")]
    {
        let locale = js_sys::JsString::from(a).locale_compare(
            b,
            &js_sys::Array::new(),
            &js_sys::Object::new(),
        );
        locale.cmp(&0)
    }
    #[cfg(not(feature = "hydrate"))]
    a.cmp(b)
}

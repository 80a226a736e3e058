//! The sidebar: the form to join a room by name, the joined rooms and the
//! direct conversations, each a button that opens it.

use leptos::prelude::*;

use super::location::{Location, room_path};
use super::panels::{Panel, PanelClose, Panels};
use super::search::SearchBox;
use super::socket::ChatClient;
use super::state::Conversation;
use crate::protocol::RoomName;

#[component]
pub fn Sidebar() -> impl IntoView {
    let client = expect_context::<ChatClient>();
    let state = client.state;
    let room_input = RwSignal::new(String::new());
    let alerts_on = Memo::new(move |_| state.with(|s| s.alerts_on));
    let panels = expect_context::<Panels>();
    let location = expect_context::<Location>();

    let join = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        match RoomName::parse(room_input.get_untracked().trim()) {
            Ok(room) => {
                // Joined here (the path may be this room's already, after a
                // leave), and the path follows, for back and forward.
                let path = room_path(&room);
                panels.close(false);
                client.act(|s| s.open_room(room));
                location.navigate(&path, false);
                room_input.set(String::new());
            }
            Err(error) => state.update(|s| s.notify(error.to_string())),
        }
    };
    let rooms = move || state.with(|s| s.rooms.iter().map(|r| r.name.clone()).collect::<Vec<_>>());
    let directs = move || state.with(|s| s.directs.iter().map(|d| d.peer).collect::<Vec<_>>());
    let name_of = move |peer| state.with(|s| s.name_of(peer).to_string());
    let is_active =
        move |conversation: &Conversation| state.with(|s| s.active.as_ref() == Some(conversation));

    view! {
        <nav class="sidebar" id="rooms-panel" aria-label="Rooms and conversations">
            <SearchBox />
            <button
                type="button"
                class="alerts-toggle"
                aria-pressed=move || if alerts_on.get() { "true" } else { "false" }
                on:click=move |_| client.set_alerts(!alerts_on.get_untracked())
            >
                "Browser notifications"
            </button>
            <form class="join-form" on:submit=join>
                <label for="room-name">"Join a room"</label>
                <div class="join-row">
                    <input
                        id="room-name"
                        type="text"
                        placeholder="general"
                        autocomplete="off"
                        maxlength=RoomName::MAX_CHARS
                        bind:value=room_input
                    />
                    <button type="submit">"Join"</button>
                </div>
            </form>
            <Lobby />
            <PanelClose panel=Panel::Rooms />
            <h2>"Rooms"</h2>
            <Show when=move || state.with(|s| s.rooms.is_empty())>
                <p class="hint">"None yet: join one by name, or pick one above."</p>
            </Show>
            <ul class="room-list">
                <For each=rooms key=|room| room.clone() let:room>
                    {
                        let conversation = Conversation::Room(room.clone());
                        let target = room.clone();
                        let badge = conversation.clone();
                        view! {
                            <li>
                                <button
                                    type="button"
                                    class="conversation-link"
                                    class:active=move || is_active(&conversation)
                                    on:click=move |_| {
                                        panels.close(false);
                                        // Opened here too: with a direct
                                        // conversation shown (it has no path
                                        // of its own) the path may already
                                        // be this room's, and would not change.
                                        let room = target.clone();
                                        client.act(|s| s.open_room(room));
                                        location.navigate(&room_path(&target), false);
                                    }
                                >
                                    "#"
                                    {room.to_string()}
                                </button>
                                <UnreadBadge conversation=badge label=format!("#{room}") />
                            </li>
                        }
                    }
                </For>
            </ul>
            <h2>"Direct messages"</h2>
            <Show when=move || state.with(|s| s.directs.is_empty())>
                <p class="hint">"None yet: start one from a member's name."</p>
            </Show>
            <ul class="direct-list">
                <For each=directs key=|peer| *peer let:peer>
                    {
                        let conversation = Conversation::Direct(peer);
                        view! {
                            <li>
                                <button
                                    type="button"
                                    class="conversation-link"
                                    class:active=move || is_active(&conversation)
                                    on:click=move |_| {
                                        panels.close(false);
                                        client.open_direct(peer)
                                    }
                                >
                                    {move || name_of(peer)}
                                </button>
                                <UnreadBadge
                                    conversation=Conversation::Direct(peer)
                                    label=name_of(peer)
                                />
                            </li>
                        }
                    }
                </For>
            </ul>
        </nav>
    }
}

/// How many new messages wait in a conversation not on screen; nothing when
/// none. Beside the conversation's button, not in it, so the button's name
/// stays the conversation's name.
#[component]
fn UnreadBadge(conversation: Conversation, label: String) -> impl IntoView {
    let state = expect_context::<ChatClient>().state;
    let mentions = {
        let conversation = conversation.clone();
        Memo::new(move |_| state.with(|s| s.mentions(&conversation)))
    };
    let count = Memo::new(move |_| state.with(|s| s.unread(&conversation)));
    let label = StoredValue::new(label);
    view! {
        <Show when=move || { mentions.get() > 0 }>
            <span
                class="mention-count"
                aria-label=move || format!("{} mentioning you in {}", mentions.get(), label.read_value())
            >
                "@"
                {mentions}
            </span>
        </Show>
        <Show when=move || { count.get() > 0 }>
            <span
                class="unread"
                aria-label=move || format!("{} unread in {}", count.get(), label.read_value())
            >
                {count}
            </span>
        </Show>
    }
}

/// Every room with people in it, live, largest first: a click joins it.
/// Named without the `#` of the joined rooms' buttons, as a room to go to.
#[component]
fn Lobby() -> impl IntoView {
    let client = expect_context::<ChatClient>();
    let state = client.state;
    let panels = expect_context::<Panels>();
    let location = expect_context::<Location>();
    let rooms = move || state.with(|s| s.lobby.clone());
    view! {
        <h2 id="lobby-heading">"All rooms"</h2>
        <Show when=move || state.with(|s| s.lobby.is_empty())>
            <p class="hint">"Nobody is in any room right now."</p>
        </Show>
        <ul class="lobby" aria-labelledby="lobby-heading">
            <For each=rooms key=|summary| (summary.room.clone(), summary.members) let:summary>
                {
                    let path = room_path(&summary.room);
                    let room = summary.room.clone();
                    // Read as "general 3 people": the visible text, then the
                    // word (WCAG 2.5.3: the name holds what is shown).
                    let people = if summary.members == 1 { " person" } else { " people" };
                    view! {
                        <li>
                            <button
                                type="button"
                                class="lobby-room"
                                on:click=move |_| {
                                    panels.close(false);
                                    // Opened here too: the path may be this
                                    // room's already (see the room list).
                                    let room = room.clone();
                                    client.act(|s| s.open_room(room));
                                    location.navigate(&path, false);
                                }
                            >
                                <span class="lobby-name">{summary.room.to_string()}</span>
                                " "
                                <span class="lobby-count">
                                    {summary.members}
                                    <span class="visually-hidden">{people}</span>
                                </span>
                            </button>
                        </li>
                    }
                }
            </For>
        </ul>
    }
}

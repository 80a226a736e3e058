//! Searching messages: the search box (at the top of the rooms list), and
//! the results over the conversation, newest first, each with where it was
//! said, by whom and when, its words that match marked; a result opens its
//! conversation at that message, with what surrounds it.

use leptos::prelude::*;

use super::conversation::MessageTime;
use super::panels::Panels;
use super::socket::ChatClient;
use super::state::{Conversation, highlights};
use crate::protocol::{Found, MAX_QUERY_CHARS, RoomName, UserId};

#[component]
pub fn SearchBox() -> impl IntoView {
    let client = expect_context::<ChatClient>();
    let panels = expect_context::<Panels>();
    let query = RwSignal::new(String::new());
    let submit = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        let query = query.get_untracked();
        panels.close(false);
        client.act(|s| s.search(query, None, None));
    };
    view! {
        <form class="search-box" role="search" on:submit=submit>
            <label for="search-input" class="visually-hidden">
                "Search messages"
            </label>
            <input
                id="search-input"
                type="search"
                placeholder="Search messages"
                maxlength=MAX_QUERY_CHARS
                bind:value=query
            />
            <button type="submit">"Search"</button>
        </form>
    }
}

#[component]
pub fn SearchPanel() -> impl IntoView {
    let client = expect_context::<ChatClient>();
    let state = client.state;
    let open = move || state.with(|s| s.search.is_some());
    let query = move || {
        state.with(|s| {
            s.search
                .as_ref()
                .map(|v| v.query.clone())
                .unwrap_or_default()
        })
    };
    let status = move || {
        state.with(|s| match &s.search {
            Some(view) if view.loading && view.results.is_empty() => "Searching…".to_owned(),
            Some(view) if view.results.is_empty() => "No messages found".to_owned(),
            Some(view) if view.more => format!("{} newest results", view.results.len()),
            Some(view) => match view.results.len() {
                1 => "1 result".to_owned(),
                n => format!("{n} results"),
            },
            None => String::new(),
        })
    };
    // Narrowing the search asks again.
    let refine = move |place: Option<Option<Conversation>>, from: Option<Option<UserId>>| {
        let asked = state.with_untracked(|s| s.search.clone());
        if let Some(asked) = asked {
            let place = place.unwrap_or(asked.place);
            let from = from.unwrap_or(asked.from);
            client.act(|s| s.search(asked.query, place, from));
        }
    };
    let places = move || {
        state.with(|s| {
            let chosen = s.search.as_ref().and_then(|v| v.place.clone());
            let mut options = vec![("".to_owned(), "Everywhere".to_owned(), chosen.is_none())];
            for room in &s.rooms {
                let place = Conversation::Room(room.name.clone());
                let selected = chosen.as_ref() == Some(&place);
                options.push((
                    format!("r:{}", room.name),
                    format!("#{}", room.name),
                    selected,
                ));
            }
            for direct in &s.directs {
                let place = Conversation::Direct(direct.peer);
                let selected = chosen.as_ref() == Some(&place);
                options.push((
                    format!("d:{}", direct.peer),
                    s.name_of(direct.peer).to_string(),
                    selected,
                ));
            }
            options
        })
    };
    let senders = move || {
        state.with(|s| {
            let chosen = s.search.as_ref().and_then(|v| v.from);
            let mut options = vec![("".to_owned(), "Anyone".to_owned(), chosen.is_none())];
            for (user, name) in s.known_people() {
                let shown = if Some(user) == s.me {
                    format!("{name} (you)")
                } else {
                    name.to_string()
                };
                options.push((user.to_string(), shown, chosen == Some(user)));
            }
            options
        })
    };
    let on_place = move |event| {
        let value = event_target_value(&event);
        let place = if let Some(room) = value.strip_prefix("r:") {
            RoomName::parse(room).ok().map(Conversation::Room)
        } else if let Some(peer) = value.strip_prefix("d:") {
            UserId::parse(peer).ok().map(Conversation::Direct)
        } else {
            None
        };
        refine(Some(place), None);
    };
    let on_from = move |event| {
        let from = UserId::parse(&event_target_value(&event)).ok();
        refine(None, Some(from));
    };
    let results = move || {
        state.with(|s| {
            s.search
                .as_ref()
                .map(|v| v.results.clone())
                .unwrap_or_default()
        })
    };
    let more = move || state.with(|s| s.search.as_ref().is_some_and(|v| v.more && !v.loading));
    view! {
        <Show when=open>
            <section class="search-results" aria-labelledby="search-title">
                <header class="search-header">
                    <h2 id="search-title">{move || format!("Search: {}", query())}</h2>
                    <button type="button" on:click=move |_| state.update(|s| s.close_search())>
                        "Close search"
                    </button>
                </header>
                <div class="search-filters">
                    <label>
                        "In "
                        <select on:change=on_place>
                            {move || options(places())}
                        </select>
                    </label>
                    <label>
                        "From "
                        <select on:change=on_from>
                            {move || options(senders())}
                        </select>
                    </label>
                </div>
                <p class="search-status" role="status">{status}</p>
                <ol class="found">
                    {move || results().into_iter().map(|found| view! { <FoundItem found /> }).collect_view()}
                </ol>
                <Show when=more>
                    <button
                        type="button"
                        class="search-more"
                        on:click=move |_| client.act(|s| s.search_more())
                    >
                        "Older results"
                    </button>
                </Show>
            </section>
        </Show>
    }
}

/// A select's options: (value, label, selected).
fn options(items: Vec<(String, String, bool)>) -> impl IntoView {
    items
        .into_iter()
        .map(|(value, label, selected)| view! { <option value=value selected=selected>{label}</option> })
        .collect_view()
}

/// One result: where, who and when, and its preview with the words that
/// match marked. A button: it opens the message in its conversation.
#[component]
fn FoundItem(found: Found) -> impl IntoView {
    let client = expect_context::<ChatClient>();
    let state = client.state;
    let query = state.with_untracked(|s| {
        s.search
            .as_ref()
            .map(|v| v.query.clone())
            .unwrap_or_default()
    });
    let place = match (&found.room, found.with) {
        (Some(room), _) => format!("#{room}"),
        (None, Some(with)) => state.with_untracked(|s| s.name_of(with).to_string()),
        (None, None) => String::new(),
    };
    let runs = highlights(&found.preview, &query)
        .into_iter()
        .map(|(text, marked)| {
            if marked {
                leptos::either::Either::Left(view! { <mark>{text}</mark> })
            } else {
                leptos::either::Either::Right(text)
            }
        })
        .collect_view();
    let name = found.message.name.to_string();
    let ts = Some(found.message.ts);
    let open = move |_| client.act(|s| s.open_found(&found));
    view! {
        <li>
            <button type="button" class="found-item" on:click=open>
                <span class="found-meta">
                    <span class="found-where">{place}</span>
                    " · "
                    <span class="found-from">{name}</span>
                    " "
                    <MessageTime ts />
                </span>
                <span class="found-text">{runs}</span>
            </button>
        </li>
    }
}

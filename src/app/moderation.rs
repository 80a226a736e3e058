//! What moderates a member from the member list: the form that mutes,
//! kicks or bans them (or lifts a mute), and the spans it and the invite
//! form offer. It talks to the HTTP API with the user's session token; the
//! server checks every rank again.

use leptos::prelude::*;

use super::api::{ask, quoted};
use super::panels::focus;
use super::socket::ChatClient;
use crate::protocol::{RoomName, UserId};

/// How long a mute, a ban or an invite lasts, as the forms offer it, in
/// seconds; 0 for no end.
pub(super) const SPANS: [(&str, u64); 6] = [
    ("10 minutes", 600),
    ("1 hour", 3_600),
    ("1 day", 86_400),
    ("1 week", 604_800),
    ("30 days", 2_592_000),
    ("no end", 0),
];

/// The `<option>`s of [`SPANS`], the last named `endless`.
pub(super) fn span_options(endless: &'static str) -> impl IntoView {
    SPANS
        .iter()
        .map(|(label, seconds)| {
            let label = if *seconds == 0 { endless } else { *label };
            view! { <option value=seconds.to_string()>{label}</option> }
        })
        .collect_view()
}

/// `"seconds": n,` for a chosen span, or nothing for no end.
pub(super) fn seconds_field(key: &str, seconds: u64) -> String {
    if seconds == 0 {
        String::new()
    } else {
        format!("\"{key}\":{seconds},")
    }
}

/// Mute, kick or ban `user` in `room`, or lift their mute: a form under
/// their name in the member list, behind a "Moderate" button.
#[component]
pub fn ModerateMember(room: RoomName, user: UserId, name: Signal<String>) -> impl IntoView {
    let state = expect_context::<ChatClient>().state;
    let open = RwSignal::new(false);
    let action = RwSignal::new("mute".to_owned());
    let span = RwSignal::new(SPANS[0].1.to_string());
    let reason = RwSignal::new(String::new());
    let form_id = format!("moderate-{user}");
    let path = format!("/api/rooms/{room}/moderation");
    let submit = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        let action = action.get_untracked();
        let seconds = span.get_untracked().parse().unwrap_or(0);
        let lasting = match action.as_str() {
            "mute" | "ban" => seconds_field("seconds", seconds),
            _ => String::new(),
        };
        let body = format!(
            "{{\"action\":\"{action}\",\"user\":\"{user}\",{lasting}\"reason\":{}}}",
            quoted(reason.get_untracked().trim())
        );
        let name = name.get_untracked();
        let done_words = match action.as_str() {
            "mute" => format!("Muted {name}."),
            "kick" => format!("Put {name} out of the room."),
            "ban" => format!("Banned {name}."),
            _ => format!("Lifted the mute of {name}."),
        };
        // Said in the page's notices: the form goes with a member put out.
        ask("POST", path.clone(), Some(body), move |answer| {
            let done = answer.is_ok();
            state.update(|s| {
                s.notify(match answer {
                    Ok(_) => done_words,
                    Err(why) => format!("Not done: {why}."),
                })
            });
            if done {
                open.set(false);
                request_animation_frame(move || focus(&format!("moderate-button-{user}")));
            }
        });
    };
    let lasts = move || matches!(action.get().as_str(), "mute" | "ban");
    let form = {
        let form_id = form_id.clone();
        move || {
            view! {
                <form
                    id=form_id.clone()
                    class="moderate-form"
                    aria-label=move || format!("Moderate {}", name.get())
                    on:submit=submit.clone()
                >
                    <label>
                        "Action "
                        <select on:change=move |event| action.set(event_target_value(&event))>
                            <option value="mute">"Mute"</option>
                            <option value="kick">"Put out of the room"</option>
                            <option value="ban">"Ban"</option>
                            <option value="unmute">"Lift mute"</option>
                        </select>
                    </label>
                    <label hidden=move || !lasts()>
                        "For "
                        <select on:change=move |event| span.set(event_target_value(&event))>
                            {span_options("until lifted")}
                        </select>
                    </label>
                    <label>
                        "Reason (they are shown it) "
                        <input type="text" maxlength="500" bind:value=reason />
                    </label>
                    <button type="submit" class="danger">"Apply"</button>
                </form>
            }
        }
    };
    view! {
        <button
            type="button"
            class="moderate"
            id=format!("moderate-button-{user}")
            aria-expanded=move || open.get().to_string()
            aria-controls=form_id
            aria-label=move || format!("Moderate {}", name.get())
            on:click=move |_| open.update(|open| *open = !*open)
        >
            "Moderate"
        </button>
        <Show when=move || open.get()>{form.clone()}</Show>
    }
}

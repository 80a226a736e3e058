//! A room's settings panel, for those who run it (its owners and
//! moderators, and the server's admins): the topic, whether it is private,
//! invite links, who runs it, and the audit log. It talks to the HTTP API
//! with the user's session token; what changes reaches the room's members
//! as `room_updated`, and the server checks every rank again.

use leptos::prelude::*;

use super::api::{Answer, Json, ask, quoted};
use super::conversation::clock;
use super::moderation::{SPANS, seconds_field, span_options};
use super::panels::focus;
use super::show_or;
use super::socket::ChatClient;
use super::state::{ChatState, OWNERS};
use crate::protocol::{JsonValue, Role, RoomName, UserId};

/// How many times an invite may be used, as its form offers; 0 for no limit.
const USES: [u32; 5] = [1, 5, 25, 100, 0];

/// Audit log entries asked for at a time.
const AUDIT_PAGE: usize = 20;

/// An invite link, as the list shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct InviteItem {
    pub code: String,
    pub url: String,
    pub uses: i64,
    pub max_uses: Option<i64>,
    pub expires_ms: Option<i64>,
    pub revoked: bool,
    pub live: bool,
}

impl InviteItem {
    fn of(json: &Json) -> Option<Self> {
        Some(Self {
            code: json.get("code")?.as_text()?,
            url: json.get("url")?.as_text()?,
            uses: json.get("uses")?.as_integer()?,
            max_uses: json.get("max_uses").and_then(|n| n.as_integer()),
            expires_ms: json.get("expires_ms").and_then(|n| n.as_integer()),
            revoked: json.get("revoked")?.as_flag()?,
            live: json.get("live")?.as_flag()?,
        })
    }

    /// "Used 2 of 5 times, until 3 Dec, 10:00", "Revoked".
    pub fn words(&self, until: impl Fn(i64) -> String) -> String {
        let uses = match self.max_uses {
            Some(max) => format!("Used {} of {max} times", self.uses),
            None => format!("Used {} times", self.uses),
        };
        match (self.revoked, self.live, self.expires_ms) {
            (true, _, _) => format!("Revoked. {uses}"),
            (_, false, _) => format!("No longer lets anyone in. {uses}"),
            (_, true, Some(expires)) => format!("{uses}; lets people in until {}", until(expires)),
            (_, true, None) => format!("{uses}; does not expire"),
        }
    }
}

/// An audit log entry.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditItem {
    pub id: i64,
    pub actor: Option<UserId>,
    pub action: String,
    pub target: Option<UserId>,
    pub reason: String,
    pub until_ms: Option<i64>,
    pub at_ms: i64,
    pub seq: Option<i64>,
}

impl AuditItem {
    fn of(json: &Json) -> Option<Self> {
        let user = |key: &str| UserId::parse(&json.get(key)?.as_text()?).ok();
        Some(Self {
            id: json.get("id")?.as_integer()?,
            actor: user("actor"),
            action: json.get("action")?.as_text()?,
            target: user("target"),
            reason: json
                .get("reason")
                .and_then(|r| r.as_text())
                .unwrap_or_default(),
            until_ms: json.get("until_ms").and_then(|n| n.as_integer()),
            at_ms: json.get("at_ms")?.as_integer()?,
            seq: json.get("seq").and_then(|n| n.as_integer()),
        })
    }

    /// "Ana banned Ben until 3 Dec, 10:00: spam", with names as the state
    /// knows them (the operator, with the API key, has no user).
    pub fn words(&self, state: &ChatState, until: impl Fn(i64) -> String) -> String {
        let who = |user: Option<UserId>| match user {
            Some(UserId::OPERATOR) => "The operator".to_owned(),
            Some(user) => state.name_of(user).to_string(),
            None => "Someone".to_owned(),
        };
        let target = who(self.target);
        let what = match self.action.as_str() {
            "mute" => format!("muted {target}"),
            "unmute" => format!("lifted the mute of {target}"),
            "ban" => format!("banned {target}"),
            "unban" => format!("lifted the ban of {target}"),
            "kick" => format!("put {target} out of the room"),
            "delete_message" => match self.seq {
                Some(seq) => format!("deleted message {seq} by {target}"),
                None => format!("deleted a message by {target}"),
            },
            "set_role" => format!("made {target} {}", self.reason),
            "remove_role" => format!("took the role of {target} away"),
            other => format!("{other} {target}"),
        };
        let role_change = self.action == "set_role";
        let until = match (self.action.as_str(), self.until_ms) {
            ("mute" | "ban", Some(ms)) => format!(" until {}", until(ms)),
            ("mute" | "ban", None) => " until lifted".to_owned(),
            _ => String::new(),
        };
        let reason = if self.reason.is_empty() || role_change {
            String::new()
        } else {
            format!(": {}", self.reason)
        };
        format!("{} {what}{until}{reason}", who(self.actor))
    }
}

/// A room's settings, over the conversation while open: the topic, whether
/// it is private (owners), invite links, who runs it (owners change it),
/// and the audit log. Escape or "Back to the conversation" closes it.
#[component]
pub fn RoomSettings(room: RoomName, open: RwSignal<bool>) -> impl IntoView {
    let state = expect_context::<ChatClient>().state;
    let status = RwSignal::new(String::new());
    let path = format!("/api/rooms/{room}");
    let rank = {
        let room = room.clone();
        move || state.with(|s| s.my_rank(&room))
    };
    let title = NodeRef::<leptos::html::H2>::new();
    Effect::new(move || {
        if let Some(title) = title.get() {
            let _ = title.focus();
        }
    });
    let close = move || {
        open.set(false);
        request_animation_frame(|| focus("settings-toggle"));
    };
    let on_keydown = move |event: leptos::ev::KeyboardEvent| {
        if event.key() == "Escape" {
            event.stop_propagation();
            close();
        }
    };
    let rank_now = rank.clone();
    view! {
        <section class="room-settings" aria-labelledby="settings-title" on:keydown=on_keydown>
            <div class="settings-head">
                <h2 id="settings-title" tabindex="-1" node_ref=title>
                    {format!("Settings of #{room}")}
                </h2>
                <button type="button" on:click=move |_| close()>
                    "Back to the conversation"
                </button>
            </div>
            <p class="form-status" role="status">{move || status.get()}</p>
            <TopicForm room=room.clone() path=path.clone() status />
            {show_or(
                move || rank_now() >= OWNERS,
                {
                    let (room, path) = (room.clone(), path.clone());
                    move || view! { <PrivacyForm room=room.clone() path=path.clone() status /> }
                },
                || (),
            )}
            <Invites path=path.clone() status />
            <StaffList room=room.clone() path=path.clone() status />
            <AuditLog path status />
        </section>
    }
}

/// Says what a request did, or why it failed.
fn report(status: RwSignal<String>, answer: &Answer, done: &str) {
    status.set(match answer {
        Ok(_) => done.to_owned(),
        Err(why) => format!("Not done: {why}."),
    });
}

#[component]
fn TopicForm(room: RoomName, path: String, status: RwSignal<String>) -> impl IntoView {
    let state = expect_context::<ChatClient>().state;
    let topic = state.with_untracked(|s| {
        s.room(&room)
            .map(|view| view.settings.topic.clone())
            .unwrap_or_default()
    });
    let draft = RwSignal::new(topic);
    let submit = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        let body = format!("{{\"topic\":{}}}", quoted(&draft.get_untracked()));
        ask("PATCH", path.clone(), Some(body), move |answer| {
            report(status, &answer, "Topic saved.");
        });
    };
    view! {
        <form class="settings-form" on:submit=submit>
            <label for="topic-input">"Topic"</label>
            <input id="topic-input" type="text" maxlength="300" bind:value=draft />
            <button type="submit">"Save topic"</button>
        </form>
    }
}

#[component]
fn PrivacyForm(room: RoomName, path: String, status: RwSignal<String>) -> impl IntoView {
    let state = expect_context::<ChatClient>().state;
    let private = move || state.with(|s| s.room(&room).is_some_and(|v| v.settings.private));
    let on_change = move |event: leptos::ev::Event| {
        let on = event_target_checked(&event);
        let body = format!("{{\"private\":{on}}}");
        let done = if on {
            "The room is private: only its members and people with an invite may join it."
        } else {
            "The room is public: anyone may join it."
        };
        ask("PATCH", path.clone(), Some(body), move |answer| {
            report(status, &answer, done);
        });
    };
    view! {
        <div class="settings-form privacy">
            <input id="private-input" type="checkbox" prop:checked=private on:change=on_change />
            <label for="private-input">
                "Private: left out of the room list; only members and people with an invite may join, read or search it"
            </label>
        </div>
    }
}

/// Invite links: made with an expiry and a use limit, copied, revoked.
#[component]
fn Invites(path: String, status: RwSignal<String>) -> impl IntoView {
    let invites = RwSignal::new(Vec::<InviteItem>::new());
    let list_path = format!("{path}/invites");
    let load = {
        let list_path = list_path.clone();
        move || {
            ask("GET", list_path.clone(), None, move |answer| match answer {
                Ok(Some(json)) => invites.set(
                    json.get("invites")
                        .and_then(|list| list.elements())
                        .unwrap_or_default()
                        .iter()
                        .filter_map(InviteItem::of)
                        .collect(),
                ),
                Ok(None) => {}
                Err(why) => status.set(format!("The invite links cannot be listed: {why}.")),
            });
        }
    };
    let first = load.clone();
    Effect::new(first);
    let expiry = RwSignal::new(SPANS[2].1.to_string());
    let uses = RwSignal::new(USES[0].to_string());
    let made = load.clone();
    let submit = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        let seconds = expiry.get_untracked().parse().unwrap_or(0);
        let limit: u32 = uses.get_untracked().parse().unwrap_or(0);
        let limit = if limit > 0 {
            format!("\"max_uses\":{limit},")
        } else {
            String::new()
        };
        let fields = format!("{}{limit}", seconds_field("expires_in_seconds", seconds));
        let body = format!("{{{}}}", fields.trim_end_matches(','));
        let made = made.clone();
        ask("POST", list_path.clone(), Some(body), move |answer| {
            report(status, &answer, "Invite link made: copy it from the list.");
            made();
        });
    };
    let origin = window().location().origin().unwrap_or_default();
    let item = move |invite: InviteItem| {
        let link = format!("{origin}{}", invite.url);
        let words = invite.words(|ms| clock(ms).1);
        let label = format!("Invite link {}", &invite.code[..6.min(invite.code.len())]);
        let copy = {
            let link = link.clone();
            move |_| copy_text(&link, status)
        };
        let revoke = {
            let load = load.clone();
            let path = format!("/api/invites/{}", invite.code);
            move |_| {
                let load = load.clone();
                ask("DELETE", path.clone(), None, move |answer| {
                    report(status, &answer, "Invite link revoked.");
                    load();
                });
            }
        };
        view! {
            <li class="invite" class:dead=!invite.live>
                <input type="text" readonly value=link aria-label=label.clone() class="invite-link" />
                <span class="invite-words">{words}</span>
                <span class="invite-actions">
                    <button type="button" on:click=copy hidden=!invite.live>"Copy link"</button>
                    <button type="button" class="danger" on:click=revoke hidden=!invite.live>
                        "Revoke"
                    </button>
                </span>
            </li>
        }
    };
    view! {
        <h3>"Invite links"</h3>
        <form class="settings-form invite-form" on:submit=submit>
            <label>
                "Lets people in for "
                <select on:change=move |event| expiry.set(event_target_value(&event)) prop:value=expiry>
                    {span_options("as long as it is not revoked")}
                </select>
            </label>
            <label>
                "Uses "
                <select on:change=move |event| uses.set(event_target_value(&event)) prop:value=uses>
                    {USES
                        .iter()
                        .map(|n| {
                            let label = if *n == 0 { "no limit".to_owned() } else { n.to_string() };
                            view! { <option value=n.to_string()>{label}</option> }
                        })
                        .collect_view()}
                </select>
            </label>
            <button type="submit">"Make an invite link"</button>
        </form>
        <ul class="invites">{move || invites.get().into_iter().map(item.clone()).collect_view()}</ul>
    }
}

/// Puts `text` on the clipboard, and says whether it did.
fn copy_text(text: &str, status: RwSignal<String>) {
    #[cfg(feature = "hydrate")]
    {
        let promise = window().navigator().clipboard().write_text(text);
        leptos::task::spawn_local(async move {
            status.set(match wasm_bindgen_futures::JsFuture::from(promise).await {
                Ok(_) => "Link copied.".to_owned(),
                Err(_) => "The browser would not copy it: select the link and copy it.".to_owned(),
            });
        });
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (text, status);
}

/// Who runs the room; owners give and take roles.
#[component]
fn StaffList(room: RoomName, path: String, status: RwSignal<String>) -> impl IntoView {
    let state = expect_context::<ChatClient>().state;
    let room = StoredValue::new(room);
    let path = StoredValue::new(path);
    let owner = move || state.with(|s| room.with_value(|room| s.my_rank(room)) >= OWNERS);
    // Changes `user`'s role (`None`: takes it away).
    let set_role = move |user: UserId, role: Option<Role>| {
        let target = format!("{}/roles/{user}", path.get_value());
        let (method, body, done) = match role {
            Some(role) => (
                "PUT",
                Some(format!("{{\"role\":\"{}\"}}", role.name())),
                "Role given.",
            ),
            None => ("DELETE", None, "Role taken away."),
        };
        ask(method, target, body, move |answer| {
            report(status, &answer, done)
        });
    };
    let staff = move || {
        state.with(|s| {
            room.with_value(|room| {
                s.room(room)
                    .map(|view| view.settings.staff.clone())
                    .unwrap_or_default()
                    .into_iter()
                    .map(|staff| {
                        let name = s.name_of(staff.user).to_string();
                        let below = s.may_moderate(room, staff.user);
                        (staff, name, below)
                    })
                    .collect::<Vec<_>>()
            })
        })
    };
    let entry = move |(staff, name, below): (crate::protocol::Staff, String, bool)| {
        let user = staff.user;
        let remove = (below && owner()).then(|| {
            view! {
                <button
                    type="button"
                    aria-label=format!("Take the role of {name} away")
                    on:click=move |_| set_role(user, None)
                >
                    "Take role away"
                </button>
            }
        });
        view! {
            <li>
                <span class="staff-name">{name.clone()}</span>
                <span class="staff-role">{staff.role.name()}</span>
                {remove}
            </li>
        }
    };
    // The form: someone in the room, and a role for them.
    let chosen = RwSignal::new(String::new());
    let role = RwSignal::new(Role::Moderator.name().to_owned());
    let people = move || {
        state.with(|s| {
            room.with_value(|room| {
                s.room(room)
                    .map(|view| {
                        view.members
                            .iter()
                            .filter(|user| s.may_moderate(room, **user))
                            .map(|user| (*user, s.name_of(*user).to_string()))
                            .collect::<Vec<_>>()
                    })
                    .unwrap_or_default()
            })
        })
    };
    let give = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        let user = UserId::parse(&chosen.get_untracked());
        let role = Role::from_name(&role.get_untracked());
        match (user, role) {
            (Ok(user), Some(role)) => set_role(user, Some(role)),
            _ => status.set("Choose someone in the room first.".to_owned()),
        }
    };
    view! {
        <h3>"Who runs the room"</h3>
        <ul class="staff">{move || staff().into_iter().map(entry).collect_view()}</ul>
        <Show when=owner>
            <form class="settings-form role-form" on:submit=give>
                <label>
                    "Give "
                    <select on:change=move |event| chosen.set(event_target_value(&event))>
                        <option value="">"someone in the room"</option>
                        {move || {
                            people()
                                .into_iter()
                                .map(|(user, name)| view! { <option value=user.to_string()>{name}</option> })
                                .collect_view()
                        }}
                    </select>
                </label>
                <label>
                    " the role "
                    <select on:change=move |event| role.set(event_target_value(&event))>
                        {[Role::Moderator, Role::Owner, Role::Member]
                            .iter()
                            .map(|role| view! { <option value=role.name()>{role.name()}</option> })
                            .collect_view()}
                    </select>
                </label>
                <button type="submit">"Give role"</button>
            </form>
        </Show>
    }
}

/// The room's audit log, newest first, a page at a time; a ban or a mute
/// may be lifted from it.
#[component]
fn AuditLog(path: String, status: RwSignal<String>) -> impl IntoView {
    let state = expect_context::<ChatClient>().state;
    let entries = RwSignal::new(Vec::<AuditItem>::new());
    let more = RwSignal::new(false);
    let path = StoredValue::new(path);
    // Reads the page before entry `before` (None: the newest).
    let load = move |before: Option<i64>| {
        let before = before.map(|id| format!("&before={id}")).unwrap_or_default();
        let target = format!("{}/audit?limit={AUDIT_PAGE}{before}", path.get_value());
        ask("GET", target, None, move |answer| match answer {
            Ok(Some(json)) => {
                let page: Vec<AuditItem> = json
                    .get("entries")
                    .and_then(|list| list.elements())
                    .unwrap_or_default()
                    .iter()
                    .filter_map(AuditItem::of)
                    .collect();
                more.set(page.len() == AUDIT_PAGE);
                entries.update(|entries| {
                    if before.is_empty() {
                        entries.clear();
                    }
                    entries.extend(page);
                });
            }
            Ok(None) => {}
            Err(why) => status.set(format!("The audit log cannot be read: {why}.")),
        });
    };
    Effect::new(move || load(None));
    let lift = move |entry: &AuditItem| {
        let (action, done) = match entry.action.as_str() {
            "ban" => ("unban", "Ban lifted."),
            _ => ("unmute", "Mute lifted."),
        };
        let user = entry.target?;
        let target = format!("{}/moderation", path.get_value());
        let body = format!("{{\"action\":\"{action}\",\"user\":\"{user}\"}}");
        Some(move |_| {
            let body = body.clone();
            ask("POST", target.clone(), Some(body), move |answer| {
                report(status, &answer, done);
                load(None);
            });
        })
    };
    let entry = move |entry: AuditItem| {
        let (_, when, iso) = clock(entry.at_ms);
        let words = state.with_untracked(|s| entry.words(s, |ms| clock(ms).1));
        let liftable = matches!(entry.action.as_str(), "ban" | "mute");
        let lift = liftable.then(|| lift(&entry)).flatten().map(|lift| {
            let label = if entry.action == "ban" {
                "Lift ban"
            } else {
                "Lift mute"
            };
            view! { <button type="button" on:click=lift>{label}</button> }
        });
        view! {
            <li>
                <time datetime=iso>{when}</time>
                " "
                <span>{words}</span>
                {lift}
            </li>
        }
    };
    let older = move |_| load(entries.with_untracked(|e| e.last().map(|entry| entry.id)));
    view! {
        <h3>"Audit log"</h3>
        <p class="hint" hidden=move || !entries.with(Vec::is_empty)>
            "Nothing yet: what is done to people here is written down here."
        </p>
        <ol class="audit">{move || entries.get().into_iter().map(entry).collect_view()}</ol>
        <Show when=move || more.get()>
            <button type="button" on:click=older>"Older entries"</button>
        </Show>
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    fn user(n: u8) -> UserId {
        UserId::parse(&format!("00000000-0000-4000-8000-0000000000{n:02}")).unwrap()
    }

    fn entry(action: &str, reason: &str, until_ms: Option<i64>) -> AuditItem {
        AuditItem {
            id: 1,
            actor: Some(user(1)),
            action: action.into(),
            target: Some(user(2)),
            reason: reason.into(),
            until_ms,
            at_ms: 0,
            seq: None,
        }
    }

    #[test]
    fn the_audit_log_reads_as_sentences_with_the_names_known() {
        use crate::protocol::{DisplayName, Member, ServerMessage};
        let mut state = ChatState::default();
        state.apply(ServerMessage::Joined {
            room: RoomName::parse("town").unwrap(),
            members: Some(vec![
                Member {
                    user: user(1),
                    name: DisplayName::parse("Ana").unwrap(),
                },
                Member {
                    user: user(2),
                    name: DisplayName::parse("Ben").unwrap(),
                },
            ]),
            settings: None,
        });
        let at = |ms: i64| format!("t{ms}");
        let words = |item: AuditItem| item.words(&state, at);
        assert_eq!(
            words(entry("ban", "spam", Some(5))),
            "Ana banned Ben until t5: spam"
        );
        assert_eq!(words(entry("mute", "", None)), "Ana muted Ben until lifted");
        assert_eq!(
            words(entry("unmute", "", None)),
            "Ana lifted the mute of Ben"
        );
        assert_eq!(
            words(entry("kick", "calm down", Some(60))),
            "Ana put Ben out of the room: calm down"
        );
        assert_eq!(
            words(entry("set_role", "moderator", None)),
            "Ana made Ben moderator"
        );
        let deleted = AuditItem {
            seq: Some(42),
            ..entry("delete_message", "", None)
        };
        assert_eq!(words(deleted), "Ana deleted message 42 by Ben");
        // The operator (an API key), and someone never seen (a guest name).
        let by_operator = AuditItem {
            actor: Some(UserId::OPERATOR),
            target: Some(user(9)),
            ..entry("unban", "", None)
        };
        assert_eq!(
            words(by_operator),
            format!("The operator lifted the ban of {}", user(9).guest_name())
        );
    }

    #[test]
    fn an_invite_says_how_it_was_used_and_whether_it_still_lets_anyone_in() {
        let invite = InviteItem {
            code: "c".into(),
            url: "/i/c".into(),
            uses: 2,
            max_uses: Some(5),
            expires_ms: Some(9),
            revoked: false,
            live: true,
        };
        let at = |ms: i64| format!("t{ms}");
        assert_eq!(
            invite.words(at),
            "Used 2 of 5 times; lets people in until t9"
        );
        let endless = InviteItem {
            max_uses: None,
            expires_ms: None,
            ..invite.clone()
        };
        assert_eq!(endless.words(at), "Used 2 times; does not expire");
        let revoked = InviteItem {
            revoked: true,
            live: false,
            ..invite.clone()
        };
        assert_eq!(revoked.words(at), "Revoked. Used 2 of 5 times");
        let spent = InviteItem {
            live: false,
            ..invite
        };
        assert_eq!(
            spent.words(at),
            "No longer lets anyone in. Used 2 of 5 times"
        );
    }
}

//! The account pages: sign up (`/sign-up`), sign in (`/sign-in`), and the
//! account's sessions (`/account`), where one signs this device or others
//! out. They talk to the HTTP API (`/api/accounts`, `/api/sessions`) with
//! `fetch`, and keep the session token where the chat page keeps it
//! (`localStorage`): once signed in or out, the chat page opens afresh and
//! connects with it.
//!
//! A guest who signs up sends their own token along, and keeps their id,
//! name, rooms and history; signing in as someone else starts this
//! browser's saved rooms and drafts afresh, since they were the guest's.

use leptos::prelude::*;

/// Which account page a path shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountView {
    SignUp,
    SignIn,
    Sessions,
}

impl AccountView {
    pub fn of(path: &str) -> Option<Self> {
        match path {
            "/sign-up" => Some(Self::SignUp),
            "/sign-in" => Some(Self::SignIn),
            "/account" => Some(Self::Sessions),
            _ => None,
        }
    }
}

/// A live session, as the session list shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionItem {
    pub id: String,
    pub label: String,
    pub seen: i64,
    pub current: bool,
}

#[component]
pub fn AccountPage(view: AccountView) -> impl IntoView {
    let title = match view {
        AccountView::SignUp => "Create an account",
        AccountView::SignIn => "Sign in",
        AccountView::Sessions => "Your account",
    };
    view! {
        <main class="account-page">
            <h1>{title}</h1>
            {match view {
                AccountView::SignUp | AccountView::SignIn => {
                    leptos::either::Either::Left(view! { <CredentialsForm view /> })
                }
                AccountView::Sessions => leptos::either::Either::Right(view! { <Sessions /> }),
            }}
            <p class="account-back">
                <a href="/">"Back to the chat"</a>
            </p>
        </main>
    }
}

/// The sign-up or sign-in form.
#[component]
fn CredentialsForm(view: AccountView) -> impl IntoView {
    let signing_up = view == AccountView::SignUp;
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let error = RwSignal::new(String::new());
    let submit = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        error.set(String::new());
        let (name, secret) = (username.get_untracked(), password.get_untracked());
        #[cfg(feature = "hydrate")]
        leptos::task::spawn_local(async move {
            match browser::sign(signing_up, name, secret).await {
                Ok(()) => browser::open_chat(),
                Err(why) => error.set(why),
            }
        });
        #[cfg(not(feature = "hydrate"))]
        let _ = (name, secret);
    };
    let (button, autocomplete, other, other_text, hint) = if signing_up {
        (
            "Create account",
            "new-password",
            "/sign-in",
            "Have an account? Sign in",
            "Usernames are 2 to 32 letters or digits, with . _ or - between them; passwords at least 8 characters. If you were chatting as a guest, you keep your name, rooms and messages.",
        )
    } else {
        (
            "Sign in",
            "current-password",
            "/sign-up",
            "No account yet? Create one",
            "",
        )
    };
    view! {
        <form class="account-form" on:submit=submit aria-describedby="account-hint">
            <p id="account-hint" class="hint">
                {hint}
            </p>
            <label for="account-username">"Username"</label>
            <input
                id="account-username"
                type="text"
                required
                minlength="2"
                maxlength="32"
                autocomplete="username"
                autocapitalize="none"
                spellcheck="false"
                bind:value=username
            />
            <label for="account-password">"Password"</label>
            <input
                id="account-password"
                type="password"
                required
                minlength="8"
                autocomplete=autocomplete
                bind:value=password
            />
            <p class="form-error" role="alert">
                {move || error.get()}
            </p>
            <button type="submit">{button}</button>
        </form>
        <p>
            <a href=other>{other_text}</a>
        </p>
    }
}

/// The account's sessions, and signing out.
#[component]
fn Sessions() -> impl IntoView {
    let sessions = RwSignal::new(Vec::<SessionItem>::new());
    // What to say: "Loading…", why there is no list, or what was done.
    let status = RwSignal::new("Loading…".to_owned());
    let loaded = RwSignal::new(false);
    let reload = move || {
        #[cfg(feature = "hydrate")]
        leptos::task::spawn_local(async move {
            match browser::sessions().await {
                Ok(list) => {
                    sessions.set(list);
                    // The first list replaces "Loading…"; later ones leave
                    // what was said about the change that brought them.
                    if !loaded.get_untracked() {
                        loaded.set(true);
                        status.set(String::new());
                    }
                }
                Err(why) => status.set(why),
            }
        });
    };
    Effect::new(move |_| reload());
    // Ends session `id`, every other one (None), or ("current") this one.
    let end = move |id: Option<String>| {
        #[cfg(feature = "hydrate")]
        leptos::task::spawn_local(async move {
            match browser::end(id.as_deref()).await {
                Ok(Some(text)) => {
                    reload();
                    status.set(text);
                }
                Ok(None) => browser::open_chat(),
                Err(why) => status.set(why),
            }
        });
        #[cfg(not(feature = "hydrate"))]
        let _ = id;
    };
    let item = move |item: SessionItem| {
        let id = item.id;
        let label = if item.label.is_empty() {
            "Unknown browser".to_owned()
        } else {
            item.label
        };
        let seen = format!("Last active {}", seen_text(item.seen));
        view! {
            <li>
                <span class="session-label">{label}</span>
                <span class="session-seen">{seen}</span>
                <span class="session-current" hidden=!item.current>
                    "This device"
                </span>
                <button type="button" hidden=item.current on:click=move |_| end(Some(id.clone()))>
                    "Sign out"
                </button>
            </li>
        }
    };
    view! {
        <p class="form-status" role="status">
            {move || status.get()}
        </p>
        <p hidden=loaded>
            <a href="/sign-in">"Sign in"</a>
            " or "
            <a href="/sign-up">"create an account"</a>
        </p>
        <div hidden=move || !loaded.get()>
            <h2>"Signed-in sessions"</h2>
            <ul class="sessions">
                {move || sessions.get().into_iter().map(item).collect_view()}
            </ul>
            <div class="account-actions">
                <button type="button" on:click=move |_| end(None)>
                    "Sign out of every other session"
                </button>
                <button type="button" class="primary" on:click=move |_| end(Some("current".into()))>
                    "Sign out"
                </button>
            </div>
            <PasswordForm status on_changed=move || reload() />
        </div>
    }
}

/// Changes the account's password (which signs every other session out);
/// what came of it is said in the page's one status line, `status`.
#[component]
fn PasswordForm(
    status: RwSignal<String>,
    on_changed: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let current = RwSignal::new(String::new());
    let new = RwSignal::new(String::new());
    let submit = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        let body = format!(
            "{{\"password\":{},\"new_password\":{}}}",
            super::api::quoted(&current.get_untracked()),
            super::api::quoted(&new.get_untracked())
        );
        super::api::ask(
            "POST",
            "/api/sessions/current/password".to_owned(),
            Some(body),
            move |answer| {
                status.set(match answer {
                    Ok(_) => {
                        current.set(String::new());
                        new.set(String::new());
                        on_changed();
                        "Password changed; every other session is signed out.".to_owned()
                    }
                    Err(why) => format!("Not changed: {why}."),
                })
            },
        );
    };
    view! {
        <form class="account-form" on:submit=submit>
            <h2>"Change your password"</h2>
            <label for="password-current">"Current password"</label>
            <input
                id="password-current"
                type="password"
                required
                autocomplete="current-password"
                bind:value=current
            />
            <label for="password-new">"New password"</label>
            <input
                id="password-new"
                type="password"
                required
                minlength="8"
                autocomplete="new-password"
                bind:value=new
            />
            <button type="submit">"Change password"</button>
        </form>
    }
}

/// When a session was last active, in the reader's words.
fn seen_text(ms: i64) -> String {
    let date = js_date(ms);
    date.unwrap_or_else(|| "recently".to_owned())
}

#[cfg(feature = "hydrate")]
fn js_date(ms: i64) -> Option<String> {
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms as f64));
    date.to_locale_string("default", &wasm_bindgen::JsValue::UNDEFINED)
        .as_string()
}

#[cfg(not(feature = "hydrate"))]
fn js_date(_ms: i64) -> Option<String> {
    None
}

#[cfg(feature = "hydrate")]
mod browser {
    //! `fetch` to the API, and the token in `localStorage`.

    use super::SessionItem;
    use crate::app::api::{call, problem};
    use crate::app::socket::{save_token, saved_token};
    use crate::protocol::JsonValue;

    /// What sign-up and sign-in send.
    #[derive(serde::Serialize)]
    struct Credentials<'a> {
        username: &'a str,
        password: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        token: Option<&'a str>,
    }

    /// Signs up (keeping this browser's guest) or in, and keeps the token.
    pub async fn sign(signing_up: bool, username: String, password: String) -> Result<(), String> {
        let guest = signing_up.then(saved_token).flatten();
        let body = serde_json::to_string(&Credentials {
            username: &username,
            password: &password,
            token: guest.as_deref(),
        })
        .map_err(|error| error.to_string())?;
        let path = if signing_up {
            "/api/accounts"
        } else {
            "/api/sessions"
        };
        match call("POST", path, None, Some(body)).await? {
            (201, Some(answer)) => {
                let token = answer.get("token").and_then(|t| t.as_text());
                let token = token.ok_or_else(|| "the server's answer has no token".to_owned())?;
                // Signed up as this browser's guest: the same user, whose
                // rooms and drafts these are. Signed in: perhaps not.
                save_token(Some(token), signing_up && guest.is_some());
                Ok(())
            }
            (status, body) => Err(problem(status, body)),
        }
    }

    pub async fn sessions() -> Result<Vec<SessionItem>, String> {
        let token = saved_token();
        match call("GET", "/api/sessions", token.as_deref(), None).await? {
            (200, Some(answer)) => Ok(answer
                .get("sessions")
                .and_then(|list| list.elements())
                .unwrap_or_default()
                .iter()
                .filter_map(|item| {
                    Some(SessionItem {
                        id: item.get("id")?.as_text()?,
                        label: item.get("label")?.as_text()?,
                        seen: item.get("seen")?.as_integer()?,
                        current: item.get("current")?.as_flag()?,
                    })
                })
                .collect()),
            (403, _) => Err("You are chatting as a guest: you have no account yet.".to_owned()),
            (401, _) => Err("You are not signed in.".to_owned()),
            (status, body) => Err(problem(status, body)),
        }
    }

    /// Ends session `id` (`current`: this one, forgetting its token), or
    /// (None) every other one: what to say, or None once this one is out.
    pub async fn end(id: Option<&str>) -> Result<Option<String>, String> {
        let token = saved_token();
        let path = match id {
            Some(id) => format!("/api/sessions/{id}"),
            None => "/api/sessions".to_owned(),
        };
        match call("DELETE", &path, token.as_deref(), None).await? {
            (204 | 401, _) if id == Some("current") => {
                save_token(None, false);
                Ok(None)
            }
            (204, _) => Ok(Some("Signed out of that session.".to_owned())),
            (200, answer) => {
                let ended = answer
                    .and_then(|a| a.get("ended")?.as_integer())
                    .unwrap_or(0);
                Ok(Some(match ended {
                    0 => "There were no other sessions.".to_owned(),
                    1 => "Signed out of 1 other session.".to_owned(),
                    n => format!("Signed out of {n} other sessions."),
                }))
            }
            (status, body) => Err(problem(status, body)),
        }
    }

    /// Opens the chat page anew, so that it connects with the saved token.
    pub fn open_chat() {
        let _ = leptos::prelude::window().location().assign("/");
    }
}

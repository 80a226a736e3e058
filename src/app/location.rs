//! The path in the address bar, as a signal. The app has the chat page at
//! `/`, `/r/<room>` and `/i/<invite>`, and the account pages (`/sign-up`, `/sign-in`,
//! `/account`); this keeps the path in step
//! with the browser's history (back and forward) and says which room it
//! names. On the server it is the request's path.
//!
//! leptos_router did this before, at 43 KB of the 263 KB bundle (brotli),
//! for two routes.

use leptos::prelude::*;

use super::account::AccountView;
use crate::protocol::RoomName;

/// Where the app is.
#[derive(Debug, Clone, Copy)]
pub struct Location {
    path: RwSignal<String>,
}

/// What a path shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Page {
    /// The chat page, opening the named room (not checked yet) if any.
    Chat {
        room: Option<String>,
    },
    /// The chat page, using an invite (`/i/<code>`), then opening its room.
    Invite(String),
    Account(AccountView),
    NotFound,
}

impl Page {
    pub fn of(path: &str) -> Page {
        let path = path.trim_end_matches('/');
        if let Some(view) = AccountView::of(path) {
            return Page::Account(view);
        }
        let one_part = |rest: &str| !rest.is_empty() && !rest.contains('/');
        match path {
            "" => Page::Chat { room: None },
            path => match (path.strip_prefix("/r/"), path.strip_prefix("/i/")) {
                (Some(room), _) if one_part(room) => Page::Chat {
                    room: Some(room.to_owned()),
                },
                (_, Some(code)) if one_part(code) => Page::Invite(code.to_owned()),
                _ => Page::NotFound,
            },
        }
    }
}

/// The page of a room: `/r/<room>` (room names are URL-safe as they are).
pub fn room_path(room: &RoomName) -> String {
    format!("/r/{room}")
}

impl Location {
    /// Provides the app's location: the request's path on the server, the
    /// window's in the browser, where back and forward then move it.
    pub fn provide() -> Location {
        let location = Location {
            path: RwSignal::new(initial_path()),
        };
        #[cfg(feature = "hydrate")]
        {
            let path = location.path;
            // The app lives as long as the page: the listener too.
            let _listener = window_event_listener(leptos::ev::popstate, move |_| {
                path.set(initial_path());
            });
        }
        provide_context(location);
        location
    }

    /// What the current path shows.
    pub fn page(&self) -> Page {
        self.path.with(|path| Page::of(path))
    }

    /// Moves to `path`, as a new history entry or in place of the current.
    pub fn navigate(&self, path: &str, replace: bool) {
        #[cfg(feature = "hydrate")]
        if let Ok(history) = window().history() {
            let state = wasm_bindgen::JsValue::NULL;
            let _ = if replace {
                history.replace_state_with_url(&state, "", Some(path))
            } else {
                history.push_state_with_url(&state, "", Some(path))
            };
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = replace;
        self.path.set(path.to_owned());
    }
}

#[cfg(feature = "hydrate")]
fn initial_path() -> String {
    window().location().pathname().unwrap_or_default()
}

#[cfg(feature = "ssr")]
fn initial_path() -> String {
    use_context::<axum::http::request::Parts>()
        .map(|parts| parts.uri.path().to_owned())
        .unwrap_or_default()
}

#[cfg(not(any(feature = "hydrate", feature = "ssr")))]
fn initial_path() -> String {
    String::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chat_page_is_at_the_root_and_at_each_room() {
        assert_eq!(Page::of("/"), Page::Chat { room: None });
        assert_eq!(Page::of(""), Page::Chat { room: None });
        let room = |name: &str| Page::Chat {
            room: Some(name.to_owned()),
        };
        assert_eq!(Page::of("/r/general"), room("general"));
        assert_eq!(Page::of("/r/general/"), room("general"));
        let general = RoomName::parse("general").unwrap();
        assert_eq!(Page::of(&room_path(&general)), room("general"));
        assert_eq!(Page::of("/r/-not-a-name"), room("-not-a-name"));
        assert_eq!(
            Page::of("/i/0123abcd/"),
            Page::Invite("0123abcd".to_owned())
        );
        assert_eq!(Page::of("/i/"), Page::NotFound);
        assert_eq!(Page::of("/r/"), Page::NotFound);
        assert_eq!(Page::of("/r/a/b"), Page::NotFound);
        assert_eq!(Page::of("/elsewhere"), Page::NotFound);
        assert_eq!(Page::of("/sign-in"), Page::Account(AccountView::SignIn));
        assert_eq!(Page::of("/sign-up/"), Page::Account(AccountView::SignUp));
        assert_eq!(Page::of("/account"), Page::Account(AccountView::Sessions));
    }
}

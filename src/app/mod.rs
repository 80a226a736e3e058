//! The Leptos web app: the HTML shell the server renders, and the routes.
//! Rendered on the server first, then hydrated by the WASM bundle.

mod chat_page;
mod conversation;
mod members;
mod panels;
mod sidebar;
mod socket;
pub mod state;
pub mod text;

use leptos::prelude::*;
use leptos_meta::{MetaTags, Stylesheet, Title, provide_meta_context};
use leptos_router::{
    ParamSegment, StaticSegment,
    components::{ParentRoute, Route, Router, Routes},
};

use chat_page::{ChatPage, OpenRoom};

/// The document around the app, rendered by the server for every page.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <meta name="color-scheme" content="light dark" />
                <link rel="icon" href="/favicon.svg" type="image/svg+xml" />
                <AutoReload options=options.clone() />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Stylesheet id="leptos" href="/pkg/confab.css" />
        <Title text="confab" />
        <Router>
            <Routes fallback=|| view! { <p class="not-found">"Page not found."</p> }>
                // One chat page for every path, so moving between rooms keeps
                // the connection; `/r/<room>` opens (joining if need be) a room.
                <ParentRoute path=StaticSegment("") view=ChatPage>
                    <Route path=StaticSegment("") view=|| () />
                    <Route path=(StaticSegment("r"), ParamSegment("room")) view=OpenRoom />
                </ParentRoute>
            </Routes>
        </Router>
    }
}

//! The Leptos web app: the HTML shell the server renders, and the page
//! each path shows.
//! Rendered on the server first, then hydrated by the WASM bundle.

mod account;
mod api;
mod chat_page;
mod composer;
mod conversation;
mod location;
mod members;
mod message;
mod moderation;
mod panels;
mod room_settings;
mod search;
mod sidebar;
mod socket;
pub mod state;
pub mod text;

use account::{AccountPage, AccountView};
use chat_page::ChatPage;
use leptos::either::Either;
use leptos::prelude::*;
use location::{Location, Page};

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
                <title>"confab"</title>
                // `id="leptos"`: where `cargo leptos watch` swaps in new CSS.
                <link id="leptos" rel="stylesheet" href="/pkg/confab.css" />
                <AutoReload options=options.clone() />
                <Bundle options />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

/// Loads the WASM bundle and hydrates the page: what Leptos's
/// `HydrationScripts` writes, less its mistake of giving the preload links
/// the script's nonce as their `crossorigin` value. The inline script
/// carries the nonce the page's Content-Security-Policy names.
#[component]
fn Bundle(options: LeptosOptions) -> impl IntoView {
    let nonce = leptos::nonce::use_nonce();
    let js = format!("/{}/{}.js", options.site_pkg_dir, options.output_name);
    // cargo-leptos, which builds the site, names the WASM after the output
    // (not with wasm-bindgen's `_bg`), whatever built this binary.
    let wasm = format!("/{}/{}.wasm", options.site_pkg_dir, options.output_name);
    let script = format!(
        "import({js:?}).then(m => m.default({{module_or_path: {wasm:?}}}).then(() => m.hydrate()));"
    );
    view! {
        <link rel="modulepreload" href=js />
        <link rel="preload" href=wasm r#as="fetch" r#type="application/wasm" crossorigin="" />
        <script type="module" nonce=nonce>
            {script}
        </script>
    }
}

/// Attaches the app to the server-rendered page: what the WASM bundle runs.
#[cfg(feature = "hydrate")]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(App);
}

#[component]
pub fn App() -> impl IntoView {
    let location = Location::provide();
    // One chat page for every path it shows, so moving between rooms keeps
    // the connection; `/r/<room>` opens (joining if need be) a room.
    let chat = Memo::new(move |_| matches!(location.page(), Page::Chat { .. } | Page::Invite(_)));
    let account = Memo::new(move |_| match location.page() {
        Page::Account(view) => Some(view),
        _ => None,
    });
    show_or(
        move || chat.get(),
        || view! { <ChatPage /> },
        move || {
            show_or(
                move || account.get().is_some(),
                move || {
                    let view = account.get_untracked().unwrap_or(AccountView::SignIn);
                    view! { <AccountPage view /> }
                },
                || view! { <p class="not-found">"Page not found."</p> },
            )
        },
    )
}

/// `<Show when fallback>` without type erasure: Leptos turns a `fallback`
/// into an `AnyView`, and every `AnyView` brings the async hydration of the
/// view it holds into the bundle, which this app never runs. Like `<Show>`,
/// it builds a branch anew only when `when` changes.
pub fn show_or<A, B>(
    when: impl Fn() -> bool + Send + Sync + 'static,
    then: impl Fn() -> A + Send + Sync + 'static,
    otherwise: impl Fn() -> B + Send + Sync + 'static,
) -> impl IntoView
where
    A: IntoView + 'static,
    B: IntoView + 'static,
{
    let when = Memo::new(move |_| when());
    move || {
        if when.get() {
            Either::Left(then())
        } else {
            Either::Right(otherwise())
        }
    }
}

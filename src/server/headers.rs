//! The security headers of every response: no sniffing of content types,
//! no framing by other sites (clickjacking), no referrer sent along, and a
//! Content-Security-Policy. The page's policy lets in only its own files,
//! its one inline script by the nonce Leptos gives each render, the WASM
//! bundle, and WebSockets to this origin; anything else gets a policy that
//! allows nothing.

use axum::{
    Router,
    http::{HeaderValue, header},
};
use leptos::prelude::use_context;
use leptos_axum::ResponseOptions;
use tower_http::set_header::SetResponseHeaderLayer;

/// For every response that set no policy of its own (files, `/health`,
/// errors): nothing may load, nothing may frame it.
const NOTHING_ALLOWED: &str = "default-src 'none'; frame-ancestors 'none'";

/// The page's policy, with the nonce of its inline script.
pub fn page_policy(nonce: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; \
         base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

/// Called while a page renders: puts the page's policy on its response.
pub fn set_page_policy() {
    let (Some(nonce), Some(response)) =
        (leptos::nonce::use_nonce(), use_context::<ResponseOptions>())
    else {
        return;
    };
    if let Ok(value) = HeaderValue::from_str(&page_policy(&nonce)) {
        response.insert_header(header::CONTENT_SECURITY_POLICY, value);
    }
}

/// The headers, on every route of `router`.
pub fn secure(router: Router) -> Router {
    let header =
        |name, value| SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value));
    router
        .layer(header(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(header(header::X_FRAME_OPTIONS, "DENY"))
        .layer(header(header::REFERRER_POLICY, "no-referrer"))
        .layer(header(header::CONTENT_SECURITY_POLICY, NOTHING_ALLOWED))
}

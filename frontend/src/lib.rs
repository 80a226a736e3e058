//! The browser bundle's entry point: attaches confab's web app
//! ([`confab::app`]) to the page the server rendered.

/// Called by the JS that loads the bundle.
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    confab::app::hydrate();
}

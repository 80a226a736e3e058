//! Session tokens as `hello` presents them: any text is refused unless it
//! is exactly the token the server issues for the user it names (one
//! spelling per token: no altered case, padding or sign passes).
#![no_main]

use confab::server::config::Settings;
use confab::server::identity::Identity;
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static IDENTITY: LazyLock<Identity> = LazyLock::new(|| {
    let settings = Settings {
        token_secret: Some("fuzzing-secret-of-at-least-32-characters".into()),
        ..Settings::default()
    };
    Identity::load(&settings, None).expect("a configured secret loads")
});

fuzz_target!(|text: &str| {
    if let Some(user) = IDENTITY.verify(text) {
        assert_eq!(IDENTITY.issue(user), text);
    }
});

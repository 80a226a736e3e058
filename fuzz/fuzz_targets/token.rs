//! Session tokens as `hello` presents them: any text is refused unless it
//! is exactly the token the server issues for the user, session and expiry
//! it names, or (from before sessions) for the user alone: one spelling per
//! token, no altered case, padding or sign passes.
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

/// The time tokens are checked at (seconds): any fixed time will do.
const NOW: i64 = 1_800_000_000;

fuzz_target!(|text: &str| {
    if let Some(verified) = IDENTITY.verify(text, NOW) {
        let reissued = match &verified.session {
            Some(session) => {
                let expires = text.split('.').nth(2).and_then(|e| e.parse().ok());
                let expires = expires.expect("a session's token names its expiry");
                assert!(expires > NOW);
                IDENTITY.issue(verified.user, session, expires)
            }
            None => IDENTITY.issue_v1(verified.user),
        };
        assert_eq!(reissued, text);
    }
});

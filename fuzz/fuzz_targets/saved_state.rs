//! What a page left in the browser's storage (any text: another version
//! wrote it, or someone edited it) read back as the page reads it: it
//! decodes to a state that saves and reads back to itself, or is refused.
#![no_main]

use confab::app::state::Saved;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let Ok(json) = serde_json::from_str::<serde_json::Value>(text) else {
        return;
    };
    match Saved::from_json(&&json) {
        Ok(saved) => {
            let again = serde_json::to_value(&saved).expect("a state saves");
            assert_eq!(Saved::from_json(&&again).expect("a save reads back"), saved);
        }
        Err(error) => assert!(!error.to_string().is_empty()),
    }
});

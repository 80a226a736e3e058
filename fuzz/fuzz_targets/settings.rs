//! A settings file: any text is either settings that pass every check, or
//! a clear error; nothing panics.
#![no_main]

use confab::server::config::Settings;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Err(error) = Settings::from_toml(text) {
        assert!(!error.to_string().is_empty());
    }
});

//! What the server sends, decoded as the browser decodes it (the
//! `JsonValue` path of `protocol::decode`, here over serde_json's values):
//! any JSON either decodes, is skipped as an unknown type, or is refused
//! with an error naming the field; what decodes encodes back to itself.
#![no_main]

use confab::protocol::ServerMessage;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let Ok(json) = serde_json::from_str::<serde_json::Value>(text) else {
        return;
    };
    match ServerMessage::from_json(&&json) {
        Ok(Some(message)) => {
            let again = serde_json::to_value(&message).expect("a message encodes");
            let decoded = ServerMessage::from_json(&&again).expect("what encodes decodes");
            assert_eq!(decoded, Some(message));
        }
        Ok(None) => {}
        Err(error) => assert!(!error.to_string().is_empty()),
    }
});

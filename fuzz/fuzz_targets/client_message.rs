//! What a client sends, decoded as the server decodes it: any text either
//! decodes to a message that encodes and decodes back to itself, or is
//! refused with an error that says something.
#![no_main]

use confab::protocol::ClientMessage;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    match serde_json::from_str::<ClientMessage>(text) {
        Ok(message) => {
            let again = serde_json::to_string(&message).expect("a decoded message encodes");
            let decoded: ClientMessage =
                serde_json::from_str(&again).expect("what the server encodes decodes");
            assert_eq!(decoded, message);
        }
        Err(error) => assert!(!error.to_string().is_empty()),
    }
});

//! Who may use the API: the keys in `api_keys`, presented as
//! `Authorization: Bearer <key>`. Keys are kept as SHA-256 digests and a
//! presented key is compared with every one in constant time, so neither
//! the time taken nor its length says how much of a key was right. A key
//! is never logged: a request is logged with the key's place in the list.

use axum::http::{HeaderMap, header};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The configured keys, as digests.
pub struct ApiKeys(Vec<[u8; 32]>);

impl ApiKeys {
    pub fn new(keys: &[String]) -> Self {
        Self(keys.iter().map(|key| digest(key.as_bytes())).collect())
    }

    /// Which key (its place in `api_keys`) the request presents, if a
    /// valid one.
    pub fn check(&self, headers: &HeaderMap) -> Option<usize> {
        let presented = headers
            .get(header::AUTHORIZATION)?
            .as_bytes()
            .strip_prefix(b"Bearer ")?;
        let presented = digest(presented.trim_ascii());
        // Every key compared, whichever matches.
        let mut found = None;
        for (index, key) in self.0.iter().enumerate() {
            if bool::from(key.ct_eq(&presented)) {
                found = Some(index);
            }
        }
        found
    }
}

fn digest(key: &[u8]) -> [u8; 32] {
    Sha256::digest(key).into()
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn bearer(value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static(value));
        headers
    }

    #[test]
    fn only_a_configured_key_as_a_bearer_token_is_accepted() {
        let keys = ApiKeys::new(&["k".repeat(32), "second-key-".repeat(4)]);
        assert_eq!(
            keys.check(&bearer("Bearer kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk")),
            Some(0)
        );
        assert_eq!(
            keys.check(&bearer(
                "Bearer second-key-second-key-second-key-second-key-"
            )),
            Some(1)
        );
        assert_eq!(
            keys.check(&bearer("Bearer kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkj")),
            None
        );
        assert_eq!(keys.check(&bearer("Bearer kkkk")), None);
        assert_eq!(
            keys.check(&bearer("Basic kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk")),
            None
        );
        assert_eq!(keys.check(&HeaderMap::new()), None);
        assert_eq!(ApiKeys::new(&[]).check(&bearer("Bearer anything")), None);
    }
}

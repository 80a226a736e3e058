//! The check against cross-site WebSocket hijacking. Browsers attach cookies
//! to a WebSocket upgrade from any page, so a page on another site could open
//! our socket as the user; browsers also always send `Origin`, which such a
//! page cannot forge. Clients that are not browsers send no `Origin` and are
//! let through: they carry no ambient credentials of the user.

use axum::http::{HeaderMap, Uri, header};

/// Whether an upgrade with these headers may proceed: no `Origin`, an origin
/// naming the host the request was sent to, or one of `allowed` exactly.
pub fn is_allowed(headers: &HeaderMap, allowed: &[String]) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    if allowed
        .iter()
        .any(|a| a.trim_end_matches('/').eq_ignore_ascii_case(origin))
    {
        return true;
    }
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    origin
        .parse::<Uri>()
        .ok()
        .filter(|uri| matches!(uri.scheme_str(), Some("http" | "https")))
        .and_then(|uri| {
            uri.authority()
                .map(|a| a.as_str().eq_ignore_ascii_case(host))
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_str(host).unwrap());
        if let Some(origin) = origin {
            headers.insert(header::ORIGIN, HeaderValue::from_str(origin).unwrap());
        }
        headers
    }

    #[test]
    fn same_origin_and_originless_requests_pass() {
        assert!(is_allowed(&headers(None, "127.0.0.1:3000"), &[]));
        assert!(is_allowed(
            &headers(Some("http://127.0.0.1:3000"), "127.0.0.1:3000"),
            &[]
        ));
        assert!(is_allowed(
            &headers(Some("https://Chat.Example.com"), "chat.example.com"),
            &[]
        ));
    }

    #[test]
    fn foreign_origins_fail_unless_configured() {
        let evil = headers(Some("http://evil.example"), "127.0.0.1:3000");
        assert!(!is_allowed(&evil, &[]));
        assert!(is_allowed(&evil, &["http://evil.example/".to_string()]));
        // Same host, other port: another origin.
        assert!(!is_allowed(
            &headers(Some("http://127.0.0.1:4000"), "127.0.0.1:3000"),
            &[]
        ));
        // Sandboxed iframes and file pages send "null".
        assert!(!is_allowed(&headers(Some("null"), "127.0.0.1:3000"), &[]));
    }
}

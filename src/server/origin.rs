//! The check against cross-site WebSocket hijacking. Browsers attach cookies
//! to a WebSocket upgrade from any page, so a page on another site could open
//! our socket as the user; browsers also always send `Origin`, which such a
//! page cannot forge. Clients that are not browsers send no `Origin` and are
//! let through: they carry no ambient credentials of the user.
//!
//! An origin passes when it is, scheme and host and port, one of the app's
//! own (`public_origins`, or where the server listens) or one of
//! `allowed_origins`. The `Host` header alone is not trusted: a page on
//! `attacker.example`, whose name the attacker points at this server (DNS
//! rebinding), sends `Host: attacker.example` and a matching `Origin`.

use std::net::{IpAddr, SocketAddr};

use axum::http::{HeaderMap, Uri, header};

/// The origins a browser may open `/ws` from, normalised to
/// `scheme://host[:port]` in lower case, without a default port.
#[derive(Debug, Clone, Default)]
pub struct Origins {
    allowed: Vec<String>,
    /// Listening on every address with no public origin named: a page
    /// served by IP address (which no rebinding can fake) is its own origin.
    any_ip_host: bool,
}

impl Origins {
    /// `public` (the app's own) and `allowed` (others') as configured; with
    /// no public origin, the address the server listens on stands for it
    /// (`localhost` too, on a loopback address).
    pub fn new(public: &[String], allowed: &[String], listening: SocketAddr) -> Self {
        let mut origins: Vec<String> = public
            .iter()
            .chain(allowed)
            .filter_map(|o| normalise(o))
            .collect();
        let mut any_ip_host = false;
        if public.is_empty() {
            let port = listening.port();
            match listening.ip() {
                ip if ip.is_unspecified() => any_ip_host = true,
                ip => {
                    origins.push(format!("http://{}", SocketAddr::new(ip, port)));
                    if ip.is_loopback() {
                        origins.push(format!("http://localhost:{port}"));
                    }
                }
            }
        }
        Self {
            allowed: origins,
            any_ip_host,
        }
    }

    /// Whether an upgrade with these headers may proceed.
    pub fn allow(&self, headers: &HeaderMap) -> bool {
        let Some(origin) = headers.get(header::ORIGIN) else {
            return true;
        };
        let Some(origin) = origin.to_str().ok().and_then(normalise) else {
            return false;
        };
        if self.allowed.contains(&origin) {
            return true;
        }
        // Listening everywhere: the page's own origin, if it names the host
        // the request went to by an IP address.
        self.any_ip_host
            && headers
                .get(header::HOST)
                .and_then(|host| host.to_str().ok())
                .is_some_and(|host| {
                    let ip = host
                        .parse::<SocketAddr>()
                        .map(|a| a.ip())
                        .or_else(|_| host.parse::<IpAddr>());
                    ip.is_ok()
                        && [format!("http://{host}"), format!("https://{host}")].contains(&origin)
                })
    }
}

/// `scheme://host[:port]` of an http(s) origin, lower case and without its
/// scheme's default port; `None` for anything else (`null`, a path).
pub fn normalise(origin: &str) -> Option<String> {
    let uri = origin.trim_end_matches('/').parse::<Uri>().ok()?;
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => 80,
        "https" => 443,
        _ => return None,
    };
    if uri
        .path_and_query()
        .is_some_and(|p| !matches!(p.as_str(), "" | "/"))
    {
        return None;
    }
    let authority = uri.authority()?;
    if authority.as_str().contains('@') {
        return None;
    }
    let host = authority.host().to_ascii_lowercase();
    Some(match authority.port_u16() {
        Some(port) if port != default_port => format!("{scheme}://{host}:{port}"),
        _ => format!("{scheme}://{host}"),
    })
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

    fn local() -> Origins {
        Origins::new(&[], &[], "127.0.0.1:3000".parse().unwrap())
    }

    #[test]
    fn the_apps_own_origin_and_originless_requests_pass() {
        let origins = local();
        assert!(origins.allow(&headers(None, "127.0.0.1:3000")));
        assert!(origins.allow(&headers(Some("http://127.0.0.1:3000"), "127.0.0.1:3000")));
        assert!(origins.allow(&headers(Some("http://LOCALHOST:3000"), "localhost:3000")));
        let public = Origins::new(
            &["https://Chat.Example.com/".into()],
            &[],
            "0.0.0.0:3000".parse().unwrap(),
        );
        assert!(public.allow(&headers(
            Some("https://chat.example.com:443"),
            "chat.example.com"
        )));
    }

    #[test]
    fn foreign_origins_fail_unless_configured() {
        let evil = headers(Some("http://evil.example"), "127.0.0.1:3000");
        assert!(!local().allow(&evil));
        let allowing = Origins::new(
            &[],
            &["http://evil.example/".into()],
            "127.0.0.1:3000".parse().unwrap(),
        );
        assert!(allowing.allow(&evil));
        // Same host, other port: another origin.
        assert!(!local().allow(&headers(Some("http://127.0.0.1:4000"), "127.0.0.1:3000")));
        // The same host and port over another scheme: another origin too.
        assert!(!local().allow(&headers(Some("https://127.0.0.1:3000"), "127.0.0.1:3000")));
        // Sandboxed iframes and file pages send "null".
        assert!(!local().allow(&headers(Some("null"), "127.0.0.1:3000")));
    }

    #[test]
    fn a_rebound_host_name_does_not_make_its_origin_ours() {
        let rebound = headers(
            Some("http://attacker.example:3000"),
            "attacker.example:3000",
        );
        assert!(!local().allow(&rebound));
        // Listening everywhere, no public origin named: IP hosts only.
        let everywhere = Origins::new(&[], &[], "0.0.0.0:3000".parse().unwrap());
        assert!(!everywhere.allow(&rebound));
        assert!(everywhere.allow(&headers(Some("http://10.0.0.5:3000"), "10.0.0.5:3000")));
        assert!(!everywhere.allow(&headers(Some("http://10.0.0.6:3000"), "10.0.0.5:3000")));
    }
}

//! Who the client is, by address: the peer, or, when the peer is one of the
//! `trusted_proxies`, the address their `X-Forwarded-For` names. What rate
//! limits and the log count per client.

use std::net::IpAddr;

use axum::http::HeaderMap;
use ipnet::IpNet;

/// The client's address. Behind trusted proxies it is the right-most
/// address in `X-Forwarded-For` that is not a trusted proxy: each proxy
/// appends whom it heard from, so addresses to the left of the last
/// untrusted one were written by the client and prove nothing. A header
/// that does not parse leaves the peer as the client.
pub fn client_addr(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    // An IPv4 peer on a socket listening on `[::]` comes as `::ffff:a.b.c.d`.
    let peer = peer.to_canonical();
    let is_trusted = |address: &IpAddr| trusted.iter().any(|net| net.contains(address));
    if !is_trusted(&peer) {
        return peer;
    }
    let mut hops: Vec<&str> = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        // A header that is not text names nobody: the proxy is the client.
        let Ok(value) = value.to_str() else {
            return peer;
        };
        hops.extend(value.split(','));
    }
    // From the right: our proxies' entries, then the client's. A hop that
    // does not parse ends the walk (what is left of it proves nothing).
    let mut client = peer;
    for hop in hops.iter().rev() {
        match parse_hop(hop) {
            Some(address) if is_trusted(&address) => client = address,
            Some(address) => return address,
            None => break,
        }
    }
    client
}

/// One `X-Forwarded-For` entry: an address, as some proxies write it with
/// a port (`203.0.113.9:5555`, `[2001:db8::1]:443`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    let address = hop
        .parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<std::net::SocketAddr>().ok().map(|s| s.ip()))?;
    Some(address.to_canonical())
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn forwarded(values: &[&'static str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("x-forwarded-for", HeaderValue::from_static(value));
        }
        headers
    }

    #[test]
    fn without_trusted_proxies_the_header_is_ignored() {
        let headers = forwarded(&["203.0.113.9"]);
        assert_eq!(
            client_addr(ip("198.51.100.1"), &headers, &[]),
            ip("198.51.100.1")
        );
    }

    #[test]
    fn behind_a_trusted_proxy_the_last_untrusted_hop_is_the_client() {
        let trusted: Vec<IpNet> = vec![
            "10.0.0.0/8".parse().unwrap(),
            "192.0.2.7/32".parse().unwrap(),
        ];
        let proxy = ip("10.1.2.3");
        // The client wrote "1.1.1.1" itself; the proxies appended the rest.
        let headers = forwarded(&["1.1.1.1, 203.0.113.9", "192.0.2.7"]);
        assert_eq!(client_addr(proxy, &headers, &trusted), ip("203.0.113.9"));
        // A peer that is not trusted is the client, whatever it writes.
        assert_eq!(
            client_addr(ip("203.0.113.50"), &headers, &trusted),
            ip("203.0.113.50")
        );
        // No header, or one that does not parse: the proxy itself.
        assert_eq!(client_addr(proxy, &HeaderMap::new(), &trusted), proxy);
        assert_eq!(
            client_addr(proxy, &forwarded(&["unknown"]), &trusted),
            proxy
        );
        // Only proxies of ours: the first one in the chain.
        assert_eq!(
            client_addr(proxy, &forwarded(&["10.9.9.9, 10.8.8.8"]), &trusted),
            ip("10.9.9.9")
        );
        // An IPv4 client through an IPv6 proxy, written as mapped.
        let six: Vec<IpNet> = vec!["::1/128".parse().unwrap()];
        assert_eq!(
            client_addr(ip("::1"), &forwarded(&["::ffff:203.0.113.9"]), &six),
            ip("203.0.113.9")
        );
    }
}

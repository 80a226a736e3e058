//! Chat text as the screen shows it: plain text with its `http` and `https`
//! links picked out. Nothing else in a message ever becomes markup, and a
//! link is only ever one of those two schemes (no `javascript:`, no `data:`).
//! A link shows where it really leads: see [`link_target`].

use crate::protocol::{is_bidi_control, is_hidden};

/// A run of a message's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Segment<'a> {
    Text(&'a str),
    Link(&'a str),
}

const SCHEMES: [&str; 2] = ["https://", "http://"];

/// Splits `text` into plain runs and links. A link starts with `http://`
/// or `https://` (not straight after an ASCII letter or digit: a word
/// such as `xhttps://`; checking every alphabet's letters would cost the
/// browser bundle Unicode's tables), runs to the next white
/// space or character that cannot appear unescaped in a URL, and leaves out
/// trailing punctuation (a closing bracket only if it has no opening one in
/// the link, so `https://en.wikipedia.org/wiki/Rust_(language)` stays whole).
pub fn segments(text: &str) -> Vec<Segment<'_>> {
    let mut out = Vec::new();
    let mut plain_from = 0;
    let mut at = 0;
    while at < text.len() {
        let rest = &text[at..];
        let scheme = SCHEMES
            .iter()
            .find(|scheme| starts_with_ignore_case(rest, scheme));
        let at_word_start = text[..at]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_ascii_alphanumeric());
        if let (Some(scheme), true) = (scheme, at_word_start) {
            let end = rest
                .find(|c: char| {
                    c.is_whitespace()
                        || matches!(c, '<' | '>' | '"' | '`' | '{' | '}' | '|' | '\\' | '^')
                })
                .unwrap_or(rest.len());
            let link = trim_trailing(&rest[..end]);
            if link.len() > scheme.len() {
                if plain_from < at {
                    out.push(Segment::Text(&text[plain_from..at]));
                }
                out.push(Segment::Link(link));
                at += link.len();
                plain_from = at;
                continue;
            }
        }
        at += rest.chars().next().map_or(1, char::len_utf8);
    }
    if plain_from < text.len() {
        out.push(Segment::Text(&text[plain_from..]));
    }
    out
}

/// The form of a link that is shown and followed: its host in ASCII (a label
/// with any other character becomes punycode, `xn--…`, so a Cyrillic
/// look-alike of `apple.com` shows as `xn--pple-43d.com`), and every
/// character that hides or reorders text percent-encoded. The page shows
/// it left to right, isolated from the text around it, so what the reader
/// sees is exactly where the link goes.
///
/// Every non-ASCII label is shown as punycode, not only mixed-script ones:
/// telling scripts apart would cost the browser bundle Unicode's tables,
/// and a host in one foreign script can still imitate a familiar one.
pub fn link_target(url: &str) -> String {
    // Byte searches: the browser bundle keeps no substring searcher for this.
    let position = |text: &str, wanted: &[u8]| text.bytes().position(|b| wanted.contains(&b));
    // What `segments` found: `http://` or `https://`, then the authority.
    let scheme_end = position(url, b"/")
        .map_or(0, |slash| slash + 2)
        .min(url.len());
    let (scheme, rest) = url.split_at(scheme_end);
    let (authority, tail) = rest.split_at(position(rest, b"/?#").unwrap_or(rest.len()));
    // user:password@host:port; an IPv6 address is in brackets, in ASCII.
    let host_start = authority
        .bytes()
        .rposition(|b| b == b'@')
        .map_or(0, |at| at + 1);
    let (userinfo, host_port) = authority.split_at(host_start);
    let port_start = match host_port.bytes().rposition(|b| b == b':') {
        Some(at) if !host_port[at..].contains(']') => at,
        _ => host_port.len(),
    };
    let (host, port) = host_port.split_at(port_start);
    let mut out = String::with_capacity(url.len() + 8);
    out.push_str(scheme);
    escape_hidden(userinfo, &mut out);
    // The full stops IDNA reads as dots are dots.
    let dot = |c: char| matches!(c, '.' | '\u{3002}' | '\u{FF0E}' | '\u{FF61}');
    for (i, label) in host.split(dot).enumerate() {
        if i > 0 {
            out.push('.');
        }
        if label.is_ascii() {
            escape_hidden(label, &mut out);
        } else {
            out.push_str("xn--");
            punycode(label, &mut out);
        }
    }
    escape_hidden(port, &mut out);
    escape_hidden(tail, &mut out);
    out
}

/// Appends RFC 3492's Punycode of `label`: its ASCII characters, a `-`, then
/// where each other character goes, as base-36 digits.
///
/// Written here rather than taken from the `punycode` crate: that crate's
/// digit check formats a panic message, and with it cost the browser
/// bundle several times what this does (BENCHMARKS.md, "Links").
fn punycode(label: &str, out: &mut String) {
    const BASE: u64 = 36;
    const T_MIN: u64 = 1;
    const T_MAX: u64 = 26;
    let digit = |d: u64| {
        char::from(if d < 26 {
            b'a' + d as u8
        } else {
            b'0' + (d - 26) as u8
        })
    };
    // The bias after each character: RFC 3492, section 6.1.
    let adapt = |delta: u64, points: u64, first: bool| {
        let mut delta = delta / if first { 700 } else { 2 };
        delta += delta / points;
        let mut k = 0;
        while delta > (BASE - T_MIN) * T_MAX / 2 {
            delta /= BASE - T_MIN;
            k += BASE;
        }
        k + (BASE - T_MIN + 1) * delta / (delta + 38)
    };
    let points = || label.chars().map(u64::from);
    let basic = label.bytes().filter(u8::is_ascii).count() as u64;
    out.extend(label.chars().filter(char::is_ascii));
    if basic > 0 {
        out.push('-');
    }
    // Characters of a chat message: u64 cannot overflow here.
    let (total, mut handled) = (points().count() as u64, basic);
    let (mut n, mut delta, mut bias) = (128, 0, 72);
    while handled < total {
        let next = points().filter(|&c| c >= n).min().unwrap_or(n);
        delta += (next - n) * (handled + 1);
        n = next;
        for c in points() {
            if c < n {
                delta += 1;
            } else if c == n {
                let (mut q, mut k) = (delta, BASE);
                loop {
                    let t = k.saturating_sub(bias).clamp(T_MIN, T_MAX);
                    if q < t {
                        break;
                    }
                    out.push(digit(t + (q - t) % (BASE - t)));
                    q = (q - t) / (BASE - t);
                    k += BASE;
                }
                out.push(digit(q));
                bias = adapt(delta, handled + 1, handled == basic);
                delta = 0;
                handled += 1;
            }
        }
        delta += 1;
        n += 1;
    }
}

/// Appends `text` with its control, invisible and direction characters
/// percent-encoded (as UTF-8, the way a browser sends them).
fn escape_hidden(text: &str, out: &mut String) {
    for c in text.chars() {
        if c.is_control() || is_hidden(c) || is_bidi_control(c) {
            const HEX: &[u8; 16] = b"0123456789ABCDEF";
            let mut bytes = [0; 4];
            for byte in c.encode_utf8(&mut bytes).bytes() {
                out.push('%');
                out.push(char::from(HEX[usize::from(byte >> 4)]));
                out.push(char::from(HEX[usize::from(byte & 15)]));
            }
        } else {
            out.push(c);
        }
    }
}

fn starts_with_ignore_case(text: &str, prefix: &str) -> bool {
    text.get(..prefix.len())
        .is_some_and(|start| start.eq_ignore_ascii_case(prefix))
}

/// Drops what ends a sentence rather than the link.
fn trim_trailing(link: &str) -> &str {
    let mut link = link;
    loop {
        let Some(last) = link.chars().next_back() else {
            return link;
        };
        let unmatched_close = match last {
            ')' => link.matches('(').count() < link.matches(')').count(),
            ']' => link.matches('[').count() < link.matches(']').count(),
            _ => false,
        };
        let closing = matches!(last, '.' | ',' | ';' | ':' | '!' | '?' | '\'' | '*')
            || matches!(last, '”' | '’' | '»' | '›' | '…');
        if closing || unmatched_close {
            link = &link[..link.len() - last.len_utf8()];
        } else {
            return link;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Segment::{Link, Text};
    use super::*;

    #[test]
    fn links_are_picked_out_of_plain_text() {
        assert_eq!(
            segments("see https://example.com/a?b=1#c, then http://x.org."),
            [
                Text("see "),
                Link("https://example.com/a?b=1#c"),
                Text(", then "),
                Link("http://x.org"),
                Text("."),
            ]
        );
        assert_eq!(
            segments("HTTPS://EXAMPLE.COM"),
            [Link("HTTPS://EXAMPLE.COM")]
        );
        assert_eq!(
            segments("(https://en.wikipedia.org/wiki/Rust_(language))"),
            [
                Text("("),
                Link("https://en.wikipedia.org/wiki/Rust_(language)"),
                Text(")")
            ]
        );
        assert_eq!(
            segments("ünï https://ü.example/ë ok"),
            [Text("ünï "), Link("https://ü.example/ë"), Text(" ok")]
        );
        assert_eq!(
            segments("see “https://x.org”…"),
            [Text("see “"), Link("https://x.org"), Text("”…")]
        );
    }

    #[test]
    fn a_link_shows_its_real_host_and_hides_nothing() {
        for (url, shown) in [
            ("https://example.com/a?b=1#c", "https://example.com/a?b=1#c"),
            ("HTTP://Example.COM:8080/x", "HTTP://Example.COM:8080/x"),
            // A Cyrillic "а" in a familiar name.
            ("https://аpple.com/login", "https://xn--pple-43d.com/login"),
            (
                "https://bücher.example/ü",
                "https://xn--bcher-kva.example/ü",
            ),
            ("https://例え.jp", "https://xn--r8jz45g.jp"),
            ("https://apple\u{3002}com", "https://apple.com"),
            (
                "https://me:pw@аpple.com:443",
                "https://me:pw@xn--pple-43d.com:443",
            ),
            ("http://[::1]:3000/", "http://[::1]:3000/"),
            // Reordering and hiding are spelled out.
            (
                "https://x.org/\u{202E}gpj.exe",
                "https://x.org/%E2%80%AEgpj.exe",
            ),
            (
                "https://x.org/a\u{200B}b\u{200F}",
                "https://x.org/a%E2%80%8Bb%E2%80%8F",
            ),
            ("https://pay\u{200B}pal.com", "https://xn--paypal-df0c.com"),
            ("https://x.org/\u{7}", "https://x.org/%07"),
            // RFC 3492's own samples (7.1: Arabic, Chinese, mixed).
            (
                "http://\u{644}\u{64A}\u{647}\u{645}\u{627}\u{628}\u{62A}\u{643}\u{644}\u{645}\u{648}\u{634}\u{639}\u{631}\u{628}\u{64A}\u{61F}.x",
                "http://xn--egbpdaj6bu4bxfgehfvwxn.x",
            ),
            (
                "http://\u{4ED6}\u{4EEC}\u{4E3A}\u{4EC0}\u{4E48}\u{4E0D}\u{8BF4}\u{4E2D}\u{6587}.x",
                "http://xn--ihqwcrb4cv8a8dqg056pqjye.x",
            ),
            (
                "http://3\u{5E74}B\u{7D44}\u{91D1}\u{516B}\u{5148}\u{751F}.x",
                "http://xn--3B-ww4c5e180e575a65lsy2b.x",
            ),
        ] {
            assert_eq!(link_target(url), shown, "{url:?}");
        }
    }

    #[test]
    fn nothing_else_becomes_a_link() {
        for text in [
            "javascript:alert(1)",
            "data:text/html,<b>x</b>",
            "ftp://example.com",
            "xhttps://example.com",
            "https://",
            "<a href=\"https://x.org\">x</a>",
            "plain words",
        ] {
            let links: Vec<_> = segments(text)
                .into_iter()
                .filter(|s| matches!(s, Link(_)))
                .collect();
            let allowed = text.contains("href=");
            assert!(links.is_empty() || allowed, "{text:?}: {links:?}");
            if allowed {
                // The quote ends the link: no attribute can be smuggled in.
                assert_eq!(links, [Link("https://x.org")]);
            }
        }
        assert_eq!(segments(""), []);
    }
}

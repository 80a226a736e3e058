//! Chat text as the screen shows it: plain text with its `http` and `https`
//! links picked out. Nothing else in a message ever becomes markup, and a
//! link is only ever one of those two schemes (no `javascript:`, no `data:`).

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

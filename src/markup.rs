//! The small Markdown of chat messages, parsed into a tree that the web
//! client renders as elements (never as an HTML string) and the server
//! reads as plain text: `**bold**`, `*italic*` or `_italic_`,
//! `~~strike~~`, `` `code` ``, fenced code blocks (```` ``` ````), block
//! quotes (`> `), and links `[text](https://…)`. A backslash before a
//! mark shows the mark itself (`\*`); a mark that is not closed is text;
//! anything else, HTML included, is text. Compiled into both targets.

/// A block of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    /// Lines of text, their breaks kept (`\n` in the text).
    Text(Vec<Inline>),
    /// A fenced code block: its lines as written.
    Code(String),
    Quote(Vec<Block>),
}

/// A run within a block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inline {
    Text(String),
    Bold(Vec<Inline>),
    Italic(Vec<Inline>),
    Strike(Vec<Inline>),
    Code(String),
    /// `url` is `http://` or `https://`; anything else stays text.
    Link {
        text: Vec<Inline>,
        url: String,
    },
}

/// A block laid flat for rendering without recursion (a recursive view
/// would cost the browser bundle a boxed view type per level): how many
/// quotes deep it is, and its runs each with every mark around it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flat {
    pub depth: u8,
    pub kind: FlatKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlatKind {
    Text(Vec<Run>),
    Code(String),
}

/// Text with the marks that apply to it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Run {
    pub text: String,
    pub bold: bool,
    pub italic: bool,
    pub strike: bool,
    pub code: bool,
    /// The link it is (part of the label of).
    pub link: Option<String>,
}

/// `text` parsed and laid flat: blocks in order, runs in order.
pub fn flat(text: &str) -> Vec<Flat> {
    let mut out = Vec::new();
    flatten_blocks(&parse(text), 0, &mut out);
    out
}

fn flatten_blocks(blocks: &[Block], depth: u8, out: &mut Vec<Flat>) {
    for block in blocks {
        match block {
            Block::Text(inlines) => {
                let mut runs = Vec::new();
                flatten_inlines(inlines, &Run::default(), &mut runs);
                out.push(Flat {
                    depth,
                    kind: FlatKind::Text(runs),
                });
            }
            Block::Code(code) => out.push(Flat {
                depth,
                kind: FlatKind::Code(code.clone()),
            }),
            Block::Quote(inner) => flatten_blocks(inner, depth + 1, out),
        }
    }
}

fn flatten_inlines(inlines: &[Inline], style: &Run, out: &mut Vec<Run>) {
    for inline in inlines {
        let mut style = style.clone();
        match inline {
            Inline::Text(text) => out.push(Run {
                text: text.clone(),
                ..style
            }),
            Inline::Code(text) => out.push(Run {
                text: text.clone(),
                code: true,
                ..style
            }),
            Inline::Bold(inner) | Inline::Italic(inner) | Inline::Strike(inner) => {
                style.bold |= matches!(inline, Inline::Bold(_));
                style.italic |= matches!(inline, Inline::Italic(_));
                style.strike |= matches!(inline, Inline::Strike(_));
                flatten_inlines(inner, &style, out);
            }
            Inline::Link { text, url } => {
                style.link = Some(url.clone());
                flatten_inlines(text, &style, out);
            }
        }
    }
}

/// Quotes within quotes, and marks within marks, this deep at most: the
/// parser's recursion is bounded whatever a message holds.
const MAX_DEPTH: usize = 4;

/// Characters a backslash makes literal.
const ESCAPABLE: &str = "\\*_~`[]()>#";

/// Parses a message's text.
pub fn parse(text: &str) -> Vec<Block> {
    blocks(text, 0)
}

/// The text a reader sees, without the marks (a link's label, then its
/// address in brackets): what the server indexes for search and previews
/// in search results, and what a notification shows.
pub fn plain(text: &str) -> String {
    let mut out = String::new();
    for (n, block) in parse(text).iter().enumerate() {
        if n > 0 {
            out.push('\n');
        }
        plain_block(block, &mut out);
    }
    out
}

fn plain_block(block: &Block, out: &mut String) {
    match block {
        Block::Text(inlines) => plain_inlines(inlines, out),
        Block::Code(code) => out.push_str(code),
        Block::Quote(blocks) => {
            for (n, block) in blocks.iter().enumerate() {
                if n > 0 {
                    out.push('\n');
                }
                plain_block(block, out);
            }
        }
    }
}

fn plain_inlines(inlines: &[Inline], out: &mut String) {
    for inline in inlines {
        match inline {
            Inline::Text(text) | Inline::Code(text) => out.push_str(text),
            Inline::Bold(inner) | Inline::Italic(inner) | Inline::Strike(inner) => {
                plain_inlines(inner, out)
            }
            Inline::Link { text, url } => {
                plain_inlines(text, out);
                out.push_str(" (");
                out.push_str(url);
                out.push(')');
            }
        }
    }
}

fn blocks(text: &str, depth: usize) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut lines = text.split('\n').peekable();
    let mut paragraph: Vec<&str> = Vec::new();
    let flush = |paragraph: &mut Vec<&str>, blocks: &mut Vec<Block>| {
        if !paragraph.is_empty() {
            blocks.push(Block::Text(inlines(&paragraph.join("\n"), 0)));
            paragraph.clear();
        }
    };
    while let Some(line) = lines.next() {
        if line.trim_start().starts_with("```") {
            flush(&mut paragraph, &mut blocks);
            let mut code: Vec<&str> = Vec::new();
            let mut closed = false;
            for inner in lines.by_ref() {
                if inner.trim_start().starts_with("```") {
                    closed = true;
                    break;
                }
                code.push(inner);
            }
            if closed || !code.is_empty() {
                blocks.push(Block::Code(code.join("\n")));
            } else {
                paragraph.push(line); // a lone fence is text
            }
        } else if depth < MAX_DEPTH && line.starts_with('>') {
            flush(&mut paragraph, &mut blocks);
            let mut quoted = vec![unquote(line)];
            while let Some(next) = lines.next_if(|next| next.starts_with('>')) {
                quoted.push(unquote(next));
            }
            blocks.push(Block::Quote(self::blocks(&quoted.join("\n"), depth + 1)));
        } else {
            paragraph.push(line);
        }
    }
    flush(&mut paragraph, &mut blocks);
    blocks
}

fn unquote(line: &str) -> &str {
    let rest = &line[1..];
    rest.strip_prefix(' ').unwrap_or(rest)
}

/// The runs of `text`.
fn inlines(text: &str, depth: usize) -> Vec<Inline> {
    let mut out: Vec<Inline> = Vec::new();
    let mut plain = String::new();
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        let after = &rest[c.len_utf8()..];
        if c == '\\'
            && let Some(next) = after.chars().next().filter(|n| ESCAPABLE.contains(*n))
        {
            plain.push(next);
            rest = &after[next.len_utf8()..];
            continue;
        }
        if let Some((inline, consumed)) = marked(rest, &plain, depth) {
            if !plain.is_empty() {
                out.push(Inline::Text(std::mem::take(&mut plain)));
            }
            out.push(inline);
            rest = &rest[consumed..];
            continue;
        }
        plain.push(c);
        rest = after;
    }
    if !plain.is_empty() {
        out.push(Inline::Text(plain));
    }
    out
}

/// The marked run `text` starts with, if any, and the bytes it takes.
/// `before`: the text just before it (an `_` inside a word is no mark).
fn marked(text: &str, before: &str, depth: usize) -> Option<(Inline, usize)> {
    let first = text.chars().next()?;
    if first == '`' {
        let end = find_unescaped(&text[1..], "`")?;
        let code = &text[1..1 + end];
        return (!code.is_empty()).then(|| (Inline::Code(code.to_owned()), end + 2));
    }
    if depth >= MAX_DEPTH {
        return None;
    }
    if first == '[' {
        let close = find_unescaped(&text[1..], "](")? + 1;
        let url_start = close + 2;
        let url_end = url_start + text[url_start..].find(')')?;
        let url = &text[url_start..url_end];
        let valid = (url.starts_with("https://") || url.starts_with("http://"))
            && url.len() > 8
            && !url.contains(char::is_whitespace);
        return valid.then(|| {
            let label = inlines(&text[1..close], depth + 1);
            let inline = Inline::Link {
                text: label,
                url: url.to_owned(),
            };
            (inline, url_end + 1)
        });
    }
    let (mark, wrap): (&str, fn(Vec<Inline>) -> Inline) = if text.starts_with("**") {
        ("**", Inline::Bold)
    } else if text.starts_with("~~") {
        ("~~", Inline::Strike)
    } else if first == '*' {
        ("*", Inline::Italic)
    } else if first == '_' && !before.chars().next_back().is_some_and(word_char) {
        ("_", Inline::Italic)
    } else {
        return None;
    };
    let inner_start = mark.len();
    let end = inner_start + find_unescaped(&text[inner_start..], mark)?;
    let inner = &text[inner_start..end];
    // `* not emphasis *`, `**`, `a_b_c`: text.
    let hugs = !inner.is_empty()
        && !inner.starts_with(char::is_whitespace)
        && !inner.ends_with(char::is_whitespace);
    let closes_word = mark != "_" || !text[end + 1..].chars().next().is_some_and(word_char);
    (hugs && closes_word).then(|| (wrap(inlines(inner, depth + 1)), end + mark.len()))
}

/// Whether `c` belongs to a word, for telling an `_` inside one: ASCII
/// letters and digits, and anything beyond ASCII but white space
/// (Unicode's letter tables would cost the browser bundle kilobytes).
fn word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || (!c.is_ascii() && !c.is_whitespace())
}

/// Where `mark` next occurs in `text`, not after a backslash.
fn find_unescaped(text: &str, mark: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(found) = text[from..].find(mark) {
        let at = from + found;
        let backslashes = text[..at].chars().rev().take_while(|c| *c == '\\').count();
        if backslashes % 2 == 0 {
            return Some(at);
        }
        from = at + mark.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Inline {
        Inline::Text(s.to_owned())
    }

    #[test]
    fn marks_become_runs_and_everything_else_stays_text() {
        assert_eq!(
            parse("**bold** and *it* and _it_ ~~gone~~ `x < y`"),
            [Block::Text(vec![
                Inline::Bold(vec![text("bold")]),
                text(" and "),
                Inline::Italic(vec![text("it")]),
                text(" and "),
                Inline::Italic(vec![text("it")]),
                text(" "),
                Inline::Strike(vec![text("gone")]),
                text(" "),
                Inline::Code("x < y".into()),
            ])]
        );
        // HTML is text, whole.
        assert_eq!(
            parse("<b>hi</b> <script>alert(1)</script>"),
            [Block::Text(vec![text(
                "<b>hi</b> <script>alert(1)</script>"
            )])]
        );
    }

    #[test]
    fn unclosed_or_loose_marks_and_escapes_show_as_written() {
        for literal in [
            "2 * 3 * 4",
            "**",
            "a_b_c",
            "snake_case_name",
            "* not *",
            "`",
            "[x](javascript:alert(1))",
        ] {
            assert_eq!(plain(literal), literal, "{literal}");
            assert!(
                matches!(parse(literal).as_slice(), [Block::Text(runs)] if runs.iter().all(|r| matches!(r, Inline::Text(_)))),
                "{literal}: {:?}",
                parse(literal)
            );
        }
        assert_eq!(
            parse(r"\*not italic\*"),
            [Block::Text(vec![text("*not italic*")])]
        );
        assert_eq!(plain(r"a \\ b"), r"a \ b");
    }

    #[test]
    fn code_blocks_quotes_and_links() {
        let parsed = parse(
            "look:\n```\nfn main() {\n  **not bold**\n}\n```\n> quoted *words*\n> more\nafter [the site](https://example.org/a_b)",
        );
        assert_eq!(
            parsed,
            [
                Block::Text(vec![text("look:")]),
                Block::Code("fn main() {\n  **not bold**\n}".into()),
                Block::Quote(vec![Block::Text(vec![
                    text("quoted "),
                    Inline::Italic(vec![text("words")]),
                    text("\nmore"),
                ])]),
                Block::Text(vec![
                    text("after "),
                    Inline::Link {
                        text: vec![text("the site")],
                        url: "https://example.org/a_b".into(),
                    },
                ]),
            ]
        );
        assert_eq!(
            plain("**a** [b](https://x.org) `c`"),
            "a b (https://x.org) c"
        );
    }

    #[test]
    fn a_flat_message_carries_every_mark_on_each_run() {
        let laid = flat("> **bold _both_**\n[**x**](https://a.org)");
        assert_eq!(laid.len(), 2);
        assert_eq!(laid[0].depth, 1);
        let FlatKind::Text(runs) = &laid[0].kind else {
            panic!("{laid:?}");
        };
        assert_eq!(runs[0].text, "bold ");
        assert!(runs[0].bold && !runs[0].italic);
        assert!(runs[1].bold && runs[1].italic && runs[1].text == "both");
        let FlatKind::Text(runs) = &laid[1].kind else {
            panic!("{laid:?}");
        };
        assert_eq!(runs[0].link.as_deref(), Some("https://a.org"));
        assert!(runs[0].bold);
    }

    #[test]
    fn nesting_is_bounded_whatever_the_input() {
        let deep = ">".repeat(50) + " x";
        let mut blocks = parse(&deep);
        let mut levels = 0;
        while let [Block::Quote(inner)] = blocks.as_slice() {
            blocks = inner.clone();
            levels += 1;
        }
        assert!(levels <= MAX_DEPTH, "{levels}");
        let marks = "**_~~*".repeat(500) + "x" + &"*~~_**".repeat(500);
        assert!(!plain(&marks).is_empty());
    }
}

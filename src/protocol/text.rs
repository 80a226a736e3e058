//! Which characters hide or reorder text: the rules behind refusing a name
//! or a message that shows nothing, or shows something it is not, and
//! behind showing a link as what it is. Told by code point ranges, not by
//! Unicode's tables, which would cost the browser bundle kilobytes.

/// Whether `c`, an invisible character, belongs to an emoji sequence after
/// `previous`: a selector or zero-width joiner after an emoji (not after a
/// letter, where it would only hide inside a look-alike name, as in `Ana` +
/// U+FE0F), a joiner after a selector (`❤️‍🔥`), or a tag after a flag or
/// another tag. Emoji are told by their blocks, not by Unicode's letter
/// tables, which would cost the browser bundle 1.7 KB.
pub(crate) fn joins_emoji(previous: Option<char>, c: char) -> bool {
    let Some(previous) = previous else {
        return false;
    };
    let symbol = matches!(previous,
        '\u{00A9}' | '\u{00AE}' | '\u{2010}'..='\u{2BFF}' | '\u{3030}' | '\u{303D}'
        | '\u{3297}' | '\u{3299}' | '\u{1F000}'..='\u{1FAFF}')
        && !previous.is_whitespace()
        && !is_hidden(previous);
    let tag = |c: char| matches!(c, '\u{E0020}'..='\u{E007F}');
    match c {
        '\u{FE0E}' | '\u{FE0F}' => symbol,
        '\u{200D}' => symbol || matches!(previous, '\u{FE0F}' | '\u{FE0E}'),
        c if tag(c) => symbol || tag(previous),
        _ => false,
    }
}

/// The bidi controls that reorder the text after them until closed:
/// embeddings, overrides and isolates (the marks, which only nudge one
/// neutral character, are fine).
pub(crate) fn is_bidi_override(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Characters that change the direction of the text around them.
pub(crate) fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Characters that render as nothing (or as blank space that is not
/// white space to Unicode): format characters, fillers, selectors.
pub(crate) fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
        | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200D}' | '\u{2060}'..='\u{2064}'
        | '\u{206A}'..='\u{206F}' | '\u{2800}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}'
        | '\u{FEFF}' | '\u{FFA0}' | '\u{1D173}'..='\u{1D17A}' | '\u{E0000}'..='\u{E0FFF}')
}

/// Invisible, or a format character that renders as nothing in most fonts
/// (the interlinear annotation marks, shorthand format controls): refused
/// in what clients send now.
pub(crate) fn is_hidden(c: char) -> bool {
    is_invisible(c) || matches!(c, '\u{FFF9}'..='\u{FFFB}' | '\u{1BCA0}'..='\u{1BCA3}')
}

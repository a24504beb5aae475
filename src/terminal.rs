//! Text for a terminal: what the CLI prints for people (tables, `explain`, `catalogue`,
//! diagnostics) may hold text from a catalogue, a flows file or the offending line of a
//! topology, and a terminal obeys some characters instead of showing them: ESC starts a
//! control sequence (colours, cursor moves, the window title), BEL rings, CR returns to the
//! start of the line, a bidirectional override reorders what follows. They are shown as
//! escapes (`\u{1b}`) instead. Machine formats (JSON, CSV, Markdown, rule sets) are not
//! terminal text and keep their own quoting.

use std::borrow::Cow;

/// Whether a terminal would obey `c` rather than show it: a control character other than line
/// feed and tab, or a bidirectional mark.
pub fn obeyed(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t') || crate::render::is_bidi(c)
}

/// How many columns `c` takes once [`visible`]: its escape's length, or one.
pub fn width(c: char) -> usize {
    if obeyed(c) {
        c.escape_unicode().count()
    } else {
        1
    }
}

/// `s` with every character a terminal would obey written as its escape, `\u{1b}`.
pub fn visible(s: &str) -> Cow<'_, str> {
    if !s.chars().any(obeyed) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        if obeyed(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn obeyed_characters_are_shown_as_escapes() {
        assert_eq!(
            visible("a\u{1b}[31mb\u{7}c\rd\u{202E}e\u{0}f\u{7f}g\u{85}"),
            "a\\u{1b}[31mb\\u{7}c\\u{d}d\\u{202e}e\\u{0}f\\u{7f}g\\u{85}"
        );
        assert_eq!(
            visible("line\n\ttab caf\u{e9} \u{1F600}"),
            "line\n\ttab caf\u{e9} \u{1F600}"
        );
        assert!(matches!(visible("plain"), Cow::Borrowed(_)));
        assert_eq!(width('\u{1b}'), 6);
        assert_eq!(width('\u{202E}'), 8);
        assert_eq!(width('x'), 1);
    }
}

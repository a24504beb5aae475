//! Text for people on a terminal: messages on standard error in colour only where a terminal
//! shows it (`--color auto`, the default, follows anstream: a terminal, and no `NO_COLOR`),
//! under `--quiet` only errors; and every character a terminal would obey rather than show
//! written as an escape.
//!
//! What the CLI prints for people (tables, `explain`, `catalogue`, diagnostics) may hold text from a catalogue, a flows file or the offending line of a
//! topology, and a terminal obeys some characters instead of showing them: ESC starts a
//! control sequence (colours, cursor moves, the window title), BEL rings, CR returns to the
//! start of the line, a bidirectional override reorders what follows. They are shown as
//! escapes (`\u{1b}`) instead. Machine formats (JSON, CSV, Markdown, rule sets) are not
//! terminal text and keep their own quoting.

use std::borrow::Cow;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

use anstyle::{AnsiColor, Style};

static QUIET: AtomicBool = AtomicBool::new(false);

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Color {
    /// Colour on a terminal unless NO_COLOR is set.
    #[default]
    Auto,
    /// Always colour, even into a pipe or a file.
    Always,
    /// Never colour.
    Never,
}

impl Color {
    pub fn choice(self) -> anstream::ColorChoice {
        match self {
            Color::Auto => anstream::ColorChoice::Auto,
            Color::Always => anstream::ColorChoice::Always,
            Color::Never => anstream::ColorChoice::Never,
        }
    }

    /// `--color` as the raw arguments give it (last one wins), for clap's own messages, which
    /// are printed before the arguments are parsed.
    pub fn from_args(args: impl IntoIterator<Item = std::ffi::OsString>) -> Color {
        let args: Vec<String> = args
            .into_iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let mut color = Color::Auto;
        for (i, a) in args.iter().enumerate() {
            let value = match a.strip_prefix("--color") {
                Some("") => args.get(i + 1).map(String::as_str),
                Some(v) => v.strip_prefix('='),
                None => None,
            };
            color = match value {
                Some("always") => Color::Always,
                Some("never") => Color::Never,
                Some("auto") => Color::Auto,
                _ => color,
            };
        }
        color
    }
}

/// Set once, from the command line, before anything is printed.
pub fn setup(color: Color, quiet: bool) {
    color.choice().write_global();
    QUIET.store(quiet, Ordering::Relaxed);
}

pub fn quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

fn style(fg: AnsiColor) -> Style {
    Style::new().fg_color(Some(fg.into())).bold()
}

/// Diagnostic text with its structure in colour: `error`, `warning`, the `-->` and `|` gutter
/// and `= hint`. Only line prefixes are styled; the text quoted from a file is left as it is.
pub fn paint(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 64);
    for line in text.split_inclusive('\n') {
        let styled = [
            ("error", style(AnsiColor::Red)),
            ("warning", style(AnsiColor::Yellow)),
        ]
        .into_iter()
        .find_map(|(word, s)| {
            let rest = line.strip_prefix(word)?.strip_prefix(':')?;
            Some(format!(
                "{s}{word}{s:#}{bold}:{bold:#}{rest}",
                bold = Style::new().bold()
            ))
        });
        if let Some(s) = styled {
            out.push_str(&s);
            continue;
        }
        let gutter = style(AnsiColor::Blue);
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix("= hint:") {
            let indent = &line[..line.len() - trimmed.len()];
            let hint = style(AnsiColor::Cyan);
            out.push_str(&format!(
                "{indent}{gutter}={gutter:#} {hint}hint{hint:#}:{rest}"
            ));
        } else if let Some(rest) = trimmed.strip_prefix("-->") {
            let indent = &line[..line.len() - trimmed.len()];
            out.push_str(&format!("{indent}{gutter}-->{gutter:#}{rest}"));
        } else if let Some(bar) = gutter_end(line) {
            out.push_str(&format!(
                "{gutter}{}{gutter:#}{}",
                &line[..bar],
                &line[bar..]
            ));
        } else {
            out.push_str(line);
        }
    }
    out
}

/// Where the `N |` gutter of a source snippet ends (just past the bar).
fn gutter_end(line: &str) -> Option<usize> {
    let bar = line.find('|')?;
    let head = &line[..bar];
    let gutter = head.ends_with(' ') && head.chars().all(|c| c == ' ' || c.is_ascii_digit());
    gutter.then_some(bar + 1)
}

/// An error: always printed, in colour where that is shown.
pub fn error(text: &str) {
    let mut err = anstream::stderr().lock();
    let _ = err.write_all(paint(&visible(text)).as_bytes());
}

/// A warning or an informational line (`wrote ...`, `valid ...`): not under `--quiet`.
pub fn note(text: &str) {
    if !quiet() {
        error(text);
    }
}

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

    fn strip(s: &str) -> String {
        let mut out = Vec::new();
        anstream::StripStream::new(&mut out)
            .write_all(s.as_bytes())
            .unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn painting_changes_nothing_but_colour() {
        let text = "error: unknown zone `dmzz`\n --> t.toml:2:8\n  |\n2 | zone = \"dmzz\"\n  |        ^^^^^^\n  = hint: did you mean \"dmz\"?\nwarning: x\nplain | text\n";
        let painted = paint(text);
        assert_ne!(painted, text);
        assert!(painted.contains("\u{1b}[1m\u{1b}[31merror"), "{painted:?}");
        assert_eq!(strip(&painted), text);
    }

    #[test]
    fn color_from_raw_arguments() {
        let a = |v: &[&str]| Color::from_args(v.iter().map(|s| s.into()));
        assert_eq!(a(&["ctxfw", "--color", "never"]), Color::Never);
        assert_eq!(a(&["ctxfw", "--color=always", "check"]), Color::Always);
        assert_eq!(a(&["ctxfw", "check"]), Color::Auto);
    }

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

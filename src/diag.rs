//! Diagnostics: one error type that carries source spans.
//!
//! Every stage that reads a file (topology, catalogue) reports through [`Diagnostic`], which
//! renders as `error: ...`, `--> file:line:col`, the source line with a caret, and a hint.
//! Validation collects all diagnostics before reporting, so a user fixes a file in one pass.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

pub type Span = Range<usize>;

/// A file's name as the user gave it, and its text, for rendering spans.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub name: String,
    pub text: Arc<str>,
}

impl SourceFile {
    pub fn new(name: impl Into<String>, text: impl Into<Arc<str>>) -> Self {
        SourceFile {
            name: name.into(),
            text: text.into(),
        }
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = &self.text[..floor_char_boundary(&self.text, offset)];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let col = before[line_start..].chars().count() + 1;
        (line, col)
    }

    fn line_text(&self, line: usize) -> &str {
        self.text.lines().nth(line - 1).unwrap_or("")
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

/// A secondary location, e.g. the first definition of a duplicate.
#[derive(Debug, Clone)]
pub struct Label {
    pub file: SourceFile,
    pub span: Span,
    pub message: String,
}

/// What kind of failure an error is, for the exit code: bad content (2) or a file that could not
/// be read at all (74, I/O).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    Input,
    Io,
}

#[derive(Debug, Clone)]
pub struct Diagnostic {
    pub severity: Severity,
    pub cause: Cause,
    pub message: String,
    pub file: Option<SourceFile>,
    pub span: Option<Span>,
    pub hint: Option<String>,
    pub labels: Vec<Label>,
}

impl Diagnostic {
    pub fn error(message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            cause: Cause::Input,
            message: message.into(),
            file: None,
            span: None,
            hint: None,
            labels: Vec::new(),
        }
    }

    pub fn warning(message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(message)
        }
    }

    /// An error reading a file (missing, unreadable, a directory): exit 74, not 2.
    pub fn io_error(message: impl Into<String>) -> Self {
        Diagnostic {
            cause: Cause::Io,
            ..Diagnostic::error(message)
        }
    }

    pub fn at(mut self, file: &SourceFile, span: Span) -> Self {
        self.file = Some(file.clone());
        self.span = Some(span);
        self
    }

    /// Attach only a file (no position), for problems with the file as a whole.
    pub fn in_file(mut self, file: &SourceFile) -> Self {
        self.file = Some(file.clone());
        self
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn label(mut self, file: &SourceFile, span: Span, message: impl Into<String>) -> Self {
        self.labels.push(Label {
            file: file.clone(),
            span,
            message: message.into(),
        });
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// `file:line:col` of the primary span, for tests and one-line listings.
    pub fn location(&self) -> Option<String> {
        let file = self.file.as_ref()?;
        match &self.span {
            Some(span) => {
                let (l, c) = file.line_col(span.start);
                Some(format!("{}:{}:{}", file.name, l, c))
            }
            None => Some(file.name.clone()),
        }
    }
}

fn render_snippet(
    f: &mut fmt::Formatter<'_>,
    file: &SourceFile,
    span: &Span,
    note: &str,
) -> fmt::Result {
    let (line, col) = file.line_col(span.start);
    let text = file.line_text(line);
    let width = line.to_string().len();
    writeln!(f, "{:width$}--> {}:{}:{}", "", file.name, line, col)?;
    writeln!(f, "{:width$} |", "")?;
    // The line as a terminal shows it: control characters and bidi marks as escapes.
    writeln!(f, "{line} | {}", crate::term::visible(text))?;
    // Underline the span, clipped to this line; at least one caret. A character shown as an
    // escape is as wide as its escape.
    let line_chars = text.chars().count();
    let end = {
        let (el, ec) = file.line_col(span.end.max(span.start + 1).saturating_sub(1));
        if el == line {
            ec
        } else {
            line_chars.max(col)
        }
    };
    let under = end.saturating_sub(col) + 1;
    let shown: Vec<usize> = text
        .chars()
        .skip(col - 1)
        .take(under)
        .map(crate::term::width)
        .collect();
    let carets = "^".repeat(shown.iter().sum::<usize>() + under - shown.len());
    let pad: String = text
        .chars()
        .take(col - 1)
        .flat_map(|c| {
            let (fill, n) = if c == '\t' {
                ('\t', 1)
            } else {
                (' ', crate::term::width(c))
            };
            std::iter::repeat_n(fill, n)
        })
        .collect();
    if note.is_empty() {
        writeln!(f, "{:width$} | {pad}{carets}", "")
    } else {
        writeln!(f, "{:width$} | {pad}{carets} {note}", "")
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        writeln!(f, "{level}: {}", self.message)?;
        match (&self.file, &self.span) {
            (Some(file), Some(span)) => render_snippet(f, file, span, "")?,
            (Some(file), None) => writeln!(f, " --> {}", file.name)?,
            _ => {}
        }
        for label in &self.labels {
            render_snippet(f, &label.file, &label.span, &label.message)?;
        }
        if let Some(hint) = &self.hint {
            writeln!(f, "  = hint: {hint}")?;
        }
        Ok(())
    }
}

/// A failed validation: every error found (and the warnings seen on the way).
#[derive(Debug, Clone)]
pub struct Invalid {
    pub diagnostics: Vec<Diagnostic>,
}

impl Invalid {
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| d.is_error())
    }

    /// A file could not be read (rather than read and found wrong): the CLI exits 74.
    pub fn is_io(&self) -> bool {
        self.errors().any(|d| d.cause == Cause::Io)
    }
}

/// Read a UTF-8 text file. A file that cannot be opened or read is an I/O error (exit 74); one
/// that is not UTF-8 is invalid input (exit 2). `what` names the file's role, e.g. "topology".
pub fn read_text(path: &std::path::Path, what: &str) -> Result<String, Invalid> {
    // No text to point into, but the summary line names the file.
    let file = SourceFile::new(path.display().to_string(), "");
    let bytes = std::fs::read(path).map_err(|e| Invalid {
        diagnostics: vec![Diagnostic::io_error(format!(
            "cannot read {what} {}: {e}",
            path.display()
        ))
        .in_file(&file)
        .hint("check the path and that the file is readable (permissions)")],
    })?;
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        Invalid {
            diagnostics: vec![Diagnostic::error(format!(
                "{what} {} is not UTF-8 text (invalid byte at offset {at})",
                path.display()
            ))
            .in_file(&file)
            .hint("save the file as UTF-8")],
        }
    })
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.diagnostics {
            writeln!(f, "{d}")?;
        }
        let n = self.errors().count();
        let file = self
            .diagnostics
            .iter()
            .find_map(|d| d.file.as_ref().map(|f| f.name.clone()));
        match file {
            Some(name) => write!(
                f,
                "{n} error{} in {name}; nothing was written",
                if n == 1 { "" } else { "s" }
            ),
            None => write!(
                f,
                "{n} error{}; nothing was written",
                if n == 1 { "" } else { "s" }
            ),
        }
    }
}

impl std::error::Error for Invalid {}

/// Closest candidate by edit distance, for `did you mean "..."?` hints.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let mut best: Option<(usize, &str)> = None;
    for c in candidates {
        let d = levenshtein(word, c);
        let limit = (c.chars().count().max(word.chars().count()) / 3).max(1);
        if d <= limit && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// A hint listing valid choices, or the nearest one when there is a close match.
pub fn choice_hint<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str> + Clone,
) -> String {
    match did_you_mean(word, candidates.clone()) {
        Some(c) => format!("did you mean \"{c}\"?"),
        None => {
            let all: Vec<&str> = candidates.into_iter().collect();
            if all.len() <= 24 {
                format!("expected one of: {}", all.join(", "))
            } else {
                format!(
                    "expected one of {} names, e.g. {}; `ctxfw catalogue` lists them",
                    all.len(),
                    all[..6].join(", ")
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_characters() {
        let f = SourceFile::new("t.toml", "a = 1\nzone = \"dmzz\"\n");
        assert_eq!(f.line_col(0), (1, 1));
        assert_eq!(f.line_col(13), (2, 8));
    }

    #[test]
    fn renders_caret_under_span() {
        let f = SourceFile::new("t.toml", "a = 1\nzone = \"dmzz\"\n");
        let d = Diagnostic::error("unknown zone \"dmzz\"")
            .at(&f, 13..19)
            .hint("did you mean \"dmz\"?");
        let s = d.to_string();
        assert!(s.contains("--> t.toml:2:8"), "{s}");
        assert!(s.contains("2 | zone = \"dmzz\""), "{s}");
        assert!(s.contains("  |        ^^^^^^"), "{s}");
        assert!(s.contains("hint: did you mean \"dmz\"?"), "{s}");
    }

    #[test]
    fn the_caret_stays_under_the_span_when_characters_are_escaped() {
        let f = SourceFile::new("t.toml", "d = \"\u{1b}[2J\u{202E}x\" zone = 1\n");
        let start = f.text.find("zone").unwrap();
        let s = Diagnostic::error("bad")
            .at(&f, start..start + 4)
            .to_string();
        assert!(
            s.contains("1 | d = \"\\u{1b}[2J\\u{202e}x\" zone = 1"),
            "{s}"
        );
        let shown = s.lines().nth(3).unwrap();
        let caret = s.lines().nth(4).unwrap();
        assert_eq!(caret.find('^'), shown.find("zone"), "{s}");
        assert!(caret.ends_with("^^^^"), "{s}");
        // A span over an escaped character underlines all of its escape.
        let esc = f.text.find('\u{1b}').unwrap();
        let s = Diagnostic::error("bad").at(&f, esc..esc + 1).to_string();
        assert!(s.lines().nth(4).unwrap().ends_with(" ^^^^^^"), "{s}");
    }

    #[test]
    fn suggestions() {
        assert_eq!(
            did_you_mean("storefrnt", ["vda", "storefront"]),
            Some("storefront")
        );
        assert_eq!(did_you_mean("zzz", ["vda", "storefront"]), None);
    }
}

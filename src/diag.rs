//! Diagnostics: one error type that carries source spans.
//!
//! Every stage that reads a file (topology, catalogue) reports through [`Diagnostic`], which
//! renders as `error: ...`, `--> file:line:col`, the source line with a caret, and a hint.
//! Validation collects all diagnostics before reporting, so a user fixes a file in one pass.

use std::fmt;
use std::ops::Range;
use std::sync::{Arc, OnceLock};

pub type Span = Range<usize>;

/// A file's name as the user gave it, and its text, for rendering spans.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub name: String,
    pub text: Arc<str>,
    /// Made on the first lookup and shared by the clones every diagnostic holds, so that
    /// finding a line is a search, not a scan of the text (a file with an error on each of its
    /// lines would otherwise take time in the square of its length).
    index: Arc<OnceLock<LineIndex>>,
}

/// Where each line starts, and how many characters precede each block of bytes.
#[derive(Debug)]
struct LineIndex {
    starts: Vec<usize>,
    chars: Vec<usize>,
}

/// Bytes per entry of [`LineIndex::chars`]: a column costs at most this much counting.
const BLOCK: usize = 256;

impl LineIndex {
    fn new(text: &str) -> LineIndex {
        let bytes = text.as_bytes();
        let starts = std::iter::once(0)
            .chain(memchr::memchr_iter(b'\n', bytes).map(|i| i + 1))
            .collect();
        let mut chars = Vec::with_capacity(bytes.len() / BLOCK + 1);
        let mut n = 0;
        for block in bytes.chunks(BLOCK) {
            chars.push(n);
            n += count_chars(block);
        }
        chars.push(n);
        LineIndex { starts, chars }
    }

    /// Characters before byte `offset` (a character boundary).
    fn chars_before(&self, bytes: &[u8], offset: usize) -> usize {
        let block = offset / BLOCK;
        self.chars[block] + count_chars(&bytes[block * BLOCK..offset])
    }
}

/// Characters in UTF-8 bytes that start and end on character boundaries: the bytes that are
/// not continuation bytes.
fn count_chars(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| b & 0xC0 != 0x80).count()
}

/// The longest part of a line an error shows, in characters: the rest of a longer line (a whole
/// file on one line) is left out around it, so each error prints a bounded amount of text.
const MAX_SHOWN: usize = 160;

impl SourceFile {
    pub fn new(name: impl Into<String>, text: impl Into<Arc<str>>) -> Self {
        SourceFile {
            name: name.into(),
            text: text.into(),
            index: Arc::default(),
        }
    }

    fn index(&self) -> &LineIndex {
        self.index.get_or_init(|| LineIndex::new(&self.text))
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = floor_char_boundary(&self.text, offset.min(self.text.len()));
        let index = self.index();
        let line = index.starts.partition_point(|&s| s <= offset);
        let bytes = self.text.as_bytes();
        let start = index.starts[line - 1];
        let col = index.chars_before(bytes, offset) - index.chars_before(bytes, start) + 1;
        (line, col)
    }

    /// Line `line` (1-based) without its line ending, as `str::lines` gives it.
    fn line_text(&self, line: usize) -> &str {
        let starts = &self.index().starts;
        let Some(&start) = starts.get(line - 1) else {
            return "";
        };
        let end = starts.get(line).map_or(self.text.len(), |&next| next - 1);
        let text = &self.text[start..end];
        if end < self.text.len() {
            text.strip_suffix('\r').unwrap_or(text)
        } else {
            text
        }
    }

    /// The part of the line holding byte `offset` that an error shows: all of it, or for a long
    /// line up to [`MAX_SHOWN`] characters around the offset.
    fn shown(&self, offset: usize) -> Shown<'_> {
        let offset = floor_char_boundary(&self.text, offset.min(self.text.len()));
        let (line, _) = self.line_col(offset);
        let line_text = self.line_text(line);
        let start = self.index().starts[line - 1];
        let at = offset.clamp(start, start + line_text.len()) - start;
        let (from, to) = if line_text.len() <= MAX_SHOWN {
            (0, line_text.len())
        } else {
            // A third of the room before the offset, the rest after it.
            let from = line_text[..at]
                .char_indices()
                .rev()
                .take(MAX_SHOWN / 3)
                .last()
                .map_or(at, |(i, _)| i);
            let to = line_text[from..]
                .char_indices()
                .nth(MAX_SHOWN)
                .map_or(line_text.len(), |(i, _)| from + i);
            (from, to)
        };
        Shown {
            text: &line_text[from..to],
            col: line_text[from..at].chars().count() + 1,
            cut_before: from > 0,
            cut_after: to < line_text.len(),
        }
    }
}

/// What an error shows of a line: see [`SourceFile::shown`].
struct Shown<'a> {
    text: &'a str,
    /// 1-based column of the offset in `text`.
    col: usize,
    cut_before: bool,
    cut_after: bool,
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
    let shown = file.shown(span.start);
    let width = line.to_string().len();
    writeln!(f, "{:width$}--> {}:{}:{}", "", file.name, line, col)?;
    writeln!(f, "{:width$} |", "")?;
    let (text, scol) = (shown.text, shown.col);
    let cut = |yes: bool| if yes { "…" } else { "" };
    // The line as a terminal shows it: control characters and bidi marks as escapes.
    writeln!(
        f,
        "{line} | {}{}{}",
        cut(shown.cut_before),
        crate::term::visible(text),
        cut(shown.cut_after)
    )?;
    // Underline the span, clipped to the part of this line shown; at least one caret. A
    // character shown as an escape is as wide as its escape.
    let line_chars = text.chars().count();
    let end = {
        let (el, ec) = file.line_col(span.end.max(span.start + 1).saturating_sub(1));
        if el != line {
            line_chars.max(scol)
        } else if shown.cut_after {
            (ec - (col - scol)).min(line_chars.max(scol))
        } else {
            ec - (col - scol)
        }
    };
    let under = end.saturating_sub(scol) + 1;
    let widths: Vec<usize> = text
        .chars()
        .skip(scol - 1)
        .take(under)
        .map(crate::term::width)
        .collect();
    let carets = "^".repeat(widths.iter().sum::<usize>() + under - widths.len());
    let pad: String = cut(shown.cut_before)
        .chars()
        .map(|_| ' ')
        .chain(text.chars().take(scol - 1).flat_map(|c| {
            let (fill, n) = if c == '\t' {
                ('\t', 1)
            } else {
                (' ', crate::term::width(c))
            };
            std::iter::repeat_n(fill, n)
        }))
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

/// The largest topology or catalogue file ctxfw reads (and template it takes from
/// `--templates`): larger ones are refused before parsing.
pub const MAX_INPUT: u64 = 16 * 1024 * 1024;

/// A count as people read it in a message: `8348` as `8,348`.
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The bytes of `path`, or `None` when it holds more than `limit`. A regular file is refused by
/// its size before reading; anything else (a pipe, a device such as /dev/zero) is read up to one
/// byte past the limit, never to its end.
pub fn read_limited(path: &std::path::Path, limit: u64) -> std::io::Result<Option<Vec<u8>>> {
    read_limited_from(std::fs::File::open(path)?, limit)
}

/// [`read_limited`] of a file already open.
pub fn read_limited_from(file: std::fs::File, limit: u64) -> std::io::Result<Option<Vec<u8>>> {
    use std::io::Read;
    let meta = file.metadata()?;
    let size = if meta.is_file() { meta.len() } else { 0 };
    if size > limit {
        return Ok(None);
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size + 1).unwrap_or(0));
    file.take(limit + 1).read_to_end(&mut bytes)?;
    Ok((bytes.len() as u64 <= limit).then_some(bytes))
}

/// Read a UTF-8 text file of at most [`MAX_INPUT`] bytes. A file that cannot be opened or read
/// is an I/O error (exit 74); one that is larger or not UTF-8 is invalid input (exit 2). `what`
/// names the file's role, e.g. "topology".
pub fn read_text(path: &std::path::Path, what: &str) -> Result<String, Invalid> {
    let read = read_limited(path, MAX_INPUT);
    text_of(path, what, read)
}

/// The text of what [`read_limited`] gave for `path` (limited to [`MAX_INPUT`]), or the error to
/// report.
pub fn text_of(
    path: &std::path::Path,
    what: &str,
    read: std::io::Result<Option<Vec<u8>>>,
) -> Result<String, Invalid> {
    // No text to point into, but the summary line names the file.
    let file = SourceFile::new(path.display().to_string(), "");
    let fail = |d: Diagnostic| Invalid {
        diagnostics: vec![d.in_file(&file)],
    };
    let bytes = match read {
        Ok(Some(bytes)) => bytes,
        Ok(None) => {
            return Err(fail(
                Diagnostic::error(format!(
                    "{what} {} is larger than {} MiB",
                    path.display(),
                    MAX_INPUT >> 20
                ))
                .hint("split it into several files"),
            ))
        }
        Err(e) => {
            return Err(fail(
                Diagnostic::io_error(format!("cannot read {what} {}: {e}", path.display()))
                    .hint("check the path and that the file is readable (permissions)"),
            ))
        }
    };
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        fail(
            Diagnostic::error(format!(
                "{what} {} is not UTF-8 text (invalid byte at offset {at})",
                path.display()
            ))
            .hint("save the file as UTF-8"),
        )
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

/// Did-you-mean work left for one file (or one question). An edit distance costs the product
/// of two lengths and a hint compares with every candidate, so a broken file asking for a hint
/// on each of its lines would otherwise cost the square of its size: past the budget, a hint
/// lists the choices instead of searching them.
#[derive(Debug, Clone)]
pub struct Suggest {
    left: usize,
}

/// Cells of edit-distance tables (and candidates looked at) one [`Suggest`] may spend.
const SUGGEST_BUDGET: usize = 20_000_000;
/// Names are at most 63 characters: longer words or candidates get no suggestion.
const MAX_SUGGEST_CHARS: usize = 100;

impl Default for Suggest {
    fn default() -> Self {
        Suggest {
            left: SUGGEST_BUDGET,
        }
    }
}

impl Suggest {
    /// Closest candidate by edit distance (within a third of the length), the first of equals;
    /// `None` when there is none or the budget ran out.
    pub fn nearest<'a>(
        &mut self,
        word: &str,
        candidates: impl IntoIterator<Item = &'a str>,
    ) -> Option<&'a str> {
        let word: Vec<char> = word.chars().take(MAX_SUGGEST_CHARS + 1).collect();
        if word.len() > MAX_SUGGEST_CHARS {
            return None;
        }
        let mut best: Option<(usize, &str)> = None;
        let mut cand: Vec<char> = Vec::new();
        let mut rows = (Vec::new(), Vec::new());
        for c in candidates {
            if self.left == 0 {
                return None;
            }
            self.left -= 1;
            cand.clear();
            cand.extend(c.chars().take(MAX_SUGGEST_CHARS + 1));
            if cand.len() > MAX_SUGGEST_CHARS {
                continue;
            }
            let limit = (cand.len().max(word.len()) / 3).max(1);
            // Only a strictly nearer candidate replaces the best so far.
            let within = match best {
                Some((0, _)) => break,
                Some((d, _)) => limit.min(d - 1),
                None => limit,
            };
            if let Some(d) = distance_within(&word, &cand, within, &mut rows, &mut self.left) {
                best = Some((d, c));
            }
        }
        best.map(|(_, c)| c)
    }

    /// A hint naming the nearest candidate, or listing the valid choices.
    pub fn hint<'a>(
        &mut self,
        word: &str,
        candidates: impl IntoIterator<Item = &'a str> + Clone,
    ) -> String {
        if let Some(c) = self.nearest(word, candidates.clone()) {
            return format!("did you mean \"{c}\"?");
        }
        // Not counted one by one: every hint of a file with many errors would walk them all.
        let mut all = candidates.into_iter();
        let (lo, hi) = all.size_hint();
        let first: Vec<&str> = all.by_ref().take(25).collect();
        if first.len() <= 24 {
            format!("expected one of: {}", first.join(", "))
        } else {
            format!(
                "expected one of {} names, e.g. {}; `ctxfw catalogue` lists them",
                hi.unwrap_or(lo).max(first.len()),
                first[..6].join(", ")
            )
        }
    }
}

/// Levenshtein distance of `a` and `b` when it is at most `k`; stops as soon as a row shows it
/// is more. Charges the table cells it fills to `left`.
fn distance_within(
    a: &[char],
    b: &[char],
    k: usize,
    (prev, cur): &mut (Vec<usize>, Vec<usize>),
    left: &mut usize,
) -> Option<usize> {
    if a.len().abs_diff(b.len()) > k {
        return None;
    }
    prev.clear();
    prev.extend(0..=b.len());
    for (i, ca) in a.iter().enumerate() {
        *left = left.saturating_sub(b.len() + 1);
        cur.clear();
        cur.push(i + 1);
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        if cur.iter().min().is_some_and(|&m| m > k) {
            return None;
        }
        std::mem::swap(prev, cur);
    }
    Some(prev[b.len()]).filter(|&d| d <= k)
}

/// Closest candidate by edit distance, for `did you mean "..."?` hints (one question's budget).
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    Suggest::default().nearest(word, candidates)
}

/// A hint listing valid choices, or the nearest one when there is a close match (one question's
/// budget; a file's reader shares one budget over all its hints).
pub fn choice_hint<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str> + Clone,
) -> String {
    Suggest::default().hint(word, candidates)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_grouped_by_thousands() {
        let cases = [
            (0, "0"),
            (999, "999"),
            (1000, "1,000"),
            (458_587, "458,587"),
        ];
        for (n, text) in cases {
            assert_eq!(thousands(n), text);
        }
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

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
        // The nearest wins, the first of equals.
        assert_eq!(
            did_you_mean("dmz2", ["dmz1", "dmz2x", "dmz3"]),
            Some("dmz1")
        );
        assert_eq!(did_you_mean("core", ["cores", "core"]), Some("core"));
        // Too long to be a name: not compared.
        assert_eq!(did_you_mean(&"a".repeat(101), [&*"a".repeat(100)]), None);
    }

    /// The distance stopped early agrees with the whole table wherever it answers.
    #[test]
    fn bounded_distance_is_the_levenshtein_distance() {
        fn full(a: &[char], b: &[char]) -> usize {
            let mut prev: Vec<usize> = (0..=b.len()).collect();
            for (i, ca) in a.iter().enumerate() {
                let mut cur = vec![i + 1];
                for (j, cb) in b.iter().enumerate() {
                    cur.push(
                        (prev[j] + usize::from(ca != cb))
                            .min(prev[j + 1] + 1)
                            .min(cur[j] + 1),
                    );
                }
                prev = cur;
            }
            prev[b.len()]
        }
        let words = [
            "",
            "a",
            "ab",
            "ba",
            "abc",
            "storefront",
            "storefrnt",
            "frontstore",
            "dmz",
            "ḋmz",
        ];
        for a in words {
            for b in words {
                let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
                let d = full(&a, &b);
                for k in 0..12 {
                    let mut left = usize::MAX;
                    let got = distance_within(&a, &b, k, &mut Default::default(), &mut left);
                    assert_eq!(got, (d <= k).then_some(d), "{a:?} {b:?} within {k}");
                }
            }
        }
    }

    /// A file asking for thousands of hints spends one budget: the first hints search, the
    /// later ones list the choices, and each costs no more than that.
    #[test]
    fn hints_share_a_budget_and_then_list_the_choices() {
        let names: Vec<String> = (0..2000)
            .map(|i| format!("datacenter-frankfurt-production-segment-{i:05}"))
            .collect();
        let mut suggest = Suggest::default();
        let mut hints = Vec::new();
        for i in 0..2000 {
            let typo = format!("datacenter-frankfurt-prodution-segment-{i:05}x");
            hints.push(suggest.hint(&typo, names.iter().map(String::as_str)));
        }
        assert_eq!(
            hints[0],
            "did you mean \"datacenter-frankfurt-production-segment-00000\"?"
        );
        let searched = hints
            .iter()
            .filter(|h| h.starts_with("did you mean"))
            .count();
        assert!((1..100).contains(&searched), "{searched}");
        assert!(
            hints[1999].starts_with("expected one of 2000 names, e.g. datacenter-"),
            "{}",
            hints[1999]
        );
        // A question of its own has a budget of its own.
        assert!(choice_hint(
            "datacenter-frankfurt-production-segment-0001",
            names.iter().map(String::as_str)
        )
        .starts_with("did you mean"));
    }

    /// Lines and columns from the index, checked against counting from the start, on a text of
    /// many lines and one long line of multi-byte characters.
    #[test]
    fn line_col_from_the_index_is_line_col_by_counting() {
        let mut text = String::new();
        for i in 0..3000 {
            text.push_str(&format!("k{i} = \"ü{}\"\r\n", "é".repeat(i % 7)));
        }
        text.push_str(&"ä".repeat(5000));
        let f = SourceFile::new("t.toml", text.as_str());
        let mut offsets: Vec<usize> = (0..text.len()).step_by(37).collect();
        offsets.push(text.len());
        for o in offsets {
            let before = &text[..floor_char_boundary(&text, o)];
            let line = before.matches('\n').count() + 1;
            let start = before.rfind('\n').map_or(0, |i| i + 1);
            assert_eq!(
                f.line_col(o),
                (line, before[start..].chars().count() + 1),
                "{o}"
            );
            assert_eq!(f.line_text(line), text.lines().nth(line - 1).unwrap_or(""));
        }
    }

    /// Of a long line, an error shows a window around the column, the caret under it.
    #[test]
    fn a_long_line_is_shown_around_the_error() {
        let line = format!("cidrs = [{}\"bad\"]", "\"10.0.0.0/8\", ".repeat(10_000));
        let at = line.find("bad").unwrap();
        let f = SourceFile::new("t.toml", format!("name = \"x\"\n{line}\n"));
        let start = "name = \"x\"\n".len() + at;
        let s = Diagnostic::error("bad")
            .at(&f, start..start + 3)
            .to_string();
        let shown = s.lines().nth(3).unwrap();
        assert!(
            shown.starts_with("2 | …") && shown.ends_with("\"bad\"]"),
            "{s}"
        );
        assert!(shown.chars().count() < MAX_SHOWN + 10, "{shown}");
        let caret = s.lines().nth(4).unwrap();
        let col = caret.find('^').unwrap();
        assert_eq!(
            &shown[shown.char_indices().nth(col).unwrap().0..][..3],
            "bad",
            "{s}"
        );
        assert!(s.contains(&format!("--> t.toml:2:{}", at + 1)), "{s}");
    }

    /// Past its limit a stream is refused having read one byte more, not to its end.
    #[test]
    fn a_read_stops_past_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.toml");
        std::fs::write(&p, "0123456789").unwrap();
        assert_eq!(read_limited(&p, 10).unwrap().unwrap(), b"0123456789");
        assert_eq!(read_limited(&p, 9).unwrap(), None);
        // A device that never ends.
        assert_eq!(
            read_limited(std::path::Path::new("/dev/zero"), 1000).unwrap(),
            None
        );
        let err = read_text(std::path::Path::new("/dev/zero"), "topology").unwrap_err();
        assert!(!err.is_io(), "{err}");
        assert!(
            err.to_string()
                .contains("topology /dev/zero is larger than 16 MiB"),
            "{err}"
        );
    }
}

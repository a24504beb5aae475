//! A spanned view of a TOML document, shared by the topology and catalogue readers.
//!
//! We walk `toml::de::DeTable` by hand instead of deriving `Deserialize`: every key and value
//! keeps its byte span, unknown keys are reported with a suggestion, and reading goes on after
//! an error so that one run reports everything wrong with a file.

use std::borrow::Cow;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use crate::diag::{Diagnostic, SourceFile, Span, Suggest};

pub type Table<'i> = DeTable<'i>;
pub type Value<'i> = Spanned<DeValue<'i>>;

/// Parse a file into a spanned table, or report the syntax errors it has. A file that is not
/// TOML at all (wrong from its first line on: a binary, a password file) shows only that line,
/// not one error per line of it; others show at most [`MAX_DIAGNOSTICS`] errors, and a file over
/// [`RECOVER_LIMIT`] only its first.
pub fn parse(file: &SourceFile) -> Result<Spanned<DeTable<'_>>, Vec<Diagnostic>> {
    // Keeps the first error only: the memory of a recovering parse grows with the errors.
    let first = match DeTable::parse(&file.text) {
        Ok(table) => return Ok(table),
        Err(e) => e,
    };
    let not_toml = first
        .span()
        .is_some_and(|s| file.line_col(s.start).0 == first_content_line(&file.text));
    let hint = if not_toml {
        "this does not look like a TOML file: check that it is the file you meant"
    } else {
        "check quotes, brackets and `key = value` pairs on this line"
    };
    let diagnostic = |e: &toml::de::Error| {
        let d = Diagnostic::error(format!("TOML syntax: {}", e.message().trim()));
        match e.span() {
            Some(span) => d.at(file, span),
            None => d.in_file(file),
        }
        .hint(hint)
    };
    if not_toml || file.text.len() > RECOVER_LIMIT {
        return Err(vec![diagnostic(&first)]);
    }
    let (_, errors) = DeTable::parse_recoverable(&file.text);
    let mut diags: Vec<Diagnostic> = errors
        .iter()
        .take(MAX_DIAGNOSTICS)
        .map(diagnostic)
        .collect();
    diags.extend(more_not_shown(file, errors.len() - diags.len(), 0));
    Err(diags)
}

/// The largest file whose syntax errors are all listed: a recovering parse holds every error
/// it meets (hundreds of bytes each, one per line of a broken file).
const RECOVER_LIMIT: usize = 1024 * 1024;

/// 1-based number of the first line that is not blank or a comment.
fn first_content_line(text: &str) -> usize {
    text.lines()
        .position(|l| {
            let l = l.trim_start();
            !l.is_empty() && !l.starts_with('#')
        })
        .map_or(1, |i| i + 1)
}

/// The most diagnostics reported for one file: a broken file of a few megabytes can have an
/// error on each of millions of lines, which would take gigabytes to hold and print.
pub const MAX_DIAGNOSTICS: usize = 1000;

/// What closes the diagnostics of a file with more than [`MAX_DIAGNOSTICS`]: an error when one
/// of those not shown is.
fn more_not_shown(file: &SourceFile, errors: usize, warnings: usize) -> Option<Diagnostic> {
    let n = errors + warnings;
    (n > 0).then(|| {
        let message = format!("{n} more errors and warnings in this file are not shown");
        let d = if errors > 0 {
            Diagnostic::error(message)
        } else {
            Diagnostic::warning(message)
        };
        d.in_file(file).hint(format!(
            "ctxfw shows the first {MAX_DIAGNOSTICS}; fix those and check again"
        ))
    })
}

/// Collects diagnostics while reading one file.
pub struct Reader<'f> {
    pub file: &'f SourceFile,
    diags: Vec<Diagnostic>,
    /// Errors and warnings past [`MAX_DIAGNOSTICS`], counted only.
    more: (usize, usize),
    /// One did-you-mean budget for the whole file.
    suggest: Suggest,
}

pub fn type_name(v: &DeValue<'_>) -> &'static str {
    match v {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

/// One entry of a table: the key's span and the value.
pub struct Entry<'t, 'i> {
    pub key: &'t str,
    pub key_span: Span,
    pub value: &'t Value<'i>,
}

impl<'f> Reader<'f> {
    pub fn new(file: &'f SourceFile) -> Self {
        Reader {
            file,
            diags: Vec::new(),
            more: (0, 0),
            suggest: Suggest::default(),
        }
    }

    /// Report `d` (counted only past [`MAX_DIAGNOSTICS`]).
    pub fn push(&mut self, d: Diagnostic) {
        if self.diags.len() < MAX_DIAGNOSTICS {
            self.diags.push(d);
        } else if d.is_error() {
            self.more.0 += 1;
        } else {
            self.more.1 += 1;
        }
    }

    /// Every diagnostic reported, and one saying how many more were not.
    pub fn finish(self) -> Vec<Diagnostic> {
        let mut diags = self.diags;
        diags.extend(more_not_shown(self.file, self.more.0, self.more.1));
        diags
    }

    /// A hint naming the nearest of `candidates` to `word`, or listing them.
    pub fn hint<'a>(
        &mut self,
        word: &str,
        candidates: impl IntoIterator<Item = &'a str> + Clone,
    ) -> String {
        self.suggest.hint(word, candidates)
    }

    pub fn error(&mut self, span: Span, message: impl Into<String>, hint: impl Into<String>) {
        let d = Diagnostic::error(message).at(self.file, span).hint(hint);
        self.push(d);
    }

    pub fn warn(&mut self, span: Span, message: impl Into<String>, hint: impl Into<String>) {
        let d = Diagnostic::warning(message).at(self.file, span).hint(hint);
        self.push(d);
    }

    pub fn has_errors(&self) -> bool {
        self.more.0 > 0 || self.diags.iter().any(Diagnostic::is_error)
    }

    /// The entries of a table whose keys are all in `allowed`; unknown keys are reported.
    pub fn fields<'t, 'i>(
        &mut self,
        table: &'t Table<'i>,
        allowed: &[&str],
        context: &str,
    ) -> Vec<Entry<'t, 'i>> {
        let mut out = Vec::new();
        for (k, v) in table.iter() {
            let key: &str = k.get_ref();
            if !allowed.contains(&key) {
                let hint = self.hint(key, allowed.iter().copied());
                self.error(k.span(), format!("unknown key `{key}` in {context}"), hint);
                continue;
            }
            out.push(Entry {
                key,
                key_span: k.span(),
                value: v,
            });
        }
        out
    }

    /// All entries of a table (names chosen by the user: zones, components...).
    pub fn entries<'t, 'i>(&mut self, table: &'t Table<'i>) -> Vec<Entry<'t, 'i>> {
        table
            .iter()
            .map(|(k, v)| Entry {
                key: k.get_ref(),
                key_span: k.span(),
                value: v,
            })
            .collect()
    }

    pub fn table<'t, 'i>(&mut self, v: &'t Value<'i>, what: &str) -> Option<&'t Table<'i>> {
        match v.get_ref() {
            DeValue::Table(t) => Some(t),
            other => {
                let found = type_name(other);
                self.error(
                    v.span(),
                    format!("{what} must be a table, found {found}"),
                    format!("write it as a section: [{what}]"),
                );
                None
            }
        }
    }

    pub fn string(&mut self, v: &Value<'_>, what: &str) -> Option<Spanned<String>> {
        match v.get_ref() {
            DeValue::String(s) => Some(Spanned::new(v.span(), s.to_string())),
            other => {
                let found = type_name(other);
                self.error(
                    v.span(),
                    format!("{what} must be a string, found {found}"),
                    "put the value in double quotes",
                );
                None
            }
        }
    }

    pub fn boolean(&mut self, v: &Value<'_>, what: &str) -> Option<Spanned<bool>> {
        match v.get_ref() {
            DeValue::Boolean(b) => Some(Spanned::new(v.span(), *b)),
            other => {
                let found = type_name(other);
                self.error(
                    v.span(),
                    format!("{what} must be true or false, found {found}"),
                    "write true or false without quotes",
                );
                None
            }
        }
    }

    pub fn integer(&mut self, v: &Value<'_>, what: &str) -> Option<Spanned<i64>> {
        match v.get_ref() {
            DeValue::Integer(i) => match int_value(i) {
                Some(n) => Some(Spanned::new(v.span(), n)),
                None => {
                    self.error(
                        v.span(),
                        format!("{what} is out of range"),
                        "use a smaller number",
                    );
                    None
                }
            },
            other => {
                let found = type_name(other);
                self.error(
                    v.span(),
                    format!("{what} must be an integer, found {found}"),
                    "write a number without quotes",
                );
                None
            }
        }
    }

    pub fn array<'t, 'i>(&mut self, v: &'t Value<'i>, what: &str) -> Option<Vec<&'t Value<'i>>> {
        match v.get_ref() {
            DeValue::Array(a) => Some(a.iter().collect()),
            other => {
                let found = type_name(other);
                self.error(
                    v.span(),
                    format!("{what} must be an array, found {found}"),
                    "write a list in square brackets: [\"a\", \"b\"]",
                );
                None
            }
        }
    }

    /// A string or an array of strings (e.g. `kind = "vda"` or `kind = ["a", "b"]`).
    pub fn strings(&mut self, v: &Value<'_>, what: &str) -> Option<Vec<Spanned<String>>> {
        match v.get_ref() {
            DeValue::String(_) => self.string(v, what).map(|s| vec![s]),
            DeValue::Array(a) => {
                let mut out = Vec::new();
                for item in a.iter() {
                    if let Some(s) = self.string(item, what) {
                        out.push(s);
                    }
                }
                Some(out)
            }
            other => {
                let found = type_name(other);
                self.error(
                    v.span(),
                    format!("{what} must be a string or an array of strings, found {found}"),
                    "write \"name\" or [\"name\", \"other\"]",
                );
                None
            }
        }
    }

    /// [`Reader::strings`] without their spans: none when `v` is neither (reported).
    pub fn texts(&mut self, v: &Value<'_>, what: &str) -> Vec<String> {
        self.strings(v, what)
            .unwrap_or_default()
            .into_iter()
            .map(Spanned::into_inner)
            .collect()
    }

    /// Strings or integers rendered as text: ports may be written `443` or `"6910-6930"`.
    pub fn scalars(&mut self, v: &Value<'_>, what: &str) -> Option<Vec<Spanned<String>>> {
        let one = |r: &mut Self, item: &Value<'_>| -> Option<Spanned<String>> {
            match item.get_ref() {
                DeValue::String(s) => Some(Spanned::new(item.span(), s.to_string())),
                DeValue::Integer(i) => Some(Spanned::new(
                    item.span(),
                    int_value(i).map_or_else(|| i.as_str().to_string(), |n| n.to_string()),
                )),
                other => {
                    let found = type_name(other);
                    r.error(
                        item.span(),
                        format!("{what} must be a number or a string, found {found}"),
                        "write 443 or \"6910-6930\"",
                    );
                    None
                }
            }
        };
        match v.get_ref() {
            DeValue::Array(a) => Some(a.iter().filter_map(|i| one(self, i)).collect()),
            _ => one(self, v).map(|s| vec![s]),
        }
    }
}

/// Text of a TOML key, owned.
pub fn key_text(k: &Spanned<Cow<'_, str>>) -> String {
    k.get_ref().to_string()
}

fn int_value(i: &toml::de::DeInteger<'_>) -> Option<i64> {
    i64::from_str_radix(i.as_str(), i.radix()).ok()
}

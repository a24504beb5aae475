//! `ctxfw check --format`: the findings of one or more topologies for people (`text`, on
//! standard error) or for machines (`json`, `sarif`, `github`, on standard output), so a CI job
//! shows errors and warnings on the topology's lines instead of scraping text.

use serde::Serialize;

use crate::diag::{Cause, Diagnostic, Invalid, Severity};
use crate::exit;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// For people: each finding with its line and a caret, on standard error.
    #[default]
    Text,
    /// One JSON document: the files with their counts, and every finding with its position.
    Json,
    /// SARIF 2.1.0, for code scanning (GitHub, GitLab, Azure DevOps).
    Sarif,
    /// GitHub Actions workflow commands (`::error file=...,line=...::...`): annotations on the
    /// pull request's lines.
    Github,
}

/// What `check` found in one topology.
pub struct Checked {
    /// The file as the user named it (`<stdin>` for `-`).
    pub file: String,
    /// Errors (when invalid) and warnings, in the order found.
    pub diagnostics: Vec<Diagnostic>,
    /// Counts, when the topology is valid.
    pub summary: Option<Summary>,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Summary {
    pub components: usize,
    pub zones: usize,
    pub flows: usize,
}

impl Checked {
    /// The result of loading a topology; a valid one is linted as well.
    pub fn new(file: String, loaded: Result<crate::Loaded, Invalid>) -> Checked {
        match loaded {
            Ok(mut l) => {
                let lint = crate::lint::lint(&l);
                l.warnings.extend(lint);
                let summary = Summary {
                    components: l.topology.components.len(),
                    zones: l.topology.zones.len(),
                    flows: l.resolution.flows.len(),
                };
                Checked {
                    file: l.topology.file.name.clone(),
                    diagnostics: std::mem::take(&mut l.warnings),
                    summary: Some(summary),
                }
            }
            Err(invalid) => Checked {
                file,
                diagnostics: invalid.diagnostics,
                summary: None,
            },
        }
    }

    pub fn errors(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.is_error()).count()
    }

    pub fn warnings(&self) -> usize {
        self.diagnostics.len() - self.errors()
    }

    /// The exit code: 74 unreadable, 2 invalid, 1 warnings under `--deny-warnings`, else 0.
    pub fn exit_code(&self, deny_warnings: bool) -> u8 {
        if self.summary.is_none() {
            let io = self
                .diagnostics
                .iter()
                .any(|d| d.is_error() && d.cause == Cause::Io);
            if io {
                exit::IO
            } else {
                exit::INVALID
            }
        } else if deny_warnings && self.warnings() > 0 {
            exit::FINDINGS
        } else {
            exit::OK
        }
    }

    /// The text report: the findings (warnings left out when `quiet`), then one line saying
    /// what the file is.
    pub fn text(&self, quiet: bool) -> String {
        let mut out = String::new();
        for d in &self.diagnostics {
            if d.is_error() || !quiet {
                // A blank line between findings, as every command prints them.
                out.push_str(&d.to_string());
                out.push('\n');
            }
        }
        match &self.summary {
            Some(s) => {
                let w = self.warnings();
                out.push_str(&format!(
                    "{}: valid, {} components in {} zones, {} flows, {w} warning{}\n",
                    self.file,
                    s.components,
                    s.zones,
                    s.flows,
                    if w == 1 { "" } else { "s" }
                ));
            }
            None => {
                let n = self.errors();
                out.push_str(&format!(
                    "{n} error{} in {}\n",
                    if n == 1 { "" } else { "s" },
                    self.file
                ));
            }
        }
        out
    }
}

/// Where a finding is: file, and (when it points into the file) the 1-based line and column of
/// its start and of the character after its end. Columns count characters.
#[derive(Debug, Clone, Serialize)]
pub struct Position {
    pub file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_column: Option<usize>,
}

impl Position {
    pub fn of(file: &crate::diag::SourceFile, span: Option<&crate::diag::Span>) -> Position {
        let (start, end) = match span {
            Some(s) => (
                Some(file.line_col(s.start)),
                Some(file.line_col(s.end.max(s.start))),
            ),
            None => (None, None),
        };
        Position {
            file: file.name.clone(),
            line: start.map(|p| p.0),
            column: start.map(|p| p.1),
            end_line: end.map(|p| p.0),
            end_column: end.map(|p| p.1),
        }
    }
}

/// A finding's position, or, for one without a file, the checked file's.
pub fn position(d: &Diagnostic, checked_file: &str) -> Position {
    match &d.file {
        Some(f) => Position::of(f, d.span.as_ref()),
        None => Position {
            file: checked_file.to_string(),
            line: None,
            column: None,
            end_line: None,
            end_column: None,
        },
    }
}

/// The rule a finding belongs to, for tools that group findings (SARIF `ruleId`).
pub fn rule(d: &Diagnostic) -> Rule {
    match (d.severity, d.cause) {
        (Severity::Error, Cause::Io) => Rule::Unreadable,
        (Severity::Error, Cause::Input) => Rule::Invalid,
        (Severity::Warning, _) => Rule::Suspicious,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    Invalid,
    Unreadable,
    Suspicious,
}

impl Rule {
    pub const ALL: [Rule; 3] = [Rule::Invalid, Rule::Unreadable, Rule::Suspicious];

    pub fn id(self) -> &'static str {
        match self {
            Rule::Invalid => "invalid-input",
            Rule::Unreadable => "unreadable-file",
            Rule::Suspicious => "review-warning",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            Rule::Invalid => {
                "The topology (or an extension catalogue) has an error: nothing is generated from it."
            }
            Rule::Unreadable => "A file could not be read (missing, a directory, no permission).",
            Rule::Suspicious => {
                "Legal but suspicious: a removal that matches nothing, a port left random, a redundant flow."
            }
        }
    }
}

#[derive(Serialize)]
struct JsonFinding<'a> {
    severity: &'static str,
    rule: &'static str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    hint: Option<&'a str>,
    #[serde(flatten)]
    position: Position,
    /// Other places the finding is about (the first definition of a duplicate).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    related: Vec<JsonRelated<'a>>,
}

#[derive(Serialize)]
struct JsonRelated<'a> {
    message: &'a str,
    #[serde(flatten)]
    position: Position,
}

#[derive(Serialize)]
struct JsonFile<'a> {
    file: &'a str,
    valid: bool,
    errors: usize,
    warnings: usize,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    summary: Option<Summary>,
    findings: Vec<JsonFinding<'a>>,
}

fn severity(d: &Diagnostic) -> &'static str {
    match d.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

/// `--format json`: `{"files": [{file, valid, errors, warnings, components?, zones?, flows?,
/// findings: [{severity, rule, message, hint?, file, line?, column?, end_line?, end_column?,
/// related?}]}]}`.
pub fn json(checked: &[Checked]) -> String {
    let files: Vec<JsonFile<'_>> = checked
        .iter()
        .map(|c| JsonFile {
            file: &c.file,
            valid: c.summary.is_some(),
            errors: c.errors(),
            warnings: c.warnings(),
            summary: c.summary,
            findings: c
                .diagnostics
                .iter()
                .map(|d| JsonFinding {
                    severity: severity(d),
                    rule: rule(d).id(),
                    message: &d.message,
                    hint: d.hint.as_deref(),
                    position: position(d, &c.file),
                    related: d
                        .labels
                        .iter()
                        .map(|l| JsonRelated {
                            message: &l.message,
                            position: Position::of(&l.file, Some(&l.span)),
                        })
                        .collect(),
                })
                .collect(),
        })
        .collect();
    let mut text = serde_json::to_string_pretty(&serde_json::json!({ "files": files }))
        .expect("findings serialise");
    text.push('\n');
    text
}

/// A workflow command's message: `%`, CR and LF escaped as GitHub's toolkit does.
fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A workflow command's property value: also `:` and `,`, which end a property.
fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// `--format github`: one `::error` or `::warning` workflow command per finding, with the file,
/// line and column range where it has them, the hint on the message's second line.
pub fn github(checked: &[Checked]) -> String {
    let mut out = String::new();
    for c in checked {
        for d in &c.diagnostics {
            let p = position(d, &c.file);
            let mut props = vec![format!("file={}", escape_property(&p.file))];
            let numbers = [
                ("line", p.line),
                ("col", p.column),
                ("endLine", p.end_line),
                ("endColumn", p.end_column),
            ];
            for (k, v) in numbers {
                if let Some(v) = v {
                    props.push(format!("{k}={v}"));
                }
            }
            props.push(format!(
                "title={}",
                escape_property(&format!("ctxfw {}", rule(d).id()))
            ));
            let mut message = d.message.clone();
            if let Some(h) = &d.hint {
                message.push_str("\nhint: ");
                message.push_str(h);
            }
            out.push_str(&format!(
                "::{} {}::{}\n",
                severity(d),
                props.join(","),
                escape_data(&message)
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::SourceFile;

    #[test]
    fn github_escapes_as_the_toolkit_does() {
        assert_eq!(escape_data("50% a\r\nb"), "50%25 a%0D%0Ab");
        assert_eq!(escape_property("a:b,c%"), "a%3Ab%2Cc%25");
        let f = SourceFile::new("dir,x:y.toml", "a = 1\nzone = \"dmzz\"\n");
        let d = Diagnostic::error("unknown zone `dmzz`")
            .at(&f, 13..19)
            .hint("did you mean \"dmz\"?");
        let c = Checked {
            file: f.name.clone(),
            diagnostics: vec![d],
            summary: None,
        };
        assert_eq!(
            github(&[c]),
            "::error file=dir%2Cx%3Ay.toml,line=2,col=8,endLine=2,endColumn=14,\
             title=ctxfw invalid-input::unknown zone `dmzz`%0Ahint: did you mean \"dmz\"?\n"
        );
    }
}

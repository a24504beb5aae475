//! Reading JSON rule sets with errors that point into the file: a value's position is found
//! again from its path (serde_json's values carry none), so every error has line and column.

use serde_json::Value;

use crate::diag::{Diagnostic, SourceFile};

/// One step of a path into a JSON document.
#[derive(Debug, Clone)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// A path, printed as `SecurityGroups[2].IpPermissions[0]`.
#[derive(Debug, Clone, Default)]
pub struct Path(pub Vec<Seg>);

impl Path {
    pub fn key(&self, k: &str) -> Path {
        let mut p = self.clone();
        p.0.push(Seg::Key(k.to_string()));
        p
    }

    pub fn index(&self, i: usize) -> Path {
        let mut p = self.clone();
        p.0.push(Seg::Index(i));
        p
    }
}

impl std::fmt::Display for Path {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (n, s) in self.0.iter().enumerate() {
            match s {
                Seg::Key(k) if n == 0 => write!(f, "{k}")?,
                Seg::Key(k) => write!(f, ".{k}")?,
                Seg::Index(i) => write!(f, "[{i}]")?,
            }
        }
        Ok(())
    }
}

fn ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

/// The end of the string starting at `i` (its opening quote) and its text, escapes kept
/// simple (keys are plain names).
fn string(b: &[u8], i: usize) -> (usize, String) {
    let mut j = i + 1;
    let mut out = Vec::new();
    while j < b.len() && b[j] != b'"' {
        if b[j] == b'\\' && j + 1 < b.len() {
            out.push(b[j + 1]);
            j += 2;
        } else {
            out.push(b[j]);
            j += 1;
        }
    }
    (j + 1, String::from_utf8_lossy(&out).into_owned())
}

fn skip(b: &[u8], i: usize) -> usize {
    let i = ws(b, i);
    match b.get(i) {
        Some(b'"') => string(b, i).0,
        Some(b'{') | Some(b'[') => {
            let mut depth = 0usize;
            let mut j = i;
            while j < b.len() {
                match b[j] {
                    b'"' => {
                        j = string(b, j).0;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return j + 1;
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            j
        }
        _ => {
            let mut j = i;
            while j < b.len() && !matches!(b[j], b',' | b'}' | b']') && !b[j].is_ascii_whitespace()
            {
                j += 1;
            }
            j
        }
    }
}

/// Byte offset of the value at `path` in `text` (as far as the path can be followed).
pub fn locate(text: &str, path: &Path) -> usize {
    let b = text.as_bytes();
    let mut i = ws(b, 0);
    'seg: for seg in &path.0 {
        match (b.get(i), seg) {
            (Some(b'{'), Seg::Key(k)) => {
                let mut j = i + 1;
                loop {
                    j = ws(b, j);
                    if b.get(j) != Some(&b'"') {
                        return i;
                    }
                    let (end, key) = string(b, j);
                    let colon = ws(b, end);
                    let value = ws(b, colon + 1);
                    if &key == k {
                        i = value;
                        continue 'seg;
                    }
                    j = ws(b, skip(b, value));
                    if b.get(j) == Some(&b',') {
                        j += 1;
                    } else {
                        return i;
                    }
                }
            }
            (Some(b'['), Seg::Index(n)) => {
                let mut j = ws(b, i + 1);
                for _ in 0..*n {
                    j = ws(b, skip(b, j));
                    if b.get(j) == Some(&b',') {
                        j = ws(b, j + 1);
                    } else {
                        return i;
                    }
                }
                i = j;
            }
            _ => return i,
        }
    }
    i
}

/// A JSON rule-set file being read: its text for positions and its parsed value.
pub struct Doc<'a> {
    pub file: &'a SourceFile,
    pub root: Value,
}

impl<'a> Doc<'a> {
    /// Parse, or the syntax error at its line and column.
    pub fn parse(file: &'a SourceFile, what: &str) -> Result<Doc<'a>, Box<Diagnostic>> {
        match serde_json::from_str::<Value>(&file.text) {
            Ok(root) => Ok(Doc { file, root }),
            Err(e) => {
                let off = offset_of(&file.text, e.line(), e.column());
                Err(Box::new(Diagnostic::error(format!("{what}: JSON syntax: {e}"))
                    .at(file, off..off + 1)
                    .hint("the file must be the command's JSON output, unedited (check for a truncated copy)")))
            }
        }
    }

    /// An error at the value `path` names.
    pub fn error(&self, path: &Path, message: impl Into<String>, hint: &str) -> Box<Diagnostic> {
        let off = locate(&self.file.text, path);
        let end = skip(self.file.text.as_bytes(), off).max(off + 1);
        Box::new(
            Diagnostic::error(format!("{} (at {path})", message.into()))
                .at(self.file, off..end.min(self.file.text.len()).max(off + 1))
                .hint(hint),
        )
    }

    /// 1-based line of the value at `path`.
    pub fn line(&self, path: &Path) -> usize {
        self.file.line_col(locate(&self.file.text, path)).0
    }
}

/// Byte offset of a 1-based line and column.
pub fn offset_of(text: &str, line: usize, col: usize) -> usize {
    let start: usize = text
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum();
    (start + col.saturating_sub(1)).min(text.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_values_by_path() {
        let text = "{\n \"a\": [1, {\"b\": \"x\\\"y\"}, {\"c\": [true, 7]}],\n \"d\": null\n}";
        let p = Path::default().key("a").index(2).key("c").index(1);
        assert_eq!(&text[locate(text, &p)..locate(text, &p) + 1], "7");
        let d = Path::default().key("d");
        assert_eq!(&text[locate(text, &d)..locate(text, &d) + 4], "null");
        let b = Path::default().key("a").index(1).key("b");
        assert_eq!(&text[locate(text, &b)..locate(text, &b) + 1], "\"");
        assert_eq!(p.to_string(), "a[2].c[1]");
    }
}

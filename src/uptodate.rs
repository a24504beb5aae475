//! `ctxfw generate --check`: are the files in the output directory what ctxfw generates now?
//! Nothing is written; for a pre-commit hook or a CI step that fails when committed rule sets
//! were not regenerated after a topology or catalogue change.

use std::path::{Path, PathBuf};

/// A generated file that the directory does not hold as generated.
#[derive(Debug, PartialEq, Eq)]
pub enum Stale {
    /// The directory's file has other content.
    Differs(PathBuf),
    /// The directory has no such file.
    Missing(PathBuf),
}

impl std::fmt::Display for Stale {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stale::Differs(p) => write!(f, "{}: differs from what ctxfw generates", p.display()),
            Stale::Missing(p) => write!(f, "{}: missing", p.display()),
        }
    }
}

/// Every file of `files` (name, content) that `dir` does not hold byte for byte, in their
/// order. A file that exists but cannot be read is an error (exit 74), not a difference.
pub fn stale<'a>(
    dir: &Path,
    files: impl IntoIterator<Item = (&'a str, &'a [u8])>,
) -> std::io::Result<Vec<Stale>> {
    let mut out = Vec::new();
    for (name, content) in files {
        let path = dir.join(name);
        match std::fs::read(&path) {
            Ok(bytes) if bytes == content => {}
            Ok(_) => out.push(Stale::Differs(path)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => out.push(Stale::Missing(path)),
            Err(e) => {
                return Err(std::io::Error::new(
                    e.kind(),
                    format!("reading {}: {e}", path.display()),
                ))
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differs_and_missing() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.nft"), "same\n").unwrap();
        std::fs::write(dir.path().join("b.nft"), "old\n").unwrap();
        let files: [(&str, &[u8]); 3] =
            [("a.nft", b"same\n"), ("b.nft", b"new\n"), ("c.nft", b"x")];
        assert_eq!(
            stale(dir.path(), files).unwrap(),
            vec![
                Stale::Differs(dir.path().join("b.nft")),
                Stale::Missing(dir.path().join("c.nft"))
            ]
        );
    }
}

//! `-` as standard input or output, as in every Unix tool: `check -` reads the topology from
//! standard input, `flows --out -` and `generate --out -` print to standard output.

use std::io::Read;
use std::path::Path;

use crate::diag::{Diagnostic, Invalid};
use crate::output::OutFile;

/// The name a topology read from standard input has in messages (`<stdin>:3:10`).
pub const STDIN_NAME: &str = "<stdin>";

/// Whether a path argument is `-`: standard input or output.
pub fn is_std(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// Read standard input as UTF-8 text, no more than `limit` bytes and one (so a caller's size
/// check sees the input is too large without holding an endless stream).
pub fn read_stdin(what: &str, limit: u64) -> Result<String, Invalid> {
    let mut bytes = Vec::new();
    std::io::stdin()
        .lock()
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Invalid {
            diagnostics: vec![Diagnostic::io_error(format!(
                "cannot read {what} from standard input: {e}"
            ))
            .hint("pass the file's path instead of -")],
        })?;
    String::from_utf8(bytes).map_err(|e| Invalid {
        diagnostics: vec![Diagnostic::error(format!(
            "{what} on standard input is not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        ))
        .in_file(&crate::diag::SourceFile::new(STDIN_NAME, ""))
        .hint("save the file as UTF-8")],
    })
}

/// Files that only repeat, for a tool, what the main file of their target says: the domain
/// list beside a rule set (`<name>.domains.txt`) is in the rule set's header too.
fn companion(name: &str) -> bool {
    name.ends_with(".domains.txt")
}

/// The one file a target prints on standard output: its files without companions, when that
/// leaves exactly one.
pub fn one_file(files: &[OutFile]) -> Option<&OutFile> {
    let mut main = files.iter().filter(|f| !companion(&f.name));
    match (main.next(), main.next()) {
        (Some(f), None) => Some(f),
        _ => None,
    }
}

/// After a failed command that printed nothing: when standard output is an empty regular file
/// (the shell's `> site.nft` made it before ctxfw ran), remove it, so no empty rule set is left
/// to be applied by mistake. Linux only (it finds the file through /proc); elsewhere nothing.
/// Returns the path removed.
pub fn remove_empty_stdout_file() -> Option<std::path::PathBuf> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::MetadataExt;
        let fd = Path::new("/proc/self/fd/1");
        let open = std::fs::metadata(fd).ok()?;
        if !open.is_file() || open.len() != 0 {
            return None;
        }
        let path = std::fs::read_link(fd).ok()?;
        // The name still leads to the file standard output is (not a file renamed since).
        let named = std::fs::symlink_metadata(&path).ok()?;
        if named.dev() != open.dev() || named.ino() != open.ino() || named.len() != 0 {
            return None;
        }
        std::fs::remove_file(&path).ok()?;
        Some(path)
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(name: &str) -> OutFile {
        OutFile {
            name: name.into(),
            content: String::new(),
        }
    }

    #[test]
    fn the_domain_list_does_not_count_as_a_second_file() {
        let nft = [f("x.nft"), f("x.domains.txt")];
        assert_eq!(one_file(&nft).map(|f| f.name.as_str()), Some("x.nft"));
        assert!(one_file(&[f("x.rules"), f("x.rules6"), f("x.domains.txt")]).is_none());
        assert!(one_file(&[]).is_none());
        assert!(is_std(Path::new("-")));
        assert!(!is_std(Path::new("./-")));
    }
}

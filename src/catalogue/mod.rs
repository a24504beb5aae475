//! The port catalogue: component kinds, parameters and flows, loaded from `catalogue/*.toml`
//! (embedded in the binary) and, optionally, a user's directory of extensions.
//!
//! The schema is documented in `catalogue/README.md`. Loading checks every cross-reference
//! (kinds, traits, roles, parameters, references, defects) and reports all problems at once.

mod check;
mod flows;
mod kinds;
mod model;
mod read;

pub use kinds::domain_name_problem;
pub use model::*;
pub use read::param_value;

use std::path::Path;

use crate::diag::{Diagnostic, Invalid, SourceFile};
use crate::doc::{self, Reader};

/// The catalogue files shipped inside the binary, in load order.
pub const EMBEDDED: &[(&str, &str)] = &include!(concat!(env!("OUT_DIR"), "/catalogue_files.rs"));

impl Catalogue {
    /// The embedded catalogue only.
    pub fn embedded() -> Result<Catalogue, Invalid> {
        Catalogue::load(None)
    }

    /// The embedded catalogue plus every `*.toml` in `ext` (sorted by name).
    pub fn load(ext: Option<&Path>) -> Result<Catalogue, Invalid> {
        let mut files: Vec<SourceFile> = EMBEDDED
            .iter()
            .map(|(name, text)| SourceFile::new(format!("catalogue/{name}"), *text))
            .collect();
        if let Some(dir) = ext {
            files.extend(read_dir_files(dir)?);
        }
        Catalogue::from_files(files)
    }

    pub fn from_files(files: Vec<SourceFile>) -> Result<Catalogue, Invalid> {
        let mut cat = Catalogue::default();
        let mut diags = Vec::new();
        for (i, file) in files.iter().enumerate() {
            match doc::parse(file) {
                Ok(table) => {
                    let mut r = Reader::new(file);
                    read::read_file(&mut r, &mut cat, table.get_ref(), i, &files);
                    diags.extend(r.finish());
                }
                Err(d) => diags.extend(d),
            }
        }
        cat.files = files;
        if !diags.iter().any(Diagnostic::is_error) {
            cat.check(&mut diags);
        }
        if diags.iter().any(Diagnostic::is_error) {
            return Err(Invalid { diagnostics: diags });
        }
        Ok(cat)
    }
}

fn read_dir_files(dir: &Path) -> Result<Vec<SourceFile>, Invalid> {
    let fail = |msg: String, hint: &str| Invalid {
        diagnostics: vec![Diagnostic::error(msg).hint(hint.to_string())],
    };
    let unreadable = |e: std::io::Error| Invalid {
        diagnostics: vec![Diagnostic::io_error(format!(
            "cannot read catalogue directory {}: {e}",
            dir.display()
        ))
        .in_file(&SourceFile::new(dir.display().to_string(), ""))
        .hint("pass --catalogue a readable directory of *.toml files")],
    };
    let rd = std::fs::read_dir(dir).map_err(unreadable)?;
    // Files are read only from inside the directory itself, wherever it is.
    let root = dir.canonicalize().map_err(unreadable)?;
    let mut paths: Vec<_> = rd
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.sort();
    if paths.is_empty() {
        return Err(fail(
            format!(
                "catalogue directory {} holds no *.toml files",
                dir.display()
            ),
            "put your in-house kinds and flows in a file such as site.toml",
        ));
    }
    let mut total = 0;
    paths
        .into_iter()
        .map(|p| {
            let text = read_catalogue_file(&root, dir, &p)?;
            total += text.len() as u64;
            if total > crate::diag::MAX_INPUT {
                return Err(fail(
                    format!(
                        "the catalogue files of {} are larger than {} MiB together",
                        dir.display(),
                        crate::diag::MAX_INPUT >> 20
                    ),
                    "keep only your in-house kinds and flows there",
                ));
            }
            Ok(SourceFile::new(p.display().to_string(), text))
        })
        .collect()
}

/// One file of a catalogue directory (`root` is where it really is): a link is followed only
/// to a file inside the directory, and only a regular file is read (a link to /etc/shadow, a
/// device or a pipe is refused), at most [`crate::diag::MAX_INPUT`] bytes of it.
fn read_catalogue_file(root: &Path, dir: &Path, p: &Path) -> Result<String, Invalid> {
    use rustix::fs::{Mode, OFlags};
    let what = "catalogue file";
    let refuse = |why: &str| Invalid {
        diagnostics: vec![Diagnostic::error(format!("{what} {} {why}", p.display()))
            .in_file(&SourceFile::new(p.display().to_string(), ""))
            .hint(format!(
                "ctxfw reads only regular files inside {}; copy the file there",
                dir.display()
            ))],
    };
    let opened = p.canonicalize().and_then(|real| {
        if !real.starts_with(root) {
            return Ok(None);
        }
        // Not followed if it became a link since: it was checked as it is now. Not blocking
        // on a pipe, which is refused next.
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let file = std::fs::File::from(rustix::fs::open(&real, flags, Mode::empty())?);
        Ok(Some(file))
    });
    let file = match opened {
        Ok(Some(file)) => file,
        Ok(None) => return Err(refuse("is a link to a file outside the directory")),
        Err(e) => return crate::diag::text_of(p, what, Err(e)),
    };
    match file.metadata() {
        Ok(m) if !m.is_file() => Err(refuse("is not a regular file")),
        Ok(_) => crate::diag::text_of(
            p,
            what,
            crate::diag::read_limited_from(file, crate::diag::MAX_INPUT),
        ),
        Err(e) => crate::diag::text_of(p, what, Err(e)),
    }
}

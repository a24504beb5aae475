//! A topology file (format: README, "Topology format"), read in two steps: [`raw`] reads what
//! the file says (its keys and TOML types, with spans), [`check`] turns that into a checked
//! [`Topology`] ([`model`]) consistent with the catalogue. Every problem of both steps is
//! collected before anything is reported.

mod addresses;
mod changes;
mod check;
pub mod model;
pub mod raw;

pub use check::MAX_IFNAME;
pub use model::*;
pub use raw::COMPONENT_KEYS;

use crate::catalogue::Catalogue;
use crate::diag::{Diagnostic, Invalid, SourceFile};
use crate::doc::{self, Reader};

/// Read a topology file from disk.
pub fn load(
    path: &std::path::Path,
    cat: &Catalogue,
) -> Result<(Topology, Vec<Diagnostic>), Invalid> {
    if crate::stdio::is_std(path) {
        let text = crate::stdio::read_stdin("topology", MAX_BYTES as u64)?;
        return parse(SourceFile::new(crate::stdio::STDIN_NAME, text), cat);
    }
    let text = crate::diag::read_text(path, "topology")?;
    parse(SourceFile::new(path.display().to_string(), text), cat)
}

/// The largest topology file read (README, "Limits").
const MAX_BYTES: usize = 16 * 1024 * 1024;

/// Parse and validate; on success also returns warnings.
pub fn parse(file: SourceFile, cat: &Catalogue) -> Result<(Topology, Vec<Diagnostic>), Invalid> {
    if file.text.len() > MAX_BYTES {
        return Err(Invalid {
            diagnostics: vec![Diagnostic::error("topology file is larger than 16 MiB")
                .in_file(&file)
                .hint("split the deployment into several topologies")],
        });
    }
    let table = match doc::parse(&file) {
        Ok(t) => t,
        Err(diagnostics) => return Err(Invalid { diagnostics }),
    };
    let mut r = Reader::new(&file);
    let settings: Vec<&str> = cat
        .kinds
        .values()
        .flat_map(|k| k.settings.keys().map(String::as_str))
        .collect();
    let raw = raw::read(&mut r, table.get_ref(), &settings);
    let topo = check::check(&mut r, raw, cat, &file);
    let diags = r.finish();
    if diags.iter().any(Diagnostic::is_error) {
        return Err(Invalid { diagnostics: diags });
    }
    Ok((topo, diags))
}

//! ctxfw: a Citrix deployment topology in, firewall rule sets out.
//!
//! The pipeline is the module layout: [`catalogue`] and [`topology`] are read and checked,
//! [`resolve`] binds them into [`flow::Flow`]s, [`render`] turns them into text through
//! templates, and [`output`] writes files atomically.

#![forbid(unsafe_code)]

pub mod audit;
pub mod catalogue;
pub mod complete;
pub mod cond;
pub mod diag;
pub mod diff;
pub mod doc;
pub mod explain;
pub mod flow;
pub mod generate;
pub mod lint;
pub mod output;
pub mod plan;
pub mod render;
pub mod report;
pub mod resolve;
pub mod review;
pub mod sarif;
pub mod stdio;
pub mod suggest;
pub mod term;
pub mod topology;
pub mod uptodate;

/// Hash maps and sets for internal indexes, with foldhash instead of SipHash: parsing and
/// resolving hash every name and end many times over (measured in BENCHMARKS.md); seeded per
/// process all the same. No output depends on their iteration order, which varies between runs
/// with either.
pub(crate) type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
pub(crate) type HashSet<T> = std::collections::HashSet<T, foldhash::fast::RandomState>;

/// Exit codes shared by every command (README, "Exit codes").
pub mod exit {
    /// Success: valid, equal, allowed.
    pub const OK: u8 = 0;
    /// Findings: differences (`diff`), traffic not allowed (`explain`), warnings denied (`check --deny-warnings`).
    pub const FINDINGS: u8 = 1;
    /// Invalid input: a topology or catalogue file with errors.
    pub const INVALID: u8 = 2;
    /// Usage error: unknown command, option or argument value.
    pub const USAGE: u8 = 64;
    /// I/O error: a file could not be read or written.
    pub const IO: u8 = 74;
}

use std::path::Path;

use catalogue::Catalogue;
use diag::{Diagnostic, Invalid};
use resolve::Resolution;
use topology::Topology;

/// Everything a command needs: catalogue, checked topology, resolved flows, all warnings.
pub struct Loaded {
    pub catalogue: Catalogue,
    pub topology: Topology,
    pub resolution: Resolution,
    pub warnings: Vec<Diagnostic>,
}

/// Refuse a topology whose flows would grow past [`resolve::MAX_BINDINGS`] (quadratic in the
/// components per kind) before resolving it, instead of running out of time or memory; the bound
/// when it is within the limit.
pub fn check_size(topology: &Topology, catalogue: &Catalogue) -> Result<usize, Invalid> {
    let n = resolve::binding_bound(topology, catalogue);
    if n <= resolve::MAX_BINDINGS {
        return Ok(n);
    }
    Err(Invalid {
        diagnostics: vec![Diagnostic::error(format!(
            "{} components would bind into up to {} flows, more than ctxfw handles ({})",
            diag::thousands(topology.components.len()),
            diag::thousands(n),
            diag::thousands(resolve::MAX_BINDINGS)
        ))
        .in_file(&topology.file)
        .hint("list the servers of one role as one component with hosts = [...], or split the deployment into several topologies")],
    })
}

/// Load the catalogue (with an optional extension directory) and a topology, and resolve.
pub fn load(topology: &Path, catalogue_dir: Option<&Path>) -> Result<Loaded, Invalid> {
    let catalogue = Catalogue::load(catalogue_dir)?;
    let (topology, mut warnings) = topology::load(topology, &catalogue)?;
    let bound = check_size(&topology, &catalogue)?;
    let resolution = resolve::resolve_bounded(&topology, &catalogue, bound);
    warnings.extend(resolution.warnings.iter().cloned());
    Ok(Loaded {
        catalogue,
        topology,
        resolution,
        warnings,
    })
}

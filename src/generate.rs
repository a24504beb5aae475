//! `ctxfw generate`: the registry of output targets. Each target is a function from the
//! loaded topology to files; most are a template plus a thin adapter in `render/<target>.rs`.

use anyhow::{bail, Result};

use crate::output::OutFile;
use crate::plan::Perspective;
use crate::render::Renderer;
use crate::Loaded;

/// Options that some targets read; a target ignores what does not concern it.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Host-firewall perspective for this component (nftables, iptables).
    pub host: Option<String>,
    /// Log (and count) dropped packets.
    pub log_drops: bool,
    /// Count packets on every rule.
    pub counters: bool,
    /// Windows: also emit outbound rules for what a component initiates.
    pub outbound: bool,
}

impl Options {
    pub fn perspective(&self) -> Perspective {
        match &self.host {
            Some(h) => Perspective::Host(h.clone()),
            None => Perspective::Zone,
        }
    }
}

/// What a target renders from.
pub struct Ctx<'a> {
    pub loaded: &'a Loaded,
    pub renderer: &'a Renderer,
    pub opts: &'a Options,
}

pub struct Target {
    pub name: &'static str,
    pub about: &'static str,
    /// Renders a host firewall with `--host`; golden files cover it for Linux components.
    pub host_aware: bool,
    pub render: fn(&Ctx<'_>) -> Result<Vec<OutFile>>,
}

/// Every target, in the order `--target all` writes them.
pub const TARGETS: &[Target] = &[
    Target {
        name: "flows",
        about: "the resolved flows as <topology>.flows.json and <topology>.flows.md",
        host_aware: false,
        render: flows,
    },
    Target {
        name: "matrix",
        about: "change-request attachment: <topology>.md (Mermaid diagram), .csv and .html (SVG)",
        host_aware: false,
        render: crate::render::matrix::render,
    },
    Target {
        name: "aerleon",
        about: "Aerleon policy and definitions under <topology>.aerleon/ for aclgen",
        host_aware: false,
        render: crate::render::aerleon::render,
    },
];

fn flows(ctx: &Ctx<'_>) -> Result<Vec<OutFile>> {
    let (t, r) = (&ctx.loaded.topology, &ctx.loaded.resolution);
    let mut files = crate::render::flows::review_files(ctx.renderer, t, r)?;
    for f in &mut files {
        f.name = format!("{}.{}", t.name, f.name);
    }
    Ok(files)
}

pub fn target_names() -> Vec<&'static str> {
    TARGETS.iter().map(|t| t.name).collect()
}

/// The targets a `--target` value names (`all` = every target).
pub fn select(name: &str) -> Result<Vec<&'static Target>> {
    if name == "all" {
        return Ok(TARGETS.iter().collect());
    }
    match TARGETS.iter().find(|t| t.name == name) {
        Some(t) => Ok(vec![t]),
        None => Err(UsageError(format!(
            "unknown target `{name}`; {}",
            crate::diag::choice_hint(name, target_names().into_iter().chain(["all"]))
        ))
        .into()),
    }
}

/// A command-line mistake found after parsing (an unknown target or component): exit 64.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Render every selected target; all files or an error (nothing is written here).
pub fn generate(
    loaded: &Loaded,
    renderer: &Renderer,
    opts: &Options,
    targets: &[&Target],
) -> Result<Vec<OutFile>> {
    if let Some(h) = &opts.host {
        if !loaded.topology.components.contains_key(h) {
            return Err(UsageError(format!(
                "--host {h}: no such component in {}; {}",
                loaded.topology.file.name,
                crate::diag::choice_hint(h, loaded.topology.components.keys().map(String::as_str))
            ))
            .into());
        }
    }
    let ctx = Ctx {
        loaded,
        renderer,
        opts,
    };
    let mut out: Vec<OutFile> = Vec::new();
    for t in targets {
        for f in (t.render)(&ctx)? {
            if out.iter().any(|o| o.name == f.name) {
                bail!("two targets both write {}", f.name);
            }
            out.push(f);
        }
    }
    Ok(out)
}

//! `cargo bench`: each stage of the pipeline on synthetic topologies written by
//! `examples/scale.rs` into `target/bench-topologies/` (run `bench/run.sh` once, or
//! `cargo run --release --example scale -- --flows N --out target/bench-topologies/scale-N.toml`).
//!
//! Stages: parse (TOML to a checked topology), resolve (flows), plan (zone perspective) and
//! the render of every target in `generate::TARGETS` (new targets are included automatically).
//! Sizes: `CTXFW_BENCH_FLOWS=1000,10000` (default 1000,10000; 100000 takes a while).

use std::path::PathBuf;
use std::sync::OnceLock;

use ctxfw::catalogue::Catalogue;
use ctxfw::diag::SourceFile;
use ctxfw::generate::{self, Options, TARGETS};
use ctxfw::plan::{self, Perspective};
use ctxfw::render::Renderer;

fn main() {
    divan::main();
}

fn sizes() -> Vec<usize> {
    std::env::var("CTXFW_BENCH_FLOWS")
        .unwrap_or_else(|_| "1000,10000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect()
}

fn catalogue() -> &'static Catalogue {
    static C: OnceLock<Catalogue> = OnceLock::new();
    C.get_or_init(|| Catalogue::embedded().expect("embedded catalogue"))
}

/// The topology text for about `flows` flows, generated once by the scale example.
fn text(flows: usize) -> String {
    located(flows, None)
}

/// The same, with every site zone in a cloud (`aws`, `azure`, `gcp`) for the cloud targets.
fn located(flows: usize, location: Option<&str>) -> String {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-topologies");
    let path = match location {
        Some(l) => dir.join(format!("scale-{flows}-{l}.toml")),
        None => dir.join(format!("scale-{flows}.toml")),
    };
    if !path.exists() {
        let mut cmd = std::process::Command::new(env!("CARGO"));
        cmd.args(["run", "--release", "--quiet", "--example", "scale", "--"])
            .arg("--flows")
            .arg(flows.to_string())
            .arg("--out")
            .arg(&path);
        if let Some(l) = location {
            cmd.args(["--location", l]);
        }
        let status = cmd.status().expect("cargo run --example scale");
        assert!(status.success(), "scale example failed");
    }
    std::fs::read_to_string(&path).expect("scale topology")
}

/// The cloud a target renders (its topology needs zones there), if any.
fn cloud_of(target: &str) -> Option<&str> {
    ["aws", "azure", "gcp"].into_iter().find(|c| *c == target)
}

fn loaded(flows: usize) -> ctxfw::Loaded {
    loaded_in(flows, None)
}

fn loaded_in(flows: usize, location: Option<&str>) -> ctxfw::Loaded {
    let cat = Catalogue::embedded().expect("embedded catalogue");
    let text = located(flows, location);
    let (topology, warnings) =
        ctxfw::topology::parse(SourceFile::new("scale.toml", text), &cat).expect("valid");
    let resolution = ctxfw::resolve::resolve(&topology, &cat);
    ctxfw::Loaded {
        catalogue: cat,
        topology,
        resolution,
        warnings,
    }
}

#[divan::bench(args = sizes(), sample_count = 10)]
fn parse(b: divan::Bencher, flows: usize) {
    let t = text(flows);
    b.bench(|| {
        ctxfw::topology::parse(SourceFile::new("scale.toml", t.as_str()), catalogue()).unwrap()
    });
}

#[divan::bench(args = sizes(), sample_count = 10)]
fn resolve(b: divan::Bencher, flows: usize) {
    let (topo, _) =
        ctxfw::topology::parse(SourceFile::new("scale.toml", text(flows)), catalogue()).unwrap();
    b.bench(|| ctxfw::resolve::resolve(&topo, catalogue()));
}

#[divan::bench(args = sizes(), sample_count = 10)]
fn plan_zone(b: divan::Bencher, flows: usize) {
    let l = loaded(flows);
    b.bench(|| plan::plan(&l.topology, &l.resolution, &Perspective::Zone));
}

/// One benchmark per registered target: `render::<target>/<flows>`.
#[divan::bench(args = targets_by_size(), sample_count = 5)]
fn render(b: divan::Bencher, arg: &TargetSize) {
    let l = loaded_in(arg.flows, cloud_of(arg.target));
    let r = Renderer::new(None).unwrap();
    let t = TARGETS.iter().find(|t| t.name == arg.target).unwrap();
    b.bench(|| generate::generate(&l, &r, &Options::default(), &[t]).unwrap());
}

#[derive(Debug)]
struct TargetSize {
    target: &'static str,
    flows: usize,
}

impl std::fmt::Display for TargetSize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.target, self.flows)
    }
}

/// Every target at every size it accepts: a cloud target refuses topologies beyond its
/// cloud's quotas (AWS from about 1,000 flows, Azure from 10,000), which is said on stderr.
fn targets_by_size() -> Vec<TargetSize> {
    let mut v = Vec::new();
    let r = Renderer::new(None).unwrap();
    for flows in sizes() {
        for t in TARGETS {
            if cloud_of(t.name).is_some() {
                let l = loaded_in(flows, cloud_of(t.name));
                if let Err(e) = generate::generate(&l, &r, &Options::default(), &[t]) {
                    eprintln!(
                        "render::{}/{flows}: not measured, the target refuses it: {e}",
                        t.name
                    );
                    continue;
                }
            }
            v.push(TargetSize {
                target: t.name,
                flows,
            });
        }
    }
    v.sort_by_key(|a| (a.target, a.flows));
    v
}

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
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-topologies");
    let path = dir.join(format!("scale-{flows}.toml"));
    if !path.exists() {
        let status = std::process::Command::new(env!("CARGO"))
            .args([
                "run",
                "--release",
                "--quiet",
                "--example",
                "scale",
                "--",
                "--flows",
            ])
            .arg(flows.to_string())
            .arg("--out")
            .arg(&path)
            .status()
            .expect("cargo run --example scale");
        assert!(status.success(), "scale example failed");
    }
    std::fs::read_to_string(&path).expect("scale topology")
}

fn loaded(flows: usize) -> ctxfw::Loaded {
    let cat = Catalogue::embedded().expect("embedded catalogue");
    let (topology, warnings) =
        ctxfw::topology::parse(SourceFile::new("scale.toml", text(flows)), &cat).expect("valid");
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
    b.bench(|| plan::plan(&l.resolution, &Perspective::Zone));
}

/// One benchmark per registered target: `render::<target>/<flows>`.
#[divan::bench(args = targets_by_size(), sample_count = 5)]
fn render(b: divan::Bencher, arg: &TargetSize) {
    let l = loaded(arg.flows);
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

fn targets_by_size() -> Vec<TargetSize> {
    let mut v = Vec::new();
    for t in TARGETS {
        for flows in sizes() {
            v.push(TargetSize {
                target: t.name,
                flows,
            });
        }
    }
    v
}

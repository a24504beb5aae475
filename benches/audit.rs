//! `cargo bench --bench audit`: `ctxfw audit` on the synthetic topologies of
//! `examples/scale.rs` (written into `target/bench-topologies/` as `benches/pipeline.rs` does),
//! against ctxfw's own zone rule sets for them: nftables in the `sets` layout (one rule per
//! flow and family) and iptables. `read` parses the rule set into the audit's model; `audit`
//! evaluates every flow against it and looks for what is open beyond them.
//! Sizes: `CTXFW_BENCH_FLOWS=1000,15000` (the default; 15,000 resolved flows are about 10,000
//! that cross zones, each a rule of the zone firewall).

use std::path::PathBuf;

use ctxfw::audit::{self, flows::Required, parse};
use ctxfw::catalogue::Catalogue;
use ctxfw::diag::SourceFile;
use ctxfw::generate::{self, Options, TARGETS};
use ctxfw::render::nftables::Layout;
use ctxfw::render::Renderer;

fn main() {
    divan::main();
}

fn sizes() -> Vec<usize> {
    std::env::var("CTXFW_BENCH_FLOWS")
        .unwrap_or_else(|_| "1000,15000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect()
}

fn loaded(flows: usize) -> ctxfw::Loaded {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-topologies");
    let path = dir.join(format!("scale-{flows}.toml"));
    if !path.exists() {
        let status = std::process::Command::new(env!("CARGO"))
            .args(["run", "--release", "--quiet", "--example", "scale", "--"])
            .arg("--flows")
            .arg(flows.to_string())
            .arg("--out")
            .arg(&path)
            .status()
            .expect("cargo run --example scale");
        assert!(status.success(), "scale example failed");
    }
    let cat = Catalogue::embedded().expect("embedded catalogue");
    let text = std::fs::read_to_string(&path).expect("scale topology");
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

/// The topology, its rule set in `target` written to a file, and the file's format.
struct Case {
    loaded: ctxfw::Loaded,
    files: Vec<PathBuf>,
    _dir: tempfile::TempDir,
}

fn case(flows: usize, target: &str) -> Case {
    let loaded = loaded(flows);
    let r = Renderer::new(None).unwrap();
    let t: Vec<_> = TARGETS.iter().filter(|t| t.name == target).collect();
    let opts = Options {
        nft_layout: Layout::Sets,
        ..Options::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for f in generate::generate(&loaded, &r, &opts, &t).unwrap() {
        if f.name.ends_with(".txt") {
            continue;
        }
        let p = dir.path().join(&f.name);
        std::fs::write(&p, &f.content).unwrap();
        files.push(p);
    }
    Case {
        loaded,
        files,
        _dir: dir,
    }
}

fn model(c: &Case, req: &Required) -> audit::model::Model {
    let ctx = parse::Context {
        req,
        interfaces: Vec::new(),
        bind: Vec::new(),
        locations: Vec::new(),
    };
    let mut all: Option<audit::model::Model> = None;
    for f in &c.files {
        let m = parse::read(f, None, &ctx).expect("reads");
        match &mut all {
            Some(a) => a.merge(m),
            None => all = Some(m),
        }
    }
    all.expect("a file")
}

fn args() -> Vec<String> {
    let mut v = Vec::new();
    for t in ["nftables", "iptables"] {
        for n in sizes() {
            v.push(format!("{t}/{n}"));
        }
    }
    v
}

fn split(arg: &str) -> (&str, usize) {
    let (t, n) = arg.split_once('/').unwrap();
    (t, n.parse().unwrap())
}

#[divan::bench(args = args(), sample_count = 5)]
fn read(b: divan::Bencher, arg: &str) {
    let (target, flows) = split(arg);
    let c = case(flows, target);
    let req = Required::new(&c.loaded);
    b.bench(|| model(&c, &req));
}

#[divan::bench(args = args(), sample_count = 5)]
fn audit(b: divan::Bencher, arg: &str) {
    let (target, flows) = split(arg);
    let c = case(flows, target);
    let req = Required::new(&c.loaded);
    let m = model(&c, &req);
    let rules: usize = m.chains.iter().map(|c| c.rules.len()).sum();
    let report = audit::audit_required(&req, &m, &audit::Options::default()).unwrap();
    eprintln!(
        "audit::{arg}: {} flows checked against {rules} rules; {} blocked, {} too open",
        report.flows_checked,
        report.blocked.len(),
        report.too_open.len()
    );
    b.bench(|| audit::audit_required(&req, &m, &audit::Options::default()).unwrap());
}

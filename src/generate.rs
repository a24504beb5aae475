//! `ctxfw generate`: the registry of output targets. Each target is a function from the
//! loaded topology to files; most are a template plus a thin adapter in `render/<target>.rs`.

use std::cell::RefCell;
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::{bail, Result};
use indexmap::IndexMap;

use crate::diag::Diagnostic;
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
    /// nftables: how rules and addresses are laid out (see `render::nftables::Layout`).
    pub nft_layout: crate::render::nftables::Layout,
    /// matrix: fold the flows of a recurring service into one row per zone pair.
    pub group: bool,
    /// matrix: the flows of a previous version, for the workbook's "what changed" section.
    pub previous: Option<Arc<crate::review::Previous>>,
}

impl Options {
    pub fn perspective(&self) -> Perspective {
        match &self.host {
            Some(h) => Perspective::Host(h.clone()),
            None => Perspective::Zone,
        }
    }
}

/// Writes one named file through a writer; see [`Ctx::write`].
type WriteFile<'a> = dyn Fn(&str, &mut dyn FnMut(&mut dyn Write) -> Result<()>) -> Result<()> + 'a;

/// What a target renders from.
pub struct Ctx<'a> {
    pub loaded: &'a Loaded,
    pub renderer: &'a Renderer,
    pub opts: &'a Options,
    /// Warnings a target finds while rendering (a host rule set that would lock out its
    /// administrators, a flow it cannot express), by message, each once; `generate_all`
    /// returns them in the order found.
    warnings: RefCell<IndexMap<String, Diagnostic>>,
    /// Where [`Ctx::write`] sends a file.
    out: &'a WriteFile<'a>,
}

impl Ctx<'_> {
    /// Hand a finished file on before the target returns. Files keep their order: emitted and
    /// written ones first, then the returned ones.
    pub fn emit(&self, f: OutFile) -> Result<()> {
        self.write(&f.name, |w| Ok(w.write_all(f.content.as_bytes())?))
    }

    /// Write the file `name` as `body` makes it: with `--out`, straight into its staged file,
    /// so a large file (the flows JSON grows with the flows) is never held whole in memory.
    /// The writer is not buffered: write large pieces, or through a `BufWriter`.
    pub fn write(&self, name: &str, body: impl FnOnce(&mut dyn Write) -> Result<()>) -> Result<()> {
        let mut body = Some(body);
        (self.out)(name, &mut |w| match body.take() {
            Some(b) => b(w),
            None => anyhow::bail!("{name} written twice"),
        })
    }

    /// Report a warning about the topology (printed by the CLI like `check`'s warnings).
    pub fn warn(&self, message: impl Into<String>, hint: impl Into<String>) {
        self.add_warning(
            Diagnostic::warning(message)
                .in_file(&self.loaded.topology.file)
                .hint(hint),
        );
    }

    /// A warning, reported once however often it is found.
    pub fn add_warning(&self, d: Diagnostic) {
        self.warnings
            .borrow_mut()
            .entry(d.message.clone())
            .or_insert(d);
    }
}

pub struct Target {
    pub name: &'static str,
    pub about: &'static str,
    /// Renders a host firewall with `--host`; golden files cover it for Linux components.
    pub host_aware: bool,
    /// Relative rendering time on a large topology (measured by the whole-process benchmark,
    /// BENCHMARKS.md): with more targets than cores, the costliest start first so no
    /// core is left with a long one at the end (order of the files and of the warnings does not
    /// depend on it).
    pub cost: u8,
    pub render: fn(&Ctx<'_>) -> Result<Vec<OutFile>>,
}

/// Every target, in the order `--target all` writes them.
pub const TARGETS: &[Target] = &[
    Target {
        name: "flows",
        about: "the resolved flows as <topology>.flows.json and <topology>.flows.md",
        host_aware: false,
        cost: 5,
        render: flows,
    },
    Target {
        name: "windows",
        about:
            "Windows Firewall PowerShell, <topology>-<component>.ps1 for every Windows component",
        // One script per Windows component already; `--host` narrows to one of them.
        host_aware: false,
        cost: 5,
        render: crate::render::windows::render,
    },
    Target {
        name: "nftables",
        about: "an nftables rule set, <topology>.nft: one inet table, replaced atomically",
        host_aware: true,
        cost: 3,
        render: crate::render::nftables::render,
    },
    Target {
        name: "iptables",
        about: "iptables-restore files, <topology>.rules (IPv4) and .rules6 (IPv6), in own chains",
        host_aware: true,
        cost: 3,
        render: crate::render::iptables::render,
    },
    Target {
        name: "aws",
        about: "CloudFormation template <topology>.aws.json: one security group per component in an aws zone",
        host_aware: false,
        cost: 1,
        render: crate::render::aws::render,
    },
    Target {
        name: "azure",
        about: "ARM template <topology>.azure.json: one network security group per azure zone",
        host_aware: false,
        cost: 1,
        render: crate::render::azure::render,
    },
    Target {
        name: "gcp",
        about: "<topology>.gcp.json: compute#firewall resources for the gcp zones' network",
        host_aware: false,
        cost: 6,
        render: crate::render::gcp::render,
    },
    Target {
        name: "terraform",
        about: "Terraform JSON, <topology>.<cloud>.tf.json for each cloud with zones: the aws, azure and gcp rules as provider resources",
        host_aware: false,
        cost: 2,
        render: crate::render::terraform::render,
    },
    Target {
        name: "matrix",
        about: "change-request attachment: <topology>.md (Mermaid overview), .csv, .html (diagrams) and .xlsx (workbook)",
        host_aware: false,
        cost: 11,
        render: crate::render::matrix::render,
    },
    Target {
        name: "probes",
        about: "connectivity probes, <topology>-<component>.probes.ps1 / .sh per source component, notes in <topology>.probes.txt",
        host_aware: false,
        cost: 1,
        render: crate::render::probes::render,
    },
    Target {
        name: "aerleon",
        about: "Aerleon policy and definitions under <topology>.aerleon/ for aclgen",
        host_aware: false,
        cost: 5,
        render: crate::render::aerleon::render,
    },
];

fn flows(ctx: &Ctx<'_>) -> Result<Vec<OutFile>> {
    let (t, r) = (&ctx.loaded.topology, &ctx.loaded.resolution);
    // Both are written as they are made, never held whole: they grow with the flows.
    ctx.write(&format!("{}.flows.json", t.name), |w| {
        crate::render::flows::write_json(t, r, w)
    })?;
    ctx.write(&format!("{}.flows.md", t.name), |w| {
        crate::render::flows::write_markdown(ctx.renderer, t, r, w)
    })?;
    Ok(Vec::new())
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

/// A target with nothing to write for this topology (a cloud target when no zone is in its
/// cloud). Selected alone it is an error; under `--target all` the target is skipped.
#[derive(Debug)]
pub struct NothingToRender(pub String);

impl std::fmt::Display for NothingToRender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NothingToRender {}

/// A command-line mistake found after parsing (an unknown target or component): exit 64.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// A `--host` that names no component of the topology is a usage error.
pub fn check_host(
    topology: &crate::topology::Topology,
    host: Option<&str>,
) -> Result<(), UsageError> {
    match host {
        Some(h) if !topology.components.contains_key(h) => Err(UsageError(format!(
            "--host {h}: no such component in {}; {}",
            topology.file.name,
            crate::diag::choice_hint(h, topology.components.keys().map(String::as_str))
        ))),
        _ => Ok(()),
    }
}

/// The files of every selected target, and the warnings the targets found.
#[derive(Debug)]
pub struct Generated {
    /// The text files.
    pub files: Vec<OutFile>,
    /// The files that are not text ([`is_binary`]): the workbook.
    pub binary: Vec<BinaryFile>,
    pub warnings: Vec<Diagnostic>,
    /// Targets of several that wrote nothing for this topology: (target, why).
    pub skipped: Vec<(&'static str, String)>,
}

/// A generated file that is not text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinaryFile {
    pub name: String,
    pub bytes: Vec<u8>,
}

/// Whether a target's file is binary (a workbook) rather than UTF-8 text.
pub fn is_binary(name: &str) -> bool {
    name.ends_with(".xlsx")
}

/// Render every selected target; all files or an error (nothing is written here).
pub fn generate(
    loaded: &Loaded,
    renderer: &Renderer,
    opts: &Options,
    targets: &[&Target],
) -> Result<Vec<OutFile>> {
    generate_all(loaded, renderer, opts, targets).map(|g| g.files)
}

/// [`generate`], with the targets' warnings.
pub fn generate_all(
    loaded: &Loaded,
    renderer: &Renderer,
    opts: &Options,
    targets: &[&Target],
) -> Result<Generated> {
    let memory = Memory::default();
    let done = generate_into(loaded, renderer, opts, targets, &memory)?;
    let held: Vec<(String, Vec<u8>)> = memory
        .0
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .into_iter()
        .flatten()
        .collect();
    let (mut files, mut binary) = (Vec::new(), Vec::new());
    for (name, bytes) in held {
        if is_binary(&name) {
            binary.push(BinaryFile { name, bytes });
        } else {
            let content = String::from_utf8(bytes)
                .map_err(|_| anyhow::anyhow!("{name}: the rendered text is not UTF-8"))?;
            files.push(OutFile { name, content });
        }
    }
    files.sort_by_key(|f| done.place(&f.name));
    binary.sort_by_key(|f| done.place(&f.name));
    Ok(Generated {
        files,
        binary,
        skipped: done.skipped_targets(targets),
        warnings: done.warnings,
    })
}

/// What [`generate_into`] reports besides the files.
pub struct Done {
    /// The targets' warnings, in target order, each message once.
    pub warnings: Vec<Diagnostic>,
    /// Each file's place: the first target (by index in `targets`) that writes it, and its
    /// position among that target's files.
    pub places: HashMap<String, (usize, usize)>,
    /// Of several targets, those that wrote nothing: (index in `targets`, why).
    pub skipped: Vec<(usize, String)>,
}

impl Done {
    /// [`Done::skipped`] by target name.
    pub fn skipped_targets(&self, targets: &[&Target]) -> Vec<(&'static str, String)> {
        self.skipped
            .iter()
            .map(|(i, why)| (targets[*i].name, why.clone()))
            .collect()
    }

    /// Sort key giving files in target order, the same on every run.
    pub fn place(&self, name: &str) -> (usize, usize) {
        self.places.get(name).copied().unwrap_or((usize::MAX, 0))
    }
}

/// Render every selected target, each file written into `sink` as it is made (on the
/// worker that renders it), so a caller never holds them all. Targets finish in any order: a
/// caller that lists the files sorts them by [`Done::place`]. On errors, returns the one of the
/// first target that failed, whatever the timing (the sink may hold files of any target then:
/// a [`crate::output::Stage`] dropped without a commit removes them).
pub fn generate_into(
    loaded: &Loaded,
    renderer: &Renderer,
    opts: &Options,
    targets: &[&Target],
    sink: &dyn Sink,
) -> Result<Done> {
    check_host(&loaded.topology, opts.host.as_deref())?;
    let render = |t: &Target, out: &WriteFile<'_>| {
        let ctx = Ctx {
            loaded,
            renderer,
            opts,
            warnings: RefCell::default(),
            out,
        };
        let rendered =
            (t.render)(&ctx).and_then(|files| files.into_iter().try_for_each(|f| ctx.emit(f)));
        (rendered, ctx.warnings.into_inner().into_values().collect())
    };
    let mut merge = Merge {
        several: targets.len() > 1,
        targets: targets.len(),
        file: &loaded.topology.file.name,
        skipped: BTreeMap::new(),
        warnings: BTreeMap::new(),
        places: HashMap::new(),
        counts: HashMap::new(),
        sink,
    };
    // Targets are independent: one worker per core takes the next target (all at once would
    // hold every target's intermediate data together), the costliest first. Files and
    // warnings do not depend on timing.
    let mut order: Vec<usize> = (0..targets.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(targets[i].cost));
    let next = AtomicUsize::new(0);
    // After a failure, targets after the failed one (in target order) are not started; the
    // ones before it still run, so the first failing target is found whatever the timing.
    let limit = AtomicUsize::new(usize::MAX);
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(targets.len());
    let mut failed: Option<(usize, anyhow::Error)> = None;
    std::thread::scope(|s| {
        let (tx, rx) = std::sync::mpsc::channel();
        for _ in 0..workers {
            let tx = tx.clone();
            let (next, limit, order, render) = (&next, &limit, &order, &render);
            s.spawn(move || {
                while let Some(&i) = order.get(next.fetch_add(1, Ordering::Relaxed)) {
                    if i > limit.load(Ordering::Relaxed) {
                        continue;
                    }
                    let t = targets[i];
                    // The target's files go to the caller with its result, in one message: a
                    // message per file would wake the receiving thread once per Windows script,
                    // taking a core from the workers each time.
                    let files = RefCell::new(Vec::new());
                    let out = |name: &str, body: &mut dyn FnMut(&mut dyn Write) -> Result<()>| {
                        let id = sink.write(name, body)?;
                        files.borrow_mut().push((name.to_string(), id));
                        Ok(())
                    };
                    let result = render(t, &out);
                    if tx.send((i, files.into_inner(), result)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        for (i, files, result) in rx {
            if failed.as_ref().is_some_and(|(f, _)| *f <= i) {
                continue;
            }
            let done = files
                .into_iter()
                .try_for_each(|(name, id)| merge.file(i, name, id))
                .and_then(|()| merge.take(i, result));
            if let Err(e) = done {
                limit.fetch_min(i, Ordering::Relaxed);
                failed = Some((i, e));
            }
        }
    });
    match failed {
        Some((_, e)) => Err(e),
        None => Ok(merge.done()),
    }
}

/// Where [`generate_into`] writes the files; the workers write into it at once.
pub trait Sink: Sync {
    /// Writes the file `name` as `body` makes it; returns its id.
    fn write(
        &self,
        name: &str,
        body: &mut dyn FnMut(&mut dyn Write) -> Result<()>,
    ) -> Result<usize>;
    /// Whether files `first` and `dup` (one name, written by two targets) have the same
    /// content; drops `dup`.
    fn same(&self, first: usize, dup: usize) -> Result<bool>;
}

/// A file kept in memory: its name and bytes.
type Kept = (String, Vec<u8>);

/// Files kept in memory, by id (`None` once dropped as a duplicate).
#[derive(Default)]
struct Memory(Mutex<Vec<Option<Kept>>>);

impl Sink for Memory {
    fn write(
        &self,
        name: &str,
        body: &mut dyn FnMut(&mut dyn Write) -> Result<()>,
    ) -> Result<usize> {
        let mut buf = Vec::new();
        body(&mut buf)?;
        let mut files = self.0.lock().unwrap_or_else(|p| p.into_inner());
        files.push(Some((name.to_string(), buf)));
        Ok(files.len() - 1)
    }

    fn same(&self, first: usize, dup: usize) -> Result<bool> {
        let mut files = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let b = files.get_mut(dup).and_then(Option::take);
        Ok(matches!((files.get(first), b), (Some(Some(a)), Some(b)) if a.1 == b.1))
    }
}

impl Sink for crate::output::Stage {
    fn write(
        &self,
        name: &str,
        body: &mut dyn FnMut(&mut dyn Write) -> Result<()>,
    ) -> Result<usize> {
        crate::output::Stage::write(self, name, body)
    }

    fn same(&self, first: usize, dup: usize) -> Result<bool> {
        crate::output::Stage::same(self, first, dup)
    }
}

/// Folds the targets' files and results.
struct Merge<'s> {
    several: bool,
    targets: usize,
    /// The topology's file name, left out of a skipped target's reason.
    file: &'s str,
    /// Targets skipped for having nothing to write ([`NothingToRender`]), with why.
    skipped: BTreeMap<usize, String>,
    /// By target index, so the order does not depend on which target finished first.
    warnings: BTreeMap<usize, Vec<Diagnostic>>,
    /// Every name written, with its place (see [`Done::places`]) and its id in the sink.
    places: HashMap<String, ((usize, usize), usize)>,
    /// Files seen so far of each target.
    counts: HashMap<usize, usize>,
    sink: &'s dyn Sink,
}

impl Merge<'_> {
    fn take(
        &mut self,
        index: usize,
        (rendered, found): (Result<()>, Vec<Diagnostic>),
    ) -> Result<()> {
        self.warnings.insert(index, found);
        match rendered {
            // Under `all`, a target with nothing to write for this topology is skipped, and
            // says why.
            Err(e) if self.several && e.downcast_ref::<NothingToRender>().is_some() => {
                let why = e.to_string();
                let why = why
                    .strip_prefix(self.file)
                    .and_then(|w| w.strip_prefix(": "))
                    .unwrap_or(&why)
                    .to_string();
                self.skipped.insert(index, why);
                Ok(())
            }
            r => r,
        }
    }

    /// One file of target `index`, in that target's order.
    fn file(&mut self, index: usize, name: String, id: usize) -> Result<()> {
        let count = self.counts.entry(index).or_insert(0);
        let pos = *count;
        *count += 1;
        match self.places.entry(name) {
            // Targets may share a file (nftables and iptables both write the domain list), but
            // not with different content; compared only when a name repeats.
            Entry::Occupied(mut e) => {
                let (place, first) = e.get_mut();
                *place = (*place).min((index, pos));
                if !self.sink.same(*first, id)? {
                    bail!("two targets both write {} with different content", e.key());
                }
                Ok(())
            }
            Entry::Vacant(e) => {
                e.insert(((index, pos), id));
                Ok(())
            }
        }
    }

    /// Every target's warnings in target order, each message once, and the files' places.
    fn done(self) -> Done {
        let mut warnings: Vec<Diagnostic> = Vec::new();
        for d in self.warnings.into_values().flatten() {
            if !warnings.iter().any(|x| x.message == d.message) {
                warnings.push(d);
            }
        }
        let skipped = (0..self.targets)
            .filter(|i| self.several && !self.counts.contains_key(i))
            .map(|i| {
                let why = self.skipped.get(&i).cloned();
                (
                    i,
                    why.unwrap_or_else(|| "nothing to write for this topology".into()),
                )
            })
            .collect();
        Done {
            warnings,
            skipped,
            places: self
                .places
                .into_iter()
                .map(|(name, (place, _))| (name, place))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn file(name: &str) -> OutFile {
        OutFile {
            name: name.into(),
            content: "same".into(),
        }
    }

    fn slow_fails(_: &Ctx<'_>) -> Result<Vec<OutFile>> {
        std::thread::sleep(Duration::from_millis(100));
        anyhow::bail!("first target failed")
    }

    fn fast_fails(_: &Ctx<'_>) -> Result<Vec<OutFile>> {
        anyhow::bail!("second target failed")
    }

    fn slow_a(_: &Ctx<'_>) -> Result<Vec<OutFile>> {
        std::thread::sleep(Duration::from_millis(100));
        Ok(vec![file("a"), file("shared")])
    }

    fn fast_b(_: &Ctx<'_>) -> Result<Vec<OutFile>> {
        Ok(vec![file("shared"), file("b")])
    }

    fn emits_then_returns(ctx: &Ctx<'_>) -> Result<Vec<OutFile>> {
        ctx.emit(file("first"))?;
        std::thread::sleep(Duration::from_millis(50));
        Ok(vec![file("second")])
    }

    fn other_shared(_: &Ctx<'_>) -> Result<Vec<OutFile>> {
        Ok(vec![OutFile {
            name: "shared".into(),
            content: "different".into(),
        }])
    }

    fn target(render: fn(&Ctx<'_>) -> Result<Vec<OutFile>>) -> Target {
        Target {
            name: "test",
            about: "",
            host_aware: false,
            cost: 1,
            render,
        }
    }

    fn run(targets: &[&Target]) -> Result<Generated> {
        let loaded = crate::load(std::path::Path::new("topologies/onprem-cvad.toml"), None)
            .expect("example loads");
        let renderer = Renderer::new(None).unwrap();
        generate_all(&loaded, &renderer, &Options::default(), targets)
    }

    /// The names of the files the targets generate, in the order `generate_all` gives them.
    fn names(targets: &[&Target]) -> Vec<String> {
        run(targets)
            .unwrap()
            .files
            .into_iter()
            .map(|f| f.name)
            .collect()
    }

    #[test]
    fn the_first_failing_target_is_reported_whichever_finishes_first() {
        let (a, b) = (target(slow_fails), target(fast_fails));
        let Err(e) = run(&[&a, &b]) else {
            panic!("two targets fail")
        };
        assert_eq!(e.to_string(), "first target failed");
    }

    #[test]
    fn a_cheap_failing_target_started_last_is_still_the_one_reported() {
        // The costly second target starts first and fails at once; the first target, in
        // target order, still runs and is the failure reported.
        let a = target(slow_fails);
        let b = Target {
            cost: 9,
            ..target(fast_fails)
        };
        let c = Target {
            cost: 9,
            ..target(slow_a)
        };
        for targets in [[&a, &b, &c], [&a, &c, &b]] {
            let Err(e) = run(&targets) else {
                panic!("two targets fail")
            };
            assert_eq!(e.to_string(), "first target failed");
        }
    }

    #[test]
    fn costly_targets_start_first_but_files_keep_target_order() {
        let (a, b) = (
            target(slow_a),
            Target {
                cost: 9,
                ..target(fast_b)
            },
        );
        assert_eq!(names(&[&a, &b]), ["a", "shared", "b"]);
    }

    #[test]
    fn files_come_in_target_order_whichever_finishes_first() {
        let (a, b) = (target(slow_a), target(fast_b));
        assert_eq!(names(&[&a, &b]), ["a", "shared", "b"]);
    }

    #[test]
    fn a_shared_file_is_written_once_and_must_agree() {
        let (a, b, c) = (target(slow_a), target(fast_b), target(other_shared));
        let files = run(&[&a, &b]).unwrap().files;
        assert_eq!(files.iter().filter(|f| f.name == "shared").count(), 1);
        let Err(e) = run(&[&a, &c]) else {
            panic!("two contents for one file")
        };
        assert!(
            e.to_string().contains("two targets both write shared"),
            "{e}"
        );
    }

    #[test]
    fn emitted_files_come_before_returned_ones_in_their_targets_place() {
        let (a, b) = (target(slow_a), target(emits_then_returns));
        assert_eq!(names(&[&b]), ["first", "second"]);
        assert_eq!(names(&[&b, &a]), ["first", "second", "a", "shared"]);
        assert_eq!(names(&[&a, &b]), ["a", "shared", "first", "second"]);
    }
}

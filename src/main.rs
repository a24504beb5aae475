//! The command line: parse arguments, call the library, map errors to exit codes.

// Resolving and rendering allocate millions of small strings; glibc's allocator spent almost
// half the time of a 10,000-flow run in malloc/free (perf), mimalloc much less.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use ctxfw::render::nftables::Layout;

use ctxfw::catalogue::Catalogue;
use ctxfw::diag::Invalid;
use ctxfw::exit;
use ctxfw::render::{self, Renderer};

// mimalloc's own entry point, in the library the `mimalloc` crate links (its Rust binding
// declares it only behind a feature that needs one more crate).
extern "C" {
    fn mi_collect(force: bool);
}

/// Load and resolve a topology. The parsed TOML document is freed memory once the topology is
/// read, but mimalloc keeps freed pages for a second, longer than a run: given back to the
/// system before resolving, they are not in the peak (10,000 flows: 1.2 MB less for every
/// target; no slower at 100,000 flows, BENCHMARKS.md).
fn load(file: &std::path::Path, cat_dir: Option<&std::path::Path>) -> Result<ctxfw::Loaded> {
    // SAFETY: mi_collect takes no pointers and is safe to call at any time from any thread.
    let release = || unsafe { mi_collect(true) };
    Ok(ctxfw::load_then(file, cat_dir, &release)?)
}

#[derive(Parser)]
#[command(
    name = "ctxfw",
    version,
    about = "Turn a Citrix deployment topology into firewall rule sets",
    long_about = "ctxfw reads a topology (zones with CIDRs, Citrix components placed in them, a few \
parameters) and, from its embedded catalogue of documented Citrix ports, derives every flow the \
deployment needs, with its purpose and where it is documented.",
    after_help = "Examples:\n  ctxfw check topologies/onprem-cvad.toml\n  ctxfw flows topologies/onprem-cvad.toml --format markdown\n  ctxfw catalogue netscaler-gateway\n\nExit codes: 0 ok, 1 findings, 2 invalid input, 64 usage error, 74 I/O error."
)]
struct Cli {
    /// A directory of extra catalogue files (*.toml) for in-house components, loaded after the
    /// embedded catalogue.
    #[arg(long, global = true, value_name = "DIR")]
    catalogue: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Validate a topology: exit 0 when valid, 2 with every error (file:line:column) when not;
    /// review warnings (redundant flows, wide ranges, unused components...) included.
    #[command(
        after_help = "Examples:\n  ctxfw check topologies/onprem-cvad.toml\n  ctxfw check site.toml --deny-warnings"
    )]
    Check {
        /// The topology file.
        file: PathBuf,
        /// Exit 1 when there are warnings.
        #[arg(long)]
        deny_warnings: bool,
    },
    /// List every flow the topology needs.
    #[command(
        after_help = "Examples:\n  ctxfw flows topologies/onprem-cvad.toml\n  ctxfw flows topologies/onprem-cvad.toml --format json > flows.json\n  ctxfw flows topologies/onprem-cvad.toml --format markdown --out flows.md"
    )]
    Flows {
        /// The topology file.
        file: PathBuf,
        #[arg(long, value_enum, default_value_t = FlowFormat::Table)]
        format: FlowFormat,
        /// Write to this file (atomically) instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Override embedded templates with same-named files from this directory.
        #[arg(long, value_name = "DIR")]
        templates: Option<PathBuf>,
    },
    /// Render rule sets and review files for one or every target.
    #[command(
        after_help = "Examples:\n  ctxfw generate topologies/onprem-cvad.toml --target all --out out/\n  ctxfw generate topologies/onprem-cvad.toml --target flows --out out/\n  ctxfw generate topologies/onprem-cvad.toml --target matrix --out change/\n  ctxfw generate topologies/onprem-cvad.toml --target nftables > onprem-cvad.nft\n  ctxfw generate topologies/xenserver-pvs.toml --target iptables --host pool --out out/\n\nWithout --out, a target that produces a single file prints it to standard output."
    )]
    Generate {
        /// The topology file.
        file: PathBuf,
        /// Output target, or `all` for every target.
        #[arg(long, value_name = "TARGET", default_value = "all")]
        target: String,
        /// Directory to write the files to (atomically: all files or none).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Host-firewall perspective: rules for this component's own addresses.
        #[arg(long, value_name = "COMPONENT")]
        host: Option<String>,
        /// Override embedded templates with same-named files from this directory.
        #[arg(long, value_name = "DIR")]
        templates: Option<PathBuf>,
        /// Log and count dropped packets (nftables, iptables).
        #[arg(long)]
        log_drops: bool,
        /// Count packets on every rule (nftables; iptables always counts).
        #[arg(long)]
        counters: bool,
        /// Windows: also emit outbound rules for what each component initiates.
        #[arg(long)]
        outbound: bool,
        /// nftables: `sets` (a rule per flow over named address sets), `concat` (every flow
        /// in a few concatenated sets: loads in linear time at any size), or `auto` (`sets`
        /// up to 1,000 kernel sets, else `concat`).
        #[arg(long, value_enum, default_value_t = NftLayout::Auto)]
        nft_layout: NftLayout,
        /// With --out: list every file written, not only how many of each target.
        #[arg(long, short)]
        verbose: bool,
    },
    /// Compare the flows of two topologies (or two flows.json files): added, removed, changed.
    #[command(
        after_help = "Examples:\n  ctxfw diff old.toml new.toml\n  ctxfw diff old.toml new.toml --format markdown > pr-comment.md\n  git show main:golden/onprem-cvad/flows.json > /tmp/old.json\n  ctxfw diff --flows /tmp/old.json golden/onprem-cvad/flows.json\n\nExit codes: 0 no flow changes, 1 flows differ, 2 invalid input."
    )]
    Diff {
        /// The old topology (or flows.json with --flows).
        old: PathBuf,
        /// The new topology (or flows.json with --flows).
        new: PathBuf,
        /// Compare two flows.json files (`ctxfw flows --format json`, golden/<name>/flows.json).
        #[arg(long)]
        flows: bool,
        #[arg(long, value_enum, default_value_t = DiffFormat::Table)]
        format: DiffFormat,
    },
    /// Is this traffic allowed? By which flows and why; if not, the nearest flows.
    #[command(
        after_help = "Examples:\n  ctxfw explain topologies/onprem-cvad.toml --from storefront --to ddc --port tcp/80\n  ctxfw explain topologies/onprem-cvad.toml --from 10.1.2.3 --to 10.0.10.11 --port tcp/443\n  ctxfw explain site.toml --from vdas --to a.cloud.com --port tcp/443\n\nFROM and TO are a component (or component.interface), an address or a network; TO may be a\ndomain name (a flow's *.cloud.com matches a.cloud.com).\n\nExit codes: 0 allowed, 1 not allowed, 2 invalid topology, 64 usage error."
    )]
    Explain {
        /// The topology file.
        file: PathBuf,
        #[arg(long, value_name = "ADDRESS|COMPONENT")]
        from: String,
        #[arg(long, value_name = "ADDRESS|COMPONENT|DOMAIN")]
        to: String,
        /// Protocol and port, e.g. tcp/443, udp/1494, or a protocol alone (tcp, icmp).
        #[arg(long, value_name = "PROTO[/PORT]")]
        port: Option<String>,
    },
    /// Browse the catalogue: families and kinds, one kind's flows, or the parameters.
    #[command(
        after_help = "Examples:\n  ctxfw catalogue\n  ctxfw catalogue storefront\n  ctxfw catalogue --parameters"
    )]
    Catalogue {
        /// A component kind id, e.g. `delivery-controller`.
        kind: Option<String>,
        /// List the parameters with their defaults and the flows they switch.
        #[arg(long)]
        parameters: bool,
    },
}

/// A target with no file for this topology (`--target windows` without a Windows component):
/// said, and not an error.
fn nothing_to_write(file: &std::path::Path, target: &str) -> u8 {
    eprintln!(
        "{}: target `{target}` has nothing to write for this topology; nothing was written",
        file.display()
    );
    exit::OK
}

#[derive(Clone, Copy, ValueEnum)]
enum NftLayout {
    Auto,
    Sets,
    Concat,
}

#[derive(Clone, Copy, ValueEnum)]
enum DiffFormat {
    Table,
    Markdown,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum FlowFormat {
    Table,
    Json,
    Csv,
    Markdown,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            if let Some(invalid) = e.downcast_ref::<Invalid>() {
                eprint_all(&format!("{invalid}\n"));
                return ExitCode::from(if invalid.is_io() {
                    exit::IO
                } else {
                    exit::INVALID
                });
            }
            if e.downcast_ref::<ctxfw::generate::UsageError>().is_some() {
                eprintln!("error: {e}");
                return ExitCode::from(exit::USAGE);
            }
            if is_broken_pipe(&e) {
                return ExitCode::from(exit::OK);
            }
            eprintln!("error: {e:#}");
            let io = e
                .chain()
                .any(|c| c.downcast_ref::<std::io::Error>().is_some());
            ExitCode::from(if io { exit::IO } else { exit::INVALID })
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain()
        .filter_map(|c| c.downcast_ref::<std::io::Error>())
        .any(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
}

/// Print on standard error in one write: printing thousands of diagnostics piece by piece (an
/// unbuffered write each) took most of the time of reporting them.
fn eprint_all(text: &str) {
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// `8348` as `8,348`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn print_warnings(warnings: &[ctxfw::diag::Diagnostic]) {
    let text: String = warnings.iter().map(|w| format!("{w}\n")).collect();
    eprint_all(&text);
}

fn stdout(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .context("writing to standard output")?;
    out.flush().context("writing to standard output")
}

fn run(cli: Cli) -> Result<u8> {
    let cat_dir = cli.catalogue.as_deref();
    match cli.command {
        Command::Check {
            file,
            deny_warnings,
        } => {
            let mut loaded = load(&file, cat_dir)?;
            let lint = ctxfw::lint::lint(&loaded);
            loaded.warnings.extend(lint);
            print_warnings(&loaded.warnings);
            let n = loaded.resolution.flows.len();
            let w = loaded.warnings.len();
            eprintln!(
                "{}: valid, {} components in {} zones, {n} flows, {w} warning{}",
                file.display(),
                loaded.topology.components.len(),
                loaded.topology.zones.len(),
                if w == 1 { "" } else { "s" }
            );
            // As for generate: the process ends next, freeing the resolution gains nothing.
            std::mem::forget(loaded);
            Ok(if deny_warnings && w > 0 {
                exit::FINDINGS
            } else {
                exit::OK
            })
        }
        Command::Flows {
            file,
            format,
            out,
            templates,
        } => {
            let loaded = load(&file, cat_dir)?;
            print_warnings(&loaded.warnings);
            let (t, r) = (&loaded.topology, &loaded.resolution);
            let text = match format {
                FlowFormat::Table => render::flows::table(r),
                FlowFormat::Json => render::flows::json_text(t, r),
                FlowFormat::Csv => render::flows::csv(r),
                FlowFormat::Markdown => {
                    render::flows::markdown(&Renderer::new(templates.as_deref())?, t, r)?
                }
            };
            match out {
                Some(path) => ctxfw::output::write_one(&path, &text)?,
                None => stdout(&text)?,
            }
            Ok(exit::OK)
        }
        Command::Generate {
            file,
            target,
            out,
            host,
            templates,
            log_drops,
            counters,
            outbound,
            nft_layout,
            verbose,
        } => {
            let targets = ctxfw::generate::select(&target)?;
            let loaded = load(&file, cat_dir)?;
            print_warnings(&loaded.warnings);
            let renderer = Renderer::new(templates.as_deref())?;
            let opts = ctxfw::generate::Options {
                host,
                log_drops,
                counters,
                outbound,
                nft_layout: match nft_layout {
                    NftLayout::Auto => Layout::Auto,
                    NftLayout::Sets => Layout::Sets,
                    NftLayout::Concat => Layout::Concat,
                },
            };
            if let Some(dir) = &out {
                // Each file is written into its staged file as its target renders it; all are
                // renamed into place at the end, or none when anything fails (the stage cleans up).
                let stage = ctxfw::output::Stage::new(dir)?;
                let done =
                    ctxfw::generate::generate_into(&loaded, &renderer, &opts, &targets, &stage)?;
                print_warnings(&done.warnings);
                if stage.is_empty() {
                    return Ok(nothing_to_write(&file, &target));
                }
                // Targets finish in any order: files are listed and counted in target order.
                let mut written: Vec<(std::path::PathBuf, (usize, usize))> = stage
                    .commit()?
                    .into_iter()
                    .map(|p| {
                        let name = p.strip_prefix(dir).unwrap_or(&p);
                        let place = done.place(&name.to_string_lossy());
                        (p, place)
                    })
                    .collect();
                written.sort_by_key(|(_, place)| *place);
                let mut text = String::new();
                if verbose {
                    for (p, _) in &written {
                        text.push_str(&format!("wrote {}\n", p.display()));
                    }
                }
                let mut per_target: Vec<(&str, usize)> = Vec::new();
                for (_, (t, _)) in &written {
                    let name = targets.get(*t).map_or("?", |t| t.name);
                    match per_target.last_mut() {
                        Some((n, count)) if *n == name => *count += 1,
                        _ => per_target.push((name, 1)),
                    }
                }
                let counts: Vec<String> = per_target
                    .iter()
                    .map(|(n, c)| format!("{n} {}", thousands(*c)))
                    .collect();
                text.push_str(&format!(
                    "wrote {} file{} to {}: {}\n",
                    thousands(written.len()),
                    if written.len() == 1 { "" } else { "s" },
                    dir.display(),
                    counts.join(", ")
                ));
                eprint_all(&text);
                // The process ends next: freeing a large resolution node by node (2-3% of a
                // 10,000-flow run) gains nothing.
                std::mem::forget(loaded);
                return Ok(exit::OK);
            }
            let generated = ctxfw::generate::generate_all(&loaded, &renderer, &opts, &targets)?;
            print_warnings(&generated.warnings);
            let files = generated.files;
            if files.is_empty() {
                return Ok(nothing_to_write(&file, &target));
            }
            if files.len() == 1 {
                stdout(&files[0].content)?;
                return Ok(exit::OK);
            }
            let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
            eprintln!(
                "error: target `{target}` writes {} files ({}); pass --out DIR",
                names.len(),
                names.join(", ")
            );
            Ok(exit::USAGE)
        }
        Command::Diff {
            old,
            new,
            flows,
            format,
        } => {
            let side = |p: &std::path::Path| -> Result<Vec<ctxfw::diff::Entry>> {
                let doc = if flows {
                    ctxfw::diff::read_flows_json(p)?
                } else {
                    let loaded = load(p, cat_dir)?;
                    render::flows::json(&loaded.topology, &loaded.resolution)
                };
                ctxfw::diff::entries(&doc, &p.display().to_string())
            };
            let (a, b) = (side(&old)?, side(&new)?);
            let d = ctxfw::diff::diff(
                &old.display().to_string(),
                &a,
                &new.display().to_string(),
                &b,
            );
            let text = match format {
                DiffFormat::Table => ctxfw::diff::table(&d),
                DiffFormat::Json => ctxfw::diff::json_text(&d),
                DiffFormat::Markdown => {
                    Renderer::new(None)?.render("diff.md.j2", ctxfw::diff::context(&d))?
                }
            };
            stdout(&text)?;
            Ok(if d.is_empty() {
                exit::OK
            } else {
                exit::FINDINGS
            })
        }
        Command::Explain {
            file,
            from,
            to,
            port,
        } => {
            let loaded = load(&file, cat_dir)?;
            let t = &loaded.topology;
            let q = ctxfw::explain::Query {
                topology: t,
                from: ctxfw::explain::parse_end(&from, t, false)?,
                to: ctxfw::explain::parse_end(&to, t, true)?,
                port: port
                    .as_deref()
                    .map(ctxfw::explain::parse_port)
                    .transpose()?,
            };
            let a = ctxfw::explain::explain(&loaded.resolution.flows, &q);
            stdout(&ctxfw::explain::text(&q, &a))?;
            Ok(if a.allowed.is_empty() {
                exit::FINDINGS
            } else {
                exit::OK
            })
        }
        Command::Catalogue { kind, parameters } => {
            let cat = Catalogue::load(cat_dir)?;
            let text = if parameters {
                render::catalogue::parameters(&cat)
            } else if let Some(k) = kind {
                match render::catalogue::kind(&cat, &k) {
                    Some(t) => t,
                    None => {
                        let hint =
                            ctxfw::diag::choice_hint(&k, cat.kinds.keys().map(String::as_str));
                        eprintln!("error: unknown component kind `{k}`\n  = hint: {hint}");
                        return Ok(exit::USAGE);
                    }
                }
            } else {
                render::catalogue::overview(&cat)
            };
            stdout(&text)?;
            Ok(exit::OK)
        }
    }
}

//! The command line: parse arguments, call the library, map errors to exit codes.

#![forbid(unsafe_code)]

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use clap_complete::engine::ArgValueCompleter;
use ctxfw::render::nftables::Layout;

use ctxfw::catalogue::Catalogue;
use ctxfw::diag::Invalid;
use ctxfw::exit;
use ctxfw::render::{self, Renderer};
use ctxfw::term;

// Faster than glibc's malloc for many small strings on two threads, and smaller at its peak
// (Cargo.toml says why, BENCHMARKS.md by how much).
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser)]
#[command(
    name = "ctxfw",
    version,
    about = "Turn a Citrix deployment topology into firewall rule sets",
    long_about = "ctxfw reads a topology (zones with CIDRs, Citrix components placed in them, a few \
parameters) and, from its embedded catalogue of documented Citrix ports, derives every flow the \
deployment needs, with its purpose and where it is documented.",
    after_help = "Examples:\n  ctxfw check topologies/onprem-cvad.toml\n  ctxfw flows topologies/onprem-cvad.toml --format markdown\n  ctxfw catalogue netscaler-gateway\n\nA FILE of `-` is standard input; --out - is standard output.\nExit codes: 0 ok, 1 findings, 2 invalid input, 64 usage error, 74 I/O error."
)]
struct Cli {
    /// A directory of extra catalogue files (*.toml) for in-house components, loaded after the
    /// embedded catalogue.
    #[arg(long, global = true, value_name = "DIR")]
    catalogue: Option<PathBuf>,

    /// Colour in messages: `auto` on a terminal unless NO_COLOR is set, `always`, `never`.
    #[arg(long, global = true, value_enum, value_name = "WHEN", default_value_t = term::Color::Auto)]
    color: term::Color,

    /// Print only errors: no warnings, no `valid` or `wrote` lines.
    #[arg(short, long, global = true)]
    quiet: bool,

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
        /// The topology files (`-`: standard input).
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Exit 1 when there are warnings.
        #[arg(long)]
        deny_warnings: bool,
        /// `text` for people (standard error); `json`, `sarif` (SARIF 2.1.0, for code
        /// scanning) or `github` (workflow commands that annotate a pull request) on standard
        /// output.
        #[arg(long, value_enum, default_value_t = ctxfw::report::Format::Text)]
        format: ctxfw::report::Format,
    },
    /// List every flow the topology needs.
    #[command(
        after_help = "Examples:\n  ctxfw flows topologies/onprem-cvad.toml\n  ctxfw flows topologies/onprem-cvad.toml --format json > flows.json\n  ctxfw flows topologies/onprem-cvad.toml --format markdown --out flows.md"
    )]
    Flows {
        /// The topology file (`-`: standard input).
        file: PathBuf,
        /// `table` for a terminal, `json` (the machine-readable contract), `csv`, `markdown`.
        #[arg(long, value_enum, default_value_t = FlowFormat::Table)]
        format: FlowFormat,
        /// Write to this file (atomically) instead of standard output (`-`: standard output).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Override embedded templates with same-named files from this directory.
        #[arg(long, value_name = "DIR")]
        templates: Option<PathBuf>,
    },
    /// Render rule sets and review files for one or every target.
    #[command(
        after_help = "Examples:\n  ctxfw generate topologies/onprem-cvad.toml --target all --out out/\n  ctxfw generate topologies/onprem-cvad.toml --target flows --out out/\n  ctxfw generate topologies/onprem-cvad.toml --target matrix --out change/\n  ctxfw generate site.toml --target matrix --group --previous old-site.toml --out change/\n  ctxfw generate topologies/onprem-cvad.toml --target nftables > onprem-cvad.nft\n  ctxfw generate topologies/xenserver-pvs.toml --target iptables --host pool --out out/\n  ctxfw generate site.toml --target all --out generated/ --check\n\nWithout --out (or with --out -), a target that writes one file prints it to standard output\n(nftables and iptables list the internet domains in their header; --out DIR also writes them\nto <topology>.domains.txt)."
    )]
    Generate {
        /// The topology file (`-`: standard input).
        file: PathBuf,
        /// Output target, or `all` for every target.
        #[arg(long, value_name = "TARGET", default_value = "all", value_parser = ctxfw::complete::TargetName)]
        target: String,
        /// Directory to write the files to (atomically: all files or none); `-`: standard
        /// output, for a target that writes one file.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Write nothing: exit 1, listing them, when files in --out DIR differ from what would
        /// be generated or are missing (a pre-commit hook or CI step for committed rule sets).
        #[arg(long, requires = "out")]
        check: bool,
        /// Host-firewall perspective: rules for this component's own addresses.
        #[arg(long, value_name = "COMPONENT", add = ArgValueCompleter::new(ctxfw::complete::components))]
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
        /// matrix: fold the flows of a recurring service (an Active Directory member's ports,
        /// HDX) into one row per zone pair, its flows one click (HTML) or one table away.
        #[arg(long)]
        group: bool,
        /// matrix: the previous version of the topology; the workbook's summary says what
        /// changed since, and why.
        #[arg(long, value_name = "OLD.toml")]
        previous: Option<PathBuf>,
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
        /// `table` for a terminal, `markdown` (a pull-request comment), `json`.
        #[arg(long, value_enum, default_value_t = DiffFormat::Table)]
        format: DiffFormat,
    },
    /// Is this traffic allowed? By which flows and why; if not, the nearest flows.
    #[command(
        after_help = "Examples:\n  ctxfw explain topologies/onprem-cvad.toml --from storefront --to ddc --port tcp/80\n  ctxfw explain topologies/onprem-cvad.toml --from 10.1.2.3 --to 10.0.10.11 --port tcp/443\n  ctxfw explain site.toml --from vdas --to a.cloud.com --port tcp/443\n  ctxfw explain topologies/onprem-cvad.toml --from internet --to netscaler.vip --port tcp/443\n\nFROM and TO are a component (or component.interface), a zone, an address or a network; TO may\nbe a domain name (a flow's *.cloud.com matches a.cloud.com).\n\nExit codes: 0 allowed, 1 not allowed, 2 invalid topology, 64 usage error."
    )]
    Explain {
        /// The topology file (`-`: standard input).
        file: PathBuf,
        /// Where the traffic starts: a component (`ddc`), an interface (`netscaler.snip`), a
        /// zone (`internet`), an address or a network.
        #[arg(long, value_name = "FROM", add = ArgValueCompleter::new(ctxfw::complete::ends))]
        from: String,
        /// Where it goes: as --from, or a domain name (`a.cloud.com`).
        #[arg(long, value_name = "TO", add = ArgValueCompleter::new(ctxfw::complete::ends))]
        to: String,
        /// Protocol and port, e.g. tcp/443, udp/1494, or a protocol alone (tcp, icmp).
        #[arg(long, value_name = "PROTO[/PORT]")]
        port: Option<String>,
        /// `text` for people, `json` for scripts (the flows as in `flows --format json`).
        #[arg(long, value_enum, default_value_t = TextOrJson::Text)]
        format: TextOrJson,
    },
    /// Does a firewall's rule set implement the topology's flows, and no more? Blocked flows,
    /// what is open beyond them, shadowed, unused and unevaluable rules.
    #[command(
        after_help = "Examples:\n  nft -j list ruleset > fw.json\n  ctxfw audit topologies/onprem-cvad.toml --ruleset fw.json\n  iptables-save > v4.rules; ip6tables-save > v6.rules\n  ctxfw audit site.toml --ruleset v4.rules --ruleset v6.rules --format markdown > audit.md\n  ctxfw audit site.toml --ruleset pool.nft --host pool\n  aws ec2 describe-security-groups > sgs.json\n  ctxfw audit site.toml --ruleset sgs.json --bind sg-0abc=storefront --format json\n  ctxfw audit site.toml --ruleset fw.rules --interface eth1=dmz --interface eth2=core,vda\n\nRule-set formats (detected; --ruleset-format to force): nft-json (nft -j list ruleset), nft\n(ctxfw's .nft), iptables (iptables-save, ip6tables-save, ctxfw's .rules), aws (describe-security-groups,\nctxfw's CloudFormation), azure (az network nsg show/list, ARM templates), gcp (gcloud compute\nfirewall-rules list --format=json, ctxfw's GCP JSON).\n\nExit codes: 0 nothing blocked, too open or unknown; 1 findings; 2 invalid topology or rule set;\n64 usage error; 74 unreadable file."
    )]
    Audit {
        /// The topology file.
        file: PathBuf,
        /// The rule set to audit; repeat for the IPv4 and IPv6 files of one firewall.
        #[arg(long = "ruleset", value_name = "FILE", required = true)]
        rulesets: Vec<PathBuf>,
        /// `table` for a terminal, `markdown` for the change request, `json` for scripts.
        #[arg(long, value_enum, default_value_t = DiffFormat::Table)]
        format: DiffFormat,
        /// Read the rule set as this format instead of detecting it.
        #[arg(long, value_name = "FORMAT", value_parser = clap::builder::PossibleValuesParser::new(ctxfw::audit::parse::Format::NAMES))]
        ruleset_format: Option<String>,
        /// The rule set is this component's host firewall (input and output chains).
        #[arg(long, value_name = "COMPONENT")]
        host: Option<String>,
        /// The zones a network interface faces, for rules that match it (iifname, -i).
        #[arg(long = "interface", value_name = "NAME=ZONE[,ZONE]")]
        interfaces: Vec<String>,
        /// What a security group, application security group, network tag or service account
        /// stands for: a component (or, for an NSG, a zone).
        #[arg(long = "bind", value_name = "NAME=COMPONENT")]
        binds: Vec<String>,
    },
    /// Read the probe scripts' result files: which required flows did not get through, and
    /// which were not tried.
    #[command(
        after_help = "Examples:\n  ctxfw generate site.toml --target probes --out probes/\n  (run each script on its component's host; each writes <topology>-<component>.probes.json)\n  ctxfw verify site.toml site-ddc.probes.json site-pool.probes.json\n  ctxfw verify site.toml results/*.json --format markdown > verify.md\n\nExit codes: 0 nothing blocked, 1 a required flow was blocked, 2 invalid topology or result\nfile, 64 usage error, 74 unreadable file."
    )]
    Verify {
        /// The topology file.
        file: PathBuf,
        /// Result files written by the probe scripts.
        #[arg(required = true, value_name = "RESULTS")]
        results: Vec<PathBuf>,
        /// `table` for a terminal, `markdown` for the change request, `json` for scripts.
        #[arg(long, value_enum, default_value_t = DiffFormat::Table)]
        format: DiffFormat,
    },
    /// Browse the catalogue: families and kinds, one kind's flows, or the parameters.
    #[command(
        after_help = "Examples:\n  ctxfw catalogue\n  ctxfw catalogue storefront\n  ctxfw catalogue ddc\n  ctxfw catalogue --search provisioning\n  ctxfw catalogue --parameters\n  ctxfw catalogue storefront --format json"
    )]
    Catalogue {
        /// A component kind id, e.g. `delivery-controller` (another name for one, such as
        /// `ddc`, shows it too).
        kind: Option<String>,
        /// List the parameters with their defaults and the flows they switch.
        #[arg(long)]
        parameters: bool,
        /// Find kinds by a name engineers use, a part of the id or words of the name
        /// (`ddc`, `provisioning`, `sql`); exit 1 when none matches.
        #[arg(long, value_name = "WORD", conflicts_with_all = ["kind", "parameters"])]
        search: Option<String>,
        /// `text` for people, `json` for scripts.
        #[arg(long, value_enum, default_value_t = TextOrJson::Text)]
        format: TextOrJson,
    },
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish).
    #[command(
        after_help = "Examples:\n  source <(ctxfw completions bash)                     # in ~/.bashrc\n  ctxfw completions bash > /etc/bash_completion.d/ctxfw\n  ctxfw completions zsh > \"${fpath[1]}/_ctxfw\"\n  ctxfw completions fish > ~/.config/fish/completions/ctxfw.fish\n\nThe script asks ctxfw at each Tab, so --target completes the targets and --host,\nexplain --from/--to the components, interfaces and zones of the topology on the line.\nRegenerate it after upgrading ctxfw."
    )]
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: ctxfw::complete::Shell,
        /// A script that never calls ctxfw: commands, options, targets and file names, but
        /// no component names.
        #[arg(long = "static")]
        static_script: bool,
    },
    /// Print a man page (roff) for ctxfw or one of its commands.
    #[command(
        after_help = "Examples:\n  ctxfw man | man -l -\n  ctxfw man generate | man -l -\n  for c in \"\" check flows generate diff explain catalogue; do ctxfw man $c > ctxfw${c:+-$c}.1; done"
    )]
    Man {
        /// A command (e.g. `generate`); without it, the page of ctxfw itself.
        command: Option<String>,
    },
}

impl Command {
    /// Whether the command's product goes to standard output (so a failure with nothing
    /// printed leaves the shell's `> file` empty).
    fn prints_product(&self) -> bool {
        match self {
            Command::Check { format, .. } => *format != ctxfw::report::Format::Text,
            Command::Flows { out, .. } | Command::Generate { out, .. } => {
                out.as_deref().is_none_or(ctxfw::stdio::is_std)
            }
            _ => true,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum TextOrJson {
    Text,
    Json,
}

/// A target with no file for this topology (`--target windows` without a Windows component):
/// said, and not an error (an empty `> file` the shell made is removed).
fn nothing_to_write(file: &std::path::Path, target: &str, stdout: bool) -> u8 {
    term::note(&format!(
        "{}: target `{target}` has nothing to write for this topology; nothing was written\n",
        file.display()
    ));
    if stdout {
        removed_empty_stdout();
    }
    exit::OK
}

/// The targets `--target all` skipped, and why: one line each.
fn skipped_note(skipped: &[(&str, String)]) -> String {
    skipped
        .iter()
        .map(|(t, why)| format!("skipped {t}: {why}\n"))
        .collect()
}

fn removed_empty_stdout() {
    if let Some(p) = ctxfw::stdio::remove_empty_stdout_file() {
        term::note(&format!(
            "removed {}: standard output was redirected to it, and nothing was printed\n",
            p.display()
        ));
    }
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
    // A Tab in a shell with ctxfw's completion script: answered, and the process ends.
    ctxfw::complete::answer(Cli::command);
    let color = term::Color::from_args(std::env::args_os());
    let parsed = Cli::command()
        .color(match color {
            term::Color::Auto => clap::ColorChoice::Auto,
            term::Color::Always => clap::ColorChoice::Always,
            term::Color::Never => clap::ColorChoice::Never,
        })
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m));
    let cli = match parsed {
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
    term::setup(cli.color, cli.quiet);
    let prints_product = cli.command.prints_product();
    let code = match run(cli) {
        Ok(code) => code,
        Err(e) => error_code(&e),
    };
    if code >= exit::INVALID && prints_product {
        removed_empty_stdout();
    }
    ExitCode::from(code)
}

/// Print a failed command's error; its exit code.
fn error_code(e: &anyhow::Error) -> u8 {
    if let Some(invalid) = e.downcast_ref::<Invalid>() {
        term::error(&format!("{invalid}\n"));
        return if invalid.is_io() {
            exit::IO
        } else {
            exit::INVALID
        };
    }
    if e.downcast_ref::<ctxfw::generate::UsageError>().is_some() {
        term::error(&format!("error: {e}\n"));
        return exit::USAGE;
    }
    if is_broken_pipe(e) {
        return exit::OK;
    }
    term::error(&format!("error: {e:#}\n"));
    let io = e
        .chain()
        .any(|c| c.downcast_ref::<std::io::Error>().is_some());
    if io {
        exit::IO
    } else {
        exit::INVALID
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain()
        .filter_map(|c| c.downcast_ref::<std::io::Error>())
        .any(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
}

/// Every warning in one write: thousands of diagnostics printed piece by piece (an unbuffered
/// write each) took most of the time of reporting them.
fn print_warnings(warnings: &[ctxfw::diag::Diagnostic]) {
    let text: String = warnings.iter().map(|w| format!("{w}\n")).collect();
    term::note(&text);
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
            files,
            deny_warnings,
            format,
        } => {
            use ctxfw::report::{self, Format};
            let mut checked = Vec::new();
            let mut code = exit::OK;
            for file in &files {
                let c =
                    report::Checked::new(file.display().to_string(), ctxfw::load(file, cat_dir));
                code = code.max(c.exit_code(deny_warnings));
                if format == Format::Text {
                    let text = c.text(term::quiet());
                    if c.summary.is_some() {
                        term::note(&text);
                    } else {
                        term::error(&text);
                    }
                }
                checked.push(c);
            }
            match format {
                Format::Text => {}
                Format::Json => stdout(&report::json(&checked))?,
                Format::Sarif => stdout(&ctxfw::sarif::sarif(&checked))?,
                Format::Github => stdout(&report::github(&checked))?,
            }
            Ok(code)
        }
        Command::Flows {
            file,
            format,
            out,
            templates,
        } => {
            let loaded = ctxfw::load(&file, cat_dir)?;
            print_warnings(&loaded.warnings);
            let (t, r) = (&loaded.topology, &loaded.resolution);
            let text = match format {
                FlowFormat::Table => term::visible(&render::flows::table(r)).into_owned(),
                FlowFormat::Json => render::flows::json_text(t, r),
                FlowFormat::Csv => render::flows::csv(r),
                FlowFormat::Markdown => {
                    render::flows::markdown(&Renderer::new(templates.as_deref())?, t, r)?
                }
            };
            match out.filter(|p| !ctxfw::stdio::is_std(p)) {
                Some(path) => ctxfw::output::write_one(&path, &text)?,
                None => stdout(&text)?,
            }
            Ok(exit::OK)
        }
        Command::Generate {
            file,
            target,
            out,
            check,
            host,
            templates,
            log_drops,
            counters,
            outbound,
            nft_layout,
            group,
            previous,
            verbose,
        } => {
            // `--out -` is standard output, as no --out (but --check needs a directory).
            let out = if check {
                out
            } else {
                out.filter(|p| !ctxfw::stdio::is_std(p))
            };
            let targets = ctxfw::generate::select(&target)?;
            let loaded = ctxfw::load(&file, cat_dir)?;
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
                group,
                previous: match previous {
                    Some(p) => {
                        let old = ctxfw::load(&p, cat_dir)?;
                        Some(std::sync::Arc::new(ctxfw::review::Previous {
                            name: p.display().to_string(),
                            doc: render::flows::json(&old.topology, &old.resolution),
                        }))
                    }
                    None => None,
                },
            };
            if let (true, Some(dir)) = (check, &out) {
                if ctxfw::stdio::is_std(dir) {
                    return Err(ctxfw::generate::UsageError(
                        "--check compares with the files in --out DIR; give a directory, not -"
                            .into(),
                    )
                    .into());
                }
                let generated = ctxfw::generate::generate_all(&loaded, &renderer, &opts, &targets)?;
                print_warnings(&generated.warnings);
                term::note(&skipped_note(&generated.skipped));
                let files = generated
                    .files
                    .iter()
                    .map(|f| (f.name.as_str(), f.content.as_bytes()))
                    .chain(
                        generated
                            .binary
                            .iter()
                            .map(|f| (f.name.as_str(), &f.bytes[..])),
                    );
                let stale = ctxfw::uptodate::stale(dir, files)?;
                if stale.is_empty() {
                    term::note(&format!(
                        "{}: {} files in {} are up to date\n",
                        file.display(),
                        generated.files.len(),
                        dir.display()
                    ));
                    return Ok(exit::OK);
                }
                let list: String = stale.iter().map(|s| format!("{s}\n")).collect();
                term::error(&format!(
                    "{list}error: {} of {} files in {} are not what ctxfw generates\n  = hint: regenerate: ctxfw generate {} --target {target} --out {}\n",
                    stale.len(),
                    generated.files.len() + generated.binary.len(),
                    dir.display(),
                    file.display(),
                    dir.display()
                ));
                return Ok(exit::FINDINGS);
            }
            if let Some(dir) = &out {
                // Each file is written into its staged file as its target renders it; all are
                // renamed into place at the end, or none when anything fails (the stage cleans up).
                let stage = ctxfw::output::Stage::new(dir)?;
                let done =
                    ctxfw::generate::generate_into(&loaded, &renderer, &opts, &targets, &stage)?;
                print_warnings(&done.warnings);
                if stage.is_empty() {
                    return Ok(nothing_to_write(&file, &target, false));
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
                    .map(|(n, c)| format!("{n} {}", ctxfw::diag::thousands(*c)))
                    .collect();
                text.push_str(&format!(
                    "wrote {} file{} to {}: {}\n",
                    ctxfw::diag::thousands(written.len()),
                    if written.len() == 1 { "" } else { "s" },
                    dir.display(),
                    counts.join(", ")
                ));
                text.push_str(&skipped_note(&done.skipped_targets(&targets)));
                term::note(&text);
                return Ok(exit::OK);
            }
            let generated = ctxfw::generate::generate_all(&loaded, &renderer, &opts, &targets)?;
            print_warnings(&generated.warnings);
            let files = generated.files;
            if files.is_empty() {
                return Ok(nothing_to_write(&file, &target, true));
            }
            if let Some(one) = ctxfw::stdio::one_file(&files) {
                stdout(&one.content)?;
                return Ok(exit::OK);
            }
            let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
            term::error(&format!(
                "error: target `{target}` writes {} files ({}); standard output takes one\n  = hint: write them all into a directory: ctxfw generate {} --target {target} --out out/\n",
                names.len(),
                names.join(", "),
                file.display()
            ));
            Ok(exit::USAGE)
        }
        Command::Diff {
            old,
            new,
            flows,
            format,
        } => {
            // The catalogue says which parameters each entry reads: the one the topologies
            // were resolved with, or for flows files the embedded one (and --catalogue DIR).
            let mut cat: Option<Catalogue> = None;
            let mut side = |p: &std::path::Path| -> Result<serde_json::Value> {
                if flows {
                    return ctxfw::diff::read_flows_json(p);
                }
                let loaded = ctxfw::load(p, cat_dir)?;
                let doc = render::flows::json(&loaded.topology, &loaded.resolution);
                cat = Some(loaded.catalogue);
                Ok(doc)
            };
            let (a, b) = (side(&old)?, side(&new)?);
            if cat.is_none() {
                cat = Catalogue::load(cat_dir).ok();
            }
            let d = ctxfw::diff::cause::diff_docs(
                &old.display().to_string(),
                &a,
                &new.display().to_string(),
                &b,
                cat.as_ref(),
            )?;
            let text = match format {
                DiffFormat::Table => term::visible(&ctxfw::diff::table(&d)).into_owned(),
                DiffFormat::Json => ctxfw::diff::json_text(&d),
                DiffFormat::Markdown => {
                    Renderer::new(None)?.render("diff.md.j2", &ctxfw::diff::context(&d))?
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
            format,
        } => {
            let loaded = ctxfw::load(&file, cat_dir)?;
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
            stdout(&match format {
                TextOrJson::Text => term::visible(&ctxfw::explain::text(&q, &a)).into_owned(),
                TextOrJson::Json => ctxfw::explain::json(&q, &a),
            })?;
            Ok(if a.allowed.is_empty() {
                exit::FINDINGS
            } else {
                exit::OK
            })
        }
        Command::Audit {
            file,
            rulesets,
            format,
            ruleset_format,
            host,
            interfaces,
            binds,
        } => {
            let loaded = ctxfw::load(&file, cat_dir)?;
            print_warnings(&loaded.warnings);
            let report = ctxfw::audit::run(
                &loaded,
                &rulesets,
                ruleset_format.as_deref(),
                host,
                &interfaces,
                &binds,
            )?;
            let text = match format {
                DiffFormat::Table => {
                    term::visible(&ctxfw::audit::report::table(&report)).into_owned()
                }
                DiffFormat::Json => ctxfw::audit::report::json(&report),
                DiffFormat::Markdown => ctxfw::audit::report::markdown(&report),
            };
            stdout(&text)?;
            Ok(if report.has_findings() {
                exit::FINDINGS
            } else {
                exit::OK
            })
        }
        Command::Verify {
            file,
            results,
            format,
        } => {
            let loaded = ctxfw::load(&file, cat_dir)?;
            print_warnings(&loaded.warnings);
            let v = ctxfw::audit::verify::verify(&loaded, &results)?;
            let text = match format {
                DiffFormat::Table => term::visible(&ctxfw::audit::verify::table(&v)).into_owned(),
                DiffFormat::Json => ctxfw::audit::verify::json(&v),
                DiffFormat::Markdown => ctxfw::audit::verify::markdown(&v),
            };
            stdout(&text)?;
            Ok(if v.has_findings() {
                exit::FINDINGS
            } else {
                exit::OK
            })
        }
        Command::Catalogue {
            kind,
            parameters,
            search,
            format,
        } => {
            use render::catalogue as show;
            let cat = Catalogue::load(cat_dir)?;
            let json = format == TextOrJson::Json;
            let text = if let Some(word) = search {
                let found = if json {
                    let text = show::search_json(&cat, &word);
                    (!ctxfw::suggest::kinds(&cat, &word, true).is_empty()).then_some(text)
                } else {
                    show::search(&cat, &word)
                };
                let Some(text) = found else {
                    if json {
                        stdout("[]\n")?;
                    }
                    term::note(&format!(
                        "no kind matches `{word}`; `ctxfw catalogue` lists them all\n"
                    ));
                    return Ok(exit::FINDINGS);
                };
                text
            } else if parameters {
                if json {
                    show::parameters_json(&cat)
                } else {
                    show::parameters(&cat)
                }
            } else if let Some(k) = kind {
                // Another name for exactly one kind shows that kind.
                let id = match cat.kind(&k) {
                    Some(_) => k.clone(),
                    None => match ctxfw::suggest::kinds(&cat, &k, false)
                        .iter()
                        .filter(|(_, why)| *why == ctxfw::suggest::Why::Alias)
                        .collect::<Vec<_>>()
                        .as_slice()
                    {
                        [(found, _)] => {
                            term::note(&format!("`{k}` is another name for `{}`\n", found.id));
                            found.id.clone()
                        }
                        _ => {
                            let hint = ctxfw::suggest::kind_hint(&cat, &k);
                            term::error(&format!(
                                "error: unknown component kind `{k}`\n  = hint: {hint}\n"
                            ));
                            return Ok(exit::USAGE);
                        }
                    },
                };
                let shown = if json {
                    show::kind_json_text(&cat, &id)
                } else {
                    show::kind(&cat, &id)
                };
                shown.expect("the kind exists")
            } else if json {
                show::overview_json(&cat)
            } else {
                show::overview(&cat)
            };
            // Tables for people show what a terminal would obey as escapes; JSON keeps its own.
            stdout(&if json {
                text
            } else {
                term::visible(&text).into_owned()
            })?;
            Ok(exit::OK)
        }
        Command::Completions {
            shell,
            static_script,
        } => {
            let mut script = Vec::new();
            ctxfw::complete::script(shell, static_script, &mut Cli::command(), &mut script)
                .context("writing the completion script")?;
            stdout(&String::from_utf8_lossy(&script))?;
            Ok(exit::OK)
        }
        Command::Man { command } => {
            let mut page = Vec::new();
            if ctxfw::complete::man(Cli::command(), command.as_deref(), &mut page).is_none() {
                let names: Vec<String> = Cli::command()
                    .get_subcommands()
                    .map(|c| c.get_name().to_string())
                    .collect();
                let command = command.unwrap_or_default();
                return Err(ctxfw::generate::UsageError(format!(
                    "no command `{command}`; {}",
                    ctxfw::diag::choice_hint(&command, names.iter().map(String::as_str))
                ))
                .into());
            }
            stdout(&String::from_utf8_lossy(&page))?;
            Ok(exit::OK)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `--help`, the man pages and the completion scripts show each argument's help: none may
    /// be empty (a new argument without a doc comment fails here).
    #[test]
    fn every_argument_says_what_it_is() {
        let mut cmd = Cli::command();
        cmd.build();
        cmd.clone().debug_assert();
        let mut missing = Vec::new();
        for c in std::iter::once(&cmd).chain(cmd.get_subcommands()) {
            for a in c.get_arguments() {
                let help = a.get_help().map(|h| h.to_string()).unwrap_or_default();
                if help.trim().is_empty() {
                    missing.push(format!("{} {}", c.get_name(), a.get_id()));
                }
            }
            if c.get_about().is_none() {
                missing.push(format!("{} (the command)", c.get_name()));
            }
        }
        assert!(missing.is_empty(), "no help text: {missing:?}");
    }
}

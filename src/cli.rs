//! The command line's arguments: what `--help`, the man pages and the completion scripts show.
//! Part of the binary (`main.rs`), not of the library.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use clap_complete::engine::ArgValueCompleter;
use ctxfw::term;

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
pub struct Cli {
    /// A directory of extra catalogue files (*.toml) for in-house components, loaded after the
    /// embedded catalogue.
    #[arg(long, global = true, value_name = "DIR")]
    pub catalogue: Option<PathBuf>,

    /// Colour in messages: `auto` on a terminal unless NO_COLOR is set, `always`, `never`.
    #[arg(long, global = true, value_enum, value_name = "WHEN", default_value_t = term::Color::Auto)]
    pub color: term::Color,

    /// Print only errors: no warnings, no `valid` or `wrote` lines.
    #[arg(short, long, global = true)]
    pub quiet: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Validate a topology: exit 0 when valid, 2 with every error (file:line:column) when not;
    /// review warnings (redundant flows, wide ranges, unused components...) included.
    #[command(
        after_help = "Examples:\n  ctxfw check topologies/onprem-cvad.toml\n  ctxfw check site.toml --deny-warnings"
    )]
    Check(CheckArgs),
    /// List every flow the topology needs.
    #[command(
        after_help = "Examples:\n  ctxfw flows topologies/onprem-cvad.toml\n  ctxfw flows topologies/onprem-cvad.toml --format json > flows.json\n  ctxfw flows topologies/onprem-cvad.toml --format markdown --out flows.md"
    )]
    Flows(FlowsArgs),
    /// Render rule sets and review files for one or every target.
    #[command(
        after_help = "Examples:\n  ctxfw generate topologies/onprem-cvad.toml --target all --out out/\n  ctxfw generate topologies/onprem-cvad.toml --target flows --out out/\n  ctxfw generate topologies/onprem-cvad.toml --target matrix --out change/\n  ctxfw generate site.toml --target matrix --group --previous old-site.toml --out change/\n  ctxfw generate topologies/onprem-cvad.toml --target nftables > onprem-cvad.nft\n  ctxfw generate topologies/xenserver-pvs.toml --target iptables --host pool --out out/\n  ctxfw generate site.toml --target all --out generated/ --check\n\nWithout --out (or with --out -), a target that writes one file prints it to standard output\n(nftables and iptables list the internet domains in their header; --out DIR also writes them\nto <topology>.domains.txt)."
    )]
    Generate(GenerateArgs),
    /// Compare the flows of two topologies (or two flows.json files): added, removed, changed.
    #[command(
        after_help = "Examples:\n  ctxfw diff old.toml new.toml\n  ctxfw diff old.toml new.toml --format markdown > pr-comment.md\n  git show main:golden/onprem-cvad/flows.json > /tmp/old.json\n  ctxfw diff --flows /tmp/old.json golden/onprem-cvad/flows.json\n\nExit codes: 0 no flow changes, 1 flows differ, 2 invalid input."
    )]
    Diff(DiffArgs),
    /// Is this traffic allowed? By which flows and why; if not, the nearest flows.
    #[command(
        after_help = "Examples:\n  ctxfw explain topologies/onprem-cvad.toml --from storefront --to ddc --port tcp/80\n  ctxfw explain topologies/onprem-cvad.toml --from 10.1.2.3 --to 10.0.10.11 --port tcp/443\n  ctxfw explain site.toml --from vdas --to a.cloud.com --port tcp/443\n  ctxfw explain topologies/onprem-cvad.toml --from internet --to netscaler.vip --port tcp/443\n\nFROM and TO are a component (or component.interface), a zone, an address or a network; TO may\nbe a domain name (a flow's *.cloud.com matches a.cloud.com).\n\nExit codes: 0 allowed, 1 not allowed, 2 invalid topology, 64 usage error."
    )]
    Explain(ExplainArgs),
    /// Does a firewall's rule set implement the topology's flows, and no more? Blocked flows,
    /// what is open beyond them, shadowed, unused and unevaluable rules.
    #[command(
        after_help = "Examples:\n  nft -j list ruleset > fw.json\n  ctxfw audit topologies/onprem-cvad.toml --ruleset fw.json\n  iptables-save > v4.rules; ip6tables-save > v6.rules\n  ctxfw audit site.toml --ruleset v4.rules --ruleset v6.rules --format markdown > audit.md\n  ctxfw audit site.toml --ruleset pool.nft --host pool\n  aws ec2 describe-security-groups > sgs.json\n  ctxfw audit site.toml --ruleset sgs.json --bind sg-0abc=storefront --format json\n  ctxfw audit site.toml --ruleset fw.rules --interface eth1=dmz --interface eth2=core,vda\n\nRule-set formats (detected; --ruleset-format to force): nft-json (nft -j list ruleset), nft\n(ctxfw's .nft), iptables (iptables-save, ip6tables-save, ctxfw's .rules), aws (describe-security-groups,\nctxfw's CloudFormation), azure (az network nsg show/list, ARM templates), gcp (gcloud compute\nfirewall-rules list --format=json, ctxfw's GCP JSON).\n\nExit codes: 0 nothing blocked, too open or unknown; 1 findings; 2 invalid topology or rule set;\n64 usage error; 74 unreadable file."
    )]
    Audit(AuditArgs),
    /// Read the probe scripts' result files: which required flows did not get through, and
    /// which were not tried.
    #[command(
        after_help = "Examples:\n  ctxfw generate site.toml --target probes --out probes/\n  (run each script on its component's host; each writes <topology>-<component>.probes.json)\n  ctxfw verify site.toml site-ddc.probes.json site-pool.probes.json\n  ctxfw verify site.toml results/*.json --format markdown > verify.md\n\nExit codes: 0 nothing blocked, 1 a required flow was blocked, 2 invalid topology or result\nfile, 64 usage error, 74 unreadable file."
    )]
    Verify(VerifyArgs),
    /// Browse the catalogue: families and kinds, one kind's flows, or the parameters.
    #[command(
        after_help = "Examples:\n  ctxfw catalogue\n  ctxfw catalogue storefront\n  ctxfw catalogue ddc\n  ctxfw catalogue --search provisioning\n  ctxfw catalogue --parameters\n  ctxfw catalogue storefront --format json"
    )]
    Catalogue(CatalogueArgs),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish).
    #[command(
        after_help = "Examples:\n  source <(ctxfw completions bash)                     # in ~/.bashrc\n  ctxfw completions bash > /etc/bash_completion.d/ctxfw\n  ctxfw completions zsh > \"${fpath[1]}/_ctxfw\"\n  ctxfw completions fish > ~/.config/fish/completions/ctxfw.fish\n\nThe script asks ctxfw at each Tab, so --target completes the targets and --host,\nexplain --from/--to the components, interfaces and zones of the topology on the line.\nRegenerate it after upgrading ctxfw."
    )]
    Completions(CompletionsArgs),
    /// Print a man page (roff) for ctxfw or one of its commands.
    #[command(
        after_help = "Examples:\n  ctxfw man | man -l -\n  ctxfw man generate | man -l -\n  for c in \"\" check flows generate diff explain catalogue; do ctxfw man $c > ctxfw${c:+-$c}.1; done"
    )]
    Man(ManArgs),
}

impl Command {
    /// Whether the command's product goes to standard output (so a failure with nothing
    /// printed leaves the shell's `> file` empty).
    pub fn prints_product(&self) -> bool {
        let to_stdout = |out: &Option<PathBuf>| out.as_deref().is_none_or(ctxfw::stdio::is_std);
        match self {
            Command::Check(a) => a.format != ctxfw::report::Format::Text,
            Command::Flows(a) => to_stdout(&a.out),
            Command::Generate(a) => to_stdout(&a.out),
            _ => true,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TextOrJson {
    Text,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum NftLayout {
    Auto,
    Sets,
    Concat,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum DiffFormat {
    Table,
    Markdown,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum FlowFormat {
    Table,
    Json,
    Csv,
    Markdown,
}

// The arguments of `ctxfw check`.
#[derive(Args)]
pub struct CheckArgs {
    /// The topology files (`-`: standard input).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Exit 1 when there are warnings.
    #[arg(long)]
    pub deny_warnings: bool,
    /// `text` for people (standard error); `json`, `sarif` (SARIF 2.1.0, for code
    /// scanning) or `github` (workflow commands that annotate a pull request) on standard
    /// output.
    #[arg(long, value_enum, default_value_t = ctxfw::report::Format::Text)]
    pub format: ctxfw::report::Format,
}

// The arguments of `ctxfw flows`.
#[derive(Args)]
pub struct FlowsArgs {
    /// The topology file (`-`: standard input).
    pub file: PathBuf,
    /// `table` for a terminal, `json` (the machine-readable contract), `csv`, `markdown`.
    #[arg(long, value_enum, default_value_t = FlowFormat::Table)]
    pub format: FlowFormat,
    /// Write to this file (atomically) instead of standard output (`-`: standard output).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Override embedded templates with same-named files from this directory.
    #[arg(long, value_name = "DIR")]
    pub templates: Option<PathBuf>,
}

// The arguments of `ctxfw generate`.
#[derive(Args)]
pub struct GenerateArgs {
    /// The topology file (`-`: standard input).
    pub file: PathBuf,
    /// Output target, or `all` for every target.
    #[arg(long, value_name = "TARGET", default_value = "all", value_parser = ctxfw::complete::TargetName)]
    pub target: String,
    /// Directory to write the files to (atomically: all files or none); `-`: standard
    /// output, for a target that writes one file.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Write nothing: exit 1, listing them, when files in --out DIR differ from what would
    /// be generated or are missing (a pre-commit hook or CI step for committed rule sets).
    #[arg(long, requires = "out")]
    pub check: bool,
    /// Host-firewall perspective: rules for this component's own addresses.
    #[arg(long, value_name = "COMPONENT", add = ArgValueCompleter::new(ctxfw::complete::components))]
    pub host: Option<String>,
    /// Override embedded templates with same-named files from this directory.
    #[arg(long, value_name = "DIR")]
    pub templates: Option<PathBuf>,
    /// Log and count dropped packets (nftables, iptables).
    #[arg(long)]
    pub log_drops: bool,
    /// Count packets on every rule (nftables; iptables always counts).
    #[arg(long)]
    pub counters: bool,
    /// Windows: also emit outbound rules for what each component initiates.
    #[arg(long)]
    pub outbound: bool,
    /// nftables: `sets` (a rule per flow over named address sets), `concat` (every flow
    /// in a few concatenated sets: loads in linear time at any size), or `auto` (`sets`
    /// up to 1,000 kernel sets, else `concat`).
    #[arg(long, value_enum, default_value_t = NftLayout::Auto)]
    pub nft_layout: NftLayout,
    /// matrix: fold the flows of a recurring service (an Active Directory member's ports,
    /// HDX) into one row per zone pair, its flows one click (HTML) or one table away.
    #[arg(long)]
    pub group: bool,
    /// matrix: the previous version of the topology; the workbook's summary says what
    /// changed since, and why.
    #[arg(long, value_name = "OLD.toml")]
    pub previous: Option<PathBuf>,
    /// With --out: list every file written, not only how many of each target.
    #[arg(long, short)]
    pub verbose: bool,
}

// The arguments of `ctxfw diff`.
#[derive(Args)]
pub struct DiffArgs {
    /// The old topology (or flows.json with --flows).
    pub old: PathBuf,
    /// The new topology (or flows.json with --flows).
    pub new: PathBuf,
    /// Compare two flows.json files (`ctxfw flows --format json`, golden/<name>/flows.json).
    #[arg(long)]
    pub flows: bool,
    /// `table` for a terminal, `markdown` (a pull-request comment), `json`.
    #[arg(long, value_enum, default_value_t = DiffFormat::Table)]
    pub format: DiffFormat,
}

// The arguments of `ctxfw explain`.
#[derive(Args)]
pub struct ExplainArgs {
    /// The topology file (`-`: standard input).
    pub file: PathBuf,
    /// Where the traffic starts: a component (`ddc`), an interface (`netscaler.snip`), a
    /// zone (`internet`), an address or a network.
    #[arg(long, value_name = "FROM", add = ArgValueCompleter::new(ctxfw::complete::ends))]
    pub from: String,
    /// Where it goes: as --from, or a domain name (`a.cloud.com`).
    #[arg(long, value_name = "TO", add = ArgValueCompleter::new(ctxfw::complete::ends))]
    pub to: String,
    /// Protocol and port, e.g. tcp/443, udp/1494, or a protocol alone (tcp, icmp).
    #[arg(long, value_name = "PROTO[/PORT]")]
    pub port: Option<String>,
    /// `text` for people, `json` for scripts (the flows as in `flows --format json`).
    #[arg(long, value_enum, default_value_t = TextOrJson::Text)]
    pub format: TextOrJson,
}

// The arguments of `ctxfw audit`.
#[derive(Args)]
pub struct AuditArgs {
    /// The topology file.
    pub file: PathBuf,
    /// The rule set to audit; repeat for the IPv4 and IPv6 files of one firewall.
    #[arg(long = "ruleset", value_name = "FILE", required = true)]
    pub rulesets: Vec<PathBuf>,
    /// `table` for a terminal, `markdown` for the change request, `json` for scripts.
    #[arg(long, value_enum, default_value_t = DiffFormat::Table)]
    pub format: DiffFormat,
    /// Read the rule set as this format instead of detecting it.
    #[arg(long, value_name = "FORMAT", value_parser = clap::builder::PossibleValuesParser::new(ctxfw::audit::parse::Format::NAMES))]
    pub ruleset_format: Option<String>,
    /// The rule set is this component's host firewall (input and output chains).
    #[arg(long, value_name = "COMPONENT")]
    pub host: Option<String>,
    /// The zones a network interface faces, for rules that match it (iifname, -i).
    #[arg(long = "interface", value_name = "NAME=ZONE[,ZONE]")]
    pub interfaces: Vec<String>,
    /// What a security group, application security group, network tag or service account
    /// stands for: a component (or, for an NSG, a zone).
    #[arg(long = "bind", value_name = "NAME=COMPONENT")]
    pub binds: Vec<String>,
}

// The arguments of `ctxfw verify`.
#[derive(Args)]
pub struct VerifyArgs {
    /// The topology file.
    pub file: PathBuf,
    /// Result files written by the probe scripts.
    #[arg(required = true, value_name = "RESULTS")]
    pub results: Vec<PathBuf>,
    /// `table` for a terminal, `markdown` for the change request, `json` for scripts.
    #[arg(long, value_enum, default_value_t = DiffFormat::Table)]
    pub format: DiffFormat,
}

// The arguments of `ctxfw catalogue`.
#[derive(Args)]
pub struct CatalogueArgs {
    /// A component kind id, e.g. `delivery-controller` (another name for one, such as
    /// `ddc`, shows it too).
    pub kind: Option<String>,
    /// List the parameters with their defaults and the flows they switch.
    #[arg(long)]
    pub parameters: bool,
    /// Find kinds by a name engineers use, a part of the id or words of the name
    /// (`ddc`, `provisioning`, `sql`); exit 1 when none matches.
    #[arg(long, value_name = "WORD", conflicts_with_all = ["kind", "parameters"])]
    pub search: Option<String>,
    /// `text` for people, `json` for scripts.
    #[arg(long, value_enum, default_value_t = TextOrJson::Text)]
    pub format: TextOrJson,
}

// The arguments of `ctxfw completions`.
#[derive(Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: ctxfw::complete::Shell,
    /// A script that never calls ctxfw: commands, options, targets and file names, but
    /// no component names.
    #[arg(long = "static")]
    pub static_script: bool,
}

// The arguments of `ctxfw man`.
#[derive(Args)]
pub struct ManArgs {
    /// A command (e.g. `generate`); without it, the page of ctxfw itself.
    pub command: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

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

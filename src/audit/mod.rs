//! `ctxfw audit`: does a firewall's current rule set implement the topology's flows, and no
//! more? Read the rule set as the platform's own tool prints it ([`parse`]), evaluate every
//! required flow against it with that platform's semantics ([`eval`]), and look for what it
//! allows between the topology's zones beyond those flows.
//!
//! Independent of the render layer: it reads the flows through [`flows`] only.

pub mod aws;
pub mod azure;
pub mod cloud;
pub mod eval;
mod findings;
pub mod flows;
pub mod gcp;
pub mod index;
pub mod iptables;
pub mod json;
pub mod model;
pub mod nft;
mod nft_expr;
mod nft_rule;
pub mod nft_text;
pub mod parse;
pub mod report;
pub mod space;
pub mod verify;

use serde::Serialize;

use findings::{Auditor, Findings};
use flows::Required;
use model::{Model, Scope, Target};
use space::{Cube, Fam, Set};

/// What the user asked for besides the rule set.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Audit a host firewall of this component (its input and output chains).
    pub host: Option<String>,
}

/// A rule (or a chain's policy) as the report names it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct RuleInfo {
    /// Where it applies: `forward hook`, `security group SgX (ingress)`.
    pub point: String,
    /// How to find it: `forward #4`, `rule allow-web`, `policy drop of forward`.
    pub rule: String,
    /// Line in the rule-set file, when it has lines.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    pub text: String,
}

/// Part of a required flow the rule set does not allow.
#[derive(Debug, Clone, Serialize)]
pub struct Blocked {
    pub flow: String,
    pub from: String,
    pub to: String,
    pub protocol: String,
    pub ports: String,
    pub purpose: String,
    pub source: String,
    /// The ports (or `all`) and addresses that are blocked.
    pub blocked_ports: String,
    pub from_addresses: Vec<String>,
    pub to_addresses: Vec<String>,
    pub by: RuleInfo,
}

/// Space allowed between two zones beyond every required flow.
#[derive(Debug, Clone, Serialize)]
pub struct Opening {
    pub from_zone: String,
    pub to_zone: String,
    pub protocol: String,
    pub ports: String,
    pub from_addresses: Vec<String>,
    pub to_addresses: Vec<String>,
    /// Source addresses x destination addresses x ports (or ICMP types).
    pub size: f64,
}

/// A rule that allows more than the flows need, with what.
#[derive(Debug, Clone, Serialize)]
pub struct TooOpen {
    pub rule: RuleInfo,
    /// Everything it opens, all zone pairs.
    pub size: f64,
    /// The largest openings (at most [`MAX_OPENINGS`]).
    pub openings: Vec<Opening>,
    /// Zone pairs and protocols beyond those listed.
    pub more: usize,
}

/// Openings listed per rule; a rule to the internet opens something towards every zone.
pub const MAX_OPENINGS: usize = 20;

/// A rule whose effect ctxfw cannot evaluate, and what depends on it.
#[derive(Debug, Clone, Serialize)]
pub struct Unknown {
    pub rule: RuleInfo,
    pub why: Vec<String>,
    /// Required flows whose verdict depends on it.
    pub flows: Vec<String>,
    /// What it may allow beyond the required flows.
    pub may_open: Vec<Opening>,
}

/// A shadowed or unused rule.
#[derive(Debug, Clone, Serialize)]
pub struct RuleNote {
    pub rule: RuleInfo,
    /// For a shadowed rule: the earlier rules that decide its packets first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub by: Vec<RuleInfo>,
}

/// A required flow the rule set does not speak for (an IP family it has no rules for).
#[derive(Debug, Clone, Serialize)]
pub struct NotAudited {
    pub flow: String,
    pub why: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub topology: String,
    pub ruleset: String,
    pub format: String,
    pub perspective: String,
    pub points: Vec<String>,
    pub flows_checked: usize,
    pub blocked: Vec<Blocked>,
    pub too_open: Vec<TooOpen>,
    pub unknown: Vec<Unknown>,
    pub shadowed: Vec<RuleNote>,
    pub unused: Vec<RuleNote>,
    pub not_audited: Vec<NotAudited>,
    pub notes: Vec<String>,
}

impl Report {
    /// Blocked, too open or undecidable: the rule set does not provably implement the flows.
    pub fn has_findings(&self) -> bool {
        !self.blocked.is_empty() || !self.too_open.is_empty() || !self.unknown.is_empty()
    }
}

/// A usage mistake found while auditing (a host firewall without `--host`): exit 64.
pub use crate::generate::UsageError;

/// The points of `model` this audit evaluates, or why none fits.
fn points<'m>(model: &'m Model, opts: &Options) -> Result<Vec<&'m model::Point>, UsageError> {
    let host_points: Vec<&model::Point> = model
        .points
        .iter()
        .filter(|p| {
            matches!(
                p.scope,
                Scope::Inbound(Target::Host) | Scope::Outbound(Target::Host)
            )
        })
        .collect();
    let other: Vec<&model::Point> = model
        .points
        .iter()
        .filter(|p| {
            !matches!(
                p.scope,
                Scope::Inbound(Target::Host) | Scope::Outbound(Target::Host)
            )
        })
        .collect();
    let forward_only = other.iter().all(|p| p.scope == Scope::Forward);
    match &opts.host {
        Some(_) if !host_points.is_empty() => Ok(host_points),
        Some(_) if forward_only => Err(UsageError(format!(
            "{}: --host names a host firewall, but this rule set has no input or output chain \
             (only {}); audit it without --host",
            model.file,
            other
                .iter()
                .map(|p| p.label.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
        Some(_) => Ok(other),
        None if !other.is_empty() => Ok(other),
        None if !host_points.is_empty() => Err(UsageError(format!(
            "{}: this rule set filters a host's own traffic (input and output chains) and has \
             no forward chain; pass --host COMPONENT to say whose firewall it is",
            model.file
        ))),
        None => Err(UsageError(format!(
            "{}: the rule set has no chain on a forward, input or output hook, and no security \
             rules; nothing filters traffic",
            model.file
        ))),
    }
}

/// `NAME=VALUE[,VALUE]` pairs from the command line.
fn pairs(args: &[String], what: &str) -> Result<Vec<(String, Vec<String>)>, UsageError> {
    args.iter()
        .map(|a| match a.split_once('=') {
            Some((n, v)) if !n.is_empty() && !v.is_empty() => Ok((
                n.to_string(),
                v.split(',').map(|x| x.trim().to_string()).collect(),
            )),
            _ => Err(UsageError(format!(
                "{what} `{a}`: expected NAME=VALUE, e.g. {}",
                if what == "--interface" {
                    "eth1=dmz"
                } else {
                    "sg-0abc=storefront"
                }
            ))),
        })
        .collect()
}

/// Read every rule-set file and audit them as one firewall: the CLI's `ctxfw audit`.
pub fn run(
    loaded: &crate::Loaded,
    rulesets: &[std::path::PathBuf],
    format: Option<&str>,
    host: Option<String>,
    interfaces: &[String],
    binds: &[String],
) -> anyhow::Result<Report> {
    let req = Required::new(loaded);
    let t = &loaded.topology;
    let interfaces = pairs(interfaces, "--interface")?;
    for (_, zones) in &interfaces {
        for z in zones {
            if !t.zones.contains_key(z) {
                return Err(UsageError(format!(
                    "--interface: no zone `{z}` in {}; {}",
                    t.file.name,
                    crate::diag::choice_hint(z, t.zones.keys().map(String::as_str))
                ))
                .into());
            }
        }
    }
    let mut bind = Vec::new();
    for (n, v) in pairs(binds, "--bind")? {
        for x in v {
            if !t.components.contains_key(&x) && !t.zones.contains_key(&x) {
                return Err(UsageError(format!(
                    "--bind {n}={x}: no component or zone `{x}` in {}; {}",
                    t.file.name,
                    crate::diag::choice_hint(
                        &x,
                        t.components
                            .keys()
                            .chain(t.zones.keys())
                            .map(String::as_str)
                    )
                ))
                .into());
            }
            bind.push((n.clone(), x));
        }
    }
    let ctx = parse::Context {
        req: &req,
        interfaces,
        bind,
        locations: t
            .zones
            .values()
            .map(|z| (z.name.clone(), z.location))
            .collect(),
    };
    let format = format.and_then(parse::Format::parse);
    let mut model: Option<Model> = None;
    for path in rulesets {
        let m = parse::read(path, format, &ctx)?;
        match &mut model {
            Some(all) => all.merge(m),
            None => model = Some(m),
        }
    }
    let model = model.ok_or_else(|| UsageError("pass at least one --ruleset FILE".into()))?;
    let opts = Options { host };
    crate::generate::check_host(t, opts.host.as_deref())?;
    Ok(audit_required(&req, &model, &opts)?)
}

/// Audit `model` against the topology's flows.
pub fn audit(loaded: &crate::Loaded, model: &Model, opts: &Options) -> Result<Report, UsageError> {
    crate::generate::check_host(&loaded.topology, opts.host.as_deref())?;
    let req = Required::new(loaded);
    audit_required(&req, model, opts)
}

/// [`audit`] from the flows as spaces (the benchmark times this part).
pub fn audit_required(req: &Required, model: &Model, opts: &Options) -> Result<Report, UsageError> {
    let points = points(model, opts)?;
    let auditor = Auditor::new(req, model, opts.host.as_deref());
    let mut found = Findings::default();
    for p in &points {
        found.point(&auditor, p);
    }
    let (shadowed, unused) = found.rule_notes(req, model, &points);
    let perspective = match &opts.host {
        Some(h) if points.iter().any(|p| p.scope != Scope::Forward) && is_host(&points) => {
            format!("host firewall of `{h}`")
        }
        _ if points.iter().all(|p| p.scope == Scope::Forward) => {
            "zone firewall (traffic between zones)".to_string()
        }
        _ => "security rules of the cloud networks".to_string(),
    };
    Ok(Report {
        topology: req.topology.clone(),
        ruleset: model.file.clone(),
        format: model.format.clone(),
        perspective,
        points: points.iter().map(|p| p.label.clone()).collect(),
        flows_checked: found.checked.len(),
        blocked: found.blocked(req, model),
        too_open: found.too_open(req, model),
        unknown: found.unknown(req, model),
        shadowed,
        unused,
        not_audited: std::mem::take(&mut found.not_audited)
            .into_iter()
            .map(|(flow, why)| NotAudited { flow, why })
            .collect(),
        notes: model.notes.clone(),
    })
}

fn is_host(points: &[&model::Point]) -> bool {
    points.iter().all(|p| {
        matches!(
            p.scope,
            Scope::Inbound(Target::Host) | Scope::Outbound(Target::Host)
        )
    })
}

/// Loopback traffic: a host talking to itself, never between zones.
pub fn loopback() -> Vec<Cube> {
    let v4 = Set::range(0x7f00_0000, 0x7fff_ffff);
    let v6 = Set::point(1);
    vec![
        Cube {
            src: v4.clone(),
            ..Cube::all(Fam::V4)
        },
        Cube {
            dst: v4,
            ..Cube::all(Fam::V4)
        },
        Cube {
            src: v6.clone(),
            ..Cube::all(Fam::V6)
        },
        Cube {
            dst: v6,
            ..Cube::all(Fam::V6)
        },
    ]
}

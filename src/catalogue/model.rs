//! The checked catalogue: kinds, traits, parameters, flows and the references they cite,
//! and the questions the rest of the program asks of it.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use indexmap::IndexMap;
use serde::Serialize;

use crate::cond::{Cond, Literal};
use crate::diag::{SourceFile, Span};
use crate::flow::{PortRange, PortSet, Protocol};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    /// Windows Server: the Windows Firewall target applies.
    Windows,
    /// Linux host (Linux VDA, XenServer dom0, ADM agent): host nftables/iptables apply.
    Linux,
    /// A vendor appliance with its own management (NetScaler, SD-WAN, vCenter appliance).
    Appliance,
    /// An end-user or admin device.
    Client,
    /// A service on the internet, reached by domain name.
    Internet,
    /// Runs on more than one platform (e.g. Smart Tools agent on Windows or Linux).
    Mixed,
}

impl Platform {
    pub(super) const NAMES: [&'static str; 6] = [
        "windows",
        "linux",
        "appliance",
        "client",
        "internet",
        "mixed",
    ];

    pub(super) fn parse(s: &str) -> Option<Platform> {
        Some(match s {
            "windows" => Platform::Windows,
            "linux" => Platform::Linux,
            "appliance" => Platform::Appliance,
            "client" => Platform::Client,
            "internet" => Platform::Internet,
            "mixed" => Platform::Mixed,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Platform::Windows => "windows",
            Platform::Linux => "linux",
            Platform::Appliance => "appliance",
            Platform::Client => "client",
            Platform::Internet => "internet",
            Platform::Mixed => "mixed",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamType {
    Bool,
    Int,
    String,
    /// A list of ports, e.g. the fixed ports a site configured for a "random port" service.
    Ports,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamValue {
    Bool(bool),
    Int(i64),
    Str(String),
    Ports(PortSet),
}

impl ParamValue {
    pub fn literal(&self) -> Option<Literal> {
        match self {
            ParamValue::Bool(b) => Some(Literal::Bool(*b)),
            ParamValue::Int(i) => Some(Literal::Int(*i)),
            ParamValue::Str(s) => Some(Literal::Str(s.clone())),
            ParamValue::Ports(_) => None,
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        match self {
            ParamValue::Bool(b) => (*b).into(),
            ParamValue::Int(i) => (*i).into(),
            ParamValue::Str(s) => s.clone().into(),
            ParamValue::Ports(p) => p.to_strings().into(),
        }
    }
}

impl fmt::Display for ParamValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamValue::Bool(b) => write!(f, "{b}"),
            ParamValue::Int(i) => write!(f, "{i}"),
            ParamValue::Str(s) => write!(f, "\"{s}\""),
            ParamValue::Ports(p) => write!(f, "[{p}]"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Parameter {
    pub name: String,
    pub ty: ParamType,
    /// Allowed values (empty = any value of the type).
    pub values: Vec<ParamValue>,
    pub default: ParamValue,
    pub description: String,
    pub source: String,
    /// Official pages (`[references]`) that give the default and the alternatives.
    pub refs: Vec<String>,
    pub span: Span,
    pub file: usize,
}

#[derive(Debug, Clone)]
pub struct Trait {
    pub id: String,
    pub description: String,
}

#[derive(Debug, Clone)]
pub struct Kind {
    pub id: String,
    pub name: String,
    pub family: String,
    pub platform: Platform,
    pub traits: Vec<String>,
    pub roles: Vec<String>,
    pub extends: Vec<String>,
    pub versions: Option<String>,
    pub legacy: bool,
    pub fqdns: Vec<String>,
    pub description: String,
    /// Other names engineers use for it (`ddc`, `sql`, `pvs`): for finding the id, never
    /// accepted in its place.
    pub aliases: Vec<String>,
    /// Per-component settings a topology may give a component of this kind (`join = "entra"`),
    /// read like parameters; flow conditions name them as `from.<name>` / `to.<name>`.
    pub settings: IndexMap<String, Parameter>,
    pub span: Span,
    pub file: usize,
}

/// What a flow end names: a component kind, or every kind with a trait (`@ad-member`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KindRef {
    Kind(String),
    Trait(String),
}

impl fmt::Display for KindRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KindRef::Kind(k) => f.write_str(k),
            KindRef::Trait(t) => write!(f, "@{t}"),
        }
    }
}

/// One element of a flow's `ports`: a fixed range, or the value of a parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortItem {
    Fixed(PortRange),
    Param(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    /// Crosses the network: becomes rules.
    Network,
    /// Loopback traffic on one host: catalogued so nothing is silently dropped, never a rule.
    HostLocal,
}

#[derive(Debug, Clone)]
pub struct CatFlow {
    pub id: String,
    pub family: String,
    pub from: KindRef,
    pub from_role: Option<String>,
    pub to: KindRef,
    pub to_role: Option<String>,
    pub protocols: Vec<Protocol>,
    pub ports: Vec<PortItem>,
    pub purpose: Arc<str>,
    pub source: Arc<str>,
    pub refs: Vec<String>,
    pub when: Option<Cond>,
    pub when_text: Option<Arc<str>>,
    /// The flow may start in a zone that holds the default route (the internet).
    pub from_internet: bool,
    /// Binds components of different sites (GSLB, site-to-site tunnels).
    pub cross_site: bool,
    /// Binds only between the addresses of one component (an HA pair is one component).
    pub within_component: bool,
    pub versions: Option<String>,
    /// The flow binds only where the topology also places one of these kinds (in the site of
    /// either end, or without a site): a Gateway's EDT listener only where it fronts VDAs.
    pub needs: Vec<KindRef>,
    pub fixes: Arc<[String]>,
    pub note: Option<Arc<str>>,
    pub confidence: Option<String>,
    pub scope: Scope,
    pub span: Span,
    pub file: usize,
}

#[derive(Debug, Clone)]
pub struct Reference {
    pub id: String,
    pub title: String,
    pub url: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Defect {
    pub id: String,
    pub summary: String,
    pub handling: String,
    pub flows: Vec<String>,
    pub span: Span,
    pub file: usize,
}

#[derive(Debug, Clone)]
pub struct Family {
    pub id: String,
    pub title: String,
    pub description: String,
    pub file: usize,
}

#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    pub files: Vec<SourceFile>,
    pub families: Vec<Family>,
    pub parameters: IndexMap<String, Parameter>,
    pub traits: IndexMap<String, Trait>,
    pub kinds: IndexMap<String, Kind>,
    pub flows: Vec<CatFlow>,
    pub references: IndexMap<String, Reference>,
    pub defects: IndexMap<String, Defect>,
    /// Parameters that no longer exist, with what replaced them, so an old topology is told.
    pub retired: IndexMap<String, Retired>,
}

/// A parameter a topology may still name from an older release.
#[derive(Debug, Clone)]
pub struct Retired {
    pub name: String,
    /// What to write instead; the error's hint.
    pub hint: String,
    pub span: Span,
    pub file: usize,
}

impl Catalogue {
    pub fn kind(&self, id: &str) -> Option<&Kind> {
        self.kinds.get(id)
    }

    /// A kind and every kind it extends, transitively (a Gateway is an ADC).
    pub fn expand_kind(&self, id: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut stack = vec![id.to_string()];
        while let Some(k) = stack.pop() {
            if out.contains(&k) {
                continue;
            }
            if let Some(kind) = self.kinds.get(&k) {
                stack.extend(kind.extends.iter().rev().cloned());
            }
            out.push(k);
        }
        out
    }

    /// Interface roles a kind accepts, including those of kinds it extends.
    pub fn roles_of(&self, id: &str) -> Vec<String> {
        let mut roles = Vec::new();
        for k in self.expand_kind(id) {
            if let Some(kind) = self.kinds.get(&k) {
                for r in &kind.roles {
                    if !roles.contains(r) {
                        roles.push(r.clone());
                    }
                }
            }
        }
        roles
    }

    /// A setting of a kind or of a kind it extends.
    pub fn setting_of(&self, kind: &str, name: &str) -> Option<&Parameter> {
        self.expand_kind(kind)
            .iter()
            .find_map(|k| self.kinds.get(k).and_then(|kd| kd.settings.get(name)))
    }

    /// Kinds a flow end names: the kind itself, or every kind with the trait.
    pub(super) fn end_kinds<'a>(&'a self, r: &'a KindRef) -> Vec<&'a str> {
        match r {
            KindRef::Kind(k) => vec![k.as_str()],
            KindRef::Trait(t) => self
                .kinds
                .values()
                .filter(|k| k.traits.contains(t))
                .map(|k| k.id.as_str())
                .collect(),
        }
    }

    /// Whether a kind (with the kinds it extends) matches a flow end.
    pub fn matches(&self, kind: &str, r: &KindRef) -> bool {
        self.expand_kind(kind).iter().any(|k| match r {
            KindRef::Kind(want) => k == want,
            KindRef::Trait(t) => self.kinds.get(k).is_some_and(|kd| kd.traits.contains(t)),
        })
    }

    /// Flows that name a kind (directly, by a kind it extends, or by trait) at either end.
    pub fn flows_of(&self, kind: &str) -> Vec<&CatFlow> {
        self.flows
            .iter()
            .filter(|f| self.matches(kind, &f.from) || self.matches(kind, &f.to))
            .collect()
    }

    pub fn file_of(&self, idx: usize) -> &SourceFile {
        &self.files[idx]
    }
}

/// Parameter values as a lookup for conditions, with a topology's overrides.
pub fn lookup<'a>(
    cat: &'a Catalogue,
    overrides: &'a IndexMap<String, ParamValue>,
) -> impl Fn(&str) -> Option<Literal> + 'a {
    move |name: &str| {
        overrides
            .get(name)
            .or_else(|| cat.parameters.get(name).map(|p| &p.default))
            .and_then(ParamValue::literal)
    }
}

/// Every distinct catalogue source title, for listings.
pub fn sources(cat: &Catalogue) -> BTreeSet<&str> {
    cat.flows.iter().map(|f| &*f.source).collect()
}

//! The port catalogue: component kinds, parameters and flows, loaded from `catalogue/*.toml`
//! (embedded in the binary) and, optionally, a user's directory of extensions.
//!
//! The schema is documented in `catalogue/README.md`. Loading checks every cross-reference
//! (kinds, traits, roles, parameters, references, defects) and reports all problems at once.

use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use indexmap::IndexMap;
use serde::Serialize;
use toml::Spanned;

use crate::cond::{self, Cond, Literal};
use crate::diag::{choice_hint, Diagnostic, Invalid, SourceFile, Span, Suggest};
use crate::doc::{self, Reader, Table};
use crate::flow::{PortRange, PortSet, Protocol};

/// The catalogue files shipped inside the binary, in load order.
pub const EMBEDDED: &[(&str, &str)] = &include!(concat!(env!("OUT_DIR"), "/catalogue_files.rs"));

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
    const NAMES: [&'static str; 6] = [
        "windows",
        "linux",
        "appliance",
        "client",
        "internet",
        "mixed",
    ];

    fn parse(s: &str) -> Option<Platform> {
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
    /// The embedded catalogue only.
    pub fn embedded() -> Result<Catalogue, Invalid> {
        Catalogue::load(None)
    }

    /// The embedded catalogue plus every `*.toml` in `ext` (sorted by name).
    pub fn load(ext: Option<&Path>) -> Result<Catalogue, Invalid> {
        let mut files: Vec<SourceFile> = EMBEDDED
            .iter()
            .map(|(name, text)| SourceFile::new(format!("catalogue/{name}"), *text))
            .collect();
        if let Some(dir) = ext {
            files.extend(read_dir_files(dir)?);
        }
        Catalogue::from_files(files)
    }

    pub fn from_files(files: Vec<SourceFile>) -> Result<Catalogue, Invalid> {
        let mut cat = Catalogue::default();
        let mut diags = Vec::new();
        for (i, file) in files.iter().enumerate() {
            match doc::parse(file) {
                Ok(table) => {
                    let mut r = Reader::new(file);
                    read_file(&mut r, &mut cat, table.get_ref(), i, &files);
                    diags.extend(r.finish());
                }
                Err(d) => diags.extend(d),
            }
        }
        cat.files = files;
        if !diags.iter().any(Diagnostic::is_error) {
            cat.check(&mut diags);
        }
        if diags.iter().any(Diagnostic::is_error) {
            return Err(Invalid { diagnostics: diags });
        }
        Ok(cat)
    }

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
    fn end_kinds<'a>(&'a self, r: &'a KindRef) -> Vec<&'a str> {
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

    fn check(&self, diags: &mut Vec<Diagnostic>) {
        let mut suggest = Suggest::default();
        let kind_ids: Vec<&str> = self.kinds.keys().map(String::as_str).collect();
        let trait_ids: Vec<&str> = self.traits.keys().map(String::as_str).collect();
        for kind in self.kinds.values() {
            let file = &self.files[kind.file];
            for e in &kind.extends {
                if !self.kinds.contains_key(e) {
                    diags.push(
                        Diagnostic::error(format!("kind `{}` extends unknown kind `{e}`", kind.id))
                            .at(file, kind.span.clone())
                            .hint(suggest.hint(e, kind_ids.iter().copied())),
                    );
                }
            }
            if self.expand_kind(&kind.id).len() > 8 {
                diags.push(
                    Diagnostic::error(format!("kind `{}` extends too deep a chain", kind.id))
                        .at(file, kind.span.clone())
                        .hint("check `extends` for a cycle"),
                );
            }
            for t in &kind.traits {
                if !self.traits.contains_key(t) {
                    diags.push(
                        Diagnostic::error(format!("kind `{}` has unknown trait `{t}`", kind.id))
                            .at(file, kind.span.clone())
                            .hint(suggest.hint(t, trait_ids.iter().copied())),
                    );
                }
            }
            // An internet service a flow reaches needs its names; one that only starts flows
            // (resolvers on the internet querying an ADC's ADNS) stands for the whole internet.
            let reached = self
                .flows
                .iter()
                .any(|f| matches!(&f.to, KindRef::Kind(k) if *k == kind.id));
            if kind.platform == Platform::Internet && kind.fqdns.is_empty() && reached {
                diags.push(
                    Diagnostic::error(format!("internet kind `{}` lists no domain names", kind.id))
                        .at(file, kind.span.clone())
                        .hint("add fqdns = [\"*.example.com\"]"),
                );
            }
        }
        self.check_parameters(diags);
        let mut seen_ids: IndexMap<&str, &CatFlow> = IndexMap::new();
        for f in &self.flows {
            let file = &self.files[f.file];
            if let Some(first) = seen_ids.get(f.id.as_str()) {
                diags.push(
                    Diagnostic::error(format!("duplicate flow id `{}`", f.id))
                        .at(file, f.span.clone())
                        .label(
                            &self.files[first.file],
                            first.span.clone(),
                            "first defined here",
                        )
                        .hint("flow ids must be unique across the catalogue; rename one"),
                );
            } else {
                seen_ids.insert(&f.id, f);
            }
            for (end, r, role) in [("from", &f.from, &f.from_role), ("to", &f.to, &f.to_role)] {
                let kinds: Vec<&str> = match r {
                    KindRef::Kind(k) => {
                        if !self.kinds.contains_key(k) {
                            diags.push(
                                Diagnostic::error(format!(
                                    "flow `{}`: unknown {end} kind `{k}`",
                                    f.id
                                ))
                                .at(file, f.span.clone())
                                .hint(suggest.hint(k, kind_ids.iter().copied())),
                            );
                            continue;
                        }
                        vec![k.as_str()]
                    }
                    KindRef::Trait(t) => {
                        if !self.traits.contains_key(t) {
                            diags.push(
                                Diagnostic::error(format!(
                                    "flow `{}`: unknown {end} trait `@{t}`",
                                    f.id
                                ))
                                .at(file, f.span.clone())
                                .hint(suggest.hint(t, trait_ids.iter().copied())),
                            );
                            continue;
                        }
                        self.kinds
                            .values()
                            .filter(|k| k.traits.contains(t))
                            .map(|k| k.id.as_str())
                            .collect()
                    }
                };
                if let Some(role) = role {
                    let ok = kinds.iter().any(|k| self.roles_of(k).contains(role));
                    if !ok {
                        diags.push(
                            Diagnostic::error(format!(
                                "flow `{}`: {end} role `{role}` is not a role of {r}",
                                f.id
                            ))
                            .at(file, f.span.clone())
                            .hint("declare it in the kind's `roles`"),
                        );
                    }
                }
            }
            if f.from_role.is_some()
                && matches!(f.from, KindRef::Kind(ref k) if self.kinds.get(k).is_some_and(|k| k.platform == Platform::Internet))
            {
                diags.push(
                    Diagnostic::error(format!("flow `{}` starts at an internet service", f.id))
                        .at(file, f.span.clone())
                        .hint("internet services are destinations only"),
                );
            }
            for p in &f.ports {
                if let PortItem::Param(name) = p {
                    match self.parameters.get(name) {
                        Some(param) if matches!(param.ty, ParamType::Int | ParamType::Ports) => {}
                        Some(_) => diags.push(
                            Diagnostic::error(format!(
                                "flow `{}`: port parameter `${name}` is not an int or ports parameter",
                                f.id
                            ))
                            .at(file, f.span.clone())
                            .hint("only int and ports parameters can stand for ports"),
                        ),
                        None => diags.push(
                            Diagnostic::error(format!("flow `{}`: unknown parameter `${name}`", f.id))
                                .at(file, f.span.clone())
                                .hint(suggest.hint(name, self.parameters.keys().map(String::as_str))),
                        ),
                    }
                }
            }
            for r in &f.needs {
                let known = match r {
                    KindRef::Kind(k) => self.kinds.contains_key(k),
                    KindRef::Trait(t) => self.traits.contains_key(t),
                };
                if !known {
                    diags.push(
                        Diagnostic::error(format!("flow `{}`: `needs` names unknown {r}", f.id))
                            .at(file, f.span.clone())
                            .hint(suggest.hint(&r.to_string(), kind_ids.iter().copied())),
                    );
                }
            }
            if let Some(c) = &f.when {
                for (p, lit) in c.atoms() {
                    let param = match cond::setting(p) {
                        Some((end, name)) => {
                            let r = match end {
                                cond::End::From => &f.from,
                                cond::End::To => &f.to,
                            };
                            let found = self
                                .end_kinds(r)
                                .iter()
                                .find_map(|k| self.setting_of(k, name));
                            if found.is_none() {
                                diags.push(
                                    Diagnostic::error(format!(
                                        "flow `{}`: condition names `{p}`, but {r} has no setting `{name}`",
                                        f.id
                                    ))
                                    .at(file, f.span.clone())
                                    .hint("declare it under [components.<kind>.settings] of that kind"),
                                );
                            }
                            found
                        }
                        None => {
                            let found = self.parameters.get(p);
                            if found.is_none() {
                                diags.push(
                                    Diagnostic::error(format!(
                                        "flow `{}`: condition names unknown parameter `{p}`",
                                        f.id
                                    ))
                                    .at(file, f.span.clone())
                                    .hint(
                                        suggest.hint(p, self.parameters.keys().map(String::as_str)),
                                    ),
                                );
                            }
                            found
                        }
                    };
                    let Some(param) = param else {
                        continue;
                    };
                    let ok = match (param.ty, lit) {
                        (ParamType::Bool, None) => true,
                        (ParamType::Bool, Some(Literal::Bool(_))) => true,
                        (ParamType::Int, Some(Literal::Int(i))) => {
                            param.values.is_empty() || param.values.contains(&ParamValue::Int(*i))
                        }
                        (ParamType::String, Some(Literal::Str(s))) => {
                            param.values.is_empty()
                                || param.values.contains(&ParamValue::Str(s.clone()))
                        }
                        _ => false,
                    };
                    if !ok {
                        diags.push(
                            Diagnostic::error(format!(
                                "flow `{}`: condition compares `{p}` with a value it cannot have",
                                f.id
                            ))
                            .at(file, f.span.clone())
                            .hint(
                                format!("`{p}` is {:?}; see its `values`", param.ty).to_lowercase(),
                            ),
                        );
                    }
                }
            }
            for r in &f.refs {
                if !self.references.contains_key(r) {
                    diags.push(
                        Diagnostic::error(format!("flow `{}`: unknown reference `{r}`", f.id))
                            .at(file, f.span.clone())
                            .hint(suggest.hint(r, self.references.keys().map(String::as_str))),
                    );
                }
            }
            for d in f.fixes.iter() {
                if !self.defects.is_empty() && !self.defects.contains_key(d) {
                    diags.push(
                        Diagnostic::error(format!("flow `{}`: unknown defect `{d}`", f.id))
                            .at(file, f.span.clone())
                            .hint("define it as [defects.Dnn] with summary, handling and flows in the family file"),
                    );
                }
            }
            if !f.fixes.is_empty() && f.note.is_none() {
                diags.push(
                    Diagnostic::error(format!("flow `{}` fixes a defect but has no note", f.id))
                        .at(file, f.span.clone())
                        .hint("say in `note` how the source row was corrected"),
                );
            }
        }
        for d in self.defects.values() {
            for id in &d.flows {
                if !seen_ids.contains_key(id.as_str()) {
                    diags.push(
                        Diagnostic::error(format!("defect {} names unknown flow `{id}`", d.id))
                            .at(&self.files[d.file], d.span.clone())
                            .hint(suggest.hint(id, seen_ids.keys().copied())),
                    );
                }
            }
        }
    }
}

impl Catalogue {
    /// Parameters and kind settings: known references, and setting names a topology can tell
    /// apart from a component's own keys.
    fn check_parameters(&self, diags: &mut Vec<Diagnostic>) {
        let settings = self
            .kinds
            .values()
            .flat_map(|k| k.settings.values().map(move |p| (Some(k), p)));
        for (kind, p) in self.parameters.values().map(|p| (None, p)).chain(settings) {
            let file = &self.files[p.file];
            let what = match kind {
                Some(k) => format!("setting `{}` of kind `{}`", p.name, k.id),
                None => format!("parameter `{}`", p.name),
            };
            for r in &p.refs {
                if !self.references.contains_key(r) {
                    diags.push(
                        Diagnostic::error(format!("{what}: unknown reference `{r}`"))
                            .at(file, p.span.clone())
                            .hint(choice_hint(r, self.references.keys().map(String::as_str))),
                    );
                }
            }
            if kind.is_some() && crate::topology::COMPONENT_KEYS.contains(&p.name.as_str()) {
                diags.push(
                    Diagnostic::error(format!("{what} has the name of a component key"))
                        .at(file, p.span.clone())
                        .hint("a topology writes settings next to kind, zone and hosts; choose another name"),
                );
            }
        }
        for r in self.retired.values() {
            if self.parameters.contains_key(&r.name) {
                diags.push(
                    Diagnostic::error(format!(
                        "parameter `{}` is both defined and retired",
                        r.name
                    ))
                    .at(&self.files[r.file], r.span.clone())
                    .hint("remove it from [retired]"),
                );
            }
        }
    }
}

fn read_dir_files(dir: &Path) -> Result<Vec<SourceFile>, Invalid> {
    let fail = |msg: String, hint: &str| Invalid {
        diagnostics: vec![Diagnostic::error(msg).hint(hint.to_string())],
    };
    let unreadable = |e: std::io::Error| Invalid {
        diagnostics: vec![Diagnostic::io_error(format!(
            "cannot read catalogue directory {}: {e}",
            dir.display()
        ))
        .in_file(&SourceFile::new(dir.display().to_string(), ""))
        .hint("pass --catalogue a readable directory of *.toml files")],
    };
    let rd = std::fs::read_dir(dir).map_err(unreadable)?;
    // Files are read only from inside the directory itself, wherever it is.
    let root = dir.canonicalize().map_err(unreadable)?;
    let mut paths: Vec<_> = rd
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.sort();
    if paths.is_empty() {
        return Err(fail(
            format!(
                "catalogue directory {} holds no *.toml files",
                dir.display()
            ),
            "put your in-house kinds and flows in a file such as site.toml",
        ));
    }
    let mut total = 0;
    paths
        .into_iter()
        .map(|p| {
            let text = read_catalogue_file(&root, dir, &p)?;
            total += text.len() as u64;
            if total > crate::diag::MAX_INPUT {
                return Err(fail(
                    format!(
                        "the catalogue files of {} are larger than {} MiB together",
                        dir.display(),
                        crate::diag::MAX_INPUT >> 20
                    ),
                    "keep only your in-house kinds and flows there",
                ));
            }
            Ok(SourceFile::new(p.display().to_string(), text))
        })
        .collect()
}

/// One file of a catalogue directory (`root` is where it really is): a link is followed only
/// to a file inside the directory, and only a regular file is read (a link to /etc/shadow, a
/// device or a pipe is refused), at most [`crate::diag::MAX_INPUT`] bytes of it.
fn read_catalogue_file(root: &Path, dir: &Path, p: &Path) -> Result<String, Invalid> {
    use rustix::fs::{Mode, OFlags};
    let what = "catalogue file";
    let refuse = |why: &str| Invalid {
        diagnostics: vec![Diagnostic::error(format!("{what} {} {why}", p.display()))
            .in_file(&SourceFile::new(p.display().to_string(), ""))
            .hint(format!(
                "ctxfw reads only regular files inside {}; copy the file there",
                dir.display()
            ))],
    };
    let opened = p.canonicalize().and_then(|real| {
        if !real.starts_with(root) {
            return Ok(None);
        }
        // Not followed if it became a link since: it was checked as it is now. Not blocking
        // on a pipe, which is refused next.
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let file = std::fs::File::from(rustix::fs::open(&real, flags, Mode::empty())?);
        Ok(Some(file))
    });
    let file = match opened {
        Ok(Some(file)) => file,
        Ok(None) => return Err(refuse("is a link to a file outside the directory")),
        Err(e) => return crate::diag::text_of(p, what, Err(e)),
    };
    match file.metadata() {
        Ok(m) if !m.is_file() => Err(refuse("is not a regular file")),
        Ok(_) => crate::diag::text_of(
            p,
            what,
            crate::diag::read_limited_from(file, crate::diag::MAX_INPUT),
        ),
        Err(e) => crate::diag::text_of(p, what, Err(e)),
    }
}

const FILE_KEYS: &[&str] = &[
    "family",
    "parameters",
    "retired",
    "traits",
    "components",
    "flows",
    "references",
    "defects",
];

fn read_file(
    r: &mut Reader<'_>,
    cat: &mut Catalogue,
    top: &Table<'_>,
    idx: usize,
    files: &[SourceFile],
) {
    let mut family = String::new();
    let entries = r.fields(top, FILE_KEYS, "a catalogue file");
    // `family` first, so components know theirs.
    for e in entries.iter().filter(|e| e.key == "family") {
        if let Some(t) = r.table(e.value, "family") {
            let fields = r.fields(t, &["id", "title", "description"], "[family]");
            let mut fam = Family {
                id: String::new(),
                title: String::new(),
                description: String::new(),
                file: idx,
            };
            for f in fields {
                let Some(s) = r.string(f.value, f.key) else {
                    continue;
                };
                match f.key {
                    "id" => fam.id = s.into_inner(),
                    "title" => fam.title = s.into_inner(),
                    _ => fam.description = s.into_inner(),
                }
            }
            family = fam.id.clone();
            cat.families.push(fam);
        }
    }
    if family.is_empty() {
        let d = Diagnostic::error("catalogue file has no [family] with an id")
            .in_file(r.file)
            .hint("start the file with [family] id = \"...\" title = \"...\"");
        r.push(d);
    }
    for e in entries {
        match e.key {
            "family" => {}
            "parameters" => {
                let Some(t) = r.table(e.value, "parameters") else {
                    continue;
                };
                for p in r.entries(t) {
                    if let Some(param) = read_param(r, p.key, p.key_span.clone(), p.value, idx) {
                        dup_check(
                            r,
                            cat.parameters.contains_key(p.key),
                            "parameter",
                            p.key,
                            p.key_span.clone(),
                        );
                        cat.parameters.insert(p.key.to_string(), param);
                    }
                }
            }
            "retired" => {
                let Some(t) = r.table(e.value, "retired") else {
                    continue;
                };
                for p in r.entries(t) {
                    let Some(tt) = r.table(p.value, p.key) else {
                        continue;
                    };
                    let hint = lone_string(r, tt, "hint", "a retired parameter");
                    if hint.is_empty() {
                        r.error(
                            p.key_span.clone(),
                            format!("retired parameter `{}` has no hint", p.key),
                            "add hint = \"what to write instead\"",
                        );
                    }
                    dup_check(
                        r,
                        cat.retired.contains_key(p.key),
                        "retired parameter",
                        p.key,
                        p.key_span.clone(),
                    );
                    cat.retired.insert(
                        p.key.to_string(),
                        Retired {
                            name: p.key.to_string(),
                            hint,
                            span: p.key_span.clone(),
                            file: idx,
                        },
                    );
                }
            }
            "traits" => {
                let Some(t) = r.table(e.value, "traits") else {
                    continue;
                };
                for p in r.entries(t) {
                    let Some(tt) = r.table(p.value, p.key) else {
                        continue;
                    };
                    let description = lone_string(r, tt, "description", "a trait");
                    dup_check(
                        r,
                        cat.traits.contains_key(p.key),
                        "trait",
                        p.key,
                        p.key_span.clone(),
                    );
                    cat.traits.insert(
                        p.key.to_string(),
                        Trait {
                            id: p.key.to_string(),
                            description,
                        },
                    );
                }
            }
            "components" => {
                let Some(t) = r.table(e.value, "components") else {
                    continue;
                };
                for p in r.entries(t) {
                    check_id(r, p.key, p.key_span.clone(), "component kind");
                    if let Some(kind) =
                        read_kind(r, p.key, p.key_span.clone(), p.value, &family, idx)
                    {
                        if let Some(first) = cat.kinds.get(p.key) {
                            let d = Diagnostic::error(format!(
                                "duplicate component kind `{}`",
                                p.key
                            ))
                            .at(r.file, p.key_span.clone())
                            .label(&files[first.file], first.span.clone(), "first defined here")
                            .hint("each kind is defined once; extend it with a new kind instead");
                            r.push(d);
                        }
                        cat.kinds.insert(p.key.to_string(), kind);
                    }
                }
            }
            "flows" => {
                let Some(items) = r.array(e.value, "flows") else {
                    continue;
                };
                for item in items {
                    if let Some(f) = read_flow(r, item, &family, idx) {
                        cat.flows.push(f);
                    }
                }
            }
            "references" => {
                let Some(t) = r.table(e.value, "references") else {
                    continue;
                };
                for p in r.entries(t) {
                    let Some(tt) = r.table(p.value, p.key) else {
                        continue;
                    };
                    let mut rf = Reference {
                        id: p.key.to_string(),
                        title: String::new(),
                        url: None,
                    };
                    for f in r.fields(tt, &["title", "url"], "a reference") {
                        let Some(s) = r.string(f.value, f.key) else {
                            continue;
                        };
                        if f.key == "title" {
                            rf.title = s.into_inner();
                        } else {
                            rf.url = Some(s.into_inner());
                        }
                    }
                    dup_check(
                        r,
                        cat.references.contains_key(p.key),
                        "reference",
                        p.key,
                        p.key_span.clone(),
                    );
                    cat.references.insert(p.key.to_string(), rf);
                }
            }
            "defects" => {
                let Some(t) = r.table(e.value, "defects") else {
                    continue;
                };
                for p in r.entries(t) {
                    let Some(tt) = r.table(p.value, p.key) else {
                        continue;
                    };
                    let mut d = Defect {
                        id: p.key.to_string(),
                        summary: String::new(),
                        handling: String::new(),
                        flows: Vec::new(),
                        span: p.key_span.clone(),
                        file: idx,
                    };
                    for f in r.fields(tt, &["summary", "handling", "flows"], "a defect") {
                        match f.key {
                            "flows" => {
                                d.flows = r
                                    .strings(f.value, "flows")
                                    .unwrap_or_default()
                                    .into_iter()
                                    .map(Spanned::into_inner)
                                    .collect()
                            }
                            key => {
                                let Some(s) = r.string(f.value, key) else {
                                    continue;
                                };
                                if key == "summary" {
                                    d.summary = s.into_inner();
                                } else {
                                    d.handling = s.into_inner();
                                }
                            }
                        }
                    }
                    if d.handling.is_empty() {
                        r.error(
                            p.key_span.clone(),
                            format!("defect {} says nothing of how it is handled", p.key),
                            "add handling = \"...\"",
                        );
                    }
                    dup_check(
                        r,
                        cat.defects.contains_key(p.key),
                        "defect",
                        p.key,
                        p.key_span.clone(),
                    );
                    cat.defects.insert(p.key.to_string(), d);
                }
            }
            _ => unreachable!("fields() filtered unknown keys"),
        }
    }
}

/// The one string field of a small table (`[traits.x] description`), empty when absent.
fn lone_string(r: &mut Reader<'_>, t: &Table<'_>, key: &str, context: &str) -> String {
    let mut out = String::new();
    for f in r.fields(t, &[key], context) {
        if let Some(s) = r.string(f.value, key) {
            out = s.into_inner();
        }
    }
    out
}

fn dup_check(r: &mut Reader<'_>, dup: bool, what: &str, id: &str, span: Span) {
    if dup {
        r.error(
            span,
            format!("duplicate {what} `{id}`"),
            format!("each {what} is defined once across the catalogue"),
        );
    }
}

/// Setting names are written as component keys in a topology: lowercase and underscores.
fn check_setting_name(r: &mut Reader<'_>, name: &str, span: Span) {
    let ok = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !ok {
        r.error(
            span,
            format!("setting name `{name}` must be lowercase letters, digits and underscores"),
            "e.g. `join`",
        );
    }
}

fn check_id(r: &mut Reader<'_>, id: &str, span: Span, what: &str) {
    let ok = !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !id.starts_with('-');
    if !ok {
        r.error(
            span,
            format!("{what} id `{id}` must be lowercase letters, digits and dashes"),
            "e.g. `delivery-controller`",
        );
    }
}

fn read_param(
    r: &mut Reader<'_>,
    name: &str,
    span: Span,
    v: &doc::Value<'_>,
    file: usize,
) -> Option<Parameter> {
    let t = r.table(v, name)?;
    let fields = r.fields(
        t,
        &["type", "values", "default", "description", "source", "refs"],
        "a parameter",
    );
    let mut refs = Vec::new();
    let mut ty = None;
    let mut values_v = None;
    let mut default_v = None;
    let mut description = String::new();
    let mut source = String::new();
    for f in &fields {
        match f.key {
            "type" => {
                if let Some(s) = r.string(f.value, "type") {
                    ty = match s.get_ref().as_str() {
                        "bool" => Some(ParamType::Bool),
                        "int" => Some(ParamType::Int),
                        "string" => Some(ParamType::String),
                        "ports" => Some(ParamType::Ports),
                        other => {
                            r.error(
                                s.span(),
                                format!("unknown parameter type `{other}`"),
                                "expected bool, int, string or ports",
                            );
                            None
                        }
                    }
                }
            }
            "values" => values_v = Some(f.value),
            "default" => default_v = Some(f.value),
            "refs" => {
                refs = r
                    .strings(f.value, "refs")
                    .unwrap_or_default()
                    .into_iter()
                    .map(Spanned::into_inner)
                    .collect()
            }
            "description" => {
                description = r
                    .string(f.value, "description")
                    .map(Spanned::into_inner)
                    .unwrap_or_default()
            }
            _ => {
                source = r
                    .string(f.value, "source")
                    .map(Spanned::into_inner)
                    .unwrap_or_default()
            }
        }
    }
    let ty = ty?;
    let mut values = Vec::new();
    if let Some(vv) = values_v {
        for item in r.array(vv, "values").unwrap_or_default() {
            if let Some(pv) = param_value(r, ty, item, name) {
                values.push(pv);
            }
        }
    }
    let default = match default_v {
        Some(d) => param_value(r, ty, d, name)?,
        None => {
            r.error(
                v.span(),
                format!("parameter `{name}` has no default"),
                "every parameter needs a default a current deployment would have",
            );
            return None;
        }
    };
    if !values.is_empty() && !values.contains(&default) {
        r.error(
            v.span(),
            format!("default of `{name}` is not among its values"),
            "add it to `values`",
        );
    }
    Some(Parameter {
        name: name.to_string(),
        ty,
        values,
        default,
        description,
        source,
        refs,
        span,
        file,
    })
}

/// Read a value of a parameter's type; shared with the topology's `[parameters]`.
pub fn param_value(
    r: &mut Reader<'_>,
    ty: ParamType,
    v: &doc::Value<'_>,
    name: &str,
) -> Option<ParamValue> {
    match ty {
        ParamType::Bool => r.boolean(v, name).map(|b| ParamValue::Bool(b.into_inner())),
        ParamType::Int => r.integer(v, name).map(|i| ParamValue::Int(i.into_inner())),
        ParamType::String => r.string(v, name).map(|s| ParamValue::Str(s.into_inner())),
        ParamType::Ports => {
            let items = r.scalars(v, name)?;
            let mut ranges = Vec::new();
            for s in items {
                match PortRange::parse(s.get_ref()) {
                    Ok(p) => ranges.push(p),
                    Err(e) => r.error(
                        s.span(),
                        format!("{name}: {e}"),
                        "write ports as 443 or \"6910-6930\"",
                    ),
                }
            }
            Some(ParamValue::Ports(PortSet::from_ranges(ranges)))
        }
    }
}

const KIND_KEYS: &[&str] = &[
    "name",
    "platform",
    "traits",
    "roles",
    "extends",
    "versions",
    "legacy",
    "fqdns",
    "description",
    "aliases",
    "settings",
];

fn read_kind(
    r: &mut Reader<'_>,
    id: &str,
    span: Span,
    v: &doc::Value<'_>,
    family: &str,
    file: usize,
) -> Option<Kind> {
    let t = r.table(v, id)?;
    let mut kind = Kind {
        id: id.to_string(),
        name: String::new(),
        family: family.to_string(),
        platform: Platform::Mixed,
        traits: Vec::new(),
        roles: Vec::new(),
        extends: Vec::new(),
        versions: None,
        legacy: false,
        fqdns: Vec::new(),
        description: String::new(),
        aliases: Vec::new(),
        settings: IndexMap::new(),
        span,
        file,
    };
    let mut has_platform = false;
    for f in r.fields(t, KIND_KEYS, "a component kind") {
        let list = |r: &mut Reader<'_>| -> Vec<String> {
            r.strings(f.value, f.key)
                .unwrap_or_default()
                .into_iter()
                .map(Spanned::into_inner)
                .collect()
        };
        match f.key {
            "traits" => kind.traits = list(r),
            "roles" => kind.roles = list(r),
            "extends" => kind.extends = list(r),
            "fqdns" => kind.fqdns = domain_names(r, f.value),
            "aliases" => kind.aliases = list(r),
            "settings" => {
                let Some(t) = r.table(f.value, "settings") else {
                    continue;
                };
                for p in r.entries(t) {
                    check_setting_name(r, p.key, p.key_span.clone());
                    if let Some(param) = read_param(r, p.key, p.key_span.clone(), p.value, file) {
                        dup_check(
                            r,
                            kind.settings.contains_key(p.key),
                            "setting",
                            p.key,
                            p.key_span.clone(),
                        );
                        kind.settings.insert(p.key.to_string(), param);
                    }
                }
            }
            "legacy" => {
                kind.legacy = r
                    .boolean(f.value, "legacy")
                    .is_some_and(Spanned::into_inner)
            }
            "platform" => {
                if let Some(s) = r.string(f.value, "platform") {
                    match Platform::parse(s.get_ref()) {
                        Some(p) => {
                            kind.platform = p;
                            has_platform = true;
                        }
                        None => r.error(
                            s.span(),
                            format!("unknown platform `{}`", s.get_ref()),
                            choice_hint(s.get_ref(), Platform::NAMES),
                        ),
                    }
                }
            }
            key => {
                let Some(s) = r.string(f.value, key) else {
                    continue;
                };
                let s = s.into_inner();
                match key {
                    "name" => kind.name = s,
                    "versions" => kind.versions = Some(s),
                    _ => kind.description = s,
                }
            }
        }
    }
    if !has_platform {
        r.error(
            kind.span.clone(),
            format!("kind `{id}` has no platform"),
            "add platform = \"windows\" (or linux, appliance, client, internet, mixed)",
        );
    }
    if kind.name.is_empty() {
        r.error(
            kind.span.clone(),
            format!("kind `{id}` has no name"),
            "add name = \"...\" as the product calls it",
        );
    }
    Some(kind)
}

/// A kind's `fqdns`: each must be a domain name ([`domain_name_problem`]), since they become
/// the lines of the domain list a proxy or DNS filter loads (`<topology>.domains.txt`).
fn domain_names(r: &mut Reader<'_>, v: &doc::Value<'_>) -> Vec<String> {
    let mut out = Vec::new();
    for s in r.strings(v, "fqdns").unwrap_or_default() {
        match domain_name_problem(s.get_ref()) {
            None => out.push(s.into_inner()),
            Some(problem) => r.error(
                s.span(),
                format!("{:?} in fqdns is not a domain name: {problem}", s.get_ref()),
                "write a name such as updates.example.com, or *.example.com for every name \
                 under example.com: labels of 1-63 letters, digits and `-`, at least two after \
                 any leading `*.`",
            ),
        }
    }
    out
}

/// What keeps `s` from being a domain name as the catalogue writes them (RFC 1035 host names,
/// case-insensitive, without the root's trailing dot), or `None`. Leading `*` labels stand
/// for any labels (`*.cloud.com`, `*.*.nssvc.net`); at least two real labels follow, so a
/// wildcard never covers a whole top-level domain, and the last is not a number (that would be
/// an address).
pub fn domain_name_problem(s: &str) -> Option<String> {
    let problem = |p: &str| Some(p.to_string());
    if s.is_empty() {
        return problem("it is empty");
    }
    if let Some(c) = s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '*')))
    {
        return Some(if c.is_ascii() {
            format!("it holds {c:?}; a name has letters, digits, `-` and `.`")
        } else {
            format!("it holds {c:?}; write an international name in its xn-- (punycode) form")
        });
    }
    if s.len() > 253 {
        return problem("it is longer than 253 characters");
    }
    if s.ends_with('.') {
        return problem("it ends with a dot");
    }
    let labels: Vec<&str> = s.split('.').collect();
    let wild = labels.iter().take_while(|l| **l == "*").count();
    let names = &labels[wild..];
    for l in names {
        if l.is_empty() {
            return problem("it has an empty label (two dots in a row, or a leading dot)");
        }
        if l.contains('*') {
            return problem("`*` may only stand as whole labels at the start");
        }
        if l.len() > 63 {
            return problem("a label is longer than 63 characters");
        }
        if l.starts_with('-') || l.ends_with('-') {
            return problem("a label starts or ends with `-`");
        }
    }
    if names.len() < 2 {
        return problem("it needs at least two labels after any leading `*.`");
    }
    if names
        .last()
        .is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit()))
    {
        return problem("its last label is a number, as in an address");
    }
    None
}

const FLOW_KEYS: &[&str] = &[
    "id",
    "from",
    "from_role",
    "to",
    "to_role",
    "protocol",
    "ports",
    "purpose",
    "source",
    "refs",
    "when",
    "from_internet",
    "cross_site",
    "within_component",
    "versions",
    "needs",
    "fixes",
    "note",
    "confidence",
    "scope",
];

fn read_flow(r: &mut Reader<'_>, v: &doc::Value<'_>, family: &str, file: usize) -> Option<CatFlow> {
    let t = r.table(v, "a flow")?;
    let span = v.span();
    let mut id = None;
    let mut from = None;
    let mut to = None;
    let mut protocols = Vec::new();
    let mut ports = Vec::new();
    let mut ports_span = None;
    let mut f = CatFlow {
        id: String::new(),
        family: family.to_string(),
        from: KindRef::Kind(String::new()),
        from_role: None,
        to: KindRef::Kind(String::new()),
        to_role: None,
        protocols: Vec::new(),
        ports: Vec::new(),
        purpose: "".into(),
        source: "".into(),
        refs: Vec::new(),
        when: None,
        when_text: None,
        from_internet: false,
        cross_site: false,
        within_component: false,
        versions: None,
        needs: Vec::new(),
        fixes: Vec::new().into(),
        note: None,
        confidence: None,
        scope: Scope::Network,
        span: span.clone(),
        file,
    };
    for e in r.fields(t, FLOW_KEYS, "a flow") {
        match e.key {
            "refs" => {
                f.refs = r
                    .strings(e.value, "refs")
                    .unwrap_or_default()
                    .into_iter()
                    .map(Spanned::into_inner)
                    .collect()
            }
            "needs" => {
                f.needs = r
                    .strings(e.value, "needs")
                    .unwrap_or_default()
                    .iter()
                    .map(|s| kind_ref(s.get_ref()))
                    .collect()
            }
            "fixes" => {
                f.fixes = r
                    .strings(e.value, "fixes")
                    .unwrap_or_default()
                    .into_iter()
                    .map(Spanned::into_inner)
                    .collect()
            }
            "from_internet" => {
                f.from_internet = r
                    .boolean(e.value, "from_internet")
                    .is_some_and(Spanned::into_inner)
            }
            "cross_site" => {
                f.cross_site = r
                    .boolean(e.value, "cross_site")
                    .is_some_and(Spanned::into_inner)
            }
            "within_component" => {
                f.within_component = r
                    .boolean(e.value, "within_component")
                    .is_some_and(Spanned::into_inner)
            }
            "ports" => {
                ports_span = Some(e.value.span());
                for s in r.scalars(e.value, "ports").unwrap_or_default() {
                    if let Some(name) = s.get_ref().strip_prefix('$') {
                        ports.push(PortItem::Param(name.to_string()));
                    } else {
                        match PortRange::parse(s.get_ref()) {
                            Ok(p) => ports.push(PortItem::Fixed(p)),
                            Err(msg) => {
                                r.error(s.span(), msg, "write 443, \"6910-6930\" or \"$parameter\"")
                            }
                        }
                    }
                }
            }
            "protocol" => {
                let Some(s) = r.string(e.value, "protocol") else {
                    continue;
                };
                for part in s.get_ref().split('+') {
                    match Protocol::parse(part.trim()) {
                        Some(p) => protocols.push(p),
                        None => r.error(
                            s.span(),
                            format!("unknown protocol `{part}`"),
                            format!(
                                "{}; write both as \"tcp+udp\"",
                                choice_hint(part.trim(), Protocol::names())
                            ),
                        ),
                    }
                }
            }
            key => {
                let Some(s) = r.string(e.value, key) else {
                    continue;
                };
                let sp = s.span();
                let s = s.into_inner();
                match key {
                    "id" => {
                        check_id(r, &s, sp, "flow");
                        id = Some(s);
                    }
                    "from" => from = Some(kind_ref(&s)),
                    "to" => to = Some(kind_ref(&s)),
                    "from_role" => f.from_role = Some(s),
                    "to_role" => f.to_role = Some(s),
                    "purpose" => f.purpose = s.into(),
                    "source" => f.source = s.into(),
                    "versions" => f.versions = Some(s),
                    "note" => f.note = Some(s.into()),
                    "confidence" => {
                        if !["stated", "inferred", "disputed"].contains(&s.as_str()) {
                            r.error(
                                sp,
                                format!("unknown confidence `{s}`"),
                                "expected stated, inferred or disputed",
                            );
                        }
                        f.confidence = Some(s);
                    }
                    "scope" => match s.as_str() {
                        "network" => f.scope = Scope::Network,
                        "host-local" => f.scope = Scope::HostLocal,
                        other => r.error(
                            sp,
                            format!("unknown scope `{other}`"),
                            "expected network or host-local",
                        ),
                    },
                    "when" => match Cond::parse(&s) {
                        Ok(c) => {
                            f.when = Some(c);
                            f.when_text = Some(s.into());
                        }
                        Err(msg) => r.error(
                            sp,
                            format!("bad condition: {msg}"),
                            "write e.g. \"edt && session_reliability\" or \"rendezvous != 'off'\"",
                        ),
                    },
                    _ => unreachable!(),
                }
            }
        }
    }
    let Some(id) = id else {
        r.error(span, "flow without an id", "add id = \"short-stable-name\"");
        return None;
    };
    let missing = |r: &mut Reader<'_>, what: &str, hint: &str| {
        r.error(
            span.clone(),
            format!("flow `{id}` has no {what}"),
            hint.to_string(),
        );
    };
    let (Some(from), Some(to)) = (from, to) else {
        missing(
            r,
            "from/to",
            "add from = \"kind\" and to = \"kind\" (or \"@trait\")",
        );
        return None;
    };
    if protocols.is_empty() {
        missing(
            r,
            "protocol",
            "add protocol = \"tcp\" (or udp, tcp+udp, icmp, ...)",
        );
    }
    if f.purpose.is_empty() {
        missing(r, "purpose", "say in your own words what the flow is for");
    }
    if f.source.is_empty() {
        missing(
            r,
            "source",
            "cite the document title and section, or the official page",
        );
    }
    let needs_ports = protocols.iter().any(|p| p.has_ports());
    if needs_ports && ports.is_empty() {
        missing(r, "ports", "tcp/udp flows need ports = [...]");
    }
    if !needs_ports && !ports.is_empty() {
        r.error(
            ports_span.unwrap_or(span.clone()),
            format!("flow `{id}`: ports given for a protocol without ports"),
            "remove `ports` for icmp, esp, gre ...",
        );
    }
    f.id = id;
    f.from = from;
    f.to = to;
    f.protocols = protocols;
    f.ports = ports;
    Some(f)
}

fn kind_ref(s: &str) -> KindRef {
    match s.strip_prefix('@') {
        Some(t) => KindRef::Trait(t.to_string()),
        None => KindRef::Kind(s.to_string()),
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

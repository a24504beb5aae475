//! Parse and validate a topology file (format: README, "Topology format").
//!
//! Raw TOML is walked with spans; the result is a checked [`Topology`] whose names, zones,
//! addresses and parameters are all known to be consistent with the catalogue. Every problem
//! is collected before anything is reported.

use std::net::IpAddr;

use indexmap::IndexMap;
use ipnet::IpNet;
use toml::Spanned;

use crate::catalogue::{param_value, Catalogue, ParamValue, Parameter, Platform};
use crate::diag::{choice_hint, Diagnostic, Invalid, SourceFile, Span};
use crate::doc::{self, Reader, Table};
use crate::flow::{PortRange, PortSet, Protocol};
use crate::{HashMap, HashSet};

/// Where a zone's networks are; the cloud targets use it to tell their own networks from others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Location {
    OnPremises,
    Aws,
    Azure,
    Gcp,
    Internet,
}

impl Location {
    const NAMES: [&'static str; 5] = ["on-premises", "aws", "azure", "gcp", "internet"];

    fn parse(s: &str) -> Option<Location> {
        Some(match s {
            "on-premises" => Location::OnPremises,
            "aws" => Location::Aws,
            "azure" => Location::Azure,
            "gcp" => Location::Gcp,
            "internet" => Location::Internet,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        Location::NAMES[self as usize]
    }
}

#[derive(Debug, Clone)]
pub struct Zone {
    pub name: String,
    pub cidrs: Vec<IpNet>,
    pub description: Option<String>,
    pub location: Location,
    /// Holds 0.0.0.0/0 or ::/0: "everything not in another zone", usually the internet.
    pub default_route: bool,
    /// The zone firewall's interfaces facing this zone (`interfaces = ["eth1"]`): its rule
    /// sets then also match the interface a packet comes in and goes out on. Empty: addresses
    /// alone.
    pub interfaces: Vec<String>,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct Interface {
    pub role: String,
    pub zone: String,
    /// `None`: the zone's networks.
    pub hosts: Option<Vec<IpNet>>,
}

#[derive(Debug, Clone)]
pub struct Component {
    pub name: String,
    pub kinds: Vec<String>,
    pub zone: String,
    pub hosts: Option<Vec<IpNet>>,
    pub site: Option<String>,
    pub description: Option<String>,
    pub interfaces: IndexMap<String, Interface>,
    /// Settings of its kinds the file sets (`join = "entra"`); the others take their defaults.
    pub settings: IndexMap<String, Spanned<ParamValue>>,
    pub span: Span,
}

/// A site-specific flow the catalogue does not have.
#[derive(Debug, Clone)]
pub struct Addition {
    pub id: String,
    pub from: String,
    pub from_interface: Option<String>,
    pub to: String,
    pub to_interface: Option<String>,
    pub protocol: Protocol,
    pub ports: PortSet,
    pub purpose: String,
    pub reason: String,
    pub span: Span,
}

/// A catalogue flow this site does not use (optionally only between some components).
#[derive(Debug, Clone)]
pub struct Removal {
    pub catalogue: String,
    pub from: Option<String>,
    pub to: Option<String>,
    pub reason: String,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct Topology {
    pub file: SourceFile,
    pub name: String,
    pub description: String,
    /// Only what the file sets; defaults come from the catalogue.
    pub parameters: IndexMap<String, Spanned<ParamValue>>,
    pub zones: IndexMap<String, Zone>,
    pub components: IndexMap<String, Component>,
    pub additions: Vec<Addition>,
    pub removals: Vec<Removal>,
}

impl Topology {
    pub fn zone(&self, name: &str) -> &Zone {
        &self.zones[name]
    }

    /// Addresses of a component, or of one of its interfaces.
    pub fn addresses(&self, comp: &Component, role: Option<&str>) -> (String, Vec<IpNet>) {
        if let Some(iface) = role.and_then(|r| comp.interfaces.get(r)) {
            let nets = iface
                .hosts
                .clone()
                .unwrap_or_else(|| self.zones[&iface.zone].cidrs.clone());
            return (iface.zone.clone(), nets);
        }
        let nets = comp
            .hosts
            .clone()
            .unwrap_or_else(|| self.zones[&comp.zone].cidrs.clone());
        (comp.zone.clone(), nets)
    }

    /// Zones holding the default route, IPv4 and IPv6.
    pub fn internet_zones(&self) -> impl Iterator<Item = &Zone> {
        self.zones.values().filter(|z| z.default_route)
    }

    pub fn has_ipv6(&self) -> bool {
        self.zones
            .values()
            .any(|z| z.cidrs.iter().any(|c| matches!(c, IpNet::V6(_))))
    }
}

/// Longest free text we accept; longer text is refused rather than carried into outputs.
pub const MAX_TEXT: usize = 2000;
pub const MAX_NAME: usize = 63;

/// Read a topology file from disk.
pub fn load(
    path: &std::path::Path,
    cat: &Catalogue,
) -> Result<(Topology, Vec<Diagnostic>), Invalid> {
    if crate::stdio::is_std(path) {
        let text = crate::stdio::read_stdin("topology", MAX_BYTES as u64)?;
        return parse(SourceFile::new(crate::stdio::STDIN_NAME, text), cat);
    }
    let text = crate::diag::read_text(path, "topology")?;
    parse(SourceFile::new(path.display().to_string(), text), cat)
}

/// The largest topology file read (README, "Limits").
const MAX_BYTES: usize = 16 * 1024 * 1024;

/// Parse and validate; on success also returns warnings.
pub fn parse(file: SourceFile, cat: &Catalogue) -> Result<(Topology, Vec<Diagnostic>), Invalid> {
    if file.text.len() > MAX_BYTES {
        return Err(Invalid {
            diagnostics: vec![Diagnostic::error("topology file is larger than 16 MiB")
                .in_file(&file)
                .hint("split the deployment into several topologies")],
        });
    }
    let table = match doc::parse(&file) {
        Ok(t) => t,
        Err(diagnostics) => return Err(Invalid { diagnostics }),
    };
    let mut r = Reader::new(&file);
    let topo = read(&mut r, table.get_ref(), cat, &file);
    let diags = r.finish();
    if diags.iter().any(Diagnostic::is_error) {
        return Err(Invalid { diagnostics: diags });
    }
    Ok((topo, diags))
}

const TOP_KEYS: &[&str] = &[
    "name",
    "description",
    "parameters",
    "zones",
    "components",
    "additions",
    "removals",
];

fn read(r: &mut Reader<'_>, top: &Table<'_>, cat: &Catalogue, file: &SourceFile) -> Topology {
    let mut t = Topology {
        file: file.clone(),
        name: String::new(),
        description: String::new(),
        parameters: IndexMap::new(),
        zones: IndexMap::new(),
        components: IndexMap::new(),
        additions: Vec::new(),
        removals: Vec::new(),
    };
    let fields = r.fields(top, TOP_KEYS, "the topology");
    let get = |k: &str| fields.iter().find(|e| e.key == k);
    match get("name") {
        Some(e) => {
            if let Some(s) = r.string(e.value, "name") {
                let ok = !s.get_ref().is_empty()
                    && s.get_ref().len() <= MAX_NAME
                    && s.get_ref()
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
                if !ok {
                    r.error(
                        s.span(),
                        format!("topology name {:?} must match [a-z0-9-]+ (at most {MAX_NAME} characters)", s.get_ref()),
                        "it names the output files, e.g. name = \"onprem-cvad\"",
                    );
                }
                t.name = s.into_inner();
            }
        }
        None => {
            let d = Diagnostic::error("the topology has no `name`")
                .at(file, 0..0)
                .hint("add name = \"my-site\" at the top; it names the output files");
            r.push(d);
        }
    }
    if let Some(e) = get("description") {
        if let Some(s) = text(r, e.value, "description") {
            t.description = s;
        }
    }
    if let Some(e) = get("zones") {
        read_zones(r, e.value, &mut t);
    } else {
        let d = Diagnostic::error("the topology has no [zones]")
            .at(file, 0..0)
            .hint("add at least one [zones.<name>] with cidrs = [\"10.0.0.0/24\"]");
        r.push(d);
    }
    if let Some(e) = get("parameters") {
        read_parameters(r, e.value, cat, &mut t);
    }
    if let Some(e) = get("components") {
        read_components(r, e.value, cat, &mut t);
    }
    if let Some(e) = get("additions") {
        read_additions(r, e.value, &mut t);
    }
    if let Some(e) = get("removals") {
        read_removals(r, e.value, cat, &mut t);
    }
    t
}

/// Free text: length-limited, no control characters or bidirectional overrides, which could
/// hide or reorder what a reviewer sees in an output.
fn text(r: &mut Reader<'_>, v: &doc::Value<'_>, what: &str) -> Option<String> {
    let s = r.string(v, what)?;
    check_text(r, s.span(), s.get_ref(), what)?;
    Some(s.into_inner())
}

fn check_text(r: &mut Reader<'_>, span: Span, s: &str, what: &str) -> Option<()> {
    if s.chars().count() > MAX_TEXT {
        r.error(
            span,
            format!("{what} is longer than {MAX_TEXT} characters"),
            "shorten it; put long explanations in a change ticket and reference it",
        );
        return None;
    }
    if let Some(c) = s.chars().find(|&c| crate::term::obeyed(c)) {
        r.error(
            span,
            format!("{what} contains the invisible character U+{:04X}", c as u32),
            "remove control and bidirectional-override characters; they can hide text from reviewers",
        );
        return None;
    }
    Some(())
}

/// Names of zones, components, roles and sites: they end up in file names, rule names and
/// comments of every target, so they are restricted to a safe alphabet.
fn check_name(r: &mut Reader<'_>, span: Span, name: &str, what: &str) -> bool {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !ok {
        r.error(
            span,
            format!("{what} name {name:?} must be letters, digits, '-' or '_' (at most {MAX_NAME}, starting with a letter or digit)"),
            "names become file names, rule names and comments in every output",
        );
    }
    ok
}

fn read_zones(r: &mut Reader<'_>, v: &doc::Value<'_>, t: &mut Topology) {
    let Some(table) = r.table(v, "zones") else {
        return;
    };
    let mut all: Vec<(IpNet, String, Span)> = Vec::new();
    // Firewall interfaces named so far, with their zone and where: one faces one zone.
    let mut ifaces: HashMap<String, (String, Span)> = HashMap::default();
    for e in r.entries(table) {
        check_name(r, e.key_span.clone(), e.key, "zone");
        let Some(zt) = r.table(e.value, &format!("zones.{}", e.key)) else {
            continue;
        };
        let mut zone = Zone {
            name: e.key.to_string(),
            cidrs: Vec::new(),
            description: None,
            location: Location::OnPremises,
            default_route: false,
            interfaces: Vec::new(),
            span: e.key_span.clone(),
        };
        let mut location = None;
        let mut has_cidrs = false;
        // This zone's networks so far, where each was listed: a repeat is looked up, not
        // searched for (a zone may list hundreds of thousands).
        let mut own: HashMap<IpNet, Span> = HashMap::default();
        for f in r.fields(
            zt,
            &["cidrs", "description", "location", "interfaces"],
            &format!("zone `{}`", e.key),
        ) {
            match f.key {
                "cidrs" => {
                    has_cidrs = true;
                    let Some(items) = r.strings(f.value, "cidrs") else {
                        continue;
                    };
                    if items.is_empty() {
                        r.error(
                            f.value.span(),
                            format!("zone `{}` has an empty cidrs list", e.key),
                            "give at least one network, e.g. [\"10.0.10.0/24\"]",
                        );
                    }
                    for s in items {
                        if let Some(net) = network(r, &s, "zone network") {
                            if let Some(first) = own.get(&net) {
                                let d = Diagnostic::error(format!(
                                    "network {net} is listed twice in zone `{}`",
                                    e.key
                                ))
                                .at(r.file, s.span())
                                .label(r.file, first.clone(), "first listed here")
                                .hint("remove one of them");
                                r.push(d);
                                continue;
                            }
                            own.insert(net, s.span());
                            all.push((net, e.key.to_string(), s.span()));
                            zone.cidrs.push(net);
                        }
                    }
                }
                "description" => zone.description = text(r, f.value, "description"),
                "interfaces" => {
                    zone.interfaces = read_interfaces(r, f.value, e.key, &mut ifaces);
                }
                _ => {
                    if let Some(s) = r.string(f.value, "location") {
                        match Location::parse(s.get_ref()) {
                            Some(l) => location = Some(l),
                            None => r.error(
                                s.span(),
                                format!("unknown location `{}`", s.get_ref()),
                                choice_hint(s.get_ref(), Location::NAMES),
                            ),
                        }
                    }
                }
            }
        }
        if !has_cidrs {
            r.error(
                e.key_span.clone(),
                format!("zone `{}` has no cidrs", e.key),
                "add cidrs = [\"10.0.10.0/24\"] (the zone's networks)",
            );
        }
        zone.default_route = zone.cidrs.iter().any(|c| c.prefix_len() == 0);
        zone.location = location.unwrap_or(if zone.default_route {
            Location::Internet
        } else {
            Location::OnPremises
        });
        t.zones.insert(e.key.to_string(), zone);
    }
    // Overlaps: only the default-route zone may overlap ("everything not elsewhere"). Sorted
    // by start address, a network overlaps an earlier one exactly when it starts before the
    // furthest end seen so far: one pass, so ten thousand zones stay fast.
    let mut nets: Vec<&(IpNet, String, Span)> =
        all.iter().filter(|(n, _, _)| n.prefix_len() > 0).collect();
    nets.sort_by_key(|(n, _, _)| (matches!(n, IpNet::V6(_)), n.network(), n.prefix_len()));
    let mut widest: Option<&(IpNet, String, Span)> = None;
    for cur in nets {
        if let Some(prev) = widest {
            let same_family = matches!(prev.0, IpNet::V6(_)) == matches!(cur.0, IpNet::V6(_));
            if same_family && prev.0.contains(&cur.0.network()) {
                if prev.1 != cur.1 {
                    let d = Diagnostic::error(format!("zone `{}` network {} overlaps zone `{}` network {}", cur.1, cur.0, prev.1, prev.0))
                        .at(r.file, cur.2.clone())
                        .label(r.file, prev.2.clone(), "overlapping network here")
                        .hint("zones must not overlap; only a zone holding 0.0.0.0/0 or ::/0 may (it means everything else)");
                    r.push(d);
                }
                if prev.0.broadcast() >= cur.0.broadcast() {
                    continue;
                }
            }
        }
        widest = Some(cur);
    }
}

/// Longest interface name Linux allows (IFNAMSIZ less the final NUL).
pub const MAX_IFNAME: usize = 15;

/// A zone's firewall interfaces: Linux interface names, each facing one zone.
fn read_interfaces(
    r: &mut Reader<'_>,
    v: &doc::Value<'_>,
    zone: &str,
    seen: &mut HashMap<String, (String, Span)>,
) -> Vec<String> {
    let Some(items) = r.strings(v, "interfaces") else {
        return Vec::new();
    };
    if items.is_empty() {
        r.error(
            v.span(),
            format!("zone `{zone}` has an empty interfaces list"),
            "name the firewall's interfaces facing this zone, e.g. [\"eth1\"], or leave `interfaces` out to match addresses only",
        );
    }
    let mut out = Vec::new();
    for s in items {
        let name = s.get_ref();
        let ok = !name.is_empty()
            && name.len() <= MAX_IFNAME
            && name != "."
            && name != ".."
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
        if !ok {
            r.error(
                s.span(),
                format!("interface name {name:?} must be 1 to {MAX_IFNAME} letters, digits, '.', '-' or '_'"),
                "write the name `ip link` shows for the firewall's interface facing this zone, e.g. \"eth1\" or \"bond0.20\"",
            );
            continue;
        }
        if let Some((other, first)) = seen.get(name) {
            let msg = if other == zone {
                format!("interface {name} is listed twice in zone `{zone}`")
            } else {
                format!("interface {name} is listed in zone `{other}` and in zone `{zone}`")
            };
            let d = Diagnostic::error(msg)
                .at(r.file, s.span())
                .label(r.file, first.clone(), "first listed here")
                .hint("a firewall interface faces one zone; list it once, in the zone behind it");
            r.push(d);
            continue;
        }
        seen.insert(name.clone(), (zone.to_string(), s.span()));
        out.push(name.clone());
    }
    out
}

/// A network with no host bits set (`10.0.0.0/24`, not `10.0.0.5/24`).
fn network(r: &mut Reader<'_>, s: &Spanned<String>, what: &str) -> Option<IpNet> {
    let text = s.get_ref().trim();
    match text.parse::<IpNet>() {
        Ok(net) => {
            if net.trunc() != net {
                r.error(
                    s.span(),
                    format!("{what} {text} has host bits set"),
                    format!(
                        "did you mean \"{}\"? a zone is a network address",
                        net.trunc()
                    ),
                );
                return None;
            }
            Some(net)
        }
        Err(_) => {
            let hint = if text.parse::<IpAddr>().is_ok() {
                format!("a network needs a prefix length, e.g. \"{text}/24\"")
            } else {
                "write an IPv4 or IPv6 network such as \"10.0.10.0/24\" or \"2001:db8::/48\""
                    .to_string()
            };
            r.error(s.span(), format!("`{text}` is not a valid {what}"), hint);
            None
        }
    }
}

/// A host address (`10.0.0.5` means `/32`) or a network inside a zone.
fn host(r: &mut Reader<'_>, s: &Spanned<String>) -> Option<IpNet> {
    let text = s.get_ref().trim();
    if let Ok(addr) = text.parse::<IpAddr>() {
        return Some(IpNet::from(addr));
    }
    match text.parse::<IpNet>() {
        Ok(net) if net.trunc() == net => Some(net),
        Ok(net) => {
            r.error(
                s.span(),
                format!("host network {text} has host bits set"),
                format!(
                    "write the address alone (\"{}\") or the network (\"{}\")",
                    net.addr(),
                    net.trunc()
                ),
            );
            None
        }
        Err(_) => {
            r.error(
                s.span(),
                format!("`{text}` is not an IP address or network"),
                "write \"10.0.10.11\" or \"10.0.10.0/28\"",
            );
            None
        }
    }
}

/// The networks of a zone, to ask whether they hold a host: a network holds it when the host's
/// address cut to the network's prefix length is that network, so a host costs a lookup per
/// prefix length the zone uses, not a scan of its networks.
struct Holds {
    nets: HashSet<IpNet>,
    /// Distinct prefix lengths by family (IPv4, IPv6).
    lens: [Vec<u8>; 2],
}

impl Holds {
    fn new(zone: &Zone) -> Holds {
        let mut lens = [Vec::new(), Vec::new()];
        for n in &zone.cidrs {
            lens[usize::from(matches!(n, IpNet::V6(_)))].push(n.prefix_len());
        }
        for l in &mut lens {
            l.sort_unstable();
            l.dedup();
        }
        Holds {
            nets: zone.cidrs.iter().copied().collect(),
            lens,
        }
    }

    fn holds(&self, host: &IpNet) -> bool {
        self.lens[usize::from(matches!(host, IpNet::V6(_)))]
            .iter()
            .take_while(|&&len| len <= host.prefix_len())
            .any(|&len| IpNet::new(host.addr(), len).is_ok_and(|n| self.nets.contains(&n.trunc())))
    }
}

/// The networks of the zones that do not hold the default route, as intervals sorted by their
/// first address: whether a host in the default-route zone lies in (or around) one of them is a
/// binary search, not a scan of every zone's networks.
struct Inside {
    /// (first, last, network, zone index) by first address, per family (IPv4, IPv6).
    nets: [Vec<(u128, u128, IpNet, usize)>; 2],
    /// The largest `last` among the intervals up to each index.
    reach: [Vec<u128>; 2],
}

fn bounds(n: &IpNet) -> (u128, u128) {
    match n {
        IpNet::V4(n) => (
            u128::from(u32::from(n.network())),
            u128::from(u32::from(n.broadcast())),
        ),
        IpNet::V6(n) => (u128::from(n.network()), u128::from(n.broadcast())),
    }
}

impl Inside {
    fn new(t: &Topology) -> Inside {
        let mut nets: [Vec<(u128, u128, IpNet, usize)>; 2] = [Vec::new(), Vec::new()];
        for (zi, z) in t
            .zones
            .values()
            .enumerate()
            .filter(|(_, z)| !z.default_route)
        {
            for n in &z.cidrs {
                let (lo, hi) = bounds(n);
                nets[usize::from(n.addr().is_ipv6())].push((lo, hi, *n, zi));
            }
        }
        let reach = nets.each_mut().map(|v| {
            v.sort_unstable_by_key(|e| (e.0, e.1));
            v.iter()
                .scan(0u128, |m, e| {
                    *m = (*m).max(e.1);
                    Some(*m)
                })
                .collect()
        });
        Inside { nets, reach }
    }

    /// A network of another zone that `host` lies in or holds, with that zone's index.
    fn overlap(&self, host: &IpNet) -> Option<(usize, IpNet)> {
        let f = usize::from(host.addr().is_ipv6());
        let (lo, hi) = bounds(host);
        let (nets, reach) = (&self.nets[f], &self.reach[f]);
        // Intervals that start at or before the host's last address; one of them reaches the
        // host's first address exactly when the running maximum does.
        let end = nets.partition_point(|e| e.0 <= hi);
        (0..end)
            .rev()
            .take_while(|&i| reach[i] >= lo)
            .find(|&i| nets[i].1 >= lo)
            .map(|i| (nets[i].3, nets[i].2))
    }
}

/// What hosts are checked against, made once per zone: its [`Holds`], and for the zone that
/// holds the default route the other zones' networks ([`Inside`]).
struct ZoneHolds {
    holds: HashMap<String, Holds>,
    inside: Option<Inside>,
}

/// One zone's checks for [`read_hosts`].
struct HostCheck<'a> {
    zone: &'a Zone,
    holds: &'a Holds,
    /// For the zone that holds the default route: the other zones' networks.
    inside: Option<&'a Inside>,
    zones: &'a IndexMap<String, Zone>,
}

impl ZoneHolds {
    fn new() -> ZoneHolds {
        ZoneHolds {
            holds: HashMap::default(),
            inside: None,
        }
    }

    fn of<'a>(&'a mut self, t: &'a Topology, zone: Option<&String>) -> Option<HostCheck<'a>> {
        let z = t.zones.get(zone?)?;
        if z.default_route && self.inside.is_none() {
            self.inside = Some(Inside::new(t));
        }
        let holds = self
            .holds
            .entry(z.name.clone())
            .or_insert_with(|| Holds::new(z));
        Some(HostCheck {
            zone: z,
            holds,
            inside: self.inside.as_ref().filter(|_| z.default_route),
            zones: &t.zones,
        })
    }
}

fn read_hosts(
    r: &mut Reader<'_>,
    v: &doc::Value<'_>,
    zone: Option<HostCheck<'_>>,
    owner: &str,
) -> Option<Vec<IpNet>> {
    let items = r.strings(v, "hosts")?;
    if items.is_empty() {
        r.error(
            v.span(),
            format!("{owner} has an empty hosts list"),
            "list its addresses, or leave `hosts` out to mean the whole zone",
        );
        return None;
    }
    let mut out: Vec<IpNet> = Vec::new();
    let mut seen: HashSet<IpNet> = HashSet::default();
    for s in items {
        let Some(net) = host(r, &s) else { continue };
        if let Some(HostCheck {
            zone: z,
            holds,
            inside,
            zones,
        }) = &zone
        {
            if !holds.holds(&net) {
                // A few of them: each error would otherwise repeat every network of a large zone.
                let mut nets: Vec<String> =
                    z.cidrs.iter().take(8).map(ToString::to_string).collect();
                if z.cidrs.len() > nets.len() {
                    nets.push(format!("{} more", z.cidrs.len() - nets.len()));
                }
                r.error(
                    s.span(),
                    format!("{owner}: host {net} is outside its zone `{}`", z.name),
                    format!(
                        "zone `{}` holds {}; move the host or the component to the right zone",
                        z.name,
                        nets.join(", ")
                    ),
                );
                continue;
            }
            // A zone holding the default route is every address no other zone holds.
            let overlap = inside
                .filter(|_| net.prefix_len() > 0)
                .and_then(|i| i.overlap(&net));
            if let Some((o, c)) = overlap {
                let o = &zones[o].name;
                r.error(
                    s.span(),
                    format!(
                        "{owner}: host {net} is in zone `{o}` ({c}), not in zone `{}`",
                        z.name
                    ),
                    format!(
                        "zone `{}` holds the default route: it is every address no other zone holds; place the component in zone `{o}`, or list only addresses outside the other zones",
                        z.name
                    ),
                );
                continue;
            }
        }
        if !seen.insert(net) {
            r.warn(
                s.span(),
                format!("{owner}: host {net} is listed twice"),
                "remove the duplicate",
            );
            continue;
        }
        out.push(net);
    }
    out.sort();
    Some(out)
}

fn read_parameters(r: &mut Reader<'_>, v: &doc::Value<'_>, cat: &Catalogue, t: &mut Topology) {
    let Some(table) = r.table(v, "parameters") else {
        return;
    };
    for e in r.entries(table) {
        let Some(p) = cat.parameters.get(e.key) else {
            if let Some(old) = cat.retired.get(e.key) {
                r.error(
                    e.key_span.clone(),
                    format!("parameter `{}` no longer exists", e.key),
                    old.hint.clone(),
                );
                continue;
            }
            let hint = r.hint(e.key, cat.parameters.keys().map(String::as_str));
            r.error(
                e.key_span.clone(),
                format!("unknown parameter `{}`", e.key),
                format!("{hint} (`ctxfw catalogue --parameters` lists them)"),
            );
            continue;
        };
        let what = format!("parameter `{}`", e.key);
        if let Some(val) = allowed_value(r, p, e.value, e.key, &what) {
            t.parameters
                .insert(e.key.to_string(), Spanned::new(e.value.span(), val));
        }
    }
}

/// A parameter's or a setting's value, of its type and among its allowed values.
fn allowed_value(
    r: &mut Reader<'_>,
    p: &Parameter,
    v: &doc::Value<'_>,
    key: &str,
    what: &str,
) -> Option<ParamValue> {
    let val = param_value(r, p.ty, v, key)?;
    if !p.values.is_empty() && !p.values.contains(&val) {
        let allowed: Vec<String> = p.values.iter().map(ToString::to_string).collect();
        r.error(
            v.span(),
            format!("{what} cannot be {val}"),
            format!(
                "allowed values: {} (default {})",
                allowed.join(", "),
                p.default
            ),
        );
        return None;
    }
    Some(val)
}

/// A component's own keys; the settings its kinds declare (`join`, `mode`...) sit beside them.
pub const COMPONENT_KEYS: &[&str] = &["kind", "zone", "hosts", "site", "description", "interfaces"];

fn read_components(r: &mut Reader<'_>, v: &doc::Value<'_>, cat: &Catalogue, t: &mut Topology) {
    let Some(table) = r.table(v, "components") else {
        return;
    };
    let zone_names: Vec<String> = t.zones.keys().cloned().collect();
    let mut holds = ZoneHolds::new();
    for e in r.entries(table) {
        check_name(r, e.key_span.clone(), e.key, "component");
        let owner = format!("component `{}`", e.key);
        let Some(ct) = r.table(e.value, &format!("components.{}", e.key)) else {
            continue;
        };
        // Every setting any kind declares is a known key here; whether this component's kinds
        // declare it is checked once its kinds are known.
        let mut keys: Vec<&str> = COMPONENT_KEYS.to_vec();
        for k in cat.kinds.values() {
            keys.extend(k.settings.keys().map(String::as_str));
        }
        keys.sort_unstable();
        keys.dedup();
        let fields = r.fields(ct, &keys, &owner);
        let get = |k: &str| fields.iter().find(|f| f.key == k);
        let mut comp = Component {
            name: e.key.to_string(),
            kinds: Vec::new(),
            zone: String::new(),
            hosts: None,
            site: None,
            description: None,
            interfaces: IndexMap::new(),
            settings: IndexMap::new(),
            span: e.key_span.clone(),
        };
        match get("kind") {
            Some(f) => {
                for k in r.strings(f.value, "kind").unwrap_or_default() {
                    if cat.kinds.contains_key(k.get_ref()) {
                        if comp.kinds.contains(k.get_ref()) {
                            r.warn(
                                k.span(),
                                format!("{owner}: kind `{}` is listed twice", k.get_ref()),
                                "remove the duplicate",
                            );
                        } else {
                            comp.kinds.push(k.get_ref().clone());
                        }
                    } else {
                        let hint = crate::suggest::kind_hint(cat, k.get_ref());
                        r.error(
                            k.span(),
                            format!("unknown component kind `{}`", k.get_ref()),
                            hint,
                        );
                    }
                }
                if comp.kinds.is_empty() && !r.has_errors() {
                    r.error(
                        f.value.span(),
                        format!("{owner} has no kind"),
                        "kind = \"storefront\" or [\"delivery-controller\", \"director\"]",
                    );
                }
            }
            None => r.error(
                e.key_span.clone(),
                format!("{owner} has no kind"),
                "add kind = \"...\"; `ctxfw catalogue` lists the kinds",
            ),
        }
        let zone = match get("zone") {
            Some(f) => r.string(f.value, "zone").and_then(|z| {
                if t.zones.contains_key(z.get_ref()) {
                    Some(z.into_inner())
                } else {
                    let hint = r.hint(z.get_ref(), zone_names.iter().map(String::as_str));
                    r.error(z.span(), format!("unknown zone `{}`", z.get_ref()), hint);
                    None
                }
            }),
            None => {
                r.error(
                    e.key_span.clone(),
                    format!("{owner} has no zone"),
                    "add zone = \"<one of the [zones]>\"",
                );
                None
            }
        };
        if let Some(f) = get("hosts") {
            comp.hosts = read_hosts(r, f.value, holds.of(t, zone.as_ref()), &owner);
        }
        if let Some(f) = get("site") {
            if let Some(s) = r.string(f.value, "site") {
                if check_name(r, s.span(), s.get_ref(), "site") {
                    comp.site = Some(s.into_inner());
                }
            }
        }
        if let Some(f) = get("description") {
            comp.description = text(r, f.value, "description");
        }
        for f in fields.iter().filter(|f| !COMPONENT_KEYS.contains(&f.key)) {
            read_setting(r, cat, &mut comp, f, &owner);
        }
        if let Some(f) = get("interfaces") {
            let roles: Vec<String> = comp.kinds.iter().flat_map(|k| cat.roles_of(k)).collect();
            if let Some(it) = r.table(f.value, "interfaces") {
                for ie in r.entries(it) {
                    if !roles.iter().any(|x| x == ie.key) {
                        let hint = if roles.is_empty() {
                            "this component's kinds have no interface roles; remove [interfaces]"
                                .to_string()
                        } else {
                            r.hint(ie.key, roles.iter().map(String::as_str))
                        };
                        r.error(
                            ie.key_span.clone(),
                            format!("{owner}: unknown interface role `{}`", ie.key),
                            hint,
                        );
                        continue;
                    }
                    let Some(itab) = r.table(ie.value, &format!("interfaces.{}", ie.key)) else {
                        continue;
                    };
                    let iowner = format!("interface `{}` of {owner}", ie.key);
                    let ifields = r.fields(itab, &["zone", "hosts"], &iowner);
                    let mut izone = zone.clone();
                    if let Some(zf) = ifields.iter().find(|x| x.key == "zone") {
                        izone = r.string(zf.value, "zone").and_then(|z| {
                            if t.zones.contains_key(z.get_ref()) {
                                Some(z.into_inner())
                            } else {
                                let hint =
                                    r.hint(z.get_ref(), zone_names.iter().map(String::as_str));
                                r.error(z.span(), format!("unknown zone `{}`", z.get_ref()), hint);
                                None
                            }
                        });
                    }
                    let hosts = ifields.iter().find(|x| x.key == "hosts").and_then(|hf| {
                        read_hosts(r, hf.value, holds.of(t, izone.as_ref()), &iowner)
                    });
                    if let Some(z) = izone {
                        comp.interfaces.insert(
                            ie.key.to_string(),
                            Interface {
                                role: ie.key.to_string(),
                                zone: z,
                                hosts,
                            },
                        );
                    }
                }
            }
        }
        if let Some(z) = zone {
            comp.zone = z;
            let internet_kind = comp.kinds.iter().all(|k| {
                cat.kind(k)
                    .is_some_and(|k| k.platform == Platform::Internet)
            });
            if t.zones[&comp.zone].default_route
                && comp.hosts.is_none()
                && !comp.kinds.is_empty()
                && !internet_kind
            {
                let faces = comp.kinds.iter().any(|k| {
                    cat.flows_of(k)
                        .iter()
                        .any(|f| f.from_internet && cat.matches(k, &f.from))
                });
                if !faces {
                    r.warn(
                        e.key_span.clone(),
                        format!("{owner} sits in internet zone `{}` but none of its kinds' flows may come from the internet", comp.zone),
                        "only flows meant to face the internet (e.g. users to the Gateway VIP) bind from an internet zone",
                    );
                }
            }
            t.components.insert(e.key.to_string(), comp);
        }
    }
}

/// A setting of one of the component's kinds (`join = "entra"` on a VDA), checked against the
/// kind's declaration like a parameter against the catalogue's.
fn read_setting(
    r: &mut Reader<'_>,
    cat: &Catalogue,
    comp: &mut Component,
    f: &doc::Entry<'_, '_>,
    owner: &str,
) {
    let Some(decl) = comp.kinds.iter().find_map(|k| cat.setting_of(k, f.key)) else {
        let mut owners: Vec<&str> = cat
            .kinds
            .values()
            .filter(|k| k.settings.contains_key(f.key))
            .map(|k| k.id.as_str())
            .collect();
        owners.truncate(4);
        if !comp.kinds.is_empty() {
            r.error(
                f.key_span.clone(),
                format!(
                    "{owner}: `{}` is not a setting of {}",
                    f.key,
                    comp.kinds.join(", ")
                ),
                format!(
                    "`{}` is a setting of {}; `ctxfw catalogue KIND` lists a kind's settings",
                    f.key,
                    owners.join(", ")
                ),
            );
        }
        return;
    };
    let what = format!("{owner}: setting `{}`", f.key);
    if let Some(val) = allowed_value(r, decl, f.value, f.key, &what) {
        comp.settings
            .insert(f.key.to_string(), Spanned::new(f.value.span(), val));
    }
}

fn component_ref(r: &mut Reader<'_>, t: &Topology, s: &Spanned<String>) -> Option<String> {
    if t.components.contains_key(s.get_ref()) {
        return Some(s.get_ref().clone());
    }
    let hint = r.hint(s.get_ref(), t.components.keys().map(String::as_str));
    r.error(
        s.span(),
        format!("unknown component `{}`", s.get_ref()),
        hint,
    );
    None
}

const ADDITION_KEYS: &[&str] = &[
    "id",
    "from",
    "from_interface",
    "to",
    "to_interface",
    "protocol",
    "ports",
    "purpose",
    "reason",
];

fn read_additions(r: &mut Reader<'_>, v: &doc::Value<'_>, t: &mut Topology) {
    let Some(items) = r.array(v, "additions") else {
        return;
    };
    let mut ids: HashMap<String, Span> = HashMap::default();
    for item in items {
        let span = item.span();
        let Some(at) = r.table(item, "[[additions]]") else {
            continue;
        };
        let fields = r.fields(at, ADDITION_KEYS, "an addition");
        let get_str = |r: &mut Reader<'_>, k: &str| -> Option<Spanned<String>> {
            fields
                .iter()
                .find(|f| f.key == k)
                .and_then(|f| r.string(f.value, k))
        };
        let id = get_str(r, "id");
        let from = get_str(r, "from");
        let to = get_str(r, "to");
        let from_if = get_str(r, "from_interface");
        let to_if = get_str(r, "to_interface");
        let proto = get_str(r, "protocol");
        let purpose = fields
            .iter()
            .find(|f| f.key == "purpose")
            .and_then(|f| text(r, f.value, "purpose"));
        let reason = fields
            .iter()
            .find(|f| f.key == "reason")
            .and_then(|f| text(r, f.value, "reason"));
        let mut ok = true;
        for (name, val, hint) in [
            ("id", id.is_some(), "id = \"mgmt-ssh\""),
            ("from", from.is_some(), "from = \"<component>\""),
            ("to", to.is_some(), "to = \"<component>\""),
            ("protocol", proto.is_some(), "protocol = \"tcp\""),
            (
                "reason",
                reason.is_some(),
                "reason = \"why this site needs it (ticket, owner)\"; every output shows it",
            ),
        ] {
            if !val {
                r.error(span.clone(), format!("addition has no `{name}`"), hint);
                ok = false;
            }
        }
        let from_c = from.as_ref().and_then(|s| component_ref(r, t, s));
        let to_c = to.as_ref().and_then(|s| component_ref(r, t, s));
        for (c, iface) in [(&from_c, &from_if), (&to_c, &to_if)] {
            if let (Some(c), Some(i)) = (c, iface) {
                if !t.components[c].interfaces.contains_key(i.get_ref()) {
                    let hint = r.hint(
                        i.get_ref(),
                        t.components[c].interfaces.keys().map(String::as_str),
                    );
                    r.error(
                        i.span(),
                        format!("component `{c}` has no interface `{}`", i.get_ref()),
                        hint,
                    );
                    ok = false;
                }
            }
        }
        let protocol = proto.as_ref().and_then(|p| {
            let pr = Protocol::parse(p.get_ref());
            if pr.is_none() {
                r.error(
                    p.span(),
                    format!("unknown protocol `{}`", p.get_ref()),
                    choice_hint(p.get_ref(), Protocol::names()),
                );
            }
            pr
        });
        let mut ports = Vec::new();
        let ports_field = fields.iter().find(|f| f.key == "ports");
        if let Some(f) = ports_field {
            for s in r.scalars(f.value, "ports").unwrap_or_default() {
                match PortRange::parse(s.get_ref()) {
                    Ok(p) => ports.push(p),
                    Err(m) => r.error(s.span(), m, "write 443 or \"6910-6930\""),
                }
            }
        }
        if let Some(p) = protocol {
            if p.has_ports() && ports_field.is_none() {
                r.error(
                    span.clone(),
                    format!("a {p} addition needs ports"),
                    "add ports = [8443]",
                );
                ok = false;
            }
            if !p.has_ports() && ports_field.is_some() {
                r.error(span.clone(), format!("{p} has no ports"), "remove `ports`");
                ok = false;
            }
        }
        if let Some(id) = &id {
            if !id
                .get_ref()
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                || id.get_ref().is_empty()
            {
                r.error(
                    id.span(),
                    format!(
                        "addition id {:?} must be lowercase letters, digits and dashes",
                        id.get_ref()
                    ),
                    "e.g. id = \"jump-host-ssh\"",
                );
                ok = false;
            } else if let Some(first) = ids.get(id.get_ref()) {
                let d = Diagnostic::error(format!("duplicate addition id `{}`", id.get_ref()))
                    .at(r.file, id.span())
                    .label(r.file, first.clone(), "first used here")
                    .hint("give each addition its own id");
                r.push(d);
                ok = false;
            } else {
                ids.insert(id.get_ref().clone(), id.span());
            }
        }
        if let (true, Some(id), Some(from), Some(to), Some(protocol), Some(reason)) =
            (ok, id, from_c, to_c, protocol, reason)
        {
            t.additions.push(Addition {
                id: id.into_inner(),
                from,
                from_interface: from_if.map(Spanned::into_inner),
                to,
                to_interface: to_if.map(Spanned::into_inner),
                protocol,
                ports: PortSet::from_ranges(ports),
                purpose: purpose.unwrap_or_default(),
                reason,
                span,
            });
        }
    }
}

fn read_removals(r: &mut Reader<'_>, v: &doc::Value<'_>, cat: &Catalogue, t: &mut Topology) {
    let Some(items) = r.array(v, "removals") else {
        return;
    };
    let flow_ids: HashSet<&str> = cat.flows.iter().map(|f| f.id.as_str()).collect();
    for item in items {
        let span = item.span();
        let Some(at) = r.table(item, "[[removals]]") else {
            continue;
        };
        let fields = r.fields(at, &["catalogue", "from", "to", "reason"], "a removal");
        let get = |r: &mut Reader<'_>, k: &str| {
            fields
                .iter()
                .find(|f| f.key == k)
                .and_then(|f| r.string(f.value, k))
        };
        let catalogue = get(r, "catalogue");
        let from = get(r, "from");
        let to = get(r, "to");
        let reason = fields
            .iter()
            .find(|f| f.key == "reason")
            .and_then(|f| text(r, f.value, "reason"));
        let mut ok = true;
        match &catalogue {
            Some(c) if !flow_ids.contains(c.get_ref().as_str()) => {
                let hint = r.hint(c.get_ref(), cat.flows.iter().map(|f| f.id.as_str()));
                r.error(
                    c.span(),
                    format!("unknown catalogue flow `{}`", c.get_ref()),
                    hint,
                );
                ok = false;
            }
            Some(_) => {}
            None => {
                r.error(span.clone(), "removal has no `catalogue` flow id", "catalogue = \"<flow id>\"; `ctxfw flows --format json` shows each flow's catalogue ids");
                ok = false;
            }
        }
        if reason.is_none() && !fields.iter().any(|f| f.key == "reason") {
            r.error(
                span.clone(),
                "removal has no `reason`",
                "reason = \"why this site does not need it\"; every output shows it",
            );
            ok = false;
        }
        let from = from.and_then(|s| component_ref(r, t, &s));
        let to = to.and_then(|s| component_ref(r, t, &s));
        if let (true, Some(c), Some(reason)) = (ok, catalogue, reason) {
            t.removals.push(Removal {
                catalogue: c.into_inner(),
                from,
                to,
                reason,
                span,
            });
        }
    }
}

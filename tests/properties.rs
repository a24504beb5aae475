//! Property tests: random VALID topologies (random zones with non-overlapping CIDRs, IPv4 and
//! IPv6, an optional internet zone; random components of random catalogue kinds with random
//! hosts inside their zones and random interfaces for kinds with roles; random parameters from
//! their allowed values; random additions) must resolve and render without panic, and:
//! - every flow's from_addresses lie inside from_zone's networks, to_addresses inside to_zone's;
//! - resolving twice gives identical flows;
//! - merging never widens a flow: its ports are exactly the union of its parts' ports, and each
//!   part's ports are exactly the catalogue entry's ports under the parameters (or the
//!   addition's);
//! - every target renders; JSON outputs parse; PowerShell scripts parse with tree-sitter; on a
//!   subset of cases nft and iptables-restore check the rule sets in a throwaway namespace.
//!
//! Case counts are modest so `cargo test` stays fast; `PROPTEST_CASES=1000` runs more.

mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use ctxfw::catalogue::{Catalogue, ParamType, ParamValue, PortItem, Scope};
use ctxfw::diag::SourceFile;
use ctxfw::flow::{PortRange, PortSet};
use ctxfw::generate::{self, Options, TARGETS};
use ctxfw::render::Renderer;
use proptest::prelude::*;

fn catalogue() -> &'static Catalogue {
    static C: OnceLock<Catalogue> = OnceLock::new();
    C.get_or_init(common::catalogue)
}

/// Draws from a list of random numbers; past its end, zeros (the "simplest" choice), so
/// proptest shrinks a failing case towards fewer and simpler parts.
struct Choices<'a>(std::slice::Iter<'a, u32>);

impl Choices<'_> {
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        self.0.next().map_or(0, |&x| x as usize % n)
    }
    fn flip(&mut self) -> bool {
        self.below(2) == 1
    }
}

struct ZoneSpec {
    name: String,
    v4: Option<(u8, u8)>, // 10.<i>.0.0/<prefix>
    v6: bool,             // 2001:db8:<i>::/64
    internet: bool,
}

impl ZoneSpec {
    fn host(&self, c: &mut Choices<'_>) -> IpAddr {
        let i: u16 = self.name[1..].parse().unwrap_or(0);
        match self.v4 {
            Some((n, _)) if !self.v6 || c.flip() => {
                IpAddr::V4(Ipv4Addr::new(10, n, 0, 1 + c.below(250) as u8))
            }
            _ if self.v6 => IpAddr::V6(Ipv6Addr::new(
                0x2001,
                0xdb8,
                i,
                0,
                0,
                0,
                0,
                1 + c.below(1000) as u16,
            )),
            _ => unreachable!("a zone has a network"),
        }
    }
}

const COMMON: &[&str] = &[
    "vda",
    "delivery-controller",
    "storefront",
    "workspace-app",
    "domain-controller",
    "sql-server",
    "license-server",
    "director",
];

/// A valid topology built from random choices.
fn topology(choices: &[u32]) -> String {
    let cat = catalogue();
    let c = &mut Choices(choices.iter());
    let mut t = String::from("name = \"prop\"\ndescription = \"a random topology\"\n");
    let mut zones: Vec<ZoneSpec> = Vec::new();
    if c.flip() {
        zones.push(ZoneSpec {
            name: "internet".into(),
            v4: None,
            v6: false,
            internet: true,
        });
    }
    for i in 0..1 + c.below(5) {
        let v6 = c.below(3) == 0;
        let v4 = (!v6 || c.flip()).then(|| (i as u8, [16u8, 20, 24][c.below(3)]));
        zones.push(ZoneSpec {
            name: format!("z{i}"),
            v4,
            v6,
            internet: false,
        });
    }
    for z in &zones {
        let mut cidrs = Vec::new();
        if z.internet {
            cidrs.push("\"0.0.0.0/0\"".to_string());
            cidrs.push("\"::/0\"".to_string());
        }
        if let Some((n, p)) = z.v4 {
            cidrs.push(format!("\"10.{n}.0.0/{p}\""));
        }
        if z.v6 {
            let i: u16 = z.name[1..].parse().unwrap();
            cidrs.push(format!("\"2001:db8:{i:x}::/64\""));
        }
        t.push_str(&format!(
            "[zones.{}]\ncidrs = [{}]\n",
            z.name,
            cidrs.join(", ")
        ));
    }
    // Parameters: each set or not, to an allowed value.
    let mut params = String::new();
    for p in cat.parameters.values() {
        if !c.flip() {
            continue;
        }
        let value = if !p.values.is_empty() {
            p.values[c.below(p.values.len())].clone()
        } else {
            match p.ty {
                ParamType::Bool => ParamValue::Bool(c.flip()),
                ParamType::Int => ParamValue::Int(1024 + c.below(60000) as i64),
                ParamType::Ports => {
                    let lo = 1024 + c.below(60000) as u16;
                    ParamValue::Ports(PortSet::from_ranges([PortRange {
                        lo,
                        hi: lo + c.below(20) as u16,
                    }]))
                }
                ParamType::String => continue,
            }
        };
        let text = match value {
            ParamValue::Ports(set) => format!(
                "[{}]",
                set.to_strings()
                    .iter()
                    .map(|s| format!("\"{s}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            ParamValue::Str(s) => format!("{s:?}"),
            v => v.to_string(),
        };
        params.push_str(&format!("{} = {text}\n", p.name));
    }
    if !params.is_empty() {
        t.push_str(&format!("[parameters]\n{params}"));
    }
    let kinds: Vec<_> = cat.kinds.values().collect();
    let placeable: Vec<usize> = (0..zones.len()).collect();
    let n = 1 + c.below(7);
    let mut names = Vec::new();
    for i in 0..n {
        // Half the time one of the kinds most flows join (and those with interface roles), so
        // components meet; otherwise any kind of the catalogue.
        let kind = if c.flip() {
            let common: Vec<_> = kinds
                .iter()
                .filter(|k| !k.roles.is_empty() || COMMON.contains(&k.id.as_str()))
                .collect();
            common[c.below(common.len())]
        } else {
            kinds[c.below(kinds.len())]
        };
        // Mostly in a private zone; sometimes in the internet zone.
        let zi = placeable[c.below(placeable.len())];
        let z = &zones[zi];
        let name = format!("c{i}");
        t.push_str(&format!(
            "[components.{name}]\nkind = \"{}\"\nzone = \"{}\"\n",
            kind.id, z.name
        ));
        if !z.internet && c.below(3) > 0 {
            let mut hosts: Vec<String> = (0..1 + c.below(3))
                .map(|_| format!("\"{}\"", z.host(c)))
                .collect();
            hosts.sort();
            hosts.dedup();
            t.push_str(&format!("hosts = [{}]\n", hosts.join(", ")));
        }
        for role in &kind.roles {
            if !c.flip() {
                continue;
            }
            let zi = c.below(zones.len());
            let z = &zones[zi];
            t.push_str(&format!(
                "[components.{name}.interfaces.{role}]\nzone = \"{}\"\n",
                z.name
            ));
            if !z.internet && c.flip() {
                t.push_str(&format!("hosts = [\"{}\"]\n", z.host(c)));
            }
        }
        names.push(name);
    }
    for i in 0..c.below(3) {
        let (from, to) = (&names[c.below(n)], &names[c.below(n)]);
        let proto = ["tcp", "udp", "icmp"][c.below(3)];
        let ports = if proto == "icmp" {
            String::new()
        } else {
            let lo = 1 + c.below(65000);
            format!("ports = [{lo}, \"{}-{}\"]\n", lo + 2, lo + 2 + c.below(30))
        };
        t.push_str(&format!(
            "[[additions]]\nid = \"a{i}\"\nfrom = \"{from}\"\nto = \"{to}\"\nprotocol = \"{proto}\"\n{ports}purpose = \"p {i}\"\nreason = \"r {i}\"\n"
        ));
    }
    t
}

/// The catalogue entry's ports under the topology's parameters, computed here independently.
fn catalogue_ports(topo: &ctxfw::topology::Topology, id: &str) -> PortSet {
    let cat = catalogue();
    let cf = cat
        .flows
        .iter()
        .find(|f| f.id == id && f.scope == Scope::Network)
        .unwrap_or_else(|| panic!("no catalogue flow {id}"));
    let mut ranges = Vec::new();
    for item in &cf.ports {
        match item {
            PortItem::Fixed(r) => ranges.push(*r),
            PortItem::Param(p) => {
                let v = topo
                    .parameters
                    .get(p)
                    .map(|v| v.get_ref().clone())
                    .unwrap_or_else(|| cat.parameters[p].default.clone());
                match v {
                    ParamValue::Int(i) if (1..=65535).contains(&i) => {
                        ranges.push(PortRange::single(i as u16))
                    }
                    ParamValue::Ports(s) => ranges.extend(s.ranges().iter().copied()),
                    _ => {}
                }
            }
        }
    }
    PortSet::from_ranges(ranges)
}

static CASE: AtomicUsize = AtomicUsize::new(0);

fn netfilter_tools() -> bool {
    common::tools::require(
        "properties: real-parser checks",
        &[
            ("nft", "nftables"),
            ("iptables-restore", "iptables"),
            ("ip6tables-restore", "iptables"),
            ("unshare", "util-linux"),
        ],
        true,
    )
}

/// nft -c and iptables-restore --test on the files, in a throwaway network namespace.
fn real_parsers(files: &[ctxfw::output::OutFile], topo_text: &str) {
    let dir = tempfile::tempdir().unwrap();
    for f in files {
        let cmd = if f.name.ends_with(".nft") {
            "nft -c -f"
        } else if f.name.ends_with(".rules") {
            "iptables-restore --test --noflush"
        } else if f.name.ends_with(".rules6") {
            "ip6tables-restore --test --noflush"
        } else {
            continue;
        };
        let p = dir.path().join(&f.name);
        std::fs::write(&p, &f.content).unwrap();
        let out = Command::new("unshare")
            .args(["-n", "sh", "-c", &format!("{cmd} {}", p.display())])
            .env("PATH", "/usr/sbin:/sbin:/usr/bin:/bin")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}: {cmd} failed: {}\n--- topology\n{topo_text}\n--- file\n{}",
            f.name,
            String::from_utf8_lossy(&out.stderr),
            f.content
        );
    }
}

fn powershell_parses(name: &str, text: &str) {
    let mut p = tree_sitter::Parser::new();
    p.set_language(&tree_sitter_powershell::LANGUAGE.into())
        .unwrap();
    let tree = p.parse(text, None).unwrap();
    assert!(
        !tree.root_node().has_error(),
        "{name} does not parse as PowerShell"
    );
}

fn check(choices: &[u32]) {
    let cat = catalogue();
    let text = topology(choices);
    let (topo, warnings) = ctxfw::topology::parse(SourceFile::new("prop.toml", text.as_str()), cat)
        .unwrap_or_else(|e| panic!("generated topology is invalid:\n{e}\n--- topology\n{text}"));
    ctxfw::check_size(&topo, cat).unwrap_or_else(|e| panic!("{e}"));
    let r1 = ctxfw::resolve::resolve(&topo, cat);
    let r2 = ctxfw::resolve::resolve(&topo, cat);
    assert_eq!(r1.flows, r2.flows, "resolving twice differs");
    assert_eq!(format!("{:?}", r1.removed), format!("{:?}", r2.removed));

    for f in r1.flows.iter() {
        for (zone, addrs, end) in [
            (&f.from_end.zone, &f.from_end.addresses, "from"),
            (&f.to_end.zone, &f.to_end.addresses, "to"),
        ] {
            let z = &topo.zones[&**zone];
            for a in addrs.iter() {
                assert!(
                    z.cidrs.iter().any(|c| c.contains(a)),
                    "{}: {end} address {a} outside zone {zone} {:?}\n{text}",
                    f.id,
                    z.cidrs
                );
            }
            assert!(!addrs.is_empty(), "{}: no {end} addresses", f.id);
        }
        let union = f
            .parts
            .iter()
            .fold(PortSet::new(), |acc, p| acc.union(&p.ports));
        assert_eq!(
            f.ports, union,
            "{}: ports are not the union of its parts",
            f.id
        );
        assert_eq!(
            f.protocol.has_ports(),
            !f.ports.is_empty(),
            "{}: ports for a protocol without ports, or none for one with",
            f.id
        );
        for p in &f.parts {
            let expected = match p.catalogue.strip_prefix("site:") {
                Some(id) => topo
                    .additions
                    .iter()
                    .find(|a| a.id == id)
                    .unwrap()
                    .ports
                    .clone(),
                None if f.protocol.has_ports() => catalogue_ports(&topo, &p.catalogue),
                None => PortSet::new(),
            };
            assert_eq!(
                p.ports, expected,
                "{}: part {} was widened or narrowed",
                f.id, p.catalogue
            );
        }
    }

    // Every target, zone perspective and the first component's host perspective.
    let first = topo.components.keys().next().cloned();
    let loaded = ctxfw::Loaded {
        catalogue: cat.clone(),
        topology: topo,
        resolution: r1,
        warnings,
    };
    let renderer = Renderer::new(None).unwrap();
    let case = CASE.fetch_add(1, Ordering::Relaxed);
    for t in TARGETS {
        let mut perspectives = vec![Options::default()];
        if t.host_aware {
            perspectives.push(Options {
                host: first.clone(),
                ..Options::default()
            });
        }
        if t.name == "nftables" {
            // The layout large topologies get; overlapping random zones and hosts test that
            // no two elements of a set overlap (the kernel refuses those).
            perspectives.push(Options {
                nft_layout: ctxfw::render::nftables::Layout::Concat,
                ..Options::default()
            });
        }
        for opts in perspectives {
            let files = generate::generate(&loaded, &renderer, &opts, &[t])
                .or_else(|e| {
                    if e.downcast_ref::<generate::NothingToRender>().is_some() {
                        Ok(Vec::new())
                    } else {
                        Err(e)
                    }
                })
                .unwrap_or_else(|e| panic!("{} {:?}: {e:#}\n{text}", t.name, opts.host));
            for f in &files {
                assert!(!f.content.contains('\0'), "{}: NUL in output", f.name);
                if f.name.ends_with(".json") {
                    serde_json::from_str::<serde_json::Value>(&f.content)
                        .unwrap_or_else(|e| panic!("{}: not JSON: {e}", f.name));
                }
                if f.name.ends_with(".ps1") {
                    powershell_parses(&f.name, &f.content);
                }
            }
            // The kernel's own parsers on every eighth case (each check forks a namespace).
            if case % 8 == 0 && ["nftables", "iptables"].contains(&t.name) && tools() {
                real_parsers(&files, &text);
            }
        }
    }
}

fn tools() -> bool {
    static T: OnceLock<bool> = OnceLock::new();
    *T.get_or_init(netfilter_tools)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 48,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_valid_topologies_keep_the_invariants(choices in prop::collection::vec(any::<u32>(), 0..160)) {
        check(&choices);
    }
}

/// The generator itself: the simplest choices give a valid topology.
#[test]
fn the_simplest_random_topology_is_valid() {
    check(&[]);
}

/// The generator is not trivial: over fixed pseudo-random choices it yields flows, merged flows
/// (several parts), interface ends, IPv6 and parameterised ports, so the invariants above bite.
#[test]
fn random_topologies_exercise_the_resolver() {
    let cat = catalogue();
    let mut x: u32 = 0x2545_F491;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x
    };
    let (mut flows, mut merged, mut ifaces, mut v6, mut params) = (0, 0, 0, 0, 0);
    for _ in 0..64 {
        let choices: Vec<u32> = (0..160).map(|_| next()).collect();
        let text = topology(&choices);
        let (topo, _) = ctxfw::topology::parse(SourceFile::new("prop.toml", text.as_str()), cat)
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
        let r = ctxfw::resolve::resolve(&topo, cat);
        flows += r.flows.len();
        merged += r.flows.iter().filter(|f| f.parts.len() > 1).count();
        ifaces += r
            .flows
            .iter()
            .filter(|f| f.from_end.interface.is_some() || f.to_end.interface.is_some())
            .count();
        v6 += r
            .flows
            .iter()
            .filter(|f| f.to_end.addresses.iter().any(|a| a.addr().is_ipv6()))
            .count();
        params += r.flows.iter().filter(|f| !f.parameters.is_empty()).count();
    }
    assert!(
        flows > 150 && merged > 10 && ifaces > 5 && v6 > 10 && params > 5,
        "flows {flows}, merged {merged}, interfaces {ifaces}, IPv6 {v6}, parameterised {params}"
    );
}

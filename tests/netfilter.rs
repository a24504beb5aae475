//! nftables and iptables outputs, proven on a real kernel: every generated file is loaded into
//! a throwaway network namespace (nft, iptables-nft, iptables-legacy, and ip6tables for IPv6),
//! re-loaded to show idempotence, checked by nft's optimiser for rules left to merge, and the
//! zone rule set is put on a router between two namespaces where probes show that every flow
//! connects and other traffic does not.
//!
//! Zone labs put a router between one namespace per zone (named as the zones' `interfaces`):
//! for every example and fixture, raw packets for every flow and its near misses reach their
//! zone exactly when `explain` allows them, under each rule set (nftables in both layouts,
//! iptables on both backends); the internet lab shows with real connections that an internet
//! flow's port opens nothing towards the other zones. iptables-restore's line and word limits
//! are tested with the inputs that broke them.
//!
//! Needs root (network namespaces), nftables, iptables, iproute2 and python3. Without them the
//! tests say so and return; under CI=true a missing tool fails.

mod common;

use std::io::{BufRead, BufReader};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use ctxfw::flow::Protocol;
use ctxfw::generate::{self, Options, TARGETS};
use ctxfw::output::OutFile;
use ctxfw::plan::{self, Perspective};
use ctxfw::render::nftables::Layout;
use ctxfw::render::Renderer;

const TOOLS: &[(&str, &str)] = &[
    ("nft", "nftables"),
    ("iptables-nft-restore", "iptables"),
    ("iptables-legacy-restore", "iptables"),
    ("ip6tables-nft-restore", "iptables"),
    ("ip6tables-legacy-restore", "iptables"),
    ("ip", "iproute2"),
    ("unshare", "util-linux"),
    ("python3", "python3"),
];

/// Whether the kernel tests can run; a visible skip, or a failure under CI, when they cannot.
fn kernel_tools(test: &str) -> bool {
    common::tools::require(test, TOOLS, true)
}

use common::sh;

/// Run a script in a fresh network namespace of its own (gone when the script ends).
fn in_netns(script: &str) -> (bool, String) {
    sh(&format!(
        "unshare -n sh -ec '{}'",
        script.replace('\'', "'\\''")
    ))
}

fn outputs_for(path: &Path) -> Vec<(String, Vec<OutFile>)> {
    // Fixtures that come with a catalogue extension (`<prefix>-injection.toml` beside
    // `<prefix>-catalogue/`) are loaded with it.
    let stem = path.file_stem().unwrap().to_string_lossy().to_string();
    let ext = stem
        .split_once('-')
        .map(|(p, _)| path.with_file_name(format!("{p}-catalogue")))
        .filter(|d| d.is_dir());
    let loaded =
        ctxfw::load(path, ext.as_deref()).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let r = Renderer::new(None).unwrap();
    let targets: Vec<_> = TARGETS
        .iter()
        .filter(|t| t.name == "nftables" || t.name == "iptables")
        .collect();
    assert_eq!(targets.len(), 2);
    let mut variants = vec![
        ("zone".to_string(), Options::default()),
        (
            "zone+counters+log".to_string(),
            Options {
                counters: true,
                log_drops: true,
                ..Options::default()
            },
        ),
        (
            "zone+concat".to_string(),
            Options {
                nft_layout: Layout::Concat,
                ..Options::default()
            },
        ),
    ];
    for c in loaded.topology.components.keys() {
        variants.push((
            format!("host-{c}"),
            Options {
                host: Some(c.clone()),
                log_drops: true,
                ..Options::default()
            },
        ));
    }
    variants
        .into_iter()
        .map(|(label, o)| {
            let files = generate::generate(&loaded, &r, &o, &targets).unwrap();
            (label, files)
        })
        .collect()
}

fn fixtures() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(common::root().join("tests/fixtures"))
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    v.sort();
    v
}

/// nft 1.0.6 (Debian 12) runs `-c -o` over named interval sets' elements twice and aborts
/// ("conflicting intervals", "invalid input descriptor"), whatever the rules; fixed later.
/// Element lists play no part in merging (rules matching named sets are never merged), so on
/// such versions the optimiser reads the file without them.
fn nft_version() -> (u32, u32, u32) {
    let (_, v) = sh("nft --version");
    let num = v
        .split_whitespace()
        .find(|w| w.starts_with('v'))
        .unwrap_or("v0.0.0")
        .trim_start_matches('v')
        .to_string();
    let mut it = num.split('.').map(|x| x.parse::<u32>().unwrap_or(0));
    (
        it.next().unwrap_or(0),
        it.next().unwrap_or(0),
        it.next().unwrap_or(0),
    )
}

fn for_optimiser(text: &str) -> String {
    if nft_version() >= (1, 0, 7) {
        return text.to_string();
    }
    // One-line element lists (`sets` layout) and multi-line ones (`concat`) alike.
    let mut out = Vec::new();
    let mut in_elements = false;
    for l in text.lines() {
        let t = l.trim();
        if in_elements {
            in_elements = t != "}";
        } else if t.starts_with("elements = ") {
            in_elements = !t.ends_with('}');
        } else {
            out.push(l);
        }
    }
    out.join("\n")
}

/// The commands an iptables file's header gives to apply it (restore, then the checked jump
/// from each built-in chain), for `file` at `path`, with the `nft` or `legacy` tools.
fn header_apply(content: &str, file: &str, path: &str, flavour: &str) -> String {
    let base = if file.ends_with(".rules6") {
        "ip6tables"
    } else {
        "iptables"
    };
    let apply: Vec<String> = content
        .lines()
        .filter_map(|l| l.strip_prefix("#   apply:"))
        .chain(
            content
                .lines()
                .filter(|l| l.starts_with("#              "))
                .map(|l| l.trim_start_matches('#')),
        )
        .map(|l| {
            l.trim()
                .replace(file, path)
                .replace(
                    &format!("{base}-restore"),
                    &format!("{base}-{flavour}-restore"),
                )
                .replace(&format!("{base} -"), &format!("{base}-{flavour} -"))
        })
        .collect();
    assert!(apply.len() >= 2, "{file}: apply commands in the header");
    apply.join("\n")
}

/// Load every file of one variant for real, twice, next to other people's rules.
fn load_all(label: &str, files: &[OutFile], dir: &Path) -> Vec<String> {
    let mut failures = Vec::new();
    for f in files {
        let p = dir.join(&f.name);
        std::fs::write(&p, &f.content).unwrap();
        let p = p.display().to_string();
        if f.name.ends_with(".nft") {
            let table = f
                .content
                .lines()
                .find_map(|l| l.strip_prefix("delete table inet "))
                .expect("the file deletes its table")
                .to_string();
            let script = format!(
                "nft add table inet keepme
                 nft add chain inet keepme c '{{ type filter hook input priority 10; policy accept; }}'
                 nft -f {p}
                 nft list ruleset > {p}.first
                 nft -f {p}
                 nft -f {p}
                 nft list ruleset > {p}.again
                 cmp {p}.first {p}.again
                 nft list chain inet keepme c > /dev/null
                 nft list table inet {table} > /dev/null
                 nft delete table inet {table}
                 nft list table inet keepme > /dev/null"
            );
            let (ok, out) = in_netns(&script);
            if !ok {
                failures.push(format!(
                    "{label}: {}: nft load/reload failed:\n{out}",
                    f.name
                ));
            }
            let opt = dir.join(format!("{}.opt", f.name));
            std::fs::write(&opt, for_optimiser(&f.content)).unwrap();
            let (ok, out) = in_netns(&format!("nft -c -o -f {}", opt.display()));
            if !ok || out.contains("Merging") {
                failures.push(format!(
                    "{label}: {}: nft -c -o found rules to merge (or failed):\n{out}",
                    f.name
                ));
            }
        } else if f.name.ends_with(".rules") || f.name.ends_with(".rules6") {
            let v6 = f.name.ends_with(".rules6");
            let base = if v6 { "ip6tables" } else { "iptables" };
            let foreign = if v6 { "2001:db8:ffff::1" } else { "192.0.2.1" };
            let apply_for = |flavour: &str| header_apply(&f.content, &f.name, &p, flavour);
            for flavour in ["nft", "legacy"] {
                let apply = apply_for(flavour);
                let save =
                    format!("{base}-{flavour}-save | grep -v '^#' | sed 's/\\[[0-9]*:[0-9]*\\]//'");
                let script = format!(
                    "{base}-{flavour} -A FORWARD -s {foreign} -j ACCEPT
                     {base}-{flavour} -A INPUT -s {foreign} -j ACCEPT
                     {apply}
                     {save} > {p}.{flavour}.first
                     {apply}
                     {apply}
                     {save} > {p}.{flavour}.again
                     cmp {p}.{flavour}.first {p}.{flavour}.again
                     grep -q -- '-A FORWARD -s {foreign}' {p}.{flavour}.again
                     grep -q -- '-A INPUT -s {foreign}' {p}.{flavour}.again
                     test $(grep -c -- '-j CTXFW-' {p}.{flavour}.again) -ge 1"
                );
                let (ok, out) = in_netns(&script);
                if !ok {
                    failures.push(format!(
                        "{label}: {} with {base}-{flavour}-restore failed:\n{out}",
                        f.name
                    ));
                }
                // Exactly one jump per chain ctxfw owns.
                let first =
                    std::fs::read_to_string(format!("{p}.{flavour}.again")).unwrap_or_default();
                for l in first.lines().filter(|l| l.starts_with(":CTXFW-")) {
                    let chain = l[1..].split_whitespace().next().unwrap();
                    let jumps = first
                        .lines()
                        .filter(|x| x.ends_with(&format!("-j {chain}")))
                        .count();
                    if jumps != 1 {
                        failures.push(format!(
                            "{label}: {} ({flavour}): {jumps} jumps to {chain} after three loads",
                            f.name
                        ));
                    }
                }
            }
        }
    }
    failures
}

fn load_topologies(paths: &[PathBuf]) {
    let mut failures = Vec::new();
    let tmp = tempfile::tempdir().unwrap();
    for path in paths {
        for (label, files) in outputs_for(path) {
            let dir = tmp.path().join(format!(
                "{}-{label}",
                path.file_stem().unwrap().to_string_lossy()
            ));
            std::fs::create_dir_all(&dir).unwrap();
            failures.extend(load_all(&label, &files, &dir));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn fixtures_load_on_a_real_kernel() {
    if !kernel_tools("fixtures_load_on_a_real_kernel") {
        return;
    }
    load_topologies(&fixtures());
}

#[test]
fn examples_load_on_a_real_kernel() {
    if !kernel_tools("examples_load_on_a_real_kernel") {
        return;
    }
    load_topologies(&common::example_topologies());
}

#[test]
fn optimiser_check_detects_mergeable_rules() {
    // The check above must be able to fail: two rules nft would merge into one.
    if !kernel_tools("optimiser_check_detects_mergeable_rules") {
        return;
    }
    let text = "table inet t {\n chain c {\n  ip saddr 198.18.1.1 tcp dport 80 accept comment \"a\"\n  ip saddr 198.18.1.2 tcp dport 80 accept comment \"b\"\n }\n}\n";
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("m.nft");
    std::fs::write(&p, for_optimiser(text)).unwrap();
    let (_, out) = in_netns(&format!("nft -c -o -f {}", p.display()));
    assert!(
        out.contains("Merging"),
        "nft -c -o should offer a merge:\n{out}"
    );
}

// ---- packet level --------------------------------------------------------------------------

/// Network namespaces of one test run, deleted on drop whatever happens.
struct Lab {
    names: Vec<String>,
    children: Vec<Child>,
}

impl Drop for Lab {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        for n in &self.names {
            let _ = Command::new("ip").args(["netns", "del", n]).status();
        }
    }
}

impl Lab {
    fn exec(&self, ns: &str, script: &str) -> (bool, String) {
        sh(&format!(
            "ip netns exec {ns} sh -ec '{}'",
            script.replace('\'', "'\\''")
        ))
    }
    fn must(&self, ns: &str, script: &str) {
        let (ok, out) = self.exec(ns, script);
        assert!(ok, "in {ns}: {script}\n{out}");
    }
}

fn host_of(nets: &[ipnet::IpNet], v6: bool) -> Option<IpAddr> {
    nets.iter()
        .filter(|n| n.addr().is_ipv6() == v6)
        .map(|n| {
            if n.prefix_len() == n.max_prefix_len() {
                n.addr()
            } else {
                // A network: its tenth address.
                match n.network() {
                    IpAddr::V4(a) => IpAddr::V4((u32::from(a) + 10).into()),
                    IpAddr::V6(a) => IpAddr::V6((u128::from(a) + 0x10).into()),
                }
            }
        })
        .next()
}

#[derive(Clone, Debug, PartialEq)]
struct Probe {
    proto: Protocol,
    src: IpAddr,
    dst: IpAddr,
    port: u16,
}

/// What the plan allows: the oracle the probes are judged by.
fn allowed(rules: &[plan::Rule], p: &Probe) -> bool {
    rules.iter().any(|r| {
        r.protocol == p.proto
            && r.ports.contains(p.port)
            && r.src.nets.iter().any(|n| n.contains(&p.src))
            && r.dst.nets.iter().any(|n| n.contains(&p.dst))
    })
}

/// `kind`: `nftables`, `iptables-nft` or `iptables-legacy`.
fn run_packet_test(kind: &str) {
    let fl = kind.strip_prefix("iptables-").unwrap_or("nft");
    let path = common::root().join("tests/fixtures/netfilter-lab.toml");
    let loaded = ctxfw::load(&path, None).unwrap();
    let r = Renderer::new(None).unwrap();
    let rules = plan::plan(&loaded.topology, &loaded.resolution, &Perspective::Zone);
    let targets: Vec<_> = TARGETS
        .iter()
        .filter(|t| {
            t.name
                == if kind.starts_with("nftables") {
                    "nftables"
                } else {
                    "iptables"
                }
        })
        .collect();
    let opts = Options {
        nft_layout: if kind == "nftables-concat" {
            Layout::Concat
        } else {
            Layout::Sets
        },
        ..Options::default()
    };
    let files = generate::generate(&loaded, &r, &opts, &targets).unwrap();
    if kind == "nftables-concat" {
        assert!(files[0]
            .content
            .contains("meta l4proto . th dport @forward.v4.ports."));
    }
    let tmp = tempfile::tempdir().unwrap();
    for f in &files {
        std::fs::write(tmp.path().join(&f.name), &f.content).unwrap();
    }
    let tag = match kind {
        "nftables" => 'n',
        "nftables-concat" => 'c',
        "iptables-nft" => 'i',
        _ => 'l',
    };
    let id = format!("{}{tag}", std::process::id());
    let (c, fw, s) = (
        format!("ctxc{id}"),
        format!("ctxf{id}"),
        format!("ctxs{id}"),
    );
    let mut lab = Lab {
        names: Vec::new(),
        children: Vec::new(),
    };
    for n in [&c, &fw, &s] {
        let (ok, out) = sh(&format!("ip netns add {n}"));
        assert!(ok, "ip netns add {n}: {out}");
        lab.names.push(n.clone());
    }
    // Addresses: every host address of every component, on the side of its zone.
    let zone_of = |z: &str| if z == "clients" { &c } else { &s };
    let mut addrs: Vec<(String, IpAddr)> = Vec::new();
    for comp in loaded.topology.components.values() {
        let nets = plan::component_addresses(&loaded.topology, &comp.name);
        for v6 in [false, true] {
            if let Some(a) = host_of(&nets, v6) {
                addrs.push((zone_of(&comp.zone).clone(), a));
            }
        }
    }
    let veth = |a: &str, b: &str| format!("ip link add {a} type veth peer name {b}");
    assert!(sh(&veth(&format!("vc{id}"), &format!("vfc{id}"))).0);
    assert!(sh(&veth(&format!("vs{id}"), &format!("vfs{id}"))).0);
    for (dev, ns) in [
        (format!("vc{id}"), &c),
        (format!("vfc{id}"), &fw),
        (format!("vs{id}"), &s),
        (format!("vfs{id}"), &fw),
    ] {
        let (ok, out) = sh(&format!("ip link set {dev} netns {ns}"));
        assert!(ok, "{out}");
    }
    lab.must(
        &fw,
        &format!(
            "ip link set lo up; ip link set vfc{id} up; ip link set vfs{id} up
             ip addr add 198.18.1.1/24 dev vfc{id}; ip addr add 198.18.2.1/24 dev vfs{id}
             ip addr add 2001:db8:1::1/64 dev vfc{id} nodad; ip addr add 2001:db8:2::1/64 dev vfs{id} nodad
             sysctl -qw net.ipv4.ip_forward=1; sysctl -qw net.ipv6.conf.all.forwarding=1"
        ),
    );
    for (ns, dev, gw4, gw6) in [
        (&c, format!("vc{id}"), "198.18.1.1", "2001:db8:1::1"),
        (&s, format!("vs{id}"), "198.18.2.1", "2001:db8:2::1"),
    ] {
        let mut script = format!("ip link set lo up; ip link set {dev} up\n");
        for (_, a) in addrs.iter().filter(|(n, _)| n == ns) {
            match a {
                IpAddr::V4(_) => script.push_str(&format!("ip addr add {a}/24 dev {dev}\n")),
                IpAddr::V6(_) => script.push_str(&format!("ip addr add {a}/64 dev {dev} nodad\n")),
            }
        }
        script.push_str(&format!(
            "ip route add default via {gw4}; ip -6 route add default via {gw6}"
        ));
        lab.must(ns, &script);
    }
    // The rule set, applied as the file headers say.
    let dir = tmp.path().display().to_string();
    let apply = match kind {
        "nftables" | "nftables-concat" => format!("nft -f {dir}/netfilter-lab.nft"),
        _ => format!(
            "iptables-{fl}-restore --noflush {dir}/netfilter-lab.rules
             iptables-{fl} -C FORWARD -j CTXFW-netfilter-lab 2>/dev/null || iptables-{fl} -I FORWARD 1 -j CTXFW-netfilter-lab
             ip6tables-{fl}-restore --noflush {dir}/netfilter-lab.rules6
             ip6tables-{fl} -C FORWARD -j CTXFW-netfilter-lab 2>/dev/null || ip6tables-{fl} -I FORWARD 1 -j CTXFW-netfilter-lab"
        ),
    };
    lab.must(&fw, &apply);

    // Probes: every port (and each range end) of every flow across the zones, both families.
    let mut positive: Vec<Probe> = Vec::new();
    for rule in &rules {
        if !matches!(rule.protocol, Protocol::Tcp | Protocol::Udp) {
            continue;
        }
        for v6 in [false, true] {
            let (Some(src), Some(dst)) = (host_of(&rule.src.nets, v6), host_of(&rule.dst.nets, v6))
            else {
                continue;
            };
            for range in rule.ports.ranges() {
                for port in [range.lo, range.hi] {
                    let p = Probe {
                        proto: rule.protocol,
                        src,
                        dst,
                        port,
                    };
                    if !positive.contains(&p) {
                        positive.push(p);
                    }
                }
            }
        }
    }
    assert!(positive.len() >= 20, "the lab has many flows: {positive:?}");
    // Negatives: other ports between the same hosts, and every flow in reverse.
    let mut negative: Vec<Probe> = Vec::new();
    for p in &positive {
        for port in [p.port.wrapping_add(1).max(1), 1, 8081, 1003, 2011] {
            let q = Probe { port, ..p.clone() };
            if !allowed(&rules, &q) && !negative.contains(&q) {
                negative.push(q);
            }
        }
        let rev = Probe {
            src: p.dst,
            dst: p.src,
            ..p.clone()
        };
        if !allowed(&rules, &rev) && !negative.contains(&rev) {
            negative.push(rev);
        }
    }
    negative.truncate(60);
    let script = common::root().join("tests/fixtures/netprobe.py");
    // Listeners on both sides, for every port probed.
    for ns in [&c, &s] {
        let mut specs: Vec<String> = positive
            .iter()
            .chain(negative.iter())
            .map(|p| format!("{}:{}", p.proto, p.port))
            .collect();
        specs.sort();
        specs.dedup();
        let mine: Vec<String> = addrs
            .iter()
            .filter(|(n, _)| n == ns)
            .map(|(_, a)| a.to_string())
            .collect();
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns, "python3"])
            .arg(&script)
            .arg("listen")
            .arg(mine.join(","))
            .args(&specs)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        lab.children.push(child);
        assert_eq!(line.trim(), "ready", "listener in {ns} did not start");
    }
    let side = |a: &IpAddr| {
        addrs
            .iter()
            .find(|(_, x)| x == a)
            .map(|(n, _)| n.clone())
            .unwrap()
    };
    let run = |probes: &[Probe], timeout: &str| -> Vec<(Probe, bool)> {
        let mut out = Vec::new();
        for ns in [&c, &s] {
            let mine: Vec<&Probe> = probes.iter().filter(|p| &side(&p.src) == ns).collect();
            if mine.is_empty() {
                continue;
            }
            let args: Vec<String> = mine
                .iter()
                .map(|p| format!("{},{},{},{}", p.proto, p.src, p.dst, p.port))
                .collect();
            let o = Command::new("ip")
                .args(["netns", "exec", ns, "timeout", "60", "python3"])
                .arg(&script)
                .args(["probe", timeout])
                .args(&args)
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&o.stdout);
            for (p, l) in mine.iter().zip(text.lines()) {
                out.push(((*p).clone(), l.ends_with(" open")));
            }
            assert_eq!(text.lines().count(), mine.len(), "prober output: {text}");
        }
        out
    };
    let mut failures = Vec::new();
    for (p, open) in run(&positive, "3") {
        if !open {
            failures.push(format!("allowed but blocked: {p:?}"));
        }
    }
    let neg = run(&negative, "1");
    assert!(!neg.is_empty());
    for (p, open) in neg {
        if open {
            failures.push(format!("not allowed but connected: {p:?}"));
        }
    }
    // Without the rule set the same negatives connect: the probes can see an open port.
    let flush = match kind {
        "nftables" | "nftables-concat" => "nft flush ruleset".to_string(),
        _ => format!("iptables-{fl} -F FORWARD; ip6tables-{fl} -F FORWARD"),
    };
    lab.must(&fw, &flush);
    let sample: Vec<Probe> = negative.iter().take(5).cloned().collect();
    for (p, open) in run(&sample, "3") {
        if !open {
            failures.push(format!("control probe failed without the firewall: {p:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{kind}: {} positive, {} negative probes:\n{}",
        positive.len(),
        negative.len(),
        failures.join("\n")
    );
}

#[test]
fn packets_nftables() {
    if kernel_tools("packets_nftables") {
        run_packet_test("nftables");
    }
}

/// The concatenated-set layout (what `auto` picks for large topologies) passes and drops the
/// same packets.
#[test]
fn packets_nftables_concat() {
    if kernel_tools("packets_nftables_concat") {
        run_packet_test("nftables-concat");
    }
}

#[test]
fn packets_iptables_nft() {
    if kernel_tools("packets_iptables_nft") {
        run_packet_test("iptables-nft");
    }
}

#[test]
fn packets_iptables_legacy() {
    if kernel_tools("packets_iptables_legacy") {
        run_packet_test("iptables-legacy");
    }
}

// ---- zone labs: a router with one interface per zone -----------------------------------------

/// The link between the router and the leaf namespace of zone `k`: router and leaf addresses,
/// IPv4 and IPv6, outside every topology tested ([`ZoneLab::new`] checks).
fn link(k: usize) -> [String; 4] {
    [
        format!("100.127.{k}.1"),
        format!("100.127.{k}.2"),
        format!("fd7f:{k}::1"),
        format!("fd7f:{k}::2"),
    ]
}

/// The leaf of one zone: a namespace behind its own router interface.
struct Leaf {
    ns: String,
    lif: String,
    /// The router interface's Ethernet address (what raw probes are sent to).
    rmac: String,
}

/// A router namespace and one leaf per zone of a topology, routed by the zones' networks (a
/// default route goes to its zone's leaf). Raw probes need no addresses on the leaves.
struct ZoneLab {
    lab: Lab,
    router: String,
    leaves: Vec<Leaf>,
    topology: String,
}

fn mac_of(ns: &str, dev: &str) -> String {
    let (ok, out) = sh(&format!("ip -n {ns} -j link show {dev}"));
    assert!(ok, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v[0]["address"].as_str().unwrap().to_string()
}

impl ZoneLab {
    fn new(topo: &ctxfw::topology::Topology, tag: &str) -> ZoneLab {
        let id = format!("{}{tag}", std::process::id());
        let router = format!("ctxr{id}");
        let mut lab = Lab {
            names: Vec::new(),
            children: Vec::new(),
        };
        let mut leaves = Vec::new();
        let zones: Vec<&ctxfw::topology::Zone> = topo.zones.values().collect();
        assert!(zones.len() < 250);
        let mut names = vec![router.clone()];
        names.extend((0..zones.len()).map(|k| format!("ctxl{k}x{id}")));
        for n in &names {
            let (ok, out) = sh(&format!("ip netns add {n}"));
            assert!(ok, "ip netns add {n}: {out}");
            lab.names.push(n.clone());
        }
        let mut script = String::from(
            "ip link set lo up
             sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 \
               net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0\n",
        );
        for (k, z) in zones.iter().enumerate() {
            let ns = &names[k + 1];
            // The router's interface towards the leaf: the zone's first `interfaces` name.
            let rif = z
                .interfaces
                .first()
                .cloned()
                .unwrap_or_else(|| format!("ctxz{k}"));
            let lif = format!("l{k}");
            let [r4, l4, r6, l6] = link(k);
            for net in &z.cidrs {
                for a in [&r4, &l4, &r6, &l6] {
                    let a: IpAddr = a.parse().unwrap();
                    assert!(
                        net.prefix_len() == 0 || !net.contains(&a),
                        "lab link address {a} is inside zone {} ({net})",
                        z.name
                    );
                }
            }
            let (ok, out) = sh(&format!(
                "ip link add {rif} netns {router} type veth peer name {lif} netns {ns}"
            ));
            assert!(ok, "{out}");
            let (lmac, rmac) = (mac_of(ns, &lif), mac_of(&router, &rif));
            // Static neighbours both ways: probes must not wait for address resolution.
            lab.must_in(
                ns,
                &format!(
                    "ip link set lo up; ip link set {lif} up
                     ip addr add {l4}/24 dev {lif}; ip addr add {l6}/64 dev {lif} nodad
                     ip neigh replace {r4} lladdr {rmac} dev {lif} nud permanent
                     ip neigh replace {r6} lladdr {rmac} dev {lif} nud permanent
                     ip route add default via {r4}; ip -6 route add default via {r6}"
                ),
            );
            script.push_str(&format!(
                "ip link set {rif} up; sysctl -qw net.ipv4.conf.{rif}.rp_filter=0
                 ip addr add {r4}/24 dev {rif}; ip addr add {r6}/64 dev {rif} nodad
                 ip neigh replace {l4} lladdr {lmac} dev {rif} nud permanent
                 ip neigh replace {l6} lladdr {lmac} dev {rif} nud permanent\n"
            ));
            for net in &z.cidrs {
                let (via, v6) = match net {
                    ipnet::IpNet::V4(_) => (&l4, ""),
                    ipnet::IpNet::V6(_) => (&l6, "-6 "),
                };
                let to = if net.prefix_len() == 0 {
                    "default".to_string()
                } else {
                    net.to_string()
                };
                script.push_str(&format!("ip {v6}route add {to} via {via}\n"));
            }
            leaves.push(Leaf {
                ns: ns.clone(),
                lif,
                rmac,
            });
        }
        lab.must_in(&router, &script);
        ZoneLab {
            lab,
            router,
            leaves,
            topology: topo.name.clone(),
        }
    }

    /// Apply the rule set in `dir` on the router as its file headers say. `kind`: `nftables`,
    /// `nftables-concat`, `iptables-nft` or `iptables-legacy`.
    fn apply(&self, kind: &str, dir: &Path) {
        self.apply_in(&self.router, kind, dir);
    }

    /// [`ZoneLab::apply`] in any of the lab's namespaces (a host firewall on a leaf).
    fn apply_in(&self, ns: &str, kind: &str, dir: &Path) {
        let t = &self.topology;
        let script = match kind.strip_prefix("iptables-") {
            None => format!("nft -f {}/{t}.nft", dir.display()),
            Some(fl) => ["rules", "rules6"]
                .iter()
                .map(|ext| format!("{t}.{ext}"))
                .filter(|name| dir.join(name).exists())
                .map(|name| {
                    let path = dir.join(&name);
                    let content = std::fs::read_to_string(&path).unwrap();
                    header_apply(&content, &name, &path.display().to_string(), fl)
                })
                .collect::<Vec<_>>()
                .join("\n"),
        };
        self.lab.must_in(ns, &script);
    }

    /// Packets the router's IPv4 and IPv6 layers have received so far (`InReceives`, counted
    /// as a packet enters the stack, in the same pass that then routes, filters and forwards
    /// it).
    fn received(&self) -> u64 {
        let (ok, out) = self
            .lab
            .exec(&self.router, "cat /proc/net/snmp /proc/net/snmp6");
        assert!(ok, "{out}");
        let mut lines = out.lines();
        let mut total = 0;
        while let Some(l) = lines.next() {
            if let Some(names) = l.strip_prefix("Ip: ").filter(|n| n.contains("InReceives")) {
                let k = names.split(' ').position(|n| n == "InReceives").unwrap();
                let values = lines.next().and_then(|v| v.strip_prefix("Ip: ")).unwrap();
                total += values.split(' ').nth(k).unwrap().parse::<u64>().unwrap();
            } else if let Some(v) = l.strip_prefix("Ip6InReceives") {
                total += v.trim().parse::<u64>().unwrap();
            }
        }
        total
    }

    /// Wait until the router has received `count` packets in all (see [`ZoneLab::received`]).
    fn wait_received(&self, count: u64) {
        let start = std::time::Instant::now();
        loop {
            let got = self.received();
            if got >= count {
                return;
            }
            assert!(
                start.elapsed() < std::time::Duration::from_secs(30),
                "the router received {got} of {count} packets in 30 s"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    /// Remove every rule set `apply` loaded.
    fn flush(&self) {
        self.lab.must_in(
            &self.router,
            "nft flush ruleset
             for t in iptables-legacy ip6tables-legacy; do $t -F; $t -X; done",
        );
    }
}

impl Lab {
    fn must_in(&self, ns: &str, script: &str) {
        self.must(ns, script)
    }
}

/// The rule sets of one perspective (the zone firewall, or `host`'s) for each kind of load,
/// written to `dir/<kind>/`.
fn write_rule_sets(loaded: &ctxfw::Loaded, dir: &Path, kinds: &[&str], host: Option<&str>) {
    let r = Renderer::new(None).unwrap();
    for kind in kinds {
        let target = if kind.starts_with("nftables") {
            "nftables"
        } else {
            "iptables"
        };
        let targets: Vec<_> = TARGETS.iter().filter(|t| t.name == target).collect();
        let opts = Options {
            nft_layout: if *kind == "nftables-concat" {
                Layout::Concat
            } else {
                Layout::Sets
            },
            host: host.map(str::to_string),
            ..Options::default()
        };
        let sub = dir.join(kind);
        std::fs::create_dir_all(&sub).unwrap();
        for f in generate::generate(loaded, &r, &opts, &targets).unwrap() {
            std::fs::write(sub.join(&f.name), &f.content).unwrap();
        }
    }
}

const KINDS: [&str; 4] = [
    "nftables",
    "nftables-concat",
    "iptables-nft",
    "iptables-legacy",
];

/// An address inside a network: a host is itself, a network its tenth address (or its first
/// for a tiny one).
fn inside(n: &ipnet::IpNet) -> IpAddr {
    if n.prefix_len() == n.max_prefix_len() {
        return n.addr();
    }
    let room = n.max_prefix_len() - n.prefix_len();
    let step: u128 = if room >= 4 { 10 } else { 0 };
    match n.network() {
        IpAddr::V4(a) => IpAddr::V4((u32::from(a) + step as u32).into()),
        IpAddr::V6(a) => IpAddr::V6((u128::from(a) + step).into()),
    }
}

/// What the probes of one topology need to know about its zones.
struct Places<'t> {
    topo: &'t ctxfw::topology::Topology,
    /// An address of the internet (outside every other zone) per family, when a zone holds
    /// that family's default route.
    internet: [Option<IpAddr>; 2],
}

impl<'t> Places<'t> {
    fn new(topo: &'t ctxfw::topology::Topology) -> Places<'t> {
        let internal: Vec<ipnet::IpNet> = topo
            .zones
            .values()
            .filter(|z| !z.default_route)
            .flat_map(|z| z.cidrs.iter().copied())
            .collect();
        let pick = |v6: bool, candidates: &[&str]| -> Option<IpAddr> {
            let wide = topo.zones.values().any(|z| {
                z.cidrs
                    .iter()
                    .any(|c| c.prefix_len() == 0 && c.addr().is_ipv6() == v6)
            });
            wide.then(|| {
                candidates
                    .iter()
                    .map(|c| c.parse::<IpAddr>().unwrap())
                    .find(|a| !internal.iter().any(|n| n.contains(a)))
                    .expect("an internet address outside every zone")
            })
        };
        Places {
            topo,
            internet: [
                pick(false, &["192.0.2.80", "203.0.113.200"]),
                pick(true, &["2001:db8:ff::80", "2001:db8:fff::80"]),
            ],
        }
    }

    /// The zone (by index) an address sits in: the one whose networks hold it, else the one
    /// holding its family's default route.
    fn zone(&self, a: IpAddr) -> Option<usize> {
        let zones: Vec<&ctxfw::topology::Zone> = self.topo.zones.values().collect();
        zones
            .iter()
            .position(|z| z.cidrs.iter().any(|c| c.prefix_len() > 0 && c.contains(&a)))
            .or_else(|| {
                zones.iter().position(|z| {
                    z.cidrs
                        .iter()
                        .any(|c| c.prefix_len() == 0 && c.addr().is_ipv6() == a.is_ipv6())
                })
            })
    }

    /// The address standing for a flow end in one family: its first host, or for a default
    /// route an internet address.
    fn end(&self, nets: &[ipnet::IpNet], v6: bool) -> Option<IpAddr> {
        let fam: Vec<&ipnet::IpNet> = nets.iter().filter(|n| n.addr().is_ipv6() == v6).collect();
        if fam.iter().any(|n| n.prefix_len() == 0) {
            return self.internet[usize::from(v6)];
        }
        fam.first().map(|n| inside(n))
    }

    /// One address of every component and interface outside a default route, per family.
    fn hosts(&self, v6: bool) -> Vec<IpAddr> {
        let mut out = Vec::new();
        for c in self.topo.components.values() {
            let mut lists = vec![self.topo.addresses(c, None).1];
            for role in c.interfaces.keys() {
                lists.push(self.topo.addresses(c, Some(role)).1);
            }
            for nets in lists {
                if let Some(a) = self.end(&nets, v6) {
                    if Some(a) != self.internet[usize::from(v6)] && !out.contains(&a) {
                        out.push(a);
                    }
                }
            }
        }
        out
    }
}

/// A raw probe: a TCP SYN or UDP datagram sent into the router from the leaf of zone `from`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Raw {
    proto: Protocol,
    src: IpAddr,
    dst: IpAddr,
    port: u16,
    /// Leaf it is sent from (the source's zone, or another one for a spoofed source).
    from: usize,
    /// Leaf it arrives at when the firewall lets it through.
    to: usize,
}

/// Every flow through the zone firewall (TCP and UDP) with its near misses: the same pair of
/// addresses on another port and in reverse, every other component's address towards the
/// flow's destination on its port, and, for a flow to the internet, the source towards every
/// component's address on that port. With the verdict `explain` gives each.
fn agreement_probes(loaded: &ctxfw::Loaded) -> Vec<(Raw, bool)> {
    let places = Places::new(&loaded.topology);
    let mut seen: std::collections::HashSet<(Protocol, IpAddr, IpAddr, u16)> =
        std::collections::HashSet::new();
    let mut out = Vec::new();
    let mut add = |proto: Protocol, src: IpAddr, dst: IpAddr, port: u16| {
        let (Some(from), Some(to)) = (places.zone(src), places.zone(dst)) else {
            return;
        };
        // Traffic inside a zone does not cross the zone firewall.
        if from == to || !seen.insert((proto, src, dst, port)) {
            return;
        }
        let allowed = common::explain_allows(loaded, proto, src, dst, port);
        out.push((
            Raw {
                proto,
                src,
                dst,
                port,
                from,
                to,
            },
            allowed,
        ));
    };
    for f in loaded.resolution.flows.iter() {
        if f.intra_zone || !matches!(f.protocol, Protocol::Tcp | Protocol::Udp) {
            continue;
        }
        let ranges = f.ports.ranges();
        let mut ports: Vec<u16> = ranges.iter().take(4).map(|r| r.lo).collect();
        ports.push(ranges.last().unwrap().hi);
        let other = (u32::from(ranges.last().unwrap().hi) + 1..=65535)
            .chain(1..u32::from(ranges[0].lo))
            .map(|p| p as u16)
            .find(|p| !f.ports.contains(*p));
        for v6 in [false, true] {
            let (Some(s), Some(d)) = (
                places.end(&f.from_end.addresses, v6),
                places.end(&f.to_end.addresses, v6),
            ) else {
                continue;
            };
            for &p in &ports {
                add(f.protocol, s, d, p);
            }
            if let Some(o) = other {
                add(f.protocol, s, d, o);
            }
            add(f.protocol, d, s, ports[0]);
            let hosts = places.hosts(v6);
            for &x in &hosts {
                add(f.protocol, x, d, ports[0]);
            }
            if f.to_end.addresses.iter().any(|n| n.prefix_len() == 0) {
                for &y in &hosts {
                    add(f.protocol, s, y, ports[0]);
                }
            }
        }
    }
    out
}

/// Send probes into a zone lab once per rule set (and once with none), and collect which
/// arrived: `(kind, probe index, arrived)` for every kind, then `("none", ...)`.
fn run_raw(
    zl: &mut ZoneLab,
    probes: &[Raw],
    dir: &Path,
    kinds: &[&str],
) -> Vec<(String, usize, bool)> {
    let script = common::root().join("tests/fixtures/rawprobe.py");
    let rounds: Vec<&str> = kinds.iter().copied().chain(["none"]).collect();
    let per_round = 60000 / rounds.len();
    assert!(probes.len() < per_round, "{} probes", probes.len());
    // A sniffer and a sender on every leaf, all started before any is waited for.
    let py = |ns: &str| {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns, "python3"]).arg(&script);
        c
    };
    let mut started = Vec::new();
    for (k, l) in zl.leaves.iter().enumerate() {
        let sniffer = py(&l.ns)
            .args(["sniff", &l.lif])
            .arg(dir.join(format!("seen{k}")))
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let sender = py(&l.ns)
            .args(["serve", &l.lif, &l.rmac])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        started.push((sniffer, sender));
    }
    let mut senders = Vec::new();
    for (mut sniffer, mut tx) in started {
        let mut line = String::new();
        BufReader::new(sniffer.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "a sniffer did not start");
        zl.lab.children.push(sniffer);
        let mut rx = BufReader::new(tx.stdout.take().unwrap());
        let mut line = String::new();
        rx.read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "ready", "a sender did not start");
        senders.push((tx, rx));
    }
    let sport = |round: usize, i: usize| (1024 + round * per_round + i) as u16;
    for (round, kind) in rounds.iter().enumerate() {
        if *kind != "none" {
            zl.apply(kind, &dir.join(kind));
        }
        let before = zl.received();
        for (k, (tx, rx)) in senders.iter_mut().enumerate() {
            let file = dir.join(format!("probes-{round}-{k}"));
            let lines: String = probes
                .iter()
                .enumerate()
                .filter(|(_, p)| p.from == k)
                .map(|(i, p)| {
                    format!(
                        "{} {} {} {} {}\n",
                        p.proto,
                        p.src,
                        p.dst,
                        sport(round, i),
                        p.port
                    )
                })
                .collect();
            std::fs::write(&file, lines).unwrap();
            use std::io::Write as _;
            writeln!(tx.stdin.as_mut().unwrap(), "{}", file.display()).unwrap();
            let mut line = String::new();
            rx.read_line(&mut line).unwrap();
            assert_eq!(line.trim(), "sent");
        }
        // Every probe of the round judged before the rules change: a packet waits in a queue
        // for as long as the machine is busy, and one judged under the next rule set (or none)
        // would be counted against this one. The pause after it is for a packet counted but
        // still on its way through the filter on the other core.
        zl.wait_received(before + probes.len() as u64);
        std::thread::sleep(std::time::Duration::from_millis(50));
        zl.flush();
    }
    for (mut tx, _) in senders {
        drop(tx.stdin.take());
        let _ = tx.wait();
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    for c in &mut zl.lab.children {
        let _ = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status();
        let _ = c.wait();
    }
    zl.lab.children.clear();
    let mut arrived: std::collections::HashSet<String> = std::collections::HashSet::new();
    for k in 0..zl.leaves.len() {
        let drops = std::fs::read_to_string(dir.join(format!("seen{k}.drops"))).unwrap();
        assert_eq!(drops.trim(), "0", "the sniffer of leaf {k} lost packets");
        let text = std::fs::read_to_string(dir.join(format!("seen{k}"))).unwrap_or_default();
        arrived.extend(text.lines().map(|l| format!("{k} {l}")));
    }
    let mut out = Vec::new();
    for (round, kind) in rounds.iter().enumerate() {
        for (i, p) in probes.iter().enumerate() {
            let key = format!(
                "{} {} {} {} {} {}",
                p.to,
                p.proto,
                p.src,
                p.dst,
                sport(round, i),
                p.port
            );
            out.push((kind.to_string(), i, arrived.contains(&key)));
        }
    }
    out
}

/// For every topology: each probe reaches its destination through each loaded rule set exactly
/// when `explain` allows it, and every probe arrives with no rule set loaded (the probes can
/// see a pass). Where zones name the router's interfaces, a probe whose source address belongs
/// to a bound zone but arrives on another zone's interface is dropped.
fn explain_agrees(paths: &[PathBuf], tag: char) {
    let mut failures = Vec::new();
    let mut total = 0;
    for (n, path) in paths.iter().enumerate() {
        let stem = path.file_stem().unwrap().to_string_lossy().to_string();
        let ext = stem
            .split_once('-')
            .map(|(p, _)| path.with_file_name(format!("{p}-catalogue")))
            .filter(|d| d.is_dir());
        let loaded = ctxfw::load(path, ext.as_deref()).unwrap();
        let mut probes: Vec<(Raw, bool)> = agreement_probes(&loaded);
        let zones: Vec<&ctxfw::topology::Zone> = loaded.topology.zones.values().collect();
        // Spoofed sources: every allowed probe again from another zone's leaf.
        if zones.iter().any(|z| !z.interfaces.is_empty()) {
            let spoofed: Vec<(Raw, bool)> = probes
                .iter()
                .filter(|(_, ok)| *ok)
                .filter_map(|(p, ok)| {
                    let other = (0..zones.len()).find(|&k| k != p.from && k != p.to)?;
                    let bound = !zones[p.from].interfaces.is_empty();
                    Some((
                        Raw {
                            from: other,
                            ..p.clone()
                        },
                        *ok && !bound,
                    ))
                })
                .collect();
            assert!(spoofed.iter().any(|(_, ok)| !ok), "{stem}: a bound zone");
            probes.extend(spoofed);
        }
        assert!(
            probes.iter().any(|(_, ok)| *ok) && probes.iter().any(|(_, ok)| !ok),
            "{stem}: allowed and refused probes"
        );
        total += probes.len();
        let tmp = tempfile::tempdir().unwrap();
        write_rule_sets(&loaded, tmp.path(), &KINDS, None);
        let mut zl = ZoneLab::new(&loaded.topology, &format!("{tag}{n}"));
        let only: Vec<Raw> = probes.iter().map(|(p, _)| p.clone()).collect();
        for (kind, i, arrived) in run_raw(&mut zl, &only, tmp.path(), &KINDS) {
            let (p, ok) = &probes[i];
            let expected = kind == "none" || *ok;
            if arrived != expected {
                failures.push(format!(
                    "{stem} {kind}: {} {} -> {} port {} (from zone {}): explain {}, the kernel {}",
                    p.proto,
                    p.src,
                    p.dst,
                    p.port,
                    zones[p.from].name,
                    if expected { "allows" } else { "refuses" },
                    if arrived {
                        "let it through"
                    } else {
                        "dropped it"
                    }
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {total} probes x {} disagree:\n{}",
        failures.len(),
        KINDS.len() + 1,
        failures.join("\n")
    );
}

#[test]
fn explain_agrees_with_the_loaded_rule_sets_of_the_examples() {
    if kernel_tools("explain_agrees_with_the_loaded_rule_sets_of_the_examples") {
        explain_agrees(&common::example_topologies(), 'e');
    }
}

#[test]
fn explain_agrees_with_the_loaded_rule_sets_of_the_fixtures() {
    if kernel_tools("explain_agrees_with_the_loaded_rule_sets_of_the_fixtures") {
        explain_agrees(&fixtures(), 'f');
    }
}

/// The internet lab with real connections through the zone firewall: the pool reaches the
/// internet on 443 but not the database listening on 443 in another zone; the internet reaches
/// the Gateway VIP on 443, the database and the pool do not; a flow between two zones still
/// connects. With the rule set flushed every one of them connects.
fn run_internet_lab(kind: &str, tag: char) {
    let path = common::root().join("tests/fixtures/internet-lab.toml");
    let loaded = ctxfw::load(&path, None).unwrap();
    let topo = &loaded.topology;
    let tmp = tempfile::tempdir().unwrap();
    write_rule_sets(&loaded, tmp.path(), &[kind], None);
    let host_dir = tmp.path().join("host");
    write_rule_sets(&loaded, &host_dir, &[kind], Some("pool"));
    let mut zl = ZoneLab::new(topo, &format!("i{tag}"));
    let places = Places::new(topo);
    // Every host address on the leaf of its zone, and an internet address on the internet's.
    let mut addrs: Vec<(usize, IpAddr)> = Vec::new();
    for c in topo.components.values() {
        let mut lists = vec![topo.addresses(c, None).1];
        lists.extend(c.interfaces.keys().map(|r| topo.addresses(c, Some(r)).1));
        for n in lists.iter().flatten() {
            if n.prefix_len() == n.max_prefix_len() {
                addrs.push((places.zone(n.addr()).unwrap(), n.addr()));
            }
        }
    }
    for a in places.internet.iter().flatten() {
        addrs.push((places.zone(*a).unwrap(), *a));
    }
    let script = common::root().join("tests/fixtures/netprobe.py");
    for (k, l) in zl.leaves.iter().enumerate() {
        let mine: Vec<String> = addrs
            .iter()
            .filter(|(z, _)| *z == k)
            .map(|(_, a)| a.to_string())
            .collect();
        if mine.is_empty() {
            continue;
        }
        let add: String = mine
            .iter()
            .map(|a| {
                if a.contains(':') {
                    format!("ip addr add {a}/128 dev {} nodad\n", l.lif)
                } else {
                    format!("ip addr add {a}/32 dev {}\n", l.lif)
                }
            })
            .collect();
        zl.lab.must_in(&l.ns, &add);
        let mut child = Command::new("ip")
            .args(["netns", "exec", &l.ns, "python3"])
            .arg(&script)
            .arg("listen")
            .arg(mine.join(","))
            .args(["tcp:443", "udp:443", "tcp:1433"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "listener in {}", l.ns);
        zl.lab.children.push(child);
    }
    let host = |c: &str, role: Option<&str>, v6: bool| -> IpAddr {
        let nets = topo.addresses(&topo.components[c], role).1;
        places.end(&nets, v6).unwrap()
    };
    let mut probes: Vec<(Probe, bool)> = Vec::new();
    for v6 in [false, true] {
        let net = places.internet[usize::from(v6)].unwrap();
        let (pool, db, vip) = (
            host("pool", None, v6),
            host("db", None, v6),
            host("gateway", Some("vip"), v6),
        );
        let p = |proto, src, dst, port| Probe {
            proto,
            src,
            dst,
            port,
        };
        use Protocol::{Tcp, Udp};
        probes.extend([
            // The flows themselves.
            (p(Tcp, pool, net, 443), true),
            (p(Tcp, net, vip, 443), true),
            (p(Udp, net, vip, 443), true),
            (p(Tcp, pool, db, 1433), true),
            // What only an internet flow opens: towards and from every other zone.
            (p(Tcp, pool, db, 443), false),
            (p(Tcp, pool, vip, 443), false),
            (p(Tcp, db, vip, 443), false),
            (p(Udp, db, vip, 443), false),
            (p(Tcp, net, db, 443), false),
            (p(Tcp, net, pool, 443), false),
            (p(Tcp, db, net, 443), false),
        ]);
    }
    for (pr, want) in &probes {
        assert_eq!(
            common::explain_allows(&loaded, pr.proto, pr.src, pr.dst, pr.port),
            *want,
            "explain on {pr:?}"
        );
    }
    // Every leaf's probes at once.
    let run_some = |zl: &ZoneLab, timeout: &str, which: &dyn Fn(&Probe) -> bool| -> Vec<bool> {
        let mut out = vec![false; probes.len()];
        let mut running = Vec::new();
        for (k, l) in zl.leaves.iter().enumerate() {
            let mine: Vec<usize> = (0..probes.len())
                .filter(|&i| places.zone(probes[i].0.src) == Some(k) && which(&probes[i].0))
                .collect();
            if mine.is_empty() {
                continue;
            }
            let args: Vec<String> = mine
                .iter()
                .map(|&i| {
                    let p = &probes[i].0;
                    format!("{},{},{},{}", p.proto, p.src, p.dst, p.port)
                })
                .collect();
            let child = Command::new("ip")
                .args(["netns", "exec", &l.ns, "timeout", "60", "python3"])
                .arg(&script)
                .args(["probe", timeout])
                .args(&args)
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            running.push((mine, child));
        }
        for (mine, child) in running {
            let o = child.wait_with_output().unwrap();
            let text = String::from_utf8_lossy(&o.stdout);
            assert_eq!(text.lines().count(), mine.len(), "prober output: {text}");
            for (&i, line) in mine.iter().zip(text.lines()) {
                out[i] = line.ends_with(" open");
            }
        }
        out
    };
    let run = |zl: &ZoneLab, timeout: &str| run_some(zl, timeout, &|_| true);
    zl.apply(kind, &tmp.path().join(kind));
    let mut failures = Vec::new();
    for ((p, want), open) in probes.iter().zip(run(&zl, "1.5")) {
        if open != *want {
            failures.push(format!(
                "{p:?}: expected {}, got {}",
                if *want { "open" } else { "blocked" },
                if open { "open" } else { "blocked" }
            ));
        }
    }
    zl.flush();
    for ((p, _), open) in probes.iter().zip(run(&zl, "3")) {
        if !open {
            failures.push(format!(
                "control: {p:?} does not connect without the firewall"
            ));
        }
    }
    // The pool's host firewall alone (the router flushed): the same for what goes to or comes
    // from the pool.
    let pool_leaf = places.zone(host("pool", None, false)).unwrap();
    zl.apply_in(&zl.leaves[pool_leaf].ns, kind, &host_dir.join(kind));
    let pool = [host("pool", None, false), host("pool", None, true)];
    let at_pool = |p: &Probe| pool.contains(&p.src) || pool.contains(&p.dst);
    for ((p, want), open) in probes.iter().zip(run_some(&zl, "1.5", &at_pool)) {
        if at_pool(p) && open != *want {
            failures.push(format!(
                "host firewall of pool: {p:?}: expected {}, got {}",
                if *want { "open" } else { "blocked" },
                if open { "open" } else { "blocked" }
            ));
        }
    }
    assert!(failures.is_empty(), "{kind}:\n{}", failures.join("\n"));
}

#[test]
fn packets_internet_nftables() {
    if kernel_tools("packets_internet_nftables") {
        run_internet_lab("nftables", 'n');
    }
}

#[test]
fn packets_internet_nftables_concat() {
    if kernel_tools("packets_internet_nftables_concat") {
        run_internet_lab("nftables-concat", 'c');
    }
}

#[test]
fn packets_internet_iptables_nft() {
    if kernel_tools("packets_internet_iptables_nft") {
        run_internet_lab("iptables-nft", 'i');
    }
}

#[test]
fn packets_internet_iptables_legacy() {
    if kernel_tools("packets_internet_iptables_legacy") {
        run_internet_lab("iptables-legacy", 'l');
    }
}

// ---- iptables-restore's limits -----------------------------------------------------------------

/// Generate the zone rule sets of a topology given as text, into `dir`.
fn rule_sets_of(text: &str, dir: &Path) -> Vec<OutFile> {
    let path = dir.join("t.toml");
    std::fs::write(&path, text).unwrap();
    let loaded = ctxfw::load(&path, None).unwrap_or_else(|e| panic!("{e}"));
    let r = Renderer::new(None).unwrap();
    let targets: Vec<_> = TARGETS.iter().filter(|t| t.name == "iptables").collect();
    let files = generate::generate(&loaded, &r, &Options::default(), &targets).unwrap();
    for f in &files {
        std::fs::write(dir.join(&f.name), &f.content).unwrap();
    }
    files
}

/// iptables-restore reads a line in pieces of 10,240 bytes and parses the rest of a longer line
/// as a line of its own: a `#` note holding a long port list and a purpose padded to end the
/// first piece exactly before ` -I FORWARD -j ACCEPT` inserted that rule ahead of everything,
/// on both backends (and `--test` passed). The file's lines are now short, and the load adds
/// nothing to FORWARD.
#[test]
fn a_long_comment_line_cannot_become_a_rule() {
    if !kernel_tools("a_long_comment_line_cannot_become_a_rule") {
        return;
    }
    // 1,000 ports that do not merge into ranges: "20000,20002,...", 5,999 bytes.
    let ports: Vec<String> = (0..1000).map(|i| (20000 + 2 * i).to_string()).collect();
    let list = ports.join(",");
    // The note line was "#   <ports>: <purpose> [site:a1]": pad it with 4-byte characters
    // (two ASCII ones to fit) so its first 10,239 bytes end where the payload starts.
    let before = "#   ".len() + list.len() + ": ".len();
    let pad = 10239 - before;
    let purpose = format!(
        "{}{} -I FORWARD -j ACCEPT -m comment --comment",
        "\u{1F600}".repeat(pad / 4),
        "x".repeat(pad % 4)
    );
    assert_eq!(before + purpose.len() - 42, 10239);
    let text = format!(
        "name = \"inject\"\ndescription = \"\"\n\
         [zones.a]\ncidrs = [\"10.20.0.0/24\"]\n[zones.b]\ncidrs = [\"10.30.0.0/24\"]\n\
         [components.x]\nkind = \"admin-workstation\"\nzone = \"a\"\nhosts = [\"10.20.0.5\"]\n\
         [components.y]\nkind = \"sql-server\"\nzone = \"b\"\nhosts = [\"10.30.0.5\"]\n\
         [[additions]]\nid = \"a1\"\nfrom = \"x\"\nto = \"y\"\nprotocol = \"tcp\"\n\
         ports = [{list}]\npurpose = \"{purpose}\"\nreason = \"test\"\n"
    );
    let tmp = tempfile::tempdir().unwrap();
    let files = rule_sets_of(&text, tmp.path());
    let rules = &files
        .iter()
        .find(|f| f.name == "inject.rules")
        .unwrap()
        .content;
    let longest = rules.lines().map(str::len).max().unwrap();
    assert!(
        longest <= ctxfw::render::iptables::LINE_MAX,
        "a line of {longest} bytes"
    );
    let p = tmp.path().join("inject.rules");
    for fl in ["nft", "legacy"] {
        let (ok, out) = in_netns(&format!(
            "iptables-{fl} -P FORWARD DROP
             iptables-{fl}-restore --test --noflush {p}
             iptables-{fl}-restore --noflush {p}
             iptables-{fl}-save",
            p = p.display()
        ));
        assert!(ok, "{fl}: {out}");
        let forward: Vec<&str> = out
            .lines()
            .filter(|l| l.starts_with("-A FORWARD") || l.starts_with("-I FORWARD"))
            .collect();
        assert!(forward.is_empty(), "{fl}: the load added {forward:?}");
        assert!(out.contains("-A CTXFW-inject "), "{fl}: the rules loaded");
    }
}

/// iptables-restore refuses a word over 1,023 bytes ("Parameter too long!"): a component of
/// 1,000 hosts that do not merge into networks was one `-s` list of 13 KB. The lists are now
/// split and every host gets its rule, on both backends.
#[test]
fn a_thousand_hosts_load_into_iptables() {
    if !kernel_tools("a_thousand_hosts_load_into_iptables") {
        return;
    }
    let hosts: Vec<String> = (0..1000)
        .map(|i| format!("\"10.20.{}.{}\"", i / 100, 2 * (i % 100) + 1))
        .collect();
    let text = format!(
        "name = \"many\"\ndescription = \"\"\n\
         [zones.a]\ncidrs = [\"10.20.0.0/16\"]\n[zones.b]\ncidrs = [\"10.30.0.0/24\"]\n\
         [components.x]\nkind = \"admin-workstation\"\nzone = \"a\"\nhosts = [{}]\n\
         [components.y]\nkind = \"sql-server\"\nzone = \"b\"\nhosts = [\"10.30.0.5\"]\n\
         [[additions]]\nid = \"a1\"\nfrom = \"x\"\nto = \"y\"\nprotocol = \"tcp\"\n\
         ports = [1433]\npurpose = \"test\"\nreason = \"test\"\n",
        hosts.join(", ")
    );
    let tmp = tempfile::tempdir().unwrap();
    rule_sets_of(&text, tmp.path());
    let p = tmp.path().join("many.rules");
    for fl in ["nft", "legacy"] {
        let (ok, out) = in_netns(&format!(
            "iptables-{fl}-restore --noflush {p}
             iptables-{fl}-save | grep -c -- '-A CTXFW-many -s 10.20.[0-9.]*/32 -d 10.30.0.5/32 -p tcp'",
            p = p.display()
        ));
        assert!(ok, "{fl}: {out}");
        assert_eq!(out.trim(), "1000", "{fl}: one rule per host");
    }
}

//! nftables and iptables outputs, proven on a real kernel: every generated file is loaded into
//! a throwaway network namespace (nft, iptables-nft, iptables-legacy, and ip6tables for IPv6),
//! re-loaded to show idempotence, checked by nft's optimiser for rules left to merge, and the
//! zone rule set is put on a router between two namespaces where probes show that every flow
//! connects and other traffic does not.
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

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false)
        || ["/usr/sbin", "/sbin"]
            .iter()
            .any(|d| Path::new(d).join(tool).is_file())
}

/// Whether the kernel tests can run; fails under CI when they cannot.
fn kernel_tools(test: &str) -> bool {
    let missing: Vec<String> = TOOLS
        .iter()
        .filter(|(t, _)| !on_path(t))
        .map(|(t, p)| format!("{t} (apt-get install {p})"))
        .collect();
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    let mut why = missing;
    if !root {
        why.push("root (network namespaces)".into());
    }
    if why.is_empty() {
        return true;
    }
    let msg = format!(
        "{test}: skipped: not installed or not available: {}",
        why.join(", ")
    );
    if std::env::var_os("CI").is_some() {
        panic!("{msg}; CI must run it (.ci/run installs these)");
    }
    eprintln!("{msg}");
    false
}

fn sh(script: &str) -> (bool, String) {
    let out = Command::new("sh")
        .arg("-c")
        .arg(script)
        .output()
        .expect("sh runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

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
            // The apply commands, exactly as the file header gives them.
            let apply: Vec<String> = f
                .content
                .lines()
                .filter_map(|l| l.strip_prefix("#   apply:"))
                .chain(
                    f.content
                        .lines()
                        .filter(|l| l.starts_with("#              "))
                        .map(|l| l.trim_start_matches('#')),
                )
                .map(|l| l.trim().replace(&f.name, &p))
                .collect();
            assert!(apply.len() >= 2, "{}: apply commands in the header", f.name);
            for flavour in ["nft", "legacy"] {
                let apply: Vec<String> = apply
                    .iter()
                    .map(|c| {
                        c.replace(
                            &format!("{base}-restore"),
                            &format!("{base}-{flavour}-restore"),
                        )
                        .replace(&format!("{base} -"), &format!("{base}-{flavour} -"))
                    })
                    .collect();
                let apply = apply.join("\n");
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

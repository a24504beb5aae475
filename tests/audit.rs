//! `ctxfw audit`: hand-written rule sets in every platform's format give the expected report
//! (`tests/fixtures/audit/`); ctxfw's own rule sets, loaded into a real kernel in a network
//! namespace and listed back, audit as expected; a change made to the loaded rule set (a rule
//! deleted, a port narrowed, an accept-all added) is named exactly; bad input is refused with
//! its position.

mod common;

use common::sh;

use std::path::{Path, PathBuf};
use std::process::Command;

use ctxfw::audit::{self, Report};
use ctxfw::generate::{self, Options, TARGETS};
use ctxfw::render::nftables::Layout;
use ctxfw::render::Renderer;

fn fixture(name: &str) -> PathBuf {
    common::root().join("tests/fixtures/audit").join(name)
}

fn lab() -> ctxfw::Loaded {
    ctxfw::load(&fixture("lab.toml"), Some(&fixture("catalogue"))).expect("lab loads")
}

fn run(loaded: &ctxfw::Loaded, files: &[PathBuf], host: Option<&str>, binds: &[&str]) -> Report {
    let binds: Vec<String> = binds.iter().map(|s| s.to_string()).collect();
    audit::run(loaded, files, None, host.map(str::to_string), &[], &binds)
        .unwrap_or_else(|e| panic!("{files:?}: {e:#}"))
}

fn flows(r: &Report) -> Vec<(&str, &str)> {
    r.blocked
        .iter()
        .map(|b| (b.flow.as_str(), b.blocked_ports.as_str()))
        .collect()
}

fn rules<T>(v: &[T], f: impl Fn(&T) -> &audit::RuleInfo) -> Vec<String> {
    v.iter().map(|x| f(x).rule.clone()).collect()
}

#[test]
fn nft_json_fixture_gives_the_expected_report() {
    let r = run(&lab(), &[fixture("nft.json")], None, &[]);
    assert_eq!(r.format, "nftables JSON (nft -j)");
    assert_eq!(r.flows_checked, 4);
    // web -> app 8443 is missing for 10.0.10.21 in the user chain, which returns to the
    // policy.
    assert_eq!(flows(&r), [("web-to-app-tcp", "8443")]);
    assert_eq!(r.blocked[0].to_addresses, ["10.0.10.21/32"]);
    assert_eq!(r.blocked[0].by.rule, "policy drop of inet filter forward");
    // Largest first: every TCP port core -> db, then the old RDP rule.
    let open = rules(&r.too_open, |t| &t.rule);
    assert_eq!(open.len(), 2, "{open:?}");
    assert!(open[0].starts_with("forward #5"), "{open:?}");
    assert!(open[1].starts_with("forward #9"), "{open:?}");
    assert_eq!(r.too_open[0].openings[0].from_zone, "core");
    assert_eq!(r.too_open[0].openings[0].to_zone, "data");
    assert_eq!(r.too_open[1].openings[0].ports, "3389");
    let shadowed = rules(&r.shadowed, |n| &n.rule);
    assert_eq!(shadowed.len(), 1);
    assert!(shadowed[0].starts_with("forward #6"));
    assert!(r.shadowed[0].by[0].rule.starts_with("forward #5"));
    let unused = rules(&r.unused, |n| &n.rule);
    assert_eq!(unused.len(), 1);
    assert!(unused[0].starts_with("forward #9"));
    let unknown: Vec<String> = r.unknown.iter().map(|u| u.why.join(";")).collect();
    assert_eq!(unknown.len(), 2, "{unknown:?}");
    assert!(unknown[0].contains("iifname eth9"), "{unknown:?}");
    assert!(unknown[1].contains("meta mark"), "{unknown:?}");
    assert!(r.has_findings());
}

#[test]
fn an_interface_binding_makes_an_interface_rule_known() {
    let loaded = lab();
    let r = audit::run(
        &loaded,
        &[fixture("nft.json")],
        None,
        None,
        &["eth9=users".to_string()],
        &[],
    )
    .unwrap();
    // Now a rule that opens users -> db: too open, no longer unknown.
    assert!(r.unknown.iter().all(|u| !u.why.join("").contains("eth9")));
    assert!(r
        .too_open
        .iter()
        .any(|t| t.rule.text.starts_with("iifname eth9")));
}

#[test]
fn iptables_fixture_gives_the_expected_report() {
    let r = run(&lab(), &[fixture("iptables.rules")], None, &[]);
    assert_eq!(r.format, "iptables-save");
    assert!(r.blocked.is_empty(), "{:?}", flows(&r));
    let open = rules(&r.too_open, |t| &t.rule);
    assert_eq!(open, ["USERS rule 2"]);
    assert_eq!(r.too_open[0].rule.line, Some(19));
    assert_eq!(r.too_open[0].openings[0].ports, "80,443,8000-9000");
    assert_eq!(rules(&r.shadowed, |n| &n.rule), ["FORWARD rule 8"]);
    assert_eq!(rules(&r.unused, |n| &n.rule), ["USERS rule 2"]);
    // `! -s 10.0.0.0/8` leaves visitors from 10.x to the ipset rule: unknown, and said so.
    let set = r
        .unknown
        .iter()
        .find(|u| u.why.join("").contains("-m set"))
        .expect("the ipset rule is unknown");
    assert_eq!(set.flows, ["visitors-to-web-tcp"]);
    assert!(r.unknown.iter().any(|u| u.why.join("").contains("-i eth0")));
}

#[test]
fn aws_fixture_gives_the_expected_report() {
    let r = run(&lab(), &[fixture("aws.json")], None, &["sg-0db=db"]);
    assert_eq!(r.format, "AWS describe-security-groups");
    assert_eq!(flows(&r), [("web-to-app-tcp", "8443")]);
    assert!(r.blocked[0].by.point.contains("sg-0app"));
    let open = rules(&r.too_open, |t| &t.rule);
    assert_eq!(
        open,
        [
            "sg-0app egress #4 (0.0.0.0/0)",
            "sg-0web ingress #1 (0.0.0.0/0)",
            "sg-0web egress #2 (group sg-0app = app)"
        ]
    );
    assert_eq!(r.too_open[2].openings[0].ports, "8081-8442");
    assert_eq!(r.unknown.len(), 1);
    assert!(r.unknown[0].why[0].contains("prefix list pl-0admins"));
    assert_eq!(
        rules(&r.shadowed, |n| &n.rule),
        ["sg-0db ingress #2 (10.0.10.20/32)"]
    );
    assert!(r.notes.iter().any(|n| n.contains("sg-0pilot")));
    // Without the binding the database's group is not audited: its flow is not checked.
    let unbound = run(&lab(), &[fixture("aws.json")], None, &[]);
    assert!(unbound.notes.iter().any(|n| n.contains("sg-0db")));
}

/// CloudFormation creates a group without inline egress rules with AWS's allow-all egress
/// rule, and egress rules added as resources of their own do not remove it: both groups below
/// allow every destination, which the audit must report.
#[test]
fn a_cloudformation_group_without_inline_egress_allows_all_egress() {
    let template = serde_json::json!({
        "Resources": {
            "SgWeb": {
                "Type": "AWS::EC2::SecurityGroup",
                "Properties": {
                    "GroupDescription": "web",
                    "SecurityGroupIngress": [
                        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "CidrIp": "0.0.0.0/0"}
                    ],
                    "Tags": [{"Key": "ctxfw:component", "Value": "web"}]
                }
            },
            "SgWebOutToApp": {
                "Type": "AWS::EC2::SecurityGroupEgress",
                "Properties": {
                    "GroupId": {"Fn::GetAtt": ["SgWeb", "GroupId"]},
                    "IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080,
                    "DestinationSecurityGroupId": {"Fn::GetAtt": ["SgApp", "GroupId"]}
                }
            },
            "SgApp": {
                "Type": "AWS::EC2::SecurityGroup",
                "Properties": {
                    "GroupDescription": "app",
                    "SecurityGroupIngress": [
                        {"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080, "CidrIp": "198.51.100.10/32"}
                    ],
                    "SecurityGroupEgress": [],
                    "Tags": [{"Key": "ctxfw:component", "Value": "app"}]
                }
            }
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("template.json");
    std::fs::write(&p, template.to_string()).unwrap();
    let r = run(&lab(), std::slice::from_ref(&p), None, &[]);
    assert_eq!(r.format, "AWS CloudFormation");
    let open = rules(&r.too_open, |t| &t.rule);
    for g in ["SgWeb", "SgApp"] {
        assert!(
            open.iter().any(|o| o == &format!("{g} default egress")),
            "{g}: {open:?}"
        );
    }
    // An inline egress rule of its own is what removes the default.
    let mut fixed = template;
    for g in ["SgWeb", "SgApp"] {
        fixed["Resources"][g]["Properties"]["SecurityGroupEgress"] = serde_json::json!([
            {"IpProtocol": "-1", "CidrIp": "127.0.0.1/32"}
        ]);
    }
    std::fs::write(&p, fixed.to_string()).unwrap();
    let r = run(&lab(), &[p], None, &[]);
    let open = rules(&r.too_open, |t| &t.rule);
    assert!(
        open.iter().all(|o| !o.ends_with("default egress")),
        "{open:?}"
    );
}

#[test]
fn azure_fixture_deny_at_a_lower_priority_number_blocks_the_allow() {
    let r = run(&lab(), &[fixture("azure.json")], None, &[]);
    assert_eq!(flows(&r), [("web-to-app-tcp", "8080")]);
    assert_eq!(
        r.blocked[0].by.rule,
        "nsg-core rule deny-dmz-8080 (priority 100)"
    );
    assert_eq!(
        rules(&r.too_open, |t| &t.rule),
        ["nsg-core rule allow-users (priority 300)"]
    );
    assert_eq!(r.unknown.len(), 1);
    assert!(r.unknown[0].why[0].contains("asg-admins"));
    // The default rules are the platform's: never shadowed or unused.
    assert!(r.shadowed.is_empty() && r.unused.is_empty());
    // Bound, the ASG is known: admins in the users zone may use SSH (too open now).
    let bound = run(
        &lab(),
        &[fixture("azure.json")],
        None,
        &["asg-admins=clients"],
    );
    assert!(bound.unknown.is_empty());
    assert!(bound
        .too_open
        .iter()
        .any(|t| t.rule.rule.contains("allow-admins-ssh")));
}

#[test]
fn gcp_fixture_priorities_targets_and_service_accounts() {
    let r = run(&lab(), &[fixture("gcp.json")], None, &[]);
    assert_eq!(flows(&r), [("web-to-app-tcp", "8443")]);
    assert_eq!(r.blocked[0].by.rule, "deny-app-8443 (priority 900)");
    let open = rules(&r.too_open, |t| &t.rule);
    assert_eq!(
        open,
        [
            "allow-ssh-from-users (priority 1000)",
            "allow-ssh-from-users (priority 1000)",
            "allow-ssh-from-users (priority 1000)",
            "allow-web-443 (priority 1000)",
            "web-out (priority 1000)"
        ]
    );
    assert_eq!(r.unknown.len(), 1);
    assert_eq!(r.unknown[0].flows, ["app-to-db-tcp"]);
    assert!(r.notes.iter().any(|n| n.contains("old-allow-all")));
    let bound = run(
        &lab(),
        &[fixture("gcp.json")],
        None,
        &["app@lab.iam.gserviceaccount.com=app"],
    );
    assert!(bound.unknown.is_empty());
    assert_eq!(flows(&bound), [("web-to-app-tcp", "8443")]);
}

fn generated(loaded: &ctxfw::Loaded, target: &str, opts: &Options) -> Vec<ctxfw::output::OutFile> {
    let r = Renderer::new(None).unwrap();
    let t: Vec<_> = TARGETS.iter().filter(|t| t.name == target).collect();
    generate::generate(loaded, &r, opts, &t).unwrap()
}

#[test]
fn generated_cloud_json_audits_as_expected() {
    let path = common::root().join("topologies/cloud-resource-locations.toml");
    let loaded = ctxfw::load(&path, None).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    for target in ["aws", "azure", "gcp"] {
        let files = generated(&loaded, target, &Options::default());
        let p = tmp.path().join(&files[0].name);
        std::fs::write(&p, &files[0].content).unwrap();
        let r = run(&loaded, &[p], None, &[]);
        assert!(r.flows_checked > 0, "{target}: no flow checked");
        assert!(
            r.blocked.is_empty(),
            "{target}: {:?}",
            r.blocked.iter().map(|b| &b.flow).collect::<Vec<_>>()
        );
        assert!(r.unknown.is_empty(), "{target}: {:?}", r.unknown);
        assert!(
            r.notes.iter().all(|n| !n.contains("not audited")),
            "{target}: {:?}",
            r.notes
        );
        if target != "aws" {
            // NSGs and GCP rules name addresses: only the internet flows' 0.0.0.0/0 opens more.
            for t in &r.too_open {
                assert!(t.rule.text.contains("0.0.0.0/0"), "{target}: {:?}", t.rule);
            }
        }
    }
}

// ---- on a real kernel ---------------------------------------------------------------------

fn kernel_tools(test: &str) -> bool {
    let root = sh("test \"$(id -u)\" = 0").0;
    let tools = [
        "nft",
        "iptables-nft-save",
        "iptables-nft-restore",
        "ip6tables-nft-save",
        "unshare",
    ];
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|t| !sh(&format!("command -v {t} || test -x /usr/sbin/{t}")).0)
        .collect();
    if root && missing.is_empty() {
        return true;
    }
    let msg = format!("{test}: skipped: needs root and {missing:?}");
    if std::env::var_os("CI").is_some() {
        panic!("{msg}; CI must run it (.ci/run installs them)");
    }
    eprintln!("{msg}");
    false
}

/// Run `script` in a throwaway network namespace; its standard output.
fn in_netns(script: &str) -> String {
    let (ok, out) = sh(&format!(
        "PATH=$PATH:/usr/sbin:/sbin unshare -n sh -ec '{}'",
        script.replace('\'', "'\\''")
    ));
    assert!(ok, "in a network namespace: {script}\n{out}");
    out
}

/// Load an nft file in a namespace, run `change`, and list the rule set back as JSON.
fn nft_listed(file: &Path, change: &str) -> String {
    in_netns(&format!(
        "nft -f {} >&2\n{change}\nnft -j list ruleset",
        file.display()
    ))
}

/// Load iptables-restore files with their jumps (as their headers say), run `change`, and
/// list both families back.
fn ipt_listed(
    dir: &Path,
    topology: &str,
    chains: &[(&str, &str)],
    change: &str,
) -> (String, String) {
    let mut script = String::new();
    for (fam, ext) in [("iptables", "rules"), ("ip6tables", "rules6")] {
        let f = dir.join(format!("{topology}.{ext}"));
        if f.exists() {
            script.push_str(&format!("{fam}-nft-restore --noflush {}\n", f.display()));
            for (builtin, chain) in chains {
                script.push_str(&format!("{fam}-nft -I {builtin} 1 -j {chain}\n"));
            }
        }
    }
    script.push_str(change);
    script.push_str("\necho ===v4; iptables-nft-save; echo ===v6; ip6tables-nft-save");
    let out = in_netns(&script);
    let (a, b) = out.split_once("===v6").expect("both listings");
    (
        a.split_once("===v4").expect("v4").1.to_string(),
        b.to_string(),
    )
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn check_clean(label: &str, r: &Report) {
    assert!(
        r.blocked.is_empty(),
        "{label}: blocked {:?}",
        r.blocked
            .iter()
            .map(|b| (&b.flow, &b.blocked_ports))
            .collect::<Vec<_>>()
    );
    assert!(r.unknown.is_empty(), "{label}: unknown {:?}", r.unknown);
    assert!(r.flows_checked > 0, "{label}: nothing checked");
    assert!(
        r.too_open.is_empty(),
        "{label}: too open {:?}",
        r.too_open.iter().map(|t| &t.rule.rule).collect::<Vec<_>>()
    );
}

#[test]
fn generated_rule_sets_listed_back_by_the_kernel_audit_as_expected() {
    if !kernel_tools("generated_rule_sets_listed_back_by_the_kernel_audit_as_expected") {
        return;
    }
    let mut paths = common::example_topologies();
    paths.push(common::root().join("tests/fixtures/netfilter-lab.toml"));
    for path in paths {
        let loaded = ctxfw::load(&path, None).unwrap();
        let name = loaded.topology.name.clone();
        let tmp = tempfile::tempdir().unwrap();
        let mut perspectives: Vec<Option<String>> = vec![None];
        perspectives.extend(
            loaded
                .topology
                .components
                .values()
                .filter(|c| {
                    c.kinds.iter().any(|k| {
                        loaded
                            .catalogue
                            .kind(k)
                            .is_some_and(|k| k.platform == ctxfw::catalogue::Platform::Linux)
                    })
                })
                .map(|c| Some(c.name.clone())),
        );
        for host in perspectives {
            let label = format!("{name} {host:?}");
            for layout in [Layout::Sets, Layout::Concat] {
                if host.is_some() && layout == Layout::Concat {
                    continue;
                }
                let opts = Options {
                    host: host.clone(),
                    nft_layout: layout,
                    ..Options::default()
                };
                let files = generated(&loaded, "nftables", &opts);
                let nft = write(tmp.path(), &files[0].name, &files[0].content);
                let listed = write(tmp.path(), "listed.json", &nft_listed(&nft, ""));
                let r = run(&loaded, &[listed], host.as_deref(), &[]);
                check_clean(&format!("{label} nft -j {layout:?}"), &r);
                // The file itself reads the same.
                let r2 = run(&loaded, &[nft], host.as_deref(), &[]);
                check_clean(&format!("{label} .nft {layout:?}"), &r2);
                assert_eq!(r.too_open.len(), r2.too_open.len(), "{label}");
            }
            let opts = Options {
                host: host.clone(),
                ..Options::default()
            };
            let files = generated(&loaded, "iptables", &opts);
            for f in &files {
                write(tmp.path(), &f.name, &f.content);
            }
            // ctxfw's chains hooked in as the header's apply lines say (`-C FORWARD -j CHAIN`):
            // the internet's helper chains are entered from ctxfw's own chain, not from the hook.
            let jumps: Vec<(&str, String)> = files[0]
                .content
                .lines()
                .filter(|l| l.starts_with('#') && l.contains(" -C "))
                .filter_map(|l| {
                    let mut w = l.split_whitespace().skip_while(|w| *w != "-C").skip(1);
                    let builtin = match w.next()? {
                        "FORWARD" => "FORWARD",
                        "INPUT" => "INPUT",
                        "OUTPUT" => "OUTPUT",
                        _ => return None,
                    };
                    (w.next()? == "-j").then_some(())?;
                    Some((builtin, w.next()?.to_string()))
                })
                .collect();
            assert!(!jumps.is_empty(), "{label}: no jump in the iptables header");
            let jumps: Vec<(&str, &str)> = jumps.iter().map(|(a, b)| (*a, b.as_str())).collect();
            let (v4, v6) = ipt_listed(tmp.path(), &name, &jumps, "");
            let mut sets = vec![write(tmp.path(), "v4.save", &v4)];
            if files.iter().any(|f| f.name.ends_with(".rules6")) {
                sets.push(write(tmp.path(), "v6.save", &v6));
            }
            let r = run(&loaded, &sets, host.as_deref(), &[]);
            check_clean(&format!("{label} iptables-save"), &r);
        }
    }
}

/// The lab has no internet zone: its generated rule sets audit clean, and each change to the
/// loaded rule set is named exactly.
/// What a report says about each rule and flow, without lines (a listing renumbers them).
fn summary(r: &Report) -> Vec<String> {
    let mut out: Vec<String> = flows(r)
        .iter()
        .map(|(f, p)| format!("blocked {f} {p}"))
        .collect();
    for t in &r.too_open {
        for o in &t.openings {
            out.push(format!(
                "too open {} {} {}",
                t.rule.rule, o.protocol, o.ports
            ));
        }
    }
    out.extend(r.unknown.iter().map(|u| format!("unknown {:?}", u.why)));
    out
}

#[test]
fn an_option_without_its_match_module_belongs_to_the_protocol_as_in_iptables() {
    // Hand-written (iptables-save names the module: `-m tcp`): `-p tcp --dport 23` drops
    // telnet only, so the accept after it opens every other TCP port. Read as `-p tcp`, the
    // drop blocked every flow and hid the accept's opening.
    let text = "*filter\n:FORWARD DROP [0:0]\n\
                -A FORWARD -p tcp --dport 23 -j DROP\n\
                -A FORWARD -p udp -m comment --comment x --dport 53 -j DROP\n\
                -A FORWARD -p tcp --no-such-option 1 -j ACCEPT\n\
                -A FORWARD -p tcp -j ACCEPT\n\
                COMMIT\n";
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "hand.rules", text);
    let r = run(&lab(), std::slice::from_ref(&file), None, &[]);
    assert!(r.blocked.is_empty(), "{:?}", flows(&r));
    let open = &r.too_open[0];
    assert_eq!(open.rule.rule, "FORWARD rule 4");
    assert!(
        open.openings.iter().all(|o| o.ports == "1-22,24-65535"),
        "{:?}",
        open.openings
    );
    // An option no module takes is not dropped silently: the rule cannot be evaluated.
    assert!(
        r.unknown.iter().any(|u| u
            .why
            .join("")
            .contains("--no-such-option (an option of no match module)")),
        "{:?}",
        r.unknown
    );
    if !kernel_tools("an_option_without_its_match_module_belongs_to_the_protocol_as_in_iptables") {
        return;
    }
    // The kernel's tools read it alike: loaded and listed back (with `-m tcp` and `-m udp`
    // named), it audits the same. The unknown option is left out: iptables refuses it.
    let known = text.replace("-A FORWARD -p tcp --no-such-option 1 -j ACCEPT\n", "");
    let file = write(dir.path(), "known.rules", &known);
    let listed = in_netns(&format!(
        "iptables-nft-restore {}\niptables-nft-save",
        file.display()
    ));
    assert!(
        listed.contains("-p tcp -m tcp --dport 23 -j DROP"),
        "{listed}"
    );
    let back = write(dir.path(), "listed.rules", &listed);
    let (a, b) = (
        run(&lab(), &[file], None, &[]),
        run(&lab(), &[back], None, &[]),
    );
    assert_eq!(summary(&a), summary(&b));
}

/// A live host's rule set beside ctxfw's table: what `nft list ruleset` prints for a router with
/// firewalld-, Docker- and OpenWrt-style rules (flag lists, `fib`, masks, marks, MSS clamping,
/// a blocklist with timeouts, named counters and other objects, NAT, a netdev ingress chain).
const LIVE_HOST: &str = r#"table inet filter {
	set blocklist {
		type ipv4_addr
		flags timeout
		elements = { 203.0.113.9 timeout 1d, 198.18.0.7 timeout 4h }
	}
	chain input {
		type filter hook input priority filter + 10; policy drop;
		ct state { established, related } accept
		iifname "lo" accept
		meta nfproto ipv6 fib saddr . mark . iif oif missing drop
		tcp dport 22 ct state { new, untracked } accept
		reject with icmpx admin-prohibited
	}
	chain forward {
		type filter hook forward priority filter + 10; policy accept;
		ct state established,related accept
		ct state invalid drop
		tcp flags syn tcp option maxseg size set rt mtu
		ct mark set meta mark
		tcp dport 22 accept
		ip saddr @blocklist drop
		jump checks
		udp dport 6910-6930 ct state new,untracked drop
	}
	chain checks {
		fib daddr type local drop
		meta mark & 0x0000ff00 == 0x00000100 drop
		tcp flags syn / fin,syn,rst,ack tcp dport 1494 drop
		ip ttl < 5 drop
		ip protocol icmp icmp type echo-request limit rate 5/second accept
	}
}
table inet fw4 {
	counter cnt_ssh {
	}
	quota q1 {
		over 25 mbytes
	}
	ct helper ftp-standard {
		type "ftp" protocol tcp
		l3proto ip
	}
	chain forward {
		type filter hook forward priority filter + 20; policy accept;
		ct state vmap { established : accept, related : accept, invalid : drop }
		tcp dport 22 counter name "cnt_ssh" accept comment "!fw4: Allow-SSH"
		ct status dnat accept comment "!fw4: Accept port forwards"
	}
}
table netdev ingress {
	chain c {
		type filter hook ingress devices = { veth0, veth1 } priority filter; policy accept;
		ip saddr 198.18.0.9 drop
	}
}
table ip nat {
	chain prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		fib daddr type local counter jump DOCKER
	}
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		ip saddr 172.17.0.0/16 oifname != "docker0" masquerade
	}
	chain DOCKER {
	}
}
"#;

/// A report as JSON without what depends on the form read: lines, and rule labels (the JSON
/// names rules by handle).
fn reading(r: &Report) -> serde_json::Value {
    fn strip(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(o) => {
                o.retain(|k, x| {
                    !(matches!(k.as_str(), "line" | "ruleset" | "format")
                        || (k == "rule" && x.is_string()))
                });
                o.values_mut().for_each(strip);
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut v = serde_json::to_value(r).unwrap();
    strip(&mut v);
    v
}

#[test]
fn nft_list_text_of_a_live_host_reads_as_its_json() {
    if !kernel_tools("nft_list_text_of_a_live_host_reads_as_its_json") {
        return;
    }
    let loaded = ctxfw::load(&common::root().join("topologies/two-site.toml"), None).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let files = generated(&loaded, "nftables", &Options::default());
    let ours = write(dir.path(), &files[0].name, &files[0].content);
    let host = write(dir.path(), "host.nft", LIVE_HOST);
    // The netdev chain needs its devices: a veth pair of the namespace's own.
    let script = [
        "ip link add veth0 type veth peer name veth1".to_string(),
        format!("nft -f {} >&2", ours.display()),
        format!("nft -f {} >&2", host.display()),
        "nft insert rule inet ctxfw-two-site forward ip saddr 10.0.0.0/8 tcp dport 22 accept"
            .to_string(),
        "nft list ruleset".to_string(),
        "echo ===json".to_string(),
        "nft -j list ruleset".to_string(),
    ];
    let listed = in_netns(&script.join("\n"));
    let (text, json) = listed.split_once("===json").expect("both listings");
    assert!(
        text.contains("ct state established,related accept"),
        "{text}"
    );
    assert!(text.contains("tcp flags syn / fin,syn,rst,ack"), "{text}");
    let text = write(dir.path(), "live.nft", text);
    let json = write(dir.path(), "live.json", json);
    let (a, b) = (
        run(&loaded, &[text], None, &[]),
        run(&loaded, &[json], None, &[]),
    );
    assert_eq!(reading(&a), reading(&b));
    // What the rule set does, read either way: both chains open SSH, a blocklist (elements with
    // timeouts) blocks two remote users, the flag list blocks new PVS streaming, and the
    // conditions ctxfw cannot evaluate are named.
    assert_eq!(a.too_open.len(), 1, "{:?}", rules(&a.too_open, |t| &t.rule));
    assert!(
        a.too_open[0]
            .openings
            .iter()
            .all(|o| o.protocol == "tcp" && o.ports == "22"),
        "{:?}",
        a.too_open[0].openings
    );
    assert!(
        a.blocked.iter().any(|b| b.flow.starts_with("remote-users-")
            && b.from_addresses == ["198.18.0.7/32", "203.0.113.9/32"]),
        "{:?}",
        a.blocked
            .iter()
            .map(|b| (&b.flow, &b.from_addresses))
            .collect::<Vec<_>>()
    );
    assert!(
        flows(&a)
            .iter()
            .any(|(f, p)| f.contains("pvs") && p.contains("6910")),
        "{:?}",
        flows(&a)
    );
    // A terminal report names the first ten flows a rule decides, not all 157.
    let table = audit::report::table(&a);
    assert!(
        table.contains("... and 147 more (--format json or markdown lists them)"),
        "{table}"
    );
    let why: Vec<String> = a.unknown.iter().map(|u| u.why.join("; ")).collect();
    for w in [
        "fib daddr type local",
        "meta mark & 65280 == 256",
        "tcp flags & fin,syn,rst,ack == syn",
        "ip ttl < 5",
    ] {
        assert!(why.iter().any(|x| x == w), "{w}: {why:?}");
    }
}

#[test]
fn a_change_to_the_loaded_rule_set_is_named_exactly() {
    if !kernel_tools("a_change_to_the_loaded_rule_set_is_named_exactly") {
        return;
    }
    let path = common::root().join("tests/fixtures/netfilter-lab.toml");
    let loaded = ctxfw::load(&path, None).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let files = generated(&loaded, "nftables", &Options::default());
    let nft = write(tmp.path(), &files[0].name, &files[0].content);
    let table = "inet ctxfw-netfilter-lab";
    // The handle of the rule whose comment starts with a flow id.
    let handle = |flow: &str| {
        format!(
            "h=$(nft -a list chain {table} forward | grep 'comment \"{flow}:' | sed 's/.*# handle //')"
        )
    };
    let audit_nft = |change: &str| {
        let listed = write(tmp.path(), "listed.json", &nft_listed(&nft, change));
        run(&loaded, &[listed], None, &[])
    };
    let clean = audit_nft("");
    assert!(!clean.has_findings(), "{}", audit::report::table(&clean));

    // Deleting one rule: that flow, and only it, is blocked, by the policy.
    let r = audit_nft(&format!(
        "{}\nnft delete rule {table} forward handle $h",
        handle("admins-to-db-tcp")
    ));
    assert_eq!(flows(&r), [("admins-to-db-tcp", "1433")]);
    assert!(r.blocked[0].by.rule.starts_with("policy drop"));
    assert!(r.too_open.is_empty() && r.unknown.is_empty());

    // Narrowing one port: only that port of that flow. (A new rule after the old one, then
    // the old one deleted: `nft replace` of an interval set aborts in nftables 1.0.6.)
    let r = audit_nft(&format!(
        "{}\nnft add rule {table} forward position $h ip saddr @comp.admins.v4 ip daddr @comp.dc.v4 tcp dport {{ 1001-1002, 1004, 1006, 1008, 1010, 1012, 1014, 1016, 1018, 1020, 1022, 1024, 2000-2010, 3000-3010 }} accept\nnft delete rule {table} forward handle $h",
        handle("admins-to-dc-tcp")
    ));
    assert_eq!(flows(&r), [("admins-to-dc-tcp", "22")]);
    assert!(r.too_open.is_empty());

    // An accept for everything between the two zones: that rule, and only it, is too open.
    let r = audit_nft(&format!(
        "nft insert rule {table} forward ip saddr 198.18.1.0/24 ip daddr 198.18.2.0/24 accept comment temporary-all-clients-to-servers"
    ));
    assert!(r.blocked.is_empty());
    assert_eq!(r.too_open.len(), 1, "{}", audit::report::table(&r));
    assert!(r.too_open[0]
        .rule
        .text
        .contains("temporary-all-clients-to-servers"));
    assert!(r.too_open[0]
        .openings
        .iter()
        .all(|o| o.from_zone == "clients" && o.to_zone == "servers"));

    // The same three changes to the iptables rule sets, listed back by iptables-save.
    let files = generated(&loaded, "iptables", &Options::default());
    for f in &files {
        write(tmp.path(), &f.name, &f.content);
    }
    let chain = "CTXFW-netfilter-lab";
    let audit_ipt = |change: &str| {
        let (v4, v6) = ipt_listed(tmp.path(), "netfilter-lab", &[("FORWARD", chain)], change);
        let sets = [
            write(tmp.path(), "v4.save", &v4),
            write(tmp.path(), "v6.save", &v6),
        ];
        run(&loaded, &sets, None, &[])
    };
    let number = |flow: &str| {
        format!("n=$(iptables-nft -S {chain} | grep -v '^-N' | grep -n '\"{flow}:' | head -1 | cut -d: -f1)")
    };
    let clean = audit_ipt("");
    assert!(!clean.has_findings(), "{}", audit::report::table(&clean));
    let r = audit_ipt(&format!(
        "{}\niptables-nft -D {chain} $n",
        number("admins-to-db-tcp")
    ));
    assert_eq!(flows(&r), [("admins-to-db-tcp", "1433")]);
    // The same rule without port 22, in its place (iptables -S quotes its comment: eval).
    let r = audit_ipt(&format!(
        "line=$(iptables-nft -S {chain} | grep -- '--dports 22,')\n\
         n=$(iptables-nft -S {chain} | grep -v '^-N' | grep -n -- '--dports 22,' | cut -d: -f1)\n\
         eval \"iptables-nft -R {chain} $n $(echo \"$line\" | sed 's/^-A [^ ]* //; s/--dports 22,/--dports /')\""
    ));
    assert_eq!(flows(&r), [("admins-to-dc-tcp", "22")]);
    let r = audit_ipt(&format!(
        "iptables-nft -I {chain} 1 -s 198.18.1.0/24 -d 198.18.2.0/24 -m comment --comment \"temporary: all clients to servers\" -j ACCEPT"
    ));
    assert!(r.blocked.is_empty());
    assert_eq!(r.too_open.len(), 1, "{}", audit::report::table(&r));
    assert!(
        r.too_open[0].rule.text.contains("temporary"),
        "{:?}",
        r.too_open[0].rule
    );
}

// ---- the command line ---------------------------------------------------------------------

fn ctxfw(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(common::bin()).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn exit_codes_and_formats() {
    let tmp = tempfile::tempdir().unwrap();
    let lab = common::root().join("tests/fixtures/netfilter-lab.toml");
    let loaded = ctxfw::load(&lab, None).unwrap();
    let files = generated(&loaded, "nftables", &Options::default());
    let nft = write(tmp.path(), "lab.nft", &files[0].content);
    let (lab, nft) = (lab.to_str().unwrap(), nft.to_str().unwrap());
    let (code, out, _) = ctxfw(&["audit", lab, "--ruleset", nft]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("CLEAN"), "{out}");
    let topo = fixture("lab.toml");
    let cat = fixture("catalogue");
    let (topo, cat) = (topo.to_str().unwrap(), cat.to_str().unwrap());
    let nftjson = fixture("nft.json");
    for (format, check) in [
        ("json", "\"blocked\""),
        ("markdown", "## Blocked"),
        ("table", "BLOCKED"),
    ] {
        let (code, out, err) = ctxfw(&[
            "audit",
            topo,
            "--catalogue",
            cat,
            "--ruleset",
            nftjson.to_str().unwrap(),
            "--format",
            format,
        ]);
        assert_eq!(code, 1, "{err}");
        assert!(out.contains(check), "{format}: {out}");
        if format == "json" {
            let v: serde_json::Value = serde_json::from_str(&out).unwrap();
            assert_eq!(v["blocked"][0]["flow"], "web-to-app-tcp");
        }
    }
    // A host firewall needs --host; an unknown component is a usage error.
    let host = generated(
        &loaded,
        "nftables",
        &Options {
            host: Some("dc".into()),
            ..Options::default()
        },
    );
    let host = write(tmp.path(), "host.nft", &host[0].content);
    let (code, _, err) = ctxfw(&["audit", lab, "--ruleset", host.to_str().unwrap()]);
    assert_eq!(code, 64, "{err}");
    assert!(err.contains("--host COMPONENT"), "{err}");
    let (code, out, err) = ctxfw(&[
        "audit",
        lab,
        "--ruleset",
        host.to_str().unwrap(),
        "--host",
        "dc",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, _, err) = ctxfw(&[
        "audit",
        lab,
        "--ruleset",
        host.to_str().unwrap(),
        "--host",
        "dcc",
    ]);
    assert_eq!(code, 64);
    assert!(err.contains("did you mean"), "{err}");
    let (code, _, err) = ctxfw(&["audit", lab, "--ruleset", "/nonexistent/fw.json"]);
    assert_eq!(code, 74, "{err}");
}

#[test]
fn bad_rule_sets_are_refused_with_their_position() {
    let tmp = tempfile::tempdir().unwrap();
    let lab = common::root().join("tests/fixtures/netfilter-lab.toml");
    let lab = lab.to_str().unwrap();
    let cases: &[(&str, &str, &str, &str)] = &[
        ("broken.json", "{\"nftables\": [\n  {\"table\": }\n]}\n", "broken.json:2:", "JSON syntax"),
        (
            "bad.rules",
            "*filter\n:FORWARD DROP [0:0]\n-A FORWARD -s 10.0.0.0/33 -j ACCEPT\nCOMMIT\n",
            "bad.rules:3:",
            "not an IPv4 address",
        ),
        (
            "chain.rules",
            "*filter\n:FORWARD DROP [0:0]\n-A NOPE -j ACCEPT\nCOMMIT\n",
            "chain.rules:3:",
            "not declared",
        ),
        (
            "sg.json",
            "{\"SecurityGroups\": [\n {\"GroupId\": \"sg-1\", \"IpPermissions\": [\n  {\"IpProtocol\": \"tcpp\", \"FromPort\": 1, \"ToPort\": 2}]}]}\n",
            "sg.json:3:",
            "unknown IpProtocol",
        ),
        ("what.txt", "hello\n", "what.txt", "--ruleset-format"),
        ("set.nft", "table inet t {\n  chain c {\n    type filter hook forward priority 0; policy drop;\n    ip saddr @nope accept\n  }\n}\n", "set.nft:4:", "@nope"),
    ];
    for (name, text, location, message) in cases {
        let p = write(tmp.path(), name, text);
        let (code, out, err) = ctxfw(&["audit", lab, "--ruleset", p.to_str().unwrap()]);
        assert_eq!(code, 2, "{name}: {out}{err}");
        assert!(err.contains(location), "{name}: no {location} in\n{err}");
        assert!(err.contains(message), "{name}: no {message} in\n{err}");
        assert!(err.contains("= hint:"), "{name}: no hint in\n{err}");
    }
}

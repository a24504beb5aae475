//! Windows Firewall: one PowerShell script per component that runs Windows.
//!
//! Each script manages one rule group (`ctxfw <topology> <component>`): it removes that group's
//! rules, then adds one `New-NetFirewallRule` per merged flow of the host perspective. Inbound
//! rules always; outbound rules only with `--outbound` (Windows allows outbound by default).
//! Every value is checked here against what NetSecurity accepts, so a value Windows would
//! refuse is an error before anything is written; strings reach the template as plain data and
//! are quoted there by the `ps` filter only.

use std::net::IpAddr;

use anyhow::{bail, Result};
use ipnet::IpNet;
use serde::Serialize;
use std::sync::Arc;

use crate::catalogue::Platform;
use crate::flow::Protocol;
use crate::generate::Ctx;
use crate::output::OutFile;
use crate::plan::{self, Direction, EndNets, Rule};
use crate::topology::Component;

/// Whether any kind of the component runs Windows.
pub fn runs_windows(ctx: &Ctx<'_>, c: &Component) -> bool {
    c.kinds.iter().any(|k| {
        ctx.loaded
            .catalogue
            .kind(k)
            .is_some_and(|k| k.platform == Platform::Windows)
    })
}

/// The rule group a component's rules live in.
pub fn group_name(topology: &str, component: &str) -> String {
    format!("ctxfw {topology} {component}")
}

/// `generate --target windows`: `<topology>-<component>.ps1` for every Windows component
/// (only the `--host` component when it runs Windows).
pub fn render(ctx: &Ctx<'_>) -> Result<Vec<OutFile>> {
    let topo = &ctx.loaded.topology;
    let hosts = plan::HostIndex::new(topo, &ctx.loaded.resolution);
    for c in topo.components.values() {
        if !runs_windows(ctx, c) {
            continue;
        }
        if ctx.opts.host.as_ref().is_some_and(|h| *h != c.name) {
            continue;
        }
        let script = script(ctx, c, &hosts.plan(&c.name))?;
        // Each script is written as it is made (8,000 of them at 100,000 flows).
        ctx.write(&format!("{}-{}.ps1", topo.name, c.name), |w| {
            ctx.renderer.render_ser_to("windows.ps1.j2", &script, w)
        })?;
    }
    Ok(Vec::new())
}

/// The template context of one component's script.
#[derive(Serialize)]
struct Script<'a> {
    topology: &'a str,
    description: &'a str,
    component: &'a str,
    kinds: &'a [String],
    group: String,
    outbound: bool,
    skipped_outbound: usize,
    inbound_rules: Vec<WinRule>,
    outbound_rules: Vec<WinRule>,
}

/// One `New-NetFirewallRule`, every value checked.
#[derive(Serialize)]
struct WinRule {
    name: String,
    display_name: String,
    description: String,
    direction: &'static str,
    protocol: String,
    /// Inbound: the component serves these ports; outbound: the peer does.
    local_ports: Vec<String>,
    remote_ports: Vec<String>,
    remote_address: Vec<String>,
    peer: Arc<str>,
    fqdns: Vec<String>,
    purpose: Arc<str>,
}

/// The script of one component from its host-perspective rules.
fn script<'a>(ctx: &Ctx<'a>, c: &'a Component, rules: &[Rule]) -> Result<Script<'a>> {
    let topo = &ctx.loaded.topology;
    let mut inbound = Vec::new();
    let mut outbound = Vec::new();
    let mut skipped_outbound = 0usize;
    for r in rules {
        match r.direction {
            Direction::Inbound => {
                if let Some(v) = win_rule(ctx, c, r)? {
                    inbound.push(v);
                }
            }
            Direction::Outbound if ctx.opts.outbound => {
                if let Some(v) = win_rule(ctx, c, r)? {
                    outbound.push(v);
                }
            }
            Direction::Outbound => skipped_outbound += 1,
            Direction::Forward => {}
        }
    }
    Ok(Script {
        topology: &topo.name,
        description: &topo.description,
        component: &c.name,
        kinds: &c.kinds,
        group: group_name(&topo.name, &c.name),
        outbound: ctx.opts.outbound,
        skipped_outbound,
        inbound_rules: inbound,
        outbound_rules: outbound,
    })
}

/// One rule as the template needs it, checked; `None` when no address of the remote side is
/// of the protocol's IP family (an ICMPv4 rule towards an IPv6-only peer cannot match).
fn win_rule(ctx: &Ctx<'_>, c: &Component, r: &Rule) -> Result<Option<WinRule>> {
    let file = &ctx.loaded.topology.file.name;
    let inbound = r.direction == Direction::Inbound;
    let remote = if inbound { &r.src } else { &r.dst };
    let protocol = protocol_name(r.protocol).ok_or_else(|| {
        anyhow::anyhow!(
            "{file}: flow `{}` uses {}, which Windows Firewall cannot filter by port; \
             remove it from this topology with [[removals]] (catalogue ids: see `ctxfw flows {file} --format json`) \
             or generate without the windows target",
            r.flow,
            r.protocol
        )
    })?;
    let families = match r.protocol {
        Protocol::Icmp => [true, false],
        Protocol::Icmpv6 => [false, true],
        _ => [true, true],
    };
    let remote_address = remote_addresses(remote, families);
    if remote_address.is_empty() {
        return Ok(None);
    }
    let ports = if r.protocol.has_ports() {
        r.ports.to_strings()
    } else {
        Vec::new()
    };
    check(file, &r.flow, &protocol, &ports, &remote_address)?;

    // Both ends with their interfaces: two rules between the same components on different
    // interfaces (a Gateway's NSIP and SNIP) would otherwise read the same.
    let from = super::flows::end_label(&r.from, &r.from_interface);
    let to = super::flows::end_label(&r.to, &r.to_interface);
    let (dir, local, peer) = if inbound {
        ("in", to.as_str(), from.clone())
    } else {
        ("out", from.as_str(), to.clone())
    };
    use std::fmt::Write;
    // Written piece by piece into one string each (a format! per piece was a tenth of this
    // target).
    let mut flow_label = String::with_capacity(protocol.len() + 24);
    if r.protocol.has_ports() {
        flow_label.push_str(&protocol);
        flow_label.push(' ');
        r.ports.push_to(&mut flow_label);
    } else if protocol.parse::<u8>().is_ok() {
        let _ = write!(
            flow_label,
            "{} ({protocol})",
            r.protocol.name().to_uppercase()
        );
    } else {
        flow_label.push_str(&protocol);
    }
    let arrow = if inbound { " <- " } else { " -> " };
    let display = super::concat(&[local, arrow, &peer, " ", &flow_label]);
    let mut description = String::with_capacity(r.purpose.len() + r.source.len() + 96);
    let _ = write!(description, "Purpose: {}", r.purpose);
    if inbound {
        let _ = write!(description, " | From: {from} ({})", r.from_zone);
    } else {
        let _ = write!(description, " | To: {to} ({})", r.to_zone);
    }
    if !r.fqdns.is_empty() {
        let _ = write!(description, " | Domains: {}", r.fqdns.join(", "));
    }
    let _ = write!(description, " | Source: {}", r.source);
    if let Some(reason) = &r.reason {
        let _ = write!(description, " | Reason: {reason}");
    }
    let _ = write!(description, " | Flow: {} (ctxfw)", r.flow);
    Ok(Some(WinRule {
        name: super::concat(&[
            "ctxfw-",
            &ctx.loaded.topology.name,
            "-",
            &c.name,
            "-",
            &r.flow,
            "-",
            dir,
        ]),
        display_name: display,
        description,
        direction: if inbound { "Inbound" } else { "Outbound" },
        protocol,
        local_ports: if inbound { ports.clone() } else { Vec::new() },
        remote_ports: if inbound { Vec::new() } else { ports },
        remote_address,
        peer: peer.into(),
        fqdns: r.fqdns.clone(),
        purpose: r.purpose.clone(),
    }))
}

/// The `-Protocol` value NetSecurity accepts: a keyword, or the IANA number for protocols
/// without ports. `None` for SCTP, whose ports Windows Firewall cannot match.
pub fn protocol_name(p: Protocol) -> Option<String> {
    Some(
        match p {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Icmp => "ICMPv4",
            Protocol::Icmpv6 => "ICMPv6",
            Protocol::Esp => "50",
            Protocol::Ah => "51",
            Protocol::Gre => "47",
            Protocol::Sctp => return None,
        }
        .to_string(),
    )
}

/// `-RemoteAddress` values of one end in the families wanted (IPv4, IPv6): hosts without `/32`
/// or `/128`, networks in prefix notation. A default route is every address no other zone
/// holds, written as the ranges between the other zones' networks (`0.0.0.0-10.0.9.255`);
/// one family's whole space is its range (so an IPv4 internet zone does not open IPv6), both
/// families whole are `Any`.
pub fn remote_addresses(end: &EndNets, families: [bool; 2]) -> Vec<String> {
    let whole = |v6: bool| {
        families[usize::from(v6)]
            && !end.outside(v6)
            && end
                .given
                .iter()
                .any(|n| matches!(n, IpNet::V6(_)) == v6 && n.prefix_len() == 0)
    };
    if whole(false) && whole(true) {
        return vec!["Any".to_string()];
    }
    let mut out = Vec::new();
    for v6 in [false, true] {
        if !families[usize::from(v6)] {
            continue;
        }
        if end.outside(v6) {
            let ranges = plan::gaps(&end.except, v6);
            out.extend(ranges.into_iter().map(|(lo, hi)| {
                if lo == hi {
                    lo.to_string()
                } else {
                    format!("{lo}-{hi}")
                }
            }));
        } else if whole(v6) {
            out.push(if v6 {
                "::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff".to_string()
            } else {
                "0.0.0.0-255.255.255.255".to_string()
            });
        } else {
            for n in end.given.iter().filter(|n| matches!(n, IpNet::V6(_)) == v6) {
                if n.prefix_len() == n.max_prefix_len() {
                    out.push(n.addr().to_string());
                } else {
                    out.push(n.to_string());
                }
            }
        }
    }
    out
}

/// Our own check of every value handed to `New-NetFirewallRule`: the protocol, ports 1..65535
/// (only with TCP/UDP), and addresses as NetSecurity parses them.
pub fn check(
    file: &str,
    flow: &str,
    protocol: &str,
    ports: &[String],
    addresses: &[String],
) -> Result<()> {
    let proto_ok = matches!(protocol, "TCP" | "UDP" | "ICMPv4" | "ICMPv6")
        || protocol.parse::<u8>().is_ok_and(|n| n > 0);
    if !proto_ok {
        bail!("{file}: flow `{flow}`: protocol `{protocol}` is not one NetSecurity accepts (TCP, UDP, ICMPv4, ICMPv6 or a protocol number)");
    }
    if !ports.is_empty() && !matches!(protocol, "TCP" | "UDP") {
        bail!("{file}: flow `{flow}`: Windows Firewall matches ports only with TCP or UDP, not {protocol}");
    }
    if matches!(protocol, "TCP" | "UDP") && ports.is_empty() {
        bail!("{file}: flow `{flow}`: a {protocol} rule without ports would allow every port; give the flow its ports");
    }
    for p in ports {
        let (lo, hi) = p.split_once('-').unwrap_or((p, p));
        let ok = match (lo.parse::<u32>(), hi.parse::<u32>()) {
            (Ok(lo), Ok(hi)) => (1..=65535).contains(&lo) && (1..=65535).contains(&hi) && lo <= hi,
            _ => false,
        };
        if !ok {
            bail!("{file}: flow `{flow}`: port `{p}` is not a port 1..65535 or an ascending range");
        }
    }
    if addresses.is_empty() {
        bail!("{file}: flow `{flow}`: no remote address; a rule without one would match every address");
    }
    for a in addresses {
        if !address_ok(a) {
            bail!("{file}: flow `{flow}`: `{a}` is not an address, a CIDR network, a range or Any");
        }
    }
    if addresses.len() > 1 && addresses.iter().any(|a| a == "Any") {
        bail!("{file}: flow `{flow}`: Any must be the only remote address");
    }
    Ok(())
}

fn address_ok(a: &str) -> bool {
    if a == "Any" || a.parse::<IpAddr>().is_ok() || a.parse::<IpNet>().is_ok_and(|n| n.trunc() == n)
    {
        return true;
    }
    match a.split_once('-') {
        Some((lo, hi)) => match (lo.parse::<IpAddr>(), hi.parse::<IpAddr>()) {
            (Ok(IpAddr::V4(l)), Ok(IpAddr::V4(h))) => l <= h,
            (Ok(IpAddr::V6(l)), Ok(IpAddr::V6(h))) => l <= h,
            _ => false,
        },
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(v: &[&str]) -> Vec<IpNet> {
        v.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn addresses_as_netsecurity_spells_them() {
        let alone = plan::Internal::default();
        let both = [true, true];
        assert_eq!(
            remote_addresses(
                &alone.end(&nets(&["10.0.10.11/32", "10.1.0.0/16", "2001:db8::1/128"])),
                both
            ),
            ["10.0.10.11", "10.1.0.0/16", "2001:db8::1"]
        );
        assert_eq!(
            remote_addresses(&alone.end(&nets(&["0.0.0.0/0", "::/0"])), both),
            ["Any"]
        );
        assert_eq!(
            remote_addresses(&alone.end(&nets(&["0.0.0.0/0", "2001:db8::/64"])), both),
            ["0.0.0.0-255.255.255.255", "2001:db8::/64"]
        );
        // ICMPv4: only the IPv4 side.
        assert_eq!(
            remote_addresses(&alone.end(&nets(&["0.0.0.0/0", "::/0"])), [true, false]),
            ["0.0.0.0-255.255.255.255"]
        );
    }

    #[test]
    fn protocols_as_netsecurity_spells_them() {
        let names: Vec<Option<String>> = Protocol::ALL.into_iter().map(protocol_name).collect();
        assert_eq!(
            names,
            [
                Some("TCP".into()),
                Some("UDP".into()),
                None,
                Some("ICMPv4".into()),
                Some("ICMPv6".into()),
                Some("50".into()),
                Some("51".into()),
                Some("47".into()),
            ]
        );
    }

    #[test]
    fn checks_refuse_what_windows_would() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert!(check(
            "t.toml",
            "f",
            "TCP",
            &s(&["443", "6910-6930"]),
            &s(&["10.0.0.1"])
        )
        .is_ok());
        assert!(check("t.toml", "f", "ICMPv4", &[], &s(&["10.0.0.0/24"])).is_ok());
        assert!(check("t.toml", "f", "50", &[], &s(&["Any"])).is_ok());
        for (proto, ports, addrs) in [
            ("SCTP", s(&["1"]), s(&["10.0.0.1"])),
            ("TCPP", s(&["1"]), s(&["10.0.0.1"])),
            ("0", s(&[]), s(&["10.0.0.1"])),
            ("TCP", s(&["0"]), s(&["10.0.0.1"])),
            ("TCP", s(&["70000"]), s(&["10.0.0.1"])),
            ("TCP", s(&["20-10"]), s(&["10.0.0.1"])),
            ("TCP", s(&[]), s(&["10.0.0.1"])),
            ("ICMPv4", s(&["1"]), s(&["10.0.0.1"])),
            ("TCP", s(&["1"]), s(&[])),
            ("TCP", s(&["1"]), s(&["10.0.0.1/24"])),
            ("TCP", s(&["1"]), s(&["example.com"])),
            ("TCP", s(&["1"]), s(&["Any", "10.0.0.1"])),
            ("TCP", s(&["1"]), s(&["10.0.0.9-10.0.0.1"])),
        ] {
            let e = check("t.toml", "f", proto, &ports, &addrs).unwrap_err();
            assert!(e.to_string().starts_with("t.toml: flow `f`"), "{e}");
        }
    }
}

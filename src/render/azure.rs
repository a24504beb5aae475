//! Azure: an ARM template with one network security group per `azure` zone (to associate with
//! the zone's subnet).
//!
//! - A flow into an Azure zone is an `Inbound` rule of that zone's NSG; a flow out of one is an
//!   `Outbound` rule of the source zone's NSG (a subnet NSG also filters traffic inside the
//!   subnet, so intra-zone flows get both).
//! - Priorities are unique per direction, from 100 upward in the resolver's stable flow order;
//!   4095 allows Azure's load-balancer health probes in, 4096 denies everything else in each
//!   direction (the built-in AllowVnet* and AllowInternetOutBound rules would allow more).
//! - At most 1000 rules per NSG and priorities up to 4094 for flows: more is an error.
//! - Rule names: at most 80 characters of letters, digits, `_`, `.`, `-`, starting with a
//!   letter or digit and ending with a letter, digit or `_`; long names keep a stable hash.
//! - Descriptions: at most 140 characters (Azure's limit), tag values 256, cut with `...`; the
//!   text is kept as written otherwise. A string that ARM would read as an expression (`[...]`)
//!   is escaped, within the limit.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::{bail, Result};
use serde_json::{json, Map, Value};

use crate::flow::{Flow, Protocol};
use crate::generate::Ctx;
use crate::output::OutFile;
use crate::plan;
use crate::topology::{Location, Topology, Zone};

use super::cloud::{self, Family};

pub const MAX_RULES: usize = 1000;
/// The rules every NSG has besides its flows': load balancer probes in, deny in, deny out.
const FIXED_RULES: usize = 3;
pub const FIRST_PRIORITY: u32 = 100;
pub const LB_PRIORITY: u32 = 4095;
pub const DENY_PRIORITY: u32 = 4096;
pub const MAX_NAME: usize = 80;
pub const MAX_DESCRIPTION: usize = 140;
/// Characters of a resource tag's value.
pub const MAX_TAG_VALUE: usize = 256;
pub const API_VERSION: &str = "2023-09-01";

/// Protocols an NSG rule can name.
pub const PROTOCOLS: [&str; 6] = ["Tcp", "Udp", "Icmp", "Esp", "Ah", "*"];

/// A literal ARM string: one that starts with `[` and ends with `]` would be evaluated as a
/// template expression; `[[` makes it literal.
pub fn arm_literal(s: &str) -> String {
    if s.starts_with('[') && s.ends_with(']') {
        format!("[{s}")
    } else {
        s.to_string()
    }
}

/// At most `max` characters of `s` ([`cloud::truncate`]) as a literal ARM string: the `[`
/// that [`arm_literal`] adds to a full-length `[...]` text would make it one too long, so such a
/// text is cut one character shorter (it then ends with `...` and needs no escape).
pub fn arm_text(s: &str, max: usize) -> String {
    let t = arm_literal(&cloud::truncate(s, max));
    if t.chars().count() <= max {
        t
    } else {
        arm_literal(&cloud::truncate(s, max - 1))
    }
}

/// Azure's name rule for NSGs and security rules.
pub fn valid_name(s: &str) -> bool {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
    !s.is_empty()
        && s.len() <= MAX_NAME
        && s.chars().all(ok_char)
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
}

/// A valid name from a label: cut with a hash when too long, `_` appended when it would end
/// with `.` or `-`.
fn name(s: &str) -> String {
    let mut n = cloud::bounded(s, MAX_NAME, "-");
    if n.ends_with(['.', '-']) {
        if n.len() == MAX_NAME {
            n.pop();
        }
        n.push('_');
    }
    n
}

fn protocol(topo: &Topology, f: &Flow) -> Result<&'static str> {
    Ok(match f.protocol {
        Protocol::Tcp => "Tcp",
        Protocol::Udp => "Udp",
        Protocol::Icmp | Protocol::Icmpv6 => "Icmp",
        Protocol::Esp => "Esp",
        Protocol::Ah => "Ah",
        Protocol::Sctp | Protocol::Gre => bail!(
            "{}: flow {} uses {}, which an Azure NSG rule cannot name (only Tcp, Udp, Icmp, \
             Esp, Ah or any); remove the flow for this target or filter it elsewhere",
            topo.file.name,
            f.id,
            f.protocol
        ),
    })
}

struct Nsg {
    zone: String,
    inbound: Vec<Value>,
    outbound: Vec<Value>,
}

/// The networks Azure's system routes drop unless the virtual network holds them or routes
/// them to a gateway: a zone inside them is part of the `VirtualNetwork` tag or unreachable,
/// never part of `Internet`.
const UNROUTED: [&str; 4] = [
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
];

/// An end's address prefixes of one family (`sourceAddressPrefixes` /
/// `destinationAddressPrefixes`), or the service tag standing for them (`...AddressPrefix`).
/// A default route is every address no other zone holds: the `Internet` tag (the address space
/// outside the virtual network) where every other zone lies in [`UNROUTED`], else the
/// networks between those zones'.
fn prefixes(end: &plan::EndNets, internal: &plan::Internal, fam: Family) -> Value {
    let v6 = fam == Family::V6;
    if end.outside(v6) {
        let unrouted: Vec<ipnet::IpNet> = UNROUTED.iter().map(|n| n.parse().unwrap()).collect();
        let tag = !v6
            && internal
                .nets(v6)
                .iter()
                .all(|n| unrouted.iter().any(|u| u.contains(n)));
        if tag {
            return json!("Internet");
        }
    }
    json!(cloud::nets(&end.nets, fam))
}

fn rule(
    name: String,
    f: &Flow,
    ends: (&plan::EndNets, &plan::EndNets, &plan::Internal),
    proto: &str,
    dir: &str,
    fam: Family,
) -> (String, Map<String, Value>) {
    let mut p = Map::new();
    p.insert(
        "description".into(),
        json!(arm_text(&cloud::describe(f), MAX_DESCRIPTION)),
    );
    p.insert("protocol".into(), json!(proto));
    p.insert("sourcePortRange".into(), json!("*"));
    if f.protocol.has_ports() {
        p.insert("destinationPortRanges".into(), json!(f.ports.to_strings()));
    } else {
        p.insert("destinationPortRange".into(), json!("*"));
    }
    let (src, dst, internal) = ends;
    for (key, end) in [("source", src), ("destination", dst)] {
        match prefixes(end, internal, fam) {
            Value::String(tag) => p.insert(format!("{key}AddressPrefix"), json!(tag)),
            list => p.insert(format!("{key}AddressPrefixes"), list),
        };
    }
    p.insert("access".into(), json!("Allow"));
    p.insert("direction".into(), json!(dir));
    (name, p)
}

fn fixed(name: &str, dir: &str, access: &str, priority: u32, src: &str, desc: &str) -> Value {
    json!({
        "name": name,
        "properties": {
            "description": desc,
            "protocol": "*",
            "sourcePortRange": "*",
            "destinationPortRange": "*",
            "sourceAddressPrefix": src,
            "destinationAddressPrefix": "*",
            "access": access,
            "priority": priority,
            "direction": dir,
        }
    })
}

/// The ARM template as a JSON value.
pub fn template(topo: &Topology, flows: &[Flow]) -> Result<Value> {
    let zones = cloud::zones(topo, Location::Azure, "azure")?;
    let mut nsgs: Vec<Nsg> = zones
        .iter()
        .map(|z| Nsg {
            zone: z.name.clone(),
            inbound: Vec::new(),
            outbound: Vec::new(),
        })
        .collect();
    let index: HashMap<&str, usize> = zones
        .iter()
        .enumerate()
        .map(|(i, z)| (z.name.as_str(), i))
        .collect();
    check_counts(topo, &zones, &index, flows)?;
    let mut ends = plan::Ends::new(topo);
    for f in flows {
        let from_in = cloud::in_cloud(topo, &f.from_end.zone, Location::Azure);
        let to_in = cloud::in_cloud(topo, &f.to_end.zone, Location::Azure);
        if !from_in && !to_in {
            continue;
        }
        let proto = protocol(topo, f)?;
        let (src, dst) = (ends.of(&f.from_end), ends.of(&f.to_end));
        let ends3 = (&*src, &*dst, ends.internal());
        let label = |s: &str, i: &Option<Arc<str>>| match i {
            Some(i) => format!("{s}.{i}"),
            None => s.to_string(),
        };
        for fam in cloud::families(f) {
            let base = format!(
                "{}-to-{}-{}{}",
                label(&f.from, &f.from_end.interface),
                label(&f.to, &f.to_end.interface),
                f.protocol,
                if fam == Family::V6 { "-v6" } else { "" }
            );
            if to_in {
                let nsg = &mut nsgs[index[&*f.to_end.zone]];
                let (n, mut p) = rule(name(&format!("in-{base}")), f, ends3, proto, "Inbound", fam);
                let prio = FIRST_PRIORITY + nsg.inbound.len() as u32;
                p.insert("priority".into(), json!(prio));
                nsg.inbound.push(json!({ "name": n, "properties": p }));
            }
            if from_in {
                let nsg = &mut nsgs[index[&*f.from_end.zone]];
                let (n, mut p) = rule(
                    name(&format!("out-{base}")),
                    f,
                    ends3,
                    proto,
                    "Outbound",
                    fam,
                );
                let prio = FIRST_PRIORITY + nsg.outbound.len() as u32;
                p.insert("priority".into(), json!(prio));
                nsg.outbound.push(json!({ "name": n, "properties": p }));
            }
        }
    }
    let mut resources = Vec::new();
    let mut outputs = Map::new();
    let mut nsg_names: Vec<(String, String)> = Vec::new();
    for nsg in nsgs {
        let nsg_name = name(&format!("{}-{}", topo.name, nsg.zone));
        nsg_names.push((nsg_name.clone(), format!("zone `{}`", nsg.zone)));
        let zone = nsg.zone.clone();
        let rules = with_fixed_rules(nsg);
        check(topo, &zone, &rules)?;
        resources.push(nsg_resource(topo, &nsg_name, &zone, rules));
        // Output names: letters, digits and `_` are safe in every ARM tool.
        let out_name: String = format!("nsg_{zone}")
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        outputs.insert(
            out_name,
            json!({
                "type": "string",
                "value": format!("[resourceId('Microsoft.Network/networkSecurityGroups', '{nsg_name}')]"),
            }),
        );
    }
    cloud::check_unique(
        topo,
        "network security group name",
        nsg_names.iter().map(|(a, b)| (a.as_str(), b.as_str())),
    )?;
    Ok(json!({
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "metadata": {
            "description": arm_literal(&format!("ctxfw network security groups for {}: {}", topo.name, topo.description)),
        },
        "parameters": {
            "location": {
                "type": "string",
                "defaultValue": "[resourceGroup().location]",
                "metadata": { "description": "Azure region of the network security groups" }
            }
        },
        "resources": resources,
        "outputs": outputs,
    }))
}

/// Refuses a zone whose rules would be over Azure's limit, before any rule is built (at scale,
/// building them all took seconds and gigabytes for one error).
fn check_counts(
    topo: &Topology,
    zones: &[&Zone],
    index: &HashMap<&str, usize>,
    flows: &[Flow],
) -> Result<()> {
    let mut count = vec![FIXED_RULES; zones.len()];
    for f in flows {
        let fams = cloud::families(f).len();
        for zone in [&f.to_end.zone, &f.from_end.zone] {
            if let Some(&i) = index.get(&**zone) {
                count[i] += fams;
            }
        }
    }
    if let Some((z, n)) = zones.iter().zip(count).find(|(_, n)| *n > MAX_RULES) {
        bail!(
            "{}: zone `{}` needs {} NSG rules, more than Azure's {}; split the zone into \
             smaller subnets",
            topo.file.name,
            z.name,
            crate::diag::thousands(n),
            crate::diag::thousands(MAX_RULES)
        );
    }
    Ok(())
}

/// An NSG's rules in their order: the flows' inbound rules, the load balancer's probes and
/// the inbound deny, then the outbound rules and the outbound deny.
fn with_fixed_rules(nsg: Nsg) -> Vec<Value> {
    let mut rules = nsg.inbound;
    rules.push(fixed(
        "allow-azure-load-balancer-in",
        "Inbound",
        "Allow",
        LB_PRIORITY,
        "AzureLoadBalancer",
        "Azure load balancer health probes (the built-in rule 65001 is below the deny)",
    ));
    rules.push(fixed(
        "deny-all-in",
        "Inbound",
        "Deny",
        DENY_PRIORITY,
        "*",
        "Everything not allowed above (overrides the built-in AllowVnetInBound)",
    ));
    rules.extend(nsg.outbound);
    rules.push(fixed(
        "deny-all-out",
        "Outbound",
        "Deny",
        DENY_PRIORITY,
        "*",
        "Everything not allowed above (overrides AllowVnetOutBound and AllowInternetOutBound)",
    ));
    rules
}

/// The network security group resource of `zone`, tagged with the topology and zone.
fn nsg_resource(topo: &Topology, nsg_name: &str, zone: &str, rules: Vec<Value>) -> Value {
    let mut tags = Map::new();
    tags.insert("ctxfw-topology".into(), json!(topo.name));
    tags.insert("ctxfw-zone".into(), json!(zone));
    if let Some(d) = &topo.zones[zone].description {
        tags.insert("description".into(), json!(arm_text(d, MAX_TAG_VALUE)));
    }
    json!({
        "type": "Microsoft.Network/networkSecurityGroups",
        "apiVersion": API_VERSION,
        "name": nsg_name,
        "location": "[parameters('location')]",
        "tags": tags,
        "properties": { "securityRules": rules },
    })
}

/// ctxfw's own checks on one NSG's rules: names, priorities (range, unique per direction),
/// protocol and direction enums (their count is checked before they are built).
fn check(topo: &Topology, zone: &str, rules: &[Value]) -> Result<()> {
    let file = &topo.file.name;
    debug_assert!(rules.len() <= MAX_RULES, "counted in `template`");
    let mut names = std::collections::BTreeSet::new();
    let mut prios = std::collections::BTreeSet::new();
    for r in rules {
        let n = r["name"].as_str().unwrap_or_default();
        let p = &r["properties"];
        let prio = p["priority"].as_u64().unwrap_or(0);
        let dir = p["direction"].as_str().unwrap_or_default();
        if !valid_name(n) {
            bail!("{file}: zone `{zone}`: invalid NSG rule name `{n}`");
        }
        if !names.insert(n.to_string()) {
            bail!(
                "{file}: zone `{zone}`: two NSG rules are named `{n}`; component or interface \
                 names that differ only in `.`/`-` collide, rename one"
            );
        }
        let fixed_rule = n.starts_with("deny-all") || n.starts_with("allow-azure");
        if !fixed_rule && !(u64::from(FIRST_PRIORITY)..u64::from(LB_PRIORITY)).contains(&prio) {
            bail!(
                "{file}: zone `{zone}` needs more {dir} rules than Azure's priorities 100-4094 \
                 hold; split the zone into smaller subnets"
            );
        }
        if !prios.insert((dir.to_string(), prio)) {
            bail!("{file}: internal error: zone `{zone}`: priority {prio} {dir} used twice");
        }
        if !["Inbound", "Outbound"].contains(&dir) {
            bail!("{file}: internal error: direction {dir}");
        }
        let proto = p["protocol"].as_str().unwrap_or_default();
        if !PROTOCOLS.contains(&proto) {
            bail!("{file}: internal error: protocol {proto}");
        }
        if p["description"]
            .as_str()
            .unwrap_or_default()
            .chars()
            .count()
            > MAX_DESCRIPTION
        {
            bail!("{file}: internal error: description too long in `{n}`");
        }
    }
    Ok(())
}

pub fn render(ctx: &Ctx<'_>) -> Result<Vec<OutFile>> {
    let (t, r) = (&ctx.loaded.topology, &ctx.loaded.resolution);
    let tpl = template(t, &r.flows)?;
    ctx.write(&format!("{}.azure.json", t.name), |w| {
        super::write_json_doc(w, &tpl)
    })?;
    Ok(Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_arm_expressions() {
        assert_eq!(arm_literal("[concat('a')]"), "[[concat('a')]");
        assert_eq!(arm_literal("[a] b"), "[a] b");
        assert_eq!(arm_literal("plain"), "plain");
    }

    #[test]
    fn arm_text_fits_its_limit_escaped() {
        let full = format!("[{}]", "x".repeat(254));
        let t = arm_text(&full, 256);
        assert_eq!(t.chars().count(), 255, "{t}");
        assert!(t.starts_with("[x") && t.ends_with("..."), "{t}");
        assert_eq!(arm_text("[a]", 256), "[[a]");
        assert_eq!(arm_text("[ab]", 4), "...");
        assert_eq!(arm_text("plain", 256), "plain");
    }

    #[test]
    fn names_follow_azure_rules() {
        assert!(valid_name("in-a.b-to-c-tcp"));
        assert!(!valid_name("in-a-"));
        assert!(valid_name(&name(&"x".repeat(200))));
        assert!(valid_name(&name("in-a-")));
    }
}

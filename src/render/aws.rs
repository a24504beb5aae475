//! AWS: a CloudFormation template with one security group per component in an `aws` zone.
//!
//! - Ingress: a rule per source and port range. A source in AWS is referenced by its group
//!   (`SourceSecurityGroupId`), anything else by its networks (`CidrIp` / `CidrIpv6`).
//! - Egress: the same for what the component initiates. Every group has inline egress rules,
//!   which replaces CloudFormation's default allow-all; a group that initiates nothing gets
//!   one rule to 127.0.0.1/32 (the usual way to say "no egress", loopback never leaves an ENI).
//! - Rules that reference a group are separate `AWS::EC2::SecurityGroupIngress/Egress`
//!   resources, so groups that reference each other (or themselves) have no circular
//!   dependency; CIDR rules stay inline.
//! - Quota: at most 60 inbound and 60 outbound rules per group (the default). A component that
//!   needs more gets extra groups (`<Group>Part2`, ...) holding the next 60; attach all of a
//!   component's groups to its instances. Peers reference a component's first group.
//! - Descriptions: AWS allows at most 255 characters of `a-zA-Z0-9. _-:/()#,@[]+=&;{}!$*`;
//!   other characters are replaced (see [`sanitize`]) and long text is cut with `...`.

use std::collections::{BTreeMap, HashMap};

use anyhow::{bail, Result};
use serde_json::{json, Map, Value};

use crate::flow::{Flow, PortSet, Protocol};
use crate::generate::Ctx;
use crate::output::OutFile;
use crate::topology::{Location, Topology};

use super::cloud::{self, Family};

/// Default VPC security group quota, per direction.
pub const MAX_RULES: usize = 60;
/// CloudFormation: resources per template.
pub const MAX_RESOURCES: usize = 500;
/// Group and rule descriptions.
pub const MAX_DESCRIPTION: usize = 255;

/// Characters AWS accepts in security group and rule descriptions (besides letters and digits).
const ALLOWED_PUNCT: &str = ". _-:/()#,@[]+=&;{}!$*";

/// AWS's description charset: letters and digits (ASCII), space and `._-:/()#,@[]+=&;{}!$*`.
/// Quotes and backticks are dropped, `<`/`>` become `(`/`)`, every other character (other
/// punctuation, line breaks, non-ASCII letters) becomes a space; runs of spaces collapse.
/// `${` becomes `$ {` (cfn-lint reads it as a `Fn::Sub` variable outside `Fn::Sub`). Then at
/// most 255 characters.
pub fn sanitize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let c = match c {
            c if c.is_ascii_alphanumeric() || ALLOWED_PUNCT.contains(c) => c,
            '\'' | '"' | '`' | '\u{2018}' | '\u{2019}' | '\u{201C}' | '\u{201D}' => continue,
            '<' => '(',
            '>' => ')',
            _ => ' ',
        };
        if c == ' ' && (out.is_empty() || out.ends_with(' ')) {
            continue;
        }
        out.push(c);
    }
    cloud::truncate(&out.trim_end().replace("${", "$ {"), MAX_DESCRIPTION)
}

/// Whether AWS would accept `s` as a description; checked on every description written.
pub fn valid_description(s: &str) -> bool {
    s.chars().count() <= MAX_DESCRIPTION
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || ALLOWED_PUNCT.contains(c))
}

/// A CloudFormation logical id: ASCII letters and digits only. `vda-pool_2` -> `VdaPool2`.
fn logical(name: &str) -> String {
    let mut out = String::new();
    let mut up = true;
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            if up {
                out.push(c.to_ascii_uppercase());
            } else {
                out.push(c);
            }
            up = false;
        } else {
            up = true;
        }
    }
    out
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Peer {
    /// A component in AWS: its first security group.
    Group(String),
    Cidr(Family, String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Dir {
    In,
    Out,
}

/// One rule before placement: which component's group, direction, peer, protocol, ports.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    comp: String,
    dir: Dir,
    peer: Peer,
    proto: &'static str,
    /// `None`: the protocol has no ports (ICMP: all types; ESP, AH, GRE).
    ports: Option<(i32, i32)>,
}

/// AWS `IpProtocol`: names for TCP, UDP, ICMP, ICMPv6; IANA numbers for the rest.
fn proto(topo: &Topology, f: &Flow) -> Result<&'static str> {
    Ok(match f.protocol {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
        Protocol::Icmp => "icmp",
        Protocol::Icmpv6 => "icmpv6",
        Protocol::Esp => "50",
        Protocol::Ah => "51",
        Protocol::Gre => "47",
        Protocol::Sctp => bail!(
            "{}: flow {} is SCTP on ports {}; AWS security groups cannot restrict SCTP ports \
             (a rule for protocol 132 allows every port). Remove the flow for this target or \
             filter SCTP elsewhere",
            topo.file.name,
            f.id,
            f.ports
        ),
    })
}

/// Port ranges of a flow as AWS `FromPort`/`ToPort` pairs, each with its description;
/// ICMP is all types (-1/-1).
fn port_pairs(f: &Flow) -> Vec<(Option<(i32, i32)>, String)> {
    match f.protocol {
        Protocol::Tcp | Protocol::Udp => f
            .ports
            .ranges()
            .iter()
            .map(|r| {
                (
                    Some((i32::from(r.lo), i32::from(r.hi))),
                    cloud::describe_range(f, r),
                )
            })
            .collect(),
        Protocol::Icmp | Protocol::Icmpv6 => vec![(Some((-1, -1)), cloud::describe(f))],
        _ => vec![(None, cloud::describe(f))],
    }
}

/// Rules of every component in AWS, keyed so that equal rules (two interfaces of one
/// component, say) become one; the value collects the descriptions.
fn rules(topo: &Topology, flows: &[Flow]) -> Result<BTreeMap<Key, Vec<String>>> {
    let mut out: BTreeMap<Key, Vec<String>> = BTreeMap::new();
    for f in flows {
        let from_in = cloud::in_cloud(topo, &f.from_end.zone, Location::Aws);
        let to_in = cloud::in_cloud(topo, &f.to_end.zone, Location::Aws);
        if !from_in && !to_in {
            continue;
        }
        let p = proto(topo, f)?;
        let peers = |in_aws: bool, comp: &str, addrs: &[ipnet::IpNet]| -> Vec<Peer> {
            if in_aws {
                return vec![Peer::Group(comp.to_string())];
            }
            cloud::families(f)
                .into_iter()
                .flat_map(|fam| {
                    cloud::nets(addrs, fam)
                        .into_iter()
                        .map(move |n| Peer::Cidr(fam, n))
                })
                .collect()
        };
        let mut add = |comp: &str, dir: Dir, peer_list: Vec<Peer>| {
            for peer in peer_list {
                for (ports, desc) in port_pairs(f) {
                    let key = Key {
                        comp: comp.to_string(),
                        dir,
                        peer: peer.clone(),
                        proto: p,
                        ports,
                    };
                    let d = out.entry(key).or_default();
                    if !d.contains(&desc) {
                        d.push(desc);
                    }
                }
            }
        };
        if to_in {
            add(
                &f.to,
                Dir::In,
                peers(from_in, &f.from, &f.from_end.addresses),
            );
        }
        if from_in {
            add(&f.from, Dir::Out, peers(to_in, &f.to, &f.to_end.addresses));
        }
    }
    Ok(out)
}

/// The logical ids of a component's groups: `SgVdas`, `SgVdasPart2`, ...
fn group_id(comp: &str, part: usize) -> String {
    if part == 0 {
        format!("Sg{}", logical(comp))
    } else {
        format!("Sg{}Part{}", logical(comp), part + 1)
    }
}

fn getatt(id: &str) -> Value {
    json!({ "Fn::GetAtt": [id, "GroupId"] })
}

/// The rule's JSON body (without `GroupId`): protocol, ports, peer, description.
fn rule_body(key: &Key, descs: &[String]) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("IpProtocol".into(), json!(key.proto));
    if let Some((lo, hi)) = key.ports {
        m.insert("FromPort".into(), json!(lo));
        m.insert("ToPort".into(), json!(hi));
    }
    match (&key.peer, key.dir) {
        (Peer::Group(g), Dir::In) => {
            m.insert("SourceSecurityGroupId".into(), getatt(&group_id(g, 0)));
        }
        (Peer::Group(g), Dir::Out) => {
            m.insert("DestinationSecurityGroupId".into(), getatt(&group_id(g, 0)));
        }
        (Peer::Cidr(Family::V4, n), _) => {
            m.insert("CidrIp".into(), json!(n));
        }
        (Peer::Cidr(Family::V6, n), _) => {
            m.insert("CidrIpv6".into(), json!(n));
        }
    }
    m.insert("Description".into(), json!(sanitize(&descs.join(" / "))));
    m
}

fn ports_tag(key: &Key) -> String {
    match key.ports {
        Some((-1, -1)) | None => String::new(),
        Some((lo, hi)) if lo == hi => lo.to_string(),
        Some((lo, hi)) => format!("{lo}to{hi}"),
    }
}

/// One rule of a component: its key and the flow ids behind it.
type RuleRef<'a> = (&'a Key, &'a Vec<String>);

/// The CloudFormation template as a JSON value. Its resources are counted before it is built:
/// a topology far over CloudFormation's limit is refused at once, not after gigabytes of JSON.
pub fn template(topo: &Topology, flows: &[Flow]) -> Result<Value> {
    let all = aws_rules(topo, flows)?;
    let n = resource_count(topo, &all);
    if n > MAX_RESOURCES {
        bail!(
            "{}: the AWS template needs {} resources, more than CloudFormation's {MAX_RESOURCES}; \
             split the topology (one file per VPC or application tier)",
            topo.file.name,
            crate::diag::thousands(n)
        );
    }
    build(topo, &all)
}

/// The template without CloudFormation's limit on resources (a Terraform configuration has
/// none): the groups and rules, with AWS's own quotas.
pub fn groups(topo: &Topology, flows: &[Flow]) -> Result<Value> {
    build(topo, &aws_rules(topo, flows)?)
}

/// The rules of the components in aws, once the topology is known to have aws zones.
fn aws_rules(topo: &Topology, flows: &[Flow]) -> Result<BTreeMap<Key, Vec<String>>> {
    cloud::zones(topo, Location::Aws, "aws")?;
    rules(topo, flows)
}

/// Each component's rules by direction, in rule order (a filter of all rules per component
/// would be quadratic in the flows).
fn by_component(all: &BTreeMap<Key, Vec<String>>) -> HashMap<(&str, Dir), Vec<RuleRef<'_>>> {
    let mut by_comp: HashMap<(&str, Dir), Vec<RuleRef>> = HashMap::new();
    for (k, d) in all {
        by_comp
            .entry((k.comp.as_str(), k.dir))
            .or_default()
            .push((k, d));
    }
    by_comp
}

/// How many groups a component needs for its ingress and egress rules. Egress keeps one slot
/// free for the placeholder rule (in `build`) that a group whose egress rules are all separate
/// resources needs.
fn parts(ins: usize, outs: usize) -> usize {
    ins.div_ceil(MAX_RULES)
        .max(outs.div_ceil(MAX_RULES - 1))
        .max(1)
}

/// The resources `build` makes: each component's groups and its rules between groups (which
/// are resources of their own).
fn resource_count(topo: &Topology, all: &BTreeMap<Key, Vec<String>>) -> usize {
    let by_comp = by_component(all);
    let mine = |comp: &str, dir: Dir| by_comp.get(&(comp, dir)).map_or(0, Vec::len);
    let groups: usize = cloud::components(topo, Location::Aws)
        .iter()
        .map(|comp| parts(mine(comp, Dir::In), mine(comp, Dir::Out)))
        .sum();
    groups
        + all
            .keys()
            .filter(|k| matches!(k.peer, Peer::Group(_)))
            .count()
}

/// The template from the rules: groups, their rules and outputs.
fn build(topo: &Topology, all: &BTreeMap<Key, Vec<String>>) -> Result<Value> {
    let comps = cloud::components(topo, Location::Aws);
    let mut resources = Map::new();
    let mut outputs = Map::new();
    let mut ids: Vec<(String, String)> = Vec::new();
    let by_comp = by_component(all);
    for comp in &comps {
        let c = &topo.components[*comp];
        let mine = |dir: Dir| by_comp.get(&(*comp, dir)).map_or(&[][..], Vec::as_slice);
        let (ins, outs) = (mine(Dir::In), mine(Dir::Out));
        let out_max = MAX_RULES - 1;
        let parts = parts(ins.len(), outs.len());
        for part in 0..parts {
            let gid = group_id(comp, part);
            ids.push((gid.clone(), format!("component `{comp}`")));
            let chunk = |v: &[(&Key, &Vec<String>)], n: usize| -> Vec<(Key, Vec<String>)> {
                v.iter()
                    .skip(part * n)
                    .take(n)
                    .map(|(k, d)| ((*k).clone(), (*d).clone()))
                    .collect()
            };
            let (cin, cout) = (chunk(ins, MAX_RULES), chunk(outs, out_max));
            let mut separate: Vec<(String, Value)> = Vec::new();
            let mut inline_in = Vec::new();
            let mut inline_out = Vec::new();
            for (dir, list) in [(Dir::In, &cin), (Dir::Out, &cout)] {
                for (k, d) in list.iter() {
                    let body = rule_body(k, d);
                    match &k.peer {
                        Peer::Cidr(..) => {
                            if dir == Dir::In {
                                inline_in.push(Value::Object(body));
                            } else {
                                inline_out.push(Value::Object(body));
                            }
                        }
                        Peer::Group(g) => {
                            let (ty, word) = match dir {
                                Dir::In => ("AWS::EC2::SecurityGroupIngress", "From"),
                                Dir::Out => ("AWS::EC2::SecurityGroupEgress", "To"),
                            };
                            let rid = format!(
                                "{gid}{}{word}{}{}{}",
                                if dir == Dir::In { "In" } else { "Out" },
                                logical(g),
                                logical(k.proto),
                                ports_tag(k)
                            );
                            let mut props = Map::new();
                            props.insert("GroupId".into(), getatt(&gid));
                            props.extend(body);
                            ids.push((rid.clone(), format!("a rule of `{comp}`")));
                            separate.push((rid, json!({ "Type": ty, "Properties": props })));
                        }
                    }
                }
            }
            let has_egress = !cout.is_empty();
            if inline_out.is_empty() {
                // Without an inline egress rule CloudFormation keeps the allow-all default.
                inline_out.push(json!({
                    "IpProtocol": "-1",
                    "CidrIp": "127.0.0.1/32",
                    "Description": if has_egress {
                        "Replaces the default allow-all egress; the rules of this group are separate resources"
                    } else {
                        "No egress from this group: replaces the default allow-all egress rule"
                    }
                }));
            }
            let kinds = c.kinds.join(", ");
            let mut desc = format!("ctxfw {} {comp} ({kinds})", topo.name);
            if parts > 1 {
                desc.push_str(&format!(" part {} of {parts}", part + 1));
            }
            if let Some(d) = &c.description {
                desc.push_str(": ");
                desc.push_str(d);
            }
            let name = if part == 0 {
                format!("{}-{comp}", topo.name)
            } else {
                format!("{}-{comp}-part{}", topo.name, part + 1)
            };
            let mut props = Map::new();
            props.insert("GroupDescription".into(), json!(sanitize(&desc)));
            props.insert("VpcId".into(), json!({ "Ref": "VpcId" }));
            props.insert("SecurityGroupIngress".into(), Value::Array(inline_in));
            props.insert("SecurityGroupEgress".into(), Value::Array(inline_out));
            props.insert(
                "Tags".into(),
                json!([{ "Key": "Name", "Value": name }, { "Key": "ctxfw:component", "Value": comp }]),
            );
            resources.insert(
                gid.clone(),
                json!({ "Type": "AWS::EC2::SecurityGroup", "Properties": props }),
            );
            resources.extend(separate);
            outputs.insert(
                format!("{gid}Id"),
                json!({
                    "Description": sanitize(&format!("Security group {name}: attach to the instances of {comp}")),
                    "Value": getatt(&gid),
                }),
            );
        }
    }
    cloud::check_unique(
        topo,
        "CloudFormation logical id",
        ids.iter().map(|(a, b)| (a.as_str(), b.as_str())),
    )?;
    check(topo, &resources)?;
    Ok(json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": cloud::truncate(
            &sanitize(&format!("ctxfw security groups for {}: {}", topo.name, topo.description)),
            1024
        ),
        "Parameters": {
            "VpcId": {
                "Type": "AWS::EC2::VPC::Id",
                "Description": "The VPC that holds the aws zones of this topology"
            }
        },
        "Resources": resources,
        "Outputs": outputs,
    }))
}

/// ctxfw's own value checks (cfn-lint checks structure, not these): ports, protocol,
/// descriptions, quota.
fn check(topo: &Topology, resources: &Map<String, Value>) -> Result<()> {
    let rule_ok = |r: &Value| -> Result<()> {
        let p = r["IpProtocol"].as_str().unwrap_or_default();
        if !["tcp", "udp", "icmp", "icmpv6", "-1", "47", "50", "51"].contains(&p) {
            bail!("{}: internal error: IpProtocol {p}", topo.file.name);
        }
        if let (Some(lo), Some(hi)) = (r["FromPort"].as_i64(), r["ToPort"].as_i64()) {
            let ok = if p == "tcp" || p == "udp" {
                (1..=65535).contains(&lo) && lo <= hi && hi <= 65535
            } else {
                lo == -1 && hi == -1
            };
            if !ok {
                bail!(
                    "{}: internal error: ports {lo}-{hi} for {p}",
                    topo.file.name
                );
            }
        }
        let d = r["Description"].as_str().unwrap_or_default();
        if !valid_description(d) {
            bail!("{}: internal error: description {d:?}", topo.file.name);
        }
        Ok(())
    };
    for r in resources.values() {
        let props = &r["Properties"];
        match r["Type"].as_str() {
            Some("AWS::EC2::SecurityGroup") => {
                let d = props["GroupDescription"].as_str().unwrap_or_default();
                if !valid_description(d) {
                    bail!("{}: internal error: description {d:?}", topo.file.name);
                }
                for k in ["SecurityGroupIngress", "SecurityGroupEgress"] {
                    for rule in props[k].as_array().into_iter().flatten() {
                        rule_ok(rule)?;
                    }
                }
            }
            _ => rule_ok(props)?,
        }
    }
    Ok(())
}

/// Where two internet rules meet inside AWS: `from`'s egress to the internet and `to`'s
/// ingress from it share a protocol and ports that no flow from `from` to `to` has. Security
/// groups cannot leave the zones' networks out of `0.0.0.0/0`, so they let `from` connect to
/// `to` on those ports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exposure {
    pub from: String,
    pub to: String,
    pub family: Family,
    pub protocol: Protocol,
    /// Empty for a protocol without ports.
    pub ports: PortSet,
}

/// Every [`Exposure`] of the topology's AWS components, in flow order.
pub fn exposures(topo: &Topology, flows: &[Flow]) -> Vec<Exposure> {
    let internal = crate::plan::Internal::of(topo);
    let wide = |addrs: &[ipnet::IpNet], fam: Family| {
        !internal.nets(fam == Family::V6).is_empty()
            && addrs
                .iter()
                .any(|n| n.prefix_len() == 0 && Family::of(n) == fam)
    };
    // Internet egress and ingress per component, family and protocol: ports.
    type Side = indexmap::IndexMap<(String, Family, Protocol), PortSet>;
    let (mut out, mut inb): (Side, Side) = (Side::new(), Side::new());
    let add = |side: &mut Side, comp: &str, fam: Family, f: &Flow| {
        side.entry((comp.to_string(), fam, f.protocol))
            .and_modify(|p| *p = p.union(&f.ports))
            .or_insert_with(|| f.ports.clone());
    };
    // What the flows between two components allow anyway, per protocol.
    let mut flowed: crate::HashMap<(&str, &str, Protocol), PortSet> = crate::HashMap::default();
    for f in flows {
        flowed
            .entry((&*f.from, &*f.to, f.protocol))
            .and_modify(|p| *p = p.union(&f.ports))
            .or_insert_with(|| f.ports.clone());
        for fam in cloud::families(f) {
            if cloud::in_cloud(topo, &f.from_end.zone, Location::Aws)
                && wide(&f.to_end.addresses, fam)
            {
                add(&mut out, &f.from, fam, f);
            }
            if cloud::in_cloud(topo, &f.to_end.zone, Location::Aws)
                && wide(&f.from_end.addresses, fam)
            {
                add(&mut inb, &f.to, fam, f);
            }
        }
    }
    let mut inb_by: indexmap::IndexMap<(Family, Protocol), Vec<(&str, &PortSet)>> =
        indexmap::IndexMap::new();
    for ((b, fam, proto), pb) in &inb {
        inb_by.entry((*fam, *proto)).or_default().push((b, pb));
    }
    let mut found = Vec::new();
    for ((a, fam, proto), pa) in &out {
        for &(b, pb) in inb_by.get(&(*fam, *proto)).into_iter().flatten() {
            // What both allow, less what the flows from `a` to `b` allow anyway.
            let meet = pa.minus(&pa.minus(pb));
            let anyway = flowed.get(&(a.as_str(), b, *proto));
            let meet = match anyway {
                Some(p) => meet.minus(p),
                None => meet,
            };
            let open = if proto.has_ports() {
                !meet.is_empty()
            } else {
                anyway.is_none()
            };
            if open {
                found.push(Exposure {
                    from: a.clone(),
                    to: b.to_string(),
                    family: *fam,
                    protocol: *proto,
                    ports: meet,
                });
            }
        }
    }
    found
}

/// Warn about [`exposures`], one warning per source and port set (a source reaching every
/// site's gateway is one warning, not one per gateway); the Terraform target says the same.
pub fn warn_exposures(ctx: &Ctx<'_>) {
    let (t, r) = (&ctx.loaded.topology, &ctx.loaded.resolution);
    let mut groups: indexmap::IndexMap<(String, Family, Protocol, PortSet), Vec<String>> =
        indexmap::IndexMap::new();
    for e in exposures(t, &r.flows) {
        groups
            .entry((e.from, e.family, e.protocol, e.ports))
            .or_default()
            .push(e.to);
    }
    const NAMED: usize = 5;
    for ((from, family, protocol, ports), to) in groups {
        let what = if ports.is_empty() {
            protocol.to_string()
        } else {
            format!("{protocol}/{ports}")
        };
        let all = if family == Family::V6 {
            "::/0"
        } else {
            "0.0.0.0/0"
        };
        let named: Vec<String> = to.iter().take(NAMED).map(|b| format!("`{b}`")).collect();
        let (whom, theirs) = match to.len() {
            1 => (named[0].clone(), "the other's allows"),
            n if n <= NAMED => (
                format!("{} and {}", named[..n - 1].join(", "), named[n - 1]),
                "theirs allow",
            ),
            n => (
                format!("{} and {} more components", named.join(", "), n - NAMED),
                "theirs allow",
            ),
        };
        ctx.warn(
            format!(
                "aws: `{from}` can connect to {whom} on {what}, which no flow allows: its security group allows {what} out to the internet ({all}) and {theirs} it in from the internet"
            ),
            "AWS security groups cannot leave the zones' networks out of the internet; close it with a network ACL between their subnets or AWS Network Firewall (docs/cloud.md, \"The internet in security groups\")",
        );
    }
}

pub fn render(ctx: &Ctx<'_>) -> Result<Vec<OutFile>> {
    let (t, r) = (&ctx.loaded.topology, &ctx.loaded.resolution);
    // A template over CloudFormation's limits is refused before any warning is worked out.
    let tpl = template(t, &r.flows)?;
    warn_exposures(ctx);
    cloud::warn_shared(ctx, Location::Aws, "security group");
    ctx.write(&format!("{}.aws.json", t.name), |w| {
        super::write_json_doc(w, &tpl)
    })?;
    Ok(Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitizes_to_the_aws_charset() {
        assert_eq!(
            sanitize("Bob's \"portal\" <x>\nnext\\line ü ok: [a] {b} $c"),
            "Bobs portal (x) next line ok: [a] {b} $c"
        );
        assert_eq!(sanitize("${AWS::Region} $x"), "$ {AWS::Region} $x");
        assert!(valid_description(&sanitize(&"é".repeat(400))));
        assert_eq!(sanitize(&"a".repeat(300)).chars().count(), 255);
    }

    #[test]
    fn logical_ids_are_alphanumeric() {
        assert_eq!(logical("vda-pool_2"), "VdaPool2");
        assert_eq!(logical("ddc"), "Ddc");
    }
}

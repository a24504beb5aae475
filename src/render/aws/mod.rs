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

use crate::flow::{Flow, Protocol};
use crate::generate::Ctx;
use crate::output::OutFile;
use crate::topology::{Location, Topology};

use super::cloud::{self, Family};

mod cfn;
mod exposure;
mod model;

pub use exposure::{exposures, warn_exposures, Exposure};
use model::build;
pub use model::Template;
pub(crate) use model::{Group, Rule};

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
pub(crate) enum Peer {
    /// A component in AWS: its first security group.
    Group(String),
    Cidr(Family, String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Dir {
    In,
    Out,
}

/// One rule before placement: which component's group, direction, peer, protocol, ports.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Key {
    comp: String,
    pub(crate) dir: Dir,
    pub(crate) peer: Peer,
    pub(crate) proto: &'static str,
    /// `None`: the protocol has no ports (ICMP: all types; ESP, AH, GRE).
    pub(crate) ports: Option<(i32, i32)>,
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
pub(crate) fn group_id(comp: &str, part: usize) -> String {
    if part == 0 {
        format!("Sg{}", logical(comp))
    } else {
        format!("Sg{}Part{}", logical(comp), part + 1)
    }
}

fn ports_tag(key: &Key) -> String {
    match key.ports {
        Some((-1, -1)) | None => String::new(),
        Some((lo, hi)) if lo == hi => lo.to_string(),
        Some((lo, hi)) => format!("{lo}to{hi}"),
    }
}

/// One rule of a component: its key and the descriptions of the flows behind it.
type RuleRef<'a> = (&'a Key, &'a Vec<String>);

/// The CloudFormation template. Its resources are counted before it is built: a topology far
/// over CloudFormation's limit is refused at once, not after gigabytes of JSON.
pub fn template(topo: &Topology, flows: &[Flow]) -> Result<Template> {
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
pub fn groups(topo: &Topology, flows: &[Flow]) -> Result<Template> {
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
/// free for the placeholder rule (written with the template, cfn.rs) that a group whose egress
/// rules are all separate resources needs.
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

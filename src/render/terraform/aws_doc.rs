//! The AWS document: the aws target's groups and rules as Terraform resources.

use anyhow::Result;
use serde::Serialize;
use serde_json::{json, Value};

use super::{ident, literal};
use crate::render::{aws, cloud};
use crate::topology::Topology;

/// A Terraform reference to the id of the security group with logical id `id`.
fn group_ref(id: &str) -> String {
    format!("${{aws_security_group.{id}.id}}")
}

/// The name of a rule the template keeps inline in group `gid`: its direction, network,
/// protocol and ports (the template's other rules have logical ids of their own).
fn inline_name(gid: &str, dir: aws::Dir, r: &aws::Rule) -> String {
    let net = match &r.key.peer {
        aws::Peer::Cidr(_, n) => n.as_str(),
        aws::Peer::Group(_) => "",
    };
    let net: String = net
        .chars()
        .map(|c| match c {
            '/' => '-',
            c if c.is_ascii_alphanumeric() => c,
            _ => '_',
        })
        .collect();
    let way = match dir {
        aws::Dir::In => "in",
        aws::Dir::Out => "out",
    };
    let mut name = format!("{gid}-{way}-{net}-{}", r.key.proto);
    match r.key.ports {
        Some((lo, hi)) if lo == hi && lo >= 0 => name.push_str(&format!("-{lo}")),
        Some((lo, hi)) if lo >= 0 => name.push_str(&format!("-{lo}-{hi}")),
        _ => {}
    }
    ident(&name)
}

const AWS_RULE_TYPES: [(aws::Dir, &str); 2] = [
    (aws::Dir::In, "aws_vpc_security_group_ingress_rule"),
    (aws::Dir::Out, "aws_vpc_security_group_egress_rule"),
];

/// The rule resources of one direction, group by group: (name, whether the template has it
/// inline, group, rule). A separate rule's name is its logical id, an inline rule's
/// [`inline_name`]. The template's placeholder egress rule is not in the model: the provider
/// removes the default allow-all egress rule of a group it creates.
fn rule_resources(
    tpl: &aws::Template,
    dir: aws::Dir,
) -> impl Iterator<Item = (String, bool, &aws::Group, &aws::Rule)> {
    tpl.groups.iter().flat_map(move |g| {
        g.rules(dir).map(move |(id, r)| match id {
            Some(id) => (id.to_string(), false, g, r),
            None => (inline_name(&g.id, dir, r), true, g, r),
        })
    })
}

/// The AWS document from the template [`aws::groups`] builds (the aws target's, without
/// CloudFormation's limit on resources), written as it is serialised. Resource names are
/// checked unique first.
pub fn aws_doc<'a>(topo: &Topology, tpl: &'a aws::Template) -> Result<impl Serialize + 'a> {
    let mut names: Vec<(String, String)> = tpl
        .groups
        .iter()
        .map(|g| {
            (
                format!("aws_security_group.{}", g.id),
                format!("security group {}", g.id),
            )
        })
        .collect();
    for (dir, ty) in AWS_RULE_TYPES {
        names.extend(rule_resources(tpl, dir).map(|(name, inline, g, _)| {
            let origin = if inline {
                format!("a rule of {}", g.id)
            } else {
                format!("rule {name}")
            };
            (format!("{ty}.{name}"), origin)
        }));
    }
    cloud::check_unique(
        topo,
        "Terraform resource",
        names.iter().map(|(a, b)| (a.as_str(), b.as_str())),
    )?;
    Ok(AwsDoc {
        comment: &tpl.description,
        variable: json!({
            "aws_vpc_id": {
                "type": "string",
                "description": "The VPC that holds the aws zones of this topology"
            }
        }),
        resource: AwsResources(tpl),
        output: (!tpl.groups.is_empty()).then_some(AwsOutputs(tpl)),
    })
}

#[derive(Serialize)]
struct AwsDoc<'a> {
    #[serde(rename = "//")]
    comment: &'a str,
    variable: Value,
    resource: AwsResources<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    output: Option<AwsOutputs<'a>>,
}

/// The groups, then the ingress rules, then the egress rules; a type without resources is
/// left out.
struct AwsResources<'a>(&'a aws::Template);

impl Serialize for AwsResources<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let tpl = self.0;
        let mut m = s.serialize_map(None)?;
        if !tpl.groups.is_empty() {
            m.serialize_entry("aws_security_group", &AwsGroups(tpl))?;
        }
        for (dir, ty) in AWS_RULE_TYPES {
            if tpl.groups.iter().any(|g| g.rules(dir).next().is_some()) {
                m.serialize_entry(ty, &AwsRules(tpl, dir))?;
            }
        }
        m.end()
    }
}

struct AwsGroups<'a>(&'a aws::Template);

impl Serialize for AwsGroups<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Group {
            description: String,
            vpc_id: &'static str,
            tags: Tags,
        }
        #[derive(Serialize)]
        struct Tags {
            #[serde(rename = "Name")]
            name: String,
            #[serde(rename = "ctxfw:component")]
            component: String,
        }
        s.collect_map(self.0.groups.iter().map(|g| {
            (
                &g.id,
                Group {
                    description: literal(&g.description),
                    vpc_id: "${var.aws_vpc_id}",
                    tags: Tags {
                        name: literal(&g.name),
                        component: literal(&g.comp),
                    },
                },
            )
        }))
    }
}

struct AwsRules<'a>(&'a aws::Template, aws::Dir);

impl Serialize for AwsRules<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        /// A security group rule resource; its peer is a network or a group.
        #[derive(Serialize)]
        struct Rule<'a> {
            security_group_id: String,
            description: String,
            ip_protocol: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            from_port: Option<i32>,
            #[serde(skip_serializing_if = "Option::is_none")]
            to_port: Option<i32>,
            #[serde(skip_serializing_if = "Option::is_none")]
            cidr_ipv4: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            cidr_ipv6: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            referenced_security_group_id: Option<String>,
        }
        s.collect_map(rule_resources(self.0, self.1).map(|(name, _, g, r)| {
            let k = &r.key;
            let mut rule = Rule {
                security_group_id: group_ref(&g.id),
                description: literal(&r.description),
                ip_protocol: k.proto,
                from_port: k.ports.map(|p| p.0),
                to_port: k.ports.map(|p| p.1),
                cidr_ipv4: None,
                cidr_ipv6: None,
                referenced_security_group_id: None,
            };
            match &k.peer {
                aws::Peer::Cidr(cloud::Family::V4, n) => rule.cidr_ipv4 = Some(n),
                aws::Peer::Cidr(cloud::Family::V6, n) => rule.cidr_ipv6 = Some(n),
                aws::Peer::Group(c) => {
                    rule.referenced_security_group_id = Some(group_ref(&aws::group_id(c, 0)))
                }
            }
            (name, rule)
        }))
    }
}

/// Each group's id, `<group>Id`, as the template's outputs have it.
struct AwsOutputs<'a>(&'a aws::Template);

impl Serialize for AwsOutputs<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Output {
            description: String,
            value: String,
        }
        s.collect_map(self.0.groups.iter().map(|g| {
            (
                format!("{}Id", g.id),
                Output {
                    description: literal(&g.output_description()),
                    value: group_ref(&g.id),
                },
            )
        }))
    }
}

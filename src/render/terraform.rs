//! Terraform: `<topology>.<cloud>.tf.json` (Terraform's JSON syntax) for each cloud that has
//! zones, mapped from the model each cloud target builds (the AWS groups behind the
//! CloudFormation template, the ARM template, the compute#firewall list), so names, priorities,
//! descriptions and quotas are theirs. AWS's and GCP's documents are written as they are
//! serialised, never held whole.
//!
//! - AWS: an `aws_security_group` per group of the template (extra parts too) and an
//!   `aws_vpc_security_group_ingress_rule` / `..._egress_rule` per rule. Resource names are the
//!   template's logical ids; a rule the template keeps inline is named
//!   `<group>-in|out-<network>-<protocol>[-<ports>]`. The template's placeholder egress rule is
//!   left out: the AWS provider removes the default allow-all egress rule of a group it creates.
//! - Azure: an `azurerm_network_security_group` per zone and an `azurerm_network_security_rule`
//!   per rule (the load-balancer and deny rules too), named `<nsg>_<rule>` (`.` as `_`).
//! - GCP: a `google_compute_firewall` per firewall, named as the firewall.
//! - What the topology cannot know is a variable: `aws_vpc_id`; `azure_resource_group_name` and
//!   `azure_location`; `gcp_network` (by default the network the gcp target names). Variable
//!   names start with the cloud, so the three files can share a directory.
//! - Text from the topology is literal: `${` and `%{` start template sequences in Terraform's
//!   JSON syntax, so they are written `$${` and `%%{`.

use std::io::Write;

use anyhow::{bail, Result};
use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::generate::{Ctx, NothingToRender};
use crate::output::OutFile;
use crate::topology::{Location, Topology};

use super::{aws, azure, cloud, gcp};

/// The clouds in the order their files are written: (location, file name part).
const CLOUDS: [(Location, &str); 3] = [
    (Location::Aws, "aws"),
    (Location::Azure, "azure"),
    (Location::Gcp, "gcp"),
];

pub fn render(ctx: &Ctx<'_>) -> Result<Vec<OutFile>> {
    let (t, r) = (&ctx.loaded.topology, &ctx.loaded.resolution);
    let clouds: Vec<(Location, &str)> = CLOUDS
        .into_iter()
        .filter(|(loc, _)| t.zones.values().any(|z| z.location == *loc))
        .collect();
    if clouds.is_empty() {
        return Err(NothingToRender(format!(
            "{}: no zone has location = \"aws\", \"azure\" or \"gcp\", so the terraform target \
             has nothing to write; set `location` on the zones that are in a cloud",
            t.file.name
        ))
        .into());
    }
    for &(loc, cloud) in &clouds {
        let name = format!("{}.{cloud}.tf.json", t.name);
        match loc {
            Location::Aws => {
                aws::warn_exposures(ctx);
                let tpl = aws::groups(t, &r.flows)?;
                let doc = aws_doc(t, &tpl)?;
                cloud::warn_shared(ctx, loc, "security group");
                write(ctx, &name, &doc)?;
            }
            Location::Azure => write(ctx, &name, &azure_doc(t, &azure::template(t, &r.flows)?)?)?,
            _ => {
                let fws = gcp::firewalls(t, &r.flows)?;
                cloud::warn_shared(ctx, loc, "network tag");
                write(ctx, &name, &gcp_doc(t, &fws))?;
            }
        }
    }
    write(
        ctx,
        &format!("{}.providers.tf.json", t.name),
        &providers(&clouds),
    )?;
    Ok(Vec::new())
}

fn write(ctx: &Ctx<'_>, name: &str, doc: &impl Serialize) -> Result<()> {
    ctx.write(name, |w| {
        let mut w = std::io::BufWriter::new(w);
        serde_json::to_writer_pretty(&mut w, doc)?;
        w.write_all(b"\n")?;
        Ok(w.flush()?)
    })
}

/// The provider requirements of the clouds written, in a file of their own: a module (the
/// directory the files are written to) may declare them only once.
fn providers(clouds: &[(Location, &str)]) -> Value {
    let mut required = Map::new();
    let mut config = Map::new();
    for (loc, _) in clouds {
        let (name, source, version) = match loc {
            Location::Aws => ("aws", "hashicorp/aws", ">= 5.0"),
            Location::Azure => ("azurerm", "hashicorp/azurerm", ">= 3.0"),
            _ => ("google", "hashicorp/google", ">= 4.0"),
        };
        required.insert(name.into(), json!({ "source": source, "version": version }));
        if *loc == Location::Azure {
            // The azurerm provider refuses to start without a `features` block.
            config.insert(name.into(), json!({ "features": {} }));
        }
    }
    let mut doc = Map::new();
    doc.insert(
        "//".into(),
        json!("ctxfw: the providers of the .tf.json files beside this one"),
    );
    doc.insert(
        "terraform".into(),
        json!({ "required_providers": required }),
    );
    if !config.is_empty() {
        doc.insert("provider".into(), Value::Object(config));
    }
    Value::Object(doc)
}

/// A string Terraform takes as written: template sequences escaped.
fn lit(s: &str) -> Value {
    Value::String(literal(s))
}

fn literal(s: &str) -> String {
    s.replace("${", "$${").replace("%{", "%%{")
}

/// The string at `v`, or an internal error (the cloud models always have it).
fn text<'a>(topo: &Topology, v: &'a Value) -> Result<&'a str> {
    match v.as_str() {
        Some(s) => Ok(s),
        None => bail!(
            "{}: internal error: expected a string in the cloud model, found {v}",
            topo.file.name
        ),
    }
}

/// A Terraform identifier: letters, digits, `_` and `-`, starting with a letter or `_`.
fn ident(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if !out.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
        out.insert(0, '_');
    }
    out
}

/// The document's frame: a comment, variables, resources (type -> name -> body), outputs;
/// resource names unique per type or an error naming both sources.
struct Doc {
    resources: Map<String, Value>,
    /// (type.name, what it stands for), for the uniqueness check.
    names: Vec<(String, String)>,
}

impl Doc {
    fn new() -> Doc {
        Doc {
            resources: Map::new(),
            names: Vec::new(),
        }
    }

    fn add(&mut self, ty: &str, name: String, origin: String, body: Value) {
        self.names.push((format!("{ty}.{name}"), origin));
        self.resources
            .entry(ty)
            .or_insert_with(|| Value::Object(Map::new()))
            .as_object_mut()
            .expect("resource types hold objects")
            .insert(name, body);
    }

    fn finish(
        self,
        topo: &Topology,
        comment: String,
        variables: Value,
        outputs: Map<String, Value>,
    ) -> Result<Value> {
        cloud::check_unique(
            topo,
            "Terraform resource",
            self.names.iter().map(|(a, b)| (a.as_str(), b.as_str())),
        )?;
        let mut doc = Map::new();
        doc.insert("//".into(), json!(comment));
        doc.insert("variable".into(), variables);
        doc.insert("resource".into(), Value::Object(self.resources));
        if !outputs.is_empty() {
            doc.insert("output".into(), Value::Object(outputs));
        }
        Ok(Value::Object(doc))
    }
}

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

/// ARM text as written: [`azure::arm_literal`] doubled a leading `[` that Terraform keeps.
fn unarm(s: &str) -> &str {
    if s.starts_with("[[") {
        &s[1..]
    } else {
        s
    }
}

/// ARM's camelCase property name in Terraform's snake_case.
fn snake(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    for c in s.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The Azure document from the ARM template [`azure::template`] builds.
pub fn azure_doc(topo: &Topology, tpl: &Value) -> Result<Value> {
    let mut doc = Doc::new();
    let mut rules = Vec::new();
    let mut nsg_ids = Vec::new();
    for nsg in tpl["resources"].as_array().into_iter().flatten() {
        let name = text(topo, &nsg["name"])?;
        let id = ident(name);
        let mut tags = Map::new();
        for (k, v) in nsg["tags"].as_object().into_iter().flatten() {
            tags.insert(k.clone(), lit(unarm(text(topo, v)?)));
        }
        doc.add(
            "azurerm_network_security_group",
            id.clone(),
            format!("network security group {name}"),
            json!({
                "name": name,
                "location": "${var.azure_location}",
                "resource_group_name": "${var.azure_resource_group_name}",
                "tags": tags,
            }),
        );
        for r in nsg["properties"]["securityRules"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let rule = text(topo, &r["name"])?;
            let mut m = Map::new();
            m.insert("name".into(), json!(rule));
            m.insert(
                "resource_group_name".into(),
                json!("${var.azure_resource_group_name}"),
            );
            m.insert(
                "network_security_group_name".into(),
                json!(format!("${{azurerm_network_security_group.{id}.name}}")),
            );
            for (k, v) in r["properties"].as_object().into_iter().flatten() {
                let v = match v {
                    Value::String(s) if k == "description" => lit(unarm(s)),
                    v => v.clone(),
                };
                m.insert(snake(k), v);
            }
            rules.push((
                ident(&format!("{name}_{rule}")),
                format!("rule {rule} of {name}"),
                Value::Object(m),
            ));
        }
        nsg_ids.push(id);
    }
    for (name, origin, body) in rules {
        doc.add("azurerm_network_security_rule", name, origin, body);
    }
    // The template's outputs are its NSGs' ids, in resource order.
    let mut outputs = Map::new();
    let names = tpl["outputs"].as_object().into_iter().flatten();
    for ((name, _), id) in names.zip(&nsg_ids) {
        outputs.insert(
            name.clone(),
            json!({
                "description": "Network security group id: associate it with the zone's subnet",
                "value": format!("${{azurerm_network_security_group.{id}.id}}"),
            }),
        );
    }
    doc.finish(
        topo,
        unarm(text(topo, &tpl["metadata"]["description"])?).to_string(),
        json!({
            "azure_resource_group_name": {
                "type": "string",
                "description": "The resource group that holds the network security groups"
            },
            "azure_location": {
                "type": "string",
                "description": "Azure region of the network security groups"
            }
        }),
        outputs,
    )
}

/// The GCP document from the firewalls [`gcp::firewalls`] checked, each resource made as it is
/// written, as the gcp target writes them: made whole, a large topology's resources were held
/// twice over as JSON values.
pub fn gcp_doc<'a>(topo: &Topology, firewalls: &'a gcp::Firewalls) -> impl Serialize + 'a {
    let network = firewalls.network();
    let network = network.strip_prefix("global/networks/").unwrap_or(network);
    GcpDoc {
        comment: format!(
            "ctxfw firewall rules for {}: {}",
            topo.name, topo.description
        ),
        variable: json!({
            "gcp_network": {
                "type": "string",
                "default": network,
                "description": "The VPC network of the gcp zones: its name or self link"
            }
        }),
        resource: GcpResources {
            google_compute_firewall: GcpFirewalls(firewalls),
        },
    }
}

#[derive(Serialize)]
struct GcpDoc<'a> {
    #[serde(rename = "//")]
    comment: String,
    variable: Value,
    resource: GcpResources<'a>,
}

#[derive(Serialize)]
struct GcpResources<'a> {
    google_compute_firewall: GcpFirewalls<'a>,
}

/// The firewalls by resource name. Their names are RFC 1035 and unique (`gcp::firewalls`
/// checks both), and `ident` keeps such a name as it is, so the resource names are unique too.
struct GcpFirewalls<'a>(&'a gcp::Firewalls);

impl Serialize for GcpFirewalls<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.each().map(|fw| {
            let name = ident(&fw.name);
            debug_assert_eq!(name, fw.name, "an RFC 1035 name is its own identifier");
            (name, GcpFirewall(fw))
        }))
    }
}

struct GcpFirewall<'a>(gcp::FirewallToWrite<'a>);

impl Serialize for GcpFirewall<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let fw = self.0.firewall();
        fn rule(list: &Option<[gcp::Allowed; 1]>) -> Option<[GcpRule<'_>; 1]> {
            list.as_ref().map(|[a]| {
                [GcpRule {
                    protocol: a.ip_protocol,
                    ports: a.ports.as_deref(),
                }]
            })
        }
        GcpBody {
            name: fw.name,
            description: literal(&fw.description),
            network: "${var.gcp_network}",
            direction: fw.direction,
            priority: fw.priority,
            source_tags: fw.source_tags.as_ref(),
            source_ranges: fw.source_ranges.as_deref(),
            destination_ranges: fw.destination_ranges.as_deref(),
            target_tags: &fw.target_tags,
            allow: rule(&fw.allowed),
            deny: rule(&fw.denied),
        }
        .serialize(s)
    }
}

/// A `google_compute_firewall` resource: the compute#firewall's fields in its order, in
/// snake case, `allowed`/`denied` as `allow`/`deny` blocks.
#[derive(Serialize)]
struct GcpBody<'b> {
    name: &'b str,
    description: String,
    network: &'static str,
    direction: &'static str,
    priority: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    source_tags: Option<&'b [std::sync::Arc<str>; 1]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source_ranges: Option<&'b [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    destination_ranges: Option<&'b [String]>,
    target_tags: &'b [std::sync::Arc<str>],
    #[serde(skip_serializing_if = "Option::is_none")]
    allow: Option<[GcpRule<'b>; 1]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    deny: Option<[GcpRule<'b>; 1]>,
}

#[derive(Serialize)]
struct GcpRule<'b> {
    protocol: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    ports: Option<&'b [String]>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_escape_template_sequences() {
        assert_eq!(lit("a ${b} %{c} $${d}"), json!("a $${b} %%{c} $$${d}"));
        assert_eq!(lit("$ { 100% }"), json!("$ { 100% }"));
    }

    #[test]
    fn identifiers_start_with_a_letter() {
        assert_eq!(ident("in-a.b_c"), "in-a_b_c");
        assert_eq!(ident("1st"), "_1st");
        assert_eq!(ident("-x"), "_-x");
    }

    #[test]
    fn arm_names_become_snake_case() {
        assert_eq!(
            snake("destinationAddressPrefixes"),
            "destination_address_prefixes"
        );
        assert_eq!(snake("access"), "access");
    }
}

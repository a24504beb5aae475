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

mod aws_doc;
mod azure_doc;
mod gcp_doc;

use aws_doc::aws_doc;
use azure_doc::azure_doc;
use gcp_doc::gcp_doc;

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
}

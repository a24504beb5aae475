//! Which format a rule-set file is in, and what the parsers need to know of the topology:
//! the zones an interface faces, the components a security group, tag or NSG stands for.

use std::path::Path;

use super::flows::Required;
use super::model::Model;
use super::space::{Fam, Set};
use crate::diag::{read_text, Diagnostic, Invalid, SourceFile};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `nft -j list ruleset`
    NftJson,
    /// nftables text: ctxfw's `.nft` files (and `nft list ruleset` of the same subset).
    Nft,
    /// `iptables-save` / `ip6tables-save`, and ctxfw's `.rules` / `.rules6`.
    Iptables,
    /// `aws ec2 describe-security-groups`, and ctxfw's CloudFormation template.
    Aws,
    /// `az network nsg show` / `list`, and ARM templates (ctxfw's included).
    Azure,
    /// `gcloud compute firewall-rules list --format=json`, and ctxfw's GCP JSON.
    Gcp,
}

impl Format {
    pub const NAMES: [&'static str; 6] = ["nft-json", "nft", "iptables", "aws", "azure", "gcp"];

    pub fn parse(s: &str) -> Option<Format> {
        Some(match s {
            "nft-json" => Format::NftJson,
            "nft" => Format::Nft,
            "iptables" => Format::Iptables,
            "aws" => Format::Aws,
            "azure" => Format::Azure,
            "gcp" => Format::Gcp,
            _ => return None,
        })
    }
}

/// What a parser may look up in the topology, and the user's bindings.
pub struct Context<'a> {
    pub req: &'a Required,
    /// `--interface NAME=ZONE[,ZONE]`: the zones an interface faces.
    pub interfaces: Vec<(String, Vec<String>)>,
    /// `--bind NAME=COMPONENT|ZONE`: a security group, ASG, tag or service account.
    pub bind: Vec<(String, String)>,
    /// Each zone's location.
    pub locations: Vec<(String, crate::topology::Location)>,
}

impl Context<'_> {
    /// The addresses behind an interface name, or `None` when nothing says.
    pub fn interface(&self, name: &str, fam: Fam) -> Option<Set> {
        if name == "lo" {
            return Some(match fam {
                Fam::V4 => Set::range(0x7f00_0000, 0x7fff_ffff),
                Fam::V6 => Set::point(1),
            });
        }
        let (_, zones) = self.interfaces.iter().find(|(n, _)| n == name)?;
        Some(zones.iter().fold(Set::empty(), |a, z| {
            a.union(
                &self
                    .req
                    .zone(z)
                    .map_or(Set::empty(), |z| z.set(fam).clone()),
            )
        }))
    }

    /// Where a zone is (on premises, in a cloud).
    pub fn zone_location(&self, zone: &str) -> Option<crate::topology::Location> {
        self.locations
            .iter()
            .find(|(z, _)| z == zone)
            .map(|(_, l)| *l)
    }

    /// What `--bind` says a name stands for.
    pub fn bound(&self, name: &str) -> Option<&str> {
        self.bind
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The format of a rule-set text, when it can only be one.
pub fn detect(file: &SourceFile) -> Result<Format, Box<Diagnostic>> {
    let text = file.text.trim_start_matches('\u{feff}');
    let first = text.trim_start().chars().next();
    let unclear = |why: &str| {
        Box::new(
            Diagnostic::error(format!("cannot tell the rule set's format: {why}"))
                .in_file(file)
                .hint(format!(
                    "pass --ruleset-format, one of: {}",
                    Format::NAMES.join(", ")
                )),
        )
    };
    if matches!(first, Some('{') | Some('[')) {
        let v: serde_json::Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(_) => {
                // The JSON reader reports the syntax error with its position.
                return Err(match super::json::Doc::parse(file, "rule set") {
                    Err(d) => d,
                    Ok(_) => unclear("not valid JSON"),
                });
            }
        };
        return detect_json(&v).ok_or_else(|| {
            unclear("JSON that is none of nft -j, AWS security groups, Azure NSGs or GCP firewall rules")
        });
    }
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.starts_with('*') || line.starts_with(':') || line.starts_with("-A ") {
            return Ok(Format::Iptables);
        }
        if line.starts_with("table ") || line.starts_with("delete table ") {
            return Ok(Format::Nft);
        }
        break;
    }
    Err(unclear(
        "neither JSON, iptables-save (*filter, :CHAIN, -A) nor nftables (table ...) text",
    ))
}

fn detect_json(v: &serde_json::Value) -> Option<Format> {
    use serde_json::Value;
    let has = |o: &Value, k: &str| o.get(k).is_some();
    match v {
        Value::Object(_) if has(v, "nftables") => Some(Format::NftJson),
        Value::Object(_) if has(v, "SecurityGroups") => Some(Format::Aws),
        Value::Object(_) if has(v, "AWSTemplateFormatVersion") => Some(Format::Aws),
        Value::Object(_) if has(v, "securityRules") || has(v, "defaultSecurityRules") => {
            Some(Format::Azure)
        }
        Value::Object(_) if has(v, "resources") => {
            let nsg = v["resources"].as_array()?.iter().any(|r| {
                r["type"].as_str().is_some_and(|t| {
                    t.eq_ignore_ascii_case("Microsoft.Network/networkSecurityGroups")
                })
            });
            nsg.then_some(Format::Azure)
        }
        Value::Object(_) if has(v, "Resources") => Some(Format::Aws),
        Value::Array(items) => {
            let first = items.first()?;
            if has(first, "securityRules") || has(first, "defaultSecurityRules") {
                Some(Format::Azure)
            } else if first["kind"] == "compute#firewall"
                || has(first, "allowed")
                || has(first, "denied")
            {
                Some(Format::Gcp)
            } else if has(first, "IpPermissions") {
                Some(Format::Aws)
            } else {
                None
            }
        }
        _ => None,
    }
}

/// Read one rule-set file into a model.
pub fn read(path: &Path, format: Option<Format>, ctx: &Context) -> Result<Model, Invalid> {
    let text = read_text(path, "rule set")?;
    let file = SourceFile::new(path.display().to_string(), text);
    let one = |d: Box<Diagnostic>| Invalid {
        diagnostics: vec![*d],
    };
    let format = match format {
        Some(f) => f,
        None => detect(&file).map_err(one)?,
    };
    let model = match format {
        Format::NftJson => super::nft::parse_json(&file, ctx),
        Format::Nft => super::nft_text::parse(&file, ctx),
        Format::Iptables => super::iptables::parse(&file, ctx),
        Format::Aws => super::aws::parse(&file, ctx),
        Format::Azure => super::azure::parse(&file, ctx),
        Format::Gcp => super::gcp::parse(&file, ctx),
    }
    .map_err(one)?;
    Ok(model)
}

//! The Azure document: the ARM template's NSGs and rules as Terraform resources.

use anyhow::Result;
use serde_json::{json, Map, Value};

use super::{ident, lit, text, Doc};
use crate::topology::Topology;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arm_names_become_snake_case() {
        assert_eq!(
            snake("destinationAddressPrefixes"),
            "destination_address_prefixes"
        );
        assert_eq!(snake("access"), "access");
    }
}

//! The GCP document: the gcp target's firewalls as Terraform resources.

use serde::Serialize;
use serde_json::{json, Value};

use super::{ident, literal};
use crate::render::gcp;
use crate::topology::Topology;

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

//! A checked topology: zones, components, parameters, additions and removals whose names,
//! addresses and values are known to be consistent with each other and with the catalogue.

use indexmap::IndexMap;
use ipnet::IpNet;
use toml::Spanned;

use crate::catalogue::ParamValue;
use crate::diag::{SourceFile, Span};
use crate::flow::{PortSet, Protocol};

/// Where a zone's networks are; the cloud targets use it to tell their own networks from others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Location {
    OnPremises,
    Aws,
    Azure,
    Gcp,
    Internet,
}

impl Location {
    pub(super) const NAMES: [&'static str; 5] = ["on-premises", "aws", "azure", "gcp", "internet"];

    pub(super) fn parse(s: &str) -> Option<Location> {
        Some(match s {
            "on-premises" => Location::OnPremises,
            "aws" => Location::Aws,
            "azure" => Location::Azure,
            "gcp" => Location::Gcp,
            "internet" => Location::Internet,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        Location::NAMES[self as usize]
    }
}

#[derive(Debug, Clone)]
pub struct Zone {
    pub name: String,
    pub cidrs: Vec<IpNet>,
    pub description: Option<String>,
    pub location: Location,
    /// Holds 0.0.0.0/0 or ::/0: "everything not in another zone", usually the internet.
    pub default_route: bool,
    /// The zone firewall's interfaces facing this zone (`interfaces = ["eth1"]`): its rule
    /// sets then also match the interface a packet comes in and goes out on. Empty: addresses
    /// alone.
    pub interfaces: Vec<String>,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct Interface {
    pub role: String,
    pub zone: String,
    /// `None`: the zone's networks.
    pub hosts: Option<Vec<IpNet>>,
}

#[derive(Debug, Clone)]
pub struct Component {
    pub name: String,
    pub kinds: Vec<String>,
    pub zone: String,
    pub hosts: Option<Vec<IpNet>>,
    pub site: Option<String>,
    pub description: Option<String>,
    pub interfaces: IndexMap<String, Interface>,
    /// Settings of its kinds the file sets (`join = "entra"`); the others take their defaults.
    pub settings: IndexMap<String, Spanned<ParamValue>>,
    pub span: Span,
}

/// A site-specific flow the catalogue does not have.
#[derive(Debug, Clone)]
pub struct Addition {
    pub id: String,
    pub from: String,
    pub from_interface: Option<String>,
    pub to: String,
    pub to_interface: Option<String>,
    pub protocol: Protocol,
    pub ports: PortSet,
    pub purpose: String,
    pub reason: String,
    pub span: Span,
}

/// A catalogue flow this site does not use (optionally only between some components).
#[derive(Debug, Clone)]
pub struct Removal {
    pub catalogue: String,
    pub from: Option<String>,
    pub to: Option<String>,
    pub reason: String,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct Topology {
    pub file: SourceFile,
    pub name: String,
    pub description: String,
    /// Only what the file sets; defaults come from the catalogue.
    pub parameters: IndexMap<String, Spanned<ParamValue>>,
    pub zones: IndexMap<String, Zone>,
    pub components: IndexMap<String, Component>,
    pub additions: Vec<Addition>,
    pub removals: Vec<Removal>,
}

impl Topology {
    pub fn zone(&self, name: &str) -> &Zone {
        &self.zones[name]
    }

    /// Addresses of a component, or of one of its interfaces.
    pub fn addresses(&self, comp: &Component, role: Option<&str>) -> (String, Vec<IpNet>) {
        if let Some(iface) = role.and_then(|r| comp.interfaces.get(r)) {
            let nets = iface
                .hosts
                .clone()
                .unwrap_or_else(|| self.zones[&iface.zone].cidrs.clone());
            return (iface.zone.clone(), nets);
        }
        let nets = comp
            .hosts
            .clone()
            .unwrap_or_else(|| self.zones[&comp.zone].cidrs.clone());
        (comp.zone.clone(), nets)
    }

    /// Zones holding the default route, IPv4 and IPv6.
    pub fn internet_zones(&self) -> impl Iterator<Item = &Zone> {
        self.zones.values().filter(|z| z.default_route)
    }

    pub fn has_ipv6(&self) -> bool {
        self.zones
            .values()
            .any(|z| z.cidrs.iter().any(|c| matches!(c, IpNet::V6(_))))
    }
}

/// Longest free text we accept; longer text is refused rather than carried into outputs.
pub const MAX_TEXT: usize = 2000;
pub const MAX_NAME: usize = 63;

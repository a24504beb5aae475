//! The one place the audit reads ctxfw's resolved flows and topology: each required flow as
//! packet spaces, the zones as address sets, and which flows cross which point of a rule set.
//! A change of the flow type touches only this file.
//!
//! A zone holding the default route (`0.0.0.0/0`, `::/0`) means every address not in another
//! zone, here as in the generated rule sets: a required flow from the internet is a flow from
//! that complement, so a rule that opens `0.0.0.0/0` also opens the other zones, and says so.

use ipnet::IpNet;

use super::model::{Scope, Target};
use super::space::{nets_set, Cube, Fam, Set, ICMP, ICMPV6, SEL_MAX};
use crate::flow::Protocol;
use crate::Loaded;

/// A zone's addresses per family.
#[derive(Debug, Clone)]
pub struct ZoneSpace {
    pub name: String,
    pub v4: Set,
    pub v6: Set,
    pub internet: bool,
}

impl ZoneSpace {
    pub fn set(&self, fam: Fam) -> &Set {
        match fam {
            Fam::V4 => &self.v4,
            Fam::V6 => &self.v6,
        }
    }
}

/// One required flow as the audit sees it.
#[derive(Debug, Clone)]
pub struct Need {
    pub id: String,
    pub from: String,
    pub to: String,
    pub from_zone: String,
    pub to_zone: String,
    pub protocol: Protocol,
    pub ports: String,
    pub purpose: String,
    pub source: String,
    pub intra_zone: bool,
    pub cubes: Vec<Cube>,
}

/// The topology and its flows, as spaces.
pub struct Required {
    pub topology: String,
    pub zones: Vec<ZoneSpace>,
    pub needs: Vec<Need>,
    /// Every component's addresses (all interfaces), by name.
    pub components: Vec<(String, String, Vec<IpNet>)>,
    /// The IP families any zone has.
    pub families: Vec<Fam>,
    /// Every zone interval per family, sorted (zones do not overlap once the default-route
    /// zone is the complement of the others), with its zone's index.
    zone_ivs: [Vec<(u128, u128, usize)>; 2],
}

fn proto_number(p: Protocol) -> u8 {
    match p {
        Protocol::Tcp => 6,
        Protocol::Udp => 17,
        Protocol::Sctp => 132,
        Protocol::Icmp => ICMP,
        Protocol::Icmpv6 => ICMPV6,
        Protocol::Esp => 50,
        Protocol::Ah => 51,
        Protocol::Gre => 47,
    }
}

impl Required {
    pub fn new(loaded: &Loaded) -> Required {
        let t = &loaded.topology;
        let mut zones: Vec<ZoneSpace> = t
            .zones
            .values()
            .map(|z| ZoneSpace {
                name: z.name.clone(),
                v4: nets_set(&z.cidrs, Fam::V4),
                v6: nets_set(&z.cidrs, Fam::V6),
                internet: z.default_route,
            })
            .collect();
        // The default-route zone is what the other zones are not.
        let others = |fam: Fam, zones: &[ZoneSpace]| {
            zones
                .iter()
                .filter(|z| !z.internet)
                .fold(Set::empty(), |a, z| a.union(z.set(fam)))
        };
        // Loopback addresses never cross a network: they are in no zone.
        let (o4, o6) = (
            others(Fam::V4, &zones).union(&Set::range(0x7f00_0000, 0x7fff_ffff)),
            others(Fam::V6, &zones).union(&Set::point(1)),
        );
        for z in zones.iter_mut().filter(|z| z.internet) {
            z.v4 = z.v4.minus(&o4);
            z.v6 = z.v6.minus(&o6);
        }
        let internet_zone = |name: &str| zones.iter().any(|z| z.internet && z.name == name);
        let end_set = |nets: &[IpNet], zone: &str, fam: Fam| {
            let s = nets_set(nets, fam);
            if internet_zone(zone) {
                s.minus(match fam {
                    Fam::V4 => &o4,
                    Fam::V6 => &o6,
                })
            } else {
                s
            }
        };
        let needs = loaded
            .resolution
            .flows
            .iter()
            .map(|f| {
                let proto = proto_number(f.protocol);
                let sel = if f.protocol.has_ports() {
                    Set::from_ivs(
                        f.ports
                            .ranges()
                            .iter()
                            .map(|r| (r.lo as u128, r.hi as u128)),
                    )
                } else {
                    Set::range(0, SEL_MAX)
                };
                let cubes = [Fam::V4, Fam::V6]
                    .into_iter()
                    .filter_map(|fam| {
                        let c = Cube {
                            fam,
                            src: end_set(&f.from_end.addresses, &f.from_end.zone, fam),
                            dst: end_set(&f.to_end.addresses, &f.to_end.zone, fam),
                            proto: Set::point(proto as u128),
                            sel: sel.clone(),
                        };
                        (!c.is_empty()).then_some(c)
                    })
                    .collect();
                Need {
                    id: f.id.clone(),
                    from: f.from.to_string(),
                    to: f.to.to_string(),
                    from_zone: f.from_end.zone.to_string(),
                    to_zone: f.to_end.zone.to_string(),
                    protocol: f.protocol,
                    ports: f.ports.text(),
                    purpose: f.purpose.to_string(),
                    source: f.source.to_string(),
                    intra_zone: f.intra_zone,
                    cubes,
                }
            })
            .collect();
        let components = t
            .components
            .values()
            .map(|c| {
                (
                    c.name.clone(),
                    c.zone.clone(),
                    crate::plan::component_addresses(t, &c.name),
                )
            })
            .collect();
        let families: Vec<Fam> = [Fam::V4, Fam::V6]
            .into_iter()
            .filter(|&f| zones.iter().any(|z| !z.set(f).is_empty()))
            .collect();
        let zone_ivs = [Fam::V4, Fam::V6].map(|fam| {
            let mut v: Vec<(u128, u128, usize)> = zones
                .iter()
                .enumerate()
                .flat_map(|(i, z)| z.set(fam).ivs().iter().map(move |&(a, b)| (a, b, i)))
                .collect();
            v.sort_unstable();
            v
        });
        Required {
            topology: t.name.clone(),
            zones,
            needs,
            components,
            families,
            zone_ivs,
        }
    }

    pub fn component(&self, name: &str) -> Option<&(String, String, Vec<IpNet>)> {
        self.components.iter().find(|c| c.0 == name)
    }

    pub fn zone(&self, name: &str) -> Option<&ZoneSpace> {
        self.zones.iter().find(|z| z.name == name)
    }

    /// Addresses of a point's target, per family (`host` names the `--host` component).
    pub fn target_set(&self, target: &Target, host: Option<&str>, fam: Fam) -> Set {
        match target {
            Target::Host => host
                .and_then(|h| self.component(h))
                .map_or(Set::empty(), |c| nets_set(&c.2, fam)),
            Target::Component(c) => self
                .component(c)
                .map_or(Set::empty(), |c| nets_set(&c.2, fam)),
            Target::Zone(z) => self.zone(z).map_or(Set::empty(), |z| z.set(fam).clone()),
        }
    }

    /// Whether a required flow passes a point.
    pub fn crosses(&self, need: &Need, scope: &Scope, host: Option<&str>) -> bool {
        let is = |t: &Target, comp: &str, zone: &str| match t {
            Target::Host => host == Some(comp),
            Target::Component(c) => c == comp,
            Target::Zone(z) => z == zone,
        };
        match scope {
            Scope::Forward => !need.intra_zone,
            Scope::Inbound(t) => is(t, &need.to, &need.to_zone),
            Scope::Outbound(t) => is(t, &need.from, &need.from_zone),
        }
    }

    /// All the packets a point may see between the topology's addresses: what the audit
    /// looks for openings in.
    pub fn scope_space(&self, scope: &Scope, host: Option<&str>) -> Vec<Cube> {
        self.families
            .iter()
            .filter_map(|&fam| {
                let all = Cube::all(fam);
                let c = match scope {
                    Scope::Forward => all,
                    Scope::Inbound(t) => Cube {
                        dst: self.target_set(t, host, fam),
                        ..all
                    },
                    Scope::Outbound(t) => Cube {
                        src: self.target_set(t, host, fam),
                        ..all
                    },
                };
                (!c.is_empty()).then_some(c)
            })
            .collect()
    }

    /// The zone an address set lies in, cut per zone (addresses outside every zone are left
    /// out).
    pub fn by_zone<'a>(&'a self, fam: Fam, set: &Set) -> Vec<(&'a str, Set)> {
        self.by_zone_index(fam, set)
            .into_iter()
            .map(|(z, s)| (self.zones[z].name.as_str(), s))
            .collect()
    }

    /// [`Required::by_zone`] with zones by index into `zones`.
    pub fn by_zone_index(&self, fam: Fam, set: &Set) -> Vec<(usize, Set)> {
        let ivs = &self.zone_ivs[usize::from(fam == Fam::V6)];
        let mut parts: std::collections::BTreeMap<usize, Vec<(u128, u128)>> = Default::default();
        for &(lo, hi) in set.ivs() {
            // The first zone interval that ends at or after `lo`.
            let mut k = ivs.partition_point(|z| z.1 < lo);
            while k < ivs.len() && ivs[k].0 <= hi {
                let (a, b, z) = ivs[k];
                parts.entry(z).or_default().push((a.max(lo), b.min(hi)));
                k += 1;
            }
        }
        parts
            .into_iter()
            .map(|(z, v)| (z, Set::from_ivs(v)))
            .collect()
    }
}

/// ICMP that networks need whatever the flows (errors, path MTU, IPv6 neighbour discovery):
/// never reported as too open, and a rule allowing it is not unused.
pub fn infrastructure() -> Vec<Cube> {
    let v4 = Cube {
        proto: Set::point(ICMP as u128),
        sel: Set::from_ivs([(3, 3), (11, 12)]),
        ..Cube::all(Fam::V4)
    };
    let v6 = Cube {
        proto: Set::point(ICMPV6 as u128),
        sel: Set::from_ivs([(1, 4), (133, 136)]),
        ..Cube::all(Fam::V6)
    };
    vec![v4, v6]
}

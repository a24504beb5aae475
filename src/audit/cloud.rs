//! What the cloud readers share: address sets of both families, cubes from a rule's
//! sources, destinations, protocol and ports, and the points of a component or zone.

use super::flows::Required;
use super::json::{Doc, Path};
use super::model::{Chain, Model, Point, Rule, Scope, Target};
use super::space::{net_iv, proto_number, Cube, Fam, Set, ICMP, ICMPV6, SEL_MAX};
use crate::diag::Diagnostic;

/// Addresses of both families.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Addrs {
    pub v4: Set,
    pub v6: Set,
}

impl Addrs {
    pub fn all() -> Addrs {
        Addrs {
            v4: Fam::V4.all(),
            v6: Fam::V6.all(),
        }
    }

    pub fn cidr(s: &str) -> Option<Addrs> {
        let net: ipnet::IpNet = match s.parse() {
            Ok(n) => n,
            Err(_) => ipnet::IpNet::from(s.parse::<std::net::IpAddr>().ok()?),
        };
        let (lo, hi) = net_iv(&net.trunc());
        let mut a = Addrs::default();
        match Fam::of(&net) {
            Fam::V4 => a.v4 = Set::range(lo, hi),
            Fam::V6 => a.v6 = Set::range(lo, hi),
        }
        Some(a)
    }

    pub fn union(&self, o: &Addrs) -> Addrs {
        Addrs {
            v4: self.v4.union(&o.v4),
            v6: self.v6.union(&o.v6),
        }
    }

    pub fn get(&self, f: Fam) -> &Set {
        match f {
            Fam::V4 => &self.v4,
            Fam::V6 => &self.v6,
        }
    }

    /// A component's addresses.
    pub fn component(req: &Required, name: &str) -> Option<Addrs> {
        let c = req.component(name)?;
        Some(Addrs {
            v4: super::space::nets_set(&c.2, Fam::V4),
            v6: super::space::nets_set(&c.2, Fam::V6),
        })
    }

    /// A zone's addresses (the default-route zone: what the others are not).
    pub fn zone(req: &Required, name: &str) -> Option<Addrs> {
        let z = req.zone(name)?;
        Some(Addrs {
            v4: z.v4.clone(),
            v6: z.v6.clone(),
        })
    }

    /// A component's or a zone's addresses, by the name `--bind` gave.
    pub fn bound(req: &Required, name: &str) -> Option<Addrs> {
        Addrs::component(req, name).or_else(|| Addrs::zone(req, name))
    }

    /// The internet: every address in no private zone.
    pub fn internet(req: &Required) -> Addrs {
        let mut a = Addrs::default();
        for z in req.zones.iter().filter(|z| z.internet) {
            a.v4 = a.v4.union(&z.v4);
            a.v6 = a.v6.union(&z.v6);
        }
        if a == Addrs::default() {
            let private = Addrs::private(req);
            a.v4 = Fam::V4.all().minus(&private.v4);
            a.v6 = Fam::V6.all().minus(&private.v6);
        }
        a
    }

    /// Every zone but the internet: what a virtual network reaches privately.
    pub fn private(req: &Required) -> Addrs {
        let mut a = Addrs::default();
        for z in req.zones.iter().filter(|z| !z.internet) {
            a.v4 = a.v4.union(&z.v4);
            a.v6 = a.v6.union(&z.v6);
        }
        a
    }
}

/// The protocols of a cloud rule and the selector (ports or ICMP type) within them.
pub struct Service {
    pub proto: Set,
    pub sel: Set,
}

impl Service {
    pub fn any() -> Service {
        Service {
            proto: Set::range(0, 255),
            sel: Set::range(0, SEL_MAX),
        }
    }

    /// A protocol name or number (`-1`, `all`, `*` for every one) and its port ranges.
    pub fn new(proto: &str, ports: Option<Set>) -> Option<Service> {
        let p = proto.to_ascii_lowercase();
        if matches!(p.as_str(), "-1" | "all" | "*" | "any") {
            return Some(Service::any());
        }
        let n = proto_number(&p)?;
        let sel = match n {
            6 | 17 | 132 => ports.unwrap_or(Set::range(0, SEL_MAX)),
            ICMP | ICMPV6 => ports.unwrap_or(Set::range(0, SEL_MAX)),
            _ => Set::range(0, SEL_MAX),
        };
        Some(Service {
            proto: Set::point(n as u128),
            sel,
        })
    }
}

/// `80`, `1000-2000`, `*` as a port set.
pub fn port_text(s: &str) -> Option<Set> {
    let s = s.trim();
    if s == "*" || s.eq_ignore_ascii_case("any") {
        return Some(Set::range(0, SEL_MAX));
    }
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let (a, b): (u16, u16) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    (a <= b).then(|| Set::range(a as u128, b as u128))
}

pub fn cubes(src: &Addrs, dst: &Addrs, svc: &Service) -> Vec<Cube> {
    [Fam::V4, Fam::V6]
        .into_iter()
        .filter_map(|fam| {
            let mut proto = svc.proto.clone();
            // ICMP means the family's own ICMP.
            let other_icmp = if fam == Fam::V4 { ICMPV6 } else { ICMP };
            proto = proto.minus(&Set::point(other_icmp as u128));
            if svc.proto == Set::point(ICMP as u128) && fam == Fam::V6 {
                return None;
            }
            if svc.proto == Set::point(ICMPV6 as u128) && fam == Fam::V4 {
                return None;
            }
            let c = Cube {
                fam,
                src: src.get(fam).clone(),
                dst: dst.get(fam).clone(),
                proto,
                sel: svc.sel.clone(),
            };
            (!c.is_empty()).then_some(c)
        })
        .collect()
}

/// A base chain: rules decided in order, with a default verdict.
pub fn chain(name: String, rules: Vec<Rule>, policy: bool, policy_label: String) -> Chain {
    Chain {
        name,
        rules,
        policy: Some(policy),
        policy_label,
        families: vec![Fam::V4, Fam::V6],
    }
}

/// Add an inbound and an outbound point for a target, each with its own chain.
pub fn add_points(model: &mut Model, target: Target, label: &str, inbound: Chain, outbound: Chain) {
    let i = model.chains.len();
    model.chains.push(inbound);
    model.chains.push(outbound);
    model.points.push(Point {
        scope: Scope::Inbound(target.clone()),
        chains: vec![i],
        label: format!("{label} (inbound)"),
    });
    model.points.push(Point {
        scope: Scope::Outbound(target),
        chains: vec![i + 1],
        label: format!("{label} (outbound)"),
    });
}

/// A JSON string field, or an error at it.
pub fn string<'a>(
    doc: &Doc,
    v: &'a serde_json::Value,
    at: &Path,
    key: &str,
    hint: &str,
) -> Result<&'a str, Box<Diagnostic>> {
    v[key]
        .as_str()
        .ok_or_else(|| doc.error(&at.key(key), format!("`{key}` must be a string"), hint))
}

/// `v[key]` as a list (absent: empty).
pub fn list<'a>(v: &'a serde_json::Value, key: &str) -> &'a [serde_json::Value] {
    v[key].as_array().map(Vec::as_slice).unwrap_or(&[])
}

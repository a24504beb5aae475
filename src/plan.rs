//! Flows -> rules for one perspective: which flows a firewall sees, in which direction,
//! with aggregated addresses, in a deterministic order. Target-neutral: every rule-set target
//! (nftables, iptables, Windows, cloud) starts from these rules.

use crate::HashMap;
use std::sync::Arc;

use ipnet::IpNet;
use serde::Serialize;

use crate::flow::{ser_nets, ser_ports, shared_key, Flow, PortSet, Protocol};
use crate::resolve::Resolution;
use crate::topology::Topology;

/// Where the firewall sits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Perspective {
    /// A router or firewall between zones: only flows that cross zones.
    Zone,
    /// The host firewall of one component: its inbound and outbound flows, intra-zone included.
    Host(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Through the firewall (zone perspective).
    Forward,
    /// To the host (host perspective).
    Inbound,
    /// From the host (host perspective).
    Outbound,
}

/// One rule: traffic from `src` to `dst` on `protocol`/`ports`, allowed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rule {
    pub direction: Direction,
    /// The resolved flow this rule comes from (ids are stable across runs).
    pub flow: String,
    /// Shared with the flow.
    pub from: Arc<str>,
    pub from_zone: Arc<str>,
    pub to: Arc<str>,
    pub to_zone: Arc<str>,
    #[serde(serialize_with = "ser_nets")]
    pub src: Vec<IpNet>,
    #[serde(serialize_with = "ser_nets")]
    pub dst: Vec<IpNet>,
    pub fqdns: Vec<String>,
    pub protocol: Protocol,
    #[serde(serialize_with = "ser_ports")]
    pub ports: PortSet,
    pub purpose: Arc<str>,
    pub source: Arc<str>,
    pub reason: Option<String>,
}

impl Rule {
    /// Addresses of one IP family; a rule may hold both (dual-stack zones).
    pub fn src_v4(&self) -> Vec<IpNet> {
        self.src
            .iter()
            .filter(|n| matches!(n, IpNet::V4(_)))
            .copied()
            .collect()
    }
    pub fn src_v6(&self) -> Vec<IpNet> {
        self.src
            .iter()
            .filter(|n| matches!(n, IpNet::V6(_)))
            .copied()
            .collect()
    }
    pub fn dst_v4(&self) -> Vec<IpNet> {
        self.dst
            .iter()
            .filter(|n| matches!(n, IpNet::V4(_)))
            .copied()
            .collect()
    }
    pub fn dst_v6(&self) -> Vec<IpNet> {
        self.dst
            .iter()
            .filter(|n| matches!(n, IpNet::V6(_)))
            .copied()
            .collect()
    }
}

/// Smallest equivalent list of networks, sorted (adjacent and contained networks merged).
pub fn aggregate(nets: &[IpNet]) -> Vec<IpNet> {
    // One network (most components' addresses) is its own aggregate; ipnet's general case
    // allocates several lists per call, and every rule aggregates both its ends.
    if let [one] = nets {
        return vec![one.trunc()];
    }
    let mut v = IpNet::aggregate(&nets.to_vec());
    v.sort();
    v
}

/// Every address of a component: its hosts (or zone) and all its interfaces.
pub fn component_addresses(topo: &Topology, name: &str) -> Vec<IpNet> {
    let Some(c) = topo.components.get(name) else {
        return Vec::new();
    };
    let mut out = topo.addresses(c, None).1;
    for role in c.interfaces.keys() {
        out.extend(topo.addresses(c, Some(role)).1);
    }
    aggregate(&out)
}

/// Aggregated addresses by the shared list they come from: a component's (or interface's)
/// addresses are one list in every flow it has, aggregated once here.
#[derive(Default)]
struct Aggregates(HashMap<usize, Vec<IpNet>>);

impl Aggregates {
    fn of(&mut self, nets: &Arc<[IpNet]>) -> Vec<IpNet> {
        if nets.len() <= 1 {
            return aggregate(nets);
        }
        self.0
            .entry(shared_key(nets))
            .or_insert_with(|| aggregate(nets))
            .clone()
    }
}

fn rule(f: &Flow, direction: Direction, agg: &mut Aggregates) -> Rule {
    Rule {
        direction,
        flow: f.id.clone(),
        from: f.from.clone(),
        from_zone: f.from_end.zone.clone(),
        to: f.to.clone(),
        to_zone: f.to_end.zone.clone(),
        src: agg.of(&f.from_end.addresses),
        dst: agg.of(&f.to_end.addresses),
        fqdns: f.to_fqdns.clone(),
        protocol: f.protocol,
        ports: f.ports.clone(),
        purpose: f.purpose.clone(),
        source: f.source.clone(),
        reason: f.reason.clone(),
    }
}

/// The rules a firewall in `perspective` needs, in the resolver's deterministic order
/// (inbound before outbound for a host; a flow between two hosts of the component is both).
pub fn plan(res: &Resolution, perspective: &Perspective) -> Vec<Rule> {
    let agg = &mut Aggregates::default();
    selected(res, perspective)
        .into_iter()
        .map(|(i, direction)| rule(&res.flows[i], direction, agg))
        .collect()
}

/// The flows behind [`plan`]'s rules, by index into the resolution's flows, with each rule's
/// direction, in the same order: for a target that reads the flows' fields where they are
/// instead of copying them into rules.
pub fn selected(res: &Resolution, perspective: &Perspective) -> Vec<(usize, Direction)> {
    let flows = res.flows.iter().enumerate();
    match perspective {
        Perspective::Zone => flows
            .filter(|(_, f)| !f.intra_zone)
            .map(|(i, _)| (i, Direction::Forward))
            .collect(),
        Perspective::Host(name) => {
            let inbound = flows
                .clone()
                .filter(|(_, f)| *f.to == **name)
                .map(|(i, _)| (i, Direction::Inbound));
            let outbound = flows
                .filter(|(_, f)| *f.from == **name)
                .map(|(i, _)| (i, Direction::Outbound));
            inbound.chain(outbound).collect()
        }
    }
}

/// The flows into and out of every component, by flow index in resolver order: built once,
/// it gives each host perspective without scanning every flow per host.
pub struct HostIndex<'a> {
    res: &'a Resolution,
    inbound: HashMap<&'a str, Vec<usize>>,
    outbound: HashMap<&'a str, Vec<usize>>,
    agg: std::cell::RefCell<Aggregates>,
}

impl<'a> HostIndex<'a> {
    pub fn new(res: &'a Resolution) -> HostIndex<'a> {
        let mut inbound: HashMap<&str, Vec<usize>> = HashMap::default();
        let mut outbound: HashMap<&str, Vec<usize>> = HashMap::default();
        for (i, f) in res.flows.iter().enumerate() {
            inbound.entry(&*f.to).or_default().push(i);
            outbound.entry(&*f.from).or_default().push(i);
        }
        HostIndex {
            res,
            inbound,
            outbound,
            agg: Default::default(),
        }
    }

    /// Exactly `plan(res, &Perspective::Host(name))`.
    pub fn plan(&self, name: &str) -> Vec<Rule> {
        let flows = |m: &HashMap<&str, Vec<usize>>| -> Vec<usize> {
            m.get(name).cloned().unwrap_or_default()
        };
        let (inb, out) = (flows(&self.inbound), flows(&self.outbound));
        let agg = &mut self.agg.borrow_mut();
        let mut rules = Vec::with_capacity(inb.len() + out.len());
        rules.extend(
            inb.iter()
                .map(|&i| rule(&self.res.flows[i], Direction::Inbound, agg)),
        );
        rules.extend(
            out.iter()
                .map(|&i| rule(&self.res.flows[i], Direction::Outbound, agg)),
        );
        rules
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two examples planned from every perspective: one with interfaces, one whose hosts are
    /// each other's peers.
    fn examples() -> impl Iterator<Item = (&'static str, crate::Loaded)> {
        [
            "topologies/onprem-cvad.toml",
            "tests/fixtures/netfilter-lab.toml",
        ]
        .into_iter()
        .map(|t| {
            let loaded = crate::load(std::path::Path::new(t), None).expect("example loads");
            (t, loaded)
        })
    }

    #[test]
    fn the_host_index_plans_as_plan_does() {
        for (t, loaded) in examples() {
            let res = &loaded.resolution;
            let index = HostIndex::new(res);
            for name in loaded.topology.components.keys() {
                let host = Perspective::Host(name.clone());
                assert_eq!(index.plan(name), plan(res, &host), "{t}: {name}");
            }
        }
    }

    #[test]
    fn selected_flows_are_the_plans_rules() {
        for (t, loaded) in examples() {
            let res = &loaded.resolution;
            let mut perspectives = vec![Perspective::Zone];
            perspectives.extend(
                loaded
                    .topology
                    .components
                    .keys()
                    .cloned()
                    .map(Perspective::Host),
            );
            for p in perspectives {
                let rules = plan(res, &p);
                let selected = selected(res, &p);
                assert_eq!(rules.len(), selected.len(), "{t}: {p:?}");
                for (r, &(i, d)) in rules.iter().zip(&selected) {
                    assert_eq!((&r.flow, r.direction), (&res.flows[i].id, d), "{t}: {p:?}");
                }
            }
        }
    }

    #[test]
    fn aggregates_adjacent_networks() {
        let nets: Vec<IpNet> = ["10.0.0.0/25", "10.0.0.128/25", "10.0.0.5/32", "10.1.0.1/32"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let agg: Vec<String> = aggregate(&nets).iter().map(ToString::to_string).collect();
        assert_eq!(agg, ["10.0.0.0/24", "10.1.0.1/32"]);
        // One network, as the general case gives it (host bits cleared).
        for one in [
            "10.0.0.5/32",
            "10.0.0.0/24",
            "10.0.0.5/24",
            "::1/128",
            "2001:db8::7/64",
            "0.0.0.0/0",
        ] {
            let n: IpNet = one.parse().unwrap();
            let mut general = IpNet::aggregate(&vec![n]);
            general.sort();
            assert_eq!(aggregate(&[n]), general, "{one}");
        }
        assert!(aggregate(&[]).is_empty());
    }
}

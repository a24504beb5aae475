//! Flows -> rules for one perspective: which flows a firewall sees, in which direction,
//! with aggregated addresses, in a deterministic order. Target-neutral: every rule-set target
//! (nftables, iptables, Windows, cloud) starts from these rules.

use crate::HashMap;
use std::sync::Arc;

use std::net::IpAddr;

use ipnet::{IpNet, Ipv4Subnets, Ipv6Subnets};
use serde::Serialize;

use crate::flow::{ser_ports, EndId, Flow, FlowEnd, PortSet, Protocol};
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
    /// The interfaces of the two ends, when the flow names one (rule names show them).
    #[serde(skip)]
    pub from_interface: Option<Arc<str>>,
    #[serde(skip)]
    pub to_interface: Option<Arc<str>>,
    /// What the rule matches at each end: [`EndNets::nets`] is what a target writes as
    /// networks, [`EndNets::except`] what a target with a "not these" form leaves out.
    #[serde(serialize_with = "ser_end")]
    pub src: Arc<EndNets>,
    #[serde(serialize_with = "ser_end")]
    pub dst: Arc<EndNets>,
    pub fqdns: Vec<String>,
    pub protocol: Protocol,
    #[serde(serialize_with = "ser_ports")]
    pub ports: PortSet,
    pub purpose: Arc<str>,
    pub source: Arc<str>,
    pub reason: Option<String>,
}

fn ser_end<S: serde::Serializer>(e: &Arc<EndNets>, s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(&e.nets)
}

/// Whether a network is IPv6.
fn is_v6(n: &IpNet) -> bool {
    matches!(n, IpNet::V6(_))
}

/// The networks of the zones that do not hold the default route, per IP family, aggregated:
/// what a default route (`0.0.0.0/0`, `::/0`) leaves out. The zone holding it is "everything
/// not in another zone", so a rule towards it must not reach another zone's hosts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Internal {
    v4: Vec<IpNet>,
    v6: Vec<IpNet>,
}

impl Internal {
    pub fn of(topo: &Topology) -> Internal {
        let nets: Vec<IpNet> = topo
            .zones
            .values()
            .filter(|z| !z.default_route)
            .flat_map(|z| z.cidrs.iter().copied())
            .collect();
        let (v6, v4): (Vec<IpNet>, Vec<IpNet>) = aggregate(&nets).into_iter().partition(is_v6);
        Internal { v4, v6 }
    }

    /// The internal networks of one family.
    pub fn nets(&self, v6: bool) -> &[IpNet] {
        if v6 {
            &self.v6
        } else {
            &self.v4
        }
    }

    /// Whether `q` lies in (or overlaps) an internal network: a default route does not
    /// reach it.
    pub fn overlaps(&self, q: &IpNet) -> bool {
        self.nets(is_v6(q))
            .iter()
            .any(|n| n.contains(q) || q.contains(n))
    }

    /// Whether a rule end made of `addresses` matches every address of `q`: the addresses
    /// hold it, and when they hold it only through a default route, `q` is in no other zone.
    pub fn contains(&self, addresses: &[IpNet], q: &IpNet) -> bool {
        let held = |wide: bool| {
            addresses
                .iter()
                .any(|n| (n.prefix_len() == 0) == wide && n.contains(q))
        };
        held(false) || (held(true) && !self.overlaps(q))
    }

    /// Whether, in one family, a rule end made of `addresses` is the default route less the
    /// internal networks (and so written as "not these" where a target can).
    pub fn wide(&self, addresses: &[IpNet], v6: bool) -> bool {
        !self.nets(v6).is_empty()
            && addresses
                .iter()
                .any(|n| n.prefix_len() == 0 && is_v6(n) == v6)
    }

    /// One end of a rule from the flow end's addresses.
    pub fn end(&self, addresses: &[IpNet]) -> EndNets {
        let given = aggregate(addresses);
        let mut except = Vec::new();
        let mut nets = Vec::new();
        for v6 in [false, true] {
            let fam: Vec<IpNet> = given.iter().filter(|n| is_v6(n) == v6).copied().collect();
            let inside = self.nets(v6);
            if self.wide(&fam, v6) {
                except.extend_from_slice(inside);
                nets.extend(outside(inside, v6));
            } else {
                nets.extend(fam);
            }
        }
        EndNets {
            given,
            except,
            nets,
        }
    }
}

/// One end of a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndNets {
    /// The flow's addresses, aggregated: what the review files show.
    pub given: Vec<IpNet>,
    /// In each family where `given` is the default route, the networks of the zones that do
    /// not hold it ([`Internal`]): the rule must not match them.
    pub except: Vec<IpNet>,
    /// What the rule matches, as networks (aggregated, sorted): `given` without `except`.
    pub nets: Vec<IpNet>,
}

impl EndNets {
    /// Whether, in this family, the end is the default route less [`EndNets::except`]: a
    /// target with a "not in" form writes that instead of [`EndNets::nets`].
    pub fn outside(&self, v6: bool) -> bool {
        self.except.iter().any(|n| is_v6(n) == v6)
    }
}

/// Every address of one family outside `inside` (aggregated, sorted), as networks.
pub fn outside(inside: &[IpNet], v6: bool) -> Vec<IpNet> {
    gaps(inside, v6)
        .into_iter()
        .flat_map(|(lo, hi)| match (lo, hi) {
            (IpAddr::V4(a), IpAddr::V4(b)) => Ipv4Subnets::new(a, b, 0).map(IpNet::V4).collect(),
            (IpAddr::V6(a), IpAddr::V6(b)) => Ipv6Subnets::new(a, b, 0).map(IpNet::V6).collect(),
            _ => Vec::<IpNet>::new(),
        })
        .collect()
}

/// The address ranges of one family between the networks of `inside` (aggregated, sorted):
/// the whole family when it is empty.
pub fn gaps(inside: &[IpNet], v6: bool) -> Vec<(IpAddr, IpAddr)> {
    let (first, last) = if v6 {
        (0, u128::MAX)
    } else {
        (0, u128::from(u32::MAX))
    };
    let num = |a: IpAddr| match a {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    };
    let addr = |n: u128| -> IpAddr {
        if v6 {
            IpAddr::V6(n.into())
        } else {
            IpAddr::V4((n as u32).into())
        }
    };
    let mut out = Vec::new();
    // The next address not yet covered; `None` once the end of the family is covered.
    let mut next = Some(first);
    for n in inside.iter().filter(|n| is_v6(n) == v6) {
        let (lo, hi) = (num(n.network()), num(n.broadcast()));
        if let Some(at) = next {
            if lo > at {
                out.push((addr(at), addr(lo - 1)));
            }
        }
        next = (hi < last).then(|| hi + 1);
    }
    if let Some(at) = next {
        out.push((addr(at), addr(last)));
    }
    out
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

/// Rule ends by the flow end they come from: a component's (or interface's) end is the same
/// in every flow it has, made into a rule end once here.
pub struct Ends {
    internal: Internal,
    made: HashMap<EndId, Arc<EndNets>>,
}

impl Ends {
    pub fn new(topo: &Topology) -> Ends {
        Ends {
            internal: Internal::of(topo),
            made: HashMap::default(),
        }
    }

    /// The networks a default route leaves out.
    pub fn internal(&self) -> &Internal {
        &self.internal
    }

    /// The rule end of a flow end.
    pub fn of(&mut self, end: &FlowEnd) -> Arc<EndNets> {
        let internal = &self.internal;
        self.made
            .entry(end.id)
            .or_insert_with(|| Arc::new(internal.end(&end.addresses)))
            .clone()
    }
}

fn rule(f: &Flow, direction: Direction, ends: &mut Ends) -> Rule {
    Rule {
        direction,
        flow: f.id.clone(),
        from: f.from.clone(),
        from_zone: f.from_end.zone.clone(),
        to: f.to.clone(),
        to_zone: f.to_end.zone.clone(),
        from_interface: f.from_end.interface.clone(),
        to_interface: f.to_end.interface.clone(),
        src: ends.of(&f.from_end),
        dst: ends.of(&f.to_end),
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
pub fn plan(topo: &Topology, res: &Resolution, perspective: &Perspective) -> Vec<Rule> {
    let ends = &mut Ends::new(topo);
    selected(res, perspective)
        .into_iter()
        .map(|(i, direction)| rule(&res.flows[i], direction, ends))
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
    ends: std::cell::RefCell<Ends>,
}

impl<'a> HostIndex<'a> {
    pub fn new(topo: &Topology, res: &'a Resolution) -> HostIndex<'a> {
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
            ends: std::cell::RefCell::new(Ends::new(topo)),
        }
    }

    /// Exactly `plan(topo, res, &Perspective::Host(name))`.
    pub fn plan(&self, name: &str) -> Vec<Rule> {
        let flows = |m: &HashMap<&str, Vec<usize>>| -> Vec<usize> {
            m.get(name).cloned().unwrap_or_default()
        };
        let (inb, out) = (flows(&self.inbound), flows(&self.outbound));
        let ends = &mut self.ends.borrow_mut();
        let mut rules = Vec::with_capacity(inb.len() + out.len());
        rules.extend(
            inb.iter()
                .map(|&i| rule(&self.res.flows[i], Direction::Inbound, ends)),
        );
        rules.extend(
            out.iter()
                .map(|&i| rule(&self.res.flows[i], Direction::Outbound, ends)),
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
            let index = HostIndex::new(&loaded.topology, res);
            for name in loaded.topology.components.keys() {
                let host = Perspective::Host(name.clone());
                assert_eq!(
                    index.plan(name),
                    plan(&loaded.topology, res, &host),
                    "{t}: {name}"
                );
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
                let rules = plan(&loaded.topology, res, &p);
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

    fn nets(s: &[&str]) -> Vec<IpNet> {
        s.iter().map(|n| n.parse().unwrap()).collect()
    }

    #[test]
    fn the_outside_of_a_few_networks_is_what_they_leave() {
        let inside = nets(&["10.0.10.0/24", "10.1.0.0/16"]);
        let out = outside(&inside, false);
        // Nothing inside is outside, everything else is, and the pieces do not overlap.
        for probe in ["10.0.10.0", "10.0.10.255", "10.1.77.1"] {
            let a: IpNet = format!("{probe}/32").parse().unwrap();
            assert!(!out.iter().any(|n| n.contains(&a)), "{probe}");
        }
        for probe in [
            "0.0.0.0",
            "10.0.9.255",
            "10.0.11.0",
            "10.0.255.255",
            "10.2.0.0",
            "255.255.255.255",
        ] {
            let a: IpNet = format!("{probe}/32").parse().unwrap();
            assert_eq!(out.iter().filter(|n| n.contains(&a)).count(), 1, "{probe}");
        }
        assert_eq!(aggregate(&out), out, "already aggregated");
        let g: Vec<String> = gaps(&inside, false)
            .iter()
            .map(|(a, b)| format!("{a}-{b}"))
            .collect();
        assert_eq!(
            g,
            [
                "0.0.0.0-10.0.9.255",
                "10.0.11.0-10.0.255.255",
                "10.2.0.0-255.255.255.255"
            ]
        );
        // The ends of the family, and nothing inside.
        assert_eq!(
            gaps(&nets(&["0.0.0.0/8", "255.0.0.0/8"]), false),
            [(
                "1.0.0.0".parse().unwrap(),
                "254.255.255.255".parse().unwrap()
            )]
        );
        assert_eq!(outside(&[], true), nets(&["::/0"]));
        assert!(outside(&nets(&["::/1", "8000::/1"]), true).is_empty());
    }

    #[test]
    fn a_default_route_end_leaves_out_the_other_zones() {
        let internal = Internal {
            v4: nets(&["10.0.0.0/24"]),
            v6: Vec::new(),
        };
        let wide = nets(&["0.0.0.0/0", "::/0"]);
        let e = internal.end(&wide);
        assert_eq!(e.except, nets(&["10.0.0.0/24"]));
        assert!(e.outside(false) && !e.outside(true));
        // IPv6 has no other zone: all of it.
        assert!(e.nets.contains(&"::/0".parse().unwrap()));
        let holds = |q: &str| internal.contains(&wide, &q.parse().unwrap());
        assert!(!holds("10.0.0.5/32"));
        assert!(!holds("10.0.0.0/8"), "overlaps an internal zone");
        assert!(holds("10.0.1.5/32"));
        assert!(holds("2001:db8::1/128"));
        // What a rule end matches is what `contains` says.
        for q in [
            "10.0.0.5/32",
            "10.0.1.5/32",
            "9.255.255.255/32",
            "10.0.0.255/32",
        ] {
            let q: IpNet = q.parse().unwrap();
            assert_eq!(
                e.nets.iter().any(|n| n.contains(&q)),
                internal.contains(&wide, &q),
                "{q}"
            );
        }
        // An end without a default route is its addresses.
        let host = internal.end(&nets(&["198.51.100.7/32"]));
        assert_eq!(
            (host.nets.clone(), host.except.len()),
            (host.given.clone(), 0)
        );
    }
}

//! The addresses a topology writes: zone networks (no host bits, no overlap between zones)
//! and hosts (inside their zone, and for a zone holding the default route, outside every other
//! zone).

use std::net::IpAddr;

use indexmap::IndexMap;
use ipnet::IpNet;
use toml::Spanned;

use super::model::{Topology, Zone};
use super::raw::List;
use crate::diag::{Diagnostic, Span};
use crate::doc::Reader;
use crate::{HashMap, HashSet};

/// Report the networks of different zones that overlap: only a zone holding the default route
/// may ("everything not elsewhere"). `all` holds each zone network, its zone and where it is
/// written. Sorted by start address, a network overlaps an earlier one exactly when it starts
/// before the furthest end seen so far: one pass, so ten thousand zones stay fast.
pub fn overlaps(r: &mut Reader<'_>, all: &[(IpNet, String, Span)]) {
    let mut nets: Vec<&(IpNet, String, Span)> =
        all.iter().filter(|(n, _, _)| n.prefix_len() > 0).collect();
    nets.sort_by_key(|(n, _, _)| (matches!(n, IpNet::V6(_)), n.network(), n.prefix_len()));
    let mut widest: Option<&(IpNet, String, Span)> = None;
    for cur in nets {
        if let Some(prev) = widest {
            let same_family = matches!(prev.0, IpNet::V6(_)) == matches!(cur.0, IpNet::V6(_));
            if same_family && prev.0.contains(&cur.0.network()) {
                if prev.1 != cur.1 {
                    let d = Diagnostic::error(format!("zone `{}` network {} overlaps zone `{}` network {}", cur.1, cur.0, prev.1, prev.0))
                        .at(r.file, cur.2.clone())
                        .label(r.file, prev.2.clone(), "overlapping network here")
                        .hint("zones must not overlap; only a zone holding 0.0.0.0/0 or ::/0 may (it means everything else)");
                    r.push(d);
                }
                if prev.0.broadcast() >= cur.0.broadcast() {
                    continue;
                }
            }
        }
        widest = Some(cur);
    }
}

/// A network with no host bits set (`10.0.0.0/24`, not `10.0.0.5/24`).
pub fn network(r: &mut Reader<'_>, s: &Spanned<String>, what: &str) -> Option<IpNet> {
    let text = s.get_ref().trim();
    match text.parse::<IpNet>() {
        Ok(net) => {
            if net.trunc() != net {
                r.error(
                    s.span(),
                    format!("{what} {text} has host bits set"),
                    format!(
                        "did you mean \"{}\"? a zone is a network address",
                        net.trunc()
                    ),
                );
                return None;
            }
            Some(net)
        }
        Err(_) => {
            let hint = if text.parse::<IpAddr>().is_ok() {
                format!("a network needs a prefix length, e.g. \"{text}/24\"")
            } else {
                "write an IPv4 or IPv6 network such as \"10.0.10.0/24\" or \"2001:db8::/48\""
                    .to_string()
            };
            r.error(s.span(), format!("`{text}` is not a valid {what}"), hint);
            None
        }
    }
}

/// A host address (`10.0.0.5` means `/32`) or a network inside a zone.
fn host(r: &mut Reader<'_>, s: &Spanned<String>) -> Option<IpNet> {
    let text = s.get_ref().trim();
    if let Ok(addr) = text.parse::<IpAddr>() {
        return Some(IpNet::from(addr));
    }
    match text.parse::<IpNet>() {
        Ok(net) if net.trunc() == net => Some(net),
        Ok(net) => {
            r.error(
                s.span(),
                format!("host network {text} has host bits set"),
                format!(
                    "write the address alone (\"{}\") or the network (\"{}\")",
                    net.addr(),
                    net.trunc()
                ),
            );
            None
        }
        Err(_) => {
            r.error(
                s.span(),
                format!("`{text}` is not an IP address or network"),
                "write \"10.0.10.11\" or \"10.0.10.0/28\"",
            );
            None
        }
    }
}

/// The networks of a zone, to ask whether they hold a host: a network holds it when the host's
/// address cut to the network's prefix length is that network, so a host costs a lookup per
/// prefix length the zone uses, not a scan of its networks.
struct Holds {
    nets: HashSet<IpNet>,
    /// Distinct prefix lengths by family (IPv4, IPv6).
    lens: [Vec<u8>; 2],
}

impl Holds {
    fn new(zone: &Zone) -> Holds {
        let mut lens = [Vec::new(), Vec::new()];
        for n in &zone.cidrs {
            lens[usize::from(matches!(n, IpNet::V6(_)))].push(n.prefix_len());
        }
        for l in &mut lens {
            l.sort_unstable();
            l.dedup();
        }
        Holds {
            nets: zone.cidrs.iter().copied().collect(),
            lens,
        }
    }

    fn holds(&self, host: &IpNet) -> bool {
        self.lens[usize::from(matches!(host, IpNet::V6(_)))]
            .iter()
            .take_while(|&&len| len <= host.prefix_len())
            .any(|&len| IpNet::new(host.addr(), len).is_ok_and(|n| self.nets.contains(&n.trunc())))
    }
}

/// The networks of the zones that do not hold the default route, as intervals sorted by their
/// first address: whether a host in the default-route zone lies in (or around) one of them is a
/// binary search, not a scan of every zone's networks.
struct Inside {
    /// (first, last, network, zone index) by first address, per family (IPv4, IPv6).
    nets: [Vec<(u128, u128, IpNet, usize)>; 2],
    /// The largest `last` among the intervals up to each index.
    reach: [Vec<u128>; 2],
}

fn bounds(n: &IpNet) -> (u128, u128) {
    match n {
        IpNet::V4(n) => (
            u128::from(u32::from(n.network())),
            u128::from(u32::from(n.broadcast())),
        ),
        IpNet::V6(n) => (u128::from(n.network()), u128::from(n.broadcast())),
    }
}

impl Inside {
    fn new(t: &Topology) -> Inside {
        let mut nets: [Vec<(u128, u128, IpNet, usize)>; 2] = [Vec::new(), Vec::new()];
        for (zi, z) in t
            .zones
            .values()
            .enumerate()
            .filter(|(_, z)| !z.default_route)
        {
            for n in &z.cidrs {
                let (lo, hi) = bounds(n);
                nets[usize::from(n.addr().is_ipv6())].push((lo, hi, *n, zi));
            }
        }
        let reach = nets.each_mut().map(|v| {
            v.sort_unstable_by_key(|e| (e.0, e.1));
            v.iter()
                .scan(0u128, |m, e| {
                    *m = (*m).max(e.1);
                    Some(*m)
                })
                .collect()
        });
        Inside { nets, reach }
    }

    /// A network of another zone that `host` lies in or holds, with that zone's index.
    fn overlap(&self, host: &IpNet) -> Option<(usize, IpNet)> {
        let f = usize::from(host.addr().is_ipv6());
        let (lo, hi) = bounds(host);
        let (nets, reach) = (&self.nets[f], &self.reach[f]);
        // Intervals that start at or before the host's last address; one of them reaches the
        // host's first address exactly when the running maximum does.
        let end = nets.partition_point(|e| e.0 <= hi);
        (0..end)
            .rev()
            .take_while(|&i| reach[i] >= lo)
            .find(|&i| nets[i].1 >= lo)
            .map(|i| (nets[i].3, nets[i].2))
    }
}

/// What hosts are checked against, made once per zone: its [`Holds`], and for the zone that
/// holds the default route the other zones' networks ([`Inside`]).
pub struct ZoneHolds {
    holds: HashMap<String, Holds>,
    inside: Option<Inside>,
}

/// One zone's checks for [`hosts`].
pub struct HostCheck<'a> {
    zone: &'a Zone,
    holds: &'a Holds,
    /// For the zone that holds the default route: the other zones' networks.
    inside: Option<&'a Inside>,
    zones: &'a IndexMap<String, Zone>,
}

impl ZoneHolds {
    pub fn new() -> ZoneHolds {
        ZoneHolds {
            holds: HashMap::default(),
            inside: None,
        }
    }

    pub fn of<'a>(&'a mut self, t: &'a Topology, zone: Option<&String>) -> Option<HostCheck<'a>> {
        let z = t.zones.get(zone?)?;
        if z.default_route && self.inside.is_none() {
            self.inside = Some(Inside::new(t));
        }
        let holds = self
            .holds
            .entry(z.name.clone())
            .or_insert_with(|| Holds::new(z));
        Some(HostCheck {
            zone: z,
            holds,
            inside: self.inside.as_ref().filter(|_| z.default_route),
            zones: &t.zones,
        })
    }
}

/// The hosts of a component or interface (`owner`), each an address or network inside its
/// zone, sorted; `None` when the list is empty.
pub fn hosts(
    r: &mut Reader<'_>,
    list: List,
    zone: Option<HostCheck<'_>>,
    owner: &str,
) -> Option<Vec<IpNet>> {
    let items = list.items;
    if items.is_empty() {
        r.error(
            list.span,
            format!("{owner} has an empty hosts list"),
            "list its addresses, or leave `hosts` out to mean the whole zone",
        );
        return None;
    }
    let mut out: Vec<IpNet> = Vec::new();
    let mut seen: HashSet<IpNet> = HashSet::default();
    for s in items {
        let Some(net) = host(r, &s) else { continue };
        if let Some(HostCheck {
            zone: z,
            holds,
            inside,
            zones,
        }) = &zone
        {
            if !holds.holds(&net) {
                // A few of them: each error would otherwise repeat every network of a large zone.
                let mut nets: Vec<String> =
                    z.cidrs.iter().take(8).map(ToString::to_string).collect();
                if z.cidrs.len() > nets.len() {
                    nets.push(format!("{} more", z.cidrs.len() - nets.len()));
                }
                r.error(
                    s.span(),
                    format!("{owner}: host {net} is outside its zone `{}`", z.name),
                    format!(
                        "zone `{}` holds {}; move the host or the component to the right zone",
                        z.name,
                        nets.join(", ")
                    ),
                );
                continue;
            }
            // A zone holding the default route is every address no other zone holds.
            let overlap = inside
                .filter(|_| net.prefix_len() > 0)
                .and_then(|i| i.overlap(&net));
            if let Some((o, c)) = overlap {
                let o = &zones[o].name;
                r.error(
                    s.span(),
                    format!(
                        "{owner}: host {net} is in zone `{o}` ({c}), not in zone `{}`",
                        z.name
                    ),
                    format!(
                        "zone `{}` holds the default route: it is every address no other zone holds; place the component in zone `{o}`, or list only addresses outside the other zones",
                        z.name
                    ),
                );
                continue;
            }
        }
        if !seen.insert(net) {
            r.warn(
                s.span(),
                format!("{owner}: host {net} is listed twice"),
                "remove the duplicate",
            );
            continue;
        }
        out.push(net);
    }
    out.sort();
    Some(out)
}

//! Packet spaces: sets of (source, destination, protocol, selector) as products of interval
//! sets, so what a rule set allows can be computed exactly instead of sampled.
//!
//! The selector is the destination port for protocols with ports and the message type for
//! ICMP and ICMPv6; other protocols have none and keep the whole range.

use ipnet::IpNet;

/// An inclusive interval.
pub type Iv = (u128, u128);

/// A sorted list of disjoint, non-adjacent inclusive intervals.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Set(Vec<Iv>);

impl Set {
    pub fn empty() -> Set {
        Set(Vec::new())
    }

    pub fn range(lo: u128, hi: u128) -> Set {
        Set(vec![(lo, hi)])
    }

    pub fn point(v: u128) -> Set {
        Set(vec![(v, v)])
    }

    pub fn from_ivs(ivs: impl IntoIterator<Item = Iv>) -> Set {
        let mut v: Vec<Iv> = ivs.into_iter().filter(|(a, b)| a <= b).collect();
        // Most lists come in order (cut from sorted sets).
        if !v.is_sorted() {
            v.sort_unstable();
        }
        let mut out: Vec<Iv> = Vec::with_capacity(v.len());
        for (lo, hi) in v {
            match out.last_mut() {
                Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
                _ => out.push((lo, hi)),
            }
        }
        Set(out)
    }

    pub fn ivs(&self) -> &[Iv] {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn lo(&self) -> u128 {
        self.0.first().map_or(0, |i| i.0)
    }

    pub fn hi(&self) -> u128 {
        self.0.last().map_or(0, |i| i.1)
    }

    /// Number of values, saturating (a whole IPv6 space does not fit).
    pub fn count(&self) -> f64 {
        self.0.iter().map(|(a, b)| (b - a) as f64 + 1.0).sum()
    }

    pub fn intersect(&self, o: &Set) -> Set {
        let (mut i, mut j, mut out) = (0, 0, Vec::new());
        while i < self.0.len() && j < o.0.len() {
            let (a, b) = (self.0[i], o.0[j]);
            let lo = a.0.max(b.0);
            let hi = a.1.min(b.1);
            if lo <= hi {
                out.push((lo, hi));
            }
            if a.1 < b.1 {
                i += 1;
            } else {
                j += 1;
            }
        }
        Set(out)
    }

    pub fn intersects(&self, o: &Set) -> bool {
        let (mut i, mut j) = (0, 0);
        while i < self.0.len() && j < o.0.len() {
            let (a, b) = (self.0[i], o.0[j]);
            if a.0.max(b.0) <= a.1.min(b.1) {
                return true;
            }
            if a.1 < b.1 {
                i += 1;
            } else {
                j += 1;
            }
        }
        false
    }

    pub fn minus(&self, o: &Set) -> Set {
        let mut out = Vec::new();
        let mut j = 0;
        for &(lo, hi) in &self.0 {
            let mut lo = lo;
            let mut done = false;
            while j < o.0.len() && o.0[j].1 < lo {
                j += 1;
            }
            let mut k = j;
            while k < o.0.len() && o.0[k].0 <= hi {
                let (clo, chi) = o.0[k];
                if clo > lo {
                    out.push((lo, clo - 1));
                }
                if chi >= hi {
                    done = true;
                    break;
                }
                lo = chi + 1;
                k += 1;
            }
            if !done {
                out.push((lo, hi));
            }
        }
        Set(out)
    }

    pub fn union(&self, o: &Set) -> Set {
        Set::from_ivs(self.0.iter().chain(o.0.iter()).copied())
    }

    /// Whether every value of `o` is in `self` (without building the difference).
    pub fn covers(&self, o: &Set) -> bool {
        let mut j = 0;
        for &(lo, hi) in &o.0 {
            while j < self.0.len() && self.0[j].1 < lo {
                j += 1;
            }
            match self.0.get(j) {
                Some(&(a, b)) if a <= lo && hi <= b => {}
                _ => return false,
            }
        }
        true
    }
}

/// IP family of a space: addresses of the two never mix in one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Fam {
    V4,
    V6,
}

impl Fam {
    pub fn max(self) -> u128 {
        match self {
            Fam::V4 => u32::MAX as u128,
            Fam::V6 => u128::MAX,
        }
    }

    pub fn bits(self) -> u32 {
        match self {
            Fam::V4 => 32,
            Fam::V6 => 128,
        }
    }

    pub fn all(self) -> Set {
        Set::range(0, self.max())
    }

    pub fn of(net: &IpNet) -> Fam {
        match net {
            IpNet::V4(_) => Fam::V4,
            IpNet::V6(_) => Fam::V6,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Fam::V4 => "IPv4",
            Fam::V6 => "IPv6",
        }
    }
}

pub const PROTO_MAX: u128 = 255;
pub const SEL_MAX: u128 = 65535;

pub const TCP: u8 = 6;
pub const UDP: u8 = 17;
pub const ICMP: u8 = 1;
pub const ICMPV6: u8 = 58;
pub const SCTP: u8 = 132;
pub const UDPLITE: u8 = 136;
pub const DCCP: u8 = 33;

/// Protocols whose selector is a destination port.
pub fn port_protocols() -> Set {
    Set::from_ivs([TCP, UDP, SCTP, UDPLITE, DCCP].map(|p| (p as u128, p as u128)))
}

/// The interval of a network's addresses.
pub fn net_iv(net: &IpNet) -> Iv {
    match net {
        IpNet::V4(n) => (
            u32::from(n.network()) as u128,
            u32::from(n.broadcast()) as u128,
        ),
        IpNet::V6(n) => (u128::from(n.network()), u128::from(n.broadcast())),
    }
}

/// The networks of one family as a set.
pub fn nets_set(nets: &[IpNet], fam: Fam) -> Set {
    Set::from_ivs(nets.iter().filter(|n| Fam::of(n) == fam).map(net_iv))
}

/// An interval of one family's addresses as the fewest networks, for reports.
pub fn iv_nets(fam: Fam, (lo, hi): Iv) -> Vec<IpNet> {
    let bits = fam.bits();
    let block_end = |lo: u128, k: u32| {
        if k >= 128 {
            u128::MAX
        } else {
            lo + ((1u128 << k) - 1)
        }
    };
    let mut out = Vec::new();
    let mut lo = lo;
    loop {
        // The largest aligned block that starts at `lo` and ends within `hi`.
        let mut k = if lo == 0 {
            bits
        } else {
            lo.trailing_zeros().min(bits)
        };
        while block_end(lo, k) > hi {
            k -= 1;
        }
        let prefix = (bits - k) as u8;
        out.push(match fam {
            Fam::V4 => IpNet::V4(
                ipnet::Ipv4Net::new(std::net::Ipv4Addr::from(lo as u32), prefix).expect("prefix"),
            ),
            Fam::V6 => IpNet::V6(
                ipnet::Ipv6Net::new(std::net::Ipv6Addr::from(lo), prefix).expect("prefix"),
            ),
        });
        let last = block_end(lo, k);
        if last >= hi {
            return out;
        }
        lo = last + 1;
    }
}

/// A product of sets: the packets of one family with a source in `src`, a destination in
/// `dst`, a protocol in `proto` and a selector in `sel`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Cube {
    pub fam: Fam,
    pub src: Set,
    pub dst: Set,
    pub proto: Set,
    pub sel: Set,
}

impl Cube {
    /// Every packet of a family.
    pub fn all(fam: Fam) -> Cube {
        Cube {
            fam,
            src: fam.all(),
            dst: fam.all(),
            proto: Set::range(0, PROTO_MAX),
            sel: Set::range(0, SEL_MAX),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.src.is_empty() || self.dst.is_empty() || self.proto.is_empty() || self.sel.is_empty()
    }

    pub fn intersect(&self, o: &Cube) -> Option<Cube> {
        // Most pairs do not meet: find out without building the sets.
        if !self.intersects(o) {
            return None;
        }
        let c = Cube {
            fam: self.fam,
            src: self.src.intersect(&o.src),
            dst: self.dst.intersect(&o.dst),
            proto: self.proto.intersect(&o.proto),
            sel: self.sel.intersect(&o.sel),
        };
        (!c.is_empty()).then_some(c)
    }

    pub fn intersects(&self, o: &Cube) -> bool {
        self.fam == o.fam
            && self.proto.intersects(&o.proto)
            && self.sel.intersects(&o.sel)
            && self.dst.intersects(&o.dst)
            && self.src.intersects(&o.src)
    }

    pub fn covers(&self, o: &Cube) -> bool {
        self.fam == o.fam
            && self.src.covers(&o.src)
            && self.dst.covers(&o.dst)
            && self.proto.covers(&o.proto)
            && self.sel.covers(&o.sel)
    }

    /// `self` without `o`: at most four disjoint cubes, one per dimension where they differ.
    pub fn minus(&self, o: &Cube) -> Vec<Cube> {
        if !self.intersects(o) {
            return vec![self.clone()];
        }
        let mut out = Vec::new();
        let mut rest = self.clone();
        let s_out = rest.src.minus(&o.src);
        if !s_out.is_empty() {
            out.push(Cube {
                src: s_out,
                ..rest.clone()
            });
            rest.src = rest.src.intersect(&o.src);
        }
        let d_out = rest.dst.minus(&o.dst);
        if !d_out.is_empty() {
            out.push(Cube {
                dst: d_out,
                ..rest.clone()
            });
            rest.dst = rest.dst.intersect(&o.dst);
        }
        let p_out = rest.proto.minus(&o.proto);
        if !p_out.is_empty() {
            out.push(Cube {
                proto: p_out,
                ..rest.clone()
            });
            rest.proto = rest.proto.intersect(&o.proto);
        }
        let x_out = rest.sel.minus(&o.sel);
        if !x_out.is_empty() {
            out.push(Cube { sel: x_out, ..rest });
        }
        out
    }

    /// How much the cube holds: addresses x addresses x (ports or types per protocol), as a
    /// float (IPv6 spaces do not fit an integer) for ranking.
    pub fn size(&self) -> f64 {
        let per_proto: f64 = self
            .proto
            .ivs()
            .iter()
            .flat_map(|&(a, b)| a..=b)
            .map(|p| selector_count(p as u8, &self.sel))
            .sum();
        self.src.count() * self.dst.count() * per_proto
    }
}

/// Values of the selector that mean something for a protocol: ports, ICMP types, or one.
pub fn selector_count(proto: u8, sel: &Set) -> f64 {
    match proto {
        TCP | UDP | SCTP | UDPLITE | DCCP => sel.intersect(&Set::range(1, SEL_MAX)).count(),
        ICMP | ICMPV6 => sel.intersect(&Set::range(0, 255)).count(),
        _ => 1.0,
    }
}

/// A union of cubes as a list (not necessarily disjoint unless made by subtraction).
pub fn minus_all(pieces: Vec<Cube>, cut: &Cube) -> Vec<Cube> {
    let mut out = Vec::with_capacity(pieces.len());
    for p in pieces {
        if p.intersects(cut) {
            out.extend(p.minus(cut));
        } else {
            out.push(p);
        }
    }
    out
}

/// Name of an IP protocol number, as nftables and iptables spell it.
pub fn proto_name(p: u8) -> String {
    match p {
        1 => "icmp".into(),
        6 => "tcp".into(),
        17 => "udp".into(),
        47 => "gre".into(),
        50 => "esp".into(),
        51 => "ah".into(),
        58 => "icmpv6".into(),
        132 => "sctp".into(),
        136 => "udplite".into(),
        33 => "dccp".into(),
        n => n.to_string(),
    }
}

/// An IP protocol by name or number, as the platforms' tools print it.
pub fn proto_number(s: &str) -> Option<u8> {
    let l = s.to_ascii_lowercase();
    Some(match l.as_str() {
        "icmp" => 1,
        "igmp" => 2,
        "tcp" => 6,
        "udp" => 17,
        "gre" => 47,
        "esp" => 50,
        "ah" => 51,
        "icmpv6" | "ipv6-icmp" | "icmp6" => 58,
        "sctp" => 132,
        "udplite" => 136,
        "dccp" => 33,
        "ipip" => 4,
        _ => return l.parse().ok(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(ivs: &[(u128, u128)]) -> Set {
        Set::from_ivs(ivs.iter().copied())
    }

    #[test]
    fn set_algebra() {
        let a = s(&[(1, 10), (20, 30)]);
        let b = s(&[(5, 25)]);
        assert_eq!(a.intersect(&b), s(&[(5, 10), (20, 25)]));
        assert_eq!(a.minus(&b), s(&[(1, 4), (26, 30)]));
        assert_eq!(b.minus(&a), s(&[(11, 19)]));
        assert_eq!(a.union(&b), s(&[(1, 30)]));
        assert!(s(&[(0, 100)]).covers(&a));
        assert!(!a.covers(&b));
        assert!(a.covers(&s(&[(2, 3), (20, 30)])));
        assert!(!a.covers(&s(&[(2, 3), (29, 31)])));
        assert!(a.covers(&Set::empty()));
        assert!(!Set::empty().covers(&a));
        assert_eq!(
            s(&[(0, u128::MAX)]).minus(&s(&[(0, 5)])),
            s(&[(6, u128::MAX)])
        );
        assert_eq!(s(&[(3, 3), (4, 9)]), s(&[(3, 9)]));
        assert!(a.minus(&a).is_empty());
    }

    #[test]
    fn cube_minus_is_exact() {
        let all = Cube::all(Fam::V4);
        let r = Cube {
            src: Set::range(10, 20),
            dst: Set::range(5, 5),
            proto: Set::point(6),
            sel: Set::range(80, 80),
            ..all.clone()
        };
        let rest = all.minus(&r);
        assert!(rest.iter().all(|c| !c.intersects(&r)));
        let total: f64 = rest.iter().map(Cube::size).sum::<f64>() + r.size();
        assert_eq!(total, all.size());
    }

    #[test]
    fn intervals_print_as_networks() {
        let n = |s: &str| s.parse::<IpNet>().unwrap();
        let iv = net_iv(&n("10.0.0.0/24"));
        assert_eq!(iv_nets(Fam::V4, iv), vec![n("10.0.0.0/24")]);
        assert_eq!(
            iv_nets(Fam::V4, (iv.0 + 1, iv.0 + 4)),
            vec![n("10.0.0.1/32"), n("10.0.0.2/31"), n("10.0.0.4/32")]
        );
        assert_eq!(
            iv_nets(Fam::V4, (0, u32::MAX as u128)),
            vec![n("0.0.0.0/0")]
        );
        assert_eq!(iv_nets(Fam::V6, (0, u128::MAX)), vec![n("::/0")]);
        assert_eq!(
            iv_nets(Fam::V6, net_iv(&n("2001:db8::/64"))),
            vec![n("2001:db8::/64")]
        );
    }
}

//! The plain data every stage shares: protocols, port sets and resolved flows.

use std::fmt;
use std::sync::Arc;

use ipnet::IpNet;
use serde::Serialize;

/// L3/L4 protocols a flow can use. Names are IANA keywords as nftables and iptables spell them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
    Icmp,
    Icmpv6,
    Esp,
    Ah,
    Gre,
}

impl Protocol {
    pub const ALL: [Protocol; 8] = [
        Protocol::Tcp,
        Protocol::Udp,
        Protocol::Sctp,
        Protocol::Icmp,
        Protocol::Icmpv6,
        Protocol::Esp,
        Protocol::Ah,
        Protocol::Gre,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
            Protocol::Icmp => "icmp",
            Protocol::Icmpv6 => "icmpv6",
            Protocol::Esp => "esp",
            Protocol::Ah => "ah",
            Protocol::Gre => "gre",
        }
    }

    pub fn parse(s: &str) -> Option<Protocol> {
        Protocol::ALL.into_iter().find(|p| p.name() == s)
    }

    /// Whether the protocol has ports (and so a flow of it needs at least one).
    pub fn has_ports(self) -> bool {
        matches!(self, Protocol::Tcp | Protocol::Udp | Protocol::Sctp)
    }

    pub fn names() -> impl Iterator<Item = &'static str> + Clone {
        Protocol::ALL.into_iter().map(Protocol::name)
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An IP family: rule sets and the clouds keep IPv4 and IPv6 apart. Templates see `ipv4` and
/// `ipv6`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Family {
    #[serde(rename = "ipv4")]
    V4,
    #[serde(rename = "ipv6")]
    V6,
}

impl Family {
    pub fn of(n: &IpNet) -> Family {
        match n {
            IpNet::V4(_) => Family::V4,
            IpNet::V6(_) => Family::V6,
        }
    }

    /// Whether a protocol makes sense in this family (ICMP is IPv4, ICMPv6 is IPv6).
    pub fn carries(self, p: Protocol) -> bool {
        !matches!(
            (self, p),
            (Family::V4, Protocol::Icmpv6) | (Family::V6, Protocol::Icmp)
        )
    }
}

/// An inclusive port range; a single port has `lo == hi`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PortRange {
    pub lo: u16,
    pub hi: u16,
}

impl PortRange {
    pub fn single(p: u16) -> Self {
        PortRange { lo: p, hi: p }
    }

    pub fn size(&self) -> u32 {
        u32::from(self.hi) - u32::from(self.lo) + 1
    }

    pub fn is_single(&self) -> bool {
        self.lo == self.hi
    }

    /// Parse `443` or `6910-6930`; en dashes and spaces around the dash (seen in the
    /// sources) are accepted so a copied range still reads right.
    pub fn parse(s: &str) -> Result<PortRange, String> {
        let s = s.trim();
        let norm = s.replace(['\u{2013}', '\u{2014}'], "-");
        let (lo, hi) = match norm.split_once('-') {
            Some((a, b)) => (a.trim(), b.trim()),
            None => (norm.as_str(), norm.as_str()),
        };
        let port = |t: &str| -> Result<u16, String> {
            match t.parse::<u32>() {
                Ok(0) => Err("port 0 is not a usable port".into()),
                Ok(n) if n <= 65535 => Ok(n as u16),
                Ok(n) => Err(format!("port {n} is above 65535")),
                Err(_) => Err(format!("`{s}` is not a port or a range like 6910-6930")),
            }
        };
        let (lo, hi) = (port(lo)?, port(hi)?);
        if lo > hi {
            return Err(format!("range {lo}-{hi} runs backwards"));
        }
        Ok(PortRange { lo, hi })
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_to(f)
    }
}

/// A normalised set of ports: sorted, non-overlapping, adjacent ranges joined.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PortSet(Vec<PortRange>);

impl PortSet {
    pub fn new() -> Self {
        PortSet(Vec::new())
    }

    pub fn from_ranges(ranges: impl IntoIterator<Item = PortRange>) -> Self {
        let mut v: Vec<PortRange> = ranges.into_iter().collect();
        v.sort();
        let mut out: Vec<PortRange> = Vec::with_capacity(v.len());
        for r in v {
            match out.last_mut() {
                Some(last) if u32::from(r.lo) <= u32::from(last.hi) + 1 => {
                    last.hi = last.hi.max(r.hi);
                }
                _ => out.push(r),
            }
        }
        PortSet(out)
    }

    pub fn ranges(&self) -> &[PortRange] {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn union(&self, other: &PortSet) -> PortSet {
        PortSet::from_ranges(self.0.iter().chain(other.0.iter()).copied())
    }

    pub fn contains(&self, port: u16) -> bool {
        self.0.iter().any(|r| r.lo <= port && port <= r.hi)
    }

    pub fn covers(&self, other: &PortSet) -> bool {
        other
            .0
            .iter()
            .all(|o| self.0.iter().any(|r| r.lo <= o.lo && o.hi <= r.hi))
    }

    /// The ports of `self` that `other` does not have.
    pub fn minus(&self, other: &PortSet) -> PortSet {
        let mut out = Vec::new();
        // Both sorted: one pass over each, not every pair (sets can hold thousands of ranges).
        let others = other.ranges();
        let mut first = 0;
        for r in self.ranges() {
            let mut lo = u32::from(r.lo);
            let hi = u32::from(r.hi);
            while others.get(first).is_some_and(|c| u32::from(c.hi) < lo) {
                first += 1;
            }
            for c in &others[first..] {
                let (clo, chi) = (u32::from(c.lo), u32::from(c.hi));
                if clo > hi {
                    break;
                }
                if chi < lo {
                    continue;
                }
                if clo > lo {
                    out.push(PortRange {
                        lo: lo as u16,
                        hi: (clo - 1) as u16,
                    });
                }
                lo = chi + 1;
                if lo > hi {
                    break;
                }
            }
            if lo <= hi {
                out.push(PortRange {
                    lo: lo as u16,
                    hi: hi as u16,
                });
            }
        }
        PortSet::from_ranges(out)
    }

    pub fn intersects(&self, other: &PortSet) -> bool {
        self.0
            .iter()
            .any(|a| other.0.iter().any(|b| a.lo <= b.hi && b.lo <= a.hi))
    }

    /// Number of individual ports.
    pub fn count(&self) -> u32 {
        self.0.iter().map(PortRange::size).sum()
    }

    /// `["80", "443", "6910-6930"]`: the contract's string form.
    pub fn to_strings(&self) -> Vec<String> {
        self.0.iter().map(PortRange::text).collect()
    }

    /// The set as text, as [`fmt::Display`] writes it.
    pub fn text(&self) -> String {
        let mut s = String::with_capacity(6 * self.0.len());
        self.push_to(&mut s);
        s
    }
}

impl fmt::Display for PortSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_to(f)
    }
}

impl PortSet {
    /// `80,443,6910-6930`: what [`fmt::Display`] writes, into any writer (a `String` directly:
    /// table cells print a set for every flow).
    fn write_to(&self, out: &mut impl fmt::Write) -> fmt::Result {
        for (i, r) in self.0.iter().enumerate() {
            if i > 0 {
                out.write_str(",")?;
            }
            r.write_to(out)?;
        }
        Ok(())
    }

    /// The set as text, appended to `out`.
    pub fn push_to(&self, out: &mut String) {
        self.write_to(out).expect("a String takes any text");
    }
}

impl PortRange {
    /// The range as text, as [`fmt::Display`] writes it.
    pub fn text(&self) -> String {
        let mut s = String::with_capacity(11);
        self.write_to(&mut s).expect("a String takes any text");
        s
    }

    /// `443` or `6910-6930`: what [`fmt::Display`] writes, into any writer.
    fn write_to(&self, out: &mut impl fmt::Write) -> fmt::Result {
        // Port lists are printed in every target, many times over: itoa skips `fmt`'s padding.
        let mut buf = itoa::Buffer::new();
        out.write_str(buf.format(self.lo))?;
        if !self.is_single() {
            out.write_str("-")?;
            out.write_str(buf.format(self.hi))?;
        }
        Ok(())
    }
}

/// One catalogue entry (or topology addition) that contributed to a merged flow: one shared
/// [`Part`] for every flow the entry binds with the same ports. Parts are hundreds of thousands
/// at enterprise scale; each owned its six texts' pointers and a copy of its ports (144 bytes
/// and an allocation) before they were shared whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowPart(Arc<Part>);

impl FlowPart {
    pub fn new(part: Part) -> Self {
        FlowPart(Arc::new(part))
    }
}

impl std::ops::Deref for FlowPart {
    type Target = Part;
    fn deref(&self) -> &Part {
        &self.0
    }
}

impl Serialize for FlowPart {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

/// What a [`FlowPart`] says.
#[derive(Debug, PartialEq, Eq, Serialize)]
pub struct Part {
    pub catalogue: Arc<str>,
    #[serde(serialize_with = "ser_ports")]
    pub ports: PortSet,
    pub purpose: Arc<str>,
    pub source: Arc<str>,
    /// The parameter condition that switched this part on, as written in the catalogue.
    pub condition: Option<Arc<str>>,
    /// A topology addition's reason.
    pub reason: Option<String>,
    /// How this entry corrects a source row, with the defect ids.
    pub note: Option<Arc<str>>,
    pub fixes: Arc<[String]>,
}

/// A resolved flow: traffic from one component (interface) to another, one protocol.
///
/// Names, zones, kinds, addresses and catalogue texts are shared (`Arc`) with every other flow
/// of the same component or catalogue entry rather than owned: owned copies were most of the
/// resolution's memory at scale. What a flow says about an end besides its name is one shared
/// [`FlowEnd`], not five shared fields per end.
///
/// Serialised flat, as `from`, `from_kinds`, `from_zone`, `from_interface`,
/// `from_addresses`, `to`, ... (the flows JSON contract).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flow {
    pub id: String,
    pub catalogue: Arc<str>,
    pub from: Arc<str>,
    pub from_end: Arc<FlowEnd>,
    pub to: Arc<str>,
    pub to_end: Arc<FlowEnd>,
    pub to_fqdns: Vec<String>,
    pub protocol: Protocol,
    pub ports: PortSet,
    /// The parts' purposes joined (the part's own text when there is one).
    pub purpose: Arc<str>,
    pub source: Arc<str>,
    pub reason: Option<String>,
    /// Both ends in the same zone: a zone firewall never sees it, a host firewall does.
    pub intra_zone: bool,
    /// Parameters whose value switched a part of this flow on.
    pub parameters: Vec<String>,
    pub parts: Vec<FlowPart>,
}

/// One end of a flow: a component (or the internet service standing for one) on one of its
/// interfaces, shared by every flow of that end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowEnd {
    /// Its place in the resolution's ends ([`crate::resolve::Resolution::ends`]): later stages
    /// key what they derive from an end (its rule networks, its address texts) by it.
    pub id: EndId,
    pub kinds: Arc<[String]>,
    pub zone: Arc<str>,
    pub interface: Option<Arc<str>>,
    pub addresses: Arc<[IpNet]>,
    pub site: Option<Arc<str>>,
}

/// The number of a flow end: its index in [`crate::resolve::Resolution::ends`]. One end is one
/// component on one interface (or one internet service in one internet zone), so equal ids
/// mean the same names, zone and addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EndId(pub u32);

impl EndId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl Serialize for Flow {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        /// The contract's flat fields, borrowed.
        #[derive(Serialize)]
        struct Flat<'a> {
            id: &'a str,
            catalogue: &'a str,
            from: &'a str,
            from_kinds: &'a [String],
            from_zone: &'a str,
            from_interface: Option<&'a str>,
            from_addresses: &'a [IpNet],
            to: &'a str,
            to_kinds: &'a [String],
            to_zone: &'a str,
            to_interface: Option<&'a str>,
            to_addresses: &'a [IpNet],
            to_fqdns: &'a [String],
            protocol: Protocol,
            #[serde(serialize_with = "ser_ports")]
            ports: &'a PortSet,
            purpose: &'a str,
            source: &'a str,
            reason: Option<&'a str>,
            from_site: Option<&'a str>,
            to_site: Option<&'a str>,
            intra_zone: bool,
            parameters: &'a [String],
            parts: &'a [FlowPart],
        }
        let (from, to) = (&*self.from_end, &*self.to_end);
        Flat {
            id: &self.id,
            catalogue: &self.catalogue,
            from: &self.from,
            from_kinds: &from.kinds,
            from_zone: &from.zone,
            from_interface: from.interface.as_deref(),
            from_addresses: &from.addresses,
            to: &self.to,
            to_kinds: &to.kinds,
            to_zone: &to.zone,
            to_interface: to.interface.as_deref(),
            to_addresses: &to.addresses,
            to_fqdns: &self.to_fqdns,
            protocol: self.protocol,
            ports: &self.ports,
            purpose: &self.purpose,
            source: &self.source,
            reason: self.reason.as_deref(),
            from_site: from.site.as_deref(),
            to_site: to.site.as_deref(),
            intra_zone: self.intra_zone,
            parameters: &self.parameters,
            parts: &self.parts,
        }
        .serialize(s)
    }
}

impl Flow {
    /// The catalogue ids merged into this flow.
    pub fn catalogue_ids(&self) -> Vec<&str> {
        self.parts.iter().map(|p| &*p.catalogue).collect()
    }
}

/// A port set as the contract writes it: `["80", "443", "6910-6930"]`.
pub fn ser_ports<S: serde::Serializer>(p: &PortSet, s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(p.to_strings())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_print_as_decimal_numbers_do() {
        let r = |lo, hi| PortRange { lo, hi };
        assert_eq!(r(0, 0).to_string(), "0");
        assert_eq!(r(9, 10).to_string(), "9-10");
        assert_eq!(r(1, 65535).to_string(), "1-65535");
        let set = PortSet::from_ranges([r(80, 80), r(443, 443), r(6890, 6930), r(0, 0)]);
        let mut pushed = String::from("x");
        set.push_to(&mut pushed);
        assert_eq!(pushed, format!("x{set}"));
        assert_eq!(set.text(), set.to_string());
        let each: Vec<String> = set.ranges().iter().map(ToString::to_string).collect();
        assert_eq!(set.to_strings(), each);
    }

    #[test]
    fn minus_keeps_what_the_other_set_lacks() {
        let p = |s: &[&str]| PortSet::from_ranges(s.iter().map(|x| PortRange::parse(x).unwrap()));
        assert_eq!(p(&["80-443"]).minus(&p(&["400-500"])).to_string(), "80-399");
        assert_eq!(
            p(&["400-500"]).minus(&p(&["80-443"])).to_string(),
            "444-500"
        );
        assert_eq!(
            p(&["1-100"]).minus(&p(&["10-20", "30-40"])).to_string(),
            "1-9,21-29,41-100"
        );
        assert!(p(&["443"]).minus(&p(&["1-65535"])).is_empty());
    }

    fn set(items: &[&str]) -> PortSet {
        PortSet::from_ranges(items.iter().map(|s| PortRange::parse(s).unwrap()))
    }

    #[test]
    fn merges_adjacent_and_overlapping() {
        assert_eq!(
            set(&["443", "80", "81", "6910-6930", "6920-6940"]).to_string(),
            "80-81,443,6910-6940"
        );
    }

    #[test]
    fn parses_source_spellings() {
        assert_eq!(
            PortRange::parse("6890\u{2013} 6909").unwrap().to_string(),
            "6890-6909"
        );
        assert!(PortRange::parse("0").is_err());
        assert!(PortRange::parse("70000").is_err());
        assert!(PortRange::parse("20-10").is_err());
        assert!(PortRange::parse("http").is_err());
    }

    #[test]
    fn covers_and_intersects() {
        let wide = set(&["1-1000"]);
        assert!(wide.covers(&set(&["80", "443"])));
        assert!(!set(&["80"]).covers(&wide));
        assert!(wide.intersects(&set(&["999-2000"])));
        assert!(!wide.intersects(&set(&["1001"])));
    }
}

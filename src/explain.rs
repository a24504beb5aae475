//! `ctxfw explain`: is this traffic allowed, by which flows, and why; when it is not, the
//! flows that almost match.
//!
//! An end is a component (`ddc`, or `netscaler.snip` for one interface), a zone (`dmz`: every
//! flow from or to something in it), an address or network (matched when a flow's rule
//! addresses contain it, [`crate::plan::Internal::contains`]: the default route `0.0.0.0/0` is
//! every address no other zone holds, so an address or network in or overlapping another zone
//! does not match it), or, for the destination, a domain name
//! (matched against `to_fqdns`; `*.cloud.com` there matches `a.cloud.com`, not `cloud.com`).

use std::fmt::Write as _;

use ipnet::IpNet;

use crate::flow::{Flow, Protocol};
use crate::generate::UsageError;
use crate::plan::Internal;
use crate::render::flows::{end_label, switched_by};
use crate::topology::Topology;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    Component {
        name: String,
        interface: Option<String>,
    },
    Zone(String),
    Net(IpNet),
    Domain(String),
}

impl std::fmt::Display for End {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            End::Component { name, interface } => f.write_str(&end_label(name, interface)),
            End::Zone(z) => write!(f, "zone {z}"),
            End::Net(n) if n.prefix_len() == n.max_prefix_len() => write!(f, "{}", n.addr()),
            End::Net(n) => write!(f, "{n}"),
            End::Domain(d) => f.write_str(d),
        }
    }
}

/// Parse `--from`/`--to`: a component (or `component.interface`), a zone, an address or
/// network, or (destination only) a domain name. A name that is both a component and a zone is
/// the component.
pub fn parse_end(s: &str, topo: &Topology, allow_domain: bool) -> Result<End, UsageError> {
    let s = s.trim();
    let (base, iface) = match s.split_once('.') {
        Some((b, i)) if topo.components.contains_key(b) => (b, Some(i)),
        _ => (s, None),
    };
    if let Some(c) = topo.components.get(base) {
        if let Some(i) = iface {
            if !c.interfaces.contains_key(i) {
                return Err(UsageError(format!(
                    "component `{base}` has no interface `{i}` in {}; {}",
                    topo.file.name,
                    crate::diag::choice_hint(i, c.interfaces.keys().map(String::as_str))
                )));
            }
        }
        return Ok(End::Component {
            name: base.to_string(),
            interface: iface.map(str::to_string),
        });
    }
    if topo.zones.contains_key(s) {
        return Ok(End::Zone(s.to_string()));
    }
    if let Ok(n) = s.parse::<IpNet>() {
        return Ok(End::Net(n.trunc()));
    }
    if let Ok(a) = s.parse::<std::net::IpAddr>() {
        return Ok(End::Net(IpNet::from(a)));
    }
    let domain_like = s.contains('.')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '*' | '_'));
    if allow_domain && domain_like {
        return Ok(End::Domain(s.to_ascii_lowercase()));
    }
    Err(UsageError(format!(
        "`{s}` is not a component or zone of {}, an address or a network{}; {}",
        topo.file.name,
        if allow_domain {
            ", or a domain name"
        } else {
            ""
        },
        crate::diag::choice_hint(
            s,
            topo.components
                .keys()
                .chain(topo.zones.keys())
                .map(String::as_str)
        )
    )))
}

/// `tcp/443`, `udp/1494`, `tcp` (any port), `icmp`.
pub fn parse_port(s: &str) -> Result<(Protocol, Option<u16>), UsageError> {
    let (p, port) = match s.split_once('/') {
        Some((p, n)) => (p, Some(n)),
        None => (s, None),
    };
    // `443` or `443/tcp`: the port is there, the protocol missing or last.
    if let Ok(n) = p.parse::<u16>() {
        let hint = match port.map(str::to_ascii_lowercase) {
            Some(proto) if Protocol::parse(&proto).is_some() => format!("{proto}/{n}"),
            _ => format!("tcp/{n} (or udp/{n})"),
        };
        return Err(UsageError(format!(
            "--port {s}: write the protocol first; did you mean {hint}?"
        )));
    }
    let proto = Protocol::parse(&p.to_ascii_lowercase()).ok_or_else(|| {
        UsageError(format!(
            "--port {s}: unknown protocol `{p}`; expected one of {}",
            Protocol::names().collect::<Vec<_>>().join(", ")
        ))
    })?;
    let port = match port {
        None => None,
        Some(n) => match n.parse::<u16>() {
            Ok(v) if v > 0 && proto.has_ports() => Some(v),
            _ if !proto.has_ports() => {
                return Err(UsageError(format!("--port {s}: {proto} has no ports")))
            }
            _ => {
                return Err(UsageError(format!(
                    "--port {s}: `{n}` is not a port (1-65535)"
                )))
            }
        },
    };
    Ok((proto, port))
}

/// `*.cloud.com` matches `a.cloud.com` and `a.b.cloud.com`; other names match exactly (case
/// insensitive). A query that is itself a wildcard matches the same wildcard.
pub fn domain_matches(pattern: &str, name: &str) -> bool {
    let (p, n) = (pattern.to_ascii_lowercase(), name.to_ascii_lowercase());
    if p == n {
        return true;
    }
    match p.strip_prefix("*.") {
        Some(suffix) => n.len() > suffix.len() + 1 && n.ends_with(&format!(".{suffix}")),
        None => false,
    }
}

/// One side of a flow, as a query end sees it.
struct Side<'a> {
    name: &'a str,
    zone: &'a str,
    iface: &'a Option<std::sync::Arc<str>>,
    nets: &'a [IpNet],
    fqdns: &'a [String],
}

fn end_matches(end: &End, internal: &Internal, side: &Side<'_>) -> bool {
    match end {
        End::Component { name: c, interface } => {
            c == side.name && (interface.is_none() || interface.as_deref() == side.iface.as_deref())
        }
        End::Zone(z) => z == side.zone,
        // As the rule sets match it: a default route is "everything not in another zone".
        End::Net(q) => internal.contains(side.nets, q),
        End::Domain(d) => side.fqdns.iter().any(|p| domain_matches(p, d)),
    }
}

pub struct Query<'t> {
    pub topology: &'t Topology,
    pub from: End,
    pub to: End,
    pub port: Option<(Protocol, Option<u16>)>,
}

impl Query<'_> {
    /// What the default route leaves out, made once for all the flows a query is asked of.
    fn sides(&self) -> Internal {
        Internal::of(self.topology)
    }
    fn source_ok(&self, internal: &Internal, f: &Flow) -> bool {
        let side = Side {
            name: &f.from,
            zone: &f.from_end.zone,
            iface: &f.from_end.interface,
            nets: &f.from_end.addresses,
            fqdns: &[],
        };
        end_matches(&self.from, internal, &side)
    }
    fn to_ok(&self, internal: &Internal, f: &Flow) -> bool {
        let side = Side {
            name: &f.to,
            zone: &f.to_end.zone,
            iface: &f.to_end.interface,
            nets: &f.to_end.addresses,
            fqdns: &f.to_fqdns,
        };
        end_matches(&self.to, internal, &side)
    }
    fn port_ok(&self, f: &Flow) -> bool {
        match self.port {
            None => true,
            Some((p, None)) => f.protocol == p,
            Some((p, Some(n))) => f.protocol == p && f.ports.contains(n),
        }
    }
    fn traffic(&self) -> String {
        let what = match self.port {
            None => "traffic".to_string(),
            Some((p, None)) => p.to_string(),
            Some((p, Some(n))) => format!("{p}/{n}"),
        };
        format!("{what} from {} to {}", self.from, self.to)
    }
}

pub struct Answer<'a> {
    pub allowed: Vec<&'a Flow>,
    /// Flows that almost match, with what differs.
    pub near: Vec<(&'a Flow, String)>,
}

const NEAR_MAX: usize = 8;

pub fn explain<'a>(flows: &'a [Flow], q: &Query<'_>) -> Answer<'a> {
    let internal = &q.sides();
    let source_ok = |f: &Flow| q.source_ok(internal, f);
    let to_ok = |f: &Flow| q.to_ok(internal, f);
    let allowed: Vec<&Flow> = flows
        .iter()
        .filter(|f| source_ok(f) && to_ok(f) && q.port_ok(f))
        .collect();
    let mut near: Vec<(&Flow, String)> = Vec::new();
    if allowed.is_empty() {
        for f in flows.iter().filter(|f| source_ok(f) && to_ok(f)) {
            near.push((
                f,
                "same source and destination, another protocol or port".into(),
            ));
        }
        if q.port.is_some() {
            for f in flows
                .iter()
                .filter(|f| to_ok(f) && q.port_ok(f) && !source_ok(f))
            {
                near.push((
                    f,
                    format!(
                        "same destination and port, from {} (zone {})",
                        end_label(&f.from, &f.from_end.interface),
                        f.from_end.zone
                    ),
                ));
            }
            for f in flows
                .iter()
                .filter(|f| source_ok(f) && q.port_ok(f) && !to_ok(f))
            {
                near.push((
                    f,
                    format!(
                        "same source and port, to {} (zone {})",
                        end_label(&f.to, &f.to_end.interface),
                        f.to_end.zone
                    ),
                ));
            }
        }
        if near.is_empty() {
            for f in flows.iter().filter(|f| to_ok(f)) {
                near.push((
                    f,
                    format!(
                        "same destination, from {} (zone {})",
                        end_label(&f.from, &f.from_end.interface),
                        f.from_end.zone
                    ),
                ));
            }
        }
        near.truncate(NEAR_MAX);
    }
    Answer { allowed, near }
}

fn describe(out: &mut String, f: &Flow, port: Option<u16>) {
    let ports = if f.ports.is_empty() {
        f.protocol.to_string()
    } else {
        format!("{}/{}", f.protocol, f.ports)
    };
    let _ = writeln!(
        out,
        "  flow {}: {} ({}) -> {} ({}), {ports}",
        f.id,
        end_label(&f.from, &f.from_end.interface),
        f.from_end.zone,
        end_label(&f.to, &f.to_end.interface),
        f.to_end.zone
    );
    // The catalogue entries behind it; with a port, only those that carry it.
    for p in f
        .parts
        .iter()
        .filter(|p| port.is_none_or(|n| p.ports.is_empty() || p.ports.contains(n)))
    {
        let _ = writeln!(out, "    why: {}", p.purpose.replace('\n', " "));
        let _ = writeln!(out, "    documented in: {} [{}]", p.source, p.catalogue);
        if let Some(c) = &p.condition {
            let _ = writeln!(out, "    switched on by: {c}");
        }
        if let Some(r) = &p.reason {
            let _ = writeln!(out, "    reason: {}", r.replace('\n', " "));
        }
    }
    if !f.to_fqdns.is_empty() {
        let _ = writeln!(out, "    domains: {}", f.to_fqdns.join(", "));
    }
    let s = switched_by(f);
    if !s.is_empty() {
        let _ = writeln!(out, "    {s}");
    }
}

/// The answer as text; the first line starts with `allowed:` or `not allowed:`.
pub fn text(q: &Query<'_>, a: &Answer<'_>) -> String {
    let port = q.port.and_then(|(_, n)| n);
    let mut out = String::new();
    if a.allowed.is_empty() {
        let _ = writeln!(out, "not allowed: {}", q.traffic());
        if a.near.is_empty() {
            let _ = writeln!(
                out,
                "no flow comes close: nothing in this topology reaches {}",
                q.to
            );
        } else {
            let _ = writeln!(out, "nearest flows:");
            for (f, why) in &a.near {
                let _ = writeln!(out, "- {why}");
                describe(&mut out, f, None);
            }
        }
    } else {
        let _ = writeln!(
            out,
            "allowed: {} by {} flow{}",
            q.traffic(),
            a.allowed.len(),
            if a.allowed.len() == 1 { "" } else { "s" }
        );
        for f in &a.allowed {
            describe(&mut out, f, port);
        }
    }
    out
}

/// The answer for scripts: `{"allowed": bool, "traffic", "from", "to", "port", "flows": [...],
/// "near": [{"why", "flow"}]}`, each flow as in `ctxfw flows --format json`.
pub fn json(q: &Query<'_>, a: &Answer<'_>) -> String {
    let port = q.port.map(|(p, n)| match n {
        Some(n) => format!("{p}/{n}"),
        None => p.to_string(),
    });
    let near: Vec<serde_json::Value> = a
        .near
        .iter()
        .map(|(f, why)| serde_json::json!({ "why": why, "flow": f }))
        .collect();
    let doc = serde_json::json!({
        "allowed": !a.allowed.is_empty(),
        "traffic": q.traffic(),
        "from": q.from.to_string(),
        "to": q.to.to_string(),
        "port": port,
        "flows": a.allowed,
        "near": near,
    });
    let mut text = serde_json::to_string_pretty(&doc).expect("flows serialise");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(domain_matches("*.cloud.com", "a.cloud.com"));
        assert!(domain_matches("*.cloud.com", "a.b.CLOUD.com"));
        assert!(!domain_matches("*.cloud.com", "cloud.com"));
        assert!(!domain_matches("*.cloud.com", "evilcloud.com"));
        assert!(domain_matches("*.cloud.com", "*.cloud.com"));
        assert!(domain_matches("cloud.com", "cloud.com"));
    }

    #[test]
    fn ports() {
        assert_eq!(parse_port("tcp/443").unwrap(), (Protocol::Tcp, Some(443)));
        assert_eq!(parse_port("UDP").unwrap(), (Protocol::Udp, None));
        assert!(parse_port("icmp/8").is_err());
        assert!(parse_port("tcp/0").is_err());
        assert!(parse_port("http/80").is_err());
        let hint = |s: &str| parse_port(s).unwrap_err().0;
        assert!(hint("443").contains("did you mean tcp/443 (or udp/443)?"));
        assert!(hint("1494/udp").contains("did you mean udp/1494?"));
    }
}

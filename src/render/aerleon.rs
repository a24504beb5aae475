//! Aerleon export: the zone-firewall rules as an Aerleon policy with its network and service
//! definitions, so `aclgen` renders them for the platforms Aerleon supports (Juniper, Cisco,
//! Palo Alto, Juniper SRX...).
//!
//! Layout (relative to the output directory):
//! `<topology>.aerleon/policies/pol/<topology>.yaml`, `<topology>.aerleon/def/networks.yaml`,
//! `<topology>.aerleon/def/services.yaml`. One filter per pair of zones (Palo Alto and SRX
//! policies are per zone pair; the Juniper filter and Cisco ACL are named `<from>-to-<to>` for
//! the interface facing `<from>`), one term per flow, and a final deny term per filter.
//! Headers target juniper, cisco, paloalto and srx. Aerleon's host-level generators (nftables,
//! iptables) would need one filter for all zones, since every filter with the same hook is a
//! separate base chain with its own drop policy; use ctxfw's own nftables/iptables targets.
//!
//! The YAML is JSON (valid YAML 1.2 and read the same by PyYAML's SafeLoader, which Aerleon
//! uses) built from typed values in key order and printed by `render::write_yaml_doc`, which
//! escapes every non-ASCII character so the files read the same whatever the reader's locale
//! encoding.

use std::collections::BTreeMap;

use anyhow::{bail, Result};
use indexmap::IndexMap;
use ipnet::IpNet;
use serde::Serialize;

use crate::flow::Protocol;
use crate::generate::Ctx;
use crate::output::OutFile;
use crate::plan::{self, Perspective, Rule};

/// Palo Alto's limit for rule (term) and service names; the strictest platform we target.
const NAME_MAX: usize = 63;

/// Aerleon network and service names: letters, digits, `-`, `_` (Aerleon's token rule).
fn token(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A name within `NAME_MAX`: long ones keep their start and get a short stable hash.
fn short_name(s: &str) -> String {
    let t = token(s);
    if t.len() <= NAME_MAX {
        return t;
    }
    // FNV-1a: deterministic across runs and platforms.
    let mut h: u32 = 0x811c_9dc5;
    for b in t.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    format!("{}-{h:08x}", &t[..NAME_MAX - 9])
}

/// One line of comment text that every aclgen generator carries as a comment: control
/// characters and bidirectional marks as spaces (runs of spaces collapse), no `#` (Aerleon's
/// definitions split a comment at `#`), `'` for `"` (several platforms quote comments), `/` for
/// `\` (iptables-restore reads `\"` in a quoted comment as a quote), and never `*/` or `/*`,
/// which end or open a comment in the Juniper and SRX configurations: a space goes between.
fn comment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut space = false;
    let mut last = ' ';
    for c in s.chars() {
        let c = match c {
            '"' => '\'',
            '\\' => '/',
            '#' => ' ',
            c if c.is_control() || super::is_bidi(c) => ' ',
            c => c,
        };
        if c.is_whitespace() {
            space = !out.is_empty();
            continue;
        }
        if space || matches!((last, c), ('*', '/') | ('/', '*')) {
            out.push(' ');
            space = false;
        }
        out.push(c);
        last = c;
    }
    out
}

fn protocol(p: Protocol) -> &'static str {
    match p {
        Protocol::Icmpv6 => "icmpv6",
        other => other.name(),
    }
}

/// Network name of one end of a rule: `<component>` or `<component>__<interface>`.
fn end_name(name: &str, iface: Option<&str>) -> String {
    match iface {
        Some(i) => short_name(&format!("{name}__{i}")),
        None => short_name(name),
    }
}

struct Nets {
    defs: BTreeMap<String, Vec<IpNet>>,
}

impl Nets {
    fn add(&mut self, name: String, nets: &[IpNet], topo: &str) -> Result<String> {
        match self.defs.get(&name) {
            Some(old) if old.as_slice() != nets => bail!(
                "{topo}: the Aerleon network name `{name}` would stand for two address sets \
                 ({} and {}); rename a component or interface so the names differ",
                super::flows::join_nets(old),
                super::flows::join_nets(nets)
            ),
            Some(_) => {}
            None => {
                self.defs.insert(name.clone(), nets.to_vec());
            }
        }
        Ok(name)
    }

    /// The network a default-route end excludes (the zones' networks it does not reach), named
    /// by the families it covers; `None` for any other end.
    fn exclusion(&mut self, end: &plan::EndNets, topo: &str) -> Result<Option<String>> {
        if end.except.is_empty() {
            return Ok(None);
        }
        let name = match (end.outside(false), end.outside(true)) {
            (true, true) => "internal__networks",
            (true, false) => "internal__ipv4",
            _ => "internal__ipv6",
        };
        self.add(name.to_string(), &end.except, topo).map(Some)
    }
}

/// One Aerleon term, keys in the order Aerleon's examples write them.
#[derive(Serialize)]
struct Term {
    name: String,
    comment: String,
    #[serde(rename = "source-address", skip_serializing_if = "Option::is_none")]
    source_address: Option<String>,
    #[serde(rename = "source-exclude", skip_serializing_if = "Option::is_none")]
    source_exclude: Option<String>,
    #[serde(
        rename = "destination-address",
        skip_serializing_if = "Option::is_none"
    )]
    destination_address: Option<String>,
    #[serde(
        rename = "destination-exclude",
        skip_serializing_if = "Option::is_none"
    )]
    destination_exclude: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    protocol: Option<&'static str>,
    #[serde(rename = "destination-port", skip_serializing_if = "Option::is_none")]
    destination_port: Option<String>,
    action: &'static str,
}

#[derive(Serialize)]
struct Filter {
    header: Header,
    terms: Vec<Term>,
}

#[derive(Serialize)]
struct Header {
    comment: String,
    targets: Targets,
}

#[derive(Serialize)]
struct Targets {
    juniper: String,
    cisco: String,
    paloalto: String,
    srx: String,
}

#[derive(Serialize)]
struct Service {
    port: String,
    protocol: &'static str,
}

#[derive(Serialize)]
struct Network {
    values: Vec<Address>,
}

#[derive(Serialize)]
struct Address {
    address: String,
}

pub fn render(ctx: &Ctx<'_>) -> Result<Vec<OutFile>> {
    let loaded = ctx.loaded;
    let topo = &loaded.topology;
    let res = &loaded.resolution;
    let file = &topo.file.name;
    let rules: Vec<Rule> = plan::plan(topo, res, &Perspective::Zone);
    let by_id: BTreeMap<&str, &crate::flow::Flow> =
        res.flows.iter().map(|f| (f.id.as_str(), f)).collect();

    let mut nets = Nets {
        defs: BTreeMap::new(),
    };
    // In the order the terms first use them.
    let mut services: IndexMap<String, Vec<Service>> = IndexMap::new();
    let mut filters: BTreeMap<(String, String), Vec<Term>> = BTreeMap::new();
    let mut term_names: BTreeMap<String, String> = BTreeMap::new();
    for r in &rules {
        let f = by_id[r.flow.as_str()];
        if r.src.nets.is_empty() || r.dst.nets.is_empty() {
            bail!(
                "{file}: flow {} has no addresses on one side, which Aerleon cannot express; \
                 give the component hosts or its zone cidrs",
                r.flow
            );
        }
        // A default route stays one network with the other zones' networks excluded in the
        // term, which each platform writes its own way (Juniper `except`, the others expand).
        let src = nets.add(
            end_name(&r.from, f.from_end.interface.as_deref()),
            &r.src.given,
            file,
        )?;
        let dst = nets.add(
            end_name(&r.to, f.to_end.interface.as_deref()),
            &r.dst.given,
            file,
        )?;
        let src_exclude = nets.exclusion(&r.src, file)?;
        let dst_exclude = nets.exclusion(&r.dst, file)?;
        let name = short_name(&r.flow);
        if let Some(other) = term_names.insert(name.clone(), r.flow.clone()) {
            bail!(
                "{file}: flows {other} and {} both become the Aerleon term `{name}`; rename a component",
                r.flow
            );
        }
        let mut port = None;
        if r.protocol.has_ports() {
            let items = r
                .ports
                .ranges()
                .iter()
                .map(|p| Service {
                    port: p.to_string(),
                    protocol: protocol(r.protocol),
                })
                .collect();
            services.insert(name.clone(), items);
            port = Some(name.clone());
        }
        filters
            .entry((r.from_zone.to_string(), r.to_zone.to_string()))
            .or_default()
            .push(Term {
                name,
                comment: comment(&term_text(r)),
                source_address: Some(src),
                source_exclude: src_exclude,
                destination_address: Some(dst),
                destination_exclude: dst_exclude,
                protocol: Some(protocol(r.protocol)),
                destination_port: port,
                action: "accept",
            });
    }

    let filter_values: Vec<Filter> = filters
        .into_iter()
        .map(|((from, to), terms)| filter(&topo.name, &from, &to, terms))
        .collect();
    let networks: BTreeMap<String, Network> = nets
        .defs
        .into_iter()
        .map(|(name, n)| {
            let values = n
                .iter()
                .map(|a| Address {
                    address: a.to_string(),
                })
                .collect();
            (name, Network { values })
        })
        .collect();

    // The YAML is written into each file as it is serialised, never held whole.
    let (topology, base) = (&topo.name, format!("{}.aerleon", topo.name));
    let definitions =
        format!("# Aerleon definitions generated by ctxfw from topology {topology}.\n");
    write_yaml(
        ctx,
        &format!("{base}/policies/pol/{topology}.yaml"),
        &format!(
            "# Aerleon policy generated by ctxfw from topology {topology}: one filter per pair of zones,\n\
             # one term per flow, then a default deny. Render it, from the {topology}.aerleon directory:\n\
             #   aclgen --base_directory policies --definitions_directory def --output_directory out\n"
        ),
        &BTreeMap::from([("filters", filter_values)]),
    )?;
    write_yaml(
        ctx,
        &format!("{base}/def/networks.yaml"),
        &definitions,
        &BTreeMap::from([("networks", networks)]),
    )?;
    write_yaml(
        ctx,
        &format!("{base}/def/services.yaml"),
        &definitions,
        &BTreeMap::from([("services", services)]),
    )?;
    Ok(Vec::new())
}

/// A term's comment: the flow's purpose, domains, source and reason.
fn term_text(r: &Rule) -> String {
    let mut text = String::with_capacity(r.purpose.len() + r.source.len() + 10);
    text.push_str(&r.purpose);
    if !r.fqdns.is_empty() {
        text.push_str(" (domains: ");
        text.push_str(&r.fqdns.join(", "));
        text.push(')');
    }
    text.push_str(" Source: ");
    text.push_str(&r.source);
    text.push('.');
    if let Some(reason) = &r.reason {
        text.push_str(" Reason: ");
        text.push_str(reason);
        text.push('.');
    }
    text
}

/// The filter of zone pair `from` -> `to`: its flows' terms, then a default deny.
fn filter(topology: &str, from: &str, to: &str, mut terms: Vec<Term>) -> Filter {
    let name = short_name(&format!("{from}-to-{to}"));
    terms.push(Term {
        name: "default-deny".into(),
        comment: comment(&format!("Everything else from zone {from} to zone {to}")),
        source_address: None,
        source_exclude: None,
        destination_address: None,
        destination_exclude: None,
        protocol: None,
        destination_port: None,
        action: "deny",
    });
    let zones = format!("from-zone {} to-zone {} mixed", token(from), token(to));
    Filter {
        header: Header {
            comment: comment(&format!(
                "ctxfw: flows from zone {from} to zone {to} of topology {topology}"
            )),
            targets: Targets {
                juniper: format!("{name} mixed"),
                cisco: format!("{name} mixed"),
                paloalto: zones.clone(),
                srx: zones,
            },
        },
        terms,
    }
}

/// One YAML file: its comment lines, then the document.
fn write_yaml<T: Serialize>(ctx: &Ctx<'_>, name: &str, header: &str, doc: &T) -> Result<()> {
    ctx.write(name, |w| {
        w.write_all(header.as_bytes())?;
        super::write_yaml_doc(w, doc)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_palo_alto() {
        let long = "a".repeat(80);
        let n = short_name(&long);
        assert_eq!(n.len(), NAME_MAX);
        assert_eq!(n, short_name(&long));
        assert_ne!(n, short_name(&"a".repeat(81)));
        assert_eq!(short_name("ns.snip-to-sf-tcp"), "ns_snip-to-sf-tcp");
    }

    #[test]
    fn comments_are_one_safe_line() {
        assert_eq!(comment("a \"b\"\n# c\td"), "a 'b' c d");
        assert_eq!(comment("x */ y /* z"), "x * / y / * z");
        assert_eq!(comment("*/*/"), "* / * /");
        assert_eq!(comment("a\\*b"), "a/ *b");
        // As mapping each character, joining the whitespace-separated words, then parting
        // every `*/` and `/*` until none is left.
        let by_words = |s: &str| {
            let one: String = s
                .chars()
                .map(|c| match c {
                    '"' => '\'',
                    '\\' => '/',
                    '#' => ' ',
                    c if c.is_control() || super::super::is_bidi(c) => ' ',
                    c => c,
                })
                .collect();
            let mut t = one.split_whitespace().collect::<Vec<_>>().join(" ");
            while t.contains("*/") || t.contains("/*") {
                t = t.replace("*/", "* /").replace("/*", "/ *");
            }
            t
        };
        for s in [
            "",
            "   ",
            "#",
            "plain words",
            "  lead and trail  ",
            "a\u{a0}b\u{2003}c\u{3000}d",
            "tab\tnew\nline\r\u{1b}esc\u{7f}del",
            "##x##y##",
            "\"quoted\" 'single' caf\u{e9} \u{1F600}",
            "x\u{85}y\u{2028}z",
            "ascii \x0b vt \x0c ff \x00 nul #\"# end ",
            "SSH */ term evil { then accept; } /*",
            "/*/ **// \\/ /\\* * / *\t/ #/*",
            "rlo\u{202E}lrm\u{200E}/\u{2066}*",
        ] {
            assert_eq!(comment(s), by_words(s), "{s:?}");
        }
    }
}

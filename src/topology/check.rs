//! From what a topology file says ([`super::raw`]) to the checked [`Topology`]: names and free
//! text, zones and their networks, parameters and component settings against the catalogue,
//! components in their zones. Every problem is reported; a part with one is left out of the
//! model, so a topology with errors is never used.

use ipnet::IpNet;
use toml::Spanned;

use super::addresses::{self, ZoneHolds};
use super::changes;
use super::model::{Component, Interface, Location, Topology, Zone, MAX_NAME, MAX_TEXT};
use super::raw::{self, List, Named, Text};
use crate::catalogue::{param_value, Catalogue, ParamValue, Parameter, Platform};
use crate::diag::{choice_hint, Diagnostic, SourceFile, Span};
use crate::doc::{self, Reader};
use crate::HashMap;

pub fn check(
    r: &mut Reader<'_>,
    raw: raw::File<'_, '_>,
    cat: &Catalogue,
    file: &SourceFile,
) -> Topology {
    let mut t = Topology {
        file: file.clone(),
        name: String::new(),
        description: String::new(),
        parameters: Default::default(),
        zones: Default::default(),
        components: Default::default(),
        additions: Vec::new(),
        removals: Vec::new(),
    };
    if let Some(s) = raw.name {
        let ok = !s.get_ref().is_empty()
            && s.get_ref().len() <= MAX_NAME
            && s.get_ref()
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !ok {
            r.error(
                s.span(),
                format!(
                    "topology name {:?} must match [a-z0-9-]+ (at most {MAX_NAME} characters)",
                    s.get_ref()
                ),
                "it names the output files, e.g. name = \"onprem-cvad\"",
            );
        }
        t.name = s.into_inner();
    }
    if let Some(s) = raw.description.and_then(|s| text(r, s, "description")) {
        t.description = s;
    }
    zones(r, raw.zones, &mut t);
    parameters(r, &raw.parameters, cat, &mut t);
    components(r, raw.components, cat, &mut t);
    changes::additions(r, raw.additions, &mut t);
    changes::removals(r, raw.removals, cat, &mut t);
    t
}

/// Free text: length-limited, no control characters or bidirectional overrides, which could
/// hide or reorder what a reviewer sees in an output.
pub(super) fn text(r: &mut Reader<'_>, s: Text, what: &str) -> Option<String> {
    if s.get_ref().chars().count() > MAX_TEXT {
        r.error(
            s.span(),
            format!("{what} is longer than {MAX_TEXT} characters"),
            "shorten it; put long explanations in a change ticket and reference it",
        );
        return None;
    }
    if let Some(c) = s.get_ref().chars().find(|&c| crate::term::obeyed(c)) {
        r.error(
            s.span(),
            format!("{what} contains the invisible character U+{:04X}", c as u32),
            "remove control and bidirectional-override characters; they can hide text from reviewers",
        );
        return None;
    }
    Some(s.into_inner())
}

/// Names of zones, components, roles and sites: they end up in file names, rule names and
/// comments of every target, so they are restricted to a safe alphabet.
fn check_name(r: &mut Reader<'_>, span: Span, name: &str, what: &str) -> bool {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !ok {
        r.error(
            span,
            format!("{what} name {name:?} must be letters, digits, '-' or '_' (at most {MAX_NAME}, starting with a letter or digit)"),
            "names become file names, rule names and comments in every output",
        );
    }
    ok
}

fn zones(r: &mut Reader<'_>, zones: Vec<Named<raw::Zone>>, t: &mut Topology) {
    let mut all: Vec<(IpNet, String, Span)> = Vec::new();
    // Firewall interfaces named so far, with their zone and where: one faces one zone.
    let mut ifaces: HashMap<String, (String, Span)> = HashMap::default();
    for e in zones {
        check_name(r, e.span.clone(), &e.name, "zone");
        let Some(z) = e.value else {
            continue;
        };
        let mut zone = Zone {
            name: e.name.clone(),
            cidrs: Vec::new(),
            description: None,
            location: Location::OnPremises,
            default_route: false,
            interfaces: Vec::new(),
            span: e.span,
        };
        if let Some(list) = z.cidrs {
            if list.items.is_empty() {
                r.error(
                    list.span,
                    format!("zone `{}` has an empty cidrs list", e.name),
                    "give at least one network, e.g. [\"10.0.10.0/24\"]",
                );
            }
            // This zone's networks so far, where each was listed: a repeat is looked up, not
            // searched for (a zone may list hundreds of thousands).
            let mut own: HashMap<IpNet, Span> = HashMap::default();
            for s in list.items {
                let Some(net) = addresses::network(r, &s, "zone network") else {
                    continue;
                };
                if let Some(first) = own.get(&net) {
                    let d = Diagnostic::error(format!(
                        "network {net} is listed twice in zone `{}`",
                        e.name
                    ))
                    .at(r.file, s.span())
                    .label(r.file, first.clone(), "first listed here")
                    .hint("remove one of them");
                    r.push(d);
                    continue;
                }
                own.insert(net, s.span());
                all.push((net, e.name.clone(), s.span()));
                zone.cidrs.push(net);
            }
        }
        zone.description = z.description.and_then(|s| text(r, s, "description"));
        if let Some(list) = z.interfaces {
            zone.interfaces = interfaces(r, list, &e.name, &mut ifaces);
        }
        let location = z.location.and_then(|s| {
            let l = Location::parse(s.get_ref());
            if l.is_none() {
                r.error(
                    s.span(),
                    format!("unknown location `{}`", s.get_ref()),
                    choice_hint(s.get_ref(), Location::NAMES),
                );
            }
            l
        });
        zone.default_route = zone.cidrs.iter().any(|c| c.prefix_len() == 0);
        zone.location = location.unwrap_or(if zone.default_route {
            Location::Internet
        } else {
            Location::OnPremises
        });
        t.zones.insert(e.name, zone);
    }
    addresses::overlaps(r, &all);
}

/// Longest interface name Linux allows (IFNAMSIZ less the final NUL).
pub const MAX_IFNAME: usize = 15;

/// A zone's firewall interfaces: Linux interface names, each facing one zone.
fn interfaces(
    r: &mut Reader<'_>,
    list: List,
    zone: &str,
    seen: &mut HashMap<String, (String, Span)>,
) -> Vec<String> {
    if list.items.is_empty() {
        r.error(
            list.span,
            format!("zone `{zone}` has an empty interfaces list"),
            "name the firewall's interfaces facing this zone, e.g. [\"eth1\"], or leave `interfaces` out to match addresses only",
        );
    }
    let mut out = Vec::new();
    for s in list.items {
        let name = s.get_ref();
        let ok = !name.is_empty()
            && name.len() <= MAX_IFNAME
            && name != "."
            && name != ".."
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
        if !ok {
            r.error(
                s.span(),
                format!("interface name {name:?} must be 1 to {MAX_IFNAME} letters, digits, '.', '-' or '_'"),
                "write the name `ip link` shows for the firewall's interface facing this zone, e.g. \"eth1\" or \"bond0.20\"",
            );
            continue;
        }
        if let Some((other, first)) = seen.get(name) {
            let msg = if other == zone {
                format!("interface {name} is listed twice in zone `{zone}`")
            } else {
                format!("interface {name} is listed in zone `{other}` and in zone `{zone}`")
            };
            let d = Diagnostic::error(msg)
                .at(r.file, s.span())
                .label(r.file, first.clone(), "first listed here")
                .hint("a firewall interface faces one zone; list it once, in the zone behind it");
            r.push(d);
            continue;
        }
        seen.insert(name.clone(), (zone.to_string(), s.span()));
        out.push(s.into_inner());
    }
    out
}

fn parameters(
    r: &mut Reader<'_>,
    entries: &[doc::Entry<'_, '_>],
    cat: &Catalogue,
    t: &mut Topology,
) {
    for e in entries {
        let Some(p) = cat.parameters.get(e.key) else {
            if let Some(old) = cat.retired.get(e.key) {
                r.error(
                    e.key_span.clone(),
                    format!("parameter `{}` no longer exists", e.key),
                    old.hint.clone(),
                );
                continue;
            }
            let hint = r.hint(e.key, cat.parameters.keys().map(String::as_str));
            r.error(
                e.key_span.clone(),
                format!("unknown parameter `{}`", e.key),
                format!("{hint} (`ctxfw catalogue --parameters` lists them)"),
            );
            continue;
        };
        let what = format!("parameter `{}`", e.key);
        if let Some(val) = allowed_value(r, p, e.value, e.key, &what) {
            t.parameters
                .insert(e.key.to_string(), Spanned::new(e.value.span(), val));
        }
    }
}

/// A parameter's or a setting's value, of its type and among its allowed values.
fn allowed_value(
    r: &mut Reader<'_>,
    p: &Parameter,
    v: &doc::Value<'_>,
    key: &str,
    what: &str,
) -> Option<ParamValue> {
    let val = param_value(r, p.ty, v, key)?;
    if !p.values.is_empty() && !p.values.contains(&val) {
        let allowed: Vec<String> = p.values.iter().map(ToString::to_string).collect();
        r.error(
            v.span(),
            format!("{what} cannot be {val}"),
            format!(
                "allowed values: {} (default {})",
                allowed.join(", "),
                p.default
            ),
        );
        return None;
    }
    Some(val)
}

/// A zone the file names, or `None` with an error.
fn zone_ref(r: &mut Reader<'_>, t: &Topology, z: Text) -> Option<String> {
    if t.zones.contains_key(z.get_ref()) {
        return Some(z.into_inner());
    }
    let hint = r.hint(z.get_ref(), t.zones.keys().map(String::as_str));
    r.error(z.span(), format!("unknown zone `{}`", z.get_ref()), hint);
    None
}

fn components(
    r: &mut Reader<'_>,
    components: Vec<Named<raw::Component<'_, '_>>>,
    cat: &Catalogue,
    t: &mut Topology,
) {
    let mut holds = ZoneHolds::new();
    for e in components {
        check_name(r, e.span.clone(), &e.name, "component");
        let owner = format!("component `{}`", e.name);
        let Some(c) = e.value else {
            continue;
        };
        let mut comp = Component {
            name: e.name.clone(),
            kinds: Vec::new(),
            zone: String::new(),
            hosts: None,
            site: None,
            description: None,
            interfaces: Default::default(),
            settings: Default::default(),
            span: e.span.clone(),
        };
        if let Some(list) = c.kind {
            for k in list.items {
                if !cat.kinds.contains_key(k.get_ref()) {
                    let hint = crate::suggest::kind_hint(cat, k.get_ref());
                    r.error(
                        k.span(),
                        format!("unknown component kind `{}`", k.get_ref()),
                        hint,
                    );
                } else if comp.kinds.contains(k.get_ref()) {
                    r.warn(
                        k.span(),
                        format!("{owner}: kind `{}` is listed twice", k.get_ref()),
                        "remove the duplicate",
                    );
                } else {
                    comp.kinds.push(k.into_inner());
                }
            }
            if comp.kinds.is_empty() && !r.has_errors() {
                r.error(
                    list.span,
                    format!("{owner} has no kind"),
                    "kind = \"storefront\" or [\"delivery-controller\", \"director\"]",
                );
            }
        }
        let zone = c.zone.and_then(|z| zone_ref(r, t, z));
        if let Some(list) = c.hosts {
            comp.hosts = addresses::hosts(r, list, holds.of(t, zone.as_ref()), &owner);
        }
        if let Some(s) = c.site {
            if check_name(r, s.span(), s.get_ref(), "site") {
                comp.site = Some(s.into_inner());
            }
        }
        comp.description = c.description.and_then(|s| text(r, s, "description"));
        for f in &c.settings {
            setting(r, cat, &mut comp, f, &owner);
        }
        let roles: Vec<String> = if c.interfaces.is_empty() {
            Vec::new()
        } else {
            comp.kinds.iter().flat_map(|k| cat.roles_of(k)).collect()
        };
        for ie in c.interfaces {
            if !roles.contains(&ie.name) {
                let hint = if roles.is_empty() {
                    "this component's kinds have no interface roles; remove [interfaces]"
                        .to_string()
                } else {
                    r.hint(&ie.name, roles.iter().map(String::as_str))
                };
                r.error(
                    ie.span,
                    format!("{owner}: unknown interface role `{}`", ie.name),
                    hint,
                );
                continue;
            }
            let Some(i) = ie.value else {
                continue;
            };
            let iowner = format!("interface `{}` of {owner}", ie.name);
            let izone = match i.zone {
                Some(z) => z.and_then(|z| zone_ref(r, t, z)),
                None => zone.clone(),
            };
            let hosts = i
                .hosts
                .and_then(|list| addresses::hosts(r, list, holds.of(t, izone.as_ref()), &iowner));
            if let Some(z) = izone {
                let role = ie.name;
                comp.interfaces.insert(
                    role.clone(),
                    Interface {
                        role,
                        zone: z,
                        hosts,
                    },
                );
            }
        }
        if let Some(z) = zone {
            comp.zone = z;
            internet_facing(r, cat, t, &comp, e.span);
            t.components.insert(e.name, comp);
        }
    }
}

/// Warn of a component that covers an internet zone (no hosts) when none of its kinds' flows
/// may come from the internet: nothing would bind from it.
fn internet_facing(
    r: &mut Reader<'_>,
    cat: &Catalogue,
    t: &Topology,
    comp: &Component,
    span: Span,
) {
    let internet_kind = comp.kinds.iter().all(|k| {
        cat.kind(k)
            .is_some_and(|k| k.platform == Platform::Internet)
    });
    if !t.zones[&comp.zone].default_route
        || comp.hosts.is_some()
        || comp.kinds.is_empty()
        || internet_kind
    {
        return;
    }
    let faces = comp.kinds.iter().any(|k| {
        cat.flows_of(k)
            .iter()
            .any(|f| f.from_internet && cat.matches(k, &f.from))
    });
    if !faces {
        r.warn(
            span,
            format!("component `{}` sits in internet zone `{}` but none of its kinds' flows may come from the internet", comp.name, comp.zone),
            "only flows meant to face the internet (e.g. users to the Gateway VIP) bind from an internet zone",
        );
    }
}

/// A setting of one of the component's kinds (`join = "entra"` on a VDA), checked against the
/// kind's declaration like a parameter against the catalogue's.
fn setting(
    r: &mut Reader<'_>,
    cat: &Catalogue,
    comp: &mut Component,
    f: &doc::Entry<'_, '_>,
    owner: &str,
) {
    let Some(decl) = comp.kinds.iter().find_map(|k| cat.setting_of(k, f.key)) else {
        let mut owners: Vec<&str> = cat
            .kinds
            .values()
            .filter(|k| k.settings.contains_key(f.key))
            .map(|k| k.id.as_str())
            .collect();
        owners.truncate(4);
        if !comp.kinds.is_empty() {
            r.error(
                f.key_span.clone(),
                format!(
                    "{owner}: `{}` is not a setting of {}",
                    f.key,
                    comp.kinds.join(", ")
                ),
                format!(
                    "`{}` is a setting of {}; `ctxfw catalogue KIND` lists a kind's settings",
                    f.key,
                    owners.join(", ")
                ),
            );
        }
        return;
    };
    let what = format!("{owner}: setting `{}`", f.key);
    if let Some(val) = allowed_value(r, decl, f.value, f.key, &what) {
        comp.settings
            .insert(f.key.to_string(), Spanned::new(f.value.span(), val));
    }
}

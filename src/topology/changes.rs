//! A site's own changes to the catalogue's flows, checked: `[[additions]]` (a flow between
//! two of its components, with a reason) and `[[removals]]` (a catalogue flow it does not use,
//! with a reason).

use super::check::text;
use super::model::{Addition, Removal, Topology};
use super::raw::{self, Text};
use crate::catalogue::Catalogue;
use crate::diag::{choice_hint, Diagnostic, Span};
use crate::doc::Reader;
use crate::flow::{PortRange, PortSet, Protocol};
use crate::{HashMap, HashSet};

/// A component the file names, or `None` with an error.
fn component_ref(r: &mut Reader<'_>, t: &Topology, s: &Text) -> Option<String> {
    if t.components.contains_key(s.get_ref()) {
        return Some(s.get_ref().clone());
    }
    let hint = r.hint(s.get_ref(), t.components.keys().map(String::as_str));
    r.error(
        s.span(),
        format!("unknown component `{}`", s.get_ref()),
        hint,
    );
    None
}

pub fn additions(r: &mut Reader<'_>, additions: Vec<raw::Addition>, t: &mut Topology) {
    let mut ids: HashMap<String, Span> = HashMap::default();
    for a in additions {
        let span = a.span;
        let purpose = a.purpose.and_then(|s| text(r, s, "purpose"));
        let reason = a.reason.and_then(|s| text(r, s, "reason"));
        let (id, from, to, proto) = (a.id, a.from, a.to, a.protocol);
        let mut ok = true;
        for (name, val, hint) in [
            ("id", id.is_some(), "id = \"mgmt-ssh\""),
            ("from", from.is_some(), "from = \"<component>\""),
            ("to", to.is_some(), "to = \"<component>\""),
            ("protocol", proto.is_some(), "protocol = \"tcp\""),
            (
                "reason",
                reason.is_some(),
                "reason = \"why this site needs it (ticket, owner)\"; every output shows it",
            ),
        ] {
            if !val {
                r.error(span.clone(), format!("addition has no `{name}`"), hint);
                ok = false;
            }
        }
        let from_c = from.as_ref().and_then(|s| component_ref(r, t, s));
        let to_c = to.as_ref().and_then(|s| component_ref(r, t, s));
        for (c, iface) in [(&from_c, &a.from_interface), (&to_c, &a.to_interface)] {
            if let (Some(c), Some(i)) = (c, iface) {
                if !t.components[c].interfaces.contains_key(i.get_ref()) {
                    let hint = r.hint(
                        i.get_ref(),
                        t.components[c].interfaces.keys().map(String::as_str),
                    );
                    r.error(
                        i.span(),
                        format!("component `{c}` has no interface `{}`", i.get_ref()),
                        hint,
                    );
                    ok = false;
                }
            }
        }
        let protocol = proto.as_ref().and_then(|p| {
            let pr = Protocol::parse(p.get_ref());
            if pr.is_none() {
                r.error(
                    p.span(),
                    format!("unknown protocol `{}`", p.get_ref()),
                    choice_hint(p.get_ref(), Protocol::names()),
                );
            }
            pr
        });
        let mut ports = Vec::new();
        for s in a.ports.iter().flatten() {
            match PortRange::parse(s.get_ref()) {
                Ok(p) => ports.push(p),
                Err(m) => r.error(s.span(), m, "write 443 or \"6910-6930\""),
            }
        }
        if let Some(p) = protocol {
            if p.has_ports() && a.ports.is_none() {
                r.error(
                    span.clone(),
                    format!("a {p} addition needs ports"),
                    "add ports = [8443]",
                );
                ok = false;
            }
            if !p.has_ports() && a.ports.is_some() {
                r.error(span.clone(), format!("{p} has no ports"), "remove `ports`");
                ok = false;
            }
        }
        if let Some(id) = &id {
            if !id
                .get_ref()
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                || id.get_ref().is_empty()
            {
                r.error(
                    id.span(),
                    format!(
                        "addition id {:?} must be lowercase letters, digits and dashes",
                        id.get_ref()
                    ),
                    "e.g. id = \"jump-host-ssh\"",
                );
                ok = false;
            } else if let Some(first) = ids.get(id.get_ref()) {
                let d = Diagnostic::error(format!("duplicate addition id `{}`", id.get_ref()))
                    .at(r.file, id.span())
                    .label(r.file, first.clone(), "first used here")
                    .hint("give each addition its own id");
                r.push(d);
                ok = false;
            } else {
                ids.insert(id.get_ref().clone(), id.span());
            }
        }
        if let (true, Some(id), Some(from), Some(to), Some(protocol), Some(reason)) =
            (ok, id, from_c, to_c, protocol, reason)
        {
            t.additions.push(Addition {
                id: id.into_inner(),
                from,
                from_interface: a.from_interface.map(Text::into_inner),
                to,
                to_interface: a.to_interface.map(Text::into_inner),
                protocol,
                ports: PortSet::from_ranges(ports),
                purpose: purpose.unwrap_or_default(),
                reason,
                span,
            });
        }
    }
}

pub fn removals(
    r: &mut Reader<'_>,
    removals: Vec<raw::Removal>,
    cat: &Catalogue,
    t: &mut Topology,
) {
    let flow_ids: HashSet<&str> = cat.flows.iter().map(|f| f.id.as_str()).collect();
    for rm in removals {
        let span = rm.span;
        let reason = rm.reason.and_then(|s| text(r, s, "reason"));
        let mut ok = true;
        match &rm.catalogue {
            Some(c) if !flow_ids.contains(c.get_ref().as_str()) => {
                let hint = r.hint(c.get_ref(), cat.flows.iter().map(|f| f.id.as_str()));
                r.error(
                    c.span(),
                    format!("unknown catalogue flow `{}`", c.get_ref()),
                    hint,
                );
                ok = false;
            }
            Some(_) => {}
            None => {
                r.error(span.clone(), "removal has no `catalogue` flow id", "catalogue = \"<flow id>\"; `ctxfw flows --format json` shows each flow's catalogue ids");
                ok = false;
            }
        }
        let from = rm.from.and_then(|s| component_ref(r, t, &s));
        let to = rm.to.and_then(|s| component_ref(r, t, &s));
        if let (true, Some(c), Some(reason)) = (ok, rm.catalogue, reason) {
            t.removals.push(Removal {
                catalogue: c.into_inner(),
                from,
                to,
                reason,
                span,
            });
        }
    }
}

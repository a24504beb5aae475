//! Reading a flow (`[[flows]]`) of a catalogue file.

use toml::Spanned;

use super::model::*;
use super::read::check_id;
use crate::cond::Cond;
use crate::diag::{choice_hint, Span};
use crate::doc::{self, Reader};
use crate::flow::{PortRange, Protocol};

const FLOW_KEYS: &[&str] = &[
    "id",
    "from",
    "from_role",
    "to",
    "to_role",
    "protocol",
    "ports",
    "purpose",
    "source",
    "refs",
    "when",
    "from_internet",
    "cross_site",
    "within_component",
    "versions",
    "needs",
    "fixes",
    "note",
    "confidence",
    "scope",
];

pub(super) fn read_flow(
    r: &mut Reader<'_>,
    v: &doc::Value<'_>,
    family: &str,
    file: usize,
) -> Option<CatFlow> {
    let t = r.table(v, "a flow")?;
    let span = v.span();
    let mut id = None;
    let mut from = None;
    let mut to = None;
    let mut protocols = Vec::new();
    let mut ports = Vec::new();
    let mut ports_span = None;
    let mut f = CatFlow {
        id: String::new(),
        family: family.to_string(),
        from: KindRef::Kind(String::new()),
        from_role: None,
        to: KindRef::Kind(String::new()),
        to_role: None,
        protocols: Vec::new(),
        ports: Vec::new(),
        purpose: "".into(),
        source: "".into(),
        refs: Vec::new(),
        when: None,
        when_text: None,
        from_internet: false,
        cross_site: false,
        within_component: false,
        versions: None,
        needs: Vec::new(),
        fixes: Vec::new().into(),
        note: None,
        confidence: None,
        scope: Scope::Network,
        span: span.clone(),
        file,
    };
    for e in r.fields(t, FLOW_KEYS, "a flow") {
        match e.key {
            "refs" => f.refs = r.texts(e.value, "refs"),
            "needs" => {
                f.needs = r
                    .strings(e.value, "needs")
                    .unwrap_or_default()
                    .iter()
                    .map(|s| kind_ref(s.get_ref()))
                    .collect()
            }
            "fixes" => f.fixes = r.texts(e.value, "fixes").into(),
            "from_internet" | "cross_site" | "within_component" => {
                let b = r.boolean(e.value, e.key).is_some_and(Spanned::into_inner);
                *match e.key {
                    "from_internet" => &mut f.from_internet,
                    "cross_site" => &mut f.cross_site,
                    _ => &mut f.within_component,
                } = b;
            }
            "ports" => {
                ports_span = Some(e.value.span());
                ports = read_ports(r, e.value);
            }
            "protocol" => protocols = read_protocols(r, e.value),
            key => {
                let Some(s) = r.string(e.value, key) else {
                    continue;
                };
                let sp = s.span();
                let s = s.into_inner();
                match key {
                    "id" => {
                        check_id(r, &s, sp, "flow");
                        id = Some(s);
                    }
                    "from" => from = Some(kind_ref(&s)),
                    "to" => to = Some(kind_ref(&s)),
                    "from_role" => f.from_role = Some(s),
                    "to_role" => f.to_role = Some(s),
                    "purpose" => f.purpose = s.into(),
                    "source" => f.source = s.into(),
                    "versions" => f.versions = Some(s),
                    "note" => f.note = Some(s.into()),
                    "confidence" => {
                        if !["stated", "inferred", "disputed"].contains(&s.as_str()) {
                            r.error(
                                sp,
                                format!("unknown confidence `{s}`"),
                                "expected stated, inferred or disputed",
                            );
                        }
                        f.confidence = Some(s);
                    }
                    "scope" => match s.as_str() {
                        "network" => f.scope = Scope::Network,
                        "host-local" => f.scope = Scope::HostLocal,
                        other => r.error(
                            sp,
                            format!("unknown scope `{other}`"),
                            "expected network or host-local",
                        ),
                    },
                    "when" => match Cond::parse(&s) {
                        Ok(c) => {
                            f.when = Some(c);
                            f.when_text = Some(s.into());
                        }
                        Err(msg) => r.error(
                            sp,
                            format!("bad condition: {msg}"),
                            "write e.g. \"edt && session_reliability\" or \"rendezvous != 'off'\"",
                        ),
                    },
                    _ => unreachable!(),
                }
            }
        }
    }
    let Some(id) = id else {
        r.error(span, "flow without an id", "add id = \"short-stable-name\"");
        return None;
    };
    let (Some(from), Some(to)) = (from, to) else {
        missing(
            r,
            &id,
            &span,
            "from/to",
            "add from = \"kind\" and to = \"kind\" (or \"@trait\")",
        );
        return None;
    };
    check_complete(r, &id, &f, &protocols, &ports, ports_span);
    f.id = id;
    f.from = from;
    f.to = to;
    f.protocols = protocols;
    f.ports = ports;
    Some(f)
}

/// A flow's `ports`: numbers, ranges and `$parameter` names.
fn read_ports(r: &mut Reader<'_>, v: &doc::Value<'_>) -> Vec<PortItem> {
    let mut ports = Vec::new();
    for s in r.scalars(v, "ports").unwrap_or_default() {
        if let Some(name) = s.get_ref().strip_prefix('$') {
            ports.push(PortItem::Param(name.to_string()));
        } else {
            match PortRange::parse(s.get_ref()) {
                Ok(p) => ports.push(PortItem::Fixed(p)),
                Err(msg) => r.error(s.span(), msg, "write 443, \"6910-6930\" or \"$parameter\""),
            }
        }
    }
    ports
}

/// A flow's `protocol`: one name, or several joined by `+` (`tcp+udp`).
fn read_protocols(r: &mut Reader<'_>, v: &doc::Value<'_>) -> Vec<Protocol> {
    let Some(s) = r.string(v, "protocol") else {
        return Vec::new();
    };
    let mut protocols = Vec::new();
    for part in s.get_ref().split('+') {
        match Protocol::parse(part.trim()) {
            Some(p) => protocols.push(p),
            None => r.error(
                s.span(),
                format!("unknown protocol `{part}`"),
                format!(
                    "{}; write both as \"tcp+udp\"",
                    choice_hint(part.trim(), Protocol::names())
                ),
            ),
        }
    }
    protocols
}

fn missing(r: &mut Reader<'_>, id: &str, span: &Span, what: &str, hint: &str) {
    r.error(
        span.clone(),
        format!("flow `{id}` has no {what}"),
        hint.to_string(),
    );
}

/// Reports what flow `id` lacks: a protocol, purpose, source, or ports that its protocols
/// need or cannot have.
fn check_complete(
    r: &mut Reader<'_>,
    id: &str,
    f: &CatFlow,
    protocols: &[Protocol],
    ports: &[PortItem],
    ports_span: Option<Span>,
) {
    let span = &f.span;
    if protocols.is_empty() {
        missing(
            r,
            id,
            span,
            "protocol",
            "add protocol = \"tcp\" (or udp, tcp+udp, icmp, ...)",
        );
    }
    if f.purpose.is_empty() {
        missing(
            r,
            id,
            span,
            "purpose",
            "say in your own words what the flow is for",
        );
    }
    if f.source.is_empty() {
        missing(
            r,
            id,
            span,
            "source",
            "cite the document title and section, or the official page",
        );
    }
    let needs_ports = protocols.iter().any(|p| p.has_ports());
    if needs_ports && ports.is_empty() {
        missing(r, id, span, "ports", "tcp/udp flows need ports = [...]");
    }
    if !needs_ports && !ports.is_empty() {
        r.error(
            ports_span.unwrap_or(span.clone()),
            format!("flow `{id}`: ports given for a protocol without ports"),
            "remove `ports` for icmp, esp, gre ...",
        );
    }
}

fn kind_ref(s: &str) -> KindRef {
    match s.strip_prefix('@') {
        Some(t) => KindRef::Trait(t.to_string()),
        None => KindRef::Kind(s.to_string()),
    }
}

//! `ctxfw catalogue`: browse kinds, their flows and the parameters, as text.

use std::fmt::Write;

use serde_json::{json, Value};

use crate::catalogue::{CatFlow, Catalogue, Kind, Parameter, PortItem};
use crate::cond;

fn ports(f: &CatFlow) -> String {
    f.ports
        .iter()
        .map(|p| match p {
            PortItem::Fixed(r) => r.to_string(),
            PortItem::Param(n) => format!("${n}"),
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn protocols(f: &CatFlow) -> String {
    f.protocols
        .iter()
        .map(|p| p.name())
        .collect::<Vec<_>>()
        .join("+")
}

fn end(r: &crate::catalogue::KindRef, role: &Option<String>) -> String {
    match role {
        Some(role) => format!("{r}[{role}]"),
        None => r.to_string(),
    }
}

/// Every family with its kinds, then the parameters.
pub fn overview(cat: &Catalogue) -> String {
    let mut out = String::new();
    for fam in &cat.families {
        let kinds: Vec<_> = cat.kinds.values().filter(|k| k.family == fam.id).collect();
        let flows = cat.flows.iter().filter(|f| f.family == fam.id).count();
        if kinds.is_empty() && flows == 0 {
            continue;
        }
        let _ = writeln!(
            out,
            "{} ({}): {} kinds, {} flows",
            fam.title,
            fam.id,
            kinds.len(),
            flows
        );
        for k in kinds {
            let mut extra = vec![k.platform.name().to_string()];
            if let Some(v) = &k.versions {
                extra.push(v.clone());
            }
            if k.legacy {
                extra.push("legacy".into());
            }
            let _ = writeln!(out, "  {:<32} {} [{}]", k.id, k.name, extra.join(", "));
        }
        out.push('\n');
    }
    out.push_str(&parameters(cat));
    let _ = writeln!(out, "\n`ctxfw catalogue KIND` shows a kind's flows.");
    out
}

/// The flows a parameter switches on or off, or gives ports.
fn switches<'a>(cat: &'a Catalogue, p: &crate::catalogue::Parameter) -> Vec<&'a str> {
    cat.flows
        .iter()
        .filter(|f| {
            f.when
                .as_ref()
                .is_some_and(|c| c.params().contains(&p.name.as_str()))
                || f.ports.contains(&PortItem::Param(p.name.clone()))
        })
        .map(|f| f.id.as_str())
        .collect()
}

/// The flows a component setting of kind `k` switches on or off.
fn setting_switches<'a>(cat: &'a Catalogue, k: &Kind, p: &Parameter) -> Vec<&'a str> {
    cat.flows
        .iter()
        .filter(|f| {
            f.when.as_ref().is_some_and(|c| {
                c.atoms().iter().any(|(n, _)| {
                    cond::setting(n).is_some_and(|(end, name)| {
                        let r = match end {
                            cond::End::From => &f.from,
                            cond::End::To => &f.to,
                        };
                        name == p.name && cat.matches(&k.id, r)
                    })
                })
            })
        })
        .map(|f| f.id.as_str())
        .collect()
}

pub fn parameters(cat: &Catalogue) -> String {
    let mut out = String::from("Parameters (set them in the topology's [parameters]):\n");
    for p in cat.parameters.values() {
        describe(&mut out, cat, "", p, &switches(cat, p));
    }
    out.push_str(
        "\nComponent settings (set them on a component, next to kind and zone: join = \"entra\"):\n",
    );
    for k in cat.kinds.values() {
        for p in k.settings.values() {
            describe(
                &mut out,
                cat,
                &format!("{}: ", k.id),
                p,
                &setting_switches(cat, k, p),
            );
        }
    }
    out
}

/// One parameter or setting: default and values, description, the evidence for its default
/// and the flows it switches.
fn describe(out: &mut String, cat: &Catalogue, prefix: &str, p: &Parameter, switched: &[&str]) {
    let values = if p.values.is_empty() {
        format!("{:?}", p.ty).to_lowercase()
    } else {
        p.values
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" | ")
    };
    let _ = writeln!(out, "  {prefix}{} = {}   ({values})", p.name, p.default);
    let _ = writeln!(out, "      {}", p.description);
    if !p.source.is_empty() {
        let _ = writeln!(out, "      evidence: {}", p.source);
    }
    for r in p.refs.iter().filter_map(|r| cat.references.get(r)) {
        let _ = writeln!(
            out,
            "        [{}] {}{}",
            r.id,
            r.title,
            r.url
                .as_deref()
                .map(|u| format!(" <{u}>"))
                .unwrap_or_default()
        );
    }
    if !switched.is_empty() {
        let _ = writeln!(out, "      switches: {}", switched.join(", "));
    }
}

/// One kind: what it is and every flow that names it.
pub fn kind(cat: &Catalogue, id: &str) -> Option<String> {
    let k = cat.kind(id)?;
    let mut out = String::new();
    let _ = writeln!(out, "{} ({})", k.name, k.id);
    let _ = writeln!(out, "  family:   {}", k.family);
    let _ = writeln!(out, "  platform: {}", k.platform.name());
    if !k.traits.is_empty() {
        let _ = writeln!(out, "  traits:   {}", k.traits.join(", "));
    }
    if !k.roles.is_empty() || !k.extends.is_empty() {
        let _ = writeln!(out, "  roles:    {}", cat.roles_of(id).join(", "));
    }
    if !k.extends.is_empty() {
        let _ = writeln!(out, "  extends:  {}", k.extends.join(", "));
    }
    if let Some(v) = &k.versions {
        let _ = writeln!(
            out,
            "  versions: {v}{}",
            if k.legacy { " (legacy)" } else { "" }
        );
    }
    if !k.fqdns.is_empty() {
        let _ = writeln!(out, "  domains:  {}", k.fqdns.join(", "));
    }
    if !k.aliases.is_empty() {
        let _ = writeln!(out, "  also:     {}", k.aliases.join(", "));
    }
    for p in k.settings.values() {
        let values = p
            .values
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" | ");
        let _ = writeln!(
            out,
            "  setting:  {} = {} ({values}): {}",
            p.name, p.default, p.description
        );
    }
    if !k.description.is_empty() {
        let _ = writeln!(out, "  {}", k.description);
    }
    out.push_str("\nFlows:\n");
    for f in cat.flows_of(id) {
        let _ = writeln!(
            out,
            "  {}\n    {} -> {}  {} {}{}",
            f.id,
            end(&f.from, &f.from_role),
            end(&f.to, &f.to_role),
            protocols(f),
            ports(f),
            if f.scope == crate::catalogue::Scope::HostLocal {
                "  (host-local, no rule)"
            } else {
                ""
            }
        );
        let _ = writeln!(out, "    {}", f.purpose);
        if let Some(w) = &f.when_text {
            let _ = writeln!(out, "    when: {w}");
        }
        let _ = writeln!(out, "    source: {}", f.source);
        if let Some(n) = &f.note {
            let _ = writeln!(out, "    note: {n}");
        }
    }
    Some(out)
}

/// `ctxfw catalogue --search WORD`: the kinds it may mean, best first, each with why; `None`
/// when nothing matches.
pub fn search(cat: &Catalogue, word: &str) -> Option<String> {
    let found = crate::suggest::kinds(cat, word, true);
    if found.is_empty() {
        return None;
    }
    let mut out = String::new();
    for (k, why) in found {
        let also = if k.aliases.is_empty() {
            String::new()
        } else {
            format!(" (also: {})", k.aliases.join(", "))
        };
        let _ = writeln!(
            out,
            "  {:<32} {} [{}]{also}  <- {}",
            k.id,
            k.name,
            k.platform.name(),
            why.name()
        );
    }
    let _ = writeln!(out, "\n`ctxfw catalogue KIND` shows a kind's flows.");
    Some(out)
}

fn kind_json(k: &Kind) -> Value {
    json!({
        "id": k.id,
        "name": k.name,
        "family": k.family,
        "platform": k.platform,
        "traits": k.traits,
        "roles": k.roles,
        "extends": k.extends,
        "versions": k.versions,
        "legacy": k.legacy,
        "fqdns": k.fqdns,
        "aliases": k.aliases,
        "description": k.description,
    })
}

fn flow_json(f: &CatFlow) -> Value {
    json!({
        "id": f.id,
        "from": f.from.to_string(),
        "from_role": f.from_role,
        "to": f.to.to_string(),
        "to_role": f.to_role,
        "protocols": f.protocols.iter().map(|p| p.name()).collect::<Vec<_>>(),
        "ports": f.ports.iter().map(|p| match p {
            PortItem::Fixed(r) => r.to_string(),
            PortItem::Param(n) => format!("${n}"),
        }).collect::<Vec<_>>(),
        "purpose": &*f.purpose,
        "when": f.when_text.as_deref(),
        "source": &*f.source,
        "note": f.note.as_deref(),
        "host_local": f.scope == crate::catalogue::Scope::HostLocal,
    })
}

/// One parameter or component setting, with the evidence for its default and what it switches.
fn parameter_json(cat: &Catalogue, p: &Parameter, switches: Vec<&str>) -> Value {
    let refs: Vec<Value> = p
        .refs
        .iter()
        .filter_map(|r| cat.references.get(r))
        .map(|r| json!({ "id": r.id, "title": r.title, "url": r.url }))
        .collect();
    json!({
        "name": p.name,
        "type": format!("{:?}", p.ty).to_lowercase(),
        "values": p.values.iter().map(|v| v.to_json()).collect::<Vec<_>>(),
        "default": p.default.to_json(),
        "description": p.description,
        "source": p.source,
        "references": refs,
        "switches": switches,
    })
}

fn parameters_value(cat: &Catalogue) -> Value {
    cat.parameters
        .values()
        .map(|p| parameter_json(cat, p, switches(cat, p)))
        .collect()
}

/// Every kind's component settings: `[{kind, ...parameter}]`.
fn settings_value(cat: &Catalogue) -> Value {
    cat.kinds
        .values()
        .flat_map(|k| {
            k.settings.values().map(move |p| {
                let mut v = parameter_json(cat, p, setting_switches(cat, k, p));
                v["kind"] = k.id.clone().into();
                v
            })
        })
        .collect()
}

fn pretty(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).expect("catalogue serialises");
    s.push('\n');
    s
}

/// `--format json` of the overview: `{"families": [{id, title, description, kinds: [...]}],
/// "parameters": [...]}`.
pub fn overview_json(cat: &Catalogue) -> String {
    let families: Vec<Value> = cat
        .families
        .iter()
        .map(|fam| {
            let kinds: Vec<Value> = cat
                .kinds
                .values()
                .filter(|k| k.family == fam.id)
                .map(kind_json)
                .collect();
            json!({
                "id": fam.id,
                "title": fam.title,
                "description": fam.description,
                "kinds": kinds,
            })
        })
        .collect();
    pretty(&json!({
        "families": families,
        "parameters": parameters_value(cat),
        "settings": settings_value(cat),
    }))
}

/// `--format json` of `--parameters`: `{"parameters": [...], "settings": [...]}`, each with the
/// evidence for its default and the flows it switches.
pub fn parameters_json(cat: &Catalogue) -> String {
    pretty(&json!({
        "parameters": parameters_value(cat),
        "settings": settings_value(cat),
    }))
}

/// `--format json` of one kind: its fields and `flows`, every catalogue flow that names it.
pub fn kind_json_text(cat: &Catalogue, id: &str) -> Option<String> {
    let k = cat.kind(id)?;
    let mut v = kind_json(k);
    v["flows"] = cat.flows_of(id).into_iter().map(flow_json).collect();
    Some(pretty(&v))
}

/// `--format json` of `--search`: the matching kinds, best first, each with `matched` (alias,
/// id, name, description or spelling).
pub fn search_json(cat: &Catalogue, word: &str) -> String {
    let found: Vec<Value> = crate::suggest::kinds(cat, word, true)
        .into_iter()
        .map(|(k, why)| {
            let mut v = kind_json(k);
            v["matched"] = why.name().into();
            v
        })
        .collect();
    pretty(&Value::Array(found))
}

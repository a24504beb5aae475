//! `ctxfw catalogue`: browse kinds, their flows and the parameters, as text.

use std::fmt::Write;

use crate::catalogue::{CatFlow, Catalogue, Parameter, PortItem};
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

pub fn parameters(cat: &Catalogue) -> String {
    let mut out = String::from("Parameters (set them in the topology's [parameters]):\n");
    for p in cat.parameters.values() {
        let switched: Vec<&str> = cat
            .flows
            .iter()
            .filter(|f| {
                f.when
                    .as_ref()
                    .is_some_and(|c| c.params().contains(&p.name.as_str()))
                    || f.ports.contains(&PortItem::Param(p.name.clone()))
            })
            .map(|f| f.id.as_str())
            .collect();
        describe(&mut out, cat, "", p, &switched);
    }
    out.push_str(
        "\nComponent settings (set them on a component, next to kind and zone: join = \"entra\"):\n",
    );
    for k in cat.kinds.values() {
        for p in k.settings.values() {
            let switched: Vec<&str> = cat
                .flows
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
                .collect();
            describe(&mut out, cat, &format!("{}: ", k.id), p, &switched);
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
        if !f.needs.is_empty() {
            let needs: Vec<String> = f.needs.iter().map(ToString::to_string).collect();
            let _ = writeln!(out, "    needs: {}", needs.join(", "));
        }
        let _ = writeln!(out, "    source: {}", f.source);
        if let Some(n) = &f.note {
            let _ = writeln!(out, "    note: {n}");
        }
    }
    Some(out)
}

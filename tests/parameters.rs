//! Flipping a parameter changes exactly the flows it names: for every parameter and every
//! alternative value, the flows that appear or disappear in a topology holding every kind are
//! all catalogue entries whose condition or ports mention that parameter, and at least one does.

mod common;

use std::collections::BTreeSet;

use ctxfw::catalogue::{Catalogue, ParamType, ParamValue, Platform, PortItem};

/// A topology placing every non-internet kind twice over (two hosts, every interface role).
fn kitchen_sink(cat: &Catalogue) -> String {
    let mut t = String::from(
        "name = \"all\"\n[zones.internet]\ncidrs = [\"0.0.0.0/0\"]\n[zones.lan]\ncidrs = [\"10.0.0.0/8\"]\n",
    );
    // Kinds at either end of a cross-site flow get a second component, since such flows never
    // bind a component to itself.
    let paired: Vec<String> = cat
        .kinds
        .keys()
        .filter(|k| {
            cat.flows
                .iter()
                .any(|f| f.cross_site && (cat.matches(k, &f.from) || cat.matches(k, &f.to)))
        })
        .cloned()
        .collect();
    let mut i = 0;
    for k in cat
        .kinds
        .values()
        .filter(|k| k.platform != Platform::Internet)
    {
        let copies = if paired.contains(&k.id) { 2 } else { 1 };
        for c in 0..copies {
            let (a, b) = (i / 200, i % 200);
            i += 1;
            let name = if c == 0 {
                k.id.clone()
            } else {
                format!("{}-b", k.id)
            };
            t.push_str(&format!(
                "[components.{name}]\nkind = \"{}\"\nzone = \"lan\"\nhosts = [\"10.{a}.{b}.1\", \"10.{a}.{b}.2\"]\n",
                k.id
            ));
            // Two addresses per interface, so HA flows within one component bind.
            for (j, role) in cat.roles_of(&k.id).iter().enumerate() {
                t.push_str(&format!(
                    "[components.{name}.interfaces.{role}]\nhosts = [\"10.{a}.{b}.{}\", \"10.{a}.{b}.{}\"]\n",
                    10 + 2 * j,
                    11 + 2 * j
                ));
            }
        }
    }
    t.push_str("[components.internet-users]\nkind = \"workspace-app\"\nzone = \"internet\"\n");
    t
}

fn alternatives(cat: &Catalogue, name: &str) -> Vec<ParamValue> {
    let p = &cat.parameters[name];
    match p.ty {
        ParamType::Bool => vec![ParamValue::Bool(p.default == ParamValue::Bool(false))],
        ParamType::Ports => {
            let v = if p.default == ParamValue::Ports(Default::default()) {
                "[7001, \"7010-7012\"]"
            } else {
                "[]"
            };
            vec![ParamValue::Str(v.to_string())]
        }
        _ => p
            .values
            .iter()
            .filter(|v| **v != p.default)
            .cloned()
            .collect(),
    }
}

fn toml_value(v: &ParamValue) -> String {
    match v {
        ParamValue::Bool(b) => b.to_string(),
        ParamValue::Int(i) => i.to_string(),
        // Ports alternatives are carried as ready TOML text.
        ParamValue::Str(s) if s.starts_with('[') => s.clone(),
        ParamValue::Str(s) => format!("\"{s}\""),
        ParamValue::Ports(p) => format!("{:?}", p.to_strings()),
    }
}

type Part = (
    String,
    String,
    Option<String>,
    String,
    Option<String>,
    String,
    String,
);

fn parts(text: &str) -> BTreeSet<Part> {
    let (_, res) = common::resolve_str(text);
    res.flows
        .iter()
        .flat_map(|f| {
            f.parts.iter().map(move |p| {
                (
                    p.catalogue.to_string(),
                    f.from.to_string(),
                    f.from_end.interface.as_deref().map(String::from),
                    f.to.to_string(),
                    f.to_end.interface.as_deref().map(String::from),
                    f.protocol.to_string(),
                    p.ports.to_string(),
                )
            })
        })
        .collect()
}

fn with_params(base: &str, params: &[(String, String)]) -> String {
    let mut s = base.to_string();
    if !params.is_empty() {
        s.push_str("[parameters]\n");
        for (k, v) in params {
            s.push_str(&format!("{k} = {v}\n"));
        }
    }
    s
}

fn mentions(cat: &Catalogue, flow_id: &str, param: &str) -> bool {
    let f = cat.flows.iter().find(|f| f.id == flow_id).unwrap();
    f.when.as_ref().is_some_and(|c| c.params().contains(&param))
        || f.ports.contains(&PortItem::Param(param.to_string()))
}

#[test]
fn flipping_each_parameter_changes_exactly_its_flows() {
    let cat = common::catalogue();
    let base = kitchen_sink(&cat);
    let default_parts = parts(&base);
    let names: Vec<String> = cat.parameters.keys().cloned().collect();
    let mut silent = Vec::new();
    for name in &names {
        for alt in alternatives(&cat, name) {
            let val = toml_value(&alt);
            // Try the default context first, then contexts where one other parameter differs,
            // for parameters that only matter together with another (e.g. UDP only with EDT).
            let mut contexts: Vec<Vec<(String, String)>> = vec![vec![]];
            // Parameters that matter only together with several others (e.g. a WMI port list
            // used only when auto-install and WMI are both on): every boolean flipped at once.
            let all_bools: Vec<(String, String)> = names
                .iter()
                .filter(|o| *o != name && cat.parameters[*o].ty == ParamType::Bool)
                .map(|o| (o.clone(), toml_value(&alternatives(&cat, o)[0])))
                .collect();
            contexts.push(all_bools);
            for other in names.iter().filter(|o| *o != name) {
                for oalt in alternatives(&cat, other) {
                    contexts.push(vec![(other.clone(), toml_value(&oalt))]);
                }
            }
            let mut changed = false;
            for ctx in contexts {
                let before = if ctx.is_empty() {
                    default_parts.clone()
                } else {
                    parts(&with_params(&base, &ctx))
                };
                let mut with = ctx.clone();
                with.push((name.clone(), val.clone()));
                let after = parts(&with_params(&base, &with));
                let diff: Vec<&Part> = before.symmetric_difference(&after).collect();
                for d in &diff {
                    assert!(
                        mentions(&cat, &d.0, name),
                        "setting {name} = {val} (context {ctx:?}) changed {:?}, which does not name {name}",
                        d
                    );
                }
                if !diff.is_empty() {
                    changed = true;
                    break;
                }
            }
            if !changed {
                silent.push(format!("{name} = {val}"));
            }
        }
    }
    assert!(
        silent.is_empty(),
        "these parameter values change no flow at all: {silent:?}"
    );
}

//! Reading one catalogue file into the catalogue: its family, parameters, retired names,
//! traits, references and defects, with the checks one file allows (keys, types, ids,
//! duplicates); kinds and flows are read by [`super::kinds`] and [`super::flows`].

use indexmap::IndexMap;
use toml::Spanned;

use super::flows::read_flow;
use super::kinds::read_kind;
use super::model::*;
use crate::diag::{Diagnostic, SourceFile, Span};
use crate::doc::{self, Entry, Reader, Table};
use crate::flow::{PortRange, PortSet};

const FILE_KEYS: &[&str] = &[
    "family",
    "parameters",
    "retired",
    "traits",
    "components",
    "flows",
    "references",
    "defects",
];

pub(super) fn read_file(
    r: &mut Reader<'_>,
    cat: &mut Catalogue,
    top: &Table<'_>,
    idx: usize,
    files: &[SourceFile],
) {
    let mut family = String::new();
    let entries = r.fields(top, FILE_KEYS, "a catalogue file");
    // `family` first, so components know theirs.
    for e in entries.iter().filter(|e| e.key == "family") {
        if let Some(fam) = read_family(r, e.value, idx) {
            family = fam.id.clone();
            cat.families.push(fam);
        }
    }
    if family.is_empty() {
        let d = Diagnostic::error("catalogue file has no [family] with an id")
            .in_file(r.file)
            .hint("start the file with [family] id = \"...\" title = \"...\"");
        r.push(d);
    }
    for e in entries {
        let v = e.value;
        match e.key {
            "family" => {}
            "parameters" => read_parameters(r, cat, v, idx),
            "retired" => read_retired(r, cat, v, idx),
            "traits" => read_traits(r, cat, v),
            "components" => read_kinds(r, cat, v, &family, idx, files),
            "flows" => {
                for item in r.array(v, "flows").unwrap_or_default() {
                    if let Some(f) = read_flow(r, item, &family, idx) {
                        cat.flows.push(f);
                    }
                }
            }
            "references" => read_references(r, cat, v),
            "defects" => read_defects(r, cat, v, idx),
            _ => unreachable!("fields() filtered unknown keys"),
        }
    }
}

/// `[family]`: the file's id, title and description.
fn read_family(r: &mut Reader<'_>, v: &doc::Value<'_>, idx: usize) -> Option<Family> {
    let t = r.table(v, "family")?;
    let fields = r.fields(t, &["id", "title", "description"], "[family]");
    let mut fam = Family {
        id: String::new(),
        title: String::new(),
        description: String::new(),
        file: idx,
    };
    for f in fields {
        let Some(s) = r.string(f.value, f.key) else {
            continue;
        };
        match f.key {
            "id" => fam.id = s.into_inner(),
            "title" => fam.title = s.into_inner(),
            _ => fam.description = s.into_inner(),
        }
    }
    Some(fam)
}

/// `[parameters.<name>]`.
fn read_parameters(r: &mut Reader<'_>, cat: &mut Catalogue, v: &doc::Value<'_>, idx: usize) {
    let Some(t) = r.table(v, "parameters") else {
        return;
    };
    for p in r.entries(t) {
        if let Some(param) = read_param(r, p.key, p.key_span.clone(), p.value, idx) {
            insert_once(r, &mut cat.parameters, "parameter", &p, param);
        }
    }
}

/// `[retired.<name>]`: parameters that no longer exist, with what to write instead.
fn read_retired(r: &mut Reader<'_>, cat: &mut Catalogue, v: &doc::Value<'_>, idx: usize) {
    each_table(r, v, "retired", |r, p, tt| {
        let hint = lone_string(r, tt, "hint", "a retired parameter");
        if hint.is_empty() {
            r.error(
                p.key_span.clone(),
                format!("retired parameter `{}` has no hint", p.key),
                "add hint = \"what to write instead\"",
            );
        }
        insert_once(
            r,
            &mut cat.retired,
            "retired parameter",
            p,
            Retired {
                name: p.key.to_string(),
                hint,
                span: p.key_span.clone(),
                file: idx,
            },
        );
    });
}

/// `[traits.<id>]`.
fn read_traits(r: &mut Reader<'_>, cat: &mut Catalogue, v: &doc::Value<'_>) {
    each_table(r, v, "traits", |r, p, tt| {
        let description = lone_string(r, tt, "description", "a trait");
        insert_once(
            r,
            &mut cat.traits,
            "trait",
            p,
            Trait {
                id: p.key.to_string(),
                description,
            },
        );
    });
}

/// `[components.<kind>]`: each kind once across the catalogue's files.
fn read_kinds(
    r: &mut Reader<'_>,
    cat: &mut Catalogue,
    v: &doc::Value<'_>,
    family: &str,
    idx: usize,
    files: &[SourceFile],
) {
    let Some(t) = r.table(v, "components") else {
        return;
    };
    for p in r.entries(t) {
        check_id(r, p.key, p.key_span.clone(), "component kind");
        let Some(kind) = read_kind(r, p.key, p.key_span.clone(), p.value, family, idx) else {
            continue;
        };
        if let Some(first) = cat.kinds.get(p.key) {
            let d = Diagnostic::error(format!("duplicate component kind `{}`", p.key))
                .at(r.file, p.key_span.clone())
                .label(&files[first.file], first.span.clone(), "first defined here")
                .hint("each kind is defined once; extend it with a new kind instead");
            r.push(d);
        }
        cat.kinds.insert(p.key.to_string(), kind);
    }
}

/// `[references.<id>]`: the documents flows cite.
fn read_references(r: &mut Reader<'_>, cat: &mut Catalogue, v: &doc::Value<'_>) {
    each_table(r, v, "references", |r, p, tt| {
        let mut rf = Reference {
            id: p.key.to_string(),
            title: String::new(),
            url: None,
        };
        for f in r.fields(tt, &["title", "url"], "a reference") {
            let Some(s) = r.string(f.value, f.key) else {
                continue;
            };
            if f.key == "title" {
                rf.title = s.into_inner();
            } else {
                rf.url = Some(s.into_inner());
            }
        }
        insert_once(r, &mut cat.references, "reference", p, rf);
    });
}

/// `[defects.<id>]`: the known errors of the sources, how each is handled and in which flows.
fn read_defects(r: &mut Reader<'_>, cat: &mut Catalogue, v: &doc::Value<'_>, idx: usize) {
    each_table(r, v, "defects", |r, p, tt| {
        let mut d = Defect {
            id: p.key.to_string(),
            summary: String::new(),
            handling: String::new(),
            flows: Vec::new(),
            span: p.key_span.clone(),
            file: idx,
        };
        for f in r.fields(tt, &["summary", "handling", "flows"], "a defect") {
            match f.key {
                "flows" => d.flows = r.texts(f.value, "flows"),
                key => {
                    let Some(s) = r.string(f.value, key) else {
                        continue;
                    };
                    if key == "summary" {
                        d.summary = s.into_inner();
                    } else {
                        d.handling = s.into_inner();
                    }
                }
            }
        }
        if d.handling.is_empty() {
            r.error(
                p.key_span.clone(),
                format!("defect {} says nothing of how it is handled", p.key),
                "add handling = \"...\"",
            );
        }
        insert_once(r, &mut cat.defects, "defect", p, d);
    });
}

/// Each entry of the section `[<section>.<id>]` that is a table, read by `read` in the file's
/// order (an entry that is not a table is reported where it stands).
fn each_table<'t, 'i>(
    r: &mut Reader<'_>,
    v: &'t doc::Value<'i>,
    section: &str,
    mut read: impl FnMut(&mut Reader<'_>, &doc::Entry<'t, 'i>, &'t Table<'i>),
) {
    let Some(t) = r.table(v, section) else {
        return;
    };
    for p in r.entries(t) {
        if let Some(tt) = r.table(p.value, p.key) {
            read(r, &p, tt);
        }
    }
}

/// The one string field of a small table (`[traits.x] description`), empty when absent.
fn lone_string(r: &mut Reader<'_>, t: &Table<'_>, key: &str, context: &str) -> String {
    let mut out = String::new();
    for f in r.fields(t, &[key], context) {
        if let Some(s) = r.string(f.value, key) {
            out = s.into_inner();
        }
    }
    out
}

/// Add an entry read from a file, reporting it if the catalogue has one of that name already.
pub(super) fn insert_once<T>(
    r: &mut Reader<'_>,
    map: &mut IndexMap<String, T>,
    what: &str,
    entry: &Entry<'_, '_>,
    value: T,
) {
    if map.contains_key(entry.key) {
        r.error(
            entry.key_span.clone(),
            format!("duplicate {what} `{}`", entry.key),
            format!("each {what} is defined once across the catalogue"),
        );
    }
    map.insert(entry.key.to_string(), value);
}

/// Setting names are written as component keys in a topology: lowercase and underscores.
pub(super) fn check_setting_name(r: &mut Reader<'_>, name: &str, span: Span) {
    let ok = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !ok {
        r.error(
            span,
            format!("setting name `{name}` must be lowercase letters, digits and underscores"),
            "e.g. `join`",
        );
    }
}

pub(super) fn check_id(r: &mut Reader<'_>, id: &str, span: Span, what: &str) {
    let ok = !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !id.starts_with('-');
    if !ok {
        r.error(
            span,
            format!("{what} id `{id}` must be lowercase letters, digits and dashes"),
            "e.g. `delivery-controller`",
        );
    }
}

pub(super) fn read_param(
    r: &mut Reader<'_>,
    name: &str,
    span: Span,
    v: &doc::Value<'_>,
    file: usize,
) -> Option<Parameter> {
    let t = r.table(v, name)?;
    let fields = r.fields(
        t,
        &["type", "values", "default", "description", "source", "refs"],
        "a parameter",
    );
    let mut refs = Vec::new();
    let mut ty = None;
    let mut values_v = None;
    let mut default_v = None;
    let mut description = String::new();
    let mut source = String::new();
    for f in &fields {
        match f.key {
            "type" => {
                if let Some(s) = r.string(f.value, "type") {
                    ty = match s.get_ref().as_str() {
                        "bool" => Some(ParamType::Bool),
                        "int" => Some(ParamType::Int),
                        "string" => Some(ParamType::String),
                        "ports" => Some(ParamType::Ports),
                        other => {
                            r.error(
                                s.span(),
                                format!("unknown parameter type `{other}`"),
                                "expected bool, int, string or ports",
                            );
                            None
                        }
                    }
                }
            }
            "values" => values_v = Some(f.value),
            "default" => default_v = Some(f.value),
            "refs" => refs = r.texts(f.value, "refs"),
            "description" => {
                description = r
                    .string(f.value, "description")
                    .map(Spanned::into_inner)
                    .unwrap_or_default()
            }
            _ => {
                source = r
                    .string(f.value, "source")
                    .map(Spanned::into_inner)
                    .unwrap_or_default()
            }
        }
    }
    let ty = ty?;
    let mut values = Vec::new();
    if let Some(vv) = values_v {
        for item in r.array(vv, "values").unwrap_or_default() {
            if let Some(pv) = param_value(r, ty, item, name) {
                values.push(pv);
            }
        }
    }
    let default = match default_v {
        Some(d) => param_value(r, ty, d, name)?,
        None => {
            r.error(
                v.span(),
                format!("parameter `{name}` has no default"),
                "every parameter needs a default a current deployment would have",
            );
            return None;
        }
    };
    if !values.is_empty() && !values.contains(&default) {
        r.error(
            v.span(),
            format!("default of `{name}` is not among its values"),
            "add it to `values`",
        );
    }
    Some(Parameter {
        name: name.to_string(),
        ty,
        values,
        default,
        description,
        source,
        refs,
        span,
        file,
    })
}

/// Read a value of a parameter's type; shared with the topology's `[parameters]`.
pub fn param_value(
    r: &mut Reader<'_>,
    ty: ParamType,
    v: &doc::Value<'_>,
    name: &str,
) -> Option<ParamValue> {
    match ty {
        ParamType::Bool => r.boolean(v, name).map(|b| ParamValue::Bool(b.into_inner())),
        ParamType::Int => r.integer(v, name).map(|i| ParamValue::Int(i.into_inner())),
        ParamType::String => r.string(v, name).map(|s| ParamValue::Str(s.into_inner())),
        ParamType::Ports => {
            let items = r.scalars(v, name)?;
            let mut ranges = Vec::new();
            for s in items {
                match PortRange::parse(s.get_ref()) {
                    Ok(p) => ranges.push(p),
                    Err(e) => r.error(
                        s.span(),
                        format!("{name}: {e}"),
                        "write ports as 443 or \"6910-6930\"",
                    ),
                }
            }
            Some(ParamValue::Ports(PortSet::from_ranges(ranges)))
        }
    }
}

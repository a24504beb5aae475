//! Reading a component kind (`[components.<id>]`) of a catalogue file.

use indexmap::IndexMap;
use toml::Spanned;

use super::model::*;
use super::read::{check_setting_name, insert_once, read_param};
use crate::diag::{choice_hint, Span};
use crate::doc::{self, Reader};

const KIND_KEYS: &[&str] = &[
    "name",
    "platform",
    "traits",
    "roles",
    "extends",
    "versions",
    "legacy",
    "fqdns",
    "description",
    "aliases",
    "settings",
];

pub(super) fn read_kind(
    r: &mut Reader<'_>,
    id: &str,
    span: Span,
    v: &doc::Value<'_>,
    family: &str,
    file: usize,
) -> Option<Kind> {
    let t = r.table(v, id)?;
    let mut kind = Kind {
        id: id.to_string(),
        name: String::new(),
        family: family.to_string(),
        platform: Platform::Mixed,
        traits: Vec::new(),
        roles: Vec::new(),
        extends: Vec::new(),
        versions: None,
        legacy: false,
        fqdns: Vec::new(),
        description: String::new(),
        aliases: Vec::new(),
        settings: IndexMap::new(),
        span,
        file,
    };
    let mut has_platform = false;
    for f in r.fields(t, KIND_KEYS, "a component kind") {
        match f.key {
            "traits" => kind.traits = r.texts(f.value, f.key),
            "roles" => kind.roles = r.texts(f.value, f.key),
            "extends" => kind.extends = r.texts(f.value, f.key),
            "fqdns" => kind.fqdns = domain_names(r, f.value),
            "aliases" => kind.aliases = r.texts(f.value, f.key),
            "settings" => {
                let Some(t) = r.table(f.value, "settings") else {
                    continue;
                };
                for p in r.entries(t) {
                    check_setting_name(r, p.key, p.key_span.clone());
                    if let Some(param) = read_param(r, p.key, p.key_span.clone(), p.value, file) {
                        insert_once(r, &mut kind.settings, "setting", &p, param);
                    }
                }
            }
            "legacy" => {
                kind.legacy = r
                    .boolean(f.value, "legacy")
                    .is_some_and(Spanned::into_inner)
            }
            "platform" => {
                if let Some(s) = r.string(f.value, "platform") {
                    match Platform::parse(s.get_ref()) {
                        Some(p) => {
                            kind.platform = p;
                            has_platform = true;
                        }
                        None => r.error(
                            s.span(),
                            format!("unknown platform `{}`", s.get_ref()),
                            choice_hint(s.get_ref(), Platform::NAMES),
                        ),
                    }
                }
            }
            key => {
                let Some(s) = r.string(f.value, key) else {
                    continue;
                };
                let s = s.into_inner();
                match key {
                    "name" => kind.name = s,
                    "versions" => kind.versions = Some(s),
                    _ => kind.description = s,
                }
            }
        }
    }
    if !has_platform {
        r.error(
            kind.span.clone(),
            format!("kind `{id}` has no platform"),
            "add platform = \"windows\" (or linux, appliance, client, internet, mixed)",
        );
    }
    if kind.name.is_empty() {
        r.error(
            kind.span.clone(),
            format!("kind `{id}` has no name"),
            "add name = \"...\" as the product calls it",
        );
    }
    Some(kind)
}

/// A kind's `fqdns`: each must be a domain name ([`domain_name_problem`]), since they become
/// the lines of the domain list a proxy or DNS filter loads (`<topology>.domains.txt`).
fn domain_names(r: &mut Reader<'_>, v: &doc::Value<'_>) -> Vec<String> {
    let mut out = Vec::new();
    for s in r.strings(v, "fqdns").unwrap_or_default() {
        match domain_name_problem(s.get_ref()) {
            None => out.push(s.into_inner()),
            Some(problem) => r.error(
                s.span(),
                format!("{:?} in fqdns is not a domain name: {problem}", s.get_ref()),
                "write a name such as updates.example.com, or *.example.com for every name \
                 under example.com: labels of 1-63 letters, digits and `-`, at least two after \
                 any leading `*.`",
            ),
        }
    }
    out
}

/// What keeps `s` from being a domain name as the catalogue writes them (RFC 1035 host names,
/// case-insensitive, without the root's trailing dot), or `None`. Leading `*` labels stand
/// for any labels (`*.cloud.com`, `*.*.nssvc.net`); at least two real labels follow, so a
/// wildcard never covers a whole top-level domain, and the last is not a number (that would be
/// an address).
pub fn domain_name_problem(s: &str) -> Option<String> {
    let problem = |p: &str| Some(p.to_string());
    if s.is_empty() {
        return problem("it is empty");
    }
    if let Some(c) = s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '*')))
    {
        return Some(if c.is_ascii() {
            format!("it holds {c:?}; a name has letters, digits, `-` and `.`")
        } else {
            format!("it holds {c:?}; write an international name in its xn-- (punycode) form")
        });
    }
    if s.len() > 253 {
        return problem("it is longer than 253 characters");
    }
    if s.ends_with('.') {
        return problem("it ends with a dot");
    }
    let labels: Vec<&str> = s.split('.').collect();
    let wild = labels.iter().take_while(|l| **l == "*").count();
    let names = &labels[wild..];
    for l in names {
        if l.is_empty() {
            return problem("it has an empty label (two dots in a row, or a leading dot)");
        }
        if l.contains('*') {
            return problem("`*` may only stand as whole labels at the start");
        }
        if l.len() > 63 {
            return problem("a label is longer than 63 characters");
        }
        if l.starts_with('-') || l.ends_with('-') {
            return problem("a label starts or ends with `-`");
        }
    }
    if names.len() < 2 {
        return problem("it needs at least two labels after any leading `*.`");
    }
    if names
        .last()
        .is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit()))
    {
        return problem("its last label is a number, as in an address");
    }
    None
}

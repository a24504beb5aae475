//! What a topology file says: its keys and values, each of the TOML type its key takes, with
//! their spans. Reading it reports unknown keys, values of the wrong type and missing keys the
//! format requires; what the values mean, alone and against the catalogue, is for
//! [`super::check`].

use toml::Spanned;

use crate::diag::{Diagnostic, Span};
use crate::doc::{Entry, Reader, Table, Value};

/// A string as the file gives it.
pub type Text = Spanned<String>;

/// Strings as the file gives them (one string counts as a list of one where the format allows
/// it), and where the value is.
pub struct List {
    pub span: Span,
    pub items: Vec<Text>,
}

/// One entry of a table of things the file names (`[zones.<name>]`): its name, where the name
/// is, and what it holds when it is a table.
pub struct Named<T> {
    pub name: String,
    pub span: Span,
    pub value: Option<T>,
}

pub struct File<'t, 'i> {
    pub name: Option<Text>,
    pub description: Option<Text>,
    pub zones: Vec<Named<Zone>>,
    /// `[parameters]`, as written: their types are the catalogue's.
    pub parameters: Vec<Entry<'t, 'i>>,
    pub components: Vec<Named<Component<'t, 'i>>>,
    pub additions: Vec<Addition>,
    pub removals: Vec<Removal>,
}

pub struct Zone {
    pub cidrs: Option<List>,
    pub description: Option<Text>,
    pub location: Option<Text>,
    pub interfaces: Option<List>,
}

pub struct Component<'t, 'i> {
    pub kind: Option<List>,
    pub zone: Option<Text>,
    pub hosts: Option<List>,
    pub site: Option<Text>,
    pub description: Option<Text>,
    /// Keys that name a setting of some kind (`join = "entra"`), as written: their types are
    /// the kind's.
    pub settings: Vec<Entry<'t, 'i>>,
    pub interfaces: Vec<Named<Interface>>,
}

pub struct Interface {
    /// `Some` when given, holding the zone when it is a string; absent, the component's zone.
    pub zone: Option<Option<Text>>,
    pub hosts: Option<List>,
}

/// `[[additions]]`: where the entry is, and each of its strings.
pub struct Addition {
    pub span: Span,
    pub id: Option<Text>,
    pub from: Option<Text>,
    pub to: Option<Text>,
    pub from_interface: Option<Text>,
    pub to_interface: Option<Text>,
    pub protocol: Option<Text>,
    pub purpose: Option<Text>,
    pub reason: Option<Text>,
    /// `Some` when `ports` is given, with the ports that are numbers or strings.
    pub ports: Option<Vec<Text>>,
}

/// `[[removals]]`.
pub struct Removal {
    pub span: Span,
    pub catalogue: Option<Text>,
    pub from: Option<Text>,
    pub to: Option<Text>,
    pub reason: Option<Text>,
}

const TOP_KEYS: &[&str] = &[
    "name",
    "description",
    "parameters",
    "zones",
    "components",
    "additions",
    "removals",
];

/// A component's own keys; the settings its kinds declare (`join`, `mode`...) sit beside them.
pub const COMPONENT_KEYS: &[&str] = &["kind", "zone", "hosts", "site", "description", "interfaces"];

const ADDITION_KEYS: &[&str] = &[
    "id",
    "from",
    "from_interface",
    "to",
    "to_interface",
    "protocol",
    "ports",
    "purpose",
    "reason",
];

/// Read the document's top table; `settings` names every setting a kind declares, the keys a
/// component may have besides its own.
pub fn read<'t, 'i>(r: &mut Reader<'_>, top: &'t Table<'i>, settings: &[&str]) -> File<'t, 'i> {
    let fields = r.fields(top, TOP_KEYS, "the topology");
    let get = |k: &str| fields.iter().find(|e| e.key == k).map(|e| e.value);
    let mut file = File {
        name: None,
        description: None,
        zones: Vec::new(),
        parameters: Vec::new(),
        components: Vec::new(),
        additions: Vec::new(),
        removals: Vec::new(),
    };
    match get("name") {
        Some(v) => file.name = r.string(v, "name"),
        None => {
            let d = Diagnostic::error("the topology has no `name`")
                .at(r.file, 0..0)
                .hint("add name = \"my-site\" at the top; it names the output files");
            r.push(d);
        }
    }
    file.description = get("description").and_then(|v| r.string(v, "description"));
    match get("zones") {
        Some(v) => file.zones = named(r, v, "zones", zone),
        None => {
            let d = Diagnostic::error("the topology has no [zones]")
                .at(r.file, 0..0)
                .hint("add at least one [zones.<name>] with cidrs = [\"10.0.0.0/24\"]");
            r.push(d);
        }
    }
    if let Some(v) = get("parameters") {
        if let Some(t) = r.table(v, "parameters") {
            file.parameters = r.entries(t);
        }
    }
    if let Some(v) = get("components") {
        // Every setting any kind declares is a known key here; whether this component's kinds
        // declare it is checked once its kinds are known.
        let mut keys: Vec<&str> = COMPONENT_KEYS.to_vec();
        keys.extend_from_slice(settings);
        keys.sort_unstable();
        keys.dedup();
        file.components = named(r, v, "components", |r, e, t| component(r, e, t, &keys));
    }
    if let Some(v) = get("additions") {
        file.additions = array(r, v, "additions", "[[additions]]", addition);
    }
    if let Some(v) = get("removals") {
        file.removals = array(r, v, "removals", "[[removals]]", removal);
    }
    file
}

/// The entries of a table of named tables (`[zones.<name>]`), each read by `read` when it is a
/// table.
fn named<'t, 'i, T>(
    r: &mut Reader<'_>,
    v: &'t Value<'i>,
    what: &str,
    mut read: impl FnMut(&mut Reader<'_>, &Entry<'t, 'i>, &'t Table<'i>) -> T,
) -> Vec<Named<T>> {
    let Some(table) = r.table(v, what) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in r.entries(table) {
        let value = r
            .table(e.value, &format!("{what}.{}", e.key))
            .map(|t| read(r, &e, t));
        out.push(Named {
            name: e.key.to_string(),
            span: e.key_span.clone(),
            value,
        });
    }
    out
}

/// The tables of an array of tables (`[[additions]]`), each read by `read` with its span.
fn array<'t, 'i, T>(
    r: &mut Reader<'_>,
    v: &'t Value<'i>,
    what: &str,
    item: &str,
    read: impl Fn(&mut Reader<'_>, Span, &'t Table<'i>) -> T,
) -> Vec<T> {
    let mut out = Vec::new();
    for v in r.array(v, what).unwrap_or_default() {
        if let Some(t) = r.table(v, item) {
            out.push(read(r, v.span(), t));
        }
    }
    out
}

fn list(r: &mut Reader<'_>, v: &Value<'_>, what: &str) -> Option<List> {
    let items = r.strings(v, what)?;
    Some(List {
        span: v.span(),
        items,
    })
}

fn zone(r: &mut Reader<'_>, e: &Entry<'_, '_>, t: &Table<'_>) -> Zone {
    let mut z = Zone {
        cidrs: None,
        description: None,
        location: None,
        interfaces: None,
    };
    let mut has_cidrs = false;
    let keys = ["cidrs", "description", "location", "interfaces"];
    for f in r.fields(t, &keys, &format!("zone `{}`", e.key)) {
        match f.key {
            "cidrs" => {
                has_cidrs = true;
                z.cidrs = list(r, f.value, "cidrs");
            }
            "description" => z.description = r.string(f.value, "description"),
            "interfaces" => z.interfaces = list(r, f.value, "interfaces"),
            _ => z.location = r.string(f.value, "location"),
        }
    }
    if !has_cidrs {
        r.error(
            e.key_span.clone(),
            format!("zone `{}` has no cidrs", e.key),
            "add cidrs = [\"10.0.10.0/24\"] (the zone's networks)",
        );
    }
    z
}

fn component<'t, 'i>(
    r: &mut Reader<'_>,
    e: &Entry<'t, 'i>,
    t: &'t Table<'i>,
    keys: &[&str],
) -> Component<'t, 'i> {
    let owner = format!("component `{}`", e.key);
    let fields = r.fields(t, keys, &owner);
    let get = |k: &str| fields.iter().find(|f| f.key == k).map(|f| f.value);
    let kind = match get("kind") {
        Some(v) => list(r, v, "kind"),
        None => {
            r.error(
                e.key_span.clone(),
                format!("{owner} has no kind"),
                "add kind = \"...\"; `ctxfw catalogue` lists the kinds",
            );
            None
        }
    };
    let zone = match get("zone") {
        Some(v) => r.string(v, "zone"),
        None => {
            r.error(
                e.key_span.clone(),
                format!("{owner} has no zone"),
                "add zone = \"<one of the [zones]>\"",
            );
            None
        }
    };
    let hosts = get("hosts").and_then(|v| list(r, v, "hosts"));
    let site = get("site").and_then(|v| r.string(v, "site"));
    let description = get("description").and_then(|v| r.string(v, "description"));
    let interfaces = get("interfaces").map_or_else(Vec::new, |v| {
        named(r, v, "interfaces", |r, ie, it| {
            let iowner = format!("interface `{}` of {owner}", ie.key);
            let ifields = r.fields(it, &["zone", "hosts"], &iowner);
            let get = |k: &str| ifields.iter().find(|x| x.key == k).map(|x| x.value);
            Interface {
                zone: get("zone").map(|v| r.string(v, "zone")),
                hosts: get("hosts").and_then(|v| list(r, v, "hosts")),
            }
        })
    });
    let settings = fields
        .into_iter()
        .filter(|f| !COMPONENT_KEYS.contains(&f.key))
        .collect();
    Component {
        kind,
        zone,
        hosts,
        site,
        description,
        settings,
        interfaces,
    }
}

fn addition(r: &mut Reader<'_>, span: Span, t: &Table<'_>) -> Addition {
    let fields = r.fields(t, ADDITION_KEYS, "an addition");
    let mut string = |k: &str| {
        fields
            .iter()
            .find(|f| f.key == k)
            .and_then(|f| r.string(f.value, k))
    };
    Addition {
        span,
        id: string("id"),
        from: string("from"),
        to: string("to"),
        from_interface: string("from_interface"),
        to_interface: string("to_interface"),
        protocol: string("protocol"),
        purpose: string("purpose"),
        reason: string("reason"),
        ports: fields
            .iter()
            .find(|f| f.key == "ports")
            .map(|f| r.scalars(f.value, "ports").unwrap_or_default()),
    }
}

fn removal(r: &mut Reader<'_>, span: Span, t: &Table<'_>) -> Removal {
    let fields = r.fields(t, &["catalogue", "from", "to", "reason"], "a removal");
    let mut string = |k: &str| {
        fields
            .iter()
            .find(|f| f.key == k)
            .and_then(|f| r.string(f.value, k))
    };
    let catalogue = string("catalogue");
    let from = string("from");
    let to = string("to");
    let reason = string("reason");
    if !fields.iter().any(|f| f.key == "reason") {
        r.error(
            span.clone(),
            "removal has no `reason`",
            "reason = \"why this site does not need it\"; every output shows it",
        );
    }
    Removal {
        span,
        catalogue,
        from,
        to,
        reason,
    }
}

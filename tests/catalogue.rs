//! The embedded catalogue: loads cleanly, covers the contract kinds and parameters, handles
//! every known source defect, and accepts a user's extension directory.

mod common;

use std::collections::BTreeSet;

use ctxfw::catalogue::{Catalogue, ParamValue, Platform};

const CONTRACT_KINDS: &[&str] = &[
    "workspace-app",
    "vda",
    "delivery-controller",
    "director",
    "storefront",
    "license-server",
    "cloud-connector",
    "fas",
    "certificate-authority",
    "session-recording-server",
    "wem-infrastructure",
    "pvs-server",
    "pvs-target",
    "sql-server",
    "domain-controller",
    "dns-server",
    "ntp-server",
    "radius-server",
    "vcenter",
    "scvmm",
    "hyperv-host",
    "admin-workstation",
    "netscaler-adc",
    "netscaler-gateway",
    "netscaler-adm",
    "netscaler-sdwan",
    "xenserver-host",
    "xencenter",
    "workload-balancing",
    "nfs-server",
    "iscsi-target",
    "smb-file-server",
    "syslog-server",
    "smart-tools-agent",
];

#[test]
fn embedded_catalogue_loads() {
    let cat = common::catalogue();
    assert!(cat.flows.len() > 150, "only {} flows", cat.flows.len());
}

#[test]
fn contract_kinds_exist() {
    let cat = common::catalogue();
    for k in CONTRACT_KINDS {
        assert!(cat.kind(k).is_some(), "contract kind `{k}` missing");
    }
    assert!(cat
        .expand_kind("netscaler-gateway")
        .contains(&"netscaler-adc".to_string()));
}

#[test]
fn contract_parameters_and_defaults() {
    let cat = common::catalogue();
    let want = [
        ("xml_port", ParamValue::Int(80)),
        ("storefront_port", ParamValue::Int(443)),
        ("edt", ParamValue::Bool(true)),
        ("session_reliability", ParamValue::Bool(true)),
        ("html5", ParamValue::Bool(false)),
        ("udp_audio", ParamValue::Bool(false)),
        ("vda_tls", ParamValue::Bool(false)),
        ("framehawk", ParamValue::Bool(false)),
        ("sql_instance", ParamValue::Str("default".into())),
        ("rendezvous", ParamValue::Str("off".into())),
    ];
    for (name, default) in want {
        let p = cat
            .parameters
            .get(name)
            .unwrap_or_else(|| panic!("parameter {name} missing"));
        assert_eq!(p.default, default, "default of {name}");
    }
}

#[test]
fn every_known_source_defect_is_handled() {
    let cat = common::catalogue();
    let ids: Vec<String> = (1..=45).map(|i| format!("D{i:02}")).collect();
    for id in &ids {
        let d = cat
            .defects
            .get(id)
            .unwrap_or_else(|| panic!("defect {id} is not handled in the catalogue"));
        assert!(
            d.handling.len() > 20,
            "{id}: handling too thin: {:?}",
            d.handling
        );
    }
    // Every flow a defect names says how it corrects the source, and cites the defect back.
    for d in cat.defects.values() {
        for f in &d.flows {
            let flow = cat.flows.iter().find(|x| &x.id == f).unwrap();
            assert!(
                flow.fixes.contains(&d.id),
                "flow {f} is named by {} but does not list it in `fixes`",
                d.id
            );
            assert!(
                flow.note.as_deref().is_some_and(|n| n.contains(&d.id)),
                "flow {f}: note does not mention {}",
                d.id
            );
        }
    }
}

#[test]
fn every_flow_is_cited_and_explained() {
    let cat = common::catalogue();
    for f in &cat.flows {
        assert!(!f.purpose.trim().is_empty(), "{}: no purpose", f.id);
        assert!(!f.source.trim().is_empty(), "{}: no source", f.id);
    }
    let families: BTreeSet<&str> = cat.flows.iter().map(|f| f.family.as_str()).collect();
    for fam in [
        "core",
        "cvad",
        "cloud",
        "pvs",
        "netscaler",
        "xenserver",
        "smart-tools",
        "legacy",
    ] {
        assert!(families.contains(fam), "no flows from family {fam}");
    }
}

#[test]
fn legacy_kinds_are_marked_with_versions() {
    let cat = common::catalogue();
    let legacy: Vec<_> = cat.kinds.values().filter(|k| k.legacy).collect();
    assert!(
        legacy.len() >= 8,
        "expected the legacy products, found {}",
        legacy.len()
    );
    for k in legacy {
        assert!(
            k.versions.is_some(),
            "legacy kind {} has no version scope",
            k.id
        );
    }
}

#[test]
fn internet_services_have_domains() {
    let cat = common::catalogue();
    let internet: Vec<_> = cat
        .kinds
        .values()
        .filter(|k| k.platform == Platform::Internet)
        .collect();
    assert!(!internet.is_empty());
    for k in internet {
        // An internet kind without names only starts flows (the internet's DNS resolvers).
        let reached = cat
            .flows
            .iter()
            .any(|f| f.to == ctxfw::catalogue::KindRef::Kind(k.id.clone()));
        assert!(!reached || !k.fqdns.is_empty(), "{}", k.id);
        assert!(
            reached || k.fqdns.is_empty() || k.legacy,
            "{} is reached by no flow",
            k.id
        );
    }
}

const EXT: &str = r#"
[family]
id = "acme"
title = "ACME in-house"

[components.acme-portal]
name = "ACME self-service portal"
platform = "linux"
traits = ["citrix-licensed"]

[[flows]]
id = "acme-portal-storefront"
from = "acme-portal"
to = "storefront"
protocol = "tcp"
ports = ["$storefront_port"]
purpose = "Portal embeds the Citrix store"
source = "ACME design doc 12"
"#;

#[test]
fn user_extension_directory_adds_kinds_and_flows() {
    let dir = tempfile::tempdir().unwrap();
    let ext = dir.path().join("catalogue.d");
    std::fs::create_dir(&ext).unwrap();
    std::fs::write(ext.join("acme.toml"), EXT).unwrap();
    let cat = Catalogue::load(Some(&ext)).unwrap_or_else(|e| panic!("{e}"));
    assert!(cat.kind("acme-portal").is_some());
    let topo = dir.path().join("t.toml");
    std::fs::write(
        &topo,
        "name = \"t\"\n[zones.a]\ncidrs = [\"10.0.0.0/24\"]\n[components.p]\nkind = \"acme-portal\"\nzone = \"a\"\nhosts = [\"10.0.0.5\"]\n[components.sf]\nkind = \"storefront\"\nzone = \"a\"\nhosts = [\"10.0.0.6\"]\n",
    )
    .unwrap();
    let loaded = ctxfw::load(&topo, Some(&ext)).unwrap_or_else(|e| panic!("{e}"));
    let f = loaded
        .resolution
        .flows
        .iter()
        .find(|f| &*f.from == "p" && &*f.to == "sf")
        .expect("portal flow");
    assert_eq!(f.ports.to_string(), "443");
}

#[test]
fn extension_errors_name_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let bad = EXT
        .replace("to = \"storefront\"", "to = \"storefrnt\"")
        .replace("protocol = \"tcp\"", "protocol = \"tcpp\"");
    std::fs::write(dir.path().join("acme.toml"), bad).unwrap();
    let err = Catalogue::load(Some(dir.path())).unwrap_err();
    let shown = err.to_string();
    assert!(shown.contains("unknown protocol `tcpp`"), "{shown}");
    assert!(shown.contains("acme.toml:16:"), "{shown}");
    // A second load with the protocol fixed reports the unknown kind with a suggestion.
    let bad = EXT.replace("to = \"storefront\"", "to = \"storefrnt\"");
    std::fs::write(dir.path().join("acme.toml"), bad).unwrap();
    let err = Catalogue::load(Some(dir.path())).unwrap_err().to_string();
    assert!(
        err.contains("unknown to kind `storefrnt`") && err.contains("did you mean \"storefront\"?"),
        "{err}"
    );
}

#[test]
fn extension_cannot_redefine_a_kind() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("x.toml"), "[family]\nid = \"x\"\ntitle = \"x\"\n[components.vda]\nname = \"mine\"\nplatform = \"linux\"\n").unwrap();
    let err = Catalogue::load(Some(dir.path())).unwrap_err().to_string();
    assert!(
        err.contains("duplicate component kind `vda`") && err.contains("first defined here"),
        "{err}"
    );
}

/// Aliases help find an id; one that is itself an id would hide that kind.
#[test]
fn aliases_are_other_names_never_ids() {
    let cat = common::catalogue();
    for k in cat.kinds.values() {
        for a in &k.aliases {
            assert!(
                !cat.kinds.contains_key(a),
                "{}: alias {a} is a kind id",
                k.id
            );
            assert!(
                a.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-.".contains(c)),
                "{}: alias {a}",
                k.id
            );
        }
    }
    assert!(cat.kinds.values().filter(|k| !k.aliases.is_empty()).count() >= 40);
}

/// An extension kind with a setting, a flow that depends on it and one that `needs` a kind.
const SETTINGS_EXT: &str = r#"
[family]
id = "acme"
title = "ACME in-house"

[components.acme-node]
name = "ACME node"
platform = "linux"

[components.acme-node.settings.tier]
type = "string"
values = ["bronze", "gold"]
default = "bronze"
description = "Service tier"
source = "ACME design doc 12"

[components.acme-backup]
name = "ACME backup target"
platform = "linux"

[[flows]]
id = "acme-gold-replication"
from = "acme-node"
to = "acme-backup"
protocol = "tcp"
ports = [7100]
when = "from.tier == 'gold'"
purpose = "Gold nodes replicate to the backup target"
source = "ACME design doc 12"

[[flows]]
id = "acme-backup-report"
from = "acme-backup"
to = "storefront"
protocol = "tcp"
ports = [7200]
needs = ["acme-node"]
purpose = "The backup target reports into the portal, only where nodes are backed up"
source = "ACME design doc 12"
"#;

fn settings_topology(extra: &str) -> String {
    format!(
        "name = \"t\"\n[zones.a]\ncidrs = [\"10.0.0.0/24\"]\n\
         [components.backup]\nkind = \"acme-backup\"\nzone = \"a\"\nhosts = [\"10.0.0.9\"]\n\
         [components.sf]\nkind = \"storefront\"\nzone = \"a\"\nhosts = [\"10.0.0.6\"]\n{extra}"
    )
}

fn load_with(ext: &str, topo: &str) -> Result<ctxfw::Loaded, String> {
    let dir = tempfile::tempdir().unwrap();
    let ext_dir = dir.path().join("catalogue.d");
    std::fs::create_dir(&ext_dir).unwrap();
    std::fs::write(ext_dir.join("acme.toml"), ext).unwrap();
    let path = dir.path().join("t.toml");
    std::fs::write(&path, topo).unwrap();
    ctxfw::load(&path, Some(&ext_dir)).map_err(|e| e.to_string())
}

#[test]
fn a_component_setting_decides_its_own_flows() {
    let topo = settings_topology(
        "[components.plain]\nkind = \"acme-node\"\nzone = \"a\"\nhosts = [\"10.0.0.1\"]\n\
         [components.premium]\nkind = \"acme-node\"\nzone = \"a\"\nhosts = [\"10.0.0.2\"]\ntier = \"gold\"\n",
    );
    let loaded = load_with(SETTINGS_EXT, &topo).unwrap_or_else(|e| panic!("{e}"));
    let repl: Vec<&str> = loaded
        .resolution
        .flows
        .iter()
        .filter(|f| {
            f.parts
                .iter()
                .any(|p| &*p.catalogue == "acme-gold-replication")
        })
        .map(|f| &*f.from)
        .collect();
    assert_eq!(repl, ["premium"], "only the gold node replicates");
    // The condition is shown with the flow; a setting is no parameter.
    let f = loaded
        .resolution
        .flows
        .iter()
        .find(|f| &*f.from == "premium")
        .unwrap();
    assert!(f.parameters.is_empty(), "{:?}", f.parameters);
    assert_eq!(f.parts[0].condition.as_deref(), Some("from.tier == 'gold'"));
}

#[test]
fn a_flow_that_needs_a_kind_binds_only_where_it_is_placed() {
    let reported = |topo: &str| {
        load_with(SETTINGS_EXT, topo)
            .unwrap_or_else(|e| panic!("{e}"))
            .resolution
            .flows
            .iter()
            .any(|f| {
                f.parts
                    .iter()
                    .any(|p| &*p.catalogue == "acme-backup-report")
            })
    };
    assert!(
        !reported(&settings_topology("")),
        "no node placed: no report"
    );
    assert!(reported(&settings_topology(
        "[components.n]\nkind = \"acme-node\"\nzone = \"a\"\nhosts = [\"10.0.0.1\"]\n"
    )));
}

#[test]
fn settings_are_checked_in_the_topology() {
    let bad = settings_topology(
        "[components.n]\nkind = \"acme-node\"\nzone = \"a\"\ntier = \"platinum\"\n\
         [components.m]\nkind = \"storefront\"\nzone = \"a\"\ntier = \"gold\"\n",
    );
    let Err(err) = load_with(SETTINGS_EXT, &bad) else {
        panic!("a bad setting was accepted")
    };
    assert!(
        err.contains("setting `tier` cannot be \"platinum\"")
            && err.contains("allowed values: \"bronze\", \"gold\" (default \"bronze\")"),
        "{err}"
    );
    assert!(
        err.contains("`tier` is not a setting of storefront")
            && err.contains("`tier` is a setting of acme-node"),
        "{err}"
    );
}

#[test]
fn catalogue_settings_and_conditions_are_checked() {
    let named_like_a_key = SETTINGS_EXT.replace("settings.tier]", "settings.zone]");
    let err = catalogue_error(&named_like_a_key);
    assert!(err.contains("has the name of a component key"), "{err}");
    let unknown = SETTINGS_EXT.replace("from.tier == 'gold'", "to.tier == 'gold'");
    let err = catalogue_error(&unknown);
    assert!(
        err.contains("condition names `to.tier`, but acme-backup has no setting `tier`"),
        "{err}"
    );
    let bad_value = SETTINGS_EXT.replace("from.tier == 'gold'", "from.tier == 'silver'");
    let err = catalogue_error(&bad_value);
    assert!(
        err.contains("compares `from.tier` with a value it cannot have"),
        "{err}"
    );
    let needs = SETTINGS_EXT.replace("needs = [\"acme-node\"]", "needs = [\"acme-nod\"]");
    let err = catalogue_error(&needs);
    assert!(err.contains("`needs` names unknown acme-nod"), "{err}");
}

/// The error an extension catalogue of this text gets.
fn catalogue_error(text: &str) -> String {
    Catalogue::load(Some(&write_dir(text)))
        .unwrap_err()
        .to_string()
}

fn write_dir(text: &str) -> std::path::PathBuf {
    // Kept for the test's life: the catalogue is read from it after this returns.
    let dir = tempfile::tempdir().unwrap().keep();
    std::fs::write(dir.join("acme.toml"), text).unwrap();
    dir
}

/// Every kind an administrator manages through a console of its own (a web GUI, an API, a
/// CLI over SSH, a management client) has a flow from the admin workstation to it.
#[test]
fn every_kind_with_a_console_is_reached_from_admin_workstations() {
    let cat = common::catalogue();
    let admin = ctxfw::catalogue::KindRef::Kind("admin-workstation".into());
    for kind in [
        "netscaler-adc",
        "netscaler-gateway",
        "netscaler-adm",
        "netscaler-sdwan",
        "sdwan-center",
        "sdwan-wanop",
        "netscaler-sdx-svm",
        "netscaler-sdx-hypervisor",
        "netscaler-lom",
        "command-center",
        "insight-center",
        "workload-balancing",
        "license-server",
        "delivery-controller",
        "director",
        "wem-infrastructure",
        "pvs-server",
        "xenserver-host",
        "session-recording-server",
        "xenmobile-server",
        "app-layering-appliance",
        "merchandising-server",
        "edgesight-server",
        "smartauditor-server",
        "xenclient-synchronizer",
        "workflow-studio-runtime",
        "xenapp-server",
    ] {
        assert!(
            cat.flows
                .iter()
                .any(|f| f.from == admin && cat.matches(kind, &f.to)),
            "{kind} has a console but no flow from admin-workstation"
        );
    }
}

/// Every kind that keeps a database on SQL Server (the sql-client trait) has its own flow to
/// SQL Server, next to the trait's named-instance flows.
#[test]
fn every_sql_client_has_its_database_flow() {
    let cat = common::catalogue();
    let sql = ctxfw::catalogue::KindRef::Kind("sql-server".into());
    let clients: Vec<&str> = cat
        .kinds
        .values()
        .filter(|k| k.traits.iter().any(|t| t == "sql-client"))
        .map(|k| k.id.as_str())
        .collect();
    assert!(clients.len() >= 10, "{clients:?}");
    for kind in clients {
        assert!(
            cat.flows.iter().any(|f| f.to == sql
                && matches!(&f.from, ctxfw::catalogue::KindRef::Kind(k) if k == kind)),
            "{kind} is a sql-client without a flow of its own to sql-server"
        );
    }
}

/// A flow whose condition names a component setting is still left out of the size bound when
/// the parameters alone make it false: 60 ADCs in 60 sites do not count GSLB's cross-site
/// cluster sync (60 x 60 pairs) while gslb is off.
#[test]
fn the_size_bound_skips_what_the_parameters_rule_out() {
    let cat = common::catalogue();
    let mut t = String::from("name = \"t\"\n[zones.a]\ncidrs = [\"10.0.0.0/16\"]\n");
    for i in 0..60 {
        t.push_str(&format!(
            "[components.adc{i}]\nkind = \"netscaler-adc\"\nzone = \"a\"\nsite = \"s{i}\"\nhosts = [\"10.0.{i}.1\"]\n"
        ));
    }
    let bound = |text: &str| {
        let topo = common::parse_str("t.toml", text).unwrap_or_else(|e| panic!("{e}"));
        ctxfw::resolve::binding_bound(&topo, &cat)
    };
    let off = bound(&t);
    let on = bound(&format!("{t}[parameters]\ngslb = true\n"));
    assert!(
        off < 60 * 60,
        "gslb off still counts cross-site pairs: {off}"
    );
    assert!(on >= 60 * 59, "gslb on counts them: {on}");
}

/// `ctxfw catalogue --parameters` shows every parameter and component setting with its
/// default and the evidence for it.
#[test]
fn every_parameter_and_setting_shows_its_default_and_evidence() {
    let out = std::process::Command::new(common::bin())
        .args(["catalogue", "--parameters"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let cat = common::catalogue();
    let settings = cat
        .kinds
        .values()
        .flat_map(|k| k.settings.values().map(move |p| (format!("{}: ", k.id), p)));
    for (prefix, p) in cat
        .parameters
        .values()
        .map(|p| (String::new(), p))
        .chain(settings)
    {
        assert!(!p.source.is_empty(), "{} has no evidence", p.name);
        let head = format!("  {prefix}{} = {}   (", p.name, p.default);
        let at = text
            .find(&head)
            .unwrap_or_else(|| panic!("{head:?} not listed"));
        let block: String = text[at..].lines().take(4).collect::<Vec<_>>().join("\n");
        assert!(
            block.contains(&format!("evidence: {}", p.source)),
            "{block}"
        );
    }
    for name in [
        "rpc_secure",
        "sql_named_instance_ports",
        "sso_central_store",
    ] {
        let refs = &cat.parameters[name].refs;
        assert!(!refs.is_empty(), "{name} cites no official page");
        assert!(text.contains(&format!("[{}] ", refs[0])), "{name}");
    }
}

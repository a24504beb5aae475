//! The cloud targets (aws, azure, gcp): every output goes through the clouds' own validators
//! (tests/validators/*.py, run with the virtual environment's Python from `.ci/run`), hostile
//! text stays intact or is sanitized as documented, and what a cloud cannot express is an error.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use ctxfw::generate::{self, NothingToRender, Options, TARGETS};
use ctxfw::render::Renderer;
use serde_json::Value;

const CLOUDS: [&str; 3] = ["aws", "azure", "gcp"];

fn fixture(name: &str) -> PathBuf {
    common::root().join("tests/fixtures").join(name)
}

fn ext_catalogue() -> PathBuf {
    fixture("cloud-catalogue")
}

/// The Python with the validators' packages (a visible skip, or a failure under CI, without).
fn python() -> Option<PathBuf> {
    common::tools::python(
        "cloud validators",
        "cfnlint, botocore, google.cloud.compute_v1, azure.mgmt.network._serialization",
        "cfn-lint botocore google-cloud-compute 'azure-mgmt-network<29'",
    )
}

/// Run one validator on one file; its report on failure.
fn validate(py: &Path, cloud: &str, file: &Path) -> Result<String, String> {
    let script = common::root().join(format!("tests/validators/validate_{cloud}.py"));
    let out = Command::new(py).arg(script).arg(file).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(text)
    } else {
        Err(text)
    }
}

fn load(path: &Path, ext: bool) -> ctxfw::Loaded {
    let cat = ext.then(ext_catalogue);
    ctxfw::load(path, cat.as_deref()).unwrap_or_else(|e| panic!("{e}"))
}

/// One cloud target's output, or its error.
fn render(loaded: &ctxfw::Loaded, cloud: &str) -> anyhow::Result<String> {
    let r = Renderer::new(None).unwrap();
    let t: Vec<_> = TARGETS.iter().filter(|t| t.name == cloud).collect();
    let files = generate::generate(loaded, &r, &Options::default(), &t)?;
    assert_eq!(files.len(), 1);
    assert_eq!(
        files[0].name,
        format!("{}.{cloud}.json", loaded.topology.name)
    );
    Ok(files[0].content.clone())
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON: {e}\n{text}"))
}

/// Every (topology, cloud) pair with output: the examples and the injection fixture.
fn outputs() -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let mut inputs: Vec<(PathBuf, bool)> = common::example_topologies()
        .into_iter()
        .map(|p| (p, false))
        .collect();
    inputs.push((fixture("cloud-injection.toml"), true));
    for (path, ext) in inputs {
        let loaded = load(&path, ext);
        for cloud in CLOUDS {
            match render(&loaded, cloud) {
                Ok(text) => out.push((loaded.topology.name.clone(), cloud.to_string(), text)),
                Err(e) if e.downcast_ref::<NothingToRender>().is_some() => {}
                Err(e) => panic!("{}: {cloud}: {e:#}", path.display()),
            }
        }
    }
    out
}

#[test]
fn every_output_passes_the_cloud_validators() {
    let outs = outputs();
    for cloud in CLOUDS {
        assert!(
            outs.iter().any(|(_, c, _)| c == cloud),
            "no topology has {cloud} zones"
        );
    }
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for (name, cloud, text) in &outs {
        let file = dir.path().join(format!("{name}.{cloud}.json"));
        std::fs::write(&file, text).unwrap();
        if let Err(report) = validate(&py, cloud, &file) {
            failures.push(format!("{name}.{cloud}.json:\n{report}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The validators must be able to fail: each rejects a broken copy of a good output.
#[test]
fn validators_reject_broken_outputs() {
    let Some(py) = python() else { return };
    let loaded = load(&fixture("cloud-injection.toml"), true);
    let dir = tempfile::tempdir().unwrap();
    type Breaker = (&'static str, fn(&mut Value));
    let breakers: [Breaker; 6] = [
        ("aws", |v| {
            let g = v["Resources"]
                .as_object_mut()
                .unwrap()
                .values_mut()
                .next()
                .unwrap();
            g["Properties"]["SecurityGroupEgress"][0]["ToPort"] = 70000.into();
        }),
        ("aws", |v| {
            let g = v["Resources"]
                .as_object_mut()
                .unwrap()
                .values_mut()
                .next()
                .unwrap();
            g["Properties"]["GroupDescription"] = "caf\u{e9} \"quoted\"".into();
        }),
        ("azure", |v| {
            v["resources"][0]["properties"]["securityRules"][0]["properties"]["priority"] =
                5000.into();
        }),
        ("azure", |v| {
            v["resources"][0]["properties"]["securityRules"][0]["properties"]["protocl"] =
                "Tcp".into();
        }),
        ("gcp", |v| v[0]["name"] = "Bad_Name".into()),
        ("gcp", |v| v[0]["sourceTagz"] = serde_json::json!(["x"])),
    ];
    for (i, (cloud, brk)) in breakers.iter().enumerate() {
        let mut v = json(&render(&loaded, cloud).unwrap());
        brk(&mut v);
        let file = dir.path().join(format!("broken{i}.{cloud}.json"));
        std::fs::write(&file, serde_json::to_string_pretty(&v).unwrap()).unwrap();
        assert!(
            validate(&py, cloud, &file).is_err(),
            "validate_{cloud}.py accepted broken output #{i}"
        );
    }
}

#[test]
fn injection_text_survives_or_is_sanitized() {
    let loaded = load(&fixture("cloud-injection.toml"), true);
    let reason = "CHG-42: «Ünïcödé» 漢字 🚀 and a\ttab";
    let purpose = "Purpose with \"double\" and 'single' quotes, back\\slash, {\"json\": [1]}, ${AWS::StackName}";

    // GCP keeps the text exactly.
    let gcp = json(&render(&loaded, "gcp").unwrap());
    let descs: Vec<&str> = gcp
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["description"].as_str().unwrap())
        .collect();
    assert!(
        descs
            .iter()
            .any(|d| d.contains("[concat('x', 'y')] Reason: [parameters('location')]")),
        "{descs:?}"
    );

    // Azure keeps the text (cut at 140 characters) and escapes ARM expressions.
    let azure = json(&render(&loaded, "azure").unwrap());
    let nsgs = azure["resources"].as_array().unwrap();
    let az_descs: Vec<&str> = nsgs
        .iter()
        .flat_map(|n| n["properties"]["securityRules"].as_array().unwrap())
        .map(|r| r["properties"]["description"].as_str().unwrap())
        .collect();
    assert!(az_descs
        .iter()
        .any(|d| d.starts_with("aws_agent to Azure-Agent tcp 8080: ") && d.contains(purpose)));
    assert!(az_descs.iter().all(|d| d.chars().count() <= 140));
    assert_eq!(
        nsgs[0]["tags"]["description"], "[[concat('evil')]",
        "an ARM expression in a zone description must be escaped"
    );

    // The full reason survives in GCP when short enough, and in the flows review file.
    assert!(
        render(&loaded, "gcp").unwrap().contains("Reason: CHG-42")
            || loaded
                .resolution
                .flows
                .iter()
                .any(|f| f.reason.as_deref() == Some(reason))
    );
    assert!(loaded
        .resolution
        .flows
        .iter()
        .any(|f| f.reason.as_deref() == Some(reason)));

    // AWS: every description in AWS's charset, the text sanitized as documented.
    let aws_text = render(&loaded, "aws").unwrap();
    let aws = json(&aws_text);
    let mut all = Vec::new();
    collect_descriptions(&aws, &mut all);
    assert!(!all.is_empty());
    for d in &all {
        assert!(ctxfw::render::aws::valid_description(d), "{d:?}");
    }
    assert!(all.iter().any(|d| d.contains(
        "Purpose with double and single quotes, back slash, {json: [1]}, $ {AWS::StackName} Reason: CHG-42:"
    )));
    assert!(all
        .iter()
        .any(|d| d.contains("Agent one TAB newline back(/script)(!-- single tick")));
}

fn collect_descriptions(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if (k == "Description" || k == "GroupDescription") && x.is_string() {
                    out.push(x.as_str().unwrap().to_string());
                } else {
                    collect_descriptions(x, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_descriptions(x, out)),
        _ => {}
    }
}

#[test]
fn internet_domains_become_egress_to_the_default_route() {
    let loaded = load(&fixture("cloud-injection.toml"), true);
    let domains = "(api.acme.example, *.telemetry.acme.example)";
    let aws = json(&render(&loaded, "aws").unwrap());
    let egress = aws["Resources"]["SgAwsAgent"]["Properties"]["SecurityGroupEgress"]
        .as_array()
        .unwrap();
    for (key, net) in [("CidrIp", "0.0.0.0/0"), ("CidrIpv6", "::/0")] {
        for port in [443, 8443] {
            assert!(
                egress.iter().any(|r| r[key] == net
                    && r["FromPort"] == port
                    && r["ToPort"] == port
                    && r["Description"].as_str().unwrap().contains(domains)),
                "no {net} egress on {port}: {egress:#?}"
            );
        }
    }
    let gcp = json(&render(&loaded, "gcp").unwrap());
    assert!(gcp
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["direction"] == "EGRESS"
            && r["destinationRanges"] == serde_json::json!(["0.0.0.0/0"])
            && r["allowed"]
                == serde_json::json!([{"IPProtocol": "tcp", "ports": ["443", "8443"]}])
            && r["description"].as_str().unwrap().contains(domains)));
    let azure = json(&render(&loaded, "azure").unwrap());
    let rules = azure["resources"][0]["properties"]["securityRules"]
        .as_array()
        .unwrap();
    // The internet is every address no other zone holds: in IPv4, where every zone is in a
    // range Azure does not route outside the virtual network, the `Internet` tag; in IPv6
    // (2001:db8::/32 is routable) the networks between the zones'.
    let outbound = |key: &str, want: serde_json::Value| {
        rules.iter().any(|r| {
            r["properties"]["direction"] == "Outbound"
                && r["properties"][key] == want
                && r["properties"]["destinationPortRanges"] == serde_json::json!(["443", "8443"])
        })
    };
    assert!(outbound(
        "destinationAddressPrefix",
        serde_json::json!("Internet")
    ));
    let inside: Vec<ipnet::IpNet> = ["2001:db8:1::/64", "2001:db8:2::/64", "2001:db8:3::/64"]
        .iter()
        .map(|n| n.parse().unwrap())
        .collect();
    let v6: Vec<String> = ctxfw::plan::outside(&inside, true)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert!(v6.len() > 3, "{v6:?}");
    assert!(outbound(
        "destinationAddressPrefixes",
        serde_json::json!(v6)
    ));
}

#[test]
fn cloud_peers_are_referenced_by_group_or_tag() {
    let loaded = load(&fixture("cloud-injection.toml"), true);
    // Two AWS components referencing each other would need a second AWS component; the
    // fixture's only AWS peer is on-premises (a CIDR) and the ICMP rule proves that side.
    let aws = json(&render(&loaded, "aws").unwrap());
    let ingress = aws["Resources"]["SgAwsAgent"]["Properties"]["SecurityGroupIngress"]
        .as_array()
        .unwrap();
    assert!(ingress
        .iter()
        .any(|r| r["IpProtocol"] == "icmp" && r["CidrIp"] == "10.0.0.5/32" && r["FromPort"] == -1));
    // GCP: a source inside the network is a source tag, not a range.
    let text = r#"
name = "gcp-pair"
[zones.a]
cidrs = ["10.0.0.0/24"]
location = "gcp"
[components.x]
kind = "acme-agent"
zone = "a"
hosts = ["10.0.0.1"]
[components.y]
kind = "acme-agent"
zone = "a"
hosts = ["10.0.0.2"]
[[additions]]
id = "x-y"
from = "x"
to = "y"
protocol = "tcp"
ports = [9000]
purpose = "test"
reason = "test"
"#;
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("gcp-pair.toml");
    std::fs::write(&p, text).unwrap();
    let gcp = json(&render(&load(&p, true), "gcp").unwrap());
    let ingress: Vec<&Value> = gcp
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["direction"] == "INGRESS")
        .collect();
    assert_eq!(ingress.len(), 1);
    assert_eq!(ingress[0]["sourceTags"], serde_json::json!(["x"]));
    assert_eq!(ingress[0]["targetTags"], serde_json::json!(["y"]));
    assert!(ingress[0].get("sourceRanges").is_none());
    // AWS with both in a VPC: separate ingress/egress resources that reference the groups.
    let aws_text = text
        .replace("\"gcp\"", "\"aws\"")
        .replace("gcp-pair", "aws-pair");
    let p = dir.path().join("aws-pair.toml");
    std::fs::write(&p, aws_text).unwrap();
    let aws = json(&render(&load(&p, true), "aws").unwrap());
    let r = &aws["Resources"]["SgYInFromXTcp9000"];
    assert_eq!(r["Type"], "AWS::EC2::SecurityGroupIngress");
    assert_eq!(
        r["Properties"]["SourceSecurityGroupId"],
        serde_json::json!({"Fn::GetAtt": ["SgX", "GroupId"]})
    );
    assert_eq!(
        aws["Resources"]["SgXOutToYTcp9000"]["Properties"]["DestinationSecurityGroupId"],
        serde_json::json!({"Fn::GetAtt": ["SgY", "GroupId"]})
    );
}

/// Many sources into one AWS component: split into groups of at most 60 rules, each valid.
#[test]
fn aws_quota_splits_groups() {
    let text = common::aws_fan_in("quota", "10.0.0.0/24", 130);
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("quota.toml");
    std::fs::write(&p, &text).unwrap();
    let out = render(&load(&p, true), "aws").unwrap();
    let v = json(&out);
    let res = v["Resources"].as_object().unwrap();
    let groups: Vec<&String> = res.keys().filter(|k| k.starts_with("SgTarget")).collect();
    assert_eq!(groups, ["SgTarget", "SgTargetPart2", "SgTargetPart3"]);
    let total: usize = groups
        .iter()
        .map(|g| {
            let n = res[*g]["Properties"]["SecurityGroupIngress"]
                .as_array()
                .unwrap()
                .len();
            assert!(n <= 60);
            n
        })
        .sum();
    assert_eq!(total, 130);
    if let Some(py) = python() {
        let f = dir.path().join("quota.aws.json");
        std::fs::write(&f, &out).unwrap();
        validate(&py, "aws", &f).unwrap_or_else(|e| panic!("{e}"));
    }
}

fn write_topology(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(format!("{name}.toml"));
    std::fs::write(&p, format!("name = \"{name}\"\n{body}")).unwrap();
    p
}

#[test]
fn what_a_cloud_cannot_express_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let body = |loc: &str, proto: &str| {
        format!(
            "[zones.c]\ncidrs = [\"10.0.0.0/24\"]\nlocation = \"{loc}\"\n\
             [zones.o]\ncidrs = [\"10.1.0.0/24\"]\n\
             [components.x]\nkind = \"acme-agent\"\nzone = \"o\"\n\
             [components.y]\nkind = \"acme-agent\"\nzone = \"c\"\n\
             [[additions]]\nid = \"t\"\nfrom = \"x\"\nto = \"y\"\nprotocol = \"{proto}\"\n{}\
             purpose = \"p\"\nreason = \"r\"\n",
            if proto == "sctp" {
                "ports = [3868]\n"
            } else {
                ""
            }
        )
    };
    let p = write_topology(dir.path(), "aws-sctp", &body("aws", "sctp"));
    let e = render(&load(&p, true), "aws").unwrap_err().to_string();
    assert!(e.contains("aws-sctp.toml") && e.contains("SCTP"), "{e}");
    let p = write_topology(dir.path(), "azure-gre", &body("azure", "gre"));
    let e = render(&load(&p, true), "azure").unwrap_err().to_string();
    assert!(e.contains("azure-gre.toml") && e.contains("gre"), "{e}");
    // GCP names both by protocol name or number.
    let p = write_topology(dir.path(), "gcp-gre", &body("gcp", "gre"));
    let v = json(&render(&load(&p, true), "gcp").unwrap());
    assert_eq!(v[0]["allowed"][0]["IPProtocol"], "47");
}

#[test]
fn names_that_collide_in_gcp_are_an_error_naming_both_owners() {
    let dir = tempfile::tempdir().unwrap();
    // `X` and `x` differ only in case: GCP lower-cases names and tags.
    let body = |zone: &str| {
        format!(
            "[zones.c]\ncidrs = [\"10.0.0.0/24\"]\nlocation = \"gcp\"\n\
             [zones.o]\ncidrs = [\"10.1.0.0/24\"]\n\
             [components.X]\nkind = \"acme-agent\"\nzone = \"{zone}\"\nhosts = [\"10.{net}.0.5\"]\n\
             [components.x]\nkind = \"acme-agent\"\nzone = \"{zone}\"\nhosts = [\"10.{net}.0.6\"]\n\
             [components.y]\nkind = \"acme-agent\"\nzone = \"c\"\n\
             [[additions]]\nid = \"a\"\nfrom = \"X\"\nto = \"y\"\nprotocol = \"tcp\"\nports = [443]\n\
             purpose = \"p\"\nreason = \"r\"\n\
             [[additions]]\nid = \"b\"\nfrom = \"x\"\nto = \"y\"\nprotocol = \"tcp\"\nports = [443]\n\
             purpose = \"p\"\nreason = \"r\"\n",
            net = if zone == "c" { 0 } else { 1 }
        )
    };
    // Both sources outside GCP: two ingress rules of one name.
    let p = write_topology(dir.path(), "gcp-names", &body("o"));
    let e = render(&load(&p, true), "gcp").unwrap_err().to_string();
    assert!(
        e.contains("gcp-names.toml: GCP firewall name `gcp-names-in-x-to-y-tcp` is generated for both flow X-to-y-tcp and flow x-to-y-tcp"),
        "{e}"
    );
    // Both in GCP: their network tags collide first.
    let p = write_topology(dir.path(), "gcp-tags", &body("c"));
    let e = render(&load(&p, true), "gcp").unwrap_err().to_string();
    assert!(
        e.contains("GCP network tag `x` is generated for both component `X` and component `x`"),
        "{e}"
    );
}

#[test]
fn a_cloud_target_without_its_zones_is_an_error_alone_and_skipped_under_all() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_topology(
        dir.path(),
        "onprem-only",
        "[zones.o]\ncidrs = [\"10.1.0.0/24\"]\n[components.x]\nkind = \"acme-agent\"\nzone = \"o\"\n",
    );
    let loaded = load(&p, true);
    for cloud in CLOUDS {
        let e = render(&loaded, cloud).unwrap_err();
        assert!(e.downcast_ref::<NothingToRender>().is_some());
        let msg = e.to_string();
        assert!(
            msg.contains("onprem-only.toml") && msg.contains(&format!("location = \"{cloud}\"")),
            "{msg}"
        );
    }
    // On the command line: exit 2 with the message; `--target all` writes the rest.
    let out = Command::new(common::bin())
        .args([
            "generate",
            p.to_str().unwrap(),
            "--target",
            "gcp",
            "--catalogue",
        ])
        .arg(ext_catalogue())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no zone has location = \"gcp\""));
    let outdir = dir.path().join("out");
    let out = Command::new(common::bin())
        .args([
            "generate",
            p.to_str().unwrap(),
            "--target",
            "all",
            "--catalogue",
        ])
        .arg(ext_catalogue())
        .arg("--out")
        .arg(&outdir)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(outdir.join("onprem-only.flows.json").is_file());
    assert!(!outdir.join("onprem-only.aws.json").exists());
}

#[test]
fn azure_priorities_are_unique_and_stable() {
    let loaded = load(&fixture("cloud-injection.toml"), true);
    let a = render(&loaded, "azure").unwrap();
    assert_eq!(
        a,
        render(&loaded, "azure").unwrap(),
        "same input, same bytes"
    );
    let v = json(&a);
    for nsg in v["resources"].as_array().unwrap() {
        let mut seen = std::collections::BTreeSet::new();
        for r in nsg["properties"]["securityRules"].as_array().unwrap() {
            let p = &r["properties"];
            let prio = p["priority"].as_u64().unwrap();
            assert!((100..=4096).contains(&prio));
            assert!(seen.insert((p["direction"].as_str().unwrap().to_string(), prio)));
        }
        assert!(seen.contains(&("Inbound".to_string(), 100)));
    }
}

/// Every string a cloud target writes stays within the provider's limit when the free text
/// is at ctxfw's own limit (2,000 characters, 4-byte characters) and the names at theirs (63
/// characters): a zone description of exactly 256 characters that ARM would read as an
/// expression made a 257-character Azure tag value once escaped.
#[test]
fn provider_string_limits_hold_for_text_at_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let long = "\u{1F680}é[x]".repeat(400);
    let expression = format!("[{}]", "x".repeat(254));
    let name = |c: char| std::iter::repeat_n(c, 63).collect::<String>();
    let (za, zb, zc) = (name('a'), name('b'), name('c'));
    let (ca, cb, cc) = (name('p'), name('q'), name('r'));
    let q = |s: &str| toml::Value::String(s.to_string()).to_string();
    let body = format!(
        r#"description = {long}
[zones.internet]
cidrs = ["0.0.0.0/0", "::/0"]
[zones.{za}]
cidrs = ["10.1.0.0/24", "2001:db8:1::/64"]
location = "aws"
description = {expression}
[zones.{zb}]
cidrs = ["10.2.0.0/24", "2001:db8:2::/64"]
location = "azure"
description = {expression}
[zones.{zc}]
cidrs = ["10.3.0.0/24"]
location = "gcp"
description = {expression}
[components.{ca}]
kind = "acme-agent"
zone = "{za}"
description = {long}
[components.{cb}]
kind = "acme-agent"
zone = "{zb}"
description = {long}
[components.{cc}]
kind = "acme-agent"
zone = "{zc}"
description = {long}
[[additions]]
id = "{}"
from = "{ca}"
to = "{cb}"
protocol = "tcp"
ports = [65534, "1-65533"]
purpose = {long}
reason = {long}
"#,
        name('d'),
        long = q(&long),
        expression = q(&expression),
    );
    let topo = write_topology(dir.path(), &name('l'), &body);
    let loaded = load(&topo, true);
    let aws = json(&render(&loaded, "aws").unwrap());
    let azure = json(&render(&loaded, "azure").unwrap());
    let gcp = json(&render(&loaded, "gcp").unwrap());
    // The limit of a string by its path of keys, for the strings that have one.
    let key = |path: &[String]| path.last().cloned().unwrap_or_default();
    let under = |path: &[String], k: &str| path.iter().any(|p| p == k);
    let aws_limit = |path: &[String]| match (key(path).as_str(), path[0].as_str()) {
        ("Description" | "GroupDescription", "Resources" | "Outputs") => Some(255),
        ("Description", _) => Some(1024),
        ("Value", _) if under(path, "Tags") => Some(256),
        ("Key", _) => Some(128),
        _ => None,
    };
    let azure_limit = |path: &[String]| match key(path).as_str() {
        "description" if under(path, "tags") => Some(256),
        "description" if under(path, "securityRules") => Some(140),
        "name" => Some(80),
        _ => None,
    };
    let gcp_limit = |path: &[String]| match key(path).as_str() {
        "description" => Some(2048),
        "name" | "targetTags" | "sourceTags" => Some(63),
        _ => None,
    };
    let mut checked = 0;
    type LimitOf<'a> = &'a dyn Fn(&[String]) -> Option<usize>;
    let clouds: [(&str, &Value, LimitOf); 3] = [
        ("aws", &aws, &aws_limit),
        ("azure", &azure, &azure_limit),
        ("gcp", &gcp, &gcp_limit),
    ];
    for (cloud, doc, limit_of) in clouds {
        for (path, s) in strings(doc, &mut Vec::new()) {
            let Some(limit) = limit_of(&path) else {
                continue;
            };
            let n = s.chars().count();
            assert!(n <= limit, "{cloud} {path:?}: {n} > {limit}");
            if cloud == "azure" && s.starts_with('[') && s.ends_with(']') {
                assert!(
                    s.starts_with("[["),
                    "azure {path:?}: an ARM expression: {s}"
                );
            }
            checked += 1;
        }
    }
    for (ids, what) in [
        (aws["Resources"].as_object(), "resource"),
        (aws["Outputs"].as_object(), "output"),
    ] {
        for id in ids.unwrap().keys() {
            assert!(id.len() <= 255, "aws {what} logical id {id}");
        }
    }
    assert!(checked > 30, "only {checked} strings checked");
    if let Some(py) = python() {
        for (cloud, doc) in [("aws", &aws), ("azure", &azure), ("gcp", &gcp)] {
            let f = dir.path().join(format!("limits.{cloud}.json"));
            std::fs::write(&f, doc.to_string()).unwrap();
            validate(&py, cloud, &f).unwrap_or_else(|e| panic!("{cloud}: {e}"));
        }
    }
}

/// Every string in a JSON document with the path of keys to it.
fn strings(v: &Value, path: &mut Vec<String>) -> Vec<(Vec<String>, String)> {
    match v {
        Value::Object(m) => m
            .iter()
            .flat_map(|(k, x)| {
                path.push(k.clone());
                let found = strings(x, path);
                path.pop();
                found
            })
            .collect(),
        Value::Array(a) => a.iter().flat_map(|x| strings(x, path)).collect(),
        Value::String(s) => vec![(path.clone(), s.clone())],
        _ => Vec::new(),
    }
}

// ---- the internet in per-instance rules ------------------------------------------------------

/// An address standing for one end in the probes, with the component whose instance holds it
/// when it lies in a zone of `loc` (its security groups or network tag apply), else `None`.
#[derive(Clone, Debug)]
struct Point {
    addr: std::net::IpAddr,
    instance: Option<String>,
}

/// One address of every component end, and of the internet (outside every zone), per family;
/// every TCP and UDP port the flows name (each range's ends).
fn universe(loaded: &ctxfw::Loaded, loc: &str) -> (Vec<Point>, Vec<(ctxfw::flow::Protocol, u16)>) {
    let topo = &loaded.topology;
    let in_loc = |a: &std::net::IpAddr| {
        topo.zones
            .values()
            .any(|z| z.location.name() == loc && z.cidrs.iter().any(|c| c.contains(a)))
    };
    let first = |n: &ipnet::IpNet| -> std::net::IpAddr {
        if n.prefix_len() == n.max_prefix_len() {
            return n.addr();
        }
        match n.network() {
            std::net::IpAddr::V4(a) => std::net::IpAddr::V4((u32::from(a) + 10).into()),
            std::net::IpAddr::V6(a) => std::net::IpAddr::V6((u128::from(a) + 0x10).into()),
        }
    };
    let mut points = Vec::new();
    for c in topo.components.values() {
        let mut lists = vec![topo.addresses(c, None).1];
        lists.extend(c.interfaces.keys().map(|r| topo.addresses(c, Some(r)).1));
        for nets in lists {
            for v6 in [false, true] {
                if let Some(n) = nets
                    .iter()
                    .find(|n| n.addr().is_ipv6() == v6 && n.prefix_len() > 0)
                {
                    let addr = first(n);
                    let instance = in_loc(&addr).then(|| c.name.clone());
                    points.push(Point { addr, instance });
                }
            }
        }
    }
    let internal = ctxfw::plan::Internal::of(topo);
    for a in [
        "192.0.2.80",
        "203.0.113.200",
        "2001:db8:ff::80",
        "2001:db8:fff::80",
    ] {
        let addr: std::net::IpAddr = a.parse().unwrap();
        let wide = topo.zones.values().any(|z| {
            z.cidrs
                .iter()
                .any(|c| c.prefix_len() == 0 && c.addr().is_ipv6() == addr.is_ipv6())
        });
        let fam_has = points.iter().any(|p| {
            p.instance.is_none()
                && p.addr.is_ipv6() == addr.is_ipv6()
                && !internal.overlaps(&ipnet::IpNet::from(p.addr))
        });
        if wide && !internal.overlaps(&ipnet::IpNet::from(addr)) && !fam_has {
            points.push(Point {
                addr,
                instance: None,
            });
        }
    }
    let mut ports = Vec::new();
    for f in loaded.resolution.flows.iter() {
        if !f.protocol.has_ports() || f.protocol == ctxfw::flow::Protocol::Sctp {
            continue;
        }
        for r in f.ports.ranges() {
            for p in [r.lo, r.hi] {
                if !ports.contains(&(f.protocol, p)) {
                    ports.push((f.protocol, p));
                }
            }
        }
    }
    (points, ports)
}

/// Every example and the injection fixture with its output for one cloud (those without zones
/// there are left out).
fn rendered(cloud: &str) -> Vec<(PathBuf, ctxfw::Loaded, String)> {
    let mut inputs: Vec<(PathBuf, bool)> = common::example_topologies()
        .into_iter()
        .map(|p| (p, false))
        .collect();
    inputs.push((fixture("cloud-injection.toml"), true));
    inputs.push((fixture("cloud-egress.toml"), true));
    let mut out = Vec::new();
    for (path, ext) in inputs {
        let loaded = load(&path, ext);
        match render(&loaded, cloud) {
            Ok(t) => out.push((path, loaded, t)),
            Err(e) if e.downcast_ref::<NothingToRender>().is_some() => {}
            Err(e) => panic!("{}: {cloud}: {e:#}", path.display()),
        }
    }
    out
}

/// Every ordered pair of points of one family with an instance of the cloud on one side.
fn pairs(points: &[Point]) -> impl Iterator<Item = (&Point, &Point)> {
    points.iter().flat_map(move |s| {
        points.iter().filter_map(move |d| {
            let keep = s.addr.is_ipv6() == d.addr.is_ipv6()
                && s.addr != d.addr
                && (s.instance.is_some() || d.instance.is_some());
            keep.then_some((s, d))
        })
    })
}

fn cidr_has(v: &Value, a: std::net::IpAddr) -> bool {
    v.as_str()
        .and_then(|s| s.parse::<ipnet::IpNet>().ok())
        .is_some_and(|n| n.contains(&a))
}

/// GCP as it evaluates the generated rules for one instance and direction: the matching rule
/// with the lowest priority number decides (a deny before an allow of the same priority); no
/// match is GCP's implied rule (egress allowed, ingress denied).
fn gcp_allows(
    rules: &[Value],
    ingress: bool,
    tag: &str,
    peer: &Point,
    peer_tag: Option<&str>,
    proto: ctxfw::flow::Protocol,
    port: u16,
) -> bool {
    let proto_match = |entries: &Value| {
        entries.as_array().into_iter().flatten().any(|e| {
            let p = e["IPProtocol"].as_str().unwrap();
            (p == "all" || p == proto.name())
                && e["ports"].as_array().is_none_or(|ps| {
                    ps.iter().any(|x| {
                        let x = x.as_str().unwrap();
                        let (lo, hi) = x.split_once('-').unwrap_or((x, x));
                        (lo.parse::<u16>().unwrap()..=hi.parse::<u16>().unwrap()).contains(&port)
                    })
                })
        })
    };
    let mut best: Option<(u64, bool)> = None;
    for r in rules {
        if (r["direction"] == "INGRESS") != ingress
            || !r["targetTags"].as_array().unwrap().iter().any(|t| t == tag)
        {
            continue;
        }
        let peer_ok = if ingress {
            r["sourceRanges"]
                .as_array()
                .is_some_and(|v| v.iter().any(|n| cidr_has(n, peer.addr)))
                || r["sourceTags"]
                    .as_array()
                    .is_some_and(|v| peer_tag.is_some_and(|pt| v.iter().any(|t| t == pt)))
        } else {
            r["destinationRanges"]
                .as_array()
                .is_some_and(|v| v.iter().any(|n| cidr_has(n, peer.addr)))
        };
        let (allow, entries) = match (r.get("allowed"), r.get("denied")) {
            (Some(a), _) => (true, a),
            (_, Some(d)) => (false, d),
            _ => continue,
        };
        if !peer_ok || !proto_match(entries) {
            continue;
        }
        let prio = r["priority"].as_u64().unwrap();
        best = match best {
            Some((bp, ba)) if bp < prio || (bp == prio && !ba) => Some((bp, ba)),
            _ => Some((prio, allow)),
        };
    }
    best.map_or(!ingress, |(_, allow)| allow)
}

/// GCP firewall rules are per instance and stateful, and a connection needs the sender's
/// egress and the receiver's ingress. The internet rules say `0.0.0.0/0` but come after a deny
/// of the zones' networks for the same instances: for every pair of points with a GCP instance
/// on at least one side and every port the flows name, GCP's verdict on its side(s) is
/// `explain`'s.
#[test]
fn gcp_rules_allow_exactly_the_flows() {
    let mut checked = 0;
    for (path, loaded, text) in rendered("gcp") {
        let rules = json(&text).as_array().unwrap().clone();
        let (points, ports) = universe(&loaded, "gcp");
        let tag = |c: &str| ctxfw::render::gcp::rfc1035(c);
        let mut wrong = Vec::new();
        for (s, d) in pairs(&points) {
            let (st, dt) = (
                s.instance.as_deref().map(tag),
                d.instance.as_deref().map(tag),
            );
            for &(proto, port) in &ports {
                let out = st
                    .as_ref()
                    .is_none_or(|t| gcp_allows(&rules, false, t, d, dt.as_deref(), proto, port));
                let inb = dt
                    .as_ref()
                    .is_none_or(|t| gcp_allows(&rules, true, t, s, st.as_deref(), proto, port));
                let want = common::explain_allows(&loaded, proto, s.addr, d.addr, port);
                checked += 1;
                if (out && inb) != want {
                    wrong.push(format!(
                        "{} -> {} {proto}/{port}: explain {want}, GCP {}",
                        s.addr,
                        d.addr,
                        out && inb
                    ));
                }
            }
        }
        assert!(
            wrong.is_empty(),
            "{}: {} disagreements:\n{}",
            path.display(),
            wrong.len(),
            wrong.join("\n")
        );
    }
    assert!(checked > 1000, "{checked} probes");
}

/// The security groups of one component (all its parts), by logical id.
fn aws_groups(res: &serde_json::Map<String, Value>) -> Vec<(String, String)> {
    res.iter()
        .filter(|(_, r)| r["Type"] == "AWS::EC2::SecurityGroup")
        .map(|(id, r)| {
            let comp = r["Properties"]["Tags"]
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["Key"] == "ctxfw:component")
                .unwrap()["Value"]
                .as_str()
                .unwrap()
                .to_string();
            (id.clone(), comp)
        })
        .collect()
}

/// Whether one of `comp`'s security groups lets traffic out to (`egress`) or in from `peer`.
fn aws_allows(
    res: &serde_json::Map<String, Value>,
    groups: &[(String, String)],
    egress: bool,
    comp: &str,
    peer: &Point,
    proto: ctxfw::flow::Protocol,
    port: u16,
) -> bool {
    let mine: Vec<&str> = groups
        .iter()
        .filter(|(_, c)| c == comp)
        .map(|(g, _)| g.as_str())
        .collect();
    let peer_groups: Vec<&str> = groups
        .iter()
        .filter(|(_, c)| Some(c) == peer.instance.as_ref())
        .map(|(g, _)| g.as_str())
        .collect();
    let getatt = |v: &Value| v["Fn::GetAtt"][0].as_str().map(str::to_string);
    let mut rules: Vec<&Value> = Vec::new();
    let (inline, kind, other) = if egress {
        (
            "SecurityGroupEgress",
            "AWS::EC2::SecurityGroupEgress",
            "DestinationSecurityGroupId",
        )
    } else {
        (
            "SecurityGroupIngress",
            "AWS::EC2::SecurityGroupIngress",
            "SourceSecurityGroupId",
        )
    };
    for (id, r) in res {
        if mine.contains(&id.as_str()) {
            let own = r["Properties"][inline].as_array();
            // CloudFormation keeps a group's default allow-all egress rule unless the template
            // gives the group inline egress rules of its own.
            if egress && own.is_none_or(Vec::is_empty) {
                return true;
            }
            rules.extend(own.into_iter().flatten());
        }
        if r["Type"] == kind
            && getatt(&r["Properties"]["GroupId"]).is_some_and(|g| mine.contains(&g.as_str()))
        {
            rules.push(&r["Properties"]);
        }
    }
    rules.iter().any(|r| {
        let p = r["IpProtocol"].as_str().unwrap();
        let proto_ok = p == "-1"
            || (p == proto.name()
                && (r["FromPort"].as_i64().unwrap()..=r["ToPort"].as_i64().unwrap())
                    .contains(&i64::from(port)));
        let peer_ok = cidr_has(&r["CidrIp"], peer.addr)
            || cidr_has(&r["CidrIpv6"], peer.addr)
            || getatt(&r[other]).is_some_and(|g| peer_groups.contains(&g.as_str()));
        proto_ok && peer_ok
    })
}

/// AWS security groups are per instance and stateful too, but cannot deny: the internet is
/// written `0.0.0.0/0`. What they allow beyond `explain` is exactly what docs/cloud.md says and
/// `generate` warns about: between two AWS components, the pairs `aws::exposures` lists (an
/// internet egress meeting an internet ingress on a port); between an AWS component and another
/// zone, only the AWS side's internet ports (the other zone's firewall decides); and for a
/// component with several interfaces in AWS, what its flows allow any of them (one group for
/// all). They never refuse a flow.
#[test]
fn aws_groups_allow_the_flows_and_what_the_warnings_say() {
    use ctxfw::render::aws::exposures;
    let mut seen_exposures = 0;
    for (path, loaded, text) in rendered("aws") {
        let tpl = json(&text);
        let res = tpl["Resources"].as_object().unwrap();
        let groups = aws_groups(res);
        let warned = exposures(&loaded.topology, &loaded.resolution.flows);
        let internal = ctxfw::plan::Internal::of(&loaded.topology);
        // The ports of a component's internet rules, one direction.
        let wide = |comp: &str, egress: bool, proto, port: u16, v6: bool| {
            loaded.resolution.flows.iter().any(|f| {
                let (me, other) = if egress {
                    (&f.from, &f.to_end)
                } else {
                    (&f.to, &f.from_end)
                };
                **me == *comp
                    && f.protocol == proto
                    && f.ports.contains(port)
                    && !internal.nets(v6).is_empty()
                    && other
                        .addresses
                        .iter()
                        .any(|n| n.prefix_len() == 0 && n.addr().is_ipv6() == v6)
            })
        };
        let shared: Vec<String> = ctxfw::render::cloud::shared_by_interfaces(
            &loaded.topology,
            ctxfw::topology::Location::Aws,
        )
        .into_iter()
        .map(|(c, _)| c)
        .collect();
        // `explain` with an instance as its whole component: what a group shared by the
        // component's interfaces allows.
        let as_component = |s: &Point, d: &Point, proto, port: u16| {
            use ctxfw::explain::{explain, End, Query};
            let end = |p: &Point| match &p.instance {
                Some(c) if shared.contains(c) => End::Component {
                    name: c.clone(),
                    interface: None,
                },
                _ => End::Net(ipnet::IpNet::from(p.addr)),
            };
            let q = Query {
                topology: &loaded.topology,
                from: end(s),
                to: end(d),
                port: Some((proto, Some(port))),
            };
            !explain(&loaded.resolution.flows, &q).allowed.is_empty()
        };
        let (points, ports) = universe(&loaded, "aws");
        let mut wrong = Vec::new();
        let mut found: Vec<(String, String)> = Vec::new();
        for (s, d) in pairs(&points) {
            let v6 = s.addr.is_ipv6();
            for &(proto, port) in &ports {
                let out = s
                    .instance
                    .as_ref()
                    .is_none_or(|c| aws_allows(res, &groups, true, c, d, proto, port));
                let inb = d
                    .instance
                    .as_ref()
                    .is_none_or(|c| aws_allows(res, &groups, false, c, s, proto, port));
                let want = common::explain_allows(&loaded, proto, s.addr, d.addr, port);
                let got = out && inb;
                if got == want {
                    continue;
                }
                let internet_src = !internal.overlaps(&ipnet::IpNet::from(s.addr));
                let internet_dst = !internal.overlaps(&ipnet::IpNet::from(d.addr));
                let documented = got
                    && (as_component(s, d, proto, port)
                        || match (&s.instance, &d.instance) {
                            (Some(a), Some(b)) => warned.iter().any(|e| {
                                e.from == *a
                                    && e.to == *b
                                    && e.protocol == proto
                                    && e.ports.contains(port)
                            }),
                            (Some(a), None) => !internet_dst && wide(a, true, proto, port, v6),
                            (None, Some(b)) => !internet_src && wide(b, false, proto, port, v6),
                            (None, None) => false,
                        });
                if let (true, Some(a), Some(b)) = (documented, &s.instance, &d.instance) {
                    found.push((a.clone(), b.clone()));
                }
                if !documented {
                    wrong.push(format!(
                        "{} ({:?}) -> {} ({:?}) {proto}/{port}: explain {want}, AWS {got}",
                        s.addr, s.instance, d.addr, d.instance
                    ));
                }
            }
        }
        assert!(
            wrong.is_empty(),
            "{}: {} undocumented disagreements:\n{}",
            path.display(),
            wrong.len(),
            wrong.join("\n")
        );
        // Every warning is true: the pair it names does get through.
        for e in &warned {
            assert!(
                found.iter().any(|(a, b)| *a == e.from && *b == e.to),
                "{}: warned but not seen: {e:?}",
                path.display()
            );
            seen_exposures += 1;
        }
    }
    assert!(
        seen_exposures > 0,
        "the examples have internet rules that meet"
    );
}

/// Azure's 1,000 rules per NSG, counted before any rule is built: 997 flows and the three fixed
/// rules fit, one flow more is refused with the count.
#[test]
fn azure_refuses_a_zone_over_its_rule_limit_with_the_count() {
    let topology = |sources: usize| {
        let mut text = "name = \"nsg\"\n[zones.vnet]\ncidrs = [\"10.0.0.0/16\"]\nlocation = \"azure\"\n\
             [zones.onprem]\ncidrs = [\"10.1.0.0/16\"]\n\
             [components.target]\nkind = \"acme-agent\"\nzone = \"vnet\"\nhosts = [\"10.0.0.10\"]\n"
            .to_string();
        for i in 0..sources {
            text.push_str(&format!(
                "[components.src{i}]\nkind = \"acme-agent\"\nzone = \"onprem\"\nhosts = [\"10.1.{}.{}\"]\n\
                 [[additions]]\nid = \"a{i}\"\nfrom = \"src{i}\"\nto = \"target\"\nprotocol = \"tcp\"\n\
                 ports = [443]\npurpose = \"p\"\nreason = \"r\"\n",
                i / 200,
                1 + i % 200
            ));
        }
        text
    };
    let dir = tempfile::tempdir().unwrap();
    let run = |sources: usize| {
        let p = dir.path().join(format!("nsg{sources}.toml"));
        std::fs::write(&p, topology(sources)).unwrap();
        render(&load(&p, true), "azure")
    };
    let arm: Value = serde_json::from_str(&run(997).unwrap()).unwrap();
    let rules = arm["resources"][0]["properties"]["securityRules"]
        .as_array()
        .unwrap();
    assert_eq!(rules.len(), 1000);
    let e = run(998).unwrap_err().to_string();
    assert!(
        e.contains("zone `vnet` needs 1,001 NSG rules, more than Azure's 1,000"),
        "{e}"
    );
}

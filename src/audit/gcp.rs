//! Google Cloud VPC firewall rules: `gcloud compute firewall-rules list --format=json` output
//! and ctxfw's GCP JSON (the same resources). Per instance and direction, the rules that
//! target it (by network tag, service account, or all instances) are decided by priority,
//! lowest number first, a deny before an allow of the same priority; then the implied rules
//! (ingress denied, egress allowed). Disabled rules do nothing. An instance is a component: a
//! tag or service account stands for the component `--bind` names, or the component of the
//! same name (ctxfw tags instances with their component's name).

use serde_json::Value;

use super::cloud::{self, Addrs, Service};
use super::json::{Doc, Path};
use super::model::{Action, Model, Rule, Target};
use super::parse::Context;
use super::space::{Fam, Set};
use crate::diag::{Diagnostic, SourceFile};
use crate::topology::Location;

const HINT: &str = "the file must be `gcloud compute firewall-rules list --format=json` output (a list of compute#firewall resources)";

/// The component a tag or service account stands for.
fn component_of(ctx: &Context, name: &str) -> Option<String> {
    ctx.bound(name)
        .map(str::to_string)
        .or_else(|| ctx.req.component(name).map(|_| name.to_string()))
}

pub fn parse(file: &SourceFile, ctx: &Context) -> Result<Model, Box<Diagnostic>> {
    let doc = Doc::parse(file, "GCP firewall rules")?;
    let root = Path::default();
    let items = doc
        .root
        .as_array()
        .ok_or_else(|| doc.error(&root, "expected a list of firewall rules", HINT))?;
    let mut model = Model {
        format: "GCP firewall rules".into(),
        file: file.name.clone(),
        families: vec![Fam::V4, Fam::V6],
        ..Model::default()
    };
    let mut rules: Vec<FwRule> = Vec::new();
    for (i, v) in items.iter().enumerate() {
        let at = root.index(i);
        let name = cloud::string(&doc, v, &at, "name", HINT)?.to_string();
        if v["disabled"].as_bool() == Some(true) {
            model
                .notes
                .push(format!("firewall rule {name} is disabled: it does nothing"));
            continue;
        }
        rules.push(firewall_rule(&doc, ctx, v, &at, name)?);
    }
    // Deny before allow at the same priority; otherwise the listed order.
    rules.sort_by_key(|r| (r.priority, !r.deny));
    // Instances: components in gcp zones, and every component a rule targets.
    let mut comps: Vec<String> = ctx
        .req
        .components
        .iter()
        .filter(|(_, zone, _)| ctx.zone_location(zone) == Some(Location::Gcp))
        .map(|(n, _, _)| n.clone())
        .collect();
    for t in rules
        .iter()
        .flat_map(|r| r.targets.iter().flatten().flatten())
    {
        if !comps.contains(t) {
            comps.push(t.clone());
        }
    }
    comps.sort();
    for c in &comps {
        add_instance(&mut model, &rules, c);
    }
    Ok(model)
}

/// A firewall rule, before it is applied to the instances it targets.
struct FwRule {
    ingress: bool,
    priority: i64,
    deny: bool,
    /// The components its target tags and service accounts stand for (`Err`: bound to none);
    /// `None`: every instance.
    targets: Option<Vec<Result<String, String>>>,
    rule: Rule,
}

/// The rule of one `compute#firewall` resource `v`, at `at`.
fn firewall_rule(
    doc: &Doc,
    ctx: &Context,
    v: &Value,
    at: &Path,
    name: String,
) -> Result<FwRule, Box<Diagnostic>> {
    let ingress = match v["direction"].as_str().unwrap_or("INGRESS") {
        "INGRESS" => true,
        "EGRESS" => false,
        d => {
            return Err(doc.error(
                &at.key("direction"),
                format!("direction `{d}` is neither INGRESS nor EGRESS"),
                HINT,
            ))
        }
    };
    let priority = v["priority"].as_i64().unwrap_or(1000);
    let (list, deny) = if v.get("denied").is_some() {
        ("denied", true)
    } else if v.get("allowed").is_some() {
        ("allowed", false)
    } else {
        return Err(doc.error(
            at,
            format!("firewall rule {name} has neither `allowed` nor `denied`"),
            HINT,
        ));
    };
    let mut unknown = Vec::new();
    let (src, dst) = if ingress {
        let ranges_src = ranges(doc, v, at, "sourceRanges")?;
        let tags = peers(ctx, v, "sourceTags", "source tag", &mut unknown);
        let sas = peers(
            ctx,
            v,
            "sourceServiceAccounts",
            "source service account",
            &mut unknown,
        );
        let src = match (ranges_src, tags, sas) {
            (None, None, None) => Addrs::all(),
            (r, t, s) => [r, t, s]
                .into_iter()
                .flatten()
                .fold(Addrs::default(), |a, b| a.union(&b)),
        };
        let dst = ranges(doc, v, at, "destinationRanges")?.unwrap_or_else(Addrs::all);
        (src, dst)
    } else {
        let dst = ranges(doc, v, at, "destinationRanges")?.unwrap_or_else(Addrs::all);
        let src = ranges(doc, v, at, "sourceRanges")?.unwrap_or_else(Addrs::all);
        (src, dst)
    };
    let mut space = Vec::new();
    let mut texts = Vec::new();
    for (k, e) in cloud::list(v, list).iter().enumerate() {
        let (svc, text) = service(doc, e, &at.key(list).index(k))?;
        space.extend(cloud::cubes(&src, &dst, &svc));
        texts.push(text);
    }
    let targets = if v.get("targetTags").is_some() || v.get("targetServiceAccounts").is_some() {
        let names = cloud::list(v, "targetTags")
            .iter()
            .chain(cloud::list(v, "targetServiceAccounts"))
            .filter_map(Value::as_str);
        Some(
            names
                .map(|name| component_of(ctx, name).ok_or_else(|| name.to_string()))
                .collect(),
        )
    } else {
        None
    };
    let peers_text = cloud::list(
        v,
        if ingress {
            "sourceRanges"
        } else {
            "destinationRanges"
        },
    )
    .iter()
    .chain(cloud::list(v, "sourceTags"))
    .chain(cloud::list(v, "sourceServiceAccounts"))
    .filter_map(Value::as_str)
    .collect::<Vec<_>>()
    .join(",");
    let mut rule = Rule::new(
        format!("{name} (priority {priority})"),
        format!(
            "{} {} {} {} {peers_text}",
            if ingress { "INGRESS" } else { "EGRESS" },
            if deny { "deny" } else { "allow" },
            texts.join(" "),
            if ingress { "from" } else { "to" },
        ),
        space,
        if deny { Action::Drop } else { Action::Accept },
    );
    rule.line = doc.line(at);
    unknown.sort();
    unknown.dedup();
    rule.unknown = unknown;
    Ok(FwRule {
        ingress,
        priority,
        deny,
        targets,
        rule,
    })
}

/// The networks listed under `key`, or `None` when the rule has no such key.
fn ranges(doc: &Doc, v: &Value, at: &Path, key: &str) -> Result<Option<Addrs>, Box<Diagnostic>> {
    if v.get(key).is_none() {
        return Ok(None);
    }
    let mut a = Addrs::default();
    for (k, r) in cloud::list(v, key).iter().enumerate() {
        let s = r.as_str().unwrap_or("");
        match Addrs::cidr(s) {
            Some(x) => a = a.union(&x),
            None => {
                return Err(doc.error(
                    &at.key(key).index(k),
                    format!("`{s}` is not a network"),
                    HINT,
                ))
            }
        }
    }
    Ok(Some(a))
}

/// The addresses of the components the tags or service accounts under `key` stand for (`what`
/// names them); one bound to no component is noted in `unknown`. `None` when the rule has no
/// such key.
fn peers(
    ctx: &Context,
    v: &Value,
    key: &str,
    what: &str,
    unknown: &mut Vec<String>,
) -> Option<Addrs> {
    v.get(key)?;
    let mut a = Addrs::default();
    let before = unknown.len();
    for t in cloud::list(v, key).iter().filter_map(Value::as_str) {
        match component_of(ctx, t).and_then(|c| Addrs::component(ctx.req, &c)) {
            Some(x) => a = a.union(&x),
            None => unknown.push(format!(
                "{what} {t} (bound to no component: --bind {t}=COMPONENT)"
            )),
        }
    }
    // Only what cannot be evaluated: the rule may match anything, and is unknown.
    if a == Addrs::default() && unknown.len() > before {
        return Some(Addrs::all());
    }
    Some(a)
}

/// One entry of a rule's `allowed` or `denied` list (at `at`): its service, and its text.
fn service(doc: &Doc, e: &Value, at: &Path) -> Result<(Service, String), Box<Diagnostic>> {
    let proto = match &e["IPProtocol"] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return Err(doc.error(at, "`IPProtocol` is missing", HINT)),
    };
    let ports: Vec<&str> = cloud::list(e, "ports")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let mut set = Set::empty();
    for (n, p) in ports.iter().enumerate() {
        set = set.union(&cloud::port_text(p).ok_or_else(|| {
            doc.error(
                &at.key("ports").index(n),
                format!("`{p}` is not a port or range"),
                HINT,
            )
        })?);
    }
    let sel = (!ports.is_empty()).then_some(set);
    let svc = Service::new(&proto, sel).ok_or_else(|| {
        doc.error(
            &at.key("IPProtocol"),
            format!("unknown protocol `{proto}`"),
            "GCP uses tcp, udp, icmp, esp, ah, sctp, ipip, all or a number",
        )
    })?;
    let text = if ports.is_empty() {
        proto
    } else {
        format!("{proto}:{}", ports.join(","))
    };
    Ok((svc, text))
}

/// Instance `c`'s ingress and egress points: the rules that target it (or may, through a tag
/// bound to no component), in priority order, then the implied rules.
fn add_instance(model: &mut Model, rules: &[FwRule], c: &str) {
    let mut chains = [Vec::new(), Vec::new()];
    for r in rules {
        let applies = match &r.targets {
            None => Some(true),
            Some(t) if t.iter().any(|x| x.as_deref() == Ok(c)) => Some(true),
            Some(t) if t.iter().any(Result::is_err) => None,
            Some(_) => Some(false),
        };
        let mut rule = match applies {
            Some(false) => continue,
            _ => r.rule.clone(),
        };
        if applies.is_none() {
            let unbound: Vec<&str> = r
                .targets
                .iter()
                .flatten()
                .filter_map(|x| x.as_ref().err())
                .map(String::as_str)
                .collect();
            rule.unknown.push(format!(
                "targets {} (bound to no component: --bind NAME=COMPONENT)",
                unbound.join(", ")
            ));
        }
        chains[usize::from(!r.ingress)].push(rule);
    }
    let [inbound, outbound] = chains;
    let label = format!("GCP firewall of {c}");
    model.bindings.push(format!(
        "{label}: rules targeting its tag {c} or all instances"
    ));
    cloud::add_points(
        model,
        Target::Component(c.to_string()),
        &label,
        cloud::chain(
            format!("{label} ingress"),
            inbound,
            false,
            "implied rule: deny all ingress (priority 65535)".into(),
        ),
        cloud::chain(
            format!("{label} egress"),
            outbound,
            true,
            "implied rule: allow all egress (priority 65535)".into(),
        ),
    );
}

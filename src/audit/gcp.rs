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
    // Instances: components in gcp zones, and every component a rule targets.
    let mut comps: Vec<String> = ctx
        .req
        .components
        .iter()
        .filter(|(_, zone, _)| ctx.zone_location(zone) == Some(Location::Gcp))
        .map(|(n, _, _)| n.clone())
        .collect();
    struct R {
        ingress: bool,
        priority: i64,
        deny: bool,
        targets: Option<Vec<Result<String, String>>>,
        rule: Rule,
    }
    let mut rules: Vec<R> = Vec::new();
    for (i, v) in items.iter().enumerate() {
        let at = root.index(i);
        let name = cloud::string(&doc, v, &at, "name", HINT)?.to_string();
        if v["disabled"].as_bool() == Some(true) {
            model
                .notes
                .push(format!("firewall rule {name} is disabled: it does nothing"));
            continue;
        }
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
                &at,
                format!("firewall rule {name} has neither `allowed` nor `denied`"),
                HINT,
            ));
        };
        let mut unknown = Vec::new();
        let ranges =
            |key: &str, unknown: &mut Vec<String>| -> Result<Option<Addrs>, Box<Diagnostic>> {
                let items = cloud::list(v, key);
                if v.get(key).is_none() {
                    return Ok(None);
                }
                let mut a = Addrs::default();
                for (k, r) in items.iter().enumerate() {
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
                let _ = unknown;
                Ok(Some(a))
            };
        let peers = |key: &str, what: &str, unknown: &mut Vec<String>| -> Option<Addrs> {
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
        };
        let (src, dst) = if ingress {
            let ranges_src = ranges("sourceRanges", &mut unknown)?;
            let tags = peers("sourceTags", "source tag", &mut unknown);
            let sas = peers(
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
            let dst = ranges("destinationRanges", &mut unknown)?.unwrap_or_else(Addrs::all);
            (src, dst)
        } else {
            let dst = ranges("destinationRanges", &mut unknown)?.unwrap_or_else(Addrs::all);
            let src = ranges("sourceRanges", &mut unknown)?.unwrap_or_else(Addrs::all);
            (src, dst)
        };
        let mut space = Vec::new();
        let mut texts = Vec::new();
        for (k, e) in cloud::list(v, list).iter().enumerate() {
            let eat = at.key(list).index(k);
            let proto = match &e["IPProtocol"] {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => return Err(doc.error(&eat, "`IPProtocol` is missing", HINT)),
            };
            let ports: Vec<&str> = cloud::list(e, "ports")
                .iter()
                .filter_map(Value::as_str)
                .collect();
            let mut set = Set::empty();
            for (n, p) in ports.iter().enumerate() {
                set = set.union(&cloud::port_text(p).ok_or_else(|| {
                    doc.error(
                        &eat.key("ports").index(n),
                        format!("`{p}` is not a port or range"),
                        HINT,
                    )
                })?);
            }
            let sel = (!ports.is_empty()).then_some(set);
            let svc = Service::new(&proto, sel).ok_or_else(|| {
                doc.error(
                    &eat.key("IPProtocol"),
                    format!("unknown protocol `{proto}`"),
                    "GCP uses tcp, udp, icmp, esp, ah, sctp, ipip, all or a number",
                )
            })?;
            space.extend(cloud::cubes(&src, &dst, &svc));
            texts.push(if ports.is_empty() {
                proto.clone()
            } else {
                format!("{proto}:{}", ports.join(","))
            });
        }
        let targets = if v.get("targetTags").is_some() || v.get("targetServiceAccounts").is_some() {
            let mut t = Vec::new();
            for name in cloud::list(v, "targetTags")
                .iter()
                .chain(cloud::list(v, "targetServiceAccounts"))
                .filter_map(Value::as_str)
            {
                t.push(component_of(ctx, name).ok_or_else(|| name.to_string()));
            }
            Some(t)
        } else {
            None
        };
        for t in targets.iter().flatten().flatten() {
            if !comps.contains(t) {
                comps.push(t.clone());
            }
        }
        let mut rule = Rule::new(
            format!("{name} (priority {priority})"),
            format!(
                "{} {} {} {} {}",
                if ingress { "INGRESS" } else { "EGRESS" },
                if deny { "deny" } else { "allow" },
                texts.join(" "),
                if ingress { "from" } else { "to" },
                cloud::list(
                    v,
                    if ingress {
                        "sourceRanges"
                    } else {
                        "destinationRanges"
                    }
                )
                .iter()
                .chain(cloud::list(v, "sourceTags"))
                .chain(cloud::list(v, "sourceServiceAccounts"))
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(",")
            ),
            space,
            if deny { Action::Drop } else { Action::Accept },
        );
        rule.line = doc.line(&at);
        unknown.sort();
        unknown.dedup();
        rule.unknown = unknown;
        rules.push(R {
            ingress,
            priority,
            deny,
            targets,
            rule,
        });
    }
    // Deny before allow at the same priority; otherwise the listed order.
    rules.sort_by_key(|r| (r.priority, !r.deny));
    comps.sort();
    for c in &comps {
        let mut chains = [Vec::new(), Vec::new()];
        for r in &rules {
            let applies = match &r.targets {
                None => Some(true),
                Some(t) if t.iter().any(|x| x.as_ref() == Ok(c)) => Some(true),
                Some(t) if t.iter().any(Result::is_err) => None,
                Some(_) => Some(false),
            };
            let mut rule = match applies {
                Some(false) => continue,
                _ => r.rule.clone(),
            };
            if applies.is_none() {
                let unbound: Vec<&String> = r
                    .targets
                    .iter()
                    .flatten()
                    .filter_map(|x| x.as_ref().err())
                    .collect();
                rule.unknown.push(format!(
                    "targets {} (bound to no component: --bind NAME=COMPONENT)",
                    unbound
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
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
            &mut model,
            Target::Component(c.clone()),
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
    Ok(model)
}

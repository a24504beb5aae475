//! AWS security groups: `aws ec2 describe-security-groups` output, and CloudFormation
//! templates such as ctxfw's. A security group allows the union of its rules (order does not
//! matter, there is no deny); an instance with several groups allows the union of all. A group
//! speaks for the component it is bound to: `--bind sg-0abc=component`, the tag
//! `ctxfw:component`, or a group name `<topology>-<component>` / `<component>`.

use std::collections::BTreeMap;

use serde_json::Value;

use super::cloud::{self, Addrs, Service};
use super::json::{Doc, Path};
use super::model::{Action, Model, Rule, Target};
use super::parse::Context;
use super::space::{Set, ICMP, ICMPV6};
use crate::diag::{Diagnostic, SourceFile};

const HINT: &str = "the file must be `aws ec2 describe-security-groups` output or a CloudFormation template with AWS::EC2::SecurityGroup resources";

/// One permission as both shapes write it.
struct Perm<'a> {
    v: &'a Value,
    at: Path,
    ingress: bool,
}

struct Group<'a> {
    /// Id (describe) or logical id (CloudFormation).
    id: String,
    name: String,
    tags: Vec<(String, String)>,
    perms: Vec<Perm<'a>>,
    /// CloudFormation creates a group that declares no egress rule of its own with AWS's
    /// allow-all egress rule; rules added later as resources of their own do not remove it.
    default_egress: bool,
}

pub fn parse(file: &SourceFile, ctx: &Context) -> Result<Model, Box<Diagnostic>> {
    let doc = Doc::parse(file, "AWS security groups")?;
    let (format, groups) = if let Some(sgs) = doc.root.get("SecurityGroups") {
        ("AWS describe-security-groups", described(&doc, sgs)?)
    } else if let Some(res) = doc.root.get("Resources").and_then(Value::as_object) {
        ("AWS CloudFormation", template(&doc, res)?)
    } else {
        return Err(doc.error(
            &Path::default(),
            "no SecurityGroups list and no CloudFormation Resources",
            HINT,
        ));
    };
    let mut model = Model {
        format: format.to_string(),
        file: file.name.clone(),
        families: vec![super::space::Fam::V4, super::space::Fam::V6],
        ..Model::default()
    };
    // Every permission is read, bound or not, so a mistake anywhere in the file is reported.
    for g in &groups {
        for (k, p) in g.perms.iter().enumerate() {
            perm_rules(&doc, p, &g.id, k, ctx, &|_| None)?;
        }
    }
    // Which component each group is for.
    let mut bound: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, g) in groups.iter().enumerate() {
        match component_of(ctx, g) {
            Some(c) if ctx.req.component(&c).is_some() => bound.entry(c).or_default().push(i),
            _ => model.notes.push(format!(
                "security group {} ({}) is bound to no component of the topology and is not audited; pass --bind {}=COMPONENT",
                g.id, g.name, g.id
            )),
        }
    }
    let group_of = |id: &str| -> Option<String> {
        bound
            .iter()
            .find(|(_, gs)| gs.iter().any(|&g| groups[g].id == id))
            .map(|(c, _)| c.clone())
    };
    for (comp, gs) in &bound {
        let gs: Vec<&Group> = gs.iter().map(|&g| &groups[g]).collect();
        add_component(&mut model, &doc, ctx, comp, &gs, &group_of)?;
    }
    Ok(model)
}

/// The groups of `aws ec2 describe-security-groups` output.
fn described<'d>(doc: &'d Doc, sgs: &'d Value) -> Result<Vec<Group<'d>>, Box<Diagnostic>> {
    let at = Path::default().key("SecurityGroups");
    let sgs = sgs
        .as_array()
        .ok_or_else(|| doc.error(&at, "`SecurityGroups` must be a list", HINT))?;
    let mut groups = Vec::new();
    for (i, g) in sgs.iter().enumerate() {
        let gat = at.index(i);
        let id = cloud::string(doc, g, &gat, "GroupId", HINT)?.to_string();
        let perms = perms(g, &gat, ("IpPermissions", "IpPermissionsEgress"));
        groups.push(Group {
            id,
            name: g["GroupName"].as_str().unwrap_or("").to_string(),
            tags: tags(g),
            perms,
            default_egress: false,
        });
    }
    Ok(groups)
}

/// The groups of a CloudFormation template: its security groups with their inline rules, and
/// the rules that are resources of their own, attached by GroupId.
fn template<'d>(
    doc: &'d Doc,
    res: &'d serde_json::Map<String, Value>,
) -> Result<Vec<Group<'d>>, Box<Diagnostic>> {
    let at = Path::default().key("Resources");
    let mut groups = Vec::new();
    for (name, r) in res {
        if r["Type"] != "AWS::EC2::SecurityGroup" {
            continue;
        }
        let props = &r["Properties"];
        let perms = perms(
            props,
            &at.key(name).key("Properties"),
            ("SecurityGroupIngress", "SecurityGroupEgress"),
        );
        let description = props["GroupDescription"].as_str().unwrap_or("");
        groups.push(Group {
            id: name.clone(),
            name: props["GroupName"]
                .as_str()
                .unwrap_or(description)
                .to_string(),
            tags: tags(props),
            perms,
            default_egress: cloud::list(props, "SecurityGroupEgress").is_empty(),
        });
    }
    for (name, r) in res {
        let ingress = match r["Type"].as_str() {
            Some("AWS::EC2::SecurityGroupIngress") => true,
            Some("AWS::EC2::SecurityGroupEgress") => false,
            _ => continue,
        };
        let rat = at.key(name).key("Properties");
        let props = &r["Properties"];
        let gid = reference(&props["GroupId"]).ok_or_else(|| {
            doc.error(
                &rat.key("GroupId"),
                "GroupId is neither a Ref nor a Fn::GetAtt of a group in the template",
                HINT,
            )
        })?;
        let g = groups.iter_mut().find(|g| g.id == gid).ok_or_else(|| {
            doc.error(
                &rat.key("GroupId"),
                format!("no security group `{gid}` in the template"),
                HINT,
            )
        })?;
        g.perms.push(Perm {
            v: props,
            at: rat,
            ingress,
        });
    }
    Ok(groups)
}

/// A group's inline permissions (`v` at `at`), under the keys (ingress, egress) its shape
/// uses.
fn perms<'a>(v: &'a Value, at: &Path, (ingress, egress): (&str, &str)) -> Vec<Perm<'a>> {
    let mut perms = Vec::new();
    for (key, is_ingress) in [(ingress, true), (egress, false)] {
        for (k, p) in cloud::list(v, key).iter().enumerate() {
            perms.push(Perm {
                v: p,
                at: at.key(key).index(k),
                ingress: is_ingress,
            });
        }
    }
    perms
}

/// The component group `g` speaks for: `--bind` by id or name, its `ctxfw:component` tag, a
/// name `<topology>-<component>` or `<component>`, or ctxfw's own description.
fn component_of(ctx: &Context, g: &Group) -> Option<String> {
    let topo = &ctx.req.topology;
    ctx.bound(&g.id)
        .or_else(|| ctx.bound(&g.name))
        .map(str::to_string)
        .or_else(|| {
            g.tags
                .iter()
                .find(|(k, _)| k == "ctxfw:component")
                .map(|(_, v)| v.clone())
        })
        .or_else(|| {
            let n = g.name.strip_prefix(&format!("{topo}-")).unwrap_or(&g.name);
            ctx.req.component(n).map(|_| n.to_string())
        })
        .or_else(|| {
            // ctxfw's own description: "ctxfw <topology> <component> (<kinds>)".
            let d = g.name.strip_prefix(&format!("ctxfw {topo} "))?;
            let n = d.split_whitespace().next()?;
            ctx.req.component(n).map(|_| n.to_string())
        })
}

/// Component `comp`'s ingress and egress points: the union of its groups' rules.
fn add_component(
    model: &mut Model,
    doc: &Doc,
    ctx: &Context,
    comp: &str,
    groups: &[&Group],
    group_of: &dyn Fn(&str) -> Option<String>,
) -> Result<(), Box<Diagnostic>> {
    let mut inbound = Vec::new();
    let mut outbound = Vec::new();
    for grp in groups {
        model
            .bindings
            .push(format!("security group {} -> {comp}", grp.id));
        for (k, p) in grp.perms.iter().enumerate() {
            let rules = perm_rules(doc, p, &grp.id, k, ctx, group_of)?;
            if p.ingress {
                inbound.extend(rules);
            } else {
                outbound.extend(rules);
            }
        }
        if grp.default_egress {
            let mut r = Rule::new(
                format!("{} default egress", grp.id),
                "allow all outbound (AWS adds it to a group created without inline egress rules)"
                    .into(),
                cloud::cubes(&Addrs::all(), &Addrs::all(), &Service::any()),
                Action::Accept,
            );
            r.implicit = true;
            outbound.push(r);
        }
    }
    let names: Vec<&str> = groups.iter().map(|g| g.id.as_str()).collect();
    let label = format!("security groups of {comp} ({})", names.join(", "));
    cloud::add_points(
        model,
        Target::Component(comp.to_string()),
        &label,
        cloud::chain(
            format!("{label} ingress"),
            inbound,
            false,
            "security groups deny what no rule allows".into(),
        ),
        cloud::chain(
            format!("{label} egress"),
            outbound,
            false,
            "security groups deny what no rule allows".into(),
        ),
    );
    Ok(())
}

fn tags(v: &Value) -> Vec<(String, String)> {
    cloud::list(v, "Tags")
        .iter()
        .filter_map(|t| {
            Some((
                t["Key"].as_str()?.to_string(),
                t["Value"].as_str()?.to_string(),
            ))
        })
        .collect()
}

/// The logical id a `Ref` or `Fn::GetAtt` names (or a literal id).
fn reference(v: &Value) -> Option<String> {
    if let Some(s) = v.as_str() {
        return Some(s.to_string());
    }
    if let Some(r) = v.get("Ref").and_then(Value::as_str) {
        return Some(r.to_string());
    }
    v.get("Fn::GetAtt")
        .and_then(|a| a.get(0))
        .and_then(Value::as_str)
        .map(str::to_string)
}

fn perm_rules(
    doc: &Doc,
    p: &Perm,
    group: &str,
    k: usize,
    ctx: &Context,
    group_of: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<Rule>, Box<Diagnostic>> {
    let v = p.v;
    let proto = match &v["IpProtocol"] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return Err(doc.error(&p.at.key("IpProtocol"), "`IpProtocol` is missing", HINT)),
    };
    let port = |key: &str| {
        v[key]
            .as_i64()
            .or_else(|| v[key].as_str().and_then(|s| s.parse().ok()))
    };
    let (from, to) = (port("FromPort"), port("ToPort"));
    let is_icmp = matches!(proto.as_str(), "icmp" | "1" | "icmpv6" | "58");
    let sel = match (from, to) {
        (None, _) | (Some(-1), _) => None,
        (Some(a), _) if is_icmp => Some(Set::point(a.clamp(0, 255) as u128)),
        (Some(a), Some(b)) if (0..=65535).contains(&a) && (a..=65535).contains(&b) => {
            Some(Set::range(a as u128, b as u128))
        }
        _ => {
            return Err(doc.error(
                &p.at.key("FromPort"),
                "FromPort/ToPort must be ports 0-65535 with FromPort <= ToPort, or -1",
                HINT,
            ))
        }
    };
    let svc = Service::new(&proto, sel).ok_or_else(|| {
        doc.error(
            &p.at.key("IpProtocol"),
            format!("unknown IpProtocol `{proto}`"),
            "AWS writes tcp, udp, icmp, icmpv6, -1 or a protocol number",
        )
    })?;
    let ports = match (&proto[..], from) {
        (_, None) | (_, Some(-1)) => String::new(),
        (_, Some(a)) if is_icmp => format!(" type {a}"),
        (_, Some(a)) => match to {
            Some(b) if b != a => format!(" {a}-{b}"),
            _ => format!(" {a}"),
        },
    };
    let dir = if p.ingress { "ingress" } else { "egress" };
    let line = doc.line(&p.at);
    let mut out = Vec::new();
    let mut push = |peer: String, addrs: Option<Addrs>, why: Option<String>| {
        let (src, dst) = match &addrs {
            Some(a) if p.ingress => (a.clone(), Addrs::all()),
            Some(a) => (Addrs::all(), a.clone()),
            None => (Addrs::all(), Addrs::all()),
        };
        let mut r = Rule::new(
            format!("{group} {dir} #{} ({peer})", k + 1),
            format!(
                "{dir} {}{ports} {} {peer}",
                if proto == "-1" { "all" } else { &proto },
                if p.ingress { "from" } else { "to" }
            ),
            cloud::cubes(&src, &dst, &svc),
            Action::Accept,
        );
        r.line = line;
        if let Some(w) = why {
            r.unknown.push(w);
        }
        if svc.proto == Set::point(ICMP as u128) || svc.proto == Set::point(ICMPV6 as u128) {
            if let Some(c) = to.filter(|&c| c != -1) {
                r.unknown.push(format!("ICMP code {c} only"));
            }
        }
        out.push(r);
    };
    // describe-security-groups shape.
    for r in cloud::list(v, "IpRanges") {
        if let Some(c) = r["CidrIp"].as_str() {
            push(c.to_string(), Addrs::cidr(c), None);
        }
    }
    for r in cloud::list(v, "Ipv6Ranges") {
        if let Some(c) = r["CidrIpv6"].as_str() {
            push(c.to_string(), Addrs::cidr(c), None);
        }
    }
    for r in cloud::list(v, "PrefixListIds") {
        let id = r["PrefixListId"].as_str().unwrap_or("?");
        push(
            id.to_string(),
            None,
            Some(format!(
                "prefix list {id} (its networks are not in the file)"
            )),
        );
    }
    for r in cloud::list(v, "UserIdGroupPairs") {
        let id = r["GroupId"].as_str().unwrap_or("?");
        group_peer(ctx, id, group_of, &mut push);
    }
    // CloudFormation shape.
    for key in ["CidrIp", "CidrIpv6"] {
        if let Some(c) = v[key].as_str() {
            let a = Addrs::cidr(c).ok_or_else(|| {
                doc.error(&p.at.key(key), format!("`{c}` is not a network"), HINT)
            })?;
            push(c.to_string(), Some(a), None);
        }
    }
    for key in ["SourceSecurityGroupId", "DestinationSecurityGroupId"] {
        if let Some(id) = reference(&v[key]) {
            group_peer(ctx, &id, group_of, &mut push);
        }
    }
    for key in ["SourcePrefixListId", "DestinationPrefixListId"] {
        if let Some(id) = v[key].as_str() {
            push(
                id.to_string(),
                None,
                Some(format!(
                    "prefix list {id} (its networks are not in the file)"
                )),
            );
        }
    }
    Ok(out)
}

fn group_peer(
    ctx: &Context,
    id: &str,
    group_of: &dyn Fn(&str) -> Option<String>,
    push: &mut dyn FnMut(String, Option<Addrs>, Option<String>),
) {
    let comp = ctx.bound(id).map(str::to_string).or_else(|| group_of(id));
    match comp.and_then(|c| Addrs::bound(ctx.req, &c).map(|a| (c, a))) {
        Some((c, a)) => push(format!("group {id} = {c}"), Some(a), None),
        None => push(
            format!("group {id}"),
            None,
            Some(format!(
                "security group {id} is bound to no component: --bind {id}=COMPONENT"
            )),
        ),
    }
}

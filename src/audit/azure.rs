//! Azure network security groups: `az network nsg show` / `az network nsg list` output and
//! ARM templates (ctxfw's included). Per direction, rules are decided by priority (lowest
//! number first, allow or deny, first match), then the default rules (AllowVnetInBound 65000,
//! AllowAzureLoadBalancerInBound 65001, DenyAllInBound 65500; outbound AllowVnetOutBound,
//! AllowInternetOutBound, DenyAllOutBound). An NSG speaks for the zone (subnet) or component
//! (NIC) it is bound to: `--bind NSG=ZONE`, the tag `ctxfw-zone`, a subnet named like a zone,
//! or an NSG name `<topology>-<zone>` / `<zone>`.

use serde_json::Value;

use super::cloud::{self, Addrs, Service};
use super::json::{Doc, Path};
use super::model::{Action, Model, Rule, Target};
use super::parse::Context;
use super::space::{Fam, Set};
use crate::diag::{Diagnostic, SourceFile};

const HINT: &str = "the file must be `az network nsg show` / `az network nsg list` output or an ARM template with Microsoft.Network/networkSecurityGroups";

struct Nsg<'a> {
    name: String,
    at: Path,
    v: &'a Value,
    /// `properties` (ARM) or the object itself (az CLI output, flattened).
    props: &'a Value,
    props_at: Path,
}

impl<'a> Nsg<'a> {
    fn new(v: &'a Value, at: Path) -> Nsg<'a> {
        let (props, props_at) = props(v, &at);
        Nsg {
            name: v["name"].as_str().unwrap_or("").to_string(),
            at,
            v,
            props,
            props_at,
        }
    }
}

fn props<'a>(v: &'a Value, at: &Path) -> (&'a Value, Path) {
    match v.get("properties") {
        Some(p) if p.is_object() => (p, at.key("properties")),
        _ => (v, at.clone()),
    }
}

pub fn parse(file: &SourceFile, ctx: &Context) -> Result<Model, Box<Diagnostic>> {
    let doc = Doc::parse(file, "Azure NSG")?;
    let root = Path::default();
    let mut nsgs: Vec<Nsg> = Vec::new();
    let mut format = "Azure NSG (az network nsg)";
    match &doc.root {
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                nsgs.push(Nsg::new(v, root.index(i)));
            }
        }
        Value::Object(o) if o.contains_key("resources") => {
            format = "Azure ARM template";
            for (i, v) in cloud::list(&doc.root, "resources").iter().enumerate() {
                let ty = v["type"].as_str().unwrap_or("");
                if !ty.eq_ignore_ascii_case("Microsoft.Network/networkSecurityGroups") {
                    continue;
                }
                nsgs.push(Nsg::new(v, root.key("resources").index(i)));
            }
        }
        v @ Value::Object(_) => nsgs.push(Nsg::new(v, root.clone())),
        _ => {
            return Err(doc.error(
                &root,
                "expected an NSG object, a list of them or an ARM template",
                HINT,
            ))
        }
    }
    let mut model = Model {
        format: format.to_string(),
        file: file.name.clone(),
        families: vec![Fam::V4, Fam::V6],
        ..Model::default()
    };
    // The platform's health probes come from this address (the AzureLoadBalancer tag).
    let lb = Addrs::cidr("168.63.129.16/32").expect("address");
    model.infrastructure = cloud::cubes(&lb, &Addrs::all(), &Service::any());
    let topo = &ctx.req.topology;
    for nsg in &nsgs {
        let tag = nsg.v["tags"]["ctxfw-zone"].as_str();
        let subnet = cloud::list(nsg.props, "subnets").iter().find_map(|s| {
            let id = s["id"].as_str()?;
            let name = id.rsplit('/').next()?;
            ctx.req.zone(name).map(|_| name.to_string())
        });
        let by_name = {
            let n = nsg
                .name
                .strip_prefix(&format!("{topo}-"))
                .unwrap_or(&nsg.name);
            (ctx.req.zone(n).is_some() || ctx.req.component(n).is_some()).then(|| n.to_string())
        };
        let target = ctx
            .bound(&nsg.name)
            .map(str::to_string)
            .or(tag.map(str::to_string))
            .or(subnet)
            .or(by_name);
        let target = match target {
            Some(t) if ctx.req.zone(&t).is_some() => Target::Zone(t),
            Some(t) if ctx.req.component(&t).is_some() => Target::Component(t),
            _ => {
                model.notes.push(format!(
                    "NSG {} is bound to no zone or component of the topology and is not audited; pass --bind {}=ZONE",
                    nsg.name, nsg.name
                ));
                continue;
            }
        };
        let mut rules: Vec<(bool, i64, String, Rule)> = Vec::new();
        let sr_at = nsg.props_at.key("securityRules");
        for (k, r) in cloud::list(nsg.props, "securityRules").iter().enumerate() {
            rules.push(read_rule(&doc, r, &sr_at.index(k), &nsg.name, ctx)?);
        }
        let defaults = cloud::list(nsg.props, "defaultSecurityRules");
        if defaults.is_empty() {
            rules.extend(default_rules(ctx));
        } else {
            let at = nsg.props_at.key("defaultSecurityRules");
            for (k, r) in defaults.iter().enumerate() {
                let mut d = read_rule(&doc, r, &at.index(k), &nsg.name, ctx)?;
                d.3.implicit = true;
                rules.push(d);
            }
        }
        rules.sort_by(|a, b| (a.0, a.1, &a.2).cmp(&(b.0, b.1, &b.2)));
        let (inbound, outbound): (Vec<_>, Vec<_>) = rules.into_iter().partition(|r| r.0);
        let label = format!("NSG {}", nsg.name);
        let name = match &target {
            Target::Zone(z) => format!("zone {z}"),
            Target::Component(c) => format!("component {c}"),
            Target::Host => String::new(),
        };
        model.bindings.push(format!("{label} -> {name}"));
        let _ = &nsg.at;
        cloud::add_points(
            &mut model,
            target,
            &label,
            cloud::chain(
                format!("{label} inbound"),
                inbound.into_iter().map(|r| r.3).collect(),
                false,
                "no rule decided (the default rules end in DenyAll)".into(),
            ),
            cloud::chain(
                format!("{label} outbound"),
                outbound.into_iter().map(|r| r.3).collect(),
                false,
                "no rule decided (the default rules end in DenyAll)".into(),
            ),
        );
    }
    Ok(model)
}

/// What an address prefix or service tag stands for, or why that is not known.
fn prefix(s: &str, ctx: &Context) -> Result<Addrs, String> {
    match s {
        "*" | "Any" | "any" | "0.0.0.0/0" => Ok(Addrs::all()),
        "Internet" => Ok(Addrs::internet(ctx.req)),
        "VirtualNetwork" => Ok(Addrs::private(ctx.req)),
        "AzureLoadBalancer" => Ok(Addrs::cidr("168.63.129.16/32").expect("address")),
        _ => Addrs::cidr(s)
            .ok_or_else(|| format!("service tag {s} (its networks are not known to ctxfw)")),
    }
}

fn side(
    p: &Value,
    one: &str,
    many: &str,
    asgs: &str,
    ctx: &Context,
    unknown: &mut Vec<String>,
) -> Addrs {
    let mut out = Addrs::default();
    let mut items: Vec<String> = cloud::list(p, many)
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    if let Some(s) = p[one].as_str() {
        items.push(s.to_string());
    }
    items.retain(|s| !s.is_empty());
    let unknown_before = unknown.len();
    for s in items {
        match prefix(&s, ctx) {
            Ok(a) => out = out.union(&a),
            Err(why) => unknown.push(why),
        }
    }
    for g in cloud::list(p, asgs) {
        let id = g["id"].as_str().unwrap_or("?");
        let name = id.rsplit('/').next().unwrap_or(id);
        match ctx
            .bound(name)
            .or(ctx.bound(id))
            .and_then(|c| Addrs::bound(ctx.req, c))
        {
            Some(a) => out = out.union(&a),
            None => unknown.push(format!(
                "application security group {name} (bound to no component: --bind {name}=COMPONENT)"
            )),
        }
    }
    // Only what cannot be evaluated: the rule may match anything, and is unknown.
    if out == Addrs::default() && unknown.len() > unknown_before {
        return Addrs::all();
    }
    out
}

fn read_rule(
    doc: &Doc,
    r: &Value,
    at: &Path,
    nsg: &str,
    ctx: &Context,
) -> Result<(bool, i64, String, Rule), Box<Diagnostic>> {
    let name = r["name"].as_str().unwrap_or("?").to_string();
    let (p, pat) = props(r, at);
    let direction = cloud::string(doc, p, &pat, "direction", HINT)?;
    let inbound = match direction {
        "Inbound" => true,
        "Outbound" => false,
        d => {
            return Err(doc.error(
                &pat.key("direction"),
                format!("direction `{d}` is neither Inbound nor Outbound"),
                HINT,
            ))
        }
    };
    let access = cloud::string(doc, p, &pat, "access", HINT)?;
    let action = match access {
        "Allow" => Action::Accept,
        "Deny" => Action::Drop,
        a => {
            return Err(doc.error(
                &pat.key("access"),
                format!("access `{a}` is neither Allow nor Deny"),
                HINT,
            ))
        }
    };
    let priority = p["priority"]
        .as_i64()
        .ok_or_else(|| doc.error(&pat.key("priority"), "`priority` must be a number", HINT))?;
    let proto = cloud::string(doc, p, &pat, "protocol", HINT)?;
    let mut ports = Set::empty();
    let mut port_items: Vec<String> = cloud::list(p, "destinationPortRanges")
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    if let Some(s) = p["destinationPortRange"].as_str() {
        port_items.push(s.to_string());
    }
    for s in &port_items {
        let set = cloud::port_text(s).ok_or_else(|| {
            doc.error(
                &pat.key("destinationPortRanges"),
                format!("`{s}` is not a port, range or *"),
                HINT,
            )
        })?;
        ports = ports.union(&set);
    }
    let ports = if port_items.is_empty() {
        None
    } else {
        Some(ports)
    };
    let svc = Service::new(proto, ports).ok_or_else(|| {
        doc.error(
            &pat.key("protocol"),
            format!("unknown protocol `{proto}`"),
            "NSGs use Tcp, Udp, Icmp, Esp, Ah or *",
        )
    })?;
    let mut unknown = Vec::new();
    let src = side(
        p,
        "sourceAddressPrefix",
        "sourceAddressPrefixes",
        "sourceApplicationSecurityGroups",
        ctx,
        &mut unknown,
    );
    let dst = side(
        p,
        "destinationAddressPrefix",
        "destinationAddressPrefixes",
        "destinationApplicationSecurityGroups",
        ctx,
        &mut unknown,
    );
    let sport = p["sourcePortRange"].as_str().unwrap_or("*");
    if sport != "*" || !cloud::list(p, "sourcePortRanges").is_empty() {
        unknown.push("source port ranges".into());
    }
    let text = format!(
        "{name}: {} {} priority {priority} {proto} {} from {} to {}",
        direction,
        access,
        if port_items.is_empty() {
            "*".to_string()
        } else {
            port_items.join(",")
        },
        prefixes_text(
            p,
            "sourceAddressPrefix",
            "sourceAddressPrefixes",
            "sourceApplicationSecurityGroups"
        ),
        prefixes_text(
            p,
            "destinationAddressPrefix",
            "destinationAddressPrefixes",
            "destinationApplicationSecurityGroups"
        ),
    );
    let mut rule = Rule::new(
        format!("{nsg} rule {name} (priority {priority})"),
        text,
        cloud::cubes(&src, &dst, &svc),
        action,
    );
    rule.unknown = unknown;
    rule.line = doc.line(at);
    Ok((inbound, priority, name, rule))
}

fn prefixes_text(p: &Value, one: &str, many: &str, asgs: &str) -> String {
    let mut v: Vec<&str> = cloud::list(p, many)
        .iter()
        .filter_map(Value::as_str)
        .collect();
    v.extend(
        cloud::list(p, asgs)
            .iter()
            .filter_map(|g| g["id"].as_str()?.rsplit('/').next()),
    );
    if let Some(s) = p[one].as_str() {
        v.push(s);
    }
    v.retain(|s| !s.is_empty());
    if v.len() > 4 {
        format!("{} and {} more", v[..4].join(","), v.len() - 4)
    } else {
        v.join(",")
    }
}

/// The rules Azure adds to every NSG, below every user rule.
fn default_rules(ctx: &Context) -> Vec<(bool, i64, String, Rule)> {
    let vnet = Addrs::private(ctx.req);
    let all = Addrs::all();
    let lb = Addrs::cidr("168.63.129.16/32").expect("address");
    let internet = Addrs::internet(ctx.req);
    let any = Service::any();
    let mk = |inbound: bool,
              prio: i64,
              name: &str,
              src: &Addrs,
              dst: &Addrs,
              allow: bool,
              text: &str| {
        let mut r = Rule::new(
            format!("default rule {name} (priority {prio})"),
            text.to_string(),
            cloud::cubes(src, dst, &any),
            if allow { Action::Accept } else { Action::Drop },
        );
        r.implicit = true;
        (inbound, prio, name.to_string(), r)
    };
    vec![
        mk(
            true,
            65000,
            "AllowVnetInBound",
            &vnet,
            &vnet,
            true,
            "allow VirtualNetwork to VirtualNetwork",
        ),
        mk(
            true,
            65001,
            "AllowAzureLoadBalancerInBound",
            &lb,
            &all,
            true,
            "allow AzureLoadBalancer to any",
        ),
        mk(true, 65500, "DenyAllInBound", &all, &all, false, "deny all"),
        mk(
            false,
            65000,
            "AllowVnetOutBound",
            &vnet,
            &vnet,
            true,
            "allow VirtualNetwork to VirtualNetwork",
        ),
        mk(
            false,
            65001,
            "AllowInternetOutBound",
            &all,
            &internet,
            true,
            "allow any to Internet",
        ),
        mk(
            false,
            65500,
            "DenyAllOutBound",
            &all,
            &all,
            false,
            "deny all",
        ),
    ]
}

//! The template's model: a component's groups (extra parts over the quota) and their rules,
//! built from the rules keyed in the parent module and checked before anything is written.

use std::collections::BTreeMap;

use anyhow::{bail, Result};

use crate::topology::{Location, Topology};

use super::{
    by_component, group_id, logical, parts, ports_tag, sanitize, valid_description, Dir, Key, Peer,
    MAX_RULES,
};
use crate::render::cloud;

/// One rule of a group: its key and its description (AWS's charset, at most 255 characters).
pub(crate) struct Rule {
    pub(crate) key: Key,
    pub(crate) description: String,
}

/// A rule that references a group: a resource of its own, so that groups referencing each
/// other have no circular dependency.
pub(crate) struct Separate {
    /// Its logical id.
    pub(crate) id: String,
    pub(crate) rule: Rule,
}

/// One security group: a component's, or one part of a component's over the quota.
pub(crate) struct Group {
    /// Its logical id.
    pub(crate) id: String,
    pub(crate) comp: String,
    /// Its `Name` tag.
    pub(crate) name: String,
    pub(crate) description: String,
    /// Rules with networks as peers, inline.
    pub(crate) ingress: Vec<Rule>,
    pub(crate) egress: Vec<Rule>,
    /// Rules with groups as peers, in rule order (ingress first).
    pub(crate) separate: Vec<Separate>,
}

impl Group {
    /// The description of the group's output (its id, for attaching it to instances).
    pub(crate) fn output_description(&self) -> String {
        sanitize(&format!(
            "Security group {}: attach to the instances of {}",
            self.name, self.comp
        ))
    }

    /// The group's rules of one direction as the Terraform mapping lists them: inline, then
    /// separate.
    pub(crate) fn rules(&self, dir: Dir) -> impl Iterator<Item = (Option<&str>, &Rule)> {
        let inline = match dir {
            Dir::In => &self.ingress,
            Dir::Out => &self.egress,
        };
        inline.iter().map(|r| (None, r)).chain(
            self.separate
                .iter()
                .filter(move |s| s.rule.key.dir == dir)
                .map(|s| (Some(s.id.as_str()), &s.rule)),
        )
    }
}

/// The template's model: its groups in component order, each with its rules. Serialised as
/// the CloudFormation template; the Terraform target maps it.
pub struct Template {
    pub(crate) description: String,
    pub(crate) groups: Vec<Group>,
}

/// The template from the rules: each component's groups and their rules.
pub(super) fn build(topo: &Topology, all: &BTreeMap<Key, Vec<String>>) -> Result<Template> {
    let comps = cloud::components(topo, Location::Aws);
    let mut groups = Vec::new();
    let by_comp = by_component(all);
    for comp in &comps {
        let c = &topo.components[*comp];
        let mine = |dir: Dir| by_comp.get(&(*comp, dir)).map_or(&[][..], Vec::as_slice);
        let (ins, outs) = (mine(Dir::In), mine(Dir::Out));
        let parts = parts(ins.len(), outs.len());
        for part in 0..parts {
            let gid = group_id(comp, part);
            let mut g = Group {
                id: gid.clone(),
                comp: comp.to_string(),
                name: if part == 0 {
                    format!("{}-{comp}", topo.name)
                } else {
                    format!("{}-{comp}-part{}", topo.name, part + 1)
                },
                description: String::new(),
                ingress: Vec::new(),
                egress: Vec::new(),
                separate: Vec::new(),
            };
            let (n_in, n_out) = (MAX_RULES, MAX_RULES - 1);
            let rules = (ins.iter().skip(part * n_in).take(n_in))
                .chain(outs.iter().skip(part * n_out).take(n_out));
            for &(k, d) in rules {
                let rule = Rule {
                    key: k.clone(),
                    description: sanitize(&d.join(" / ")),
                };
                match &k.peer {
                    Peer::Cidr(..) if k.dir == Dir::In => g.ingress.push(rule),
                    Peer::Cidr(..) => g.egress.push(rule),
                    Peer::Group(peer) => {
                        let (way, word) = match k.dir {
                            Dir::In => ("In", "From"),
                            Dir::Out => ("Out", "To"),
                        };
                        let id = format!(
                            "{gid}{way}{word}{}{}{}",
                            logical(peer),
                            logical(k.proto),
                            ports_tag(k)
                        );
                        g.separate.push(Separate { id, rule });
                    }
                }
            }
            let kinds = c.kinds.join(", ");
            let mut desc = format!("ctxfw {} {comp} ({kinds})", topo.name);
            if parts > 1 {
                desc.push_str(&format!(" part {} of {parts}", part + 1));
            }
            if let Some(d) = &c.description {
                desc.push_str(": ");
                desc.push_str(d);
            }
            g.description = sanitize(&desc);
            groups.push(g);
        }
    }
    let tpl = Template {
        description: cloud::truncate(
            &sanitize(&format!(
                "ctxfw security groups for {}: {}",
                topo.name, topo.description
            )),
            1024,
        ),
        groups,
    };
    let ids: Vec<(&str, String)> = tpl
        .groups
        .iter()
        .flat_map(|g| {
            std::iter::once((g.id.as_str(), format!("component `{}`", g.comp))).chain(
                g.separate
                    .iter()
                    .map(|s| (s.id.as_str(), format!("a rule of `{}`", g.comp))),
            )
        })
        .collect();
    cloud::check_unique(
        topo,
        "CloudFormation logical id",
        ids.iter().map(|(a, b)| (*a, b.as_str())),
    )?;
    check(topo, &tpl)?;
    Ok(tpl)
}

/// ctxfw's own value checks (cfn-lint checks structure, not these): ports and descriptions.
fn check(topo: &Topology, tpl: &Template) -> Result<()> {
    let description = |d: &str| {
        if !valid_description(d) {
            bail!("{}: internal error: description {d:?}", topo.file.name);
        }
        Ok(())
    };
    for g in &tpl.groups {
        description(&g.description)?;
        for dir in [Dir::In, Dir::Out] {
            for (_, r) in g.rules(dir) {
                let p = r.key.proto;
                if let Some((lo, hi)) = r.key.ports {
                    let ok = if p == "tcp" || p == "udp" {
                        (1..=65535).contains(&lo) && lo <= hi && hi <= 65535
                    } else {
                        lo == -1 && hi == -1
                    };
                    if !ok {
                        bail!(
                            "{}: internal error: ports {lo}-{hi} for {p}",
                            topo.file.name
                        );
                    }
                }
                description(&r.description)?;
            }
        }
    }
    Ok(())
}

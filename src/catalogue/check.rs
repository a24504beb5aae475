//! Checks across the catalogue's files, once every file is read: kinds, traits, roles,
//! parameters, references and defects named anywhere exist, and fit together.

use indexmap::IndexMap;

use super::model::*;
use crate::cond::{self, Literal};
use crate::diag::{choice_hint, Diagnostic, Suggest};

impl Catalogue {
    pub(super) fn check(&self, diags: &mut Vec<Diagnostic>) {
        let mut suggest = Suggest::default();
        for kind in self.kinds.values() {
            self.check_kind(kind, &mut suggest, diags);
        }
        self.check_parameters(diags);
        let mut seen_ids: IndexMap<&str, &CatFlow> = IndexMap::new();
        for f in &self.flows {
            if let Some(first) = seen_ids.get(f.id.as_str()) {
                diags.push(
                    Diagnostic::error(format!("duplicate flow id `{}`", f.id))
                        .at(&self.files[f.file], f.span.clone())
                        .label(
                            &self.files[first.file],
                            first.span.clone(),
                            "first defined here",
                        )
                        .hint("flow ids must be unique across the catalogue; rename one"),
                );
            } else {
                seen_ids.insert(&f.id, f);
            }
            self.check_flow_ends(f, &mut suggest, diags);
            self.check_flow_ports_and_needs(f, &mut suggest, diags);
            self.check_flow_condition(f, &mut suggest, diags);
            self.check_flow_sources(f, &mut suggest, diags);
        }
        for d in self.defects.values() {
            for id in &d.flows {
                if !seen_ids.contains_key(id.as_str()) {
                    diags.push(
                        Diagnostic::error(format!("defect {} names unknown flow `{id}`", d.id))
                            .at(&self.files[d.file], d.span.clone())
                            .hint(suggest.hint(id, seen_ids.keys().copied())),
                    );
                }
            }
        }
    }

    fn kind_ids(&self) -> impl Iterator<Item = &str> + Clone {
        self.kinds.keys().map(String::as_str)
    }

    fn trait_ids(&self) -> impl Iterator<Item = &str> + Clone {
        self.traits.keys().map(String::as_str)
    }

    /// A kind's parents and traits exist, its chain of parents ends, and an internet service
    /// a flow reaches has names.
    fn check_kind(&self, kind: &Kind, suggest: &mut Suggest, diags: &mut Vec<Diagnostic>) {
        let file = &self.files[kind.file];
        for e in &kind.extends {
            if !self.kinds.contains_key(e) {
                diags.push(
                    Diagnostic::error(format!("kind `{}` extends unknown kind `{e}`", kind.id))
                        .at(file, kind.span.clone())
                        .hint(suggest.hint(e, self.kind_ids())),
                );
            }
        }
        if self.expand_kind(&kind.id).len() > 8 {
            diags.push(
                Diagnostic::error(format!("kind `{}` extends too deep a chain", kind.id))
                    .at(file, kind.span.clone())
                    .hint("check `extends` for a cycle"),
            );
        }
        for t in &kind.traits {
            if !self.traits.contains_key(t) {
                diags.push(
                    Diagnostic::error(format!("kind `{}` has unknown trait `{t}`", kind.id))
                        .at(file, kind.span.clone())
                        .hint(suggest.hint(t, self.trait_ids())),
                );
            }
        }
        // An internet service a flow reaches needs its names; one that only starts flows
        // (resolvers on the internet querying an ADC's ADNS) stands for the whole internet.
        let reached = self
            .flows
            .iter()
            .any(|f| matches!(&f.to, KindRef::Kind(k) if *k == kind.id));
        if kind.platform == Platform::Internet && kind.fqdns.is_empty() && reached {
            diags.push(
                Diagnostic::error(format!("internet kind `{}` lists no domain names", kind.id))
                    .at(file, kind.span.clone())
                    .hint("add fqdns = [\"*.example.com\"]"),
            );
        }
    }

    /// A flow's ends: known kinds or traits with the roles it names, and no flow starting at
    /// an internet service.
    fn check_flow_ends(&self, f: &CatFlow, suggest: &mut Suggest, diags: &mut Vec<Diagnostic>) {
        let file = &self.files[f.file];
        for (end, r, role) in [("from", &f.from, &f.from_role), ("to", &f.to, &f.to_role)] {
            let kinds: Vec<&str> = match r {
                KindRef::Kind(k) => {
                    if !self.kinds.contains_key(k) {
                        diags.push(
                            Diagnostic::error(format!("flow `{}`: unknown {end} kind `{k}`", f.id))
                                .at(file, f.span.clone())
                                .hint(suggest.hint(k, self.kind_ids())),
                        );
                        continue;
                    }
                    vec![k.as_str()]
                }
                KindRef::Trait(t) => {
                    if !self.traits.contains_key(t) {
                        diags.push(
                            Diagnostic::error(format!(
                                "flow `{}`: unknown {end} trait `@{t}`",
                                f.id
                            ))
                            .at(file, f.span.clone())
                            .hint(suggest.hint(t, self.trait_ids())),
                        );
                        continue;
                    }
                    self.kinds
                        .values()
                        .filter(|k| k.traits.contains(t))
                        .map(|k| k.id.as_str())
                        .collect()
                }
            };
            if let Some(role) = role {
                let ok = kinds.iter().any(|k| self.roles_of(k).contains(role));
                if !ok {
                    diags.push(
                        Diagnostic::error(format!(
                            "flow `{}`: {end} role `{role}` is not a role of {r}",
                            f.id
                        ))
                        .at(file, f.span.clone())
                        .hint("declare it in the kind's `roles`"),
                    );
                }
            }
        }
        if f.from_role.is_some()
            && matches!(f.from, KindRef::Kind(ref k) if self.kinds.get(k).is_some_and(|k| k.platform == Platform::Internet))
        {
            diags.push(
                Diagnostic::error(format!("flow `{}` starts at an internet service", f.id))
                    .at(file, f.span.clone())
                    .hint("internet services are destinations only"),
            );
        }
    }

    /// Parameters standing for a flow's ports are int or ports parameters, and the kinds the
    /// flow `needs` exist.
    fn check_flow_ports_and_needs(
        &self,
        f: &CatFlow,
        suggest: &mut Suggest,
        diags: &mut Vec<Diagnostic>,
    ) {
        let file = &self.files[f.file];
        for p in &f.ports {
            if let PortItem::Param(name) = p {
                match self.parameters.get(name) {
                    Some(param) if matches!(param.ty, ParamType::Int | ParamType::Ports) => {}
                    Some(_) => diags.push(
                        Diagnostic::error(format!(
                            "flow `{}`: port parameter `${name}` is not an int or ports parameter",
                            f.id
                        ))
                        .at(file, f.span.clone())
                        .hint("only int and ports parameters can stand for ports"),
                    ),
                    None => diags.push(
                        Diagnostic::error(format!("flow `{}`: unknown parameter `${name}`", f.id))
                            .at(file, f.span.clone())
                            .hint(suggest.hint(name, self.parameters.keys().map(String::as_str))),
                    ),
                }
            }
        }
        for r in &f.needs {
            let known = match r {
                KindRef::Kind(k) => self.kinds.contains_key(k),
                KindRef::Trait(t) => self.traits.contains_key(t),
            };
            if !known {
                diags.push(
                    Diagnostic::error(format!("flow `{}`: `needs` names unknown {r}", f.id))
                        .at(file, f.span.clone())
                        .hint(suggest.hint(&r.to_string(), self.kind_ids())),
                );
            }
        }
    }

    /// A flow's condition names parameters or settings of its ends that exist, compared with
    /// values they can have.
    fn check_flow_condition(
        &self,
        f: &CatFlow,
        suggest: &mut Suggest,
        diags: &mut Vec<Diagnostic>,
    ) {
        let Some(c) = &f.when else {
            return;
        };
        let file = &self.files[f.file];
        for (p, lit) in c.atoms() {
            let param = match cond::setting(p) {
                Some((end, name)) => {
                    let r = match end {
                        cond::End::From => &f.from,
                        cond::End::To => &f.to,
                    };
                    let found = self
                        .end_kinds(r)
                        .iter()
                        .find_map(|k| self.setting_of(k, name));
                    if found.is_none() {
                        diags.push(
                            Diagnostic::error(format!(
                                "flow `{}`: condition names `{p}`, but {r} has no setting `{name}`",
                                f.id
                            ))
                            .at(file, f.span.clone())
                            .hint("declare it under [components.<kind>.settings] of that kind"),
                        );
                    }
                    found
                }
                None => {
                    let found = self.parameters.get(p);
                    if found.is_none() {
                        diags.push(
                            Diagnostic::error(format!(
                                "flow `{}`: condition names unknown parameter `{p}`",
                                f.id
                            ))
                            .at(file, f.span.clone())
                            .hint(suggest.hint(p, self.parameters.keys().map(String::as_str))),
                        );
                    }
                    found
                }
            };
            let Some(param) = param else {
                continue;
            };
            let ok = match (param.ty, lit) {
                (ParamType::Bool, None) => true,
                (ParamType::Bool, Some(Literal::Bool(_))) => true,
                (ParamType::Int, Some(Literal::Int(i))) => {
                    param.values.is_empty() || param.values.contains(&ParamValue::Int(*i))
                }
                (ParamType::String, Some(Literal::Str(s))) => {
                    param.values.is_empty() || param.values.contains(&ParamValue::Str(s.clone()))
                }
                _ => false,
            };
            if !ok {
                diags.push(
                    Diagnostic::error(format!(
                        "flow `{}`: condition compares `{p}` with a value it cannot have",
                        f.id
                    ))
                    .at(file, f.span.clone())
                    .hint(format!("`{p}` is {:?}; see its `values`", param.ty).to_lowercase()),
                );
            }
        }
    }

    /// What a flow cites exists: its references and the defects it fixes (with a note saying
    /// how).
    fn check_flow_sources(&self, f: &CatFlow, suggest: &mut Suggest, diags: &mut Vec<Diagnostic>) {
        let file = &self.files[f.file];
        for r in &f.refs {
            if !self.references.contains_key(r) {
                diags.push(
                    Diagnostic::error(format!("flow `{}`: unknown reference `{r}`", f.id))
                        .at(file, f.span.clone())
                        .hint(suggest.hint(r, self.references.keys().map(String::as_str))),
                );
            }
        }
        for d in f.fixes.iter() {
            if !self.defects.is_empty() && !self.defects.contains_key(d) {
                diags.push(
                    Diagnostic::error(format!("flow `{}`: unknown defect `{d}`", f.id))
                        .at(file, f.span.clone())
                        .hint("define it as [defects.Dnn] with summary, handling and flows in the family file"),
                );
            }
        }
        if !f.fixes.is_empty() && f.note.is_none() {
            diags.push(
                Diagnostic::error(format!("flow `{}` fixes a defect but has no note", f.id))
                    .at(file, f.span.clone())
                    .hint("say in `note` how the source row was corrected"),
            );
        }
    }

    /// Parameters and kind settings: known references, and setting names a topology can tell
    /// apart from a component's own keys.
    fn check_parameters(&self, diags: &mut Vec<Diagnostic>) {
        let settings = self
            .kinds
            .values()
            .flat_map(|k| k.settings.values().map(move |p| (Some(k), p)));
        for (kind, p) in self.parameters.values().map(|p| (None, p)).chain(settings) {
            let file = &self.files[p.file];
            let what = match kind {
                Some(k) => format!("setting `{}` of kind `{}`", p.name, k.id),
                None => format!("parameter `{}`", p.name),
            };
            for r in &p.refs {
                if !self.references.contains_key(r) {
                    diags.push(
                        Diagnostic::error(format!("{what}: unknown reference `{r}`"))
                            .at(file, p.span.clone())
                            .hint(choice_hint(r, self.references.keys().map(String::as_str))),
                    );
                }
            }
            if kind.is_some() && crate::topology::COMPONENT_KEYS.contains(&p.name.as_str()) {
                diags.push(
                    Diagnostic::error(format!("{what} has the name of a component key"))
                        .at(file, p.span.clone())
                        .hint("a topology writes settings next to kind, zone and hosts; choose another name"),
                );
            }
        }
        for r in self.retired.values() {
            if self.parameters.contains_key(&r.name) {
                diags.push(
                    Diagnostic::error(format!(
                        "parameter `{}` is both defined and retired",
                        r.name
                    ))
                    .at(&self.files[r.file], r.span.clone())
                    .hint("remove it from [retired]"),
                );
            }
        }
    }
}

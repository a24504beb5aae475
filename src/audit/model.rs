//! A rule set as the audit evaluates it, whatever it was read from: chains of rules that
//! match packet spaces, with a verdict each, and the points where traffic meets them.
//!
//! Every format maps onto this: netfilter chains as they are; a security group as one chain of
//! allows with a drop policy; an NSG or a GCP network's rules per target as one chain sorted by
//! priority, first match, with the platform's default rules at the end.

use super::space::{Cube, Fam};

/// A rule's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Accept,
    Drop,
    /// Evaluate another chain; what it returns continues after this rule.
    Jump(usize),
    /// Evaluate another chain; what it returns continues in this chain's caller.
    Goto(usize),
    Return,
    /// No verdict (log, counter): the next rule decides.
    Continue,
    /// A verdict ctxfw cannot evaluate (queue to user space, an unknown target).
    Unknown(String),
}

#[derive(Debug, Clone)]
pub struct Rule {
    /// 1-based line of the rule in the file (0 when the format has no lines for it).
    pub line: usize,
    /// How a reader finds the rule: `forward #4`, `CTXFW-x rule 12`, an NSG rule's name.
    pub label: String,
    /// The rule as its platform prints it (shortened).
    pub text: String,
    /// The packets it matches, where that is known; empty: it never matches.
    pub space: Vec<Cube>,
    /// Conditions ctxfw cannot evaluate (an interface, a mark, a time): the rule may or may
    /// not match what `space` holds.
    pub unknown: Vec<String>,
    pub action: Action,
    /// Matches only packets of established or related connections: it never decides a new
    /// connection, so it is neither shadowed nor unused.
    pub stateful_only: bool,
    /// A rule the platform adds (Azure's default rules): never reported as shadowed or unused.
    pub implicit: bool,
}

impl Rule {
    pub fn new(label: String, text: String, space: Vec<Cube>, action: Action) -> Rule {
        Rule {
            line: 0,
            label,
            text,
            space,
            unknown: Vec::new(),
            action,
            stateful_only: false,
            implicit: false,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Chain {
    pub name: String,
    pub rules: Vec<Rule>,
    /// A base chain's policy (`Some(true)` accept); `None` for a chain reached by jumps, which
    /// returns what no rule decides.
    pub policy: Option<bool>,
    /// Where the policy is written (a line, or a text such as `DenyAllInBound`).
    pub policy_label: String,
    /// The IP families the chain sees; packets of another family pass it untouched.
    pub families: Vec<Fam>,
}

/// Which traffic meets a point's chains.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Everything routed between zones (a zone firewall's forward hook).
    Forward,
    /// Traffic to a target.
    Inbound(Target),
    /// Traffic from a target.
    Outbound(Target),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The component named by `--host`.
    Host,
    Component(String),
    Zone(String),
}

/// Where traffic meets the rule set: a packet passes when every chain accepts it, in order.
#[derive(Debug, Clone)]
pub struct Point {
    pub scope: Scope,
    pub chains: Vec<usize>,
    /// `forward hook`, `security group sg-1 (ingress)`, ...
    pub label: String,
}

/// A parsed rule set.
#[derive(Debug, Clone, Default)]
pub struct Model {
    /// The format it was read as (`nftables JSON`, `iptables-save`, ...).
    pub format: String,
    pub file: String,
    pub chains: Vec<Chain>,
    pub points: Vec<Point>,
    /// The IP families the rule set speaks for: flows of another family are not audited.
    pub families: Vec<Fam>,
    /// Things a reader should know about how the file was read (ignored tables, assumptions).
    pub notes: Vec<String>,
    /// Groups, NSGs or tags in the file and what they were bound to, for the report.
    pub bindings: Vec<String>,
    /// Traffic the platform itself needs (Azure's health probes): never too open.
    pub infrastructure: Vec<Cube>,
}

impl Model {
    /// Another file's model added to this one (IPv4 and IPv6 files of one firewall).
    pub fn merge(&mut self, other: Model) {
        let base = self.chains.len();
        let shift = |a: &mut Action| match a {
            Action::Jump(t) | Action::Goto(t) => *t += base,
            _ => {}
        };
        for mut c in other.chains {
            for r in &mut c.rules {
                shift(&mut r.action);
            }
            self.chains.push(c);
        }
        for mut p in other.points {
            p.chains.iter_mut().for_each(|c| *c += base);
            match self
                .points
                .iter_mut()
                .find(|q| q.scope == p.scope && q.label == p.label)
            {
                Some(q) => q.chains.extend(p.chains),
                None => self.points.push(p),
            }
        }
        for f in other.families {
            if !self.families.contains(&f) {
                self.families.push(f);
            }
        }
        if self.format != other.format {
            self.format = format!("{} + {}", self.format, other.format);
        }
        self.file = format!("{}, {}", self.file, other.file);
        self.notes.extend(other.notes);
        self.bindings.extend(other.bindings);
        self.infrastructure.extend(other.infrastructure);
    }
}

//! The audit report as a terminal table, JSON for scripts, or Markdown for a change request.

use std::fmt::Write;

use super::{Opening, Report, RuleInfo};

fn rule_ref(r: &RuleInfo) -> String {
    match r.line {
        Some(l) => format!("{} (line {l})", r.rule),
        None => r.rule.clone(),
    }
}

fn size_text(s: f64) -> String {
    if s >= 1e6 {
        format!("2^{:.1}", s.log2())
    } else {
        format!("{s}")
    }
}

fn opening_text(o: &Opening) -> String {
    let ports = if o.ports.is_empty() {
        String::new()
    } else {
        format!(" {}", o.ports)
    };
    format!(
        "{} -> {} {}{}: {} -> {}",
        o.from_zone,
        o.to_zone,
        o.protocol,
        ports,
        o.from_addresses.join(" "),
        o.to_addresses.join(" ")
    )
}

fn verdict(r: &Report) -> &'static str {
    if r.has_findings() {
        "FINDINGS"
    } else {
        "CLEAN"
    }
}

/// A terminal report, one finding per paragraph.
pub fn table(r: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "audit of {} ({}) against topology `{}`: {}",
        r.ruleset, r.format, r.topology, r.perspective
    );
    let _ = writeln!(
        s,
        "{}: {} flows checked, {} blocked, {} too open, {} unknown, {} shadowed, {} unused",
        verdict(r),
        r.flows_checked,
        r.blocked.len(),
        r.too_open.len(),
        r.unknown.len(),
        r.shadowed.len(),
        r.unused.len()
    );
    if !r.blocked.is_empty() {
        let _ = writeln!(s, "\nBLOCKED (required, not allowed)");
        for b in &r.blocked {
            let _ = writeln!(
                s,
                "  {}: {} -> {} {} {} blocked by {} [{}]",
                b.flow,
                b.from,
                b.to,
                b.protocol,
                b.blocked_ports,
                rule_ref(&b.by),
                b.by.point
            );
            let _ = writeln!(
                s,
                "      {} -> {}",
                b.from_addresses.join(" "),
                b.to_addresses.join(" ")
            );
            let _ = writeln!(s, "      rule: {}", b.by.text);
            let _ = writeln!(s, "      purpose: {}", b.purpose);
            let _ = writeln!(s, "      source: {}", b.source);
        }
    }
    if !r.too_open.is_empty() {
        let _ = writeln!(
            s,
            "\nTOO OPEN (allowed beyond every required flow, largest first)"
        );
        for t in &r.too_open {
            let _ = writeln!(
                s,
                "  {} [{}] opens {}",
                rule_ref(&t.rule),
                t.rule.point,
                size_text(t.size)
            );
            let _ = writeln!(s, "      rule: {}", t.rule.text);
            for o in t.openings.iter().take(10) {
                let _ = writeln!(s, "      {}", opening_text(o));
            }
            let more = t.openings.len().saturating_sub(10) + t.more;
            if more > 0 {
                let _ = writeln!(s, "      ... and {more} more zone pairs and protocols");
            }
        }
    }
    if !r.unknown.is_empty() {
        let _ = writeln!(s, "\nUNKNOWN (a rule ctxfw cannot evaluate decides)");
        for u in &r.unknown {
            let _ = writeln!(
                s,
                "  {} [{}]: {}",
                rule_ref(&u.rule),
                u.rule.point,
                u.why.join("; ")
            );
            let _ = writeln!(s, "      rule: {}", u.rule.text);
            // A terminal shows the first few; the JSON and Markdown reports list them all.
            if !u.flows.is_empty() {
                let shown = u.flows.len().min(10);
                let more = match u.flows.len() - shown {
                    0 => String::new(),
                    n => format!(" ... and {n} more (--format json or markdown lists them)"),
                };
                let _ = writeln!(
                    s,
                    "      decides required flows: {}{more}",
                    u.flows[..shown].join(", ")
                );
            }
            for o in u.may_open.iter().take(5) {
                let _ = writeln!(s, "      may open {}", opening_text(o));
            }
        }
    }
    if !r.shadowed.is_empty() {
        let _ = writeln!(s, "\nSHADOWED (never match: earlier rules decide first)");
        for n in &r.shadowed {
            let by: Vec<String> = n.by.iter().map(rule_ref).collect();
            let _ = writeln!(s, "  {}: by {}", rule_ref(&n.rule), by.join(", "));
            let _ = writeln!(s, "      rule: {}", n.rule.text);
        }
    }
    if !r.unused.is_empty() {
        let _ = writeln!(s, "\nUNUSED (allow no required flow)");
        for n in &r.unused {
            let _ = writeln!(s, "  {}: {}", rule_ref(&n.rule), n.rule.text);
        }
    }
    if !r.not_audited.is_empty() {
        let _ = writeln!(s, "\nNOT AUDITED");
        for n in &r.not_audited {
            let _ = writeln!(s, "  {}: {}", n.flow, n.why);
        }
    }
    for n in &r.notes {
        let _ = writeln!(s, "\nnote: {n}");
    }
    s
}

pub fn json(r: &Report) -> String {
    let mut s = serde_json::to_string_pretty(r).expect("a report serialises");
    s.push('\n');
    s
}

/// A Markdown cell, as the flow matrix writes them.
pub fn cell(s: &str) -> String {
    crate::render::md_cell(s)
}

pub fn markdown(r: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Firewall audit: {}\n", cell(&r.topology));
    let _ = writeln!(
        s,
        "Rule set `{}` ({}), {}. **{}**: {} flows checked, {} blocked, {} too open, {} unknown, {} shadowed, {} unused.\n",
        cell(&r.ruleset),
        cell(&r.format),
        cell(&r.perspective),
        verdict(r),
        r.flows_checked,
        r.blocked.len(),
        r.too_open.len(),
        r.unknown.len(),
        r.shadowed.len(),
        r.unused.len()
    );
    if !r.blocked.is_empty() {
        let _ = writeln!(s, "## Blocked\n\n| flow | from | to | blocked | by | purpose | source |\n|---|---|---|---|---|---|---|");
        for b in &r.blocked {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} {} | {} | {} | {} |",
                cell(&b.flow),
                cell(&b.from),
                cell(&b.to),
                cell(&b.protocol),
                cell(&b.blocked_ports),
                cell(&rule_ref(&b.by)),
                cell(&b.purpose),
                cell(&b.source)
            );
        }
        s.push('\n');
    }
    if !r.too_open.is_empty() {
        let _ = writeln!(s, "## Too open\n\n| rule | opens | from zone | to zone | protocol | ports | from | to |\n|---|---|---|---|---|---|---|---|");
        for t in &r.too_open {
            for o in &t.openings {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} | {} | {} | {} | {} |",
                    cell(&rule_ref(&t.rule)),
                    size_text(o.size),
                    cell(&o.from_zone),
                    cell(&o.to_zone),
                    cell(&o.protocol),
                    cell(&o.ports),
                    cell(&o.from_addresses.join(" ")),
                    cell(&o.to_addresses.join(" "))
                );
            }
            if t.more > 0 {
                let _ = writeln!(
                    s,
                    "| {} | | {} more zone pairs and protocols | | | | | |",
                    cell(&rule_ref(&t.rule)),
                    t.more
                );
            }
        }
        s.push('\n');
    }
    if !r.unknown.is_empty() {
        let _ = writeln!(
            s,
            "## Unknown\n\n| rule | why | required flows it decides |\n|---|---|---|"
        );
        for u in &r.unknown {
            let _ = writeln!(
                s,
                "| {} | {} | {} |",
                cell(&rule_ref(&u.rule)),
                cell(&u.why.join("; ")),
                cell(&u.flows.join(", "))
            );
        }
        s.push('\n');
    }
    if !r.shadowed.is_empty() {
        let _ = writeln!(s, "## Shadowed\n\n| rule | decided first by |\n|---|---|");
        for n in &r.shadowed {
            let by: Vec<String> = n.by.iter().map(rule_ref).collect();
            let _ = writeln!(
                s,
                "| {} | {} |",
                cell(&rule_ref(&n.rule)),
                cell(&by.join(", "))
            );
        }
        s.push('\n');
    }
    if !r.unused.is_empty() {
        let _ = writeln!(s, "## Unused\n\n| rule | text |\n|---|---|");
        for n in &r.unused {
            let _ = writeln!(
                s,
                "| {} | {} |",
                cell(&rule_ref(&n.rule)),
                cell(&n.rule.text)
            );
        }
        s.push('\n');
    }
    if !r.not_audited.is_empty() {
        let _ = writeln!(s, "## Not audited\n\n| flow | why |\n|---|---|");
        for n in &r.not_audited {
            let _ = writeln!(s, "| {} | {} |", cell(&n.flow), cell(&n.why));
        }
        s.push('\n');
    }
    for n in &r.notes {
        let _ = writeln!(s, "Note: {}\n", cell(n));
    }
    s
}

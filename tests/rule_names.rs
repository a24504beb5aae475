//! Rule names say which rule they are: in every example, no two Windows Firewall rules of one
//! script share a display name, and no two nftables or iptables rules of one chain (and
//! family) share a comment. A name that drops an end's interface (a Gateway's NSIP and SNIP
//! to the same domain controller) reads like a duplicate of another rule.

mod common;

use std::collections::HashMap;

use ctxfw::generate::{self, Options};
use ctxfw::render::Renderer;

/// The text between the first `open` after `key` and the next `close`.
fn quoted<'a>(line: &'a str, key: &str, open: char, close: char) -> Option<&'a str> {
    let rest = &line[line.find(key)? + key.len()..];
    let rest = &rest[rest.find(open)? + 1..];
    Some(&rest[..rest.find(close)?])
}

/// Names that repeat within their scope: (scope, name) seen twice.
fn repeated(names: impl IntoIterator<Item = (String, String)>) -> Vec<String> {
    let mut seen: HashMap<(String, String), usize> = HashMap::new();
    for k in names {
        *seen.entry(k).or_default() += 1;
    }
    let mut v: Vec<String> = seen
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|((scope, name), n)| format!("{scope}: `{name}` x{n}"))
        .collect();
    v.sort();
    v
}

fn names_in(file: &str, text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chain = String::new();
    for line in text.lines() {
        let t = line.trim_start();
        if file.ends_with(".ps1") {
            if let Some(n) = quoted(t, "-DisplayName", '\'', '\'') {
                out.push((file.to_string(), n.to_string()));
            }
        } else if file.ends_with(".nft") {
            if let Some(c) = t.strip_prefix("chain ") {
                chain = c.trim_end_matches(" {").to_string();
            } else if t.contains(" accept comment \"") && !t.starts_with('#') {
                let family = if t.contains("ip6 ") { "ip6" } else { "ip" };
                let c = quoted(t, " accept comment", '"', '"').unwrap_or_default();
                out.push((format!("{file} {chain} {family}"), c.to_string()));
            }
        } else if file.contains(".rules") && t.starts_with("-A ") && t.contains("--comment") {
            let chain = t.split_whitespace().nth(1).unwrap_or_default();
            let c = quoted(t, "--comment", '"', '"').unwrap_or_default();
            out.push((format!("{file} {chain}"), c.to_string()));
        }
    }
    out
}

#[test]
fn no_two_rules_read_the_same_in_any_example() {
    let r = Renderer::new(None).unwrap();
    let targets: Vec<_> = generate::TARGETS
        .iter()
        .filter(|t| ["windows", "nftables", "iptables"].contains(&t.name))
        .collect();
    let mut problems = Vec::new();
    let mut counted = 0;
    for path in common::example_topologies() {
        let loaded = ctxfw::load(&path, None).unwrap();
        let mut perspectives = vec![Options::default()];
        for c in loaded.topology.components.keys() {
            perspectives.push(Options {
                host: Some(c.clone()),
                outbound: true,
                ..Options::default()
            });
        }
        for opts in perspectives {
            let files = generate::generate(&loaded, &r, &opts, &targets).unwrap();
            for f in files {
                let names = names_in(&f.name, &f.content);
                counted += names.len();
                for p in repeated(names) {
                    problems.push(format!(
                        "{} ({}): {p}",
                        path.display(),
                        opts.host.as_deref().unwrap_or("zone")
                    ));
                }
            }
        }
    }
    assert!(counted > 1000, "rule names found: {counted}");
    assert!(
        problems.is_empty(),
        "rules that read the same:\n{}",
        problems.join("\n")
    );
}

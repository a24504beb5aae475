//! nftables JSON expressions: their text in reports, close to how `nft list` prints them, and
//! the address, number and ICMP-type sets they name.

use serde_json::Value;

use super::space::{self, Fam, Set, ICMP};

/// A match's text: `==` left out, as `nft list` does, but after a bitwise operation
/// (`meta mark & 65280 == 256`).
pub(super) fn match_text(x: &Value) -> String {
    let left = &x["left"];
    let binop = left
        .as_object()
        .and_then(|o| o.keys().next())
        .is_some_and(|k| BINOPS.contains(&k.as_str()));
    let op = match x["op"].as_str().unwrap_or("==") {
        "==" | "in" if !binop => String::new(),
        "in" => "== ".into(),
        o => format!("{o} "),
    };
    format!("{} {op}{}", expr_text(left), expr_text(&x["right"]))
}

/// nftables' bitwise and shift operations, as `nft -j` names them.
pub(super) const BINOPS: [&str; 5] = ["&", "|", "^", "<<", ">>"];

/// A statement's text, close to how `nft list` prints it, for reports.
pub fn rule_text(exprs: &[Value], comment: Option<&str>) -> String {
    let mut parts: Vec<String> = exprs.iter().map(stmt_text).collect();
    if let Some(c) = comment {
        parts.push(format!("comment \"{}\"", shorten(c, 60)));
    }
    shorten(&parts.join(" "), 200)
}

fn shorten(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let cut: String = s.chars().take(n).collect();
        format!("{cut}...")
    }
}

fn stmt_text(v: &Value) -> String {
    let Some((k, x)) = v.as_object().and_then(|o| o.iter().next()) else {
        return v.to_string();
    };
    match k.as_str() {
        "match" => match_text(x),
        "accept" | "drop" | "return" | "continue" | "counter" => k.clone(),
        "reject" => "reject".into(),
        "jump" | "goto" => format!("{k} {}", x["target"].as_str().unwrap_or("?")),
        "vmap" => format!("{} vmap {}", expr_text(&x["key"]), expr_text(&x["data"])),
        "log" => "log".into(),
        "limit" => "limit".into(),
        _ => k.clone(),
    }
}

pub(super) fn expr_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Array(a) => a.iter().map(expr_text).collect::<Vec<_>>().join(","),
        Value::Object(o) => {
            let Some((k, x)) = o.iter().next() else {
                return String::new();
            };
            match k.as_str() {
                "payload" => format!(
                    "{} {}",
                    x["protocol"].as_str().unwrap_or("?"),
                    x["field"].as_str().unwrap_or("?")
                ),
                "meta" | "ct" => {
                    let key = x["key"].as_str().unwrap_or("?");
                    if k == "meta" && matches!(key, "iif" | "oif" | "iifname" | "oifname") {
                        key.to_string()
                    } else {
                        format!("{k} {key}")
                    }
                }
                "prefix" => format!("{}/{}", expr_text(&x["addr"]), expr_text(&x["len"])),
                "range" => format!("{}-{}", expr_text(&x[0]), expr_text(&x[1])),
                "set" => match x {
                    Value::Array(a) => format!(
                        "{{ {} }}",
                        a.iter().map(set_elem_text).collect::<Vec<_>>().join(", ")
                    ),
                    other => expr_text(other),
                },
                "concat" => x
                    .as_array()
                    .map(|a| a.iter().map(expr_text).collect::<Vec<_>>().join(" . "))
                    .unwrap_or_default(),
                "elem" => expr_text(&x["val"]),
                "fib" => format!(
                    "fib {} {}",
                    x["flags"]
                        .as_array()
                        .map(|a| a.iter().map(expr_text).collect::<Vec<_>>().join(" . "))
                        .unwrap_or_else(|| expr_text(&x["flags"])),
                    expr_text(&x["result"])
                ),
                "tcp option" => match x.get("field") {
                    Some(f) => format!("tcp option {} {}", expr_text(&x["name"]), expr_text(f)),
                    None => format!("tcp option {}", expr_text(&x["name"])),
                },
                k if BINOPS.contains(&k) => {
                    format!("{} {k} {}", expr_text(&x[0]), expr_text(&x[1]))
                }
                "accept" | "drop" | "return" => k.clone(),
                "jump" | "goto" => format!("{k} {}", x["target"].as_str().unwrap_or("?")),
                _ => k.clone(),
            }
        }
        Value::Bool(b) => b.to_string(),
        Value::Null => String::new(),
    }
}

/// A set element; a map's (a verdict map's) element is a `[key, value]` pair, printed as
/// `nft list` does.
fn set_elem_text(v: &Value) -> String {
    match v.as_array().map(Vec::as_slice) {
        Some([key, value]) => format!("{} : {}", expr_text(key), expr_text(value)),
        _ => expr_text(v),
    }
}

pub(super) fn unwrap_elem(v: &Value) -> &Value {
    match v.get("elem") {
        Some(e) => e.get("val").unwrap_or(e),
        None => v,
    }
}

/// An address, prefix or range of one family as a set (`None`: not an address; an address of
/// the other family is the empty set).
pub fn addr_set(v: &Value, fam: Fam) -> Option<Set> {
    let one = |s: &str| -> Option<Option<u128>> {
        let a: std::net::IpAddr = s.parse().ok()?;
        Some(match (a, fam) {
            (std::net::IpAddr::V4(a), Fam::V4) => Some(u32::from(a) as u128),
            (std::net::IpAddr::V6(a), Fam::V6) => Some(u128::from(a)),
            _ => None,
        })
    };
    match v {
        Value::String(s) => Some(match one(s)? {
            Some(a) => Set::point(a),
            None => Set::empty(),
        }),
        Value::Object(o) => {
            if let Some(p) = o.get("prefix") {
                let net: ipnet::IpNet = format!("{}/{}", p["addr"].as_str()?, p["len"].as_u64()?)
                    .parse()
                    .ok()?;
                if Fam::of(&net) != fam {
                    return Some(Set::empty());
                }
                let (lo, hi) = space::net_iv(&net.trunc());
                Some(Set::range(lo, hi))
            } else if let Some(r) = o.get("range") {
                let (a, b) = (one(r[0].as_str()?)?, one(r[1].as_str()?)?);
                Some(match (a, b) {
                    (Some(a), Some(b)) => Set::range(a, b),
                    _ => Set::empty(),
                })
            } else {
                None
            }
        }
        _ => None,
    }
}

/// A number, name, or range of them as a set.
pub(super) fn num_set(v: &Value, max: u128, name: impl Fn(&str) -> Option<u8>) -> Option<Set> {
    let one = |v: &Value| -> Option<u128> {
        match v {
            Value::Number(n) => n.as_u64().map(u128::from).filter(|&n| n <= max),
            Value::String(s) => s
                .parse::<u128>()
                .ok()
                .filter(|&n| n <= max)
                .or_else(|| name(s).map(u128::from)),
            _ => None,
        }
    };
    match v {
        Value::Object(o) if o.contains_key("range") => {
            let r = &o["range"];
            Some(Set::range(one(&r[0])?, one(&r[1])?))
        }
        v => Some(Set::point(one(v)?)),
    }
}

/// ICMP and ICMPv6 type names as nftables prints them.
pub fn icmp_type(proto: u8, s: &str) -> Option<u8> {
    let v4 = [
        ("echo-reply", 0),
        ("destination-unreachable", 3),
        ("source-quench", 4),
        ("redirect", 5),
        ("echo-request", 8),
        ("router-advertisement", 9),
        ("router-solicitation", 10),
        ("time-exceeded", 11),
        ("parameter-problem", 12),
        ("timestamp-request", 13),
        ("timestamp-reply", 14),
        ("info-request", 15),
        ("info-reply", 16),
        ("address-mask-request", 17),
        ("address-mask-reply", 18),
    ];
    let v6 = [
        ("destination-unreachable", 1),
        ("packet-too-big", 2),
        ("time-exceeded", 3),
        ("parameter-problem", 4),
        ("echo-request", 128),
        ("echo-reply", 129),
        ("mld-listener-query", 130),
        ("mld-listener-report", 131),
        ("mld-listener-done", 132),
        ("mld-listener-reduction", 132),
        ("nd-router-solicit", 133),
        ("nd-router-advert", 134),
        ("nd-neighbor-solicit", 135),
        ("nd-neighbor-advert", 136),
        ("nd-redirect", 137),
        ("router-renumbering", 138),
        ("ind-neighbor-solicit", 141),
        ("ind-neighbor-advert", 142),
        ("mld2-listener-report", 143),
    ];
    let table: &[(&str, u8)] = if proto == ICMP { &v4 } else { &v6 };
    table.iter().find(|(n, _)| *n == s).map(|(_, t)| *t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_verdict_map_prints_its_elements_as_key_colon_verdict() {
        let rule = [json!({"vmap": {
            "key": {"payload": {"protocol": "ip", "field": "daddr"}},
            "data": {"set": [
                ["10.20.10.5", {"accept": null}],
                [{"prefix": {"addr": "10.0.0.0", "len": 8}}, {"jump": {"target": "lan"}}]
            ]}
        }})];
        assert_eq!(
            rule_text(&rule, None),
            "ip daddr vmap { 10.20.10.5 : accept, 10.0.0.0/8 : jump lan }"
        );
    }

    #[test]
    fn a_plain_set_prints_its_elements_apart() {
        let rule = [
            json!({"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}},
                "right": {"set": [22, {"range": [8000, 8080]}]}}}),
            json!({"accept": null}),
        ];
        assert_eq!(rule_text(&rule, None), "tcp dport { 22, 8000-8080 } accept");
    }
}

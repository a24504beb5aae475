//! The on-premises example with default parameters has exactly the flows a Citrix engineer
//! expects (issue "Catalogue, topology and resolver", "Done when").

mod common;

use ctxfw::flow::{Flow, PortSet, Protocol};

fn load(extra_params: &str) -> Vec<Flow> {
    let path = common::root().join("topologies/onprem-cvad.toml");
    let text = std::fs::read_to_string(path).unwrap();
    let text = if extra_params.is_empty() {
        text
    } else {
        // Replace the example's [parameters] section with the ones under test.
        let start = text.find("[parameters]").unwrap();
        let end = text[start..].find("[zones.").unwrap() + start;
        format!(
            "{}[parameters]\n{extra_params}\n\n{}",
            &text[..start],
            &text[end..]
        )
    };
    common::resolve_str(&text).1.flows.to_vec()
}

fn find<'a>(flows: &'a [Flow], from: &str, to: &str, proto: Protocol) -> Option<&'a Flow> {
    let split = |s: &str| match s.split_once('.') {
        Some((a, b)) => (a.to_string(), Some(b.to_string())),
        None => (s.to_string(), None),
    };
    let (f, fi) = split(from);
    let (t, ti) = split(to);
    flows.iter().find(|x| {
        *x.from == *f
            && x.from_end.interface.as_deref() == fi.as_deref()
            && *x.to == *t
            && x.to_end.interface.as_deref() == ti.as_deref()
            && x.protocol == proto
    })
}

fn has(flows: &[Flow], from: &str, to: &str, proto: Protocol, ports: &[u16]) -> bool {
    find(flows, from, to, proto).is_some_and(|f| ports.iter().all(|p| f.ports.contains(*p)))
}

fn assert_has(flows: &[Flow], from: &str, to: &str, proto: Protocol, ports: &[u16]) {
    assert!(
        has(flows, from, to, proto, ports),
        "expected {from} -> {to} {proto} {ports:?}; have: {:?}",
        find(flows, from, to, proto).map(|f| f.ports.to_string())
    );
}

fn lacks(flows: &[Flow], from: &str, to: &str, proto: Protocol, ports: &[u16]) {
    if let Some(f) = find(flows, from, to, proto) {
        for p in ports {
            assert!(
                !f.ports.contains(*p),
                "{from} -> {to} {proto} must not have {p}: {}",
                f.ports
            );
        }
    }
}

use Protocol::{Tcp, Udp};

#[test]
fn default_onprem_flows() {
    let fl = load("");
    assert_has(&fl, "remote-users", "netscaler.vip", Tcp, &[443]);
    assert_has(&fl, "remote-users", "netscaler.vip", Udp, &[443]);
    assert_has(&fl, "netscaler.snip", "storefront", Tcp, &[443]);
    assert_has(&fl, "storefront", "netscaler.vip", Tcp, &[443]);
    assert_has(&fl, "netscaler.snip", "vdas", Tcp, &[1494, 2598]);
    assert_has(&fl, "netscaler.snip", "vdas", Udp, &[1494, 2598]);
    assert_has(&fl, "netscaler.snip", "ddc", Tcp, &[80]);
    assert_has(&fl, "storefront", "ddc", Tcp, &[80]);
    assert_has(&fl, "vdas", "ddc", Tcp, &[80]);
    assert_has(&fl, "ddc", "vdas", Tcp, &[80]);
    assert_has(&fl, "ddc", "sql", Tcp, &[1433]);
    assert_has(&fl, "ddc", "licensing", Tcp, &[27000, 7279]);
    assert_has(&fl, "ddc", "vdas", Tcp, &[135, 3389]);
    lacks(&fl, "ddc", "sql", Tcp, &[1434]);
    assert!(find(&fl, "ddc", "sql", Udp).is_none_or(|f| !f.ports.contains(1434)));
}

#[test]
fn nothing_from_the_internet_but_the_gateway_vip() {
    let fl = load("");
    let from_internet: Vec<&Flow> = fl
        .iter()
        .filter(|f| &*f.from_end.zone == "internet")
        .collect();
    assert!(!from_internet.is_empty());
    for f in from_internet {
        assert_eq!(
            (&*f.to, f.to_end.interface.as_deref()),
            ("netscaler", Some("vip")),
            "{}",
            f.id
        );
        assert!(
            f.ports.ranges().iter().all(|r| r.lo == 443 && r.hi == 443),
            "{}: {}",
            f.id,
            f.ports
        );
    }
}

#[test]
fn no_legacy_or_wrong_rows_unless_asked() {
    let fl = load("");
    let framehawk = PortSet::from_ranges([ctxfw::flow::PortRange::parse("3224-3324").unwrap()]);
    for f in &fl {
        assert!(
            !f.ports.contains(2512) && !f.ports.contains(2513),
            "{} has IMA ports: {}",
            f.id,
            f.ports
        );
        if f.protocol == Udp {
            assert!(
                !f.ports.intersects(&framehawk),
                "{} has Framehawk ports: {}",
                f.id,
                f.ports
            );
        }
        assert!(!matches!(f.protocol, Protocol::Esp), "{}: ESP", f.id);
        if f.to_end.kinds.iter().any(|k| k == "radius-server") {
            assert_eq!(f.protocol, Udp, "{}: RADIUS over TCP", f.id);
        }
    }
    lacks(&fl, "vdas", "ddc", Tcp, &[8080]);
}

#[test]
fn parameters_change_the_expected_flows() {
    let no_edt = load("edt = false");
    assert!(
        find(&no_edt, "netscaler.snip", "vdas", Udp).is_none(),
        "EDT off: no UDP HDX"
    );
    assert!(
        find(&no_edt, "remote-users", "netscaler.vip", Udp).is_none(),
        "EDT off: no UDP 443 at the VIP"
    );

    let named = load("sql_instance = \"named\"");
    assert_has(&named, "ddc", "sql", Tcp, &[1433, 1434]);
    assert_has(&named, "ddc", "sql", Udp, &[1434]);

    let tls = load("xml_port = 443");
    assert_has(&tls, "storefront", "ddc", Tcp, &[443]);
    assert_has(&tls, "netscaler.snip", "ddc", Tcp, &[443]);
    lacks(&tls, "storefront", "ddc", Tcp, &[80]);

    let no_sr = load("session_reliability = false");
    lacks(&no_sr, "netscaler.snip", "vdas", Tcp, &[2598]);
    lacks(&no_sr, "netscaler.snip", "vdas", Udp, &[2598]);
    assert_has(&no_sr, "netscaler.snip", "vdas", Tcp, &[1494]);

    let fh = load("framehawk = true");
    assert!(find(&fh, "netscaler.snip", "vdas", Udp)
        .is_some_and(|f| f.ports.contains(3224) && f.ports.contains(3324)));
}

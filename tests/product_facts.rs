//! Product facts the catalogue must follow, one topology each (tests/fixtures/product-facts/):
//! for every fact the flow that must exist and the flow that must not.

mod common;

use ctxfw::flow::{Flow, Protocol};
use Protocol::{Icmp, Tcp, Udp};

fn fixture(name: &str) -> String {
    let path = common::root().join(format!("tests/fixtures/product-facts/{name}.toml"));
    std::fs::read_to_string(path).unwrap()
}

/// The fixture with these lines in its `[parameters]`.
fn with_params(text: &str, params: &str) -> String {
    match text.find("[parameters]\n") {
        Some(i) => {
            let at = i + "[parameters]\n".len();
            format!("{}{params}\n{}", &text[..at], &text[at..])
        }
        None => format!("{text}\n[parameters]\n{params}\n"),
    }
}

fn flows(text: &str) -> Vec<Flow> {
    common::resolve_str(text).1.flows.to_vec()
}

/// `comp` or `comp.interface`.
fn end(s: &str) -> (&str, Option<&str>) {
    match s.split_once('.') {
        Some((c, i)) => (c, Some(i)),
        None => (s, None),
    }
}

fn find<'a>(fl: &'a [Flow], from: &str, to: &str, proto: Protocol) -> Option<&'a Flow> {
    let ((f, fi), (t, ti)) = (end(from), end(to));
    fl.iter().find(|x| {
        &*x.from == f
            && x.from_end.interface.as_deref() == fi
            && &*x.to == t
            && x.to_end.interface.as_deref() == ti
            && x.protocol == proto
    })
}

fn has(fl: &[Flow], from: &str, to: &str, proto: Protocol, ports: &[u16]) {
    let f = find(fl, from, to, proto);
    assert!(
        f.is_some_and(|f| ports.iter().all(|p| f.ports.contains(*p))),
        "expected {from} -> {to} {proto} {ports:?}; have {:?}",
        f.map(|f| f.ports.to_string())
    );
}

/// No flow between these ends carries any of these ports (or, with no ports, no flow at all).
fn lacks(fl: &[Flow], from: &str, to: &str, proto: Protocol, ports: &[u16]) {
    if let Some(f) = find(fl, from, to, proto) {
        assert!(!ports.is_empty(), "{from} -> {to} {proto} must not exist");
        for p in ports {
            assert!(
                !f.ports.contains(*p),
                "{from} -> {to} {proto} must not have {p}: {}",
                f.ports
            );
        }
    }
}

/// No flow at all from this component (any interface) carries the port.
fn nowhere(fl: &[Flow], from: &str, proto: Protocol, port: u16) {
    for f in fl
        .iter()
        .filter(|f| &*f.from == from && f.protocol == proto)
    {
        assert!(!f.ports.contains(port), "{} must not carry {port}", f.id);
    }
}

/// Defect 1: secure RPC is the out-of-the-box mode of current releases (CTX292743); the plain
/// pair 3010/3011 comes with rpc_secure = false, never both.
#[test]
fn ha_pair_rpc_is_secure_by_default_and_plain_with_the_switch() {
    let text = fixture("01-ha-rpc");
    let fl = flows(&text);
    has(&fl, "adc.nsip", "adc.nsip", Udp, &[3003]);
    has(&fl, "adc.nsip", "adc.nsip", Tcp, &[3008, 3009, 22]);
    lacks(&fl, "adc.nsip", "adc.nsip", Tcp, &[3010, 3011]);

    let fl = flows(&with_params(&text, "rpc_secure = false"));
    has(&fl, "adc.nsip", "adc.nsip", Tcp, &[3010, 3011, 22]);
    lacks(&fl, "adc.nsip", "adc.nsip", Tcp, &[3008, 3009]);

    // An old topology that still says ha_secure is told what replaced it.
    let err = common::parse_str("t.toml", &with_params(&text, "ha_secure = false"))
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("parameter `ha_secure` no longer exists"),
        "{err}"
    );
    assert!(err.contains("use rpc_secure"), "{err}");
}

/// Defect 2: a cluster node is in no HA pair; the cluster is managed on its cluster IP.
#[test]
fn a_cluster_gets_cluster_flows_on_its_clip_and_no_ha_flows() {
    let fl = flows(&fixture("02-cluster"));
    has(&fl, "lb-cluster.nsip", "lb-cluster.nsip", Udp, &[7000]);
    has(&fl, "lb-cluster.nsip", "lb-cluster.nsip", Tcp, &[3008]);
    lacks(&fl, "lb-cluster.nsip", "lb-cluster.nsip", Udp, &[3003]);
    lacks(
        &fl,
        "lb-cluster.nsip",
        "lb-cluster.nsip",
        Tcp,
        &[3009, 3010, 3011, 22],
    );
    // Management on the cluster IP: GUI/NITRO and SSH from admins, NITRO, SSH, ICMP from ADM.
    has(&fl, "admins", "lb-cluster.clip", Tcp, &[443, 22]);
    has(&fl, "adm", "lb-cluster.clip", Tcp, &[443, 22]);
    assert!(find(&fl, "adm", "lb-cluster.clip", Icmp).is_some());
    lacks(&fl, "admins", "lb-cluster.nsip", Tcp, &[443]);
    lacks(&fl, "adm", "lb-cluster.nsip", Tcp, &[443, 22]);
    assert!(find(&fl, "adm", "lb-cluster.nsip", Icmp).is_none());
    // The HA pair beside it keeps its HA flows and gets no cluster heartbeat.
    has(&fl, "dmz-pair.nsip", "dmz-pair.nsip", Udp, &[3003]);
    lacks(&fl, "dmz-pair.nsip", "dmz-pair.nsip", Udp, &[7000]);
    has(&fl, "admins", "dmz-pair.nsip", Tcp, &[443, 22]);
    assert!(find(&fl, "admins", "dmz-pair.clip", Tcp).is_none());
}

/// Defect 3: resolvers on the internet reach the ADNS service of a public GSLB domain.
#[test]
fn internet_resolvers_reach_the_adns_service() {
    let text = fixture("03-gslb-adns");
    let fl = flows(&text);
    for adc in ["adc-a", "adc-b"] {
        let to = format!("{adc}.adns");
        has(&fl, "internet-dns-resolvers", &to, Udp, &[53]);
        has(&fl, "internet-dns-resolvers", &to, Tcp, &[53]);
        let f = find(&fl, "internet-dns-resolvers", &to, Udp).unwrap();
        assert_eq!(&*f.from_end.zone, "internet");
        // DNS goes to the ADNS address, not to the load-balanced VIPs.
        assert!(find(&fl, "internet-dns-resolvers", &format!("{adc}.vip"), Udp).is_none());
    }
    // Internal-only GSLB: no DNS from the internet.
    let fl = flows(&with_params(&text, "gslb_public_adns = false"));
    assert!(fl.iter().all(|f| &*f.from != "internet-dns-resolvers"));
}

/// Defect 4: with Rendezvous V2 only Entra-joined and non-domain-joined VDAs are
/// connectorless; AD and hybrid VDAs still register through the Cloud Connectors.
#[test]
fn rendezvous_v2_registration_follows_the_vda_join_type() {
    let fl = flows(&fixture("04-rendezvous-join"));
    for vdas in ["ad-vdas", "hybrid-vdas"] {
        has(&fl, vdas, "connectors", Tcp, &[80]);
        has(&fl, vdas, "dc", Tcp, &[88, 389]);
    }
    for vdas in ["entra-vdas", "workgroup-vdas"] {
        lacks(&fl, vdas, "connectors", Tcp, &[80]);
        // Not domain members: no Kerberos, LDAP or SMB to the domain controllers.
        lacks(&fl, vdas, "dc", Tcp, &[88, 389, 445]);
        lacks(&fl, vdas, "dc", Udp, &[88, 123, 389]);
    }
    // Every Rendezvous V2 VDA reaches the control plane and the Gateway Service.
    for vdas in ["ad-vdas", "hybrid-vdas", "entra-vdas", "workgroup-vdas"] {
        has(&fl, vdas, "daas-control-plane", Tcp, &[443]);
        has(&fl, vdas, "gateway-service-v2", Tcp, &[443]);
    }
}

/// Defect 5: the Session Recording server reaches its database; agents use MSMQ over TCP.
#[test]
fn session_recording_reaches_its_database() {
    let text = fixture("05-session-recording");
    let fl = flows(&text);
    has(&fl, "sr", "sql", Tcp, &[1433]);
    lacks(&fl, "sr", "sql", Udp, &[1434]);
    has(&fl, "vdas", "sr", Tcp, &[443, 1801]);
    has(&fl, "auditors", "sr", Tcp, &[443]);
    // A named instance: the Browser and the instance's own port, once it is pinned.
    let fl = flows(&with_params(
        &text,
        "sql_instance = \"named\"\nsql_named_instance_ports = [14330]",
    ));
    has(&fl, "sr", "sql", Tcp, &[1433, 1434, 14330]);
    has(&fl, "sr", "sql", Udp, &[1434]);
    // MSMQ over HTTPS instead of native MSMQ: no 1801.
    let fl = flows(&with_params(&text, "session_recording_msmq = \"https\""));
    lacks(&fl, "vdas", "sr", Tcp, &[1801]);
    has(&fl, "vdas", "sr", Tcp, &[443]);
}

/// Defect 6: SD-WAN management flows use the management address, virtual paths the WAN
/// addresses; the Zero Touch Deployment service has a flow.
#[test]
fn sdwan_management_never_binds_to_wan_addresses() {
    let fl = flows(&fixture("06-sdwan"));
    for b in ["branch-a", "branch-b"] {
        let mgmt = format!("{b}.mgmt");
        let wan = format!("{b}.wan");
        has(&fl, "adm", &mgmt, Tcp, &[443, 22]);
        has(&fl, "center", &mgmt, Tcp, &[2156]);
        has(&fl, &mgmt, "radius", Udp, &[1812]);
        has(&fl, &mgmt, "adm", Udp, &[4739]);
        has(&fl, &mgmt, "sdwan-ztd-service", Tcp, &[443]);
        for f in fl.iter().filter(|f| {
            (&*f.to == b && f.to_end.interface.as_deref() == Some("wan"))
                || (&*f.from == b && f.from_end.interface.as_deref() == Some("wan"))
        }) {
            assert!(
                f.parts
                    .iter()
                    .all(|p| &*p.catalogue == "ns-sdwan-virtual-path"),
                "{} reaches a WAN address: {:?}",
                f.id,
                f.parts.iter().map(|p| &*p.catalogue).collect::<Vec<_>>()
            );
        }
        assert!(find(&fl, "adm", &wan, Tcp).is_none());
        assert!(find(&fl, &wan, "radius", Udp).is_none());
    }
    has(&fl, "branch-a.wan", "branch-b.wan", Udp, &[4980]);
    lacks(&fl, "branch-a.mgmt", "branch-b.mgmt", Udp, &[4980]);
    let ztd = find(&fl, "center", "sdwan-ztd-service", Tcp).expect("SD-WAN Center to ZTD");
    assert!(ztd.ports.contains(443) && !ztd.to_fqdns.is_empty());
}

/// Defect 7: every managed product's console is reached from the admin workstation, and
/// `check` no longer calls the workstation unused.
#[test]
fn admin_workstations_reach_every_console() {
    let path = common::root().join("tests/fixtures/product-facts/07-consoles.toml");
    let loaded = ctxfw::load(&path, None).unwrap_or_else(|e| panic!("{e}"));
    let fl = loaded.resolution.flows.to_vec();
    has(&fl, "admins", "adm", Tcp, &[443, 22]);
    has(&fl, "admins", "sdwan.mgmt", Tcp, &[443, 22]);
    has(&fl, "admins", "center", Tcp, &[443, 22]);
    has(&fl, "admins", "wlb", Tcp, &[22]);
    has(&fl, "admins", "licensing", Tcp, &[8083]);
    lacks(&fl, "admins", "licensing", Tcp, &[8082]);
    let lint = ctxfw::lint::lint(&loaded);
    assert!(
        !lint.iter().any(|d| d.message.contains("`admins`")),
        "{:?}",
        lint.iter().map(|d| &d.message).collect::<Vec<_>>()
    );
}

/// Defect 8: flows follow the deployed release.
#[test]
fn flows_follow_the_deployed_release() {
    let fl = flows(&fixture("08-versions"));
    has(&fl, "pool8", "xenserver-updates", Tcp, &[443]);
    has(&fl, "pool8", "xenserver-telemetry", Tcp, &[443]);
    assert!(find(&fl, "pool7", "xenserver-updates", Tcp).is_none());
    assert!(find(&fl, "pool7", "xenserver-telemetry", Tcp).is_none());
    // A Gateway in front of XenApp 6.5 proxies ICA over TCP and never opens EDT.
    has(&fl, "users", "gateway.vip", Tcp, &[443]);
    lacks(&fl, "users", "gateway.vip", Udp, &[443]);
    has(&fl, "gateway.snip", "farm", Tcp, &[1494, 2598]);
    assert!(find(&fl, "gateway.snip", "farm", Udp).is_none());
    // The same Gateway in front of 7.x VDAs opens EDT.
    let text = format!(
        "{}\n[components.vdas]\nkind = \"vda\"\nzone = \"core\"\nhosts = [\"10.0.10.200\"]\n",
        fixture("08-versions")
    );
    let fl = flows(&text);
    has(&fl, "users", "gateway.vip", Udp, &[443]);
}

/// Defect 9: the products the first catalogue left thin have their documented flows.
#[test]
fn missing_products_have_their_flows() {
    let fl = flows(&fixture("09-products"));
    // XenMobile Server: StoreFront integration, licensing, console, database.
    has(&fl, "storefront", "xms", Tcp, &[443]);
    has(&fl, "xms", "licensing", Tcp, &[27000, 7279]);
    has(&fl, "admins", "xms", Tcp, &[4443]);
    // Web Interface: users on the site, XML and STA to the XenApp farm.
    has(&fl, "wi", "farm", Tcp, &[80]);
    // Users in the internet zone reach Web Interface only through a Gateway.
    assert!(find(&fl, "users", "wi", Tcp).is_none());
    // App Layering: console, agent, file share.
    has(&fl, "admins", "elm", Tcp, &[443]);
    has(&fl, "elm", "pvs", Tcp, &[8016]);
    has(&fl, "elm", "files", Tcp, &[445]);
    lacks(&fl, "elm", "files", Tcp, &[2049]);
    // SD-WAN Zero Touch Deployment.
    has(&fl, "branch.mgmt", "sdwan-ztd-service", Tcp, &[443]);
}

/// Defect 10: a choice the sources leave open is a parameter, and only the chosen store binds.
#[test]
fn password_manager_store_is_a_choice() {
    let text = fixture("10-open-choices");
    let fl = flows(&text);
    has(&fl, "sso", "files", Tcp, &[445]);
    has(&fl, "console", "files", Tcp, &[445]);
    lacks(&fl, "console", "dc", Tcp, &[3268, 3269]);
    let fl = flows(&with_params(&text, "sso_central_store = \"ad\""));
    assert!(find(&fl, "sso", "files", Tcp).is_none());
    assert!(find(&fl, "console", "files", Tcp).is_none());
    has(&fl, "console", "dc", Tcp, &[389, 3268, 3269]);
}

/// Defect 11: the Provisioning wizards run on the Provisioning servers; a named SQL instance
/// has a port parameter; current Director reads VDAs through the controllers, not over WinRM.
#[test]
fn gaps_a_new_user_reported() {
    let text = fixture("11-new-user-gaps");
    let (_, res) = common::resolve_str(&text);
    let fl = res.flows.to_vec();
    has(&fl, "pvs", "ddc", Tcp, &[80]);
    has(&fl, "pvs", "vcenter", Tcp, &[443]);
    // The wizards' flows come from the Provisioning servers, not from workstations.
    let admin_vcenter = find(&fl, "admins", "vcenter", Tcp);
    assert!(admin_vcenter.is_none(), "{admin_vcenter:?}");
    let fl = flows(&with_params(
        &text,
        "pvs_console_host = \"admin-workstation\"",
    ));
    has(&fl, "admins", "vcenter", Tcp, &[443]);
    assert!(find(&fl, "pvs", "vcenter", Tcp).is_none());

    // A named instance: its port is a parameter; until it is set, a warning says so.
    let named = with_params(&text, "sql_instance = \"named\"");
    let (_, res) = common::resolve_str(&named);
    assert!(
        res.warnings
            .iter()
            .any(|w| w.message.contains("sql-client-named-instance")),
        "{:?}",
        res.warnings.iter().map(|w| &w.message).collect::<Vec<_>>()
    );
    nowhere(&res.flows, "pvs", Tcp, 14330);
    let fl = flows(&with_params(
        &text,
        "sql_instance = \"named\"\nsql_named_instance_ports = [14330]",
    ));
    has(&fl, "ddc", "sql", Tcp, &[1433, 1434, 14330]);
    has(&fl, "pvs", "sql", Tcp, &[1433, 1434, 14330]);
    has(&fl, "pvs", "sql", Udp, &[1434]);

    // Director (7.x, on the controller) reaches VDAs for Remote Assistance, never WinRM.
    let fl = flows(&text);
    has(&fl, "ddc", "vdas", Tcp, &[80, 135, 3389]);
    lacks(&fl, "ddc", "vdas", Tcp, &[5985]);
    let legacy = text.replace(
        "kind = [\"delivery-controller\", \"director\"]",
        "kind = [\"delivery-controller\", \"director-legacy\"]",
    );
    has(&flows(&legacy), "ddc", "vdas", Tcp, &[5985]);
}

/// Flows to or from the internet need a zone holding the default route to get rules; without
/// one, the topology hears so once per internet kind, however many components need it.
#[test]
fn internet_flows_without_an_internet_zone_warn_once_per_kind() {
    let count = |res: &ctxfw::resolve::Resolution, needle: &str| {
        res.warnings
            .iter()
            .filter(|w| w.message.contains(needle))
            .count()
    };
    // Two Cloud Connectors and a PowerShell SDK host need Citrix Cloud through three
    // catalogue flows: one warning.
    let (_, res) = common::resolve_str(
        "name = \"rl\"\n[zones.rl]\ncidrs = [\"10.0.0.0/24\"]\n\
         [components.cc1]\nkind = \"cloud-connector\"\nzone = \"rl\"\nhosts = [\"10.0.0.10\"]\n\
         [components.cc2]\nkind = \"cloud-connector\"\nzone = \"rl\"\nhosts = [\"10.0.0.11\"]\n\
         [components.sdk]\nkind = \"remote-powershell-sdk-host\"\nzone = \"rl\"\nhosts = [\"10.0.0.20\"]\n",
    );
    assert_eq!(
        count(&res, "need the internet service `citrix-cloud`"),
        1,
        "{:?}",
        res.warnings.iter().map(|w| &w.message).collect::<Vec<_>>()
    );
    assert!(res
        .warnings
        .iter()
        .any(|w| w.hint.as_deref().is_some_and(|h| h.contains("0.0.0.0/0"))));
    // Resolvers on the internet query both ADCs' ADNS service: one warning.
    let gslb =
        std::fs::read_to_string(common::root().join("topologies/netscaler-gslb.toml")).unwrap();
    let zone = "[zones.internet]\ncidrs = [\"0.0.0.0/0\"]\n";
    assert!(gslb.contains(zone));
    let (_, res) = common::resolve_str(&gslb.replace(zone, ""));
    assert_eq!(
        count(
            &res,
            "reached from `internet-dns-resolvers` on the internet"
        ),
        1,
        "{:?}",
        res.warnings.iter().map(|w| &w.message).collect::<Vec<_>>()
    );
    // With the zone, no warning.
    let (_, res) = common::resolve_str(&gslb);
    assert_eq!(count(&res, "no zone holds 0.0.0.0/0"), 0);
}

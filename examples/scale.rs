//! Synthetic enterprise topologies for benchmarks: N sites, each with its own NetScaler Gateway
//! (HA pair), StoreFront pair, controllers with Director, SQL, license server, domain
//! controllers, DNS, Provisioning servers, a XenServer pool, internal users and VDA blocks; plus
//! shared services without a site (admins, NTP, syslog, SNMP, SMTP, certificate authority,
//! RADIUS) and remote users on the internet.
//!
//! ```sh
//! cargo run --release --example scale -- --flows 10000 --out bench/topologies/scale-10000.toml
//! cargo run --release --example scale -- --sites 25 --out /tmp/s25.toml
//! ```
//!
//! With `--flows`, the number of sites is calibrated against the embedded catalogue (resolving
//! one and two sites gives the flows per site), so the figure stays close to the target as the
//! catalogue grows. The actual flow count is printed on stderr. Output is deterministic.
//!
//! Components use catalogue kind ids only; sites are kept apart with `site = "..."`, so flows
//! grow linearly with the number of sites (no cross-site kinds such as GSLB or SD-WAN).

use std::fmt::Write as _;
use std::process::ExitCode;

use ctxfw::catalogue::Catalogue;
use ctxfw::diag::SourceFile;

/// Most sites one topology can hold: each site owns a /21 of 10.0.0.0/8.
const MAX_SITES: usize = 8192;

fn usage() -> ExitCode {
    eprintln!(
        "usage: scale (--flows N | --sites N) [--name NAME] [--location aws|azure|gcp] [--out FILE] | scale --list-targets\n\
         Writes a synthetic multi-site topology (stdout without --out) and prints its flow count on stderr."
    );
    ExitCode::from(64)
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (mut flows, mut sites, mut out, mut name, mut location) = (None, None, None, None, None);
    while let Some(a) = args.next() {
        let mut val = || args.next();
        match a.as_str() {
            "--flows" => flows = val().and_then(|v| v.parse::<usize>().ok()),
            "--sites" => sites = val().and_then(|v| v.parse::<usize>().ok()),
            "--out" => out = val(),
            "--name" => name = val(),
            // Put every site's zones in a cloud (aws, azure, gcp), for the cloud targets.
            "--location" => location = val(),
            // For bench scripts: every registered target, one per line.
            "--list-targets" => {
                for t in ctxfw::generate::TARGETS {
                    println!("{}", t.name);
                }
                return ExitCode::SUCCESS;
            }
            _ => return usage(),
        }
    }
    let cat = match Catalogue::embedded() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("embedded catalogue invalid: {e}");
            return ExitCode::from(2);
        }
    };
    let sites = match (flows, sites) {
        (_, Some(s)) if (1..=MAX_SITES).contains(&s) => s,
        (Some(f), None) if f > 0 => sites_for(&cat, f),
        _ => return usage(),
    };
    let name = name.unwrap_or_else(|| match flows {
        Some(f) => format!("scale-{f}"),
        None => format!("scale-{sites}-sites"),
    });
    let mut text = topology(&name, sites);
    if let Some(loc) = &location {
        text = in_location(&text, loc);
    }
    let count = flow_count(&cat, &text);
    eprintln!(
        "{name}: {sites} sites, {count} resolved flows, {} bytes",
        text.len()
    );
    match out {
        Some(path) => {
            if let Some(dir) = std::path::Path::new(&path).parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            if let Err(e) = std::fs::write(&path, text) {
                eprintln!("cannot write {path}: {e}");
                return ExitCode::from(74);
            }
        }
        None => print!("{text}"),
    }
    ExitCode::SUCCESS
}

/// Resolved flows of a topology text (panics on an invalid one: the generator's own bug).
fn flow_count(cat: &Catalogue, text: &str) -> usize {
    let (t, _) = ctxfw::topology::parse(SourceFile::new("scale.toml", text), cat)
        .unwrap_or_else(|e| panic!("generated topology is invalid:\n{e}"));
    ctxfw::resolve::resolve(&t, cat).flows.len()
}

/// Sites needed for about `target` flows: flows are `fixed + per_site * sites`.
fn sites_for(cat: &Catalogue, target: usize) -> usize {
    let one = flow_count(cat, &topology("calibrate", 1));
    let two = flow_count(cat, &topology("calibrate", 2));
    let per_site = two.saturating_sub(one).max(1);
    let fixed = one.saturating_sub(per_site);
    let n = (target.saturating_sub(fixed) as f64 / per_site as f64).round() as usize;
    n.clamp(1, MAX_SITES)
}

/// The same topology with every site zone (`[zones.sNNNN-...]`) given a `location`.
fn in_location(text: &str, loc: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 20);
    for line in text.lines() {
        out.push_str(line);
        out.push('\n');
        if line.starts_with("[zones.s") {
            let _ = writeln!(out, "location = \"{loc}\"");
        }
    }
    out
}

/// `10.a.b.0`: the `k`-th /24 of site `i` (each site owns a /21).
fn net(i: usize, k: usize) -> String {
    let base = (i << 11) + (k << 8);
    format!("10.{}.{}", (base >> 16) & 0xff, (base >> 8) & 0xff)
}

fn topology(name: &str, sites: usize) -> String {
    let mut s = String::with_capacity(2600 * sites + 4096);
    let _ = write!(
        s,
        r#"# Synthetic benchmark topology: {sites} sites (generated by examples/scale.rs).
name = "{name}"
description = "Synthetic enterprise estate: {sites} sites, shared services, remote users"

[parameters]
xml_port = 443
edt = true

[zones.internet]
cidrs = ["0.0.0.0/0"]
description = "Remote users"

[zones.shared]
cidrs = ["172.16.0.0/24"]
description = "Shared services for every site"

[components.remote-users]
kind = "workspace-app"
zone = "internet"

[components.admins]
kind = "admin-workstation"
zone = "shared"
hosts = ["172.16.0.10", "172.16.0.11"]

[components.ntp]
kind = "ntp-server"
zone = "shared"
hosts = ["172.16.0.20"]

[components.syslog]
kind = "syslog-server"
zone = "shared"
hosts = ["172.16.0.21"]

[components.snmp]
kind = "snmp-manager"
zone = "shared"
hosts = ["172.16.0.22"]

[components.smtp]
kind = "smtp-server"
zone = "shared"
hosts = ["172.16.0.23"]

[components.pki]
kind = "certificate-authority"
zone = "shared"
hosts = ["172.16.0.24"]

[components.radius]
kind = "radius-server"
zone = "shared"
hosts = ["172.16.0.25", "172.16.0.26"]
"#
    );
    for i in 0..sites {
        site(&mut s, i);
    }
    s
}

fn site(s: &mut String, i: usize) {
    let id = format!("s{i:04}");
    let (dmz, core, mgmt, users) = (net(i, 0), net(i, 1), net(i, 2), net(i, 3));
    let vda = net(i, 4);
    let vda_b = net(i, 6);
    let _ = write!(
        s,
        r#"
# --- site {id} ---------------------------------------------------------------
[zones.{id}-dmz]
cidrs = ["{dmz}.0/24"]

[zones.{id}-core]
cidrs = ["{core}.0/24"]

[zones.{id}-mgmt]
cidrs = ["{mgmt}.0/24"]

[zones.{id}-users]
cidrs = ["{users}.0/24"]

[zones.{id}-vda]
cidrs = ["{vda}.0/22"]

[components.{id}-gw]
kind = "netscaler-gateway"
zone = "{id}-dmz"
site = "{id}"
hosts = ["{dmz}.8", "{dmz}.9"]

[components.{id}-gw.interfaces.vip]
hosts = ["{dmz}.10"]

[components.{id}-gw.interfaces.snip]
hosts = ["{dmz}.20"]

[components.{id}-gw.interfaces.nsip]
zone = "{id}-mgmt"
hosts = ["{mgmt}.11", "{mgmt}.12"]

[components.{id}-ddc]
kind = ["delivery-controller", "director"]
zone = "{id}-core"
site = "{id}"
hosts = ["{core}.11", "{core}.12"]

[components.{id}-sf]
kind = "storefront"
zone = "{id}-core"
site = "{id}"
hosts = ["{core}.21", "{core}.22"]

[components.{id}-sql]
kind = "sql-server"
zone = "{id}-core"
site = "{id}"
hosts = ["{core}.31"]

[components.{id}-lic]
kind = "license-server"
zone = "{id}-core"
site = "{id}"
hosts = ["{core}.41"]

[components.{id}-dc]
kind = "domain-controller"
zone = "{id}-core"
site = "{id}"
hosts = ["{core}.5", "{core}.6"]

[components.{id}-dns]
kind = "dns-server"
zone = "{id}-core"
site = "{id}"
hosts = ["{core}.7"]

[components.{id}-pvs]
kind = "pvs-server"
zone = "{id}-core"
site = "{id}"
hosts = ["{core}.51", "{core}.52"]

[components.{id}-pool]
kind = "xenserver-host"
zone = "{id}-mgmt"
site = "{id}"
hosts = ["{mgmt}.21", "{mgmt}.22", "{mgmt}.23"]

[components.{id}-users]
kind = "workspace-app"
zone = "{id}-users"
site = "{id}"

[components.{id}-vda-a]
kind = ["vda", "pvs-target", "xenserver-windows-vm"]
zone = "{id}-vda"
site = "{id}"
hosts = ["{vda}.0/24", "{}.0/24"]

[components.{id}-vda-b]
kind = ["vda", "xenserver-windows-vm"]
zone = "{id}-vda"
site = "{id}"
hosts = ["{vda_b}.0/24"]
"#,
        net(i, 5)
    );
}

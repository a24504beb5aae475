//! Connectivity probes: per source component, a script that tries every TCP flow it initiates
//! from that host after the change (PowerShell on Windows, POSIX sh on Linux) and writes a JSON
//! result file for `ctxfw verify`. What no script can try (UDP and other protocols, sources
//! that are appliances or user devices, destinations that are networks or internet services)
//! is listed in `<topology>.probes.txt`.
//!
//! Free text reaches the scripts only through the templates' quoting filters (`ps`, `sh`).

use anyhow::Result;
use ipnet::IpNet;
use serde::Serialize;

use crate::catalogue::Platform;
use crate::flow::{Flow, Protocol};
use crate::generate::Ctx;
use crate::output::OutFile;

/// One connection attempt.
#[derive(Serialize)]
struct Probe {
    flow: String,
    address: String,
    port: u16,
    /// `first port of 49152-65535`, or empty.
    note: String,
    to: String,
}

/// A flow or part of one the script does not try, and why.
#[derive(Serialize)]
struct Skip {
    flow: String,
    why: String,
}

#[derive(Serialize)]
struct Script<'a> {
    topology: &'a str,
    description: &'a str,
    component: &'a str,
    result_file: String,
    probes: Vec<Probe>,
    skipped: Vec<Skip>,
}

fn platform_of(ctx: &Ctx<'_>, kinds: &[String]) -> Option<Platform> {
    let platforms: Vec<Platform> = kinds
        .iter()
        .filter_map(|k| ctx.loaded.catalogue.kind(k).map(|k| k.platform))
        .collect();
    [Platform::Windows, Platform::Linux]
        .into_iter()
        .find(|p| platforms.contains(p))
        .or_else(|| platforms.first().copied())
}

/// The probes and skipped parts of one source component's TCP flows.
fn plan(ctx: &Ctx<'_>, flows: &[&Flow]) -> (Vec<Probe>, Vec<Skip>) {
    let topo = &ctx.loaded.topology;
    let mut probes = Vec::new();
    let mut skipped = Vec::new();
    for f in flows {
        if f.protocol != Protocol::Tcp {
            skipped.push(Skip {
                flow: f.id.clone(),
                why: format!(
                    "{} {}: only TCP can be probed by a connect",
                    f.protocol, f.ports
                ),
            });
            continue;
        }
        if topo.zone(&f.to_end.zone).default_route {
            let to = crate::render::one_line(&if f.to_fqdns.is_empty() {
                f.to.to_string()
            } else {
                f.to_fqdns.join(" ")
            });
            skipped.push(Skip {
                flow: f.id.clone(),
                why: format!("internet service {to}: test it through the proxy or firewall that reaches the internet"),
            });
            continue;
        }
        for net in f.to_end.addresses.iter() {
            if net.prefix_len() != net.max_prefix_len() {
                skipped.push(Skip {
                    flow: f.id.clone(),
                    why: format!(
                        "destination {net} is a network, not a host: list the servers as hosts in the topology to probe them"
                    ),
                });
                continue;
            }
            let address = match net {
                IpNet::V4(n) => n.addr().to_string(),
                IpNet::V6(n) => n.addr().to_string(),
            };
            for r in f.ports.ranges() {
                let ends: Vec<(u16, String)> = if r.lo == r.hi {
                    vec![(r.lo, String::new())]
                } else {
                    vec![
                        (r.lo, format!("first port of {}-{}", r.lo, r.hi)),
                        (r.hi, format!("last port of {}-{}", r.lo, r.hi)),
                    ]
                };
                for (port, note) in ends {
                    probes.push(Probe {
                        flow: f.id.clone(),
                        address: address.clone(),
                        port,
                        note,
                        to: f.to.to_string(),
                    });
                }
            }
        }
    }
    (probes, skipped)
}

/// `generate --target probes`.
pub fn render(ctx: &Ctx<'_>) -> Result<Vec<OutFile>> {
    let topo = &ctx.loaded.topology;
    let mut notes = String::new();
    notes.push_str(&format!(
        "ctxfw connectivity probes for topology {}\n\n\
         Run each script on a host of its component after the change; each writes a JSON result\n\
         file. Then: ctxfw verify TOPOLOGY RESULT.json... A refused connection means the path\n\
         is open and nothing listens; a timeout means something drops it.\n\n\
         Not probed by any script:\n",
        topo.name
    ));
    let mut any_note = false;
    // Each component's flows, found in one pass: a scan of every flow per component is
    // quadratic in the topology's size.
    let mut by_source: std::collections::HashMap<&str, Vec<&Flow>> = Default::default();
    for f in ctx.loaded.resolution.flows.iter() {
        by_source.entry(&f.from).or_default().push(f);
    }
    for c in topo.components.values() {
        if ctx.opts.host.as_ref().is_some_and(|h| *h != c.name) {
            continue;
        }
        let Some(flows) = by_source.remove(c.name.as_str()) else {
            continue;
        };
        let platform = platform_of(ctx, &c.kinds);
        let (template, ext) = match platform {
            Some(Platform::Windows) => ("probes.ps1.j2", "ps1"),
            Some(Platform::Linux) => ("probes.sh.j2", "sh"),
            other => {
                let what = match other {
                    Some(Platform::Appliance) => "an appliance: test from its own diagnostics (ping/telnet in the CLI)",
                    Some(Platform::Client) => "user devices: test from a client with Test-NetConnection or the Workspace app",
                    Some(Platform::Internet) => "an internet service",
                    _ => "a host of no single platform",
                };
                for f in &flows {
                    notes.push_str(&format!(
                        "  {} ({} {}): source {} is {what}\n",
                        f.id, f.protocol, f.ports, c.name
                    ));
                }
                any_note = true;
                continue;
            }
        };
        let (probes, skipped) = plan(ctx, &flows);
        for s in &skipped {
            notes.push_str(&format!("  {}: {}\n", s.flow, s.why));
            any_note = true;
        }
        if probes.is_empty() {
            notes.push_str(&format!("  {}: no TCP flow to a host to probe\n", c.name));
            any_note = true;
            continue;
        }
        let name = format!("{}-{}.probes.{ext}", topo.name, c.name);
        let script = Script {
            topology: &topo.name,
            description: &topo.description,
            component: &c.name,
            result_file: format!("{}-{}.probes.json", topo.name, c.name),
            probes,
            skipped,
        };
        ctx.write(&name, |w| ctx.renderer.render_ser_to(template, &script, w))?;
    }
    if !any_note {
        notes.push_str("  (nothing)\n");
    }
    Ok(vec![OutFile {
        name: format!("{}.probes.txt", topo.name),
        content: notes,
    }])
}

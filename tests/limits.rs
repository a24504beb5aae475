//! Input bounds: every input is bounded before it is read, a file outside a catalogue
//! directory is never read through it, and large inputs cost time in proportion to their size.
//!
//! None of these tests is timed: each asserts what the bound does (where the read stops, how
//! many errors are shown, what a hint holds). The sizes of the ones that can only show a cost
//! (a resolve, a diff) are such that the former code, which took time in their square, would
//! run for many minutes.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn ctxfw(args: &[&str]) -> Output {
    Command::new(common::bin())
        .current_dir(common::root())
        .args(args)
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

const ONPREM: &str = "topologies/onprem-cvad.toml";
const MIB: usize = 1024 * 1024;

/// A topology read from a pipe that never ends is refused once one byte past 16 MiB came in:
/// the writer sees the pipe closed long before it has written all it would.
#[test]
fn an_endless_stream_is_read_only_to_the_limit() {
    let mut child = Command::new(common::bin())
        .args(["check", "/dev/stdin"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let chunk = vec![b'#'; 64 * 1024];
        let mut written = 0;
        while written < 64 * MIB {
            match stdin.write(&chunk) {
                Ok(n) => written += n,
                Err(_) => break,
            }
        }
        written
    });
    let out = child.wait_with_output().unwrap();
    let written = writer.join().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("topology /dev/stdin is larger than 16 MiB"),
        "{err}"
    );
    // 16 MiB and one byte read, plus what the pipe holds.
    assert!(written < 17 * MIB, "the writer got {written} bytes in");
}

#[test]
fn a_device_as_topology_is_refused_at_the_limit() {
    let out = ctxfw(&["check", "/dev/zero"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("topology /dev/zero is larger than 16 MiB"),
        "{err}"
    );
}

/// `diff --flows` refuses what is not a JSON object at its first byte, without reading on.
#[test]
fn a_device_as_flows_json_is_refused_at_its_first_byte() {
    let out = ctxfw(&[
        "diff",
        "--flows",
        "/dev/zero",
        "golden/onprem-cvad/flows.json",
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("/dev/zero: not a flows JSON file (it does not start with `{`)"),
        "{err}"
    );
}

/// A catalogue directory holding `files` (name, text).
fn catalogue_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

/// Lines of a password file, to show that no more than the first reaches an error.
const SHADOW: &str = "root:SECRET-HASH-1:19000:0:99999:7:::\ndaemon:SECRET-HASH-2:19000:0:99999:7:::\nbin:SECRET-HASH-3:19000:0:99999:7:::\n";

const SITE_CATALOGUE: &str = "[family]\nid = \"acme\"\ntitle = \"ACME\"\n\n[components.acme-portal]\nname = \"ACME portal\"\nplatform = \"linux\"\n";

/// A catalogue file that links out of its directory is not read: not to a file (a password
/// file's lines never reach the errors), not to a device. A link to a file inside is followed.
#[test]
fn a_catalogue_file_linking_out_of_its_directory_is_refused() {
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("shadow");
    std::fs::write(&secret, SHADOW).unwrap();
    for target in [secret.as_path(), Path::new("/dev/zero")] {
        let dir = catalogue_dir(&[("site.toml", SITE_CATALOGUE)]);
        std::os::unix::fs::symlink(target, dir.path().join("linked.toml")).unwrap();
        let out = ctxfw(&["check", ONPREM, "--catalogue", dir.path().to_str().unwrap()]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{target:?}: {err}");
        assert!(
            err.contains("linked.toml is a link to a file outside the directory"),
            "{err}"
        );
        assert!(!err.contains("SECRET"), "{err}");
    }
    // Inside the directory, a link is followed.
    let dir = catalogue_dir(&[("real.txt", SITE_CATALOGUE)]);
    std::os::unix::fs::symlink("real.txt", dir.path().join("site.toml")).unwrap();
    let out = ctxfw(&[
        "catalogue",
        "acme-portal",
        "--catalogue",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// A pipe in a catalogue directory is refused at once (reading it would wait for a writer).
#[test]
fn a_catalogue_file_that_is_not_a_regular_file_is_refused() {
    let dir = catalogue_dir(&[("site.toml", SITE_CATALOGUE)]);
    let fifo = dir.path().join("pipe.toml");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let out = ctxfw(&["check", ONPREM, "--catalogue", dir.path().to_str().unwrap()]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("pipe.toml is not a regular file"), "{err}");
}

/// A file that is not TOML at all shows its first line only, not an error per line.
#[test]
fn a_file_that_is_not_toml_shows_only_its_first_line() {
    let dir = catalogue_dir(&[("site.toml", SITE_CATALOGUE), ("zz.toml", SHADOW)]);
    let out = ctxfw(&["check", ONPREM, "--catalogue", dir.path().to_str().unwrap()]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("SECRET-HASH-1"), "{err}");
    assert!(
        !err.contains("SECRET-HASH-2") && !err.contains("SECRET-HASH-3"),
        "{err}"
    );
    assert!(err.contains("this does not look like a TOML file"), "{err}");
    // A TOML file with mistakes on several lines still shows each of them.
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("t.toml");
    std::fs::write(
        &t,
        "name = \"t\"\n[zones.a\ncidrs = [\"10.0.0.0/24\"]\n[components.b\n",
    )
    .unwrap();
    let err = stderr(&ctxfw(&["check", t.to_str().unwrap()]));
    assert!(
        err.contains("t.toml:2:") && err.contains("t.toml:4:"),
        "{err}"
    );
}

/// An error on each of 150,000 lines: the first thousand are shown (with their right lines),
/// then how many more there are.
#[test]
fn a_file_with_an_error_on_every_line_shows_a_thousand() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("lines.toml");
    let text: String = (0..150_000).map(|i| format!("k{i} = 1\n")).collect();
    std::fs::write(&p, text).unwrap();
    let out = ctxfw(&["check", p.to_str().unwrap()]);
    let err = stderr(&out);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        &err[err.len().saturating_sub(500)..]
    );
    assert_eq!(err.matches("error: unknown key").count(), 1000);
    assert!(
        err.contains("--> ") && err.contains("lines.toml:1000:1"),
        "{}",
        &err[..500]
    );
    assert!(err.contains("1000 | k999 = 1"));
    // 149,000 more unknown keys, no name, no zones.
    assert!(
        err.contains("error: 149002 more errors and warnings in this file are not shown"),
        "{}",
        &err[err.len().saturating_sub(500)..]
    );
}

/// 900 components in unknown zones among 2,000 long zone names: every error is reported; the
/// first hints name the nearest zone, and once the file's did-you-mean budget is spent the
/// others list the zones instead of comparing each with all of them.
#[test]
fn did_you_mean_work_is_capped_per_file() {
    let mut t = String::from("name = \"z\"\n");
    for i in 0..2000 {
        t.push_str(&format!(
            "[zones.datacenter-frankfurt-production-segment-{i:05}]\ncidrs = [\"10.{}.{}.0/24\"]\n",
            i / 256,
            i % 256
        ));
    }
    for i in 0..900 {
        t.push_str(&format!(
            "[components.c{i}]\nkind = \"vda\"\nzone = \"datacenter-frankfurt-prodution-segment-{i:05}x\"\n"
        ));
    }
    let err = common::parse_str("z.toml", &t).unwrap_err();
    let hints: Vec<&str> = err
        .errors()
        .filter(|d| d.message.starts_with("unknown zone"))
        .map(|d| d.hint.as_deref().unwrap())
        .collect();
    assert_eq!(hints.len(), 900);
    assert_eq!(
        hints[0],
        "did you mean \"datacenter-frankfurt-production-segment-00000\"?"
    );
    assert!(
        hints[899].starts_with("expected one of 2000 names"),
        "{}",
        hints[899]
    );
}

/// A zone of 100,000 networks and a component of 50,000 hosts in it: hosts are looked up in
/// the zone, and a host outside it is told a few of the zone's networks, not all.
#[test]
fn a_zone_of_many_networks_checks_its_hosts_by_lookup() {
    let ip = |i: u32| format!("10.{}.{}.{}", i >> 16 & 255, i >> 8 & 255, i & 255);
    let cidrs: Vec<String> = (0..100_000).map(|i| format!("\"{}/32\"", ip(i))).collect();
    let hosts: Vec<String> = (0..50_000).map(|i| format!("\"{}\"", ip(2 * i))).collect();
    let t = format!(
        "name = \"c\"\n[zones.a]\ncidrs = [{}]\n[components.x]\nkind = \"vda\"\nzone = \"a\"\nhosts = [{}]\n",
        cidrs.join(","),
        hosts.join(",")
    );
    let topo =
        common::parse_str("c.toml", &t).unwrap_or_else(|e| panic!("{}", &e.to_string()[..500]));
    assert_eq!(topo.zones["a"].cidrs.len(), 100_000);
    assert_eq!(topo.components["x"].hosts.as_ref().unwrap().len(), 50_000);
    let outside = t.replace("hosts = [\"10.0.0.0\"", "hosts = [\"10.9.0.0\"");
    let err = common::parse_str("c.toml", &outside).unwrap_err();
    let d = err.errors().next().unwrap();
    assert_eq!(
        d.message,
        "component `x`: host 10.9.0.0/32 is outside its zone `a`"
    );
    assert_eq!(
        d.hint.as_deref().unwrap(),
        "zone `a` holds 10.0.0.0/32, 10.0.0.1/32, 10.0.0.2/32, 10.0.0.3/32, 10.0.0.4/32, 10.0.0.5/32, \
         10.0.0.6/32, 10.0.0.7/32, 99992 more; move the host or the component to the right zone"
    );
    // A network listed twice is found by lookup too.
    let twice = t.replace("cidrs = [\"10.0.0.0/32\"", "cidrs = [\"10.0.0.1/32\"");
    let err = common::parse_str("c.toml", &twice).unwrap_err();
    assert!(err
        .to_string()
        .contains("network 10.0.0.1/32 is listed twice in zone `a`"));
}

/// 100,000 additions between the same two components (every other port, each with its own
/// purpose and reason) and 50,000 removals (15 MB): one flow of 100,000 parts whose ports are
/// their union; each removal found by lookup. Only the time shows the fix here: 140,000
/// additions took 37 s in a release build of the former code, and this takes a debug build of
/// it many minutes.
#[test]
fn many_additions_and_removals_resolve() {
    let mut t = String::from(
        "name = \"a\"\n[zones.a]\ncidrs = [\"10.0.0.0/16\"]\n\
         [components.x]\nkind = \"vda\"\nzone = \"a\"\nhosts = [\"10.0.0.1\"]\n\
         [components.y]\nkind = \"delivery-controller\"\nzone = \"a\"\nhosts = [\"10.0.0.2\"]\n",
    );
    for i in 0..100_000u32 {
        t.push_str(&format!(
            "[[additions]]\nid = \"a{i}\"\nfrom = \"x\"\nto = \"y\"\nprotocol = \"udp\"\nports = [{}]\npurpose = \"p{i}\"\nreason = \"r{i}\"\n",
            2 * (i % 30_000) + 1
        ));
    }
    for i in 0..50_000 {
        t.push_str(&format!(
            "[[removals]]\ncatalogue = \"cvad-vda-ddc-registration\"\nfrom = \"x\"\nreason = \"r{i}\"\n"
        ));
    }
    let (_, r) = common::resolve_str(&t);
    let added: Vec<_> = r
        .flows
        .iter()
        .filter(|f| f.parts.iter().any(|p| p.catalogue.starts_with("site:")))
        .collect();
    assert_eq!(added.len(), 1);
    let f = added[0];
    assert_eq!(f.parts.len(), 100_000);
    assert_eq!(f.ports.ranges().len(), 30_000);
    assert!(f.purpose.starts_with("p0; p1; p2") && f.purpose.ends_with("; p99999"));
    // The first removal is used; the 49,999 repeats match nothing more.
    assert_eq!(
        r.removed
            .iter()
            .filter(|x| x.catalogue == "cvad-vda-ddc-registration")
            .count(),
        1
    );
    assert!(!r.flows.iter().any(|f| f
        .parts
        .iter()
        .any(|p| &*p.catalogue == "cvad-vda-ddc-registration")));
}

/// A diff of 100,000 flows, with flows of 100,000 addresses and 30,000 ports on both sides:
/// flows are matched by id and sets compared in one pass. Only the time shows the fix here (40,000
/// flows took 30 s in a release build of the former code; this takes a debug build of it many
/// minutes).
#[test]
fn a_diff_of_many_flows_matches_them_by_id() {
    use ctxfw::diff::{diff, Entry};
    use ctxfw::flow::{PortRange, PortSet};
    let entry = |i: usize, shift: usize| Entry {
        id: format!("f{i}"),
        from: "a".into(),
        from_zone: "z".into(),
        from_addresses: vec![format!("10.{}.{}.0/24", i / 256 % 256, i % 256)],
        to: "b".into(),
        to_zone: "z".into(),
        to_addresses: vec!["10.255.0.1/32".into()],
        to_fqdns: vec![],
        protocol: "tcp".into(),
        ports: PortSet::from_ranges([
            PortRange::parse(&(1000 + i % 1000 + shift).to_string()).unwrap()
        ]),
        purpose: "p".into(),
    };
    let old: Vec<Entry> = (0..100_000).map(|i| entry(i, 0)).collect();
    let mut new: Vec<Entry> = (1..100_001)
        .map(|i| entry(i, usize::from(i % 2 == 0)))
        .collect();
    // One flow with many addresses and ports on each side.
    let wide = |e: &mut Entry, odd: u32| {
        e.to_addresses = (0..100_000u32)
            .map(|j| 2 * j + odd)
            .map(|k| format!("172.{}.{}.{}/32", 16 + k / 65536, k / 256 % 256, k % 256))
            .collect();
        e.ports =
            PortSet::from_ranges((0..30_000u16).map(|p| PortRange::single(2 * p + odd as u16 + 1)));
    };
    let mut old = old;
    wide(&mut old[7], 0);
    wide(&mut new[6], 1);
    let d = diff("old", &old, "new", &new);
    assert_eq!((d.added.len(), d.removed.len()), (1, 1));
    assert_eq!(d.changed.len(), 50_000);
    let c = d.changed.iter().find(|c| c.id == "f7").unwrap();
    assert_eq!(c.to_addresses_added.len(), 100_000);
    assert_eq!(c.to_addresses_removed.len(), 100_000);
    assert!(c
        .to_addresses_added
        .iter()
        .all(|a| a.parse::<ipnet::IpNet>().is_ok()));
    assert_eq!(c.ports_added.ranges().len(), 30_000);
}

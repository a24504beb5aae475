//! iptables: `iptables-restore --noflush` files, `<topology>.rules` (IPv4) and
//! `<topology>.rules6` (IPv6, when the topology has IPv6 networks).
//!
//! ctxfw owns its chains (`CTXFW-<topology>`, `-in`/`-out` for a host firewall): each load
//! empties and refills them (`:CHAIN - [0:0]` flushes an existing chain under `--noflush`), so
//! re-loading is idempotent and other rules survive. iptables-restore cannot insert a rule only
//! when it is missing, so the jump from the built-in chain is a checked one-liner
//! (`iptables -C ... || iptables -I ...`) printed in the file header and the docs.

use std::io::Write;
use std::sync::Arc;

use anyhow::Result;
use serde::Serialize;

use super::netfilter::{self, short_hash, Family, FwRule, Model};
use crate::flow::{Flow, PortRange, Protocol};
use crate::generate::Ctx;
use crate::output::OutFile;
use crate::plan::{self, Direction, Perspective};

/// Longest chain name iptables accepts.
pub const CHAIN_MAX: usize = 28;
/// Ports one `-m multiport` match takes; a range counts as two.
pub const MULTIPORT_MAX: usize = 15;

/// `CTXFW-<topology><suffix>`, cut to 28 characters; a cut name ends in a hash of the full
/// one so two long topology names do not share chains.
pub fn chain_name(topology: &str, suffix: &str) -> String {
    helper_name(topology, suffix, "")
}

/// The name of a chain that belongs to `chain_name(topology, suffix)`: that name and `extra`,
/// cut the same way; a cut name keeps the hash of its main chain's full name.
pub fn helper_name(topology: &str, suffix: &str, extra: &str) -> String {
    let main = format!("CTXFW-{topology}{suffix}");
    if main.len() + extra.len() <= CHAIN_MAX {
        return format!("{main}{extra}");
    }
    let tag = short_hash(&main);
    let keep = CHAIN_MAX - "CTXFW-".len() - suffix.len() - extra.len() - tag.len() - 1;
    let mut cut = &topology[..keep];
    if !extra.is_empty() {
        cut = cut.trim_end_matches('-');
    }
    format!("CTXFW-{cut}-{tag}{suffix}{extra}")
}

/// Port ranges as multiport chunks: at most 15 ports per chunk, a range counting as two.
pub fn port_chunks(ports: &[PortRange]) -> Vec<Vec<PortRange>> {
    let mut chunks: Vec<Vec<PortRange>> = Vec::new();
    let mut used = 0;
    for p in ports {
        let cost = if p.is_single() { 1 } else { 2 };
        if chunks.is_empty() || used + cost > MULTIPORT_MAX {
            chunks.push(Vec::new());
            used = 0;
        }
        chunks.last_mut().expect("a chunk").push(*p);
        used += cost;
    }
    chunks
}

fn port_str(p: &PortRange) -> String {
    if p.is_single() {
        p.lo.to_string()
    } else {
        format!("{}:{}", p.lo, p.hi)
    }
}

/// Longest word iptables-restore takes: it copies each into a 1,024-byte buffer and refuses a
/// longer one ("Parameter too long!").
pub const PARAM_MAX: usize = 1023;

/// Longest line iptables-restore reads whole: it reads 10,240-byte pieces (the last byte is
/// the string's end), and parses what follows a longer line's first piece as the next line.
/// A `#` comment longer than that would turn its tail into a rule.
pub const LINE_MAX: usize = 10238;

/// Longest `#` line ctxfw writes before continuing on the next: far below [`LINE_MAX`].
pub const NOTE_MAX: usize = 1000;

/// An address list as `-s`/`-d` arguments of at most [`PARAM_MAX`] bytes each.
pub fn address_chunks(addrs: &[String]) -> Vec<String> {
    let mut chunks: Vec<String> = Vec::new();
    for a in addrs {
        match chunks.last_mut() {
            Some(c) if c.len() + 1 + a.len() <= PARAM_MAX => {
                c.push(',');
                c.push_str(a);
            }
            _ => chunks.push(a.clone()),
        }
    }
    chunks
}

/// Text for `#` lines: pieces of at most `max` bytes, cut after a space or comma where
/// there is one in the second half of a piece, else at a character boundary.
pub fn wrap(s: &str, max: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = s;
    while rest.len() > max {
        let mut end = max;
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        if let Some(at) = rest[..end].rfind([' ', ',']) {
            if at >= max / 2 {
                end = at + 1;
            }
        }
        out.push(rest[..end].to_string());
        rest = &rest[end..];
    }
    out.push(rest.to_string());
    out
}

/// Notes as `#` lines of at most [`NOTE_MAX`] bytes; a note that continues is indented.
fn note_lines(notes: Vec<String>) -> Vec<String> {
    let mut out = Vec::with_capacity(notes.len());
    for n in notes {
        for (i, piece) in wrap(&n, NOTE_MAX).into_iter().enumerate() {
            out.push(if i == 0 {
                piece
            } else {
                ["    ", &piece].concat()
            });
        }
    }
    out
}

/// The `-i`/`-o` arguments of a zone firewall's rule: one for every pair of the interfaces
/// facing its zones (none when the topology binds none).
fn interface_args(r: &FwRule) -> Vec<String> {
    let names = |b: &Option<Arc<netfilter::Bound>>| -> Vec<Option<String>> {
        match b {
            Some(b) => b.names.iter().cloned().map(Some).collect(),
            None => vec![None],
        }
    };
    let mut out = Vec::new();
    for i in names(&r.iif) {
        for o in names(&r.oif) {
            let mut a = String::new();
            if let Some(i) = &i {
                a.push_str(" -i ");
                a.push_str(i);
            }
            if let Some(o) = &o {
                a.push_str(" -o ");
                a.push_str(o);
            }
            out.push(a);
        }
    }
    out
}

/// The match part of each line one rule of flow `f` becomes: one per address chunk, port
/// chunk (multiport) and interface pair. An end outside every other zone has no address here:
/// its chain returned the other zones' networks first.
fn matches(r: &FwRule, f: &Flow) -> Vec<String> {
    let side = |flag: &str, not: bool, addrs: &[String]| -> Vec<String> {
        if not {
            return vec![String::new()];
        }
        address_chunks(addrs)
            .into_iter()
            .map(|c| [" ", flag, " ", &c].concat())
            .collect()
    };
    let p = f.protocol.name();
    let protos: Vec<String> = match f.protocol {
        Protocol::Tcp | Protocol::Udp | Protocol::Sctp => port_chunks(f.ports.ranges())
            .iter()
            .map(|chunk| {
                if chunk.len() == 1 {
                    [" -p ", p, " -m ", p, " --dport ", &port_str(&chunk[0])].concat()
                } else {
                    let list: Vec<String> = chunk.iter().map(port_str).collect();
                    [" -p ", p, " -m multiport --dports ", &list.join(",")].concat()
                }
            })
            .collect(),
        Protocol::Icmpv6 => vec![" -p ipv6-icmp".into()],
        _ => vec![[" -p ", p].concat()],
    };
    let mut out = Vec::new();
    for ifs in interface_args(r) {
        for s in side("-s", r.src_not, &r.src) {
            for d in side("-d", r.dst_not, &r.dst) {
                for pr in &protos {
                    let line = [ifs.as_str(), &s, &d, pr].concat();
                    out.push(line.trim_start().to_string());
                }
            }
        }
    }
    out
}

/// One chain in the template: its rules are made template values one at a time.
#[derive(Serialize)]
struct ChainCtx {
    name: String,
    builtin: &'static str,
    loopback: Option<&'static str>,
    rules: minijinja::Value,
    /// Jumps to this chain's helper chains ([`HelperCtx`]): `(chain, comment)`.
    jumps: Vec<(String, String)>,
}

/// A chain for the rules with an end outside every other zone: it first returns the packets
/// whose address is in one of those zones, so its rules leave that end out.
#[derive(Serialize)]
struct HelperCtx {
    name: String,
    about: String,
    /// `-s 10.0.10.0/24` / `-d ...`: the matches that return.
    returns: Vec<String>,
    rules: minijinja::Value,
    jumps: Vec<(String, String)>,
}

#[derive(Serialize)]
struct FileCtx<'a> {
    topology: &'a str,
    description: &'a str,
    /// The description as `#` lines of at most [`NOTE_MAX`] bytes.
    description_lines: Vec<String>,
    host: Option<&'a str>,
    family: Family,
    cmd: &'static str,
    file: String,
    log_drops: bool,
    chains: Vec<ChainCtx>,
    domains: &'a [String],
    helpers: Vec<HelperCtx>,
}

/// A rule of `m` as the template reads it.
fn rule_value(m: &Model, r: &FwRule) -> minijinja::Value {
    #[derive(Serialize)]
    struct RuleCtx<'a> {
        flow: &'a str,
        lines: Vec<String>,
        comment: String,
        notes: Vec<String>,
        repeat: bool,
    }
    let f = m.flow(r);
    minijinja::Value::from_serialize(RuleCtx {
        flow: &f.id,
        lines: matches(r, f),
        comment: netfilter::comment(f),
        notes: note_lines(netfilter::notes(f)),
        repeat: r.repeat,
    })
}

/// Which of a chain's chains a rule goes in: by the ends that are outside every other zone.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Part {
    Plain,
    /// The source is outside (`-xs`).
    Src,
    /// The destination is outside (`-xd`).
    Dst,
    /// Both (`-xsd`, reached from `-xs`).
    Both,
}

impl Part {
    fn of(r: &FwRule) -> Part {
        match (r.src_not, r.dst_not) {
            (false, false) => Part::Plain,
            (true, false) => Part::Src,
            (false, true) => Part::Dst,
            (true, true) => Part::Both,
        }
    }
}

pub fn render(ctx: &Ctx<'_>) -> Result<Vec<OutFile>> {
    let topo = &ctx.loaded.topology;
    let shared = Arc::new(netfilter::model(ctx));
    let m: &netfilter::Model = &shared;
    let host = match ctx.opts.perspective() {
        Perspective::Host(h) => Some(h),
        Perspective::Zone => None,
    };
    let internal = plan::Internal::of(topo);
    for &fam in &m.families {
        let v6 = fam == Family::V6;
        let inside: Vec<String> = internal.nets(v6).iter().map(netfilter::net_str).collect();
        let mut chains: Vec<ChainCtx> = Vec::new();
        let mut helpers: Vec<HelperCtx> = Vec::new();
        for (c, chain) in m.chains.iter().enumerate() {
            let (builtin, suffix, loopback) = match chain.direction {
                Direction::Forward => ("FORWARD", "", None),
                Direction::Inbound => ("INPUT", "-in", Some("-i lo")),
                Direction::Outbound => ("OUTPUT", "-out", Some("-o lo")),
            };
            let name = chain_name(&topo.name, suffix);
            // This chain's rules of this family, by part, by index into the shared model.
            let part = |p: Part| -> Arc<Vec<usize>> {
                (0..chain.rules.len())
                    .filter(|&k| chain.rules[k].family == fam && Part::of(&chain.rules[k]) == p)
                    .collect::<Vec<usize>>()
                    .into()
            };
            let rules = |ks: Arc<Vec<usize>>| {
                let model = shared.clone();
                super::lazy_list(ks.len(), move |i| {
                    rule_value(&model, &model.chains[c].rules[ks[i]])
                })
            };
            let returns = |flag: &str| -> Vec<String> {
                address_chunks(&inside)
                    .into_iter()
                    .map(|a| [flag, " ", &a].concat())
                    .collect()
            };
            let (src, dst, both) = (part(Part::Src), part(Part::Dst), part(Part::Both));
            let mut jumps = Vec::new();
            let xsd = helper_name(&topo.name, suffix, "-xsd");
            if !src.is_empty() || !both.is_empty() {
                let xs = helper_name(&topo.name, suffix, "-xs");
                jumps.push((
                    xs.clone(),
                    "rules from outside the zones (a default route)".to_string(),
                ));
                let mut inner = Vec::new();
                if !both.is_empty() {
                    inner.push((
                        xsd.clone(),
                        "rules from and to outside the zones".to_string(),
                    ));
                }
                helpers.push(HelperCtx {
                    name: xs,
                    about: format!("{builtin} rules whose source is a default route: every address outside the other zones, whose networks return first"),
                    returns: returns("-s"),
                    rules: rules(src),
                    jumps: inner,
                });
            }
            if !dst.is_empty() {
                let xd = helper_name(&topo.name, suffix, "-xd");
                jumps.push((
                    xd.clone(),
                    "rules to outside the zones (a default route)".to_string(),
                ));
                helpers.push(HelperCtx {
                    name: xd,
                    about: format!("{builtin} rules whose destination is a default route: every address outside the other zones, whose networks return first"),
                    returns: returns("-d"),
                    rules: rules(dst),
                    jumps: Vec::new(),
                });
            }
            if !both.is_empty() {
                helpers.push(HelperCtx {
                    name: xsd,
                    about: format!("{builtin} rules from and to a default route (reached from the source chain): destinations in the other zones return first"),
                    returns: returns("-d"),
                    rules: rules(both),
                    jumps: Vec::new(),
                });
            }
            chains.push(ChainCtx {
                name,
                builtin,
                loopback,
                rules: rules(part(Part::Plain)),
                jumps,
            });
        }
        let (cmd, ext) = match fam {
            Family::V4 => ("iptables", "rules"),
            Family::V6 => ("ip6tables", "rules6"),
        };
        let value = FileCtx {
            topology: &topo.name,
            description: &topo.description,
            description_lines: wrap(&topo.description, NOTE_MAX),
            host: host.as_deref(),
            family: fam,
            cmd,
            file: format!("{}.{ext}", topo.name),
            log_drops: ctx.opts.log_drops,
            chains,
            domains: &m.domains,
            helpers,
        };
        let file = format!("{}.{ext}", topo.name);
        ctx.write(&file, |w| {
            let mut lines = LineLimit {
                out: w,
                file: &file,
                run: 0,
                line: 1,
            };
            ctx.renderer
                .render_ser_to("iptables.rules.j2", &value, &mut lines)
        })?;
    }
    Ok(netfilter::domains_file(topo, m).into_iter().collect())
}

/// A writer that refuses a line longer than [`LINE_MAX`] bytes: iptables-restore would read
/// its tail as a line of its own, so a long comment could become a rule. ctxfw's own lines are
/// far shorter; this holds for an overriding template too.
struct LineLimit<'a> {
    out: &'a mut dyn Write,
    file: &'a str,
    /// Bytes of the current line so far.
    run: usize,
    line: usize,
}

impl Write for LineLimit<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut start = 0;
        for end in memchr::memchr_iter(b'\n', buf).chain([buf.len()]) {
            self.run += end - start;
            if self.run > LINE_MAX {
                return Err(std::io::Error::other(format!(
                    "{}: line {} is longer than {LINE_MAX} bytes: iptables-restore would read the rest as another line",
                    self.file, self.line
                )));
            }
            if end < buf.len() {
                self.run = 0;
                self.line += 1;
            }
            start = end + 1;
        }
        self.out.write_all(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_names_fit() {
        assert_eq!(chain_name("onprem-cvad", ""), "CTXFW-onprem-cvad");
        let long = chain_name("a-very-long-topology-name-for-a-site", "-out");
        assert_eq!(long.len(), CHAIN_MAX);
        assert!(long.ends_with("-out"));
        assert_ne!(
            long,
            chain_name("a-very-long-topology-name-for-b-site", "-out")
        );
    }

    #[test]
    fn multiport_counts_ranges_twice() {
        let ports: Vec<PortRange> = (1..=14)
            .map(|p| PortRange::single(p * 10))
            .chain([PortRange { lo: 1000, hi: 2000 }])
            .collect();
        let chunks = port_chunks(&ports);
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[0].len(), 14);
        assert_eq!(chunks[1], vec![PortRange { lo: 1000, hi: 2000 }]);
        let exactly: Vec<PortRange> = (1..=15).map(PortRange::single).collect();
        assert_eq!(port_chunks(&exactly).len(), 1);
    }

    #[test]
    fn address_lists_are_cut_into_words_iptables_restore_takes() {
        let addrs: Vec<String> = (0..1000)
            .map(|i| format!("10.20.{}.{}", i / 100, 2 * (i % 100) + 1))
            .collect();
        let chunks = address_chunks(&addrs);
        assert!(chunks.len() > 10);
        assert!(chunks.iter().all(|c| c.len() <= PARAM_MAX), "{chunks:?}");
        assert_eq!(chunks.join(","), addrs.join(","));
        assert_eq!(address_chunks(&["10.0.0.1".to_string()]), ["10.0.0.1"]);
    }

    #[test]
    fn long_notes_wrap_at_a_character_boundary() {
        let text = format!("{} {}", "\u{1F600}".repeat(700), "a,b ".repeat(400));
        let pieces = wrap(&text, NOTE_MAX);
        assert!(pieces.len() > 3);
        assert!(pieces.iter().all(|p| p.len() <= NOTE_MAX));
        assert_eq!(pieces.concat(), text);
        assert_eq!(wrap("short", NOTE_MAX), ["short"]);
    }

    #[test]
    fn helper_chains_keep_their_main_chains_hash() {
        assert_eq!(
            helper_name("onprem-cvad", "", "-xs"),
            "CTXFW-onprem-cvad-xs"
        );
        let main = chain_name("cloud-resource-locations", "-out");
        let helper = helper_name("cloud-resource-locations", "-out", "-xsd");
        assert!(helper.len() <= CHAIN_MAX, "{helper}");
        let tag = &main[main.len() - "-out".len() - 4..main.len() - "-out".len()];
        assert!(
            helper.ends_with(&format!("{tag}-out-xsd")),
            "{main} {helper}"
        );
    }

    #[test]
    fn a_line_iptables_restore_would_split_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        // Line 1 is 10,238 bytes, line 2 one more (the block's own newline is trimmed).
        std::fs::write(
            dir.path().join("iptables.rules.j2"),
            "# {% for i in range(10236) %}x{% endfor %}\n\n# {% for i in range(10236) %}y{% endfor %}z\n",
        )
        .unwrap();
        let renderer = crate::render::Renderer::new(Some(dir.path())).unwrap();
        let loaded = crate::load(
            std::path::Path::new("tests/fixtures/netfilter-lab.toml"),
            None,
        )
        .expect("fixture loads");
        let ipt = crate::generate::select("iptables").unwrap();
        let err =
            crate::generate::generate(&loaded, &renderer, &Default::default(), &ipt).unwrap_err();
        assert!(
            format!("{err:#}").contains("netfilter-lab.rules: line 2 is longer than 10238 bytes"),
            "{err:#}"
        );
    }
}

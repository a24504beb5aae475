//! Shell completion and man pages, as an engineer installs them: the bash script is loaded by a
//! real bash and asked to complete; the man pages are rendered by groff and man-db, which must
//! not warn.

mod common;

use std::path::Path;
use std::process::Command;

use common::{ctxfw, text};

/// Load `script` into bash, complete the words of `line` (the last one being typed) with the
/// function the script registered for ctxfw, and return the candidates.
fn bash_complete(script: &str, line: &[&str]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ctxfw.bash");
    std::fs::write(&file, script).unwrap();
    let words: Vec<String> = line.iter().map(|w| format!("'{w}'")).collect();
    // As readline calls it: COMP_WORDS/COMP_CWORD set, the registered function called with the
    // command, the word being completed and the previous word.
    let program = format!(
        r#"set -e
source {file}
func=$(complete -p ctxfw | sed -E 's/.*-F ([^ ]+) .*/\1/')
COMP_WORDS=({words})
COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))
COMP_LINE="${{COMP_WORDS[*]}}"
COMP_POINT=${{#COMP_LINE}}
COMP_TYPE=9
"$func" ctxfw "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD-1]}}"
printf '%s\n' "${{COMPREPLY[@]}}"
"#,
        file = file.display(),
        words = words.join(" ")
    );
    let out = Command::new("bash")
        .current_dir(common::root())
        .args(["--norc", "--noprofile", "-c", &program])
        .output()
        .expect("bash runs");
    assert!(out.status.success(), "bash: {}", text(&out.stderr));
    text(&out.stdout)
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

fn bash_available() -> bool {
    common::tools::require("bash completion", &[("bash", "bash")], false)
}

#[test]
fn the_bash_script_completes_commands_targets_and_topology_names() {
    if !bash_available() {
        return;
    }
    let out = ctxfw(&["completions", "bash"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let script = text(&out.stdout);
    // The script calls back the binary that printed it.
    assert!(
        script.contains(&common::bin().display().to_string()),
        "{script}"
    );
    let got = bash_complete(&script, &["ctxfw", "gen"]);
    assert_eq!(got, ["generate"]);
    let got = bash_complete(&script, &["ctxfw", "c"]);
    for c in ["check", "catalogue", "completions"] {
        assert!(got.iter().any(|g| g == c), "{c} in {got:?}");
    }
    let got = bash_complete(
        &script,
        &[
            "ctxfw",
            "generate",
            "topologies/onprem-cvad.toml",
            "--target",
            "nf",
        ],
    );
    assert_eq!(got, ["nftables"]);
    // Names from the topology on the command line.
    let got = bash_complete(
        &script,
        &[
            "ctxfw",
            "generate",
            "topologies/onprem-cvad.toml",
            "--host",
            "s",
        ],
    );
    assert_eq!(got, ["storefront", "sql"], "{got:?}");
    let got = bash_complete(
        &script,
        &[
            "ctxfw",
            "explain",
            "topologies/onprem-cvad.toml",
            "--from",
            "netscaler.",
        ],
    );
    assert_eq!(
        got,
        ["netscaler.vip", "netscaler.snip", "netscaler.nsip"],
        "{got:?}"
    );
    let got = bash_complete(
        &script,
        &[
            "ctxfw",
            "explain",
            "topologies/onprem-cvad.toml",
            "--to",
            "inter",
        ],
    );
    assert_eq!(got, ["internet"], "{got:?}");
}

#[test]
fn the_static_bash_script_completes_without_calling_ctxfw() {
    if !bash_available() {
        return;
    }
    let out = ctxfw(&["completions", "bash", "--static"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let script = text(&out.stdout);
    assert!(!script.contains("CTXFW_COMPLETE"), "{script}");
    assert_eq!(bash_complete(&script, &["ctxfw", "expl"]), ["explain"]);
    let got = bash_complete(&script, &["ctxfw", "generate", "x.toml", "--target", "a"]);
    for t in ["aws", "azure", "aerleon", "all"] {
        assert!(got.iter().any(|g| g == t), "{t} in {got:?}");
    }
}

#[test]
fn every_shell_gets_a_script() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        for extra in [None, Some("--static")] {
            let mut args = vec!["completions", shell];
            args.extend(extra);
            let out = ctxfw(&args);
            assert_eq!(
                out.status.code(),
                Some(0),
                "{args:?}: {}",
                text(&out.stderr)
            );
            assert!(text(&out.stdout).contains("ctxfw"), "{args:?}");
        }
    }
    assert_eq!(ctxfw(&["completions", "tcsh"]).status.code(), Some(64));
}

/// The warnings groff prints for a page (all warnings on), or a skip.
fn groff_warnings(page: &Path) -> Option<String> {
    if !common::tools::require(
        "man pages",
        &[("groff", "groff-base"), ("man", "man-db")],
        false,
    ) {
        return None;
    }
    let out = Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-z"])
        .arg(page)
        .output()
        .expect("groff runs");
    assert!(out.status.success(), "groff: {}", text(&out.stderr));
    Some(text(&out.stderr))
}

#[test]
fn man_pages_render_without_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let commands = [
        "",
        "check",
        "flows",
        "generate",
        "diff",
        "explain",
        "catalogue",
        "completions",
        "man",
    ];
    for c in commands {
        let args: Vec<&str> = ["man"]
            .into_iter()
            .chain((!c.is_empty()).then_some(c))
            .collect();
        let out = ctxfw(&args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            text(&out.stderr)
        );
        let roff = text(&out.stdout);
        let name = if c.is_empty() {
            "ctxfw".to_string()
        } else {
            format!("ctxfw-{c}")
        };
        assert!(roff.starts_with(".ie"), "{name}: {roff}");
        assert!(roff.contains(&format!(".TH {name} 1")), "{name}: {roff}");
        let page = dir.path().join(format!("{name}.1"));
        std::fs::write(&page, &roff).unwrap();
        let Some(warnings) = groff_warnings(&page) else {
            return;
        };
        assert_eq!(warnings, "", "{name}: groff warns");
        // man -l as a reader opens it: the options are there.
        let out = Command::new("man")
            .arg("-l")
            .arg(&page)
            .env("MANPAGER", "cat")
            .env("MANWIDTH", "100")
            .output()
            .expect("man runs");
        let shown = text(&out.stdout);
        assert!(out.status.success(), "man -l {name}: {}", text(&out.stderr));
        assert_eq!(text(&out.stderr), "", "man -l {name} warns");
        assert!(shown.contains("--catalogue"), "{name}: {shown}");
    }
    let out = ctxfw(&["man", "generat"]);
    assert_eq!(out.status.code(), Some(64));
    assert!(text(&out.stderr).contains("did you mean \"generate\"?"));
}

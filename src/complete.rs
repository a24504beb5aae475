//! Shell completion and man pages, made from the command line's clap definitions.
//!
//! `ctxfw completions SHELL` prints a registration script for clap_complete's dynamic
//! completion (`CompleteEnv`, behind its `unstable-dynamic` feature): at each Tab the shell
//! asks ctxfw itself, so targets come from the target registry and `--host`, `explain
//! --from/--to` complete the component, interface and zone names of the topology named on the
//! same command line. clap's completers see only the word being completed (clap issue 5784), so
//! the topology is found among the words the shell passes (`std::env::args_os`). `--static`
//! prints clap_complete's self-contained script instead: commands, options, targets and file
//! names, without a call back.

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::path::{Path, PathBuf};

use clap::builder::{PossibleValue, TypedValueParser};
use clap_complete::engine::CompletionCandidate;
use clap_complete::env::EnvCompleter;

/// The environment variable that turns a ctxfw run into a completion request (the scripts set
/// it); a name of its own so that an unrelated `COMPLETE` in a user's environment is ignored.
pub const ENV_VAR: &str = "CTXFW_COMPLETE";

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
    Powershell,
    Elvish,
}

/// Answer a completion request when the shell made one (the process then exits); otherwise
/// return at once. Call it first thing in `main`, before anything is printed.
pub fn answer(cmd: fn() -> clap::Command) {
    clap_complete::CompleteEnv::with_factory(cmd)
        .var(ENV_VAR)
        .complete();
}

/// The completion script for `shell`: dynamic unless `static_script`. `completer` is the
/// program the dynamic script calls: as the user ran ctxfw (a bare name found on `PATH`, or the
/// path they typed, made absolute so the script works from any directory).
pub fn script(
    shell: Shell,
    static_script: bool,
    cmd: &mut clap::Command,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let name = cmd.get_name().to_string();
    if static_script {
        use clap_complete::aot;
        match shell {
            Shell::Bash => aot::generate(aot::Bash, cmd, name, out),
            Shell::Zsh => aot::generate(aot::Zsh, cmd, name, out),
            Shell::Fish => aot::generate(aot::Fish, cmd, name, out),
            Shell::Powershell => aot::generate(aot::PowerShell, cmd, name, out),
            Shell::Elvish => aot::generate(aot::Elvish, cmd, name, out),
        }
        return Ok(());
    }
    let completer = completer_path();
    let completer = completer.to_string_lossy();
    let shell: &dyn EnvCompleter = match shell {
        Shell::Bash => &clap_complete::env::Bash,
        Shell::Zsh => &clap_complete::env::Zsh,
        Shell::Fish => &clap_complete::env::Fish,
        Shell::Powershell => &clap_complete::env::Powershell,
        Shell::Elvish => &clap_complete::env::Elvish,
    };
    shell.write_registration(ENV_VAR, &name, &name, &completer, out)
}

fn completer_path() -> PathBuf {
    let argv0 = PathBuf::from(std::env::args_os().next().unwrap_or_else(|| "ctxfw".into()));
    if argv0.components().count() > 1 {
        if let Ok(dir) = std::env::current_dir() {
            return dir.join(argv0);
        }
    }
    argv0
}

/// The man page (roff) of ctxfw, or of one of its commands (`ctxfw-generate(1)`); `None` when
/// there is no such command.
pub fn man(cmd: clap::Command, command: Option<&str>, out: &mut dyn Write) -> Option<()> {
    let mut cmd = cmd.disable_help_subcommand(true);
    // Built, the commands carry the global options and their full names (`ctxfw-generate`).
    cmd.build();
    let page = match command {
        None => cmd,
        Some(c) => cmd
            .get_subcommands()
            .find(|s| s.get_name() == c && !s.is_hide_set())?
            .clone(),
    };
    clap_mangen::Man::new(page).render(out).ok()
}

/// `--target`: any word (an unknown one is refused with ctxfw's own usage error and hint), with
/// the registry's targets and `all` as its possible values, so `--help` lists them with what
/// each writes and every completion script offers them.
#[derive(Clone)]
pub struct TargetName;

impl TypedValueParser for TargetName {
    type Value = String;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<String, clap::Error> {
        clap::builder::StringValueParser::new().parse_ref(cmd, arg, value)
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(
            crate::generate::TARGETS
                .iter()
                .map(|t| PossibleValue::new(t.name).help(t.about))
                .chain([PossibleValue::new("all").help("every target above")]),
        ))
    }
}

/// The topology named on the command line being completed: the first word after the command
/// that names an existing `.toml` file and is not the value of an option taking a directory.
fn topology_on_command_line() -> Option<PathBuf> {
    let words: Vec<OsString> = std::env::args_os().collect();
    // A completion request is `COMPLETER -- ctxfw WORDS...`.
    let start = words.iter().position(|w| w == "--")? + 2;
    let mut previous: Option<&OsStr> = None;
    for w in words.get(start..)? {
        let after_dir_option = previous.is_some_and(|p| {
            p == "--catalogue" || p == "--templates" || p == "--out" || p == "--flows"
        });
        let p = Path::new(w);
        if !after_dir_option && p.extension().is_some_and(|e| e == "toml") && p.is_file() {
            return Some(p.to_path_buf());
        }
        previous = Some(w);
    }
    None
}

/// Names in the topology's `[components]` (with `name.interface` for each interface when
/// `interfaces`) and, with `zones`, its `[zones]`. Read as plain TOML, without validating: a
/// topology half-way through an edit still completes.
fn topology_names(interfaces: bool, zones: bool) -> Vec<(String, &'static str)> {
    let Some(path) = topology_on_command_line() else {
        return Vec::new();
    };
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    let Ok(doc) = text.parse::<toml::Table>() else {
        return Vec::new();
    };
    let mut names = Vec::new();
    if let Some(comps) = doc.get("components").and_then(|c| c.as_table()) {
        for (name, c) in comps {
            names.push((name.clone(), "component"));
            if !interfaces {
                continue;
            }
            if let Some(ifs) = c.get("interfaces").and_then(|i| i.as_table()) {
                for role in ifs.keys() {
                    names.push((format!("{name}.{role}"), "interface"));
                }
            }
        }
    }
    if zones {
        if let Some(z) = doc.get("zones").and_then(|z| z.as_table()) {
            names.extend(z.keys().map(|n| (n.clone(), "zone")));
        }
    }
    names
}

fn candidates(current: &OsStr, names: Vec<(String, &'static str)>) -> Vec<CompletionCandidate> {
    let current = current.to_string_lossy();
    names
        .into_iter()
        .filter(|(n, _)| n.starts_with(current.as_ref()))
        .map(|(n, what)| CompletionCandidate::new(n).help(Some(what.into())))
        .collect()
}

/// `--host`: the topology's components.
pub fn components(current: &OsStr) -> Vec<CompletionCandidate> {
    candidates(current, topology_names(false, false))
}

/// `explain --from/--to`: components, their interfaces and the zones.
pub fn ends(current: &OsStr) -> Vec<CompletionCandidate> {
    candidates(current, topology_names(true, true))
}

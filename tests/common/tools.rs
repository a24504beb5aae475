//! Tests that need an outside program (nft, iptables, the Python validators, pre-commit...):
//! found, or skipped where everyone sees it, or failed under CI, which installs them all.

use std::io::Write as _;
use std::path::Path;
use std::process::Command;

/// Whether this run is CI (`CI=true`, as .ci/run is run): a missing tool is then a failure.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// The test cannot run here (`what` needs `why`). Under CI it fails; elsewhere it says so in
/// one line on the terminal, with the test's name: written to the process's standard error
/// directly, because the test harness captures only the print macros, so `cargo test` shows
/// the skip instead of a bare "ok".
pub fn skip(what: &str, why: &str) {
    let test = std::thread::current().name().unwrap_or("test").to_string();
    let msg = format!("{test} ({what}): {why}");
    if in_ci() {
        panic!("{msg}; CI must run it (.ci/run installs it)");
    }
    let _ = writeln!(std::io::stderr(), "SKIPPED {msg}");
}

/// A program on `PATH` or in the sbin directories (where Debian puts nft and iptables).
pub fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false)
        || ["/usr/sbin", "/sbin"]
            .iter()
            .any(|d| Path::new(d).join(tool).is_file())
}

pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Whether every `(program, Debian package)` is installed and, with `root`, the tests run as
/// root (network namespaces); when not, [`skip`] with what is missing.
pub fn require(test: &str, tools: &[(&str, &str)], root: bool) -> bool {
    let mut why: Vec<String> = tools
        .iter()
        .filter(|(t, _)| !on_path(t))
        .map(|(t, p)| format!("{t} (apt-get install {p})"))
        .collect();
    if root && !is_root() {
        why.push("root (network namespaces)".into());
    }
    if why.is_empty() {
        return true;
    }
    skip(
        test,
        &format!("not installed or not available: {}", why.join(", ")),
    );
    false
}

/// The Python that has the test packages: `CTXFW_PYTHON` (set by .ci/run), else `.venv/` in
/// the repository, when it imports every module of `imports`; else [`skip`] naming `install`.
pub fn python(test: &str, imports: &str, install: &str) -> Option<std::path::PathBuf> {
    let p = std::env::var_os("CTXFW_PYTHON")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| super::root().join(".venv/bin/python"));
    let why = match Command::new(&p)
        .args(["-c", &format!("import {imports}")])
        .output()
    {
        Ok(o) if o.status.success() => return Some(p),
        Ok(o) => String::from_utf8_lossy(&o.stderr)
            .lines()
            .last()
            .unwrap_or_default()
            .to_string(),
        Err(e) => format!("{}: {e}", p.display()),
    };
    skip(
        test,
        &format!(
            "Python packages missing: {imports}: {why} (run .ci/run, or: python3 -m venv .venv \
             && .venv/bin/pip install {install})"
        ),
    );
    None
}

/// Headless Chromium (Debian's `chromium`), for tests that look at a page as a browser lays it
/// out; `None` (a skip, or a failure under CI) when it is not installed.
pub fn chromium(test: &str) -> Option<std::path::PathBuf> {
    for name in ["chromium", "chromium-browser"] {
        if on_path(name) {
            return Some(std::path::PathBuf::from(name));
        }
    }
    require(test, &[("chromium", "chromium")], false);
    None
}

/// The page `html` after its scripts ran, as headless Chromium serialises it (`--dump-dom`),
/// in a fresh profile and without any network use.
pub fn chromium_dom(browser: &Path, html: &Path, width: u32) -> String {
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--run-all-compositor-stages-before-draw",
            "--virtual-time-budget=5000",
            &format!("--window-size={width},1000"),
            &format!("--user-data-dir={}", profile.path().display()),
            "--dump-dom",
        ])
        .arg(format!("file://{}", html.display()))
        .output()
        .expect("chromium runs");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

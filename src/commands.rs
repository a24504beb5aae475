//! What each command does with its arguments: call the library, print its product, return the
//! exit code. Part of the binary (`main.rs`), not of the library.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::CommandFactory;
use ctxfw::catalogue::Catalogue;
use ctxfw::exit;
use ctxfw::generate::{Options, Target, UsageError};
use ctxfw::render::nftables::Layout;
use ctxfw::render::{self, Renderer};
use ctxfw::{term, Loaded};

use crate::cli::{
    AuditArgs, CatalogueArgs, CheckArgs, Cli, CompletionsArgs, DiffArgs, DiffFormat, ExplainArgs,
    FlowFormat, FlowsArgs, GenerateArgs, ManArgs, NftLayout, TextOrJson, VerifyArgs,
};

pub fn check(a: CheckArgs, cat_dir: Option<&Path>) -> Result<u8> {
    use ctxfw::report::{self, Format};
    let mut checked = Vec::new();
    let mut code = exit::OK;
    for file in &a.files {
        let c = report::Checked::new(file.display().to_string(), ctxfw::load(file, cat_dir));
        code = code.max(c.exit_code(a.deny_warnings));
        if a.format == Format::Text {
            let text = c.text(term::quiet());
            if c.summary.is_some() {
                term::note(&text);
            } else {
                term::error(&text);
            }
        }
        checked.push(c);
    }
    match a.format {
        Format::Text => {}
        Format::Json => stdout(&report::json(&checked))?,
        Format::Sarif => stdout(&ctxfw::sarif::sarif(&checked))?,
        Format::Github => stdout(&report::github(&checked))?,
    }
    Ok(code)
}

pub fn flows(a: FlowsArgs, cat_dir: Option<&Path>) -> Result<u8> {
    let loaded = ctxfw::load(&a.file, cat_dir)?;
    print_warnings(&loaded.warnings);
    let (t, r) = (&loaded.topology, &loaded.resolution);
    let text = match a.format {
        FlowFormat::Table => term::visible(&render::flows::table(r)).into_owned(),
        FlowFormat::Json => render::flows::json_text(t, r),
        FlowFormat::Csv => render::flows::csv(r),
        FlowFormat::Markdown => {
            render::flows::markdown(&Renderer::new(a.templates.as_deref())?, t, r)?
        }
    };
    match a.out.filter(|p| !ctxfw::stdio::is_std(p)) {
        Some(path) => ctxfw::output::write_one(&path, &text)?,
        None => stdout(&text)?,
    }
    Ok(exit::OK)
}

/// What `generate` works from, whatever it does with the files.
struct Generation {
    loaded: Loaded,
    renderer: Renderer,
    opts: Options,
    targets: Vec<&'static Target>,
}

pub fn generate(mut a: GenerateArgs, cat_dir: Option<&Path>) -> Result<u8> {
    // `--out -` is standard output, as no --out (but --check needs a directory).
    let out = a.out.take().filter(|p| a.check || !ctxfw::stdio::is_std(p));
    let targets = ctxfw::generate::select(&a.target)?;
    let loaded = ctxfw::load(&a.file, cat_dir)?;
    print_warnings(&loaded.warnings);
    let renderer = Renderer::new(a.templates.as_deref())?;
    let previous = match &a.previous {
        Some(p) => {
            let old = ctxfw::load(p, cat_dir)?;
            Some(std::sync::Arc::new(ctxfw::review::Previous {
                name: p.display().to_string(),
                doc: render::flows::json(&old.topology, &old.resolution),
            }))
        }
        None => None,
    };
    let opts = Options {
        host: a.host.clone(),
        log_drops: a.log_drops,
        counters: a.counters,
        outbound: a.outbound,
        nft_layout: match a.nft_layout {
            NftLayout::Auto => Layout::Auto,
            NftLayout::Sets => Layout::Sets,
            NftLayout::Concat => Layout::Concat,
        },
        group: a.group,
        previous,
    };
    let g = Generation {
        loaded,
        renderer,
        opts,
        targets,
    };
    match out {
        Some(dir) if a.check => up_to_date(&a, &g, &dir),
        Some(dir) => write_dir(&a, &g, &dir),
        None => print_one(&a, &g),
    }
}

/// `--check`: compare with the files in `dir`, write nothing.
fn up_to_date(a: &GenerateArgs, g: &Generation, dir: &Path) -> Result<u8> {
    if ctxfw::stdio::is_std(dir) {
        return Err(UsageError(
            "--check compares with the files in --out DIR; give a directory, not -".into(),
        )
        .into());
    }
    let generated = ctxfw::generate::generate_all(&g.loaded, &g.renderer, &g.opts, &g.targets)?;
    print_warnings(&generated.warnings);
    term::note(&skipped_note(&generated.skipped));
    let files = generated
        .files
        .iter()
        .map(|f| (f.name.as_str(), f.content.as_bytes()))
        .chain(
            generated
                .binary
                .iter()
                .map(|f| (f.name.as_str(), &f.bytes[..])),
        );
    let stale = ctxfw::uptodate::stale(dir, files)?;
    if stale.is_empty() {
        term::note(&format!(
            "{}: {} files in {} are up to date\n",
            a.file.display(),
            generated.files.len(),
            dir.display()
        ));
        return Ok(exit::OK);
    }
    let list: String = stale.iter().map(|s| format!("{s}\n")).collect();
    term::error(&format!(
        "{list}error: {} of {} files in {} are not what ctxfw generates\n  = hint: regenerate: ctxfw generate {} --target {} --out {}\n",
        stale.len(),
        generated.files.len() + generated.binary.len(),
        dir.display(),
        a.file.display(),
        a.target,
        dir.display()
    ));
    Ok(exit::FINDINGS)
}

/// `--out DIR`: every file written into its staged file as its target renders it; all are
/// renamed into place at the end, or none when anything fails (the stage cleans up).
fn write_dir(a: &GenerateArgs, g: &Generation, dir: &Path) -> Result<u8> {
    let stage = ctxfw::output::Stage::new(dir)?;
    let done = ctxfw::generate::generate_into(&g.loaded, &g.renderer, &g.opts, &g.targets, &stage)?;
    print_warnings(&done.warnings);
    if stage.is_empty() {
        return Ok(nothing_to_write(&a.file, &a.target, false));
    }
    // Targets finish in any order: files are listed and counted in target order.
    let mut written: Vec<(PathBuf, (usize, usize))> = stage
        .commit()?
        .into_iter()
        .map(|p| {
            let name = p.strip_prefix(dir).unwrap_or(&p);
            let place = done.place(&name.to_string_lossy());
            (p, place)
        })
        .collect();
    written.sort_by_key(|(_, place)| *place);
    let mut text = String::new();
    if a.verbose {
        for (p, _) in &written {
            text.push_str(&format!("wrote {}\n", p.display()));
        }
    }
    let mut per_target: Vec<(&str, usize)> = Vec::new();
    for (_, (t, _)) in &written {
        let name = g.targets.get(*t).map_or("?", |t| t.name);
        match per_target.last_mut() {
            Some((n, count)) if *n == name => *count += 1,
            _ => per_target.push((name, 1)),
        }
    }
    let counts: Vec<String> = per_target
        .iter()
        .map(|(n, c)| format!("{n} {}", ctxfw::diag::thousands(*c)))
        .collect();
    text.push_str(&format!(
        "wrote {} file{} to {}: {}\n",
        ctxfw::diag::thousands(written.len()),
        if written.len() == 1 { "" } else { "s" },
        dir.display(),
        counts.join(", ")
    ));
    text.push_str(&skipped_note(&done.skipped_targets(&g.targets)));
    term::note(&text);
    Ok(exit::OK)
}

/// No `--out` (or `--out -`): a target's one file on standard output.
fn print_one(a: &GenerateArgs, g: &Generation) -> Result<u8> {
    let generated = ctxfw::generate::generate_all(&g.loaded, &g.renderer, &g.opts, &g.targets)?;
    print_warnings(&generated.warnings);
    let files = generated.files;
    if files.is_empty() {
        return Ok(nothing_to_write(&a.file, &a.target, true));
    }
    if let Some(one) = ctxfw::stdio::one_file(&files) {
        stdout(&one.content)?;
        return Ok(exit::OK);
    }
    let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
    term::error(&format!(
        "error: target `{target}` writes {} files ({}); standard output takes one\n  = hint: write them all into a directory: ctxfw generate {} --target {target} --out out/\n",
        names.len(),
        names.join(", "),
        a.file.display(),
        target = a.target,
    ));
    Ok(exit::USAGE)
}

pub fn diff(a: DiffArgs, cat_dir: Option<&Path>) -> Result<u8> {
    // The catalogue says which parameters each entry reads: the one the topologies were
    // resolved with, or for flows files the embedded one (and --catalogue DIR).
    let mut cat: Option<Catalogue> = None;
    let mut side = |p: &Path| -> Result<serde_json::Value> {
        if a.flows {
            return ctxfw::diff::read_flows_json(p);
        }
        let loaded = ctxfw::load(p, cat_dir)?;
        let doc = render::flows::json(&loaded.topology, &loaded.resolution);
        cat = Some(loaded.catalogue);
        Ok(doc)
    };
    let (old, new) = (side(&a.old)?, side(&a.new)?);
    if cat.is_none() {
        cat = Catalogue::load(cat_dir).ok();
    }
    let d = ctxfw::diff::cause::diff_docs(
        &a.old.display().to_string(),
        &old,
        &a.new.display().to_string(),
        &new,
        cat.as_ref(),
    )?;
    let text = match a.format {
        DiffFormat::Table => term::visible(&ctxfw::diff::table(&d)).into_owned(),
        DiffFormat::Json => ctxfw::diff::json_text(&d),
        DiffFormat::Markdown => {
            Renderer::new(None)?.render("diff.md.j2", &ctxfw::diff::context(&d))?
        }
    };
    stdout(&text)?;
    Ok(findings_if(!d.is_empty()))
}

pub fn explain(a: ExplainArgs, cat_dir: Option<&Path>) -> Result<u8> {
    let loaded = ctxfw::load(&a.file, cat_dir)?;
    let t = &loaded.topology;
    let q = ctxfw::explain::Query {
        topology: t,
        from: ctxfw::explain::parse_end(&a.from, t, false)?,
        to: ctxfw::explain::parse_end(&a.to, t, true)?,
        port: a
            .port
            .as_deref()
            .map(ctxfw::explain::parse_port)
            .transpose()?,
    };
    let answer = ctxfw::explain::explain(&loaded.resolution.flows, &q);
    stdout(&match a.format {
        TextOrJson::Text => term::visible(&ctxfw::explain::text(&q, &answer)).into_owned(),
        TextOrJson::Json => ctxfw::explain::json(&q, &answer),
    })?;
    Ok(findings_if(answer.allowed.is_empty()))
}

pub fn audit(a: AuditArgs, cat_dir: Option<&Path>) -> Result<u8> {
    use ctxfw::audit::report;
    let loaded = ctxfw::load(&a.file, cat_dir)?;
    print_warnings(&loaded.warnings);
    let r = ctxfw::audit::run(
        &loaded,
        &a.rulesets,
        a.ruleset_format.as_deref(),
        a.host,
        &a.interfaces,
        &a.binds,
    )?;
    stdout(&match a.format {
        DiffFormat::Table => term::visible(&report::table(&r)).into_owned(),
        DiffFormat::Json => report::json(&r),
        DiffFormat::Markdown => report::markdown(&r),
    })?;
    Ok(findings_if(r.has_findings()))
}

pub fn verify(a: VerifyArgs, cat_dir: Option<&Path>) -> Result<u8> {
    use ctxfw::audit::verify;
    let loaded = ctxfw::load(&a.file, cat_dir)?;
    print_warnings(&loaded.warnings);
    let v = verify::verify(&loaded, &a.results)?;
    stdout(&match a.format {
        DiffFormat::Table => term::visible(&verify::table(&v)).into_owned(),
        DiffFormat::Json => verify::json(&v),
        DiffFormat::Markdown => verify::markdown(&v),
    })?;
    Ok(findings_if(v.has_findings()))
}

pub fn catalogue(a: CatalogueArgs, cat_dir: Option<&Path>) -> Result<u8> {
    use render::catalogue as show;
    let cat = Catalogue::load(cat_dir)?;
    let json = a.format == TextOrJson::Json;
    let text = if let Some(word) = a.search {
        let found = if json {
            let text = show::search_json(&cat, &word);
            (!ctxfw::suggest::kinds(&cat, &word, true).is_empty()).then_some(text)
        } else {
            show::search(&cat, &word)
        };
        let Some(text) = found else {
            if json {
                stdout("[]\n")?;
            }
            term::note(&format!(
                "no kind matches `{word}`; `ctxfw catalogue` lists them all\n"
            ));
            return Ok(exit::FINDINGS);
        };
        text
    } else if a.parameters {
        if json {
            show::parameters_json(&cat)
        } else {
            show::parameters(&cat)
        }
    } else if let Some(k) = a.kind {
        let Some(id) = kind_id(&cat, &k) else {
            return Ok(exit::USAGE);
        };
        let shown = if json {
            show::kind_json_text(&cat, &id)
        } else {
            show::kind(&cat, &id)
        };
        shown.expect("the kind exists")
    } else if json {
        show::overview_json(&cat)
    } else {
        show::overview(&cat)
    };
    // Tables for people show what a terminal would obey as escapes; JSON keeps its own.
    stdout(&if json {
        text
    } else {
        term::visible(&text).into_owned()
    })?;
    Ok(exit::OK)
}

/// The kind `k` names: its id, or the kind it is exactly one other name for (said); `None`,
/// with the error printed, when it names none.
fn kind_id(cat: &Catalogue, k: &str) -> Option<String> {
    if cat.kind(k).is_some() {
        return Some(k.to_string());
    }
    match ctxfw::suggest::kinds(cat, k, false)
        .iter()
        .filter(|(_, why)| *why == ctxfw::suggest::Why::Alias)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [(found, _)] => {
            term::note(&format!("`{k}` is another name for `{}`\n", found.id));
            Some(found.id.clone())
        }
        _ => {
            let hint = ctxfw::suggest::kind_hint(cat, k);
            term::error(&format!(
                "error: unknown component kind `{k}`\n  = hint: {hint}\n"
            ));
            None
        }
    }
}

pub fn completions(a: CompletionsArgs) -> Result<u8> {
    let mut script = Vec::new();
    ctxfw::complete::script(a.shell, a.static_script, &mut Cli::command(), &mut script)
        .context("writing the completion script")?;
    stdout(&String::from_utf8_lossy(&script))?;
    Ok(exit::OK)
}

pub fn man(a: ManArgs) -> Result<u8> {
    let mut page = Vec::new();
    if ctxfw::complete::man(Cli::command(), a.command.as_deref(), &mut page).is_none() {
        let names: Vec<String> = Cli::command()
            .get_subcommands()
            .map(|c| c.get_name().to_string())
            .collect();
        let command = a.command.unwrap_or_default();
        return Err(UsageError(format!(
            "no command `{command}`; {}",
            ctxfw::diag::choice_hint(&command, names.iter().map(String::as_str))
        ))
        .into());
    }
    stdout(&String::from_utf8_lossy(&page))?;
    Ok(exit::OK)
}

/// Exit 1 when a command found what it looks for (differences, blocked flows), else 0.
fn findings_if(found: bool) -> u8 {
    if found {
        exit::FINDINGS
    } else {
        exit::OK
    }
}

/// A target with no file for this topology (`--target windows` without a Windows component):
/// said, and not an error (an empty `> file` the shell made is removed).
fn nothing_to_write(file: &Path, target: &str, stdout: bool) -> u8 {
    term::note(&format!(
        "{}: target `{target}` has nothing to write for this topology; nothing was written\n",
        file.display()
    ));
    if stdout {
        removed_empty_stdout();
    }
    exit::OK
}

/// The targets `--target all` skipped, and why: one line each.
fn skipped_note(skipped: &[(&str, String)]) -> String {
    skipped
        .iter()
        .map(|(t, why)| format!("skipped {t}: {why}\n"))
        .collect()
}

pub fn removed_empty_stdout() {
    if let Some(p) = ctxfw::stdio::remove_empty_stdout_file() {
        term::note(&format!(
            "removed {}: standard output was redirected to it, and nothing was printed\n",
            p.display()
        ));
    }
}

/// Every warning in one write: thousands of diagnostics printed piece by piece (an unbuffered
/// write each) took most of the time of reporting them.
fn print_warnings(warnings: &[ctxfw::diag::Diagnostic]) {
    let text: String = warnings.iter().map(|w| format!("{w}\n")).collect();
    term::note(&text);
}

fn stdout(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .context("writing to standard output")?;
    out.flush().context("writing to standard output")
}

//! The command line: parse arguments, call the library, map errors to exit codes. The
//! arguments are in `cli.rs`, what each command does in `commands.rs`.

#![forbid(unsafe_code)]

use std::process::ExitCode;

use anyhow::Result;
use clap::{CommandFactory, FromArgMatches};

use ctxfw::diag::Invalid;
use ctxfw::exit;
use ctxfw::term;

mod cli;
mod commands;

use cli::{Cli, Command};

// Faster than glibc's malloc for many small strings on two threads, and smaller at its peak
// (Cargo.toml says why, BENCHMARKS.md by how much).
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    // A Tab in a shell with ctxfw's completion script: answered, and the process ends.
    ctxfw::complete::answer(Cli::command);
    let color = term::Color::from_args(std::env::args_os());
    let parsed = Cli::command()
        .color(match color {
            term::Color::Auto => clap::ColorChoice::Auto,
            term::Color::Always => clap::ColorChoice::Always,
            term::Color::Never => clap::ColorChoice::Never,
        })
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m));
    let cli = match parsed {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    term::setup(cli.color, cli.quiet);
    let prints_product = cli.command.prints_product();
    let code = match run(cli) {
        Ok(code) => code,
        Err(e) => error_code(&e),
    };
    if code >= exit::INVALID && prints_product {
        commands::removed_empty_stdout();
    }
    ExitCode::from(code)
}

/// Print a failed command's error; its exit code.
fn error_code(e: &anyhow::Error) -> u8 {
    if let Some(invalid) = e.downcast_ref::<Invalid>() {
        term::error(&format!("{invalid}\n"));
        return if invalid.is_io() {
            exit::IO
        } else {
            exit::INVALID
        };
    }
    if e.downcast_ref::<ctxfw::generate::UsageError>().is_some() {
        term::error(&format!("error: {e}\n"));
        return exit::USAGE;
    }
    if is_broken_pipe(e) {
        return exit::OK;
    }
    term::error(&format!("error: {e:#}\n"));
    let io = e
        .chain()
        .any(|c| c.downcast_ref::<std::io::Error>().is_some());
    if io {
        exit::IO
    } else {
        exit::INVALID
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain()
        .filter_map(|c| c.downcast_ref::<std::io::Error>())
        .any(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
}

fn run(cli: Cli) -> Result<u8> {
    let cat_dir = cli.catalogue.as_deref();
    match cli.command {
        Command::Check(a) => commands::check(a, cat_dir),
        Command::Flows(a) => commands::flows(a, cat_dir),
        Command::Generate(a) => commands::generate(a, cat_dir),
        Command::Diff(a) => commands::diff(a, cat_dir),
        Command::Explain(a) => commands::explain(a, cat_dir),
        Command::Audit(a) => commands::audit(a, cat_dir),
        Command::Verify(a) => commands::verify(a, cat_dir),
        Command::Catalogue(a) => commands::catalogue(a, cat_dir),
        Command::Completions(a) => commands::completions(a),
        Command::Man(a) => commands::man(a),
    }
}

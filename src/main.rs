use std::process::ExitCode;

fn main() -> ExitCode {
    match ctxfw::catalogue::Catalogue::embedded() {
        Ok(c) => {
            println!("{} kinds, {} flows", c.kinds.len(), c.flows.len());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
    }
}

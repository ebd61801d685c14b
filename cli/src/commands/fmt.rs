//! `pipectl fmt`: one canonical layout for every pipeline file.

use crate::exit::{Exit, RUNTIME};
use std::io::IsTerminal;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// Report files that are not formatted (exit 1) instead of rewriting them.
    #[arg(long)]
    check: bool,

    /// Pipeline files or directories (searched recursively for *.pipe).
    #[arg(value_name = "PATH", default_value = ".")]
    paths: Vec<PathBuf>,
}

pub fn run(args: Args) -> Result<(), Exit> {
    let files = pipectl_dsl::load_paths(&args.paths).map_err(|e| {
        eprintln!("error: {e}");
        Exit::config_reported()
    })?;
    let color = std::io::stderr().is_terminal();
    let mut unformatted = 0;
    let mut invalid = false;
    for file in &files {
        match pipectl_dsl::format_source(file) {
            Ok(formatted) if formatted == file.text => {}
            Ok(formatted) => {
                unformatted += 1;
                if args.check {
                    println!("not formatted: {}", file.path);
                } else {
                    std::fs::write(&file.path, formatted)
                        .map_err(|e| Exit::runtime(format!("cannot write {}: {e}", file.path)))?;
                    println!("formatted: {}", file.path);
                }
            }
            Err(diagnostics) => {
                invalid = true;
                for d in &diagnostics {
                    eprintln!(
                        "{}",
                        pipectl_dsl::render(d, std::slice::from_ref(file), color)
                    );
                }
            }
        }
    }
    if invalid {
        return Err(Exit::config_reported());
    }
    if args.check && unformatted > 0 {
        return Err(Exit::silent(RUNTIME));
    }
    Ok(())
}

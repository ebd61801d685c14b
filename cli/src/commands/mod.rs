//! One module per subcommand, plus the compile step they share.

pub mod actions;
pub mod apply;
pub mod buffer;
pub mod dashboards;
pub mod fmt;
pub mod graph;
pub mod history;
pub mod models;
pub mod opensearch;
pub mod plan;
pub mod reference;
pub mod replay;
pub mod report;
pub mod rollback;
pub mod rules;
pub mod run;
pub mod search;
pub mod serve;
pub mod status;
pub mod tap;
pub mod test;
pub mod validate;

use crate::exit::Exit;
use pipectl_dsl::plan::Plan;
use pipectl_dsl::{Compilation, SourceFile};
use std::io::IsTerminal;
use std::path::PathBuf;

/// How diagnostics are printed.
#[derive(Clone, Copy, Debug, Default, clap::ValueEnum)]
pub enum DiagnosticStyle {
    /// Source line, caret and help, for people.
    #[default]
    Human,
    /// One line each: `file:line:col: error[CODE]: message`, for tools and tests.
    Short,
}

/// Pipeline paths, defaulting to the current directory.
#[derive(clap::Args, Clone)]
pub struct PathArgs {
    /// Pipeline files or directories (searched recursively for *.pipe).
    #[arg(value_name = "PATH", default_value = ".")]
    pub paths: Vec<PathBuf>,

    /// How to print diagnostics.
    #[arg(long, value_enum, default_value_t)]
    pub diagnostics: DiagnosticStyle,
}

/// The outcome of loading and checking: the plan, the files and the counts.
pub struct Checked {
    pub plan: Plan,
    pub files: Vec<SourceFile>,
    pub warnings: usize,
}

/// Loads, checks and compiles; prints every diagnostic to stderr. Fails with exit 78
/// when there is any error.
pub fn check(args: &PathArgs) -> Result<Checked, Exit> {
    let files = pipectl_dsl::load_paths(&args.paths).map_err(|e| {
        eprintln!("error: {e}");
        Exit::config_reported()
    })?;
    if files.is_empty() {
        eprintln!(
            "error: no pipeline files (*.pipe) found in {}",
            args.paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
        return Err(Exit::config_reported());
    }
    let catalogue = crate::registry::registry().catalogue();
    let Compilation { plan, diagnostics } = pipectl_dsl::compile(&files, &catalogue);
    let color = std::io::stderr().is_terminal();
    let mut warnings = 0;
    for d in &diagnostics {
        if d.is_warning() {
            warnings += 1;
        }
        let text = match args.diagnostics {
            DiagnosticStyle::Human => pipectl_dsl::render(d, &files, color),
            DiagnosticStyle::Short => pipectl_dsl::render_short(d, &files),
        };
        eprintln!("{text}");
    }
    match plan {
        Some(plan) => Ok(Checked {
            plan,
            files,
            warnings,
        }),
        None => {
            let errors = diagnostics.len() - warnings;
            if matches!(args.diagnostics, DiagnosticStyle::Human) {
                eprintln!(
                    "error: invalid configuration: {errors} error{}, {warnings} warning{}",
                    plural(errors),
                    plural(warnings)
                );
            }
            Err(Exit::config_reported())
        }
    }
}

/// `s` when `n` is not 1.
pub fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

//! `pipectl reference`: the component reference in docs/reference/, generated from the
//! catalogue so it cannot drift from the code.

use crate::exit::{Exit, RUNTIME};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// Directory to write the reference into.
    #[arg(long, default_value = "docs/reference")]
    out: PathBuf,

    /// Fail (exit 1) if the files on disk differ from the generated ones.
    #[arg(long)]
    check: bool,
}

pub fn run(args: Args) -> Result<(), Exit> {
    let catalogue = crate::registry::registry().catalogue();
    let pages = pipectl_dsl::reference::generate(&catalogue);
    let mut stale = Vec::new();
    for (name, content) in &pages {
        let path = args.out.join(name);
        let current = std::fs::read_to_string(&path).ok();
        if current.as_deref() == Some(content.as_str()) {
            continue;
        }
        if args.check {
            stale.push(path.display().to_string());
        } else {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| {
                    Exit::runtime(format!("cannot create {}: {e}", parent.display()))
                })?;
            }
            std::fs::write(&path, content)
                .map_err(|e| Exit::runtime(format!("cannot write {}: {e}", path.display())))?;
            println!("wrote {}", path.display());
        }
    }
    if !stale.is_empty() {
        for path in &stale {
            eprintln!("stale: {path}");
        }
        eprintln!("the reference is out of date: run `pipectl reference` and commit the result");
        return Err(Exit::silent(RUNTIME));
    }
    Ok(())
}

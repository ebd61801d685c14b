//! `pipectl validate`: check everything, run nothing.

use super::{check, plural, PathArgs};
use crate::exit::Exit;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    paths: PathArgs,
}

pub fn run(args: Args) -> Result<(), Exit> {
    let checked = check(&args.paths)?;
    let pipelines = checked.plan.pipelines.len();
    let components: usize = checked
        .plan
        .pipelines
        .iter()
        .map(|p| p.components.len())
        .sum();
    let files = checked.files.len();
    println!(
        "ok: {files} file{}, {pipelines} pipeline{}, {components} component{}, {} warning{}",
        plural(files),
        plural(pipelines),
        plural(components),
        checked.warnings,
        plural(checked.warnings)
    );
    Ok(())
}

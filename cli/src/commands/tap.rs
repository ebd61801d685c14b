//! `pipectl tap PIPELINE.COMPONENT`: a live sample of the events leaving a component,
//! one JSON document per line, printed as they arrive. The sample is lossy and never
//! slows the pipeline.

use crate::control::client::{percent_encode, runtime, Client, ConnectArgs};
use crate::exit::Exit;
use crate::settings::Settings;
use http_body_util::BodyExt;
use hyper::Method;
use std::io::Write;

#[derive(clap::Args)]
pub struct Args {
    /// The component, as `pipeline.component`.
    #[arg(value_name = "PIPELINE.COMPONENT")]
    component: String,

    /// How many events to show.
    #[arg(long, default_value_t = 10)]
    limit: u32,

    /// How long to wait for them, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    wait: u32,

    #[command(flatten)]
    connect: ConnectArgs,
}

pub fn run(args: Args, settings: &Settings) -> Result<(), Exit> {
    // Component names are identifiers; a pipeline name may hold dots.
    let Some((pipeline, component)) = args.component.rsplit_once('.') else {
        return Err(Exit::usage(format!(
            "`{}`: name the component as PIPELINE.COMPONENT",
            args.component
        )));
    };
    let client = Client::new(&args.connect, settings)?;
    let path = format!(
        "/v1/tap/{}/{}?limit={}&wait={}",
        percent_encode(pipeline),
        percent_encode(component),
        args.limit,
        args.wait
    );
    runtime()?.block_on(async {
        let response = client
            .open(Method::GET, &path, None::<&()>)
            .await
            .map_err(|e| e.into_exit())?;
        // Events are printed as they arrive.
        let mut body = response.into_body();
        let mut stdout = std::io::stdout();
        let mut any = false;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| Exit::runtime(format!("the tap broke off: {e}")))?;
            if let Ok(data) = frame.into_data() {
                any |= !data.is_empty();
                stdout
                    .write_all(&data)
                    .and_then(|()| stdout.flush())
                    .map_err(Exit::runtime)?;
            }
        }
        if !any {
            eprintln!(
                "no events left {pipeline}.{component} within {}s",
                args.wait
            );
        }
        Ok(())
    })
}

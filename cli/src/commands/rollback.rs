//! `pipectl rollback [REVISION]`: applies an earlier revision's plan again, as a new
//! revision (the default: the one before the running revision).

use crate::control::api::{ApplyResponse, RollbackRequest};
use crate::control::client::{runtime, who, CallError, Client, ConnectArgs};
use crate::exit::Exit;
use crate::settings::Settings;
use hyper::{Method, StatusCode};

#[derive(clap::Args)]
pub struct Args {
    /// The revision to return to (see `pipectl history`).
    #[arg(value_name = "REVISION")]
    revision: Option<u64>,

    #[command(flatten)]
    connect: ConnectArgs,

    /// Who rolls back, for the history (default: the OS user).
    #[arg(long, value_name = "NAME")]
    by: Option<String>,
}

pub fn run(args: Args, settings: &Settings) -> Result<(), Exit> {
    let client = Client::new(&args.connect, settings)?;
    let request = RollbackRequest {
        revision: args.revision,
        by: who(args.by.as_deref()),
    };
    let result: Result<ApplyResponse, CallError> =
        runtime()?.block_on(client.call(Method::POST, "/v1/rollback", Some(&request)));
    match result {
        Ok(done) => {
            super::apply::report(&done);
            Ok(())
        }
        Err(CallError::Refused(StatusCode::UNPROCESSABLE_ENTITY, body)) => {
            for d in &body.diagnostics {
                eprintln!("error: {d}");
            }
            eprintln!("error: {}", body.error);
            Err(Exit::config_reported())
        }
        Err(e) => Err(e.into_exit()),
    }
}

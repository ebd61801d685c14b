//! `pipectl serve`: the daemon. Runs the applied plan, restarts only what an apply
//! changes, and answers the control API (see `crate::control`).
//!
//! At start it runs the revision recorded in the state store again (a restart
//! resumes); it prints `listening on ADDRESS` (`https://ADDRESS` with TLS) on stdout and writes the address to
//! `<data_dir>/control.addr`. SIGINT/SIGTERM drain the graph and exit 0; a failed
//! component stops the graph and exits 1 (a supervisor restarts the daemon, which
//! resumes from the store).

use crate::control::api::ADDRESS_FILE;
use crate::control::history::History;
use crate::control::server::{serve, Daemon};
use crate::control::token::Token;
use crate::exit::Exit;
use crate::settings::Settings;
use pipectl_core::secrets::SecretStore;
use pipectl_core::shutdown::shutdown_pair;
use pipectl_core::store::Store;
use pipectl_core::topology::{RunOptions, Topology};
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

#[derive(clap::Args)]
pub struct Args {
    /// Address of the control API (default: the `control_address` setting,
    /// 127.0.0.1:7171). Port 0 picks a free port.
    #[arg(long, value_name = "HOST:PORT")]
    listen: Option<String>,

    /// Where state, checkpoints and the control token live (overrides `data_dir`).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,

    /// Serve the control API over TLS with this PEM certificate chain (with
    /// `--tls-key`; default: the `control_tls_cert` setting).
    #[arg(long, value_name = "FILE")]
    tls_cert: Option<PathBuf>,

    /// The PEM private key of `--tls-cert`.
    #[arg(long, value_name = "FILE")]
    tls_key: Option<PathBuf>,

    /// Worker threads (default: one per core).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
}

pub fn run(args: Args, settings: &Settings) -> Result<(), Exit> {
    let data_dir = args
        .data_dir
        .clone()
        .unwrap_or_else(|| settings.data_dir.clone());
    std::fs::create_dir_all(&data_dir).map_err(|e| {
        Exit::runtime(format!(
            "cannot create the data directory {}: {e}",
            data_dir.display()
        ))
    })?;
    let token = Token::load_or_create(&data_dir).map_err(Exit::runtime)?;
    let store = Store::shared(&data_dir).map_err(Exit::runtime)?;
    let history = History::new(store);
    let tls = match (
        args.tls_cert
            .as_ref()
            .or(settings.control_tls_cert.as_ref()),
        args.tls_key.as_ref().or(settings.control_tls_key.as_ref()),
    ) {
        (Some(cert), Some(key)) => {
            Some(crate::control::tls::acceptor(cert, key).map_err(Exit::usage)?)
        }
        (None, None) => None,
        _ => {
            return Err(Exit::usage(
                "TLS needs both a certificate (--tls-cert) and its key (--tls-key)",
            ))
        }
    };
    let scheme = if tls.is_some() { "https://" } else { "" };
    let listen = args
        .listen
        .clone()
        .unwrap_or_else(|| settings.control_address.clone());

    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    if let Some(n) = args.threads {
        builder.worker_threads(n.max(1));
    }
    let runtime = builder
        .build()
        .map_err(|e| Exit::runtime(format!("cannot start the async runtime: {e}")))?;
    let mut options = RunOptions::new(&data_dir);
    options.secrets = SecretStore::new(settings.secrets_dir.clone());
    options.channel_capacity = settings.channel_capacity.max(1);

    runtime.block_on(async move {
        let mut topology = Topology::new(crate::registry::registry(), options);
        let mut last_error = None;
        match history.current() {
            Ok(Some(revision)) => match topology.apply(&revision.plan).await {
                Ok(_) => tracing::info!(revision = revision.summary.revision, "resumed the applied revision"),
                Err(errors) => {
                    let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
                    tracing::error!(revision = revision.summary.revision, errors = ?text, "the applied revision does not start; apply a fixed plan");
                    last_error = Some(format!(
                        "revision {} did not start: {}",
                        revision.summary.revision,
                        text.join("; ")
                    ));
                }
            },
            Ok(None) => tracing::info!("no revision applied yet; waiting for `pipectl apply`"),
            Err(e) => return Err(Exit::runtime(e)),
        }
        let listener = tokio::net::TcpListener::bind(&listen)
            .await
            .map_err(|e| Exit::runtime(format!("cannot listen on {listen}: {e}")))?;
        let address = listener
            .local_addr()
            .map_err(|e| Exit::runtime(format!("cannot read the bound address: {e}")))?;
        std::fs::write(data_dir.join(ADDRESS_FILE), format!("{scheme}{address}"))
            .map_err(|e| Exit::runtime(format!("cannot write {ADDRESS_FILE}: {e}")))?;
        if !address.ip().is_loopback() && tls.is_none() {
            tracing::warn!(%address, "the control API listens beyond loopback without TLS; put it behind a TLS proxy");
        }
        {
            let mut stdout = std::io::stdout().lock();
            let _ = writeln!(stdout, "listening on {scheme}{address}");
            let _ = stdout.flush();
        }
        tracing::info!(%address, "control API ready");

        let mut stopped = topology.stopped();
        let daemon = Arc::new(Daemon {
            topology: tokio::sync::Mutex::new(topology),
            history,
            token,
            started: Instant::now(),
            last_error: Mutex::new(last_error),
        });
        let (trigger, signal) = shutdown_pair();
        let server = tokio::spawn(serve(listener, Arc::clone(&daemon), tls, signal.clone()));
        let requested = tokio::select! {
            _ = super::run::wait_for_signal() => true,
            _ = stopped.wait() => false,
        };
        trigger.trigger();
        let _ = server.await;
        if requested {
            tracing::info!("shutting down: draining in-flight events");
        }
        let errors = daemon.topology.lock().await.shutdown().await;
        for e in &errors {
            eprintln!("error: {e}");
        }
        if requested && errors.is_empty() {
            Ok(())
        } else {
            if !requested {
                eprintln!("error: a component failed; the graph stopped");
            }
            Err(Exit::silent(crate::exit::RUNTIME))
        }
    })
}

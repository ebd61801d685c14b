//! The client side of the control API, for `pipectl plan/apply/status/history/
//! rollback/tap`: one HTTP/1 request per call over hyper, the bearer token in its
//! header.

use super::api::ErrorResponse;
use crate::exit::Exit;
use crate::settings::Settings;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{header, Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use std::path::PathBuf;
use std::time::Duration;

/// How to reach the daemon: flags over settings (`control_address`,
/// `control_token_file`, `PIPECTL_CONTROL_*`), the token file defaulting to
/// `<data_dir>/control.token`.
#[derive(clap::Args, Clone, Default)]
pub struct ConnectArgs {
    /// The daemon's control address, host:port (default: the `control_address`
    /// setting).
    #[arg(long, value_name = "HOST:PORT")]
    pub address: Option<String>,

    /// The file holding the control token (default: the `control_token_file` setting,
    /// else `<data_dir>/control.token`).
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,

    /// The CA (PEM) to trust for an `https://` address (default: the `control_tls_ca`
    /// setting, else the system's roots).
    #[arg(long, value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,
}

/// A connection description to the daemon.
pub struct Client {
    /// `host:port`, without a scheme.
    address: String,
    token: String,
    /// Set for an `https://` address.
    tls: Option<(
        tokio_rustls::TlsConnector,
        rustls::pki_types::ServerName<'static>,
    )>,
}

/// A failed call: the daemon answered with an error, or could not be reached.
pub enum CallError {
    /// The daemon refused: its status and its explanation.
    Refused(StatusCode, ErrorResponse),
    /// No answer (connection, I/O, a body that is not JSON).
    Failed(String),
}

impl CallError {
    /// As a command's failure: 401 and unreachable daemons are runtime failures; the
    /// caller handles refusals it knows (a refused plan) itself.
    pub fn into_exit(self) -> Exit {
        match self {
            CallError::Refused(status, body) => {
                let mut message = format!("the daemon answered {status}: {}", body.error);
                for d in &body.diagnostics {
                    message.push_str("\n  ");
                    message.push_str(d);
                }
                Exit::runtime(message)
            }
            CallError::Failed(message) => Exit::runtime(message),
        }
    }
}

impl Client {
    /// From flags and settings; fails when the token cannot be read.
    pub fn new(args: &ConnectArgs, settings: &Settings) -> Result<Client, Exit> {
        let address = args
            .address
            .clone()
            .unwrap_or_else(|| settings.control_address.clone());
        let token_file = args
            .token_file
            .clone()
            .or_else(|| settings.control_token_file.clone())
            .unwrap_or_else(|| super::token::path_in(&settings.data_dir));
        let token = super::token::read(&token_file).map_err(Exit::runtime)?;
        let (address, tls) = match address.strip_prefix("https://") {
            Some(rest) => {
                let ca = args.tls_ca.as_ref().or(settings.control_tls_ca.as_ref());
                let connector =
                    super::tls::connector(ca.map(PathBuf::as_path)).map_err(Exit::usage)?;
                let name = super::tls::server_name(rest).map_err(Exit::usage)?;
                (rest.to_string(), Some((connector, name)))
            }
            None => (
                address
                    .strip_prefix("http://")
                    .unwrap_or(&address)
                    .to_string(),
                None,
            ),
        };
        let address = address.trim_end_matches('/').to_string();
        Ok(Client {
            address,
            token,
            tls,
        })
    }

    /// Calls `method path` with an optional JSON body; decodes a JSON answer.
    pub async fn call<T: serde::de::DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl serde::Serialize>,
    ) -> Result<T, CallError> {
        let bytes = self.call_raw(method, path, body).await?;
        serde_json::from_slice(&bytes)
            .map_err(|e| CallError::Failed(format!("the daemon's answer is not understood: {e}")))
    }

    /// Like [`Client::call`], returning the answer's bytes.
    pub async fn call_raw(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl serde::Serialize>,
    ) -> Result<Bytes, CallError> {
        let response = self.open(method, path, body).await?;
        response
            .into_body()
            .collect()
            .await
            .map(|c| c.to_bytes())
            .map_err(|e| CallError::Failed(format!("cannot read the daemon's answer: {e}")))
    }

    /// Sends a request and returns a successful answer before reading its body (for
    /// answers that stream); an error answer is read and returned as a refusal.
    pub async fn open(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl serde::Serialize>,
    ) -> Result<hyper::Response<hyper::body::Incoming>, CallError> {
        let unreachable = |e: &dyn std::fmt::Display| {
            CallError::Failed(format!(
                "cannot reach the pipectl daemon at {}: {e} (is `pipectl serve` running? see --address)",
                self.address
            ))
        };
        let stream = tokio::time::timeout(
            Duration::from_secs(10),
            tokio::net::TcpStream::connect(&self.address),
        )
        .await
        .map_err(|e| unreachable(&e))?
        .map_err(|e| unreachable(&e))?;
        let payload = match body {
            Some(value) => Bytes::from(
                serde_json::to_vec(value)
                    .map_err(|e| CallError::Failed(format!("cannot encode the request: {e}")))?,
            ),
            None => Bytes::new(),
        };
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, &self.address)
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Full::new(payload))
            .map_err(|e| CallError::Failed(format!("cannot build the request: {e}")))?;
        let response = match &self.tls {
            Some((connector, name)) => {
                let stream = connector
                    .connect(name.clone(), stream)
                    .await
                    .map_err(|e| unreachable(&e))?;
                exchange(stream, request).await
            }
            None => exchange(stream, request).await,
        }
        .map_err(|e| unreachable(&e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| CallError::Failed(format!("cannot read the daemon's answer: {e}")))?
            .to_bytes();
        let body = serde_json::from_slice(&bytes).unwrap_or_else(|_| ErrorResponse {
            error: String::from_utf8_lossy(&bytes).into_owned(),
            diagnostics: Vec::new(),
        });
        Err(CallError::Refused(status, body))
    }
}

/// Sends one request over a fresh connection.
async fn exchange<I>(
    io: I,
    request: Request<Full<Bytes>>,
) -> Result<hyper::Response<hyper::body::Incoming>, hyper::Error>
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io)).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "control connection ended with an error");
        }
    });
    sender.send_request(request).await
}

/// A single-threaded runtime for one client command.
pub fn runtime() -> Result<tokio::runtime::Runtime, Exit> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Exit::runtime(format!("cannot start the async runtime: {e}")))
}

/// `%XX`-escapes everything but unreserved characters, for a path segment.
pub fn percent_encode(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Who is applying: `--by`, else the OS user (`$USER`, `$LOGNAME`, else `id -un`).
pub fn who(by: Option<&str>) -> String {
    by.map(str::to_string)
        .or_else(|| std::env::var("USER").ok())
        .or_else(|| std::env::var("LOGNAME").ok())
        .or_else(|| std::env::var("USERNAME").ok())
        .filter(|name| !name.is_empty())
        .or_else(|| {
            std::process::Command::new("id")
                .arg("-un")
                .output()
                .ok()
                .filter(|out| out.status.success())
                .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_string())
                .filter(|name| !name.is_empty())
        })
        .unwrap_or_else(|| "unknown".to_string())
}

//! The daemon's side of the control API: hyper's HTTP/1 server, the bearer token
//! check, and one handler per endpoint.
//!
//! Every request must carry `Authorization: Bearer <token>`; anything else gets 401
//! before its body is read or any state is looked at. Applies are serialised (one
//! at a time, under the topology's lock).

use super::api::{
    ApplyRequest, ApplyResponse, ErrorResponse, Origin, PlanRequest, PlanResponse, RevisionSummary,
    RollbackRequest, StatusResponse,
};
use super::history::{History, Revision};
use super::token::Token;
use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, Limited, StreamBody};
use hyper::body::Frame;
use hyper::body::Incoming;
use hyper::{header, Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use pipectl_core::shutdown::ShutdownSignal;
use pipectl_core::topology::{diff_plans, ComponentId, Topology};
use pipectl_dsl::plan::Plan;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::net::TcpListener;

/// Plans are small, but a hostile client must not make the daemon buffer gigabytes.
const MAX_BODY: usize = 16 * 1024 * 1024;
/// A tap answers with at most this many events.
const MAX_TAP_EVENTS: usize = 10_000;
/// A tap waits at most this long for its events.
const MAX_TAP_WAIT: Duration = Duration::from_secs(60);

/// Everything the handlers share.
pub struct Daemon {
    pub topology: tokio::sync::Mutex<Topology>,
    pub history: History,
    pub token: Token,
    pub started: Instant,
    /// Why the recorded revision did not start again at daemon start, if it did not.
    pub last_error: Mutex<Option<String>>,
}

/// Serves connections until `shutdown` fires, over TLS when given an acceptor.
pub async fn serve(
    listener: TcpListener,
    daemon: Arc<Daemon>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    mut shutdown: ShutdownSignal,
) {
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::warn!(error = %e, "control API: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = shutdown.wait() => return,
        };
        let daemon = Arc::clone(&daemon);
        let tls = tls.clone();
        tokio::spawn(async move {
            match tls {
                Some(acceptor) => match acceptor.accept(stream).await {
                    Ok(stream) => serve_connection(stream, daemon).await,
                    Err(e) => tracing::debug!(error = %e, "control API: TLS handshake failed"),
                },
                None => serve_connection(stream, daemon).await,
            }
        });
    }
}

async fn serve_connection<I>(io: I, daemon: Arc<Daemon>)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req| {
        let daemon = Arc::clone(&daemon);
        async move { Ok::<_, Infallible>(handle(&daemon, req).await) }
    });
    if let Err(e) = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(io), service)
        .await
    {
        tracing::debug!(error = %e, "control API: connection ended with an error");
    }
}

/// Handlers answer `Result<Reply, Reply>` so `?` ends them with an error reply; a
/// reply is built once per request, so its size on the stack costs nothing worth a
/// box.
type Reply = Response<UnsyncBoxBody<Bytes, Infallible>>;

/// A whole body at once.
fn whole(bytes: impl Into<Bytes>) -> UnsyncBoxBody<Bytes, Infallible> {
    Full::new(bytes.into()).boxed_unsync()
}

async fn handle(daemon: &Daemon, req: Request<Incoming>) -> Reply {
    if !authorized(daemon, &req) {
        tracing::warn!(path = %req.uri().path(), "control API: request without a valid token refused");
        let mut reply = error(StatusCode::UNAUTHORIZED, "missing or wrong bearer token");
        reply.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer"),
        );
        return reply;
    }
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let segments: Vec<String> = path
        .trim_matches('/')
        .split('/')
        .map(percent_decode)
        .collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let result = match (&method, segments.as_slice()) {
        (&Method::GET, ["v1", "status"]) => status(daemon).await,
        (&Method::GET, ["v1", "history"]) => history(daemon),
        (&Method::POST, ["v1", "plan"]) => match body::<PlanRequest>(req).await {
            Ok(request) => plan(daemon, request).await,
            Err(reply) => Err(reply),
        },
        (&Method::POST, ["v1", "apply"]) => match body::<ApplyRequest>(req).await {
            Ok(request) => apply(daemon, request).await,
            Err(reply) => Err(reply),
        },
        (&Method::POST, ["v1", "rollback"]) => match body::<RollbackRequest>(req).await {
            Ok(request) => rollback(daemon, request).await,
            Err(reply) => Err(reply),
        },
        (&Method::GET, ["v1", "tap", pipeline, component]) => {
            tap(daemon, pipeline, component, &query).await
        }
        (_, ["v1", "status" | "history" | "plan" | "apply" | "rollback"])
        | (_, ["v1", "tap", _, _]) => Err(error(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{method} is not allowed on {path}"),
        )),
        _ => Err(error(StatusCode::NOT_FOUND, format!("no endpoint {path}"))),
    };
    result.unwrap_or_else(|reply| reply)
}

fn authorized(daemon: &Daemon, req: &Request<Incoming>) -> bool {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|presented| daemon.token.matches(presented.trim()))
}

async fn body<T: serde::de::DeserializeOwned>(req: Request<Incoming>) -> Result<T, Reply> {
    let bytes = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            return Err(error(
                StatusCode::BAD_REQUEST,
                format!("cannot read the request body: {e}"),
            ))
        }
    };
    serde_json::from_slice(&bytes).map_err(|e| {
        error(
            StatusCode::BAD_REQUEST,
            format!("the request body is not the expected JSON: {e}"),
        )
    })
}

fn json(status: StatusCode, value: &impl serde::Serialize) -> Reply {
    match serde_json::to_vec(value) {
        Ok(bytes) => {
            let mut reply = Response::new(whole(bytes));
            *reply.status_mut() = status;
            reply.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("application/json"),
            );
            reply
        }
        Err(e) => {
            let mut reply = Response::new(whole(format!("cannot encode the answer: {e}")));
            *reply.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            reply
        }
    }
}

fn error(status: StatusCode, message: impl Into<String>) -> Reply {
    json(
        status,
        &ErrorResponse {
            error: message.into(),
            diagnostics: Vec::new(),
        },
    )
}

fn internal(e: impl std::fmt::Display) -> Reply {
    tracing::error!(error = %e, "control API: internal error");
    error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

async fn status(daemon: &Daemon) -> Result<Reply, Reply> {
    let components = daemon.topology.lock().await.status();
    let revision = daemon.history.current().map_err(internal)?;
    let last_error = daemon
        .last_error
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    Ok(json(
        StatusCode::OK,
        &StatusResponse {
            revision: revision.map(|r| r.summary),
            components,
            uptime_seconds: daemon.started.elapsed().as_secs(),
            last_error,
        },
    ))
}

#[allow(clippy::result_large_err)] // See `Reply`.
fn history(daemon: &Daemon) -> Result<Reply, Reply> {
    let revisions: Vec<RevisionSummary> = daemon
        .history
        .list()
        .map_err(internal)?
        .into_iter()
        .map(|r| r.summary)
        .collect();
    Ok(json(StatusCode::OK, &revisions))
}

async fn plan(daemon: &Daemon, request: PlanRequest) -> Result<Reply, Reply> {
    let topology = daemon.topology.lock().await;
    let diff = diff_plans(topology.plan(), &request.plan);
    let revision = daemon.history.current_number().map_err(internal)?;
    Ok(json(StatusCode::OK, &PlanResponse { diff, revision }))
}

async fn apply(daemon: &Daemon, request: ApplyRequest) -> Result<Reply, Reply> {
    let mut topology = daemon.topology.lock().await;
    let current = daemon.history.current_number().map_err(internal)?;
    if let Some(expected) = request.expected_revision {
        if current.unwrap_or(0) != expected {
            return Err(error(
                StatusCode::CONFLICT,
                format!(
                    "revision {} runs, not {expected}: someone applied in between; plan again",
                    current.unwrap_or(0)
                ),
            ));
        }
    }
    let reply = switch(
        daemon,
        &mut topology,
        &request.plan,
        request.origin,
        "apply",
        None,
    )
    .await?;
    Ok(reply)
}

async fn rollback(daemon: &Daemon, request: RollbackRequest) -> Result<Reply, Reply> {
    let mut topology = daemon.topology.lock().await;
    let current = daemon.history.current_number().map_err(internal)?;
    let target = match request.revision {
        Some(n) => n,
        None => {
            let earlier = daemon
                .history
                .list()
                .map_err(internal)?
                .into_iter()
                .map(|r| r.summary.revision)
                .filter(|&n| current.is_some_and(|c| n < c))
                .max();
            earlier.ok_or_else(|| {
                error(
                    StatusCode::NOT_FOUND,
                    "there is no earlier revision to roll back to",
                )
            })?
        }
    };
    let Some(revision) = daemon.history.get(target).map_err(internal)? else {
        return Err(error(
            StatusCode::NOT_FOUND,
            format!("there is no revision {target}"),
        ));
    };
    let origin = Origin {
        by: request.by,
        ..revision.summary.origin
    };
    switch(
        daemon,
        &mut topology,
        &revision.plan,
        origin,
        "rollback",
        Some(target),
    )
    .await
}

/// Applies `plan` and records it as a new revision; nothing is recorded when nothing
/// changes, and nothing changes when a component fails to build (422 with every
/// error).
async fn switch(
    daemon: &Daemon,
    topology: &mut Topology,
    plan: &Plan,
    origin: Origin,
    action: &str,
    rollback_to: Option<u64>,
) -> Result<Reply, Reply> {
    let current = daemon.history.current_number().map_err(internal)?;
    if diff_plans(topology.plan(), plan).is_empty() {
        return Ok(json(
            StatusCode::OK,
            &ApplyResponse {
                revision: current,
                applied: false,
                report: None,
            },
        ));
    }
    let report = match topology.apply(plan).await {
        Ok(report) => report,
        Err(errors) => {
            let diagnostics: Vec<String> = errors.iter().map(ToString::to_string).collect();
            tracing::warn!(errors = diagnostics.len(), "control API: plan refused");
            return Err(json(
                StatusCode::UNPROCESSABLE_ENTITY,
                &ErrorResponse {
                    error: format!(
                        "the plan was refused ({} error{}); nothing changed, revision {} keeps running",
                        diagnostics.len(),
                        if diagnostics.len() == 1 { "" } else { "s" },
                        current.map_or_else(|| "none".to_string(), |n| n.to_string())
                    ),
                    diagnostics,
                },
            ));
        }
    };
    let number = daemon.history.next_number().map_err(internal)?;
    let revision = Revision {
        summary: RevisionSummary {
            revision: number,
            applied_at: now_rfc3339(),
            origin,
            action: action.to_string(),
            rollback_to,
            added: report.diff.added.len(),
            changed: report.diff.changed.len(),
            removed: report.diff.removed.len(),
        },
        plan: plan.clone(),
    };
    // Whatever did not start before, this revision runs now.
    *daemon
        .last_error
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    daemon.history.record(&revision).map_err(|e| {
        internal(format!(
            "the plan runs but revision {number} could not be recorded: {e}"
        ))
    })?;
    tracing::info!(
        revision = number,
        action,
        by = %revision.summary.origin.by,
        "revision recorded"
    );
    Ok(json(
        StatusCode::OK,
        &ApplyResponse {
            revision: Some(number),
            applied: true,
            report: Some(report),
        },
    ))
}

/// Streams up to `limit` events leaving the component (default 10) as NDJSON, for up
/// to `wait` seconds (default 10). The tap lives in the response body: when the client
/// goes away hyper drops the body, and the tap is removed at its next sample.
async fn tap(
    daemon: &Daemon,
    pipeline: &str,
    component: &str,
    query: &str,
) -> Result<Reply, Reply> {
    let mut limit = 10usize;
    let mut wait = Duration::from_secs(10);
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let number: u64 = value.parse().map_err(|_| {
            error(
                StatusCode::BAD_REQUEST,
                format!("query parameter `{name}` must be a whole number"),
            )
        })?;
        match name {
            "limit" => limit = usize::try_from(number).unwrap_or(MAX_TAP_EVENTS),
            "wait" => wait = Duration::from_secs(number),
            _ => {
                return Err(error(
                    StatusCode::BAD_REQUEST,
                    format!("unknown query parameter `{name}` (limit, wait)"),
                ))
            }
        }
    }
    let id = ComponentId {
        pipeline: pipeline.to_string(),
        component: component.to_string(),
    };
    let receiver = daemon.topology.lock().await.tap(&id, 64);
    let Some(rx) = receiver else {
        return Err(error(
            StatusCode::NOT_FOUND,
            format!("no running component {id} with outputs to tap"),
        ));
    };
    let sample = TapSample {
        rx,
        left: limit.clamp(1, MAX_TAP_EVENTS),
        deadline: tokio::time::Instant::now() + wait.min(MAX_TAP_WAIT),
    };
    let frames = futures::stream::unfold(sample, |mut sample| async move {
        let lines = sample.next_lines().await?;
        Some((Ok::<_, Infallible>(Frame::data(Bytes::from(lines))), sample))
    });
    let mut reply = Response::new(StreamBody::new(frames).boxed_unsync());
    reply.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/x-ndjson"),
    );
    Ok(reply)
}

/// The state of one tap's answer.
struct TapSample {
    rx: tokio::sync::mpsc::Receiver<pipectl_core::event::Batch>,
    left: usize,
    deadline: tokio::time::Instant,
}

impl TapSample {
    /// The next batch's events as NDJSON; `None` once the limit is reached or the
    /// time is up.
    async fn next_lines(&mut self) -> Option<String> {
        if self.left == 0 {
            return None;
        }
        let batch = tokio::time::timeout_at(self.deadline, self.rx.recv())
            .await
            .ok()??;
        let mut lines = String::new();
        for event in batch.iter().take(self.left) {
            lines.push_str(&pipectl_core::json::to_string(&event.value));
            lines.push('\n');
            self.left -= 1;
        }
        Some(lines)
    }
}

/// Decodes `%XX` escapes of a path segment (pipeline names are free text); a broken
/// escape stays as written.
fn percent_decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn now_rfc3339() -> String {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    pipectl_core::detect::sigma::time::format_rfc3339(ms)
}

#[cfg(test)]
mod tests {
    use super::percent_decode;

    #[test]
    fn path_segments_are_percent_decoded() {
        assert_eq!(percent_decode("cloud%20estate"), "cloud estate");
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("%zz"), "%zz");
        assert_eq!(percent_decode("plain"), "plain");
    }
}

//! `source http`: events POSTed as NDJSON or a JSON array, answered only once they
//! are delivered.
//!
//! Each request body becomes one batch, all or nothing: a body that does not decode is
//! refused with `400` and the line (NDJSON) or element (array) at fault, and nothing of
//! it is ingested. The response waits for the batch's acknowledgement: `200` with
//! `{"accepted": n}` once every sink has accepted every event, `503` if any could not
//! be delivered — so a client that retries on anything but `200` loses nothing.
//!
//! Framing: `Content-Type: application/json` means one document (an array of objects
//! or one object, possibly pretty-printed); `application/x-ndjson` (or `ndjson`,
//! `jsonlines`) means one object per line; otherwise a body starting with `[` is an
//! array and anything else NDJSON.
//!
//! Limits: bodies over `max_body_size` get `413` (checked against `Content-Length`
//! first, then while reading); a record nesting deeper than `max_depth` or with more
//! than `max_fields` fields gets the body refused with `400` naming the record and the
//! limit; with `auth_token` set, requests need
//! `Authorization: Bearer <token>` (compared in constant time) or get `401`; other
//! paths get `404`, other methods `405`. Slow clients are cut off (headers within 30 s,
//! body within 60 s) and at most 256 connections are served at once.

use super::{forward, Run};
use crate::codecs::json::{decode_objects, Framing};
use crate::io::{attach_ack, BatchOutput};
use crate::limits::InputLimits;
use crate::settings::size_limit;
use bytes::Bytes;
use futures::future::BoxFuture;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{
    HeaderValue, ALLOW, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, WWW_AUTHENTICATE,
};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use pipectl_core::ack::BatchStatus;
use pipectl_core::component::{
    BuildContext, BuildError, Built, ComponentError, Factory, Source, SourceContext,
};
use pipectl_core::config::Attrs;
use pipectl_core::event::{Batch, Event};
use pipectl_core::metrics::ComponentCounters;
use pipectl_core::secrets::Secret;
use pipectl_core::value::{Map, Value};
use pipectl_dsl::catalogue::{AttrSpec, AttrType, ComponentSpec};
use pipectl_dsl::plan::{ComponentKind, ComponentPlan};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinSet;

/// The catalogue entry of `source http`.
pub static SPEC: ComponentSpec = ComponentSpec {
    kind: ComponentKind::Source,
    type_name: "http",
    summary: "Receives events POSTed as NDJSON or a JSON array; answers 200 only once every sink has accepted them.",
    attrs: &[
        AttrSpec::with_default(
            "address",
            AttrType::String,
            "\"127.0.0.1:8080\"",
            "The `host:port` to listen on (port 0 picks a free port, logged at start).",
        ),
        AttrSpec::with_default(
            "path",
            AttrType::String,
            "\"/\"",
            "The URL path that accepts events; other paths get 404.",
        ),
        AttrSpec::with_default(
            "max_body_size",
            AttrType::Size,
            "10MiB",
            "Larger bodies are refused with 413.",
        ),
        crate::limits::MAX_DEPTH_ATTR,
        crate::limits::MAX_FIELDS_ATTR,
        AttrSpec::optional(
            "auth_token",
            AttrType::String,
            "When set, requests must carry `Authorization: Bearer <token>`; others get 401. Use `secret()`.",
        )
        .sensitive(),
    ],
    fixed_outputs: &[],
    outputs_from: None,
};

/// Builds `source http`.
pub const FACTORY: Factory = Factory { spec: &SPEC, build };

/// The checked settings of one `source http`.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    pub address: String,
    pub path: String,
    pub max_body_size: usize,
    /// `max_depth` and `max_fields`, per record (`max_event_size` is not used: the
    /// body's size is bounded by `max_body_size`).
    pub limits: InputLimits,
    /// Printed as `[redacted]`.
    pub auth_token: Option<Secret>,
}

impl HttpConfig {
    pub fn from_attrs(attrs: &Attrs<'_>) -> Result<HttpConfig, BuildError> {
        let address = attrs.string("address")?;
        let port_ok = address
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
        if !port_ok {
            return Err(attrs.error(format!(
                "attribute `address`: `{address}` is not `host:port` (e.g. \"127.0.0.1:8080\")"
            )));
        }
        let path = attrs.string("path")?;
        if !path.starts_with('/') {
            return Err(attrs.error(format!("attribute `path`: `{path}` must start with `/`")));
        }
        let auth_token = attrs.opt_secret("auth_token")?;
        if auth_token.as_ref().is_some_and(|t| t.expose().is_empty()) {
            return Err(attrs.error("attribute `auth_token` is empty"));
        }
        Ok(HttpConfig {
            address,
            path,
            max_body_size: size_limit(attrs, "max_body_size")?,
            limits: InputLimits {
                max_event_size: usize::MAX,
                ..InputLimits::from_attrs_without_size(attrs)?
            },
            auth_token,
        })
    }
}

fn build(plan: &ComponentPlan, ctx: &BuildContext<'_>) -> Result<Built, BuildError> {
    let config = HttpConfig::from_attrs(&Attrs::new(plan, ctx))?;
    Ok(Built::Source(Box::new(HttpSource { config })))
}

/// A built `source http`.
pub struct HttpSource {
    config: HttpConfig,
}

impl Source for HttpSource {
    fn run(self: Box<Self>, ctx: SourceContext) -> BoxFuture<'static, Result<(), ComponentError>> {
        Box::pin(async move {
            let run = Run::from_context(ctx);
            let listener = TcpListener::bind(&self.config.address)
                .await
                .map_err(|e| run.error(format!("cannot listen on {}: {e}", self.config.address)))?;
            serve(listener, self.config, run).await
        })
    }
}

const MAX_CONNECTIONS: usize = 256;
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);
const BODY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long open requests may take to finish once shutdown is requested.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// What every request handler shares.
struct Shared {
    config: HttpConfig,
    name: Arc<str>,
    counters: Arc<ComponentCounters>,
    /// To the task that owns the source output.
    batches: mpsc::Sender<Batch>,
}

/// Serves until shutdown, then lets open requests finish (within a grace period).
pub(crate) async fn serve<O: BatchOutput + 'static>(
    listener: TcpListener,
    config: HttpConfig,
    run: Run<O>,
) -> Result<(), ComponentError> {
    let Run {
        name,
        out,
        mut shutdown,
        counters,
    } = run;
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(source = %name, address = %addr, path = %config.path, "http source listening");
    }
    // Handlers hand batches to the task that owns the output; it ends (closing the
    // output) once every handler is gone.
    let (batches, to_forward) = mpsc::channel::<Batch>(4);
    let shared = Arc::new(Shared {
        config,
        name,
        counters,
        batches,
    });
    let accept = async move {
        let limit = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        let (drain, draining) = watch::channel(false);
        let mut connections = JoinSet::new();
        loop {
            tokio::select! {
                biased;
                _ = shutdown.wait() => break,
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
                accepted = listener.accept() => {
                    let (stream, peer) = match accepted {
                        Ok(conn) => conn,
                        Err(e) => {
                            // Usually out of file descriptors: wait instead of spinning.
                            tracing::warn!(error = %e, "http source cannot accept a connection");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            continue;
                        }
                    };
                    let Ok(permit) = Arc::clone(&limit).try_acquire_owned() else {
                        tracing::warn!(%peer, "http source at its connection limit; closing a new connection");
                        continue;
                    };
                    let shared = Arc::clone(&shared);
                    let draining = draining.clone();
                    connections.spawn(async move {
                        serve_connection(stream, shared, draining).await;
                        drop(permit);
                    });
                }
            }
        }
        drop(listener);
        let _ = drain.send(true);
        drop(shared);
        let finished = tokio::time::timeout(SHUTDOWN_GRACE, async {
            while connections.join_next().await.is_some() {}
        })
        .await;
        if finished.is_err() {
            tracing::warn!("http source stopping with requests still open");
            connections.abort_all();
            while connections.join_next().await.is_some() {}
        }
    };
    tokio::join!(forward(out, to_forward), accept);
    Ok(())
}

async fn serve_connection(
    stream: tokio::net::TcpStream,
    shared: Arc<Shared>,
    mut draining: watch::Receiver<bool>,
) {
    let service = service_fn(move |req| {
        let shared = Arc::clone(&shared);
        async move { Ok::<_, Infallible>(handle(&shared, req).await) }
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT);
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(error = %e, "http connection ended with an error");
            }
        }
        _ = async { let _ = draining.wait_for(|d| *d).await; } => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

fn respond(status: StatusCode, body: Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(pipectl_core::json::to_string(&body))));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn refuse(status: StatusCode, reason: &str) -> Response<Full<Bytes>> {
    let mut map = Map::with_capacity(1);
    map.push("error", Value::from(reason));
    respond(status, Value::Object(map))
}

/// Compares without an early exit, so timing does not reveal how much of a guessed
/// token was right.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

fn authorized(config: &HttpConfig, req: &Request<Incoming>) -> bool {
    let Some(token) = &config.auth_token else {
        return true;
    };
    let Some(given) = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "))
    else {
        return false;
    };
    same_bytes(given, token.expose().as_bytes())
}

fn framing(req: &Request<Incoming>) -> Framing {
    let content_type = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match mime.as_str() {
        "application/json" => Framing::Document,
        "application/x-ndjson"
        | "application/ndjson"
        | "application/jsonlines"
        | "application/x-jsonlines"
        | "application/jsonl" => Framing::Ndjson,
        _ => Framing::Detect,
    }
}

/// Why a body could not be read.
enum BodyError {
    TooLarge,
    Read(String),
}

async fn read_body(body: &mut Incoming, max: usize) -> Result<Vec<u8>, BodyError> {
    let mut data = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| BodyError::Read(e.to_string()))?;
        if let Ok(chunk) = frame.into_data() {
            if data.len() + chunk.len() > max {
                return Err(BodyError::TooLarge);
            }
            data.extend_from_slice(&chunk);
        }
    }
    Ok(data)
}

async fn handle(shared: &Shared, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let config = &shared.config;
    if req.uri().path() != config.path {
        return refuse(StatusCode::NOT_FOUND, "no such path");
    }
    if req.method() != Method::POST {
        let mut response = refuse(StatusCode::METHOD_NOT_ALLOWED, "use POST");
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    if !authorized(config, &req) {
        let mut response = refuse(StatusCode::UNAUTHORIZED, "missing or wrong bearer token");
        response
            .headers_mut()
            .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return response;
    }
    let too_large = format!(
        "the body exceeds max_body_size ({} bytes)",
        config.max_body_size
    );
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > config.max_body_size as u64) {
        return refuse(StatusCode::PAYLOAD_TOO_LARGE, &too_large);
    }
    let framing = framing(&req);
    let mut body = req.into_body();
    let data = match tokio::time::timeout(BODY_TIMEOUT, read_body(&mut body, config.max_body_size))
        .await
    {
        Ok(Ok(data)) => data,
        Ok(Err(BodyError::TooLarge)) => return refuse(StatusCode::PAYLOAD_TOO_LARGE, &too_large),
        Ok(Err(BodyError::Read(e))) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                &format!("cannot read the body: {e}"),
            )
        }
        Err(_) => {
            return refuse(
                StatusCode::REQUEST_TIMEOUT,
                "the body took too long to arrive",
            )
        }
    };
    shared.counters.add_bytes_in(data.len() as u64);
    let objects = match decode_objects(&data, framing) {
        Ok(objects) => objects,
        Err(e) => {
            tracing::debug!(source = %shared.name, error = %e, "refused a request body");
            return refuse(StatusCode::BAD_REQUEST, &e.to_string());
        }
    };
    drop(data);
    if let Some((index, e)) = objects
        .iter()
        .enumerate()
        .find_map(|(i, o)| config.limits.check_value(o).err().map(|e| (i, e)))
    {
        return refuse(
            StatusCode::BAD_REQUEST,
            &format!("record {} of the body: {e}", index + 1),
        );
    }
    let count = objects.len();
    if count > 0 {
        let mut batch: Batch = objects
            .into_iter()
            .map(|value| Event::new(value, Arc::clone(&shared.name)))
            .collect();
        let ack = attach_ack(&mut batch);
        if shared.batches.send(batch).await.is_err() {
            return refuse(StatusCode::SERVICE_UNAVAILABLE, "the pipeline is stopping");
        }
        if ack.wait().await == BatchStatus::Failed {
            return refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "the events could not be delivered; retry later",
            );
        }
    }
    let mut map = Map::with_capacity(1);
    map.push("accepted", Value::Int(count as i64));
    respond(StatusCode::OK, Value::Object(map))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pipectl_core::shutdown::{shutdown_pair, ShutdownTrigger};
    use std::net::SocketAddr;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;
    use tokio::task::JoinHandle;

    /// What the fake downstream does with each batch.
    #[derive(Clone, Copy)]
    enum Downstream {
        Accept,
        Fail,
    }

    struct Server {
        addr: SocketAddr,
        trigger: ShutdownTrigger,
        task: JoinHandle<Result<(), ComponentError>>,
        received: JoinHandle<Vec<String>>,
    }

    async fn start(token: Option<&str>, max_body_size: usize, downstream: Downstream) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, mut rx) = mpsc::channel::<Batch>(8);
        let (trigger, shutdown) = shutdown_pair();
        let run = Run {
            name: Arc::from("web"),
            out: tx,
            shutdown,
            counters: Arc::new(ComponentCounters::default()),
        };
        let config = HttpConfig {
            address: addr.to_string(),
            path: "/ingest".into(),
            max_body_size,
            limits: InputLimits {
                max_depth: 4,
                max_fields: 8,
                ..InputLimits::default()
            },
            auth_token: token.map(Secret::new),
        };
        let task = tokio::spawn(serve(listener, config, run));
        let received = tokio::spawn(async move {
            let mut seen = Vec::new();
            while let Some(batch) = rx.recv().await {
                for event in &batch {
                    seen.push(pipectl_core::json::to_string(&event.value));
                    if let Downstream::Fail = downstream {
                        event.fail_delivery();
                    }
                }
            }
            seen
        });
        Server {
            addr,
            trigger,
            task,
            received,
        }
    }

    impl Server {
        async fn stop(self) -> Vec<String> {
            self.trigger.trigger();
            self.task.await.unwrap().unwrap();
            self.received.await.unwrap()
        }
    }

    /// Sends a raw HTTP/1.1 request and returns the status code and body.
    async fn request(addr: SocketAddr, head: &str, body: &[u8]) -> (u16, String) {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let text = format!(
            "{head}\r\nHost: test\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(text.as_bytes()).await.unwrap();
        stream.write_all(body).await.unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.unwrap();
        let response = String::from_utf8_lossy(&response).to_string();
        let status = response
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let body = response
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        (status, body)
    }

    #[tokio::test]
    async fn ndjson_and_arrays_are_ingested_and_acknowledged() {
        let server = start(None, 1 << 20, Downstream::Accept).await;
        let (status, body) = request(
            server.addr,
            "POST /ingest HTTP/1.1\r\nContent-Type: application/x-ndjson",
            b"{\"a\":1}\n{\"a\":2}\n",
        )
        .await;
        assert_eq!((status, body.as_str()), (200, r#"{"accepted":2}"#));
        let (status, body) = request(server.addr, "POST /ingest HTTP/1.1", b" [{\"b\":1}]").await;
        assert_eq!((status, body.as_str()), (200, r#"{"accepted":1}"#));
        let (status, _) = request(
            server.addr,
            "POST /ingest HTTP/1.1\r\nContent-Type: application/json; charset=utf-8",
            b"{\n \"c\": true\n}",
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(
            server.stop().await,
            [r#"{"a":1}"#, r#"{"a":2}"#, r#"{"b":1}"#, r#"{"c":true}"#]
        );
    }

    #[tokio::test]
    async fn bad_bodies_are_refused_whole_with_the_reason() {
        let server = start(None, 1 << 20, Downstream::Accept).await;
        let (status, body) = request(
            server.addr,
            "POST /ingest HTTP/1.1",
            b"{\"a\":1}\n{\"a\":\n",
        )
        .await;
        assert_eq!(status, 400);
        assert!(body.contains("line 2"), "{body}");
        let (status, body) = request(server.addr, "POST /ingest HTTP/1.1", b"[1]").await;
        assert_eq!(status, 400);
        assert!(body.contains("array element 0 is an integer"), "{body}");
        // Records over max_depth (4) or max_fields (8), counted per record.
        let (status, body) = request(
            server.addr,
            "POST /ingest HTTP/1.1",
            b"{\"a\":1}\n{\"a\":[[[[1]]]]}\n",
        )
        .await;
        assert_eq!(status, 400);
        assert!(
            body.contains(
                "record 2 of the body: the record nests deeper than max_depth (4 levels)"
            ),
            "{body}"
        );
        let wide: String = (0..9)
            .map(|i| format!("\"k{i}\":{i}"))
            .collect::<Vec<_>>()
            .join(",");
        let (status, body) = request(
            server.addr,
            "POST /ingest HTTP/1.1",
            format!("[{{\"a\":[[[1]]]}},{{{wide}}}]").as_bytes(),
        )
        .await;
        assert_eq!(status, 400);
        assert!(
            body.contains("record 2 of the body: the record has more than max_fields (8) fields"),
            "{body}"
        );
        assert!(server.stop().await.is_empty(), "nothing may be ingested");
    }

    #[tokio::test]
    async fn limits_paths_methods_and_tokens() {
        let server = start(Some("s3cret"), 16, Downstream::Accept).await;
        let auth = "Authorization: Bearer s3cret";
        let (status, _) = request(server.addr, "POST /ingest HTTP/1.1", b"{}").await;
        assert_eq!(status, 401);
        let (status, _) = request(
            server.addr,
            "POST /ingest HTTP/1.1\r\nAuthorization: Bearer s3creT",
            b"{}",
        )
        .await;
        assert_eq!(status, 401);
        let (status, _) = request(
            server.addr,
            &format!("POST /other HTTP/1.1\r\n{auth}"),
            b"{}",
        )
        .await;
        assert_eq!(status, 404);
        let (status, _) =
            request(server.addr, &format!("GET /ingest HTTP/1.1\r\n{auth}"), b"").await;
        assert_eq!(status, 405);
        let (status, body) = request(
            server.addr,
            &format!("POST /ingest HTTP/1.1\r\n{auth}"),
            b"{\"message\":\"this is too long\"}",
        )
        .await;
        assert_eq!(status, 413);
        assert!(body.contains("max_body_size"), "{body}");
        let (status, _) = request(
            server.addr,
            &format!("POST /ingest HTTP/1.1\r\n{auth}"),
            b"{\"ok\":1}",
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(server.stop().await, [r#"{"ok":1}"#]);
    }

    #[tokio::test]
    async fn a_chunked_body_over_the_limit_is_refused_while_reading() {
        let server = start(None, 16, Downstream::Accept).await;
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        let head = "POST /ingest HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
        stream.write_all(head.as_bytes()).await.unwrap();
        stream
            .write_all(b"a\r\n{\"a\":\"xxxx\r\na\r\nxxxxxxxx\"}\r\n0\r\n\r\n")
            .await
            .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        assert!(response.starts_with("HTTP/1.1 413"), "{response}");
        assert!(server.stop().await.is_empty());
    }

    #[tokio::test]
    async fn failed_delivery_answers_503() {
        let server = start(None, 1 << 20, Downstream::Fail).await;
        let (status, body) = request(server.addr, "POST /ingest HTTP/1.1", b"{\"a\":1}").await;
        assert_eq!(status, 503);
        assert!(body.contains("could not be delivered"), "{body}");
        server.stop().await;
    }

    #[test]
    fn token_comparison() {
        assert!(same_bytes(b"abc", b"abc"));
        assert!(!same_bytes(b"abc", b"abd"));
        assert!(!same_bytes(b"abc", b"abcd"));
    }
}

//! Test helpers for the API sources: a local HTTP server (hyper, 127.0.0.1, a free
//! port, stopped when dropped) that answers with a test's handler and records every
//! request, and a harness that runs a source into a channel.

use super::super::Run;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use pipectl_core::component::ComponentError;
use pipectl_core::event::{Batch, Event};
use pipectl_core::metrics::ComponentCounters;
use pipectl_core::shutdown::{shutdown_pair, ShutdownTrigger};
use reqwest::Url;
use std::convert::Infallible;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};

/// A request the server received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: String,
    pub authorization: String,
    /// `http://<Host header>`, for absolute links in answers.
    pub base: String,
    pub body: String,
    pub at: Instant,
    /// Every header, names lowercased (`content-type`...).
    pub headers: Vec<(String, String)>,
}

impl Seen {
    /// A query parameter, decoded.
    pub fn param(&self, key: &str) -> Option<String> {
        let url = Url::parse(&format!("http://x/?{}", self.query)).ok()?;
        url.query_pairs()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.into_owned())
    }

    /// A header's value (`name` lowercased), if sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A form field of the body, decoded.
    pub fn form(&self, key: &str) -> Option<String> {
        let url = Url::parse(&format!("http://x/?{}", self.body)).ok()?;
        url.query_pairs()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.into_owned())
    }
}

/// What the server answers.
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    pub fn json(body: impl Into<String>) -> Answer {
        Answer::status(200, body)
    }

    pub fn status(status: u16, body: impl Into<String>) -> Answer {
        Answer {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.into(),
        }
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Answer {
        self.headers.push((name.to_string(), value.into()));
        self
    }
}

type Handler = dyn Fn(&Seen) -> Answer + Send + Sync;

/// A local API server; stops when dropped.
pub struct MockApi {
    pub base: Url,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: JoinHandle<()>,
}

impl MockApi {
    pub async fn start(handler: impl Fn(&Seen) -> Answer + Send + Sync + 'static) -> MockApi {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let log = Arc::clone(&seen);
        let task = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                let handler = Arc::clone(&handler);
                let log = Arc::clone(&log);
                connections.spawn(async move {
                    let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        let handler = Arc::clone(&handler);
                        let log = Arc::clone(&log);
                        async move {
                            let (parts, body) = req.into_parts();
                            let body = body
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            let seen = Seen {
                                method: parts.method.to_string(),
                                path: parts.uri.path().to_string(),
                                query: parts.uri.query().unwrap_or_default().to_string(),
                                authorization: parts
                                    .headers
                                    .get("authorization")
                                    .and_then(|v| v.to_str().ok())
                                    .unwrap_or_default()
                                    .to_string(),
                                base: format!(
                                    "http://{}",
                                    parts
                                        .headers
                                        .get("host")
                                        .and_then(|v| v.to_str().ok())
                                        .unwrap_or_default()
                                ),
                                body: String::from_utf8_lossy(&body).into_owned(),
                                at: Instant::now(),
                                headers: parts
                                    .headers
                                    .iter()
                                    .map(|(k, v)| {
                                        let v = String::from_utf8_lossy(v.as_bytes());
                                        (k.as_str().to_string(), v.into_owned())
                                    })
                                    .collect(),
                            };
                            let answer = handler(&seen);
                            log.lock().unwrap().push(seen);
                            let mut response = hyper::Response::builder().status(answer.status);
                            for (k, v) in &answer.headers {
                                response = response.header(k.as_str(), v.as_str());
                            }
                            Ok::<_, Infallible>(
                                response.body(Full::new(Bytes::from(answer.body))).unwrap(),
                            )
                        }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        MockApi { base, seen, task }
    }

    /// Every request so far, in arrival order.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Waits (up to 10 s) until a request to `path` comes after the first `after`
    /// requests; returns it.
    pub async fn request_after(&self, after: usize, path: &str) -> Seen {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(seen) = self.seen().into_iter().skip(after).find(|s| s.path == path) {
                return seen;
            }
            assert!(Instant::now() < deadline, "no request to {path}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// `base` with a path, as text (for links the server returns).
    pub fn url(&self, path_and_query: &str) -> String {
        format!(
            "{}{}",
            self.base.as_str().trim_end_matches('/'),
            path_and_query
        )
    }
}

impl Drop for MockApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A running source and the channel it sends into.
pub struct Harness {
    pub rx: mpsc::Receiver<Batch>,
    trigger: ShutdownTrigger,
    task: JoinHandle<Result<(), ComponentError>>,
    pub counters: Arc<ComponentCounters>,
}

impl Harness {
    pub fn start<F>(run_source: impl FnOnce(Run<mpsc::Sender<Batch>>) -> F) -> Harness
    where
        F: Future<Output = Result<(), ComponentError>> + Send + 'static,
    {
        let (tx, rx) = mpsc::channel(64);
        let (trigger, shutdown) = shutdown_pair();
        let counters = Arc::new(ComponentCounters::default());
        let run = Run {
            name: Arc::from("api"),
            out: tx,
            shutdown,
            counters: Arc::clone(&counters),
        };
        Harness {
            rx,
            trigger,
            task: tokio::spawn(run_source(run)),
            counters,
        }
    }

    /// The next batch (not yet acknowledged: dropping it acknowledges it).
    pub async fn batch(&mut self) -> Batch {
        tokio::time::timeout(Duration::from_secs(10), self.rx.recv())
            .await
            .expect("timed out waiting for a batch")
            .expect("the source ended")
    }

    /// Receives `n` events, acknowledging each batch; returns `field` of each.
    pub async fn events(&mut self, n: usize, field: &str) -> Vec<String> {
        let mut out = Vec::new();
        while out.len() < n {
            let batch = self.batch().await;
            out.extend(batch.iter().map(|e| text(e, field)));
        }
        out
    }

    /// Requests shutdown and returns the source's result.
    pub async fn stop(self) -> Result<(), ComponentError> {
        self.trigger.trigger();
        let mut rx = self.rx;
        while rx.recv().await.is_some() {}
        self.task.await.unwrap()
    }

    /// The source's result once it stops by itself (a permanent failure).
    pub async fn ended(self) -> Result<(), ComponentError> {
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("the source did not stop")
            .unwrap()
    }
}

/// A string field of an event, or its JSON text when it is not a string.
pub fn text(event: &Event, field: &str) -> String {
    match event.value.as_object().and_then(|m| m.get(field)) {
        Some(v) => v
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| pipectl_core::json::to_string(v)),
        None => String::new(),
    }
}

/// Records an attacker could plant in an API's answer, each over one of the default
/// input limits, with `field` naming them (`deep`, `wide`, `big`): nested 10,000
/// levels deep, with 10,001 fields, and of more than 1 MiB.
pub fn hostile_records(field: &str) -> [String; 3] {
    let deep = format!(
        r#"{{"{field}":"deep","n":{}1{}}}"#,
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let fields: Vec<String> = (0..10_000).map(|i| format!(r#""f{i}":{i}"#)).collect();
    let wide = format!(r#"{{"{field}":"wide",{}}}"#, fields.join(","));
    let big = format!(r#"{{"{field}":"big","pad":"{}"}}"#, "x".repeat(1 << 20));
    [deep, wide, big]
}

/// The reasons of the three [`hostile_records`], in their order.
pub const HOSTILE_REASONS: [&str; 3] = [
    "the record nests deeper than max_depth (32 levels)",
    "the record has more than max_fields (10000) fields",
    "more than max_event_size (1048576 bytes)",
];

/// `pipectl.error.message` of an error record.
pub fn error_reason(event: &Event) -> Option<String> {
    let error = event
        .value
        .as_object()?
        .get("pipectl")?
        .as_object()?
        .get("error")?;
    Some(error.as_object()?.get("message")?.as_str()?.to_string())
}

/// Receives events (acknowledging each batch) until `good` records (named by `id`)
/// and three error records have come, then checks: each good record once, in order,
/// and the three hostile records as error records naming their limit, counted as
/// errored.
pub async fn expect_hostile_held_back(
    h: &mut Harness,
    id: impl Fn(&Event) -> String,
    good: &[&str],
) {
    let mut seen_good = Vec::new();
    let mut errors = Vec::new();
    while seen_good.len() < good.len() || errors.len() < 3 {
        for event in h.batch().await.iter() {
            match error_reason(event) {
                Some(reason) => {
                    let message = text(event, "message");
                    assert!(message.len() <= crate::limits::REJECTED_HEAD, "{message}");
                    errors.push(reason);
                }
                None => seen_good.push(id(event)),
            }
        }
    }
    assert_eq!(seen_good, good);
    for (reason, expected) in errors.iter().zip(HOSTILE_REASONS) {
        assert!(
            reason.contains(expected),
            "{reason} does not say {expected}"
        );
    }
    assert!(h.counters.snapshot().events_errored >= 3);
}

//! `sink opensearch`: indexes events into OpenSearch with the bulk API.
//!
//! The parts, one module each:
//! - [`config`]: the catalogue entry and the settings;
//! - [`routing`] and [`time`]: which index a document goes to (time-partitioned by the
//!   document's own time, as docs/schema.md decides);
//! - [`encode`]: bulk lines with deterministic `_id`s, and acknowledgements that fail
//!   unless explicitly delivered;
//! - [`run`]: batching by count, bytes and time, and the concurrency limit;
//! - [`deliver`]: one request's retries, per-item handling and dead-lettering;
//! - [`bulk`], [`retry`], [`deadletter`]: the `_bulk` call, backoff, dead-letter records
//!   and the local file;
//! - [`client`] and [`setup`]: the HTTP client with auth and TLS, the start-up check,
//!   and the template installer `pipectl opensearch setup` shares.
//!
//! With `buffer = "disk"` (the default) events go through a write-ahead log first
//! (`crate::buffer`): they are acknowledged to their sources once durably in it, and
//! the log forgets them only once OpenSearch accepted them (docs/reliability.md).
//! Without it: an event is acknowledged only once OpenSearch accepted it or it was
//! durably dead-lettered (in the dead-letter index, or the local file synced to disk).
//! While OpenSearch is unreachable or overloaded the sink retries for ever and stops
//! reading, so backpressure holds the sources; once the input has ended it retries
//! for `drain_timeout`, then writes the rest to the dead-letter file. Configuration
//! errors (credentials, version, a refused request) stop the sink with the reason,
//! failing its events back to their sources.

pub mod bulk;
pub mod client;
pub mod config;
pub mod deadletter;
pub mod deliver;
pub mod encode;
pub mod retry;
pub mod routing;
pub mod run;
pub mod setup;
pub mod time;

use crate::buffer::run::Buffered;
use crate::io::BatchInput;
use client::Client;
use config::OpenSearchConfig;
pub use config::SPEC;
use deadletter::{DeadLetterFile, Origin};
use deliver::Delivery;
use encode::Encoder;
use futures::future::BoxFuture;
use pipectl_core::component::{
    BuildContext, BuildError, Built, ComponentError, Factory, Sink, SinkContext,
};
use pipectl_core::config::Attrs;
use pipectl_core::metrics::ComponentCounters;
use pipectl_dsl::plan::ComponentPlan;
use std::sync::Arc;

/// Builds `sink opensearch`.
pub const FACTORY: Factory = Factory { spec: &SPEC, build };

fn build(plan: &ComponentPlan, ctx: &BuildContext<'_>) -> Result<Built, BuildError> {
    let attrs = Attrs::new(plan, ctx);
    let config = OpenSearchConfig::from_attrs(&attrs, &ctx.data_dir)?;
    let client = Client::new(&config.connect).map_err(|e| attrs.error(e.to_string()))?;
    let https = client.url().starts_with("https:");
    if config.connect.insecure_skip_verify {
        tracing::warn!(
            component = %plan.name,
            url = %client.url(),
            "insecure_skip_verify = true: the certificate of OpenSearch is NOT checked; anyone on the network path can read and alter what is sent, credentials included. Use ca_file instead outside a lab."
        );
    }
    if !https && (config.connect.insecure_skip_verify || config.connect.ca_file.is_some()) {
        tracing::warn!(component = %plan.name, url = %client.url(), "ca_file and insecure_skip_verify apply to https endpoints only");
    }
    if !https && client.username.is_some() && !is_loopback(client.url()) {
        tracing::warn!(component = %plan.name, url = %client.url(), "basic-auth credentials are sent over plain http");
    }
    let origin = Origin {
        pipeline: Arc::from(ctx.pipeline),
        component: Arc::from(plan.name.as_str()),
    };
    Ok(Built::Sink(Box::new(OpenSearchSink {
        config,
        client,
        origin,
    })))
}

fn is_loopback(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    ["127.", "localhost", "[::1]"]
        .iter()
        .any(|p| rest.starts_with(p))
}

/// A built `sink opensearch`.
pub struct OpenSearchSink {
    config: OpenSearchConfig,
    client: Client,
    origin: Origin,
}

impl OpenSearchSink {
    /// Runs the sink over any input (the runtime's, or a channel in tests).
    pub(crate) async fn run_with<I: BatchInput>(
        self,
        name: Arc<str>,
        input: I,
        counters: Arc<ComponentCounters>,
    ) -> Result<(), ComponentError> {
        let OpenSearchSink {
            config,
            client,
            origin,
        } = self;
        let delivery = Arc::new(Delivery::new(
            client,
            name,
            origin,
            counters,
            config.compress,
            (config.initial_backoff, config.max_backoff),
            config.drain_timeout,
            config.deadletter_index,
            DeadLetterFile::new(config.deadletter_file),
            config.setup_templates,
        ));
        let encoder = Encoder::new(config.router, Some(config.id_field));
        match config.buffer {
            None => run::run(input, encoder, delivery, config.batching).await,
            Some(buffer) => {
                let buffered = Buffered {
                    config: buffer,
                    name: Arc::clone(&delivery.name),
                    counters: Arc::clone(&delivery.counters),
                    drain: Some(config.drain_timeout),
                };
                buffered
                    .run(input, move |from_buffer| {
                        run::run(from_buffer, encoder, delivery, config.batching)
                    })
                    .await
            }
        }
    }
}

impl Sink for OpenSearchSink {
    fn run(self: Box<Self>, ctx: SinkContext) -> BoxFuture<'static, Result<(), ComponentError>> {
        Box::pin(self.run_with(ctx.name, ctx.input, ctx.counters))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::testkit::{plan, string, TempDir};
    use pipectl_core::ack::{AckToken, BatchStatus};
    use pipectl_core::event::Event;
    use pipectl_core::secrets::SecretStore;
    use pipectl_dsl::plan::PlanValue;
    use tokio::sync::mpsc;

    /// A server on a free loopback port that answers each request with the first
    /// route whose prefix its request line starts with (`"POST /_bulk"`), else 404
    /// (failure injection: a real node cannot be made to say these); returns its URL.
    pub(crate) async fn serving(routes: Vec<(&'static str, &'static str, String)>) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let line = String::from_utf8_lossy(&request)
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_string();
                let (status, body) = routes
                    .iter()
                    .find(|(prefix, _, _)| line.starts_with(prefix))
                    .map(|(_, status, body)| (*status, body.clone()))
                    .unwrap_or(("404 Not Found", "{}".to_string()));
                let response = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
            }
        });
        url
    }

    /// A server answering every request alike.
    pub(crate) async fn answering(status: &'static str, body: &str) -> String {
        serving(vec![("", status, body.to_string())]).await
    }

    /// A port nothing listens on.
    fn closed_port() -> u16 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    }

    fn sink(endpoint: &str, dir: &TempDir, more: Vec<(&str, PlanValue)>) -> OpenSearchSink {
        let mut attrs = vec![
            ("endpoint", string(endpoint)),
            ("index", string("pipectl-events-unit-%Y.%m.%d")),
            ("retry_initial_backoff", PlanValue::Duration(10)),
            ("retry_max_backoff", PlanValue::Duration(50)),
            (
                "deadletter_file",
                string(&dir.path().join("dead.ndjson").display().to_string()),
            ),
        ];
        attrs.extend(more);
        let p = plan(&SPEC, "search", attrs);
        let secrets = SecretStore::default();
        let ctx = BuildContext {
            pipeline: "unit",
            data_dir: dir.path().to_path_buf(),
            secrets: &secrets,
        };
        match build(&p, &ctx) {
            Ok(Built::Sink(_)) => {}
            _ => panic!("expected a sink"),
        }
        let attrs = Attrs::new(&p, &ctx);
        let config = OpenSearchConfig::from_attrs(&attrs, dir.path()).unwrap();
        let client = Client::new(&config.connect).unwrap();
        let origin = Origin {
            pipeline: Arc::from("unit"),
            component: Arc::from("search"),
        };
        OpenSearchSink {
            config,
            client,
            origin,
        }
    }

    fn events(token: &AckToken, n: usize) -> Vec<Event> {
        (0..n)
            .map(|i| {
                let doc = format!(r#"{{"@timestamp":"2026-01-15T10:00:0{i}Z","n":{i}}}"#);
                let mut e = Event::new(
                    pipectl_core::json::from_str(&doc).unwrap(),
                    Arc::from("unit.input"),
                );
                e.meta.ack = Some(token.clone());
                e
            })
            .collect()
    }

    #[tokio::test]
    async fn after_the_input_ends_an_unreachable_cluster_leaves_the_rest_in_the_dead_letter_file() {
        let dir = TempDir::new("os-drain");
        let url = format!("http://127.0.0.1:{}", closed_port());
        let sink = sink(
            &url,
            &dir,
            vec![("drain_timeout", PlanValue::Duration(300))],
        );
        let (tx, rx) = mpsc::channel(4);
        let (token, ack) = AckToken::new();
        tx.send(events(&token, 3)).await.unwrap();
        drop((tx, token));
        let counters = Arc::new(ComponentCounters::default());
        let started = std::time::Instant::now();
        let err = sink
            .run_with(Arc::from("unit.search"), rx, Arc::clone(&counters))
            .await
            .unwrap_err();
        assert!(
            err.message
                .starts_with("3 document(s) could not be delivered"),
            "{}",
            err.message
        );
        assert!(err.message.contains("dead.ndjson"), "{}", err.message);
        assert!(started.elapsed() >= std::time::Duration::from_millis(300));
        assert_eq!(ack.wait().await, BatchStatus::Delivered);
        let text = std::fs::read_to_string(dir.path().join("dead.ndjson")).unwrap();
        let records: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(records.len(), 3);
        let d = &records[0]["pipectl"]["deadletter"];
        assert_eq!(d["error_type"], "unreachable");
        assert_eq!(d["index"], "pipectl-events-unit-2026.01.15");
        assert!(d["reason"].as_str().unwrap().contains(&url), "{d}");
        assert_eq!(
            d["document"],
            r#"{"@timestamp":"2026-01-15T10:00:00Z","n":0}"#
        );
        // The start-up check never got an answer, so no bulk request was ever sent.
        assert_eq!(d["attempts"], 0);
        let c = counters.snapshot();
        assert_eq!(
            (c.events_out, c.events_errored, c.events_dropped),
            (0, 3, 0)
        );
    }

    #[tokio::test]
    async fn a_refused_bulk_request_stops_the_sink_and_fails_its_events() {
        let dir = TempDir::new("os-refused");
        let root =
            r#"{"cluster_name":"c","version":{"distribution":"opensearch","number":"2.19.6"}}"#;
        let url = serving(vec![
            ("GET / ", "200 OK", root.to_string()),
            ("POST /_bulk", "403 Forbidden", r#"{"error":{"type":"security_exception","reason":"no permissions for [indices:data/write/bulk] and user [ingest] hunter2"}}"#.to_string()),
        ])
        .await;
        let more = vec![
            ("username", string("ingest")),
            ("password", string("hunter2")),
            ("setup_templates", PlanValue::Bool(false)),
            // Without the disk buffer, the source itself sees the refusal.
            ("buffer", string("none")),
        ];
        let sink = sink(&url, &dir, more);
        let (tx, rx) = mpsc::channel(4);
        let (token, ack) = AckToken::new();
        tx.send(events(&token, 2)).await.unwrap();
        drop((tx, token));
        let counters = Arc::new(ComponentCounters::default());
        let err = sink
            .run_with(Arc::from("unit.search"), rx, Arc::clone(&counters))
            .await
            .unwrap_err();
        assert!(
            err.message.contains("HTTP 403") && err.message.contains("may not write"),
            "{}",
            err.message
        );
        assert!(
            err.message.contains("[redacted]") && !err.message.contains("hunter2"),
            "{}",
            err.message
        );
        assert_eq!(ack.wait().await, BatchStatus::Failed);
        assert_eq!(counters.snapshot().events_dropped, 2);
    }
}

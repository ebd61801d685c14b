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
//! Guarantees: an event is acknowledged only once OpenSearch accepted it or it was
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
        run::run(input, encoder, delivery, config.batching).await
    }
}

impl Sink for OpenSearchSink {
    fn run(self: Box<Self>, ctx: SinkContext) -> BoxFuture<'static, Result<(), ComponentError>> {
        Box::pin(self.run_with(ctx.name, ctx.input, ctx.counters))
    }
}

//! Sinks: components that deliver events out of the pipeline.
//!
//! A sink acknowledges an event by dropping it after it is durably written; on a
//! failure it marks the batch's events failed (so no source checkpoint advances past
//! them) and returns an error, which stops the run.

pub mod blackhole;
pub mod console;
pub mod file;
pub mod opensearch;

use pipectl_core::component::{ComponentError, SinkContext, SinkInput};
use pipectl_core::event::{Batch, Event};
use pipectl_core::metrics::ComponentCounters;
use std::sync::Arc;

/// A running sink's surroundings, generic over where batches come from so the loops
/// can be driven by tests with a plain channel.
pub(crate) struct SinkRun<I> {
    pub name: Arc<str>,
    pub input: I,
    pub counters: Arc<ComponentCounters>,
}

impl SinkRun<SinkInput> {
    pub fn from_context(ctx: SinkContext) -> SinkRun<SinkInput> {
        SinkRun {
            name: ctx.name,
            input: ctx.input,
            counters: ctx.counters,
        }
    }
}

impl<I> SinkRun<I> {
    /// Fails every event of `batch` and describes the failure.
    pub fn fail(&self, batch: &Batch, message: String) -> ComponentError {
        batch.iter().for_each(Event::fail_delivery);
        ComponentError {
            component: self.name.to_string(),
            message,
        }
    }
}

/// Encodes a batch as NDJSON (one compact JSON document per line) into `buf`.
pub(crate) fn encode_ndjson(batch: &Batch, buf: &mut Vec<u8>) {
    for event in batch {
        pipectl_core::json::write(&event.value, buf);
        buf.push(b'\n');
    }
}

//! The seams between component loops and the runtime's channels.
//!
//! Sources and sinks are written against [`BatchOutput`] and [`BatchInput`] rather
//! than the runtime's concrete types, so their loops can be driven directly by unit
//! tests with plain channels, and by the runtime with its fan-out.

use pipectl_core::ack::{AckReceiver, AckToken};
use pipectl_core::component::{SinkInput, SourceOutput};
use pipectl_core::event::{Batch, Event};
use std::future::Future;

/// Every consumer of a source has gone away; the source should stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("every consumer has gone away")]
pub struct Closed;

/// Where a source sends its batches; waits while consumers are full (backpressure).
pub trait BatchOutput: Send {
    fn send_batch(&mut self, batch: Batch) -> impl Future<Output = Result<(), Closed>> + Send;
}

impl BatchOutput for SourceOutput {
    async fn send_batch(&mut self, batch: Batch) -> Result<(), Closed> {
        self.send(batch).await.map_err(|_| Closed)
    }
}

#[cfg(test)]
impl BatchOutput for tokio::sync::mpsc::Sender<Batch> {
    async fn send_batch(&mut self, batch: Batch) -> Result<(), Closed> {
        if batch.is_empty() {
            return Ok(());
        }
        self.send(batch).await.map_err(|_| Closed)
    }
}

/// Where a sink receives its batches.
pub trait BatchInput: Send {
    /// The next batch, or `None` once every upstream has finished.
    fn next_batch(&mut self) -> impl Future<Output = Option<Batch>> + Send;
}

impl BatchInput for SinkInput {
    async fn next_batch(&mut self) -> Option<Batch> {
        self.recv().await
    }
}

#[cfg(test)]
impl BatchInput for tokio::sync::mpsc::Receiver<Batch> {
    async fn next_batch(&mut self) -> Option<Batch> {
        self.recv().await
    }
}

/// Gives every event of `batch` a clone of one new acknowledgement token and returns
/// the receiver that resolves once every copy of every event is delivered or failed.
pub fn attach_ack(batch: &mut [Event]) -> AckReceiver {
    let (token, receiver) = AckToken::new();
    for event in batch.iter_mut() {
        event.meta.ack = Some(token.clone());
    }
    receiver
}

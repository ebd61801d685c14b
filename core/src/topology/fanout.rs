//! Sending one output to every consumer that reads it.

use crate::event::Batch;
use crate::metrics::ComponentCounters;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Every consumer of this output has gone away; the batch was not delivered (its
/// events' acknowledgements are marked failed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("every consumer of this output has gone away")]
pub struct SendError;

/// One output of a component, connected to the input channels of its consumers.
///
/// A batch is cloned for all consumers but the last, which gets the original. Sending
/// waits while any consumer's channel is full (backpressure). A consumer that has gone
/// away is removed and the copy meant for it is marked failed, so its source does not
/// advance past events nobody delivered. An output that had no consumers to begin with
/// drops what it is sent and counts it as dropped.
pub struct Fanout {
    consumers: Vec<mpsc::Sender<Batch>>,
    /// Whether any consumer was ever connected: an output nobody reads drops quietly,
    /// one whose readers all went away is an error.
    wired: bool,
    counters: Arc<ComponentCounters>,
}

impl Fanout {
    /// An output over the given consumer channels, counting drops in `counters`.
    pub(crate) fn new(
        consumers: Vec<mpsc::Sender<Batch>>,
        counters: Arc<ComponentCounters>,
    ) -> Fanout {
        Fanout {
            wired: !consumers.is_empty(),
            consumers,
            counters,
        }
    }

    /// Sends `batch` to every consumer, waiting while any is full. Fails only when
    /// every consumer has gone away.
    pub async fn send(&mut self, batch: Batch) -> Result<(), SendError> {
        if !self.wired {
            self.counters.add_dropped(batch.len() as u64);
            return Ok(());
        }
        let mut batch = Some(batch);
        let mut i = 0;
        while i < self.consumers.len() {
            let last = i + 1 == self.consumers.len();
            let copy = match (&batch, last) {
                (Some(b), false) => b.clone(),
                (_, _) => match batch.take() {
                    Some(b) => b,
                    None => break,
                },
            };
            match self.consumers[i].send(copy).await {
                Ok(()) => i += 1,
                Err(mpsc::error::SendError(undelivered)) => {
                    self.consumers.remove(i);
                    for event in &undelivered {
                        event.fail_delivery();
                    }
                }
            }
        }
        if self.consumers.is_empty() {
            if let Some(b) = batch {
                for event in &b {
                    event.fail_delivery();
                }
            }
            return Err(SendError);
        }
        Ok(())
    }

    /// Whether the output was read and every reader has since gone away: what is sent
    /// to it can only fail.
    pub(crate) fn is_gone(&self) -> bool {
        self.wired && self.consumers.is_empty()
    }

    /// Whether anyone ever read this output.
    pub(crate) fn is_wired(&self) -> bool {
        self.wired
    }
}

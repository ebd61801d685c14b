//! The loops of the tasks: supervision of every task and the transform driver.

use super::fanout::Fanout;
use super::summary::panic_message;
use crate::ack::AckToken;
use crate::component::{ComponentError, Transform, TransformOutput};
use crate::event::Batch;
use crate::metrics::ComponentCounters;
use crate::shutdown::ShutdownTrigger;
use futures::FutureExt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Runs a component's future, turning a panic into a [`ComponentError`]; any failure
/// stops the whole graph (sources are told to shut down and everything drains), so a
/// run never continues half broken.
pub(super) async fn supervise(
    name: String,
    stop: Arc<ShutdownTrigger>,
    task: impl Future<Output = Result<(), ComponentError>>,
) -> Result<(), ComponentError> {
    let result = match AssertUnwindSafe(task).catch_unwind().await {
        Ok(result) => result,
        Err(payload) => Err(ComponentError {
            component: name,
            message: format!("panicked: {}", panic_message(payload.as_ref())),
        }),
    };
    if let Err(e) = &result {
        tracing::error!(component = %e.component, error = %e.message, "component failed; stopping the graph");
        stop.trigger();
    }
    result
}

/// One transform inside a (possibly one-long) chain.
pub(super) struct Stage {
    /// `pipeline.component`.
    pub name: String,
    pub transform: Box<dyn Transform>,
    pub output: TransformOutput,
    /// The fan-outs of the named ports, indexed like `output`'s ports.
    pub ports: Vec<Fanout>,
    pub counters: Arc<ComponentCounters>,
}

/// Transforms run fused in one task: each stage's default output feeds the next; the
/// last stage's default output leaves through `out`.
pub(super) struct Chain {
    pub stages: Vec<Stage>,
    pub input: mpsc::Receiver<Batch>,
    pub out: Fanout,
}

impl Chain {
    /// Receives batches until every upstream is done, then lets each stage flush what
    /// it holds back (`finish`), in order.
    pub(super) async fn run(mut self) -> Result<(), ComponentError> {
        let result = self.drive().await;
        // After a failure, or once every reader is gone, nothing will read the rest:
        // fail it so no source advances past it. (After a normal end this is empty.)
        self.input.close();
        while let Ok(batch) = self.input.try_recv() {
            batch.iter().for_each(|e| e.fail_delivery());
        }
        result
    }

    async fn drive(&mut self) -> Result<(), ComponentError> {
        while let Some(batch) = self.input.recv().await {
            let mut carry = batch;
            for stage in &mut self.stages {
                if carry.is_empty() {
                    break;
                }
                stage.counters.add_in(carry.len() as u64);
                stage.apply(carry, |t, b, out| t.transform(b, out))?;
                carry = stage.flush().await;
            }
            self.send_out(carry).await;
            if self.outputs_gone() {
                // Every reader has gone (e.g. a sink stopped): stop taking input so the
                // upstreams notice, after flushing what is held back (it fails).
                tracing::debug!(component = %self.name(), "every reader has gone; stopping");
                break;
            }
        }
        let mut carry = Batch::new();
        for stage in &mut self.stages {
            if !carry.is_empty() {
                stage.counters.add_in(carry.len() as u64);
                stage.apply(carry, |t, b, out| t.transform(b, out))?;
            }
            stage.apply(Batch::new(), |t, _, out| t.finish(out))?;
            carry = stage.flush().await;
        }
        self.send_out(carry).await;
        Ok(())
    }

    /// Whether some output of the chain was read and every such reader has gone.
    fn outputs_gone(&self) -> bool {
        let mut wired = self
            .stages
            .iter()
            .flat_map(|s| s.ports.iter())
            .chain([&self.out])
            .filter(|f| f.is_wired())
            .peekable();
        wired.peek().is_some() && wired.all(Fanout::is_gone)
    }

    fn name(&self) -> &str {
        self.stages.first().map_or("", |s| s.name.as_str())
    }

    async fn send_out(&mut self, batch: Batch) {
        if batch.is_empty() {
            return;
        }
        let n = batch.len() as u64;
        if self.out.send(batch).await.is_err() {
            if let Some(last) = self.stages.last() {
                last.counters.add_dropped(n);
            }
        }
    }
}

impl Stage {
    /// Calls the transform, catching a panic: the batch's acknowledgements are failed
    /// and the panic becomes this component's error.
    fn apply(
        &mut self,
        batch: Batch,
        call: impl FnOnce(&mut dyn Transform, Batch, &mut TransformOutput),
    ) -> Result<(), ComponentError> {
        let acks = distinct_acks(&batch);
        let transform = &mut *self.transform;
        let output = &mut self.output;
        match std::panic::catch_unwind(AssertUnwindSafe(|| call(transform, batch, output))) {
            Ok(()) => Ok(()),
            Err(payload) => {
                acks.iter().for_each(AckToken::fail);
                Err(ComponentError {
                    component: self.name.clone(),
                    message: format!("panicked: {}", panic_message(payload.as_ref())),
                })
            }
        }
    }

    /// Counts and sends the named ports' events; returns the default output's.
    async fn flush(&mut self) -> Batch {
        let out = &mut self.output;
        self.counters.add_dropped(std::mem::take(&mut out.dropped));
        self.counters.add_errored(std::mem::take(&mut out.errored));
        for (i, (_, events)) in out.named.iter_mut().enumerate() {
            if events.is_empty() {
                continue;
            }
            let batch = std::mem::take(events);
            let n = batch.len() as u64;
            self.counters.add_out(n);
            match self.ports.get_mut(i) {
                Some(port) => {
                    if port.send(batch).await.is_err() {
                        self.counters.add_dropped(n);
                    }
                }
                None => self.counters.add_dropped(n),
            }
        }
        let default = std::mem::take(&mut out.default);
        self.counters.add_out(default.len() as u64);
        default
    }
}

/// The acknowledgement tokens of a batch. Events of one source batch are adjacent, so
/// comparing with the last token kept is enough to keep this short; a repeat is
/// harmless (failing is idempotent).
fn distinct_acks(batch: &Batch) -> Vec<AckToken> {
    let mut acks: Vec<AckToken> = Vec::new();
    for event in batch {
        if let Some(token) = &event.meta.ack {
            if !acks.last().is_some_and(|t| t.same_batch(token)) {
                acks.push(token.clone());
            }
        }
    }
    acks
}

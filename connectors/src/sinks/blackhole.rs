//! `sink blackhole`: accepts and discards everything. For benchmarks and for
//! measuring a pipeline without its outputs; events count as delivered.

use super::SinkRun;
use crate::io::BatchInput;
use futures::future::BoxFuture;
use pipectl_core::component::{
    BuildContext, BuildError, Built, ComponentError, Factory, Sink, SinkContext,
};
use pipectl_dsl::catalogue::ComponentSpec;
use pipectl_dsl::plan::{ComponentKind, ComponentPlan};

/// The catalogue entry of `sink blackhole`.
pub static SPEC: ComponentSpec = ComponentSpec {
    kind: ComponentKind::Sink,
    type_name: "blackhole",
    summary: "Accepts and discards every event (for benchmarks); counts them as delivered.",
    attrs: &[],
    fixed_outputs: &[],
    outputs_from: None,
};

/// Builds `sink blackhole`.
pub const FACTORY: Factory = Factory { spec: &SPEC, build };

fn build(_plan: &ComponentPlan, _ctx: &BuildContext<'_>) -> Result<Built, BuildError> {
    Ok(Built::Sink(Box::new(Blackhole)))
}

/// A built `sink blackhole`.
pub struct Blackhole;

impl Sink for Blackhole {
    fn run(self: Box<Self>, ctx: SinkContext) -> BoxFuture<'static, Result<(), ComponentError>> {
        Box::pin(discard(SinkRun::from_context(ctx)))
    }
}

async fn discard<I: BatchInput>(mut run: SinkRun<I>) -> Result<(), ComponentError> {
    while let Some(batch) = run.input.next_batch().await {
        run.counters.add_out(batch.len() as u64);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::event;
    use pipectl_core::ack::{AckToken, BatchStatus};
    use pipectl_core::metrics::ComponentCounters;
    use std::sync::Arc;
    use tokio::sync::mpsc;

    #[tokio::test]
    async fn counts_and_acknowledges() {
        let (tx, rx) = mpsc::channel(4);
        let counters = Arc::new(ComponentCounters::default());
        let run = SinkRun {
            name: Arc::from("bh"),
            input: rx,
            counters: Arc::clone(&counters),
        };
        let (token, ack) = AckToken::new();
        let mut batch = vec![event("{}"), event("{}")];
        for e in &mut batch {
            e.meta.ack = Some(token.clone());
        }
        drop(token);
        tx.send(batch).await.unwrap();
        drop(tx);
        discard(run).await.unwrap();
        assert_eq!(ack.wait().await, BatchStatus::Delivered);
        assert_eq!(counters.snapshot().events_out, 2);
    }
}

//! A running graph and what it reports when it ends.

use crate::component::ComponentError;
use crate::metrics::{ComponentCounters, CounterSnapshot};
use pipectl_dsl::plan::ComponentKind;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// One spawned task: a source, a sink, or a (possibly fused) chain of transforms,
/// named after the component it reports failures for.
pub(super) struct Task {
    pub name: String,
    pub handle: JoinHandle<Result<(), ComponentError>>,
}

/// A started graph: its tasks are running.
pub struct RunningGraph {
    pub(super) tasks: Vec<Task>,
    pub(super) counters: Vec<(String, ComponentKind, Arc<ComponentCounters>)>,
    pub(super) started: Instant,
    /// Relays the caller's shutdown signal to the graph's own; stopped at the end.
    pub(super) relay: JoinHandle<()>,
}

impl RunningGraph {
    /// The live counters of every component, named `pipeline.component`, for status
    /// displays and metrics endpoints.
    pub fn counters(&self) -> Vec<(String, ComponentKind, Arc<ComponentCounters>)> {
        self.counters.clone()
    }

    /// Resolves when every task has ended: finite sources finished and everything
    /// drained, or shutdown was requested (or a component failed) and the graph
    /// drained. A component that failed or panicked is reported as an error.
    pub async fn wait(self) -> Result<RunSummary, Vec<ComponentError>> {
        let mut errors = Vec::new();
        for task in self.tasks {
            match task.handle.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => errors.push(e),
                Err(join) => errors.push(ComponentError {
                    component: task.name,
                    message: if join.is_panic() {
                        format!("panicked: {}", panic_message(join.into_panic().as_ref()))
                    } else {
                        "the task was cancelled".to_string()
                    },
                }),
            }
        }
        self.relay.abort();
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(RunSummary {
            components: self
                .counters
                .iter()
                .map(|(name, kind, c)| ComponentSummary {
                    name: name.clone(),
                    kind: *kind,
                    counters: c.snapshot(),
                })
                .collect(),
            elapsed: self.started.elapsed(),
        })
    }
}

/// The text of a panic payload, when it has one.
pub(super) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".to_string()
    }
}

/// What a finished run did, per component.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunSummary {
    /// In plan order: pipelines by name, components by name.
    pub components: Vec<ComponentSummary>,
    /// Serialised as `elapsed_seconds`, a float.
    #[serde(rename = "elapsed_seconds", serialize_with = "seconds")]
    pub elapsed: Duration,
}

fn seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// The final counters of one component.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ComponentSummary {
    /// `pipeline.component`.
    pub name: String,
    pub kind: ComponentKind,
    /// Events out include those sent to named ports (`errors` too); dropped includes
    /// events sent to an output nobody reads.
    pub counters: CounterSnapshot,
}

impl fmt::Display for RunSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self
            .components
            .iter()
            .map(|c| c.name.len())
            .chain([9])
            .max()
            .unwrap_or(9);
        writeln!(
            f,
            "{:<width$}  {:<9}  {:>10}  {:>10}  {:>10}  {:>10}",
            "component", "kind", "in", "out", "dropped", "errored"
        )?;
        for c in &self.components {
            writeln!(
                f,
                "{:<width$}  {:<9}  {:>10}  {:>10}  {:>10}  {:>10}",
                c.name,
                c.kind.keyword(),
                c.counters.events_in,
                c.counters.events_out,
                c.counters.events_dropped,
                c.counters.events_errored
            )?;
        }
        write!(f, "elapsed {:.3}s", self.elapsed.as_secs_f64())
    }
}

//! The execution graph: a checked plan becomes tokio tasks joined by bounded channels
//! carrying batches.
//!
//! Every consumer (transform or sink) has one bounded channel that all its upstreams
//! send into (fan-in); every output of a producer is a [`Fanout`] over the channels of
//! the components that read it (fan-out). A full channel makes its senders wait, so a
//! slow sink slows the sources and memory stays bounded by the channel capacities.
//! A linear chain of transforms (each reading only the previous one's default output,
//! which nobody else reads) runs fused in one task.
//!
//! A daemon runs a [`Topology`] instead, which takes new plans while it runs and
//! restarts only the components that changed (see `reload.rs`).
//!
//! The graph ends when every task has: finite sources return, channels close behind
//! them and everything downstream drains. On shutdown, or when a component fails,
//! sources are told to stop and the graph drains the same way.

mod build;
mod checks;
mod diff;
mod fanout;
mod registry;
mod reload;
mod run;
mod summary;
mod wire;

pub use build::{start, RunOptions};
pub use diff::{diff_plans, render_value, AttrChange, ComponentChange, ComponentId, PlanDiff};
pub use fanout::{Fanout, SendError};
pub use registry::Registry;
pub use reload::{ApplyReport, ComponentStatus, Topology};
pub use summary::{ComponentSummary, RunSummary, RunningGraph};

#[cfg(test)]
mod tests;

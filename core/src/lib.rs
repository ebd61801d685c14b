//! pipectl's runtime core: the event model, the execution graph built from a plan,
//! acknowledgements, counters and the expression evaluator.
//!
//! `core` knows no connector: components plug in through [`component::Factory`].

pub mod ack;
pub mod component;
pub mod config;
pub mod detect;
pub mod entity;
pub mod event;
pub mod expr;
pub mod json;
pub mod metrics;
pub mod path;
pub mod secrets;
pub mod shutdown;
pub mod store;
#[cfg(test)]
mod test_alloc;
pub mod topology;
pub mod value;

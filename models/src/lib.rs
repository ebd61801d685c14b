//! pipectl's unsupervised model stages (docs/models.md): `model behaviour`, the pattern
//! of life of every entity compared with its own past, its peer group and the
//! organisation, writing model breaches (docs/schema.md §5).
//!
//! Models depend on `core` only; the CLI registers [`factories`].

pub mod behaviour;
pub mod breach;
pub mod explain;
pub mod features;
pub mod maths;
pub mod model;
pub mod persist;
mod queue;
pub mod state;

use pipectl_core::component::Factory;

/// The model component types this crate provides.
pub fn factories() -> Vec<Factory> {
    vec![behaviour::FACTORY]
}
#[cfg(test)]
mod tests;

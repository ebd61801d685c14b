//! Transforms: synchronous steps over batches. The runtime drives them (and may fuse
//! a chain of them into one task); they never block and never panic on input.

pub mod enrich;
pub mod filter;
pub mod join;
pub mod normalise;
pub mod parse;
pub mod route;
pub mod script;

//! The pipectl pipeline language.
//!
//! Parse → check → compile, each a module, in the manner of small languages done well:
//! [`parse`] turns text into an AST with spans (comments kept for the formatter),
//! [`check`] reports every error against the [`catalogue::Catalogue`], and a clean AST
//! compiles to a [`plan::Plan`], the plain data the runtime consumes. [`fmt`] prints the
//! one canonical layout.

pub mod catalogue;
pub mod functions;
pub mod plan;

//! The pipectl pipeline language.
//!
//! Parse → check → compile, each a module, in the manner of small languages done well:
//! [`parse`] turns text into an AST with spans (comments kept for the formatter),
//! `check` reports every error against the [`catalogue::Catalogue`], and a clean AST
//! compiles to a [`plan::Plan`], the plain data the runtime consumes. [`fmt`] prints the
//! one canonical layout; [`mod@reference`] documents the language and the catalogue.
//!
//! The entry points the CLI uses: [`load_paths`], [`compile`], [`render`] /
//! [`render_short`], [`format_source`] and [`reference::generate`]; components test
//! their catalogue entries with [`catalogue_errors`].

pub mod ast;
pub mod catalogue;
mod check;
pub mod codes;
mod compile;
#[cfg(test)]
mod corpus_tests;
pub mod diag;
pub mod fmt;
#[cfg(test)]
mod fmt_tests;
pub mod functions;
pub mod literal;
pub mod parse;
pub mod plan;
mod prescan;
pub mod reference;
#[cfg(test)]
mod robustness_tests;
pub mod source;
pub mod suggest;
#[cfg(test)]
mod testing;

pub use check::{catalogue_errors, default_value};
pub use compile::{compile, Compilation};
pub use diag::{render, render_short, Diagnostic, Severity, Span};
pub use fmt::format_source;
pub use source::{load_paths, LoadError, SourceFile};

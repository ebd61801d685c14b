//! `pipectl replay`'s parts: reading the archive ([`archive`], raw vendor files in
//! [`raw`]), cutting the pipeline
//! ([`split`]), handing what the in-process stages emit to the real sinks and
//! responders ([`feed`]) and showing progress ([`progress`]).

pub mod archive;
pub mod feed;
pub mod progress;
pub mod raw;
pub mod split;

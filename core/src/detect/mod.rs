//! Detection: rule engines that turn events into rule hits (docs/schema.md §6).
//!
//! Today this is the Sigma engine and its `detect sigma` component; the registry adds
//! [`factories`] to the connectors' so pipelines can use them.

pub mod sigma;

use crate::component::Factory;

/// The detection component types core provides.
pub fn factories() -> Vec<Factory> {
    vec![sigma::stage::FACTORY]
}

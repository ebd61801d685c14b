//! Detection and correlation: the Sigma engine (`detect sigma`, rule hits of
//! docs/schema.md §6) and the threat correlator (`correlate threat`, incidents of §7);
//! the registry adds [`factories`] to the connectors' so pipelines can use them.

pub mod sigma;
pub mod threat;

use crate::component::Factory;

/// The detection and correlation component types core provides.
pub fn factories() -> Vec<Factory> {
    vec![sigma::stage::FACTORY, threat::stage::FACTORY]
}

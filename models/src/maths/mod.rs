//! The mathematics of the behaviour model, free of events and configuration so each
//! piece can be tested against known distributions: fixed hashing, forward decay,
//! hierarchical Pitman–Yor novelty, seasonal Laplace baselines, distinct sketches,
//! time-of-week categoricals, MinHash similarity, peer deviation over days and the
//! empirical calibration of tails.

pub mod baseline;
pub mod calibration;
pub mod decay;
pub mod distinct;
pub mod hash;
pub mod minhash;
pub mod novelty;
pub mod peer;
pub mod week;

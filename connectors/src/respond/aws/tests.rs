//! AWS actions against moto.

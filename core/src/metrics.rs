//! Per-component counters, cheap enough to bump on every batch.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters of one component. Updated with relaxed atomics: they are statistics, read
/// by status commands and the final summary.
#[derive(Debug, Default)]
pub struct ComponentCounters {
    events_in: AtomicU64,
    events_out: AtomicU64,
    events_dropped: AtomicU64,
    events_errored: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
}

/// A point-in-time copy of [`ComponentCounters`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CounterSnapshot {
    pub events_in: u64,
    pub events_out: u64,
    pub events_dropped: u64,
    pub events_errored: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

impl ComponentCounters {
    pub fn add_in(&self, n: u64) {
        self.events_in.fetch_add(n, Ordering::Relaxed);
    }
    pub fn add_out(&self, n: u64) {
        self.events_out.fetch_add(n, Ordering::Relaxed);
    }
    pub fn add_dropped(&self, n: u64) {
        self.events_dropped.fetch_add(n, Ordering::Relaxed);
    }
    pub fn add_errored(&self, n: u64) {
        self.events_errored.fetch_add(n, Ordering::Relaxed);
    }
    pub fn add_bytes_in(&self, n: u64) {
        self.bytes_in.fetch_add(n, Ordering::Relaxed);
    }
    pub fn add_bytes_out(&self, n: u64) {
        self.bytes_out.fetch_add(n, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> CounterSnapshot {
        CounterSnapshot {
            events_in: self.events_in.load(Ordering::Relaxed),
            events_out: self.events_out.load(Ordering::Relaxed),
            events_dropped: self.events_dropped.load(Ordering::Relaxed),
            events_errored: self.events_errored.load(Ordering::Relaxed),
            bytes_in: self.bytes_in.load(Ordering::Relaxed),
            bytes_out: self.bytes_out.load(Ordering::Relaxed),
        }
    }
}

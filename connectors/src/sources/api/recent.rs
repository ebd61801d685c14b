//! A bounded memory of the keys of the records read last, for APIs that may return a
//! record again: Box's `admin_logs_streaming` delivers at least once, and a Dropbox
//! cursor that is reset is restarted a little before where it stopped. Kept in the
//! stream's cursor, so it is checkpointed with it and a restart drops what was
//! already emitted (and acknowledged) as well.
//!
//! Only the newest `capacity` keys are kept, oldest forgotten first: memory and the
//! checkpoint stay bounded, at the price that a repeat older than that comes through
//! again (a duplicate, never a loss).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::{HashSet, VecDeque};

/// The keys of the latest records, oldest first.
#[derive(Debug, Clone, Default)]
pub(crate) struct RecentIds {
    order: VecDeque<String>,
    known: HashSet<String>,
    capacity: usize,
}

impl RecentIds {
    /// Remembers up to `capacity` keys (at least one).
    pub fn new(capacity: usize) -> RecentIds {
        RecentIds {
            order: VecDeque::new(),
            known: HashSet::new(),
            capacity: capacity.max(1),
        }
    }

    /// The same keys under a (possibly new) capacity, the oldest dropped if they no
    /// longer fit: a checkpoint written with another setting still loads.
    pub fn limited(mut self, capacity: usize) -> RecentIds {
        self.capacity = capacity.max(1);
        self.trim();
        self
    }

    /// Remembers `key`; `false` when it was already remembered (a repeat).
    pub fn insert(&mut self, key: &str) -> bool {
        if self.known.contains(key) {
            return false;
        }
        self.known.insert(key.to_string());
        self.order.push_back(key.to_string());
        self.trim();
        true
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.order.len()
    }

    fn trim(&mut self) {
        while self.order.len() > self.capacity {
            if let Some(oldest) = self.order.pop_front() {
                self.known.remove(&oldest);
            }
        }
    }
}

impl PartialEq for RecentIds {
    fn eq(&self, other: &RecentIds) -> bool {
        self.order == other.order
    }
}

impl Serialize for RecentIds {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.order.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for RecentIds {
    /// Loads every key stored; the owner applies its capacity with
    /// [`RecentIds::limited`].
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<RecentIds, D::Error> {
        let keys = Vec::<String>::deserialize(deserializer)?;
        let mut recent = RecentIds::new(keys.len());
        for key in &keys {
            recent.insert(key);
        }
        Ok(recent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_are_recognised_and_the_oldest_forgotten() {
        let mut recent = RecentIds::new(2);
        assert!(recent.insert("a"));
        assert!(recent.insert("b"));
        assert!(!recent.insert("a"));
        assert!(recent.insert("c"));
        assert_eq!(recent.len(), 2);
        // `a` was forgotten: it counts as new again.
        assert!(recent.insert("a"));
        assert!(!recent.insert("c"));
    }

    #[test]
    fn they_survive_a_checkpoint_under_a_smaller_capacity() {
        let mut recent = RecentIds::new(3);
        for key in ["a", "b", "c"] {
            recent.insert(key);
        }
        let text = serde_json::to_string(&recent).unwrap();
        assert_eq!(text, r#"["a","b","c"]"#);
        let mut loaded = serde_json::from_str::<RecentIds>(&text).unwrap().limited(2);
        assert_eq!(loaded.len(), 2);
        assert!(!loaded.insert("c"));
        assert!(loaded.insert("a"));
    }
}

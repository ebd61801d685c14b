//! The queue of open windows, by end time, with the buffers closed windows leave
//! behind kept for the next ones.
//!
//! When each entity is active a few times a day, nearly every event opens a window
//! per windowed feature and a later event closes it: recycling the bucket vectors and
//! the distinct-value sets keeps the allocator out of that cycle. Recycled buffers
//! are empty, so nothing observable depends on where a buffer came from.

use std::collections::BTreeMap;

/// An entity's place in the model: the fixed hash of its kind and id.
pub(crate) type Slot = u64;

/// Open windows ending at one time: (entity, feature, start).
pub(crate) type WindowBucket = Vec<(Slot, u16, i64)>;

/// Spare exact sets larger than this are dropped rather than kept.
const SPARE_SET_CAPACITY: usize = 8;

/// Open windows by end time. Windows are aligned to their length, so many share an
/// end: buckets keep pushes O(log ends) with no key comparisons.
#[derive(Debug, Default)]
pub(crate) struct WindowQueue {
    by_end: BTreeMap<i64, WindowBucket>,
    /// An emptied bucket, reused for the next end.
    spare_bucket: WindowBucket,
    /// Emptied exact distinct-value sets, reused by the next distinct windows.
    spare_sets: Vec<Vec<u64>>,
}

impl WindowQueue {
    pub(crate) fn clear(&mut self) {
        self.by_end.clear();
    }

    /// Queues the window of `feature` of entity `key` that starts at `start`.
    pub(crate) fn push(&mut self, end: i64, key: Slot, feature: u16, start: i64) {
        let spare = &mut self.spare_bucket;
        self.by_end
            .entry(end)
            .or_insert_with(|| std::mem::take(spare))
            .push((key, feature, start));
    }

    /// The earliest end at or before `horizon` and its windows in (entity, feature,
    /// start) order, removed from the queue.
    pub(crate) fn pop_due(&mut self, horizon: i64) -> Option<(i64, WindowBucket)> {
        let entry = self.by_end.first_entry()?;
        if *entry.key() > horizon {
            return None;
        }
        let end = *entry.key();
        let mut due = entry.remove();
        due.sort_unstable();
        Some((end, due))
    }

    /// Takes back a bucket [`pop_due`](Self::pop_due) returned, once processed.
    pub(crate) fn recycle_bucket(&mut self, mut bucket: WindowBucket) {
        bucket.clear();
        if bucket.capacity() > self.spare_bucket.capacity() {
            self.spare_bucket = bucket;
        }
    }

    /// An empty set for a new distinct window.
    pub(crate) fn take_set(&mut self) -> Vec<u64> {
        self.spare_sets.pop().unwrap_or_default()
    }

    /// Takes back the set of a closed distinct window.
    pub(crate) fn recycle_set(&mut self, mut set: Vec<u64>) {
        if set.capacity() > 0 && set.capacity() <= SPARE_SET_CAPACITY {
            set.clear();
            self.spare_sets.push(set);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_come_out_by_end_then_entity_feature_and_start() {
        let mut q = WindowQueue::default();
        q.push(20, 7, 1, 10);
        q.push(10, 9, 0, 0);
        q.push(20, 3, 2, 10);
        q.push(20, 3, 0, 10);
        assert!(q.pop_due(5).is_none());
        let (end, due) = q.pop_due(25).unwrap();
        assert_eq!((end, due), (10, vec![(9, 0, 0)]));
        let (end, due) = q.pop_due(25).unwrap();
        assert_eq!(end, 20);
        assert_eq!(due, vec![(3, 0, 10), (3, 2, 10), (7, 1, 10)]);
        q.recycle_bucket(due);
        assert!(q.pop_due(i64::MAX).is_none());
        q.push(30, 1, 0, 20);
        assert_eq!(q.pop_due(30).unwrap(), (30, vec![(1, 0, 20)]));
    }

    #[test]
    fn recycled_sets_come_back_empty() {
        let mut q = WindowQueue::default();
        q.recycle_set(vec![1, 2, 3]);
        q.recycle_set((0..100).collect());
        let set = q.take_set();
        assert!(set.is_empty() && set.capacity() >= 3);
        assert_eq!(q.take_set().capacity(), 0, "large sets are not kept");
    }
}

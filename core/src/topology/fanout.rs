//! Sending one output to every consumer that reads it.
//!
//! The list of consumers lives in an [`OutputSlot`] shared by the producing task's
//! [`Fanout`] and the topology, so a reload can add, remove or replace consumers of a
//! running producer without stopping it (the Vector approach, with shared state instead
//! of control messages: a producer that is idle holds no sender, so a consumer being
//! replaced sees its input close as soon as its upstreams let go of it).

use crate::event::Batch;
use crate::metrics::ComponentCounters;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::{mpsc, Notify};

/// Every consumer of this output has gone away; the batch was not delivered (its
/// events' acknowledgements are marked failed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("every consumer of this output has gone away")]
pub struct SendError;

/// One consumer of an output: its input channel, or none while a reload replaces it
/// (senders then wait: nothing is sent to the old instance nor dropped).
struct Consumer {
    /// `pipeline.component` of the consumer, for the topology to find it.
    key: Arc<str>,
    tx: Option<mpsc::Sender<Batch>>,
}

struct SlotState {
    consumers: Vec<Consumer>,
    /// Whether the output is read: an output nobody reads drops quietly, one whose
    /// readers all went away (failed) is an error.
    wired: bool,
    /// Live samples for `tap`: lossy (never slow the pipeline), without acknowledgement
    /// handles (a sample never holds back a checkpoint).
    taps: Vec<mpsc::Sender<Batch>>,
}

/// The consumers of one output of one component, shared between its running task and
/// the topology.
pub(crate) struct OutputSlot {
    state: Mutex<SlotState>,
    /// Wakes senders waiting for a paused consumer to be replaced.
    resumed: Notify,
}

impl OutputSlot {
    pub(crate) fn new() -> Arc<OutputSlot> {
        Arc::new(OutputSlot {
            state: Mutex::new(SlotState {
                consumers: Vec::new(),
                wired: false,
                taps: Vec::new(),
            }),
            resumed: Notify::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, SlotState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Connects a consumer (or resumes it, when it was paused under the same key).
    pub(crate) fn connect(&self, key: &str, tx: mpsc::Sender<Batch>) {
        let mut state = self.lock();
        match state.consumers.iter_mut().find(|c| &*c.key == key) {
            Some(consumer) => consumer.tx = Some(tx),
            None => state.consumers.push(Consumer {
                key: Arc::from(key),
                tx: Some(tx),
            }),
        }
        state.wired = true;
        drop(state);
        self.resumed.notify_waiters();
    }

    /// Holds batches meant for `key` until it is connected again; its old channel is
    /// released so the old instance drains and ends.
    pub(crate) fn pause(&self, key: &str) {
        if let Some(consumer) = self.lock().consumers.iter_mut().find(|c| &*c.key == key) {
            consumer.tx = None;
        }
    }

    /// Disconnects `key` for good.
    pub(crate) fn disconnect(&self, key: &str) {
        let mut state = self.lock();
        state.consumers.retain(|c| &*c.key != key);
        state.wired = !state.consumers.is_empty();
        drop(state);
        self.resumed.notify_waiters();
    }

    /// Disconnects every consumer still paused (a safety net: a reload resumes or
    /// removes all it paused, so a sender never waits forever).
    pub(crate) fn drop_paused(&self) {
        let mut state = self.lock();
        let before = state.consumers.len();
        state.consumers.retain(|c| c.tx.is_some());
        if state.consumers.len() != before {
            state.wired = !state.consumers.is_empty();
        }
        drop(state);
        self.resumed.notify_waiters();
    }

    /// The keys of the consumers, in order.
    pub(crate) fn consumer_keys(&self) -> Vec<Arc<str>> {
        self.lock()
            .consumers
            .iter()
            .map(|c| Arc::clone(&c.key))
            .collect()
    }

    /// Adds a live sample of what leaves this output.
    pub(crate) fn add_tap(&self, tx: mpsc::Sender<Batch>) {
        self.lock().taps.push(tx);
    }

    /// How many taps sample this output; forgets those whose client went away.
    pub(crate) fn tap_count(&self) -> usize {
        let mut state = self.lock();
        state.taps.retain(|tap| !tap.is_closed());
        state.taps.len()
    }

    /// Moves the taps of `old` (a replaced instance) here.
    pub(crate) fn inherit_taps(&self, old: &OutputSlot) {
        let taps = std::mem::take(&mut old.lock().taps);
        self.lock().taps.extend(taps);
    }

    /// The senders to use for one batch, waiting while a consumer is paused; feeds the
    /// taps on the way.
    async fn senders(&self, batch: &Batch) -> (bool, Vec<mpsc::Sender<Batch>>) {
        loop {
            let resumed = self.resumed.notified();
            tokio::pin!(resumed);
            resumed.as_mut().enable();
            {
                let mut state = self.lock();
                if state.consumers.iter().all(|c| c.tx.is_some()) {
                    if !state.taps.is_empty() {
                        feed_taps(&mut state.taps, batch);
                    }
                    let senders = state
                        .consumers
                        .iter()
                        .filter_map(|c| c.tx.clone())
                        .collect();
                    return (state.wired, senders);
                }
            }
            resumed.await;
        }
    }

    /// Lets go of every consumer: the producer has ended, so nothing will be sent here
    /// again and its consumers' inputs may close.
    fn release(&self) {
        self.lock().consumers.clear();
    }

    fn remove_channel(&self, gone: &mpsc::Sender<Batch>) {
        self.lock()
            .consumers
            .retain(|c| !c.tx.as_ref().is_some_and(|tx| tx.same_channel(gone)));
    }

    fn is_gone(&self) -> bool {
        let state = self.lock();
        state.wired && state.consumers.is_empty()
    }

    fn is_wired(&self) -> bool {
        self.lock().wired
    }
}

/// Offers a copy of `batch`, without acknowledgement handles, to every tap; a full tap
/// misses it, a closed one (its client went away) is removed.
fn feed_taps(taps: &mut Vec<mpsc::Sender<Batch>>, batch: &Batch) {
    taps.retain(|tap| {
        let copy: Batch = batch
            .iter()
            .map(|event| {
                let mut event = event.clone();
                event.meta.ack = None;
                event
            })
            .collect();
        !matches!(
            tap.try_send(copy),
            Err(mpsc::error::TrySendError::Closed(_))
        )
    });
}

/// One output of a component, connected to the input channels of its consumers.
///
/// A batch is cloned for all consumers but the last, which gets the original. Sending
/// waits while any consumer's channel is full (backpressure), and while a reload
/// replaces a consumer. A consumer that has gone away is removed and the copy meant for
/// it is marked failed, so its source does not advance past events nobody delivered.
/// An output that has no consumers drops what it is sent and counts it as dropped.
pub struct Fanout {
    slot: Arc<OutputSlot>,
    counters: Arc<ComponentCounters>,
}

impl Fanout {
    /// An output over the given consumer channels, counting drops in `counters`.
    pub(crate) fn new(
        consumers: Vec<mpsc::Sender<Batch>>,
        counters: Arc<ComponentCounters>,
    ) -> Fanout {
        let slot = OutputSlot::new();
        for (i, tx) in consumers.into_iter().enumerate() {
            slot.connect(&i.to_string(), tx);
        }
        Fanout { slot, counters }
    }

    /// An output over a slot the topology keeps and rewires.
    pub(crate) fn attached(slot: Arc<OutputSlot>, counters: Arc<ComponentCounters>) -> Fanout {
        Fanout { slot, counters }
    }

    /// Sends `batch` to every consumer, waiting while any is full. Fails only when
    /// every consumer has gone away.
    pub async fn send(&mut self, batch: Batch) -> Result<(), SendError> {
        let (wired, consumers) = self.slot.senders(&batch).await;
        if !wired {
            self.counters.add_dropped(batch.len() as u64);
            return Ok(());
        }
        let mut batch = Some(batch);
        let mut delivered = 0;
        let count = consumers.len();
        for (i, consumer) in consumers.into_iter().enumerate() {
            let copy = match (&batch, i + 1 == count) {
                (Some(b), false) => b.clone(),
                (_, _) => match batch.take() {
                    Some(b) => b,
                    None => break,
                },
            };
            match consumer.send(copy).await {
                Ok(()) => delivered += 1,
                Err(mpsc::error::SendError(undelivered)) => {
                    self.slot.remove_channel(&consumer);
                    for event in &undelivered {
                        event.fail_delivery();
                    }
                }
            }
        }
        if delivered == 0 {
            if let Some(b) = batch {
                for event in &b {
                    event.fail_delivery();
                }
            }
            return Err(SendError);
        }
        Ok(())
    }

    /// Whether the output was read and every reader has since gone away: what is sent
    /// to it can only fail.
    pub(crate) fn is_gone(&self) -> bool {
        self.slot.is_gone()
    }

    /// Whether anyone reads this output.
    pub(crate) fn is_wired(&self) -> bool {
        self.slot.is_wired()
    }
}

impl Drop for Fanout {
    /// The producer has ended: its consumers no longer wait for it, even though the
    /// topology still holds the slot (for its taps).
    fn drop(&mut self) {
        self.slot.release();
    }
}

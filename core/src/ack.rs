//! End-to-end acknowledgements.
//!
//! A source hands every event of a batch a clone of one [`AckToken`]. Sinks mark a
//! token as failed when they cannot deliver an event; when the last clone is dropped
//! — every sink that received a copy is done with it — the source's [`AckReceiver`]
//! resolves with the batch's fate. Fan-out clones events, and with them the token, so a
//! checkpoint advances only after *every* sink has accepted its copy. An event a filter
//! drops on purpose counts as delivered.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// The fate of a source batch once every copy of every event is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchStatus {
    /// Every copy was accepted (or dropped on purpose).
    Delivered,
    /// At least one copy could not be delivered; the source must not advance past it.
    Failed,
}

struct AckInner {
    failed: AtomicBool,
    notify: Mutex<Option<oneshot::Sender<BatchStatus>>>,
}

impl Drop for AckInner {
    fn drop(&mut self) {
        let status = if self.failed.load(Ordering::Acquire) {
            BatchStatus::Failed
        } else {
            BatchStatus::Delivered
        };
        if let Ok(mut slot) = self.notify.lock() {
            if let Some(tx) = slot.take() {
                // The source may have stopped waiting; nothing to do then.
                let _ = tx.send(status);
            }
        }
    }
}

/// A shared handle carried by every event of one source batch.
#[derive(Clone)]
pub struct AckToken(Arc<AckInner>);

/// Resolves when every clone of the matching token is gone.
pub struct AckReceiver(oneshot::Receiver<BatchStatus>);

impl AckToken {
    /// A new token and the receiver its source waits on.
    pub fn new() -> (AckToken, AckReceiver) {
        let (tx, rx) = oneshot::channel();
        let token = AckToken(Arc::new(AckInner {
            failed: AtomicBool::new(false),
            notify: Mutex::new(Some(tx)),
        }));
        (token, AckReceiver(rx))
    }

    /// Records that a copy could not be delivered.
    pub fn fail(&self) {
        self.0.failed.store(true, Ordering::Release);
    }

    /// Whether both handles belong to the same source batch.
    pub fn same_batch(&self, other: &AckToken) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl std::fmt::Debug for AckToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AckToken")
    }
}

impl AckReceiver {
    /// Waits for the batch's fate.
    pub async fn wait(self) -> BatchStatus {
        // The sender lives in the token's shared state and always sends on drop.
        self.0.await.unwrap_or(BatchStatus::Failed)
    }

    /// Returns the fate if it is already known, without waiting.
    pub fn try_status(&mut self) -> Option<BatchStatus> {
        self.0.try_recv().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn resolves_when_last_clone_drops() {
        let (token, rx) = AckToken::new();
        let a = token.clone();
        let b = token.clone();
        drop(token);
        drop(a);
        let mut rx = rx;
        assert_eq!(rx.try_status(), None);
        drop(b);
        assert_eq!(rx.wait().await, BatchStatus::Delivered);
    }

    #[tokio::test]
    async fn any_failure_fails_the_batch() {
        let (token, rx) = AckToken::new();
        let copy = token.clone();
        copy.fail();
        drop(copy);
        drop(token);
        assert_eq!(rx.wait().await, BatchStatus::Failed);
    }
}

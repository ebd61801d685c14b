//! Graceful shutdown: sources are told to stop; everything downstream drains because
//! channels close behind them.

use tokio::sync::watch;

/// Fires once; cheap to clone and to await from many tasks.
#[derive(Clone)]
pub struct ShutdownSignal {
    rx: watch::Receiver<bool>,
}

/// Triggers the matching [`ShutdownSignal`]s.
pub struct ShutdownTrigger {
    tx: watch::Sender<bool>,
}

/// A new trigger and its signal.
pub fn shutdown_pair() -> (ShutdownTrigger, ShutdownSignal) {
    let (tx, rx) = watch::channel(false);
    (ShutdownTrigger { tx }, ShutdownSignal { rx })
}

impl ShutdownTrigger {
    pub fn trigger(&self) {
        let _ = self.tx.send(true);
    }

    pub fn signal(&self) -> ShutdownSignal {
        ShutdownSignal {
            rx: self.tx.subscribe(),
        }
    }
}

impl ShutdownSignal {
    /// Whether shutdown was requested.
    pub fn is_triggered(&self) -> bool {
        *self.rx.borrow()
    }

    /// Resolves when shutdown is requested (at once if it already was). Also resolves if
    /// the trigger is dropped, so a forgotten trigger cannot hang a source forever.
    pub async fn wait(&mut self) {
        let _ = self.rx.wait_for(|stop| *stop).await;
    }
}

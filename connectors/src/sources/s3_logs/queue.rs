//! `mode = "sqs"`: objects announced by S3 event notifications on a queue.
//!
//! Each message is handled in turn: the `s3:TestEvent` is deleted at once; every
//! `ObjectCreated` record's object is read and its events sent, then a task waits for
//! their acknowledgements and deletes the message only if every batch was delivered. A
//! failed batch, a crash or a stop before that leaves the message to be received
//! again after the visibility timeout (at-least-once).
//!
//! Bad objects (corrupt gzip, invalid JSON, no `Records`, access denied...) are logged
//! with bucket, key and reason, counted as errored, and their message is *not* deleted:
//! it comes back after the visibility timeout and, after the queue's `maxReceiveCount`,
//! the queue's redrive policy moves it to its dead-letter queue, where it can be
//! inspected and redriven. The same goes for a message that is not an S3 notification.
//! Digest files, other objects and non-`ObjectCreated` records are skipped and counted.

use super::notification::{self, Notification};
use super::{
    emit, pause, read_object, LogFormat, ObjectError, ObjectStats, Pending, S3LogSource,
    ERROR_PAUSE, SHUTDOWN_GRACE,
};
use crate::aws::s3::S3;
use crate::aws::sqs::{Message, Sqs};
use crate::io::BatchOutput;
use crate::sources::{Halt, Run};
use pipectl_core::component::ComponentError;
use std::sync::Arc;
use tokio::task::JoinSet;

/// Messages whose deletion may wait for acknowledgements at once; receiving pauses
/// beyond (the channels' backpressure usually stops it long before).
const MAX_IN_FLIGHT: usize = 256;
/// The least time between two receives from an empty queue.
const MIN_POLL: std::time::Duration = std::time::Duration::from_secs(1);

/// Receives and handles messages until shutdown or a permanent failure.
pub(super) async fn run<F: LogFormat, O: BatchOutput>(
    source: &S3LogSource<F>,
    mut run: Run<O>,
    sqs: Sqs,
    s3: S3,
) -> Result<(), ComponentError> {
    let mut deletions = JoinSet::new();
    let halt = match receive_loop::<F, O>(source, &mut run, &sqs, &s3, &mut deletions).await {
        Ok(never) => match never {},
        Err(halt) => halt,
    };
    let Run { out, name, .. } = run;
    drop(out);
    if matches!(halt, Halt::Closed) {
        // Nobody downstream: what was sent is not known to be delivered.
        deletions.abort_all();
    }
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while deletions.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            source = %name,
            unacknowledged = deletions.len(),
            "stopping before every message was acknowledged; they will be received again after the visibility timeout"
        );
        deletions.abort_all();
    }
    halt.into_result()
}

async fn receive_loop<F: LogFormat, O: BatchOutput>(
    source: &S3LogSource<F>,
    run: &mut Run<O>,
    sqs: &Sqs,
    s3: &S3,
    deletions: &mut JoinSet<()>,
) -> Result<std::convert::Infallible, Halt> {
    let config = &source.config;
    loop {
        while deletions.try_join_next().is_some() {}
        while deletions.len() >= MAX_IN_FLIGHT {
            tokio::select! {
                biased;
                _ = run.shutdown.wait() => return Err(Halt::Shutdown),
                _ = deletions.join_next() => {}
            }
        }
        let received = tokio::select! {
            biased;
            _ = run.shutdown.wait() => return Err(Halt::Shutdown),
            received = sqs.receive(config.max_messages, config.wait_time, config.visibility_timeout) => received,
        };
        let messages = match received {
            Ok(messages) => messages,
            Err(e) if e.is_transient() => {
                tracing::warn!(source = %run.name, error = %e, "cannot receive messages; trying again");
                pause(run, ERROR_PAUSE).await?;
                continue;
            }
            Err(e) => return Err(Halt::Failed(run.error(e.to_string()))),
        };
        if messages.is_empty() && config.wait_time < MIN_POLL {
            // Short polling on an empty queue: do not spin.
            pause(run, MIN_POLL).await?;
        }
        for message in messages {
            handle::<F, O>(source, run, sqs, s3, deletions, message).await?;
        }
    }
}

/// Reads what one message announces and arranges its deletion.
async fn handle<F: LogFormat, O: BatchOutput>(
    source: &S3LogSource<F>,
    run: &mut Run<O>,
    sqs: &Sqs,
    s3: &S3,
    deletions: &mut JoinSet<()>,
    message: Message,
) -> Result<(), Halt> {
    let stats = &source.stats;
    let objects = match notification::parse(&message.body) {
        Ok(Notification::Test) => {
            ObjectStats::bump(&stats.test_events);
            deletions.spawn(delete_when_delivered(
                sqs.clone(),
                Arc::clone(stats),
                message,
                Pending::new(Vec::new()),
            ));
            return Ok(());
        }
        Ok(Notification::Objects(objects)) => objects,
        Err(reason) => {
            tracing::error!(
                source = %run.name,
                queue = sqs.queue_url(),
                message_id = %message.message_id,
                reason,
                "a message that is not an S3 event notification; it stays on the queue for its redrive policy"
            );
            ObjectStats::bump(&stats.bad_messages);
            run.counters.add_errored(1);
            return Ok(());
        }
    };
    let mut acks = Vec::new();
    let mut keep = false;
    for object in objects {
        let wanted = if object.created {
            stats.admit(F::classify(&object.key))
        } else {
            ObjectStats::bump(&stats.foreign_skipped);
            false
        };
        if !wanted {
            continue;
        }
        match read_object::<F, O>(s3, run, &source.config, &object.bucket, &object.key).await? {
            Ok(events) => {
                ObjectStats::bump(&stats.objects_read);
                acks.extend(emit(run, events, source.config.batch_size).await?);
            }
            Err(ObjectError::Transient(e)) => {
                tracing::warn!(source = %run.name, error = %e, "cannot read an object now; its message will be received again");
                keep = true;
            }
            Err(ObjectError::Bad(reason)) => {
                tracing::error!(
                    source = %run.name,
                    bucket = %object.bucket,
                    key = %object.key,
                    message_id = %message.message_id,
                    reason,
                    "a bad {}; its message stays on the queue for its redrive policy",
                    F::WHAT
                );
                ObjectStats::bump(&stats.bad_objects);
                run.counters.add_errored(1);
                keep = true;
            }
        }
    }
    if !keep {
        deletions.spawn(delete_when_delivered(
            sqs.clone(),
            Arc::clone(stats),
            message,
            Pending::new(acks),
        ));
    }
    Ok(())
}

/// Deletes `message` once every batch made from it is delivered.
async fn delete_when_delivered(
    sqs: Sqs,
    stats: Arc<ObjectStats>,
    message: Message,
    pending: Pending,
) {
    if !pending.wait().await {
        tracing::warn!(
            queue = sqs.queue_url(),
            message_id = %message.message_id,
            "a batch could not be delivered; the message stays on the queue and is received again after the visibility timeout"
        );
        return;
    }
    match sqs.delete(&message.receipt_handle).await {
        Ok(()) => ObjectStats::bump(&stats.messages_deleted),
        Err(e) => tracing::warn!(
            message_id = %message.message_id,
            error = %e,
            "cannot delete a delivered message; it will be received again and its objects read twice"
        ),
    }
}

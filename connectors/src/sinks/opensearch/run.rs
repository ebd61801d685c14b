//! The sink's loop: events in, bulk requests out, at most `concurrency` in flight.
//!
//! Events are encoded as they arrive into the request being built, which is sent when
//! it holds `batch_max_events` documents or `batch_max_bytes` bytes, or
//! `batch_timeout` after its first document. Each request runs as its own task until
//! every document in it is settled (see `deliver`); while `concurrency` are running,
//! the loop stops reading its input, so a slow or absent cluster slows the sources
//! down instead of filling memory. When the input ends, what is left is sent and the
//! sink waits for every request before it returns.

use super::deliver::{Delivery, Lane};
use super::encode::{BulkBatch, Encoder, Rejection};
use super::time::now_ms;
use crate::io::BatchInput;
use pipectl_core::component::ComponentError;
use pipectl_core::event::Event;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::{JoinError, JoinSet};
use tokio::time::Instant;

/// When a request is sent and how many run at once.
#[derive(Debug, Clone, Copy)]
pub struct Batching {
    pub max_events: usize,
    pub max_bytes: usize,
    pub timeout: Duration,
    pub concurrency: usize,
}

type Tasks = JoinSet<Result<(), ComponentError>>;

/// Runs the sink until its input ends and everything is settled.
pub async fn run<I: BatchInput>(
    mut input: I,
    mut encoder: Encoder,
    delivery: Arc<Delivery>,
    batching: Batching,
) -> Result<(), ComponentError> {
    // Say at once what is wrong, rather than at the first event.
    if let Some(reason) = delivery.ensure_ready().await? {
        tracing::error!(
            component = %delivery.name,
            "{reason}; events wait (and their sources slow down) until OpenSearch answers"
        );
    }
    let mut tasks = Tasks::new();
    let mut building = BulkBatch::default();
    let mut rejections: Vec<Rejection> = Vec::new();
    let mut deadline: Option<Instant> = None;
    loop {
        let has_room = tasks.len() < batching.concurrency;
        tokio::select! {
            biased;
            Some(joined) = tasks.join_next(), if !tasks.is_empty() => finished(&delivery, joined)?,
            () = wait_until(deadline), if deadline.is_some() && has_room => {
                dispatch(&mut tasks, &delivery, &mut building, &mut rejections);
                deadline = None;
            }
            batch = input.next_batch(), if has_room => {
                let Some(events) = batch else { break };
                let now = now_ms();
                let mut events = events.into_iter();
                while let Some(event) = events.next() {
                    if let Some(rejection) = encoder.push(event, &mut building, now) {
                        rejections.push(rejection);
                    }
                    if building.len() >= batching.max_events || building.body.len() >= batching.max_bytes {
                        if let Err(e) = wait_for_room(&mut tasks, &delivery, batching.concurrency).await {
                            events.for_each(|e: Event| e.fail_delivery());
                            return Err(e);
                        }
                        dispatch(&mut tasks, &delivery, &mut building, &mut rejections);
                        deadline = None;
                    }
                }
                if deadline.is_none() && (!building.is_empty() || !rejections.is_empty()) {
                    deadline = Some(Instant::now() + batching.timeout);
                }
            }
        }
    }
    wait_for_room(&mut tasks, &delivery, batching.concurrency).await?;
    dispatch(&mut tasks, &delivery, &mut building, &mut rejections);
    delivery.start_draining();
    while let Some(joined) = tasks.join_next().await {
        finished(&delivery, joined)?;
    }
    delivery.finish()
}

async fn wait_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Starts a task for the request being built (and the refusals gathered with it).
fn dispatch(
    tasks: &mut Tasks,
    delivery: &Arc<Delivery>,
    building: &mut BulkBatch,
    rejections: &mut Vec<Rejection>,
) {
    if building.is_empty() && rejections.is_empty() {
        return;
    }
    // The next request will likely be as large: reserving that up front spares the
    // body's repeated growth (and copying) while it fills.
    let room = building.body.len() + building.body.len() / 8;
    let items = building.len();
    let batch = std::mem::replace(building, BulkBatch::with_capacity(room, items));
    let refused = std::mem::take(rejections);
    let delivery = Arc::clone(delivery);
    tasks.spawn(async move {
        delivery.deliver(batch, Lane::Primary).await?;
        delivery.dead_letter(refused).await
    });
}

/// Waits until fewer than `limit` requests are running.
async fn wait_for_room(
    tasks: &mut Tasks,
    delivery: &Delivery,
    limit: usize,
) -> Result<(), ComponentError> {
    while tasks.len() >= limit.max(1) {
        match tasks.join_next().await {
            Some(joined) => finished(delivery, joined)?,
            None => break,
        }
    }
    Ok(())
}

fn finished(
    delivery: &Delivery,
    joined: Result<Result<(), ComponentError>, JoinError>,
) -> Result<(), ComponentError> {
    match joined {
        Ok(result) => result,
        Err(e) => Err(ComponentError {
            component: delivery.name.to_string(),
            message: format!("a bulk request task failed: {e}"),
        }),
    }
}

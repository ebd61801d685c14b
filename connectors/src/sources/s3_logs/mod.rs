//! What the `cloudtrail` and `vpc_flow` sources share: reading log objects that AWS
//! delivers to S3, either announced by S3 event notifications on an SQS queue
//! ([`queue`]) or found by listing a prefix in key order ([`scan`]).
//!
//! A source differs from the other only in its [`LogFormat`]: which keys hold its logs,
//! and how an object's bytes become events. Objects are read whole (up to
//! `max_object_size`, compressed and decompressed alike), gzip detected by its magic
//! bytes rather than the key's extension, and decoded off the async threads.
//!
//! Checkpoints follow DESIGN §5: an SQS message is deleted, and a scan position
//! advanced, only once every batch made from it is acknowledged by every sink.

pub mod notification;
pub mod queue;
pub mod scan;

#[cfg(test)]
mod tests;

use super::{Halt, Run};
use crate::aws::s3::S3;
use crate::aws::{self, AwsError, AwsSettings};
use crate::io::{attach_ack, BatchOutput};
use crate::limits::{InputLimits, Rejected};
use crate::settings::{choice, positive, size_limit};
use pipectl_core::ack::{AckReceiver, BatchStatus};
use pipectl_core::component::{BuildContext, BuildError, ComponentError, Source, SourceContext};
use pipectl_core::config::Attrs;
use pipectl_core::event::Event;
use pipectl_dsl::catalogue::{AttrSpec, AttrType};
use pipectl_dsl::plan::ComponentPlan;
use std::io::Read;
use std::marker::PhantomData;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// What a key holds, for a given source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// A log object of this source: read it.
    Log,
    /// A CloudTrail digest (integrity) file: skipped and counted.
    Digest,
    /// Anything else sharing the bucket or queue: skipped and counted.
    Foreign,
}

/// One kind of log object.
pub trait LogFormat: Send + Sync + 'static {
    /// What an object is, for log messages (`CloudTrail log file`).
    const WHAT: &'static str;
    /// Whether `key` holds this source's logs.
    fn classify(key: &str) -> KeyKind;
    /// The events of an object's (decompressed) content, or why it is not one. Each
    /// record is held to `limits`: one that breaks them is not decoded into an event
    /// but pushed to `rejected`, and becomes an error record.
    fn events(
        content: Vec<u8>,
        source: &Arc<str>,
        limits: &InputLimits,
        rejected: &mut Vec<Rejected>,
    ) -> Result<Vec<Event>, String>;
}

/// How objects are found.
#[derive(Debug, Clone)]
pub enum Mode {
    /// S3 event notifications on a queue (directly or through SNS).
    Sqs { queue_url: String },
    /// A prefix of a bucket listed in key order, after a persisted position.
    Scan {
        bucket: String,
        prefix: String,
        poll_interval: Duration,
    },
}

/// The checked settings shared by the S3 log sources.
#[derive(Debug, Clone)]
pub struct S3LogsConfig {
    pub mode: Mode,
    pub aws: AwsSettings,
    pub visibility_timeout: Duration,
    pub wait_time: Duration,
    pub max_messages: u32,
    pub batch_size: usize,
    pub max_object_size: usize,
    /// What each record of an object is held to.
    pub limits: InputLimits,
}

/// `mode`.
pub const MODE_ATTR: AttrSpec = AttrSpec::with_default(
    "mode",
    AttrType::Enum(&["sqs", "scan"]),
    "\"sqs\"",
    "`sqs`: read the objects that S3 event notifications on `queue_url` announce (directly or wrapped by SNS); a message is deleted once everything read from it is acknowledged. `scan`: list `bucket` under `prefix` in key order, resuming after the last acknowledged key, and poll for new objects. A bad object (corrupt, not of the format, refused) is logged with its key and counted as errored: in `sqs` mode its message stays on the queue for the queue's redrive policy (dead-letter queue), in `scan` mode it is passed over. See docs/aws.md.",
);
/// `queue_url`.
pub const QUEUE_URL_ATTR: AttrSpec = AttrSpec::optional(
    "queue_url",
    AttrType::String,
    "The SQS queue receiving the bucket's `s3:ObjectCreated:*` notifications (`mode = \"sqs\"`).",
);
/// `bucket`.
pub const BUCKET_ATTR: AttrSpec = AttrSpec::optional(
    "bucket",
    AttrType::String,
    "The bucket to list (`mode = \"scan\"`).",
);
/// `prefix`.
pub const PREFIX_ATTR: AttrSpec = AttrSpec::with_default(
    "prefix",
    AttrType::String,
    "\"AWSLogs/\"",
    "The key prefix to list (`mode = \"scan\"`). Keys are read in key order after the last one read, so a prefix down to one account and region (`AWSLogs/123456789012/CloudTrail/eu-west-1/`, `AWSLogs/123456789012/vpcflowlogs/eu-west-1/`) keeps that order the delivery order.",
);
/// `poll_interval`.
pub const POLL_INTERVAL_ATTR: AttrSpec = AttrSpec::with_default(
    "poll_interval",
    AttrType::Duration,
    "60s",
    "How long to wait, once the listing is read to its end, before listing again (`mode = \"scan\"`).",
);
/// `visibility_timeout`.
pub const VISIBILITY_TIMEOUT_ATTR: AttrSpec = AttrSpec::with_default(
    "visibility_timeout",
    AttrType::Duration,
    "5m",
    "How long a received message stays hidden from other receivers; one not deleted by then (not yet acknowledged, or failed) is received again. Longer than reading and delivering its objects takes.",
);
/// `wait_time`.
pub const WAIT_TIME_ATTR: AttrSpec = AttrSpec::with_default(
    "wait_time",
    AttrType::Duration,
    "20s",
    "SQS long polling: how long a receive waits for a message (0s to 20s).",
);
/// `max_messages`.
pub const MAX_MESSAGES_ATTR: AttrSpec = AttrSpec::with_default(
    "max_messages",
    AttrType::Int,
    "10",
    "Messages per receive (1 to 10).",
);
/// `batch_size`.
pub const BATCH_SIZE_ATTR: AttrSpec = AttrSpec::with_default(
    "batch_size",
    AttrType::Int,
    "500",
    "Events per batch sent downstream.",
);
/// `max_object_size`.
pub const MAX_OBJECT_SIZE_ATTR: AttrSpec = AttrSpec::with_default(
    "max_object_size",
    AttrType::Size,
    "256MiB",
    "Objects larger than this, stored or decompressed, are refused as bad objects, so memory stays bounded.",
);

impl S3LogsConfig {
    pub fn from_attrs(attrs: &Attrs<'_>) -> Result<S3LogsConfig, BuildError> {
        #[derive(Clone, Copy)]
        enum Word {
            Sqs,
            Scan,
        }
        let word = choice(attrs, "mode", &[("sqs", Word::Sqs), ("scan", Word::Scan)])?;
        let queue_url = attrs.opt_string("queue_url")?;
        let bucket = attrs.opt_string("bucket")?;
        let mode = match (word, queue_url, bucket) {
            (Word::Sqs, Some(queue_url), None) if !queue_url.is_empty() => Mode::Sqs { queue_url },
            (Word::Sqs, _, Some(_)) => {
                return Err(attrs.error(
                    "`bucket` is for `mode = \"scan\"`; in `sqs` mode the notifications name the bucket",
                ))
            }
            (Word::Sqs, _, None) => return Err(attrs.error("`mode = \"sqs\"` needs `queue_url`")),
            (Word::Scan, None, Some(bucket)) if !bucket.is_empty() => Mode::Scan {
                bucket,
                prefix: attrs.string("prefix")?,
                poll_interval: attrs.duration("poll_interval")?,
            },
            (Word::Scan, Some(_), _) => {
                return Err(attrs.error("`queue_url` is for `mode = \"sqs\"`"))
            }
            (Word::Scan, None, _) => return Err(attrs.error("`mode = \"scan\"` needs `bucket`")),
        };
        let wait_time = attrs.duration("wait_time")?;
        if wait_time > Duration::from_secs(20) {
            return Err(attrs.error("`wait_time` must be at most 20s (SQS's limit)"));
        }
        let visibility_timeout = attrs.duration("visibility_timeout")?;
        if visibility_timeout < Duration::from_secs(1)
            || visibility_timeout > Duration::from_secs(12 * 3600)
        {
            return Err(
                attrs.error("`visibility_timeout` must be between 1s and 12h (SQS's limits)")
            );
        }
        let max_messages = positive(attrs, "max_messages")?;
        let max_messages = u32::try_from(max_messages)
            .ok()
            .filter(|n| *n <= 10)
            .ok_or_else(|| attrs.error("`max_messages` must be between 1 and 10 (SQS's limit)"))?;
        Ok(S3LogsConfig {
            mode,
            aws: AwsSettings::from_attrs(attrs)?,
            visibility_timeout,
            wait_time,
            max_messages,
            batch_size: positive(attrs, "batch_size")?,
            max_object_size: size_limit(attrs, "max_object_size")?,
            limits: InputLimits::from_attrs(attrs)?,
        })
    }
}

/// Counts of what the source did with objects and messages, beyond the event counters.
#[derive(Debug, Default)]
pub struct ObjectStats {
    pub objects_read: AtomicU64,
    pub digests_skipped: AtomicU64,
    pub foreign_skipped: AtomicU64,
    pub bad_objects: AtomicU64,
    pub bad_messages: AtomicU64,
    pub test_events: AtomicU64,
    pub messages_deleted: AtomicU64,
}

impl ObjectStats {
    fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// Counts a skipped key; returns whether the key is to be read.
    fn admit(&self, kind: KeyKind) -> bool {
        match kind {
            KeyKind::Log => true,
            KeyKind::Digest => {
                ObjectStats::bump(&self.digests_skipped);
                false
            }
            KeyKind::Foreign => {
                ObjectStats::bump(&self.foreign_skipped);
                false
            }
        }
    }

    fn log_summary(&self, source: &str) {
        tracing::info!(
            source,
            objects_read = ObjectStats::get(&self.objects_read),
            digests_skipped = ObjectStats::get(&self.digests_skipped),
            foreign_skipped = ObjectStats::get(&self.foreign_skipped),
            bad_objects = ObjectStats::get(&self.bad_objects),
            bad_messages = ObjectStats::get(&self.bad_messages),
            test_events = ObjectStats::get(&self.test_events),
            messages_deleted = ObjectStats::get(&self.messages_deleted),
            "S3 log source stopped"
        );
    }
}

/// A built S3 log source of format `F`.
pub struct S3LogSource<F> {
    config: S3LogsConfig,
    data_dir: PathBuf,
    stats: Arc<ObjectStats>,
    format: PhantomData<F>,
}

impl<F: LogFormat> S3LogSource<F> {
    pub fn new(config: S3LogsConfig, data_dir: PathBuf) -> S3LogSource<F> {
        S3LogSource {
            config,
            data_dir,
            stats: Arc::new(ObjectStats::default()),
            format: PhantomData,
        }
    }

    /// Builds from a plan (the factories of `cloudtrail` and `vpc_flow`).
    pub fn build(
        plan: &ComponentPlan,
        ctx: &BuildContext<'_>,
    ) -> Result<S3LogSource<F>, BuildError> {
        let config = S3LogsConfig::from_attrs(&Attrs::new(plan, ctx))?;
        Ok(S3LogSource::new(config, ctx.data_dir.clone()))
    }

    /// The counters the source keeps while it runs.
    pub fn stats(&self) -> Arc<ObjectStats> {
        Arc::clone(&self.stats)
    }

    pub(crate) async fn run_with<O: BatchOutput>(self, run: Run<O>) -> Result<(), ComponentError> {
        let name = run.name.clone();
        let client = aws::AwsClient::new(self.config.aws.clone()).map_err(|e| run.error(e))?;
        let result = match &self.config.mode {
            Mode::Sqs { queue_url } => {
                let sqs =
                    aws::sqs::Sqs::new(client.clone(), queue_url).map_err(|e| run.error(e))?;
                queue::run::<F, O>(&self, run, sqs, S3::new(client)).await
            }
            Mode::Scan {
                bucket,
                prefix,
                poll_interval,
            } => {
                let place = scan::Place {
                    bucket,
                    prefix,
                    poll_interval: *poll_interval,
                };
                scan::run::<F, O>(&self, run, place, S3::new(client)).await
            }
        };
        self.stats.log_summary(&name);
        result
    }
}

impl<F: LogFormat> Source for S3LogSource<F> {
    fn run(
        self: Box<Self>,
        ctx: SourceContext,
    ) -> futures::future::BoxFuture<'static, Result<(), ComponentError>> {
        Box::pin(self.run_with(Run::from_context(ctx)))
    }
}

/// Why an object gave no events.
enum ObjectError {
    /// Reading it may work later (network, throttling, S3 5xx).
    Transient(AwsError),
    /// It will never be read as it is: corrupt, not of the format, too large, or
    /// refused (access denied, deleted since announced).
    Bad(String),
}

/// Reads and decodes one object; stops on shutdown.
async fn read_object<F: LogFormat, O: BatchOutput>(
    s3: &S3,
    run: &mut Run<O>,
    config: &S3LogsConfig,
    bucket: &str,
    key: &str,
) -> Result<Result<Vec<Event>, ObjectError>, Halt> {
    let fetched = tokio::select! {
        biased;
        _ = run.shutdown.wait() => return Err(Halt::Shutdown),
        fetched = s3.get_object(bucket, key, config.max_object_size) => fetched,
    };
    let bytes = match fetched {
        Ok(bytes) => bytes,
        Err(e) if e.is_transient() => return Ok(Err(ObjectError::Transient(e))),
        Err(e) => return Ok(Err(ObjectError::Bad(e.to_string()))),
    };
    run.counters.add_bytes_in(bytes.len() as u64);
    let limit = config.max_object_size;
    let limits = config.limits;
    let source = Arc::clone(&run.name);
    let decoded = tokio::task::spawn_blocking(move || {
        let mut rejected = Vec::new();
        decompress(bytes, limit)
            .and_then(|content| F::events(content, &source, &limits, &mut rejected))
            .map(|events| (events, rejected))
    })
    .await
    .map_err(|e| Halt::Failed(run.error(format!("decoding s3://{bucket}/{key} failed: {e}"))))?;
    let location = format!("s3://{bucket}/{key}");
    Ok(match decoded {
        Ok((mut events, rejected)) => {
            if !rejected.is_empty() {
                tracing::warn!(source = %run.name, object = %location, rejected = rejected.len(), "records over the input limits were held back; they are emitted as error records");
                run.counters.add_errored(rejected.len() as u64);
            }
            events.extend(
                rejected.iter().map(|r| {
                    Event::new(r.error_record(&run.name, &location), Arc::clone(&run.name))
                }),
            );
            Ok(events)
        }
        Err(reason) => Err(ObjectError::Bad(format!("{location}: {reason}"))),
    })
}

/// The content of a gzip object (one or more members), or the bytes as they are.
fn decompress(bytes: Vec<u8>, limit: usize) -> Result<Vec<u8>, String> {
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return Ok(bytes);
    }
    let mut out = Vec::new();
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    flate2::read::MultiGzDecoder::new(bytes.as_slice())
        .take(cap)
        .read_to_end(&mut out)
        .map_err(|e| format!("corrupt gzip: {e}"))?;
    if out.len() > limit {
        return Err(format!("larger than {limit} bytes once decompressed"));
    }
    Ok(out)
}

/// Sends an object's events in batches of `batch_size`, each with its own
/// acknowledgement; returns the receivers.
async fn emit<O: BatchOutput>(
    run: &mut Run<O>,
    events: Vec<Event>,
    batch_size: usize,
) -> Result<Vec<AckReceiver>, Halt> {
    let mut acks = Vec::new();
    let mut events = events.into_iter().peekable();
    while events.peek().is_some() {
        let mut batch: Vec<Event> = events.by_ref().take(batch_size).collect();
        acks.push(attach_ack(&mut batch));
        run.out.send_batch(batch).await?;
    }
    Ok(acks)
}

/// The acknowledgements of what was sent from one message or object.
struct Pending {
    acks: Vec<AckReceiver>,
    failed: bool,
}

impl Pending {
    fn new(acks: Vec<AckReceiver>) -> Pending {
        Pending {
            acks,
            failed: false,
        }
    }

    /// Collects the fates known so far; `true` once every batch's is known.
    fn poll(&mut self) -> bool {
        let mut failed = false;
        self.acks.retain_mut(|ack| match ack.try_status() {
            None => true,
            Some(status) => {
                failed |= status == BatchStatus::Failed;
                false
            }
        });
        self.failed |= failed;
        self.acks.is_empty()
    }

    /// Waits for every batch's fate; `true` if all were delivered.
    async fn wait(mut self) -> bool {
        for ack in self.acks.drain(..) {
            if ack.wait().await == BatchStatus::Failed {
                self.failed = true;
            }
        }
        !self.failed
    }
}

/// How long a stopping source waits for in-flight batches to be acknowledged.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// How long to wait after a failed AWS call before the next (after its own retries).
const ERROR_PAUSE: Duration = Duration::from_secs(5);

/// Waits `duration`, or returns on shutdown.
async fn pause<O>(run: &mut Run<O>, duration: Duration) -> Result<(), Halt> {
    tokio::select! {
        biased;
        _ = run.shutdown.wait() => Err(Halt::Shutdown),
        _ = tokio::time::sleep(duration) => Ok(()),
    }
}

#[cfg(test)]
mod unit_tests {
    use super::*;
    use std::io::Write;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn gzip_by_its_magic_with_a_size_limit() {
        assert_eq!(decompress(b"plain".to_vec(), 10).unwrap(), b"plain");
        assert_eq!(decompress(gzip(b"zipped"), 10).unwrap(), b"zipped");
        let mut two = gzip(b"one ");
        two.extend(gzip(b"two"));
        assert_eq!(decompress(two, 10).unwrap(), b"one two");
        assert!(decompress(gzip(&[b'x'; 11]), 10)
            .unwrap_err()
            .contains("larger than 10"));
        let whole = gzip(b"some text that will be cut short");
        let cut = whole.get(..whole.len() / 2).unwrap().to_vec();
        assert!(decompress(cut, 100)
            .unwrap_err()
            .starts_with("corrupt gzip"));
    }
}

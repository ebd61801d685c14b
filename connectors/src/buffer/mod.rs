//! A sink's disk buffer: a write-ahead log between the sink's input and its delivery.
//!
//! Why: without it, an event is acknowledged to its source only once the destination
//! took it, so a destination that is down for minutes holds every source back, and a
//! source that cannot wait (a UDP or HTTP receiver, a queue with a short visibility
//! timeout) loses events. With it, events are acknowledged as soon as they are durably
//! in the buffer; the sink delivers from the buffer, and forgets a record only after
//! the destination accepted it.
//!
//! The parts:
//! - [`wal`]: the on-disk format (segments of checksummed frames), the scan that finds
//!   corrupt or truncated records and the quarantine that moves them aside;
//! - [`recover`]: what a sink (or `pipectl buffer repair`) does at start: delete what was
//!   delivered, quarantine bad records, and find where to resume;
//! - [`run`]: the writer and reader loops that sit between the runtime's input and the
//!   sink's delivery loop.
//!
//! Guarantees (docs/reliability.md): a record is acknowledged to its source only after
//! it is written (and, with `buffer_fsync = "batch"`, synced); it is deleted only after
//! the destination acknowledged it, in order; a crash re-sends at most what was in
//! flight. Disk use stays under `buffer_max_size` (give or take one record); when it is
//! full the writer waits (`block`, backpressure reaches the sources) or drops the new
//! event, counted (`drop_newest`). Memory stays bounded: the reader holds a few
//! batches and the sink's own in-flight requests.

pub mod recover;
pub mod run;
pub mod wal;

#[cfg(test)]
mod tests;

use pipectl_core::component::BuildError;
use pipectl_core::config::Attrs;
use pipectl_dsl::catalogue::{AttrSpec, AttrType};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `buffer` on a sink where the disk buffer is on unless turned off.
pub const ATTR_BUFFER_ON: AttrSpec = AttrSpec::with_default(
    "buffer",
    AttrType::Enum(&["disk", "none"]),
    "\"disk\"",
    "`disk` writes events to a write-ahead log in the component's data directory (`buffer/`) and acknowledges them to their sources once there; delivery reads from it and deletes only what the destination accepted (docs/reliability.md). `none` acknowledges only on delivery.",
);

/// `buffer` on a sink where the disk buffer is opt-in.
pub const ATTR_BUFFER_OFF: AttrSpec = AttrSpec::with_default(
    "buffer",
    AttrType::Enum(&["disk", "none"]),
    "\"none\"",
    "`disk` writes events to a write-ahead log in the component's data directory (`buffer/`) and acknowledges them to their sources once there; delivery reads from it and deletes only what was written out (docs/reliability.md). `none` acknowledges only on delivery.",
);

/// The disk buffer's size bound.
pub const ATTR_MAX_SIZE: AttrSpec = AttrSpec::with_default(
    "buffer_max_size",
    AttrType::Size,
    "1GiB",
    "With `buffer = \"disk\"`: the most disk the buffer uses (at least 1MiB); see `buffer_when_full`.",
);

/// What happens when the buffer is full.
pub const ATTR_WHEN_FULL: AttrSpec = AttrSpec::with_default(
    "buffer_when_full",
    AttrType::Enum(&["block", "drop_newest"]),
    "\"block\"",
    "With `buffer = \"disk\"`, once `buffer_max_size` is reached: `block` waits for room (the sources slow down; nothing is lost); `drop_newest` drops incoming events, counted as dropped and logged.",
);

/// When the buffer is synced to disk.
pub const ATTR_FSYNC: AttrSpec = AttrSpec::with_default(
    "buffer_fsync",
    AttrType::Enum(&["batch", "interval"]),
    "\"batch\"",
    "With `buffer = \"disk\"`: `batch` syncs every write before acknowledging it (survives a power loss); `interval` syncs every `buffer_fsync_interval` (survives a crash of the process; a power loss may lose that interval).",
);

/// The sync interval with `buffer_fsync = "interval"`.
pub const ATTR_FSYNC_INTERVAL: AttrSpec = AttrSpec::with_default(
    "buffer_fsync_interval",
    AttrType::Duration,
    "1s",
    "With `buffer_fsync = \"interval\"`: how often the buffer is synced.",
);

/// The smallest `buffer_max_size`.
pub const MIN_MAX_SIZE: u64 = 1 << 20;

/// What happens to a new event when the buffer is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenFull {
    Block,
    DropNewest,
}

/// When writes are synced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fsync {
    /// Before every acknowledgement.
    Batch,
    /// On a timer; acknowledgements follow the write.
    Interval(Duration),
}

/// The checked settings of one sink's disk buffer.
#[derive(Debug, Clone)]
pub struct BufferConfig {
    /// The buffer's directory (`<component data dir>/buffer`).
    pub dir: PathBuf,
    pub max_size: u64,
    pub when_full: WhenFull,
    pub fsync: Fsync,
}

impl BufferConfig {
    /// The size of one segment file: small enough that deleting delivered segments
    /// frees room well before the bound, large enough to keep files few.
    pub fn segment_size(&self) -> u64 {
        (self.max_size / 8).clamp(64 << 10, 16 << 20)
    }

    /// Reads the `buffer*` attributes; `None` when the buffer is off. `default_on` is
    /// the sink's default for `buffer`. A plan made before these attributes existed (a
    /// revision stored by the daemon) lacks them: their defaults apply.
    pub fn from_attrs(
        attrs: &Attrs<'_>,
        data_dir: &Path,
        default_on: bool,
    ) -> Result<Option<BufferConfig>, BuildError> {
        let on = match attrs.opt_string("buffer")?.as_deref() {
            None => default_on,
            Some("disk") => true,
            Some("none") => false,
            Some(other) => {
                return Err(attrs.error(format!(
                    "attribute `buffer`: `{other}` is not one of \"disk\", \"none\""
                )))
            }
        };
        if !on {
            return Ok(None);
        }
        let max_size = attrs.opt_size("buffer_max_size")?.unwrap_or(1 << 30);
        if max_size < MIN_MAX_SIZE {
            return Err(attrs.error(format!(
                "attribute `buffer_max_size` must be at least 1MiB, not {max_size} bytes"
            )));
        }
        let when_full = match attrs.opt_string("buffer_when_full")?.as_deref() {
            None | Some("block") => WhenFull::Block,
            Some("drop_newest") => WhenFull::DropNewest,
            Some(other) => {
                return Err(attrs.error(format!(
                "attribute `buffer_when_full`: `{other}` is not one of \"block\", \"drop_newest\""
            )))
            }
        };
        let fsync = match attrs.opt_string("buffer_fsync")?.as_deref() {
            None | Some("batch") => Fsync::Batch,
            Some("interval") => {
                let every = attrs
                    .opt_duration("buffer_fsync_interval")?
                    .unwrap_or(Duration::from_secs(1));
                if every.is_zero() {
                    return Err(
                        attrs.error("attribute `buffer_fsync_interval` must be longer than 0s")
                    );
                }
                Fsync::Interval(every)
            }
            Some(other) => {
                return Err(attrs.error(format!(
                    "attribute `buffer_fsync`: `{other}` is not one of \"batch\", \"interval\""
                )))
            }
        };
        Ok(Some(BufferConfig {
            dir: data_dir.join("buffer"),
            max_size,
            when_full,
            fsync,
        }))
    }
}

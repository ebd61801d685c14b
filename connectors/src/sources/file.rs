//! `source file`: lines of a file as `{"message": "<line>"}` events.
//!
//! `mode = "read_once"` reads the file to its end and finishes (a finite source: the
//! graph drains and exits); a last line without a newline is emitted too.
//!
//! `mode = "follow"` tails the file like `tail -F`: it survives rotation by rename and
//! re-create (the path then names another inode, and the rest of the old file is read
//! first) and by truncation (the file becomes shorter than what was read). Its
//! position is a checkpoint in the component's data directory, advanced only when
//! every sink has accepted the batches before it, in order, and written atomically
//! (temporary file, then rename). A restart resumes there, so nothing acknowledged is
//! read twice and nothing unacknowledged is lost (at-least-once). A line still being
//! written (no newline yet) waits for its newline.
//!
//! `read_once` recognises a gzip file by its magic bytes (not its name) and reads its
//! decompressed lines, several members one after another as `zcat` does, in bounded
//! memory whatever the compression ratio ([`crate::gzip`]). A gzip file cut short or
//! damaged delivers the lines before the damage, then one error record saying where
//! the stream broke (its `message` holds the incomplete line read up to there).
//! `follow` reads files as they are (a compressed file is a finished rotation).
//!
//! Lines longer than `max_line_length` are skipped, never held whole (memory stays
//! bounded whatever the file holds), and become error records — `message` holds the
//! line's first 256 bytes, `pipectl.error` the reason, `log.offset` and
//! `log.file.path` where to find it — counted as errored and logged. Invalid UTF-8 is
//! replaced with U+FFFD (and the number of such lines logged), not dropped.

use super::{error_record, Halt, LineBatcher, Run, Skipped};
use crate::gzip::{self, GzipChunks, GzipError};
use crate::io::{attach_ack, BatchOutput};
use crate::lines::{decode_line, LineSplitter, Piece};
use crate::settings::{choice, positive, size_limit};
use futures::future::BoxFuture;
use pipectl_core::ack::{AckReceiver, BatchStatus};
use pipectl_core::component::{
    BuildContext, BuildError, Built, ComponentError, Factory, Source, SourceContext,
};
use pipectl_core::config::Attrs;
use pipectl_dsl::catalogue::{AttrSpec, AttrType, ComponentSpec};
use pipectl_dsl::plan::{ComponentKind, ComponentPlan};
use std::collections::VecDeque;
use std::io::SeekFrom;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::fs::File;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::sync::mpsc;

/// The catalogue entry of `source file`.
pub static SPEC: ComponentSpec = ComponentSpec {
    kind: ComponentKind::Source,
    type_name: "file",
    summary: "Reads a file line by line (gzip decompressed when read once), once or following it across rotation, as `{\"message\": line}` events.",
    attrs: &[
        AttrSpec::required("path", AttrType::Path, "The file to read."),
        AttrSpec::with_default(
            "mode",
            AttrType::Enum(&["read_once", "follow"]),
            "\"read_once\"",
            "`read_once` reads to the end and finishes; `follow` tails the file across rotation and truncation, resuming from an acknowledged checkpoint after a restart.",
        ),
        AttrSpec::with_default(
            "start_at",
            AttrType::Enum(&["beginning", "end"]),
            "\"beginning\"",
            "Where to start when no checkpoint exists: the first line, or only lines written from now on (`follow` only).",
        ),
        crate::lines::MAX_LINE_LENGTH_ATTR,
        crate::lines::BATCH_SIZE_ATTR,
    ],
    fixed_outputs: &[],
    outputs_from: None,
};

/// Builds `source file`.
pub const FACTORY: Factory = Factory { spec: &SPEC, build };

/// How far to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    ReadOnce,
    Follow,
}

/// Where to start without a checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAt {
    Beginning,
    End,
}

/// The checked settings of one `source file`.
#[derive(Debug, Clone)]
pub struct FileConfig {
    pub path: PathBuf,
    pub mode: Mode,
    pub start_at: StartAt,
    pub max_line_length: usize,
    pub batch_size: usize,
}

impl FileConfig {
    pub fn from_attrs(attrs: &Attrs<'_>) -> Result<FileConfig, BuildError> {
        let config = FileConfig {
            path: PathBuf::from(attrs.string("path")?),
            mode: choice(
                attrs,
                "mode",
                &[("read_once", Mode::ReadOnce), ("follow", Mode::Follow)],
            )?,
            start_at: choice(
                attrs,
                "start_at",
                &[("beginning", StartAt::Beginning), ("end", StartAt::End)],
            )?,
            max_line_length: size_limit(attrs, "max_line_length")?,
            batch_size: positive(attrs, "batch_size")?,
        };
        if config.path.as_os_str().is_empty() {
            return Err(attrs.error("attribute `path` must not be empty"));
        }
        if config.mode == Mode::ReadOnce && config.start_at == StartAt::End {
            return Err(attrs.error(
                "`start_at = \"end\"` with `mode = \"read_once\"` would read nothing; use `mode = \"follow\"`",
            ));
        }
        Ok(config)
    }
}

fn build(plan: &ComponentPlan, ctx: &BuildContext<'_>) -> Result<Built, BuildError> {
    let config = FileConfig::from_attrs(&Attrs::new(plan, ctx))?;
    Ok(Built::Source(Box::new(FileSource {
        config,
        data_dir: ctx.data_dir.clone(),
    })))
}

/// A built `source file`.
pub struct FileSource {
    config: FileConfig,
    data_dir: PathBuf,
}

impl FileSource {
    pub fn new(config: FileConfig, data_dir: PathBuf) -> FileSource {
        FileSource { config, data_dir }
    }

    pub(crate) async fn run_with<O: BatchOutput>(self, run: Run<O>) -> Result<(), ComponentError> {
        match self.config.mode {
            Mode::ReadOnce => read_once(&self.config, run).await,
            Mode::Follow => {
                let store = PositionStore::new(&self.data_dir, &self.config.path);
                Tail::new(&self.config, run, store).run().await
            }
        }
    }
}

impl Source for FileSource {
    fn run(self: Box<Self>, ctx: SourceContext) -> BoxFuture<'static, Result<(), ComponentError>> {
        Box::pin(self.run_with(Run::from_context(ctx)))
    }
}

/// Bytes read per system call: big enough to amortise it, small enough to stay in cache.
const CHUNK: usize = 256 * 1024;
/// How often a followed file is checked for growth, rotation and truncation at its end.
const POLL: Duration = Duration::from_millis(250);
/// How often, at most, the checkpoint is written while running.
const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(1);
/// Batches sent but not yet acknowledged before reading pauses for the oldest.
const MAX_PENDING: usize = 1024;
/// How long a stopping follower waits for in-flight batches to be acknowledged.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

fn warn_too_long(path: &Path, start: u64, end: u64, max: usize) {
    tracing::warn!(
        file = %path.display(),
        offset = start,
        length = end - start,
        max_line_length = max,
        "skipped a line longer than max_line_length"
    );
}

fn report_replacements(path: &Path, lines: &LineBatcher) {
    if lines.replaced_utf8 > 0 {
        tracing::warn!(
            file = %path.display(),
            lines = lines.replaced_utf8,
            "lines with invalid UTF-8 were read; the invalid bytes were replaced with U+FFFD"
        );
    }
}

/// Where `read_once` takes its bytes from: the file as it is, or its gzip content
/// decompressed chunk by chunk on a blocking thread (at most two chunks in flight).
enum Input {
    Plain(File),
    Gzip(mpsc::Receiver<Result<Vec<u8>, GzipError>>),
}

/// Why `read_once` could not read on.
enum ReadFailure {
    Io(std::io::Error),
    Gzip(GzipError),
}

impl Input {
    /// Opens `path`, recognising gzip by its magic bytes.
    async fn open(path: &Path) -> std::io::Result<Input> {
        let mut file = File::open(path).await?;
        let mut head = [0u8; 2];
        let mut got = 0;
        while got < head.len() {
            match file.read(&mut head[got..]).await? {
                0 => break,
                n => got += n,
            }
        }
        file.seek(SeekFrom::Start(0)).await?;
        if !gzip::is_gzip(&head[..got]) {
            return Ok(Input::Plain(file));
        }
        let file = file.into_std().await;
        let (tx, rx) = mpsc::channel(2);
        tokio::task::spawn_blocking(move || {
            let reader = std::io::BufReader::with_capacity(64 * 1024, file);
            let mut chunks = GzipChunks::new(reader, CHUNK);
            loop {
                let item = match chunks.next_chunk() {
                    Ok(Some(bytes)) => Ok(bytes.to_vec()),
                    Ok(None) => return,
                    Err(e) => Err(e),
                };
                let failed = item.is_err();
                // The reader went away (shutdown): stop decompressing.
                if tx.blocking_send(item).is_err() || failed {
                    return;
                }
            }
        });
        Ok(Input::Gzip(rx))
    }

    /// Reads the next bytes into `buf`; 0 at the end.
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, ReadFailure> {
        match self {
            Input::Plain(file) => file.read(buf).await.map_err(ReadFailure::Io),
            Input::Gzip(rx) => match rx.recv().await {
                None => Ok(0),
                Some(Err(e)) => Err(ReadFailure::Gzip(e)),
                Some(Ok(chunk)) => {
                    // Chunks are decompressed `CHUNK` bytes at a time, the size of
                    // `buf`: nothing is cut here.
                    let n = chunk.len().min(buf.len());
                    buf[..n].copy_from_slice(&chunk[..n]);
                    Ok(n)
                }
            },
        }
    }
}

async fn read_once<O: BatchOutput>(
    cfg: &FileConfig,
    mut run: Run<O>,
) -> Result<(), ComponentError> {
    let mut input = Input::open(&cfg.path)
        .await
        .map_err(|e| run.error(format!("cannot open {}: {e}", cfg.path.display())))?;
    let mut splitter = LineSplitter::new(cfg.max_line_length, 0);
    let mut lines = LineBatcher::new(run.name.clone(), cfg.batch_size);
    let mut buf = vec![0u8; CHUNK];
    let result = async {
        let mut broken = None;
        loop {
            let read = tokio::select! {
                biased;
                _ = run.shutdown.wait() => return Err(Halt::Shutdown),
                read = input.read(&mut buf) => read,
            };
            let n = match read {
                Ok(0) => break,
                Ok(n) => n,
                Err(ReadFailure::Io(e)) => {
                    return Err(run
                        .error(format!("cannot read {}: {e}", cfg.path.display()))
                        .into())
                }
                Err(ReadFailure::Gzip(e)) => {
                    broken = Some(e);
                    break;
                }
            };
            run.counters.add_bytes_in(n as u64);
            let mut chunk = splitter.feed(buf.get(..n).unwrap_or_default());
            while let Some(piece) = chunk.next_piece() {
                match piece {
                    Piece::Line { bytes, .. } => {
                        if lines.push(bytes) {
                            run.out.send_batch(lines.take()).await?;
                        }
                    }
                    Piece::TooLong { start, end, head } => {
                        warn_too_long(&cfg.path, start, end, cfg.max_line_length);
                        run.counters.add_errored(1);
                        let skipped = Skipped {
                            file: Some(&cfg.path),
                            start,
                            end,
                            head,
                            max: cfg.max_line_length,
                        };
                        if lines.push_too_long(&skipped) {
                            run.out.send_batch(lines.take()).await?;
                        }
                    }
                }
            }
        }
        let last = splitter.finish();
        if let Some(e) = broken {
            // The line being read where the stream broke is incomplete: it goes out
            // as the error record of the corruption, never as if it were whole.
            tracing::warn!(file = %cfg.path.display(), error = %e, "a gzip file is corrupt or truncated; the lines before the damage were read");
            run.counters.add_errored(1);
            let (text, what) = match &last {
                Some(Piece::Line { bytes, .. }) => (
                    decode_line(bytes).0.into_owned(),
                    "`message` holds the incomplete line read up to there",
                ),
                Some(Piece::TooLong { head, .. }) => (
                    decode_line(head).0.into_owned(),
                    "`message` holds the first bytes of the incomplete (and too long) line read up to there",
                ),
                None => (String::new(), "no line was incomplete there"),
            };
            let reason = format!("{}: {e}; {what}", cfg.path.display());
            lines.push_error(error_record(&run.name, &text, &reason));
        } else {
            match last {
                Some(Piece::Line { bytes, .. }) => {
                    lines.push(bytes);
                }
                Some(Piece::TooLong { start, end, head }) => {
                    warn_too_long(&cfg.path, start, end, cfg.max_line_length);
                    run.counters.add_errored(1);
                    lines.push_too_long(&Skipped {
                        file: Some(&cfg.path),
                        start,
                        end,
                        head,
                        max: cfg.max_line_length,
                    });
                }
                None => {}
            }
        }
        run.out.send_batch(lines.take()).await?;
        Ok(())
    }
    .await;
    report_replacements(&cfg.path, &lines);
    match result {
        Ok(()) => Ok(()),
        Err(halt) => halt.into_result(),
    }
}

/// Which file a path named at some moment: device and inode, so a rotation (the path
/// now names another file) is told apart from growth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct FileId {
    dev: u64,
    inode: u64,
}

#[cfg(unix)]
fn file_id(meta: &std::fs::Metadata) -> FileId {
    use std::os::unix::fs::MetadataExt;
    FileId {
        dev: meta.dev(),
        inode: meta.ino(),
    }
}

/// Without inodes, rotation is only noticed as truncation.
#[cfg(not(unix))]
fn file_id(_meta: &std::fs::Metadata) -> FileId {
    FileId { dev: 0, inode: 0 }
}

/// The persisted position: which file, and the offset after the last acknowledged line.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Checkpoint {
    path: String,
    #[serde(flatten)]
    id: FileId,
    offset: u64,
}

/// Reads and writes the position in the component's data directory.
struct PositionStore {
    file: crate::checkpoint::CheckpointStore,
    path_text: String,
    current: Option<(FileId, u64)>,
    dirty: bool,
    last_write: Option<Instant>,
}

impl PositionStore {
    fn new(data_dir: &Path, followed: &Path) -> PositionStore {
        PositionStore {
            file: crate::checkpoint::CheckpointStore::new(data_dir),
            path_text: followed.display().to_string(),
            current: None,
            dirty: false,
            last_write: None,
        }
    }

    /// The stored checkpoint for the followed path; another path's, or an unreadable
    /// one, is ignored with a warning (reading then starts per `start_at`).
    async fn load(&self) -> Option<Checkpoint> {
        let cp = self.file.load::<Checkpoint>().await?;
        if cp.path == self.path_text {
            return Some(cp);
        }
        tracing::info!(old = %cp.path, new = %self.path_text, "the checkpoint is for another path; starting without it");
        None
    }

    fn commit(&mut self, id: FileId, offset: u64) {
        if self.current != Some((id, offset)) {
            self.current = Some((id, offset));
            self.dirty = true;
        }
    }

    /// Writes the checkpoint if it changed and the last write is old enough (or
    /// `force`).
    async fn persist(&mut self, force: bool) -> std::io::Result<()> {
        let due = force
            || self
                .last_write
                .is_none_or(|t| t.elapsed() >= CHECKPOINT_INTERVAL);
        let Some((id, offset)) = self.current.filter(|_| self.dirty && due) else {
            return Ok(());
        };
        let checkpoint = Checkpoint {
            path: self.path_text.clone(),
            id,
            offset,
        };
        self.file.save(&checkpoint).await?;
        self.dirty = false;
        self.last_write = Some(Instant::now());
        Ok(())
    }
}

/// A sent batch waiting for its acknowledgement.
struct Pending {
    ack: AckReceiver,
    id: FileId,
    end: u64,
    /// The truncation epoch the batch was read in; offsets of an older epoch no
    /// longer describe the file.
    epoch: u64,
}

/// What the end-of-file check found.
enum Change {
    Unchanged,
    /// The path is gone (moved away, not yet re-created).
    Missing,
    Truncated,
    /// The path names a new file, opened.
    Rotated(File, FileId),
}

/// The open file being followed.
struct Current {
    file: File,
    id: FileId,
}

/// The `follow` loop.
struct Tail<'a, O> {
    cfg: &'a FileConfig,
    run: Run<O>,
    store: PositionStore,
    current: Option<Current>,
    splitter: LineSplitter,
    lines: LineBatcher,
    /// The offset past the last line (or skipped line) put into the batch being built.
    batch_end: u64,
    pending: VecDeque<Pending>,
    epoch: u64,
    /// A batch failed: the checkpoint stays before it (it is re-read after a restart).
    frozen: bool,
    buf: Vec<u8>,
}

impl<'a, O: BatchOutput> Tail<'a, O> {
    fn new(cfg: &'a FileConfig, run: Run<O>, store: PositionStore) -> Tail<'a, O> {
        let lines = LineBatcher::new(run.name.clone(), cfg.batch_size);
        Tail {
            cfg,
            run,
            store,
            current: None,
            splitter: LineSplitter::new(cfg.max_line_length, 0),
            lines,
            batch_end: 0,
            pending: VecDeque::new(),
            epoch: 0,
            frozen: false,
            buf: vec![0u8; CHUNK],
        }
    }

    async fn run(mut self) -> Result<(), ComponentError> {
        let halt = match self.follow().await {
            Ok(never) => match never {},
            Err(halt) => halt,
        };
        // Whatever was read is still sent (unless nobody listens), then the output is
        // closed so the graph drains, and the acknowledgements are awaited.
        if !matches!(halt, Halt::Closed) {
            let _ = self.flush().await;
        }
        let Tail {
            run,
            mut store,
            mut pending,
            mut frozen,
            lines,
            cfg,
            ..
        } = self;
        drop(run.out);
        let deadline = tokio::time::Instant::now() + SHUTDOWN_GRACE;
        while let Some(p) = pending.pop_front() {
            match tokio::time::timeout_at(deadline, p.ack.wait()).await {
                Ok(BatchStatus::Delivered) if !frozen => store.commit(p.id, p.end),
                Ok(BatchStatus::Delivered) => {}
                Ok(BatchStatus::Failed) => frozen = true,
                Err(_) => {
                    tracing::warn!(
                        file = %cfg.path.display(),
                        unacknowledged = pending.len() + 1,
                        "stopping before every batch was acknowledged; they will be read again"
                    );
                    break;
                }
            }
        }
        report_replacements(&cfg.path, &lines);
        if let Err(e) = store.persist(true).await {
            let err = ComponentError {
                component: run.name.to_string(),
                message: format!(
                    "cannot write the checkpoint {}: {e}",
                    store.file.path().display()
                ),
            };
            return Err(err);
        }
        halt.into_result()
    }

    /// Follows the file until shutdown, a failure, or every consumer going away.
    async fn follow(&mut self) -> Result<std::convert::Infallible, Halt> {
        self.open_initial().await?;
        loop {
            self.read_to_eof().await?;
            self.flush().await?;
            self.settle().await?;
            match self.check_file().await? {
                Change::Unchanged | Change::Missing => self.pause().await?,
                Change::Truncated => {
                    tracing::info!(file = %self.cfg.path.display(), "file truncated; reading from its start");
                    self.restart_at_zero().await?;
                }
                Change::Rotated(file, id) => {
                    tracing::info!(file = %self.cfg.path.display(), "file rotated; finishing the old one and following the new one");
                    // Lines appended to the old file since the last read come first.
                    self.read_to_eof().await?;
                    self.finish_partial_line();
                    self.flush().await?;
                    self.current = Some(Current { file, id });
                    self.splitter.reset(0);
                    self.batch_end = 0;
                }
            }
        }
    }

    /// Opens the file (waiting for it to exist) at the checkpoint or per `start_at`.
    async fn open_initial(&mut self) -> Result<(), Halt> {
        let checkpoint = self.store.load().await;
        let mut waited = false;
        let file = loop {
            match File::open(&self.cfg.path).await {
                Ok(file) => break file,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    if !waited {
                        tracing::info!(file = %self.cfg.path.display(), "waiting for the file to appear");
                        waited = true;
                    }
                    self.pause().await?;
                }
                Err(e) => {
                    return Err(Halt::Failed(
                        self.run
                            .error(format!("cannot open {}: {e}", self.cfg.path.display())),
                    ))
                }
            }
        };
        let meta = file
            .metadata()
            .await
            .map_err(|e| self.io_error("inspect", e))?;
        let id = file_id(&meta);
        let len = meta.len();
        let offset = match checkpoint {
            Some(cp) if cp.id == id && cp.offset <= len => cp.offset,
            Some(cp) if cp.id == id => {
                tracing::info!(file = %self.cfg.path.display(), "file shorter than its checkpoint (truncated while stopped); reading from its start");
                0
            }
            Some(_) => {
                tracing::info!(file = %self.cfg.path.display(), "file replaced while stopped (rotated); reading the new one from its start");
                0
            }
            // A file that appeared while we waited is all new.
            None if waited => 0,
            None => match self.cfg.start_at {
                StartAt::Beginning => 0,
                StartAt::End => len,
            },
        };
        let mut file = file;
        file.seek(SeekFrom::Start(offset))
            .await
            .map_err(|e| self.io_error("seek in", e))?;
        self.current = Some(Current { file, id });
        self.splitter.reset(offset);
        self.batch_end = offset;
        self.store.commit(id, offset);
        Ok(())
    }

    fn io_error(&self, what: &str, e: std::io::Error) -> Halt {
        Halt::Failed(
            self.run
                .error(format!("cannot {what} {}: {e}", self.cfg.path.display())),
        )
    }

    /// Reads and sends full batches until the end of the file.
    async fn read_to_eof(&mut self) -> Result<(), Halt> {
        loop {
            let Some(current) = self.current.as_mut() else {
                return Ok(());
            };
            let n = tokio::select! {
                biased;
                _ = self.run.shutdown.wait() => return Err(Halt::Shutdown),
                read = current.file.read(&mut self.buf) => match read {
                    Ok(n) => n,
                    Err(e) => return Err(self.io_error("read", e)),
                },
            };
            if n == 0 {
                return Ok(());
            }
            self.run.counters.add_bytes_in(n as u64);
            let mut chunk = self.splitter.feed(self.buf.get(..n).unwrap_or_default());
            while let Some(piece) = chunk.next_piece() {
                let full = match piece {
                    Piece::Line { bytes, end } => {
                        self.batch_end = end;
                        self.lines.push(bytes)
                    }
                    Piece::TooLong { start, end, head } => {
                        self.batch_end = end;
                        warn_too_long(&self.cfg.path, start, end, self.cfg.max_line_length);
                        self.run.counters.add_errored(1);
                        self.lines.push_too_long(&Skipped {
                            file: Some(&self.cfg.path),
                            start,
                            end,
                            head,
                            max: self.cfg.max_line_length,
                        })
                    }
                };
                if full {
                    let batch = self.lines.take();
                    send_acked(
                        &mut self.run,
                        &mut self.pending,
                        batch,
                        self.current.as_ref().map(|c| c.id),
                        self.batch_end,
                        self.epoch,
                    )
                    .await?;
                }
            }
            if self.pending.len() >= MAX_PENDING {
                self.wait_oldest().await?;
            }
            // A file that grows as fast as it is read never reaches its end: commit
            // and checkpoint along the way too.
            self.settle().await?;
        }
    }

    /// Emits the unfinished last line of a file that will not grow any more.
    fn finish_partial_line(&mut self) {
        match self.splitter.finish() {
            Some(Piece::Line { bytes, end }) => {
                self.batch_end = end;
                self.lines.push(bytes);
            }
            Some(Piece::TooLong { start, end, head }) => {
                self.batch_end = end;
                warn_too_long(&self.cfg.path, start, end, self.cfg.max_line_length);
                self.run.counters.add_errored(1);
                self.lines.push_too_long(&Skipped {
                    file: Some(&self.cfg.path),
                    start,
                    end,
                    head,
                    max: self.cfg.max_line_length,
                });
            }
            None => {}
        }
    }

    /// Sends the batch being built, even if not full.
    async fn flush(&mut self) -> Result<(), Halt> {
        if self.lines.is_empty() {
            return Ok(());
        }
        let batch = self.lines.take();
        let id = self.current.as_ref().map(|c| c.id);
        send_acked(
            &mut self.run,
            &mut self.pending,
            batch,
            id,
            self.batch_end,
            self.epoch,
        )
        .await
    }

    /// Commits the acknowledged prefix of sent batches and writes the checkpoint when
    /// due.
    async fn settle(&mut self) -> Result<(), Halt> {
        while let Some(front) = self.pending.front_mut() {
            match front.ack.try_status() {
                None => break,
                Some(status) => {
                    let id = front.id;
                    let end = front.end;
                    let epoch = front.epoch;
                    self.pending.pop_front();
                    self.record(status, id, end, epoch);
                }
            }
        }
        self.store.persist(false).await.map_err(|e| {
            Halt::Failed(self.run.error(format!(
                "cannot write the checkpoint {}: {e}",
                self.store.file.path().display()
            )))
        })
    }

    /// Waits for the oldest sent batch (reading pauses while too many are in flight).
    async fn wait_oldest(&mut self) -> Result<(), Halt> {
        let Some(p) = self.pending.pop_front() else {
            return Ok(());
        };
        tokio::select! {
            biased;
            _ = self.run.shutdown.wait() => {
                // Its fate is now unknown: nothing after it may be committed either.
                self.frozen = true;
                Err(Halt::Shutdown)
            }
            status = p.ack.wait() => {
                self.record(status, p.id, p.end, p.epoch);
                Ok(())
            }
        }
    }

    fn record(&mut self, status: BatchStatus, id: FileId, end: u64, epoch: u64) {
        match status {
            BatchStatus::Delivered if !self.frozen && epoch == self.epoch => {
                self.store.commit(id, end)
            }
            BatchStatus::Delivered => {}
            BatchStatus::Failed => {
                if !self.frozen {
                    tracing::error!(
                        file = %self.cfg.path.display(),
                        offset = end,
                        "a batch could not be delivered; the checkpoint stays before it and it is read again after a restart"
                    );
                }
                self.frozen = true;
            }
        }
    }

    /// Looks at what the path names now.
    async fn check_file(&mut self) -> Result<Change, Halt> {
        let Some(current) = self.current.as_ref() else {
            return Ok(Change::Missing);
        };
        let meta = match tokio::fs::metadata(&self.cfg.path).await {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Change::Missing),
            Err(e) => return Err(self.io_error("inspect", e)),
        };
        if file_id(&meta) != current.id {
            return match File::open(&self.cfg.path).await {
                Ok(file) => {
                    // Identify the opened file itself: the path may have moved again.
                    let meta = file
                        .metadata()
                        .await
                        .map_err(|e| self.io_error("inspect", e))?;
                    Ok(Change::Rotated(file, file_id(&meta)))
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Change::Missing),
                Err(e) => Err(self.io_error("open", e)),
            };
        }
        if meta.len() < self.splitter.offset() {
            return Ok(Change::Truncated);
        }
        Ok(Change::Unchanged)
    }

    /// After a truncation: older offsets no longer describe the file.
    async fn restart_at_zero(&mut self) -> Result<(), Halt> {
        let Some(current) = self.current.as_mut() else {
            return Ok(());
        };
        if let Err(e) = current.file.seek(SeekFrom::Start(0)).await {
            return Err(self.io_error("seek in", e));
        }
        let id = current.id;
        self.epoch += 1;
        self.splitter.reset(0);
        self.batch_end = 0;
        if !self.frozen {
            self.store.commit(id, 0);
        }
        Ok(())
    }

    /// Waits one poll interval, or returns on shutdown.
    async fn pause(&mut self) -> Result<(), Halt> {
        tokio::select! {
            biased;
            _ = self.run.shutdown.wait() => Err(Halt::Shutdown),
            _ = tokio::time::sleep(POLL) => Ok(()),
        }
    }
}

/// Sends a batch with a fresh acknowledgement token and remembers what to commit when
/// it is delivered.
async fn send_acked<O: BatchOutput>(
    run: &mut Run<O>,
    pending: &mut VecDeque<Pending>,
    mut batch: pipectl_core::event::Batch,
    id: Option<FileId>,
    end: u64,
    epoch: u64,
) -> Result<(), Halt> {
    if batch.is_empty() {
        return Ok(());
    }
    let ack = attach_ack(&mut batch);
    run.out.send_batch(batch).await?;
    if let Some(id) = id {
        pending.push_back(Pending {
            ack,
            id,
            end,
            epoch,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{build_error, plan, string, TempDir};
    use pipectl_core::event::Batch;
    use pipectl_core::metrics::ComponentCounters;
    use pipectl_core::shutdown::{shutdown_pair, ShutdownTrigger};
    use pipectl_core::value::Value;
    use std::io::Write;
    use std::sync::Arc;
    use tokio::sync::mpsc;
    use tokio::task::JoinHandle;

    fn config(path: &Path, mode: Mode, start_at: StartAt) -> FileConfig {
        FileConfig {
            path: path.to_path_buf(),
            mode,
            start_at,
            max_line_length: 16,
            batch_size: 2,
        }
    }

    fn message(event: &pipectl_core::event::Event) -> String {
        event
            .value
            .as_object()
            .and_then(|m| m.get("message"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    }

    /// A running source and the channel it sends into.
    struct Harness {
        rx: mpsc::Receiver<Batch>,
        trigger: ShutdownTrigger,
        task: JoinHandle<Result<(), ComponentError>>,
        counters: Arc<ComponentCounters>,
    }

    fn start(config: FileConfig, data_dir: &Path) -> Harness {
        let (tx, rx) = mpsc::channel(16);
        let (trigger, shutdown) = shutdown_pair();
        let counters = Arc::new(ComponentCounters::default());
        let run = Run {
            name: Arc::from("f"),
            out: tx,
            shutdown,
            counters: Arc::clone(&counters),
        };
        let source = FileSource::new(config, data_dir.to_path_buf());
        Harness {
            rx,
            trigger,
            task: tokio::spawn(source.run_with(run)),
            counters,
        }
    }

    impl Harness {
        /// Receives `n` lines; dropping each batch acknowledges it as delivered.
        async fn lines(&mut self, n: usize) -> Vec<String> {
            let mut out = Vec::new();
            while out.len() < n {
                let batch = tokio::time::timeout(Duration::from_secs(10), self.rx.recv())
                    .await
                    .expect("timed out waiting for lines")
                    .expect("the source ended");
                out.extend(batch.iter().map(message));
            }
            out
        }

        async fn stop(self) -> Arc<ComponentCounters> {
            self.trigger.trigger();
            let mut rx = self.rx;
            while rx.recv().await.is_some() {}
            self.task.await.unwrap().unwrap();
            self.counters
        }
    }

    fn append(path: &Path, text: &str) {
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        f.write_all(text.as_bytes()).unwrap();
    }

    fn checkpoint_offset(data_dir: &Path) -> u64 {
        let text = crate::checkpoint::stored_text(data_dir).unwrap();
        let cp: Checkpoint = serde_json::from_str(&text).unwrap();
        cp.offset
    }

    use std::fs::OpenOptions;

    #[tokio::test]
    async fn read_once_reads_everything_including_a_last_line_without_newline() {
        let dir = TempDir::new("file-once");
        let path = dir.path().join("in.log");
        std::fs::write(&path, b"a\r\nb\nthis line is far too long\n\xffc\nlast").unwrap();
        let (tx, mut rx) = mpsc::channel(16);
        let (_trigger, shutdown) = shutdown_pair();
        let counters = Arc::new(ComponentCounters::default());
        let run = Run {
            name: Arc::from("f"),
            out: tx,
            shutdown,
            counters: Arc::clone(&counters),
        };
        let source = FileSource::new(
            config(&path, Mode::ReadOnce, StartAt::Beginning),
            dir.path().to_path_buf(),
        );
        source.run_with(run).await.unwrap();
        let mut batches = Vec::new();
        while let Some(batch) = rx.recv().await {
            batches.push(batch.iter().map(message).collect::<Vec<_>>());
        }
        assert_eq!(
            batches,
            [
                vec!["a", "b"],
                vec!["this line is far too long", "\u{fffd}c"],
                vec!["last"]
            ]
        );
        let snapshot = counters.snapshot();
        assert_eq!(snapshot.events_errored, 1);
        assert_eq!(snapshot.bytes_in, 38);
        assert_eq!(crate::checkpoint::stored_text(dir.path()), None);
    }

    /// Runs `read_once` on a file holding `bytes`; every event as JSON, and the
    /// counters.
    async fn read_once_of(bytes: &[u8], max_line_length: usize) -> (Vec<String>, u64) {
        let dir = TempDir::new("file-once-of");
        let path = dir.path().join("in.log");
        std::fs::write(&path, bytes).unwrap();
        let (tx, mut rx) = mpsc::channel(1024);
        let (_trigger, shutdown) = shutdown_pair();
        let counters = Arc::new(ComponentCounters::default());
        let run = Run {
            name: Arc::from("f"),
            out: tx,
            shutdown,
            counters: Arc::clone(&counters),
        };
        let mut cfg = config(&path, Mode::ReadOnce, StartAt::Beginning);
        cfg.max_line_length = max_line_length;
        FileSource::new(cfg, dir.path().to_path_buf())
            .run_with(run)
            .await
            .unwrap();
        let mut events = Vec::new();
        while let Some(batch) = rx.recv().await {
            let path = path.display().to_string();
            events.extend(
                batch
                    .iter()
                    .map(|e| pipectl_core::json::to_string(&e.value).replace(&path, "IN")),
            );
        }
        (events, counters.snapshot().events_errored)
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    }

    #[tokio::test]
    async fn a_too_long_line_becomes_a_dead_letter_with_its_head_and_place() {
        let (events, errored) = read_once_of(b"ok\n0123456789abcdefXYZ\nend", 16).await;
        assert_eq!(
            events,
            [
                r#"{"message":"ok"}"#,
                concat!(
                    r#"{"message":"0123456789abcdefXYZ","pipectl":{"error":{"component":"f","#,
                    r#""message":"line at bytes 3..23 is longer than max_line_length (16 bytes): "#,
                    r#"skipped; `message` holds its first 19 bytes"}},"log":{"offset":3,"file":{"path":"IN"}}}"#
                ),
                r#"{"message":"end"}"#,
            ]
        );
        assert_eq!(errored, 1);
    }

    #[tokio::test]
    async fn gzip_files_are_recognised_by_their_magic_and_decompressed() {
        let mut data = gzip(b"one\ntwo\n");
        data.extend(gzip(b"three\nfour"));
        let (events, errored) = read_once_of(&data, 16).await;
        assert_eq!(
            events,
            [
                r#"{"message":"one"}"#,
                r#"{"message":"two"}"#,
                r#"{"message":"three"}"#,
                r#"{"message":"four"}"#
            ]
        );
        assert_eq!(errored, 0);
    }

    #[tokio::test]
    async fn a_truncated_gzip_delivers_what_it_can_then_a_dead_letter() {
        let text: String = (0..2000).map(|i| format!("line {i}\n")).collect();
        let data = gzip(text.as_bytes());
        let (events, errored) = read_once_of(&data[..data.len() / 2], 64).await;
        let (last, lines) = events.split_last().unwrap();
        assert!(!lines.is_empty() && lines.len() < 2000);
        for (i, line) in lines.iter().enumerate() {
            assert_eq!(line, &format!(r#"{{"message":"line {i}"}}"#));
        }
        assert!(
            last.contains(r#""pipectl":{"error":{"component":"f","message":"IN: corrupt or truncated gzip after "#),
            "{last}"
        );
        assert_eq!(errored, 1);
    }

    #[tokio::test]
    async fn read_once_of_a_missing_file_is_an_error() {
        let dir = TempDir::new("file-missing");
        let (tx, _rx) = mpsc::channel(1);
        let (_trigger, shutdown) = shutdown_pair();
        let run = Run {
            name: Arc::from("f"),
            out: tx,
            shutdown,
            counters: Arc::new(ComponentCounters::default()),
        };
        let path = dir.path().join("nope.log");
        let source = FileSource::new(
            config(&path, Mode::ReadOnce, StartAt::Beginning),
            dir.path().to_path_buf(),
        );
        let err = source.run_with(run).await.unwrap_err();
        assert!(err.message.starts_with("cannot open"), "{}", err.message);
    }

    #[tokio::test]
    async fn follow_survives_rotation_and_truncation_and_checkpoints() {
        let dir = TempDir::new("file-follow");
        let path = dir.path().join("app.log");
        let state = dir.path().join("state");
        std::fs::create_dir_all(&state).unwrap();
        append(&path, "one\ntwo\n");
        let mut h = start(config(&path, Mode::Follow, StartAt::Beginning), &state);
        assert_eq!(h.lines(2).await, ["one", "two"]);

        // A line written in two steps is emitted once complete.
        append(&path, "thr");
        tokio::time::sleep(Duration::from_millis(400)).await;
        append(&path, "ee\n");
        assert_eq!(h.lines(1).await, ["three"]);

        // Rotation by rename + create: the old file's tail comes first.
        append(&path, "four\n");
        std::fs::rename(&path, dir.path().join("app.log.1")).unwrap();
        append(&path, "five\n");
        assert_eq!(h.lines(2).await, ["four", "five"]);

        // Truncation: read again from the start.
        tokio::time::sleep(Duration::from_millis(400)).await;
        std::fs::write(&path, "").unwrap();
        tokio::time::sleep(Duration::from_millis(600)).await;
        append(&path, "six\n");
        assert_eq!(h.lines(1).await, ["six"]);
        h.stop().await;
        assert_eq!(checkpoint_offset(&state), 4);

        // A restart resumes after the last acknowledged line.
        append(&path, "seven\n");
        let mut h = start(config(&path, Mode::Follow, StartAt::Beginning), &state);
        assert_eq!(h.lines(1).await, ["seven"]);
        h.stop().await;
        assert_eq!(checkpoint_offset(&state), 10);
    }

    #[tokio::test]
    async fn follow_from_the_end_and_not_past_failed_batches() {
        let dir = TempDir::new("file-follow-end");
        let path = dir.path().join("app.log");
        append(&path, "old\n");
        let mut h = start(config(&path, Mode::Follow, StartAt::End), dir.path());
        tokio::time::sleep(Duration::from_millis(300)).await;
        append(&path, "new\n");
        assert_eq!(h.lines(1).await, ["new"]);
        // Wait for that acknowledgement to be committed.
        tokio::time::sleep(Duration::from_millis(600)).await;
        append(&path, "lost\n");
        let batch = tokio::time::timeout(Duration::from_secs(10), h.rx.recv())
            .await
            .unwrap()
            .unwrap();
        batch.iter().for_each(|e| e.fail_delivery());
        drop(batch);
        append(&path, "later\n");
        assert_eq!(h.lines(1).await, ["later"]);
        h.stop().await;
        // The checkpoint stays before the failed batch: it is read again.
        assert_eq!(checkpoint_offset(dir.path()), 8);
    }

    #[tokio::test]
    async fn follow_waits_for_a_missing_file() {
        let dir = TempDir::new("file-wait");
        let path = dir.path().join("later.log");
        let mut h = start(config(&path, Mode::Follow, StartAt::End), dir.path());
        tokio::time::sleep(Duration::from_millis(300)).await;
        append(&path, "hello\n");
        // A file that appears later is read from its start, whatever start_at says.
        assert_eq!(h.lines(1).await, ["hello"]);
        let counters = h.stop().await;
        assert_eq!(counters.snapshot().bytes_in, 6);
    }

    #[test]
    fn configuration_is_checked() {
        let p = plan(
            &SPEC,
            "t",
            vec![("path", string("/x")), ("start_at", string("end"))],
        );
        assert!(build_error(&FACTORY, &p).contains("would read nothing"));
        let p = plan(
            &SPEC,
            "t",
            vec![
                ("path", string("/x")),
                ("batch_size", pipectl_dsl::plan::PlanValue::Int(0)),
            ],
        );
        assert!(build_error(&FACTORY, &p).contains("at least 1"));
    }
}

//! `sink file`: appends events to a file as NDJSON.
//!
//! Each batch is encoded into one buffer and appended with one write (then `fsync` when
//! asked), and only then are its events acknowledged. A write error marks the batch
//! failed (no source checkpoint advances past it) and stops the run. Parent
//! directories are created; an existing file is appended to, never truncated.
//!
//! With `buffer = "disk"` events go through a disk buffer first (`crate::buffer`,
//! docs/reliability.md): acknowledged once in it, forgotten once appended here.

use super::{encode_ndjson, SinkRun};
use crate::io::BatchInput;
use crate::settings::choice;
use futures::future::BoxFuture;
use pipectl_core::component::{
    BuildContext, BuildError, Built, ComponentError, Factory, Sink, SinkContext,
};
use pipectl_core::config::Attrs;
use pipectl_dsl::catalogue::{AttrSpec, AttrType, ComponentSpec};
use pipectl_dsl::plan::{ComponentKind, ComponentPlan};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

/// The catalogue entry of `sink file`.
pub static SPEC: ComponentSpec = ComponentSpec {
    kind: ComponentKind::Sink,
    type_name: "file",
    summary: "Appends events to a file as NDJSON, acknowledging them once written (and synced, with `fsync`).",
    attrs: &[
        AttrSpec::required("path", AttrType::Path, "The file to append to; parent directories are created."),
        AttrSpec::with_default(
            "fsync",
            AttrType::Bool,
            "false",
            "Sync every batch to disk before acknowledging it (survives power loss, costs throughput).",
        ),
        AttrSpec::with_default(
            "encoding",
            AttrType::Enum(&["ndjson"]),
            "\"ndjson\"",
            "One compact JSON document per line.",
        ),
        crate::buffer::ATTR_BUFFER_OFF,
        crate::buffer::ATTR_MAX_SIZE,
        crate::buffer::ATTR_WHEN_FULL,
        crate::buffer::ATTR_FSYNC,
        crate::buffer::ATTR_FSYNC_INTERVAL,
    ],
    fixed_outputs: &[],
    outputs_from: None,
};

/// Builds `sink file`.
pub const FACTORY: Factory = Factory { spec: &SPEC, build };

/// The checked settings of one `sink file`.
#[derive(Debug, Clone)]
pub struct FileSinkConfig {
    pub path: PathBuf,
    pub fsync: bool,
}

/// A built `sink file`'s settings and its optional disk buffer.
struct Settings {
    config: FileSinkConfig,
    buffer: Option<crate::buffer::BufferConfig>,
}

fn build(plan: &ComponentPlan, ctx: &BuildContext<'_>) -> Result<Built, BuildError> {
    let attrs = Attrs::new(plan, ctx);
    choice(&attrs, "encoding", &[("ndjson", ())])?;
    let path = PathBuf::from(attrs.string("path")?);
    if path.as_os_str().is_empty() {
        return Err(attrs.error("attribute `path` must not be empty"));
    }
    let config = FileSinkConfig {
        path,
        fsync: attrs.bool("fsync")?,
    };
    let buffer = crate::buffer::BufferConfig::from_attrs(&attrs, &ctx.data_dir, false)?;
    Ok(Built::Sink(Box::new(FileSink {
        settings: Settings { config, buffer },
    })))
}

/// A built `sink file`.
pub struct FileSink {
    settings: Settings,
}

impl Sink for FileSink {
    fn run(self: Box<Self>, ctx: SinkContext) -> BoxFuture<'static, Result<(), ComponentError>> {
        let Settings { config, buffer } = self.settings;
        match buffer {
            None => Box::pin(append(config, SinkRun::from_context(ctx))),
            Some(buffer) => Box::pin(async move {
                let buffered = crate::buffer::run::Buffered {
                    config: buffer,
                    name: Arc::clone(&ctx.name),
                    counters: Arc::clone(&ctx.counters),
                    drain: None,
                };
                let (name, counters) = (ctx.name, ctx.counters);
                buffered
                    .run(ctx.input, move |input| {
                        append(
                            config,
                            SinkRun {
                                name,
                                input,
                                counters,
                            },
                        )
                    })
                    .await
            }),
        }
    }
}

fn open(path: &PathBuf) -> std::io::Result<File> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    OpenOptions::new().create(true).append(true).open(path)
}

async fn append<I: BatchInput>(
    config: FileSinkConfig,
    mut run: SinkRun<I>,
) -> Result<(), ComponentError> {
    let path = config.path.clone();
    let opened = tokio::task::spawn_blocking(move || open(&path)).await;
    let mut file = match opened {
        Ok(Ok(file)) => file,
        Ok(Err(e)) => {
            return Err(ComponentError {
                component: run.name.to_string(),
                message: format!("cannot open {}: {e}", config.path.display()),
            })
        }
        Err(e) => {
            return Err(ComponentError {
                component: run.name.to_string(),
                message: format!("the file task failed: {e}"),
            })
        }
    };
    let fsync = config.fsync;
    let mut buf = Vec::new();
    while let Some(batch) = run.input.next_batch().await {
        buf.clear();
        encode_ndjson(&batch, &mut buf);
        let written = tokio::task::spawn_blocking(move || {
            let result = file
                .write_all(&buf)
                .and_then(|()| file.flush())
                .and_then(|()| if fsync { file.sync_data() } else { Ok(()) });
            (file, buf, result)
        })
        .await;
        let result;
        (file, buf, result) = match written {
            Ok(done) => done,
            Err(e) => return Err(run.fail(&batch, format!("the file task failed: {e}"))),
        };
        if let Err(e) = result {
            return Err(run.fail(
                &batch,
                format!("cannot write to {}: {e}", config.path.display()),
            ));
        }
        run.counters.add_bytes_out(buf.len() as u64);
        run.counters.add_out(batch.len() as u64);
        // Dropping the batch acknowledges its events.
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{build_error, event, plan, string, TempDir};
    use pipectl_core::ack::{AckToken, BatchStatus};
    use pipectl_core::metrics::ComponentCounters;
    use pipectl_dsl::plan::PlanValue;
    use std::sync::Arc;
    use tokio::sync::mpsc;

    #[tokio::test]
    async fn appends_ndjson_and_acknowledges_after_writing() {
        let dir = TempDir::new("file-sink");
        let path = dir.path().join("nested/dir/out.ndjson");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "{\"old\":true}\n").unwrap();
        let (tx, rx) = mpsc::channel(4);
        let counters = Arc::new(ComponentCounters::default());
        let run = SinkRun {
            name: Arc::from("out"),
            input: rx,
            counters: Arc::clone(&counters),
        };
        let (token, ack) = AckToken::new();
        let mut first = vec![event(r#"{"a":1}"#), event(r#"{"b":"é\n"}"#)];
        for e in &mut first {
            e.meta.ack = Some(token.clone());
        }
        drop(token);
        tx.send(first).await.unwrap();
        tx.send(vec![event(r#"{"c":[]}"#)]).await.unwrap();
        drop(tx);
        let config = FileSinkConfig {
            path: path.clone(),
            fsync: true,
        };
        append(config, run).await.unwrap();
        assert_eq!(ack.wait().await, BatchStatus::Delivered);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "{\"old\":true}\n{\"a\":1}\n{\"b\":\"é\\n\"}\n{\"c\":[]}\n"
        );
        let snapshot = counters.snapshot();
        assert_eq!(snapshot.events_out, 3);
        assert_eq!(snapshot.bytes_out, text.len() as u64 - 13);
    }

    #[tokio::test]
    async fn an_unwritable_path_is_an_error() {
        let dir = TempDir::new("file-sink-bad");
        // A directory where the file should be.
        let path = dir.path().join("taken");
        std::fs::create_dir_all(&path).unwrap();
        let (tx, rx) = mpsc::channel::<pipectl_core::event::Batch>(4);
        drop(tx);
        let run = SinkRun {
            name: Arc::from("out"),
            input: rx,
            counters: Arc::new(ComponentCounters::default()),
        };
        let err = append(FileSinkConfig { path, fsync: false }, run)
            .await
            .unwrap_err();
        assert!(err.message.starts_with("cannot open"), "{}", err.message);
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn a_failed_write_fails_the_batch() {
        let (tx, rx) = mpsc::channel(4);
        let run = SinkRun {
            name: Arc::from("out"),
            input: rx,
            counters: Arc::new(ComponentCounters::default()),
        };
        let (token, ack) = AckToken::new();
        let mut e = event(r#"{"a":1}"#);
        e.meta.ack = Some(token);
        tx.send(vec![e]).await.unwrap();
        drop(tx);
        // Every write to /dev/full fails with "no space left on device".
        let config = FileSinkConfig {
            path: PathBuf::from("/dev/full"),
            fsync: false,
        };
        let err = append(config, run).await.unwrap_err();
        assert!(
            err.message.starts_with("cannot write to /dev/full"),
            "{}",
            err.message
        );
        assert_eq!(ack.wait().await, BatchStatus::Failed);
    }

    #[tokio::test]
    async fn with_a_disk_buffer_events_go_through_it_and_are_appended() {
        use crate::buffer::{BufferConfig, Fsync, WhenFull};
        let dir = TempDir::new("file-sink-buffer");
        let p = plan(
            &SPEC,
            "t",
            vec![
                ("path", string("x")),
                ("buffer", string("disk")),
                ("buffer_max_size", PlanValue::Size(1 << 20)),
            ],
        );
        let secrets = pipectl_core::secrets::SecretStore::default();
        let ctx = BuildContext {
            pipeline: "p",
            data_dir: dir.path().to_path_buf(),
            secrets: &secrets,
        };
        let attrs = Attrs::new(&p, &ctx);
        let config = BufferConfig::from_attrs(&attrs, dir.path(), false)
            .unwrap()
            .unwrap();
        assert_eq!(config.dir, dir.path().join("buffer"));
        assert_eq!(
            (config.max_size, config.when_full, config.fsync),
            (1 << 20, WhenFull::Block, Fsync::Batch)
        );

        let out = dir.path().join("out.ndjson");
        let (tx, rx) = mpsc::channel(4);
        let (token, ack) = AckToken::new();
        let mut batch = vec![event(r#"{"a":1}"#), event(r#"{"b":2}"#)];
        for e in &mut batch {
            e.meta.ack = Some(token.clone());
        }
        drop(token);
        tx.send(batch).await.unwrap();
        drop(tx);
        let counters = Arc::new(ComponentCounters::default());
        let buffered = crate::buffer::run::Buffered {
            config,
            name: Arc::from("p.t"),
            counters: Arc::clone(&counters),
            drain: None,
        };
        let path = out.clone();
        buffered
            .run(rx, move |input| {
                append(
                    FileSinkConfig { path, fsync: false },
                    SinkRun {
                        name: Arc::from("p.t"),
                        input,
                        counters,
                    },
                )
            })
            .await
            .unwrap();
        assert_eq!(ack.wait().await, BatchStatus::Delivered);
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            "{\"a\":1}\n{\"b\":2}\n"
        );
        assert!(crate::buffer::wal::read_checkpoint(&dir.path().join("buffer")).is_some());
    }

    #[test]
    fn path_is_required_to_be_non_empty() {
        let p = plan(&SPEC, "t", vec![("path", string(""))]);
        assert!(build_error(&FACTORY, &p).contains("must not be empty"));
    }
}

//! `sink console`: events to standard output, as NDJSON or indented JSON.
//!
//! Each batch is encoded into one buffer and written with one locked write, then
//! flushed, so lines of concurrent writers never interleave and a reader sees a batch
//! as soon as it is done. A write error (a closed pipe) fails the batch and stops the
//! run.

use super::{encode_ndjson, SinkRun};
use crate::io::BatchInput;
use crate::settings::choice;
use futures::future::BoxFuture;
use pipectl_core::component::{
    BuildContext, BuildError, Built, ComponentError, Factory, Sink, SinkContext,
};
use pipectl_core::config::Attrs;
use pipectl_core::event::Batch;
use pipectl_core::json::{write as write_json, write_str};
use pipectl_core::value::Value;
use pipectl_dsl::catalogue::{AttrSpec, AttrType, ComponentSpec};
use pipectl_dsl::plan::{ComponentKind, ComponentPlan};
use std::io::Write;

/// The catalogue entry of `sink console`.
pub static SPEC: ComponentSpec = ComponentSpec {
    kind: ComponentKind::Sink,
    type_name: "console",
    summary: "Writes events to standard output, one JSON document per line or indented.",
    attrs: &[AttrSpec::with_default(
        "encoding",
        AttrType::Enum(&["ndjson", "pretty"]),
        "\"ndjson\"",
        "`ndjson`: one compact document per line; `pretty`: indented, for reading.",
    )],
    fixed_outputs: &[],
    outputs_from: None,
};

/// Builds `sink console`.
pub const FACTORY: Factory = Factory { spec: &SPEC, build };

/// How events are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Ndjson,
    Pretty,
}

fn build(plan: &ComponentPlan, ctx: &BuildContext<'_>) -> Result<Built, BuildError> {
    let attrs = Attrs::new(plan, ctx);
    let encoding = choice(
        &attrs,
        "encoding",
        &[("ndjson", Encoding::Ndjson), ("pretty", Encoding::Pretty)],
    )?;
    Ok(Built::Sink(Box::new(ConsoleSink {
        encoding,
        out: Box::new(std::io::stdout()),
    })))
}

/// A built `sink console`.
pub struct ConsoleSink {
    encoding: Encoding,
    out: Box<dyn Write + Send>,
}

impl Sink for ConsoleSink {
    fn run(self: Box<Self>, ctx: SinkContext) -> BoxFuture<'static, Result<(), ComponentError>> {
        Box::pin(write_batches(*self, SinkRun::from_context(ctx)))
    }
}

async fn write_batches<I: BatchInput>(
    sink: ConsoleSink,
    mut run: SinkRun<I>,
) -> Result<(), ComponentError> {
    let ConsoleSink { encoding, mut out } = sink;
    let mut buf = Vec::new();
    while let Some(batch) = run.input.next_batch().await {
        buf.clear();
        encode(encoding, &batch, &mut buf);
        // Writing may block (a slow terminal or pipe): off the async threads.
        let written = tokio::task::spawn_blocking(move || {
            let result = out.write_all(&buf).and_then(|()| out.flush());
            (out, buf, result)
        })
        .await;
        let result;
        (out, buf, result) = match written {
            Ok(done) => done,
            Err(e) => return Err(run.fail(&batch, format!("the writer task failed: {e}"))),
        };
        if let Err(e) = result {
            return Err(run.fail(&batch, format!("cannot write to standard output: {e}")));
        }
        run.counters.add_bytes_out(buf.len() as u64);
        run.counters.add_out(batch.len() as u64);
    }
    Ok(())
}

fn encode(encoding: Encoding, batch: &Batch, buf: &mut Vec<u8>) {
    match encoding {
        Encoding::Ndjson => encode_ndjson(batch, buf),
        Encoding::Pretty => {
            for event in batch {
                write_pretty(&event.value, 0, buf);
                buf.push(b'\n');
            }
        }
    }
}

/// Indented JSON, two spaces per level; empty arrays and objects stay on one line.
fn write_pretty(value: &Value, depth: usize, out: &mut Vec<u8>) {
    let indent = |out: &mut Vec<u8>, depth: usize| {
        out.push(b'\n');
        out.extend(std::iter::repeat_n(b' ', depth * 2));
    };
    match value {
        Value::Array(items) if !items.is_empty() => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                indent(out, depth + 1);
                write_pretty(item, depth + 1, out);
            }
            indent(out, depth);
            out.push(b']');
        }
        Value::Object(map) if !map.is_empty() => {
            out.push(b'{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                indent(out, depth + 1);
                write_str(key, out);
                out.extend_from_slice(b": ");
                write_pretty(item, depth + 1, out);
            }
            indent(out, depth);
            out.push(b'}');
        }
        scalar => write_json(scalar, out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::event;
    use pipectl_core::ack::{AckToken, BatchStatus};
    use pipectl_core::metrics::ComponentCounters;
    use std::sync::{Arc, Mutex};
    use tokio::sync::mpsc;

    /// A writer tests can read back, or one that always fails.
    #[derive(Clone)]
    struct Shared(Arc<Mutex<Vec<u8>>>, bool);

    impl Write for Shared {
        fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
            if self.1 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::BrokenPipe,
                    "closed",
                ));
            }
            self.0.lock().unwrap().extend_from_slice(data);
            Ok(data.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    async fn write(
        encoding: Encoding,
        docs: &[&str],
        failing: bool,
    ) -> (String, Result<(), ComponentError>, BatchStatus) {
        let shared = Shared(Arc::default(), failing);
        let (tx, rx) = mpsc::channel(4);
        let run = SinkRun {
            name: Arc::from("out"),
            input: rx,
            counters: Arc::new(ComponentCounters::default()),
        };
        let (token, ack) = AckToken::new();
        let batch = docs
            .iter()
            .map(|d| {
                let mut e = event(d);
                e.meta.ack = Some(token.clone());
                e
            })
            .collect();
        drop(token);
        tx.send(batch).await.unwrap();
        drop(tx);
        let sink = ConsoleSink {
            encoding,
            out: Box::new(shared.clone()),
        };
        let result = write_batches(sink, run).await;
        let text = String::from_utf8(shared.0.lock().unwrap().clone()).unwrap();
        (text, result, ack.wait().await)
    }

    #[tokio::test]
    async fn ndjson_lines() {
        let (text, result, status) =
            write(Encoding::Ndjson, &[r#"{"a":1}"#, r#"{"b":"x"}"#], false).await;
        assert_eq!(text, "{\"a\":1}\n{\"b\":\"x\"}\n");
        assert!(result.is_ok());
        assert_eq!(status, BatchStatus::Delivered);
    }

    #[tokio::test]
    async fn pretty_documents() {
        let (text, _, _) = write(
            Encoding::Pretty,
            &[r#"{"a":[1,{}],"b":{"c":null},"d":[]}"#],
            false,
        )
        .await;
        assert_eq!(
            text,
            "{\n  \"a\": [\n    1,\n    {}\n  ],\n  \"b\": {\n    \"c\": null\n  },\n  \"d\": []\n}\n"
        );
    }

    #[tokio::test]
    async fn write_errors_fail_the_batch() {
        let (_, result, status) = write(Encoding::Ndjson, &[r#"{"a":1}"#], true).await;
        assert!(result.unwrap_err().message.contains("cannot write"));
        assert_eq!(status, BatchStatus::Failed);
    }
}

//! `source stdin`: lines of standard input as `{"message": "<line>"}` events, until
//! end of input (a finite source).
//!
//! A batch is sent when it is full or when input pauses (a read returned less than a
//! full buffer), so interactive use sees events at once while piped bulk input still
//! travels in full batches. Over-long lines are skipped without being held and become
//! error records (their first 256 bytes, the reason, `log.offset`), counted as errors;
//! invalid UTF-8 is replaced with U+FFFD.

use super::{Halt, LineBatcher, Run, Skipped};
use crate::io::BatchOutput;
use crate::lines::{LineSplitter, Piece};
use crate::settings::{positive, size_limit};
use futures::future::BoxFuture;
use pipectl_core::component::{
    BuildContext, BuildError, Built, ComponentError, Factory, Source, SourceContext,
};
use pipectl_core::config::Attrs;
use pipectl_dsl::catalogue::ComponentSpec;
use pipectl_dsl::plan::{ComponentKind, ComponentPlan};
use tokio::io::{AsyncRead, AsyncReadExt};

/// The catalogue entry of `source stdin`.
pub static SPEC: ComponentSpec = ComponentSpec {
    kind: ComponentKind::Source,
    type_name: "stdin",
    summary: "Reads standard input line by line, until it ends, as `{\"message\": line}` events.",
    attrs: &[
        crate::lines::MAX_LINE_LENGTH_ATTR,
        crate::lines::BATCH_SIZE_ATTR,
    ],
    fixed_outputs: &[],
    outputs_from: None,
};

/// Builds `source stdin`.
pub const FACTORY: Factory = Factory { spec: &SPEC, build };

fn build(plan: &ComponentPlan, ctx: &BuildContext<'_>) -> Result<Built, BuildError> {
    let attrs = Attrs::new(plan, ctx);
    Ok(Built::Source(Box::new(StdinSource {
        max_line_length: size_limit(&attrs, "max_line_length")?,
        batch_size: positive(&attrs, "batch_size")?,
    })))
}

/// A built `source stdin`.
pub struct StdinSource {
    max_line_length: usize,
    batch_size: usize,
}

impl Source for StdinSource {
    fn run(self: Box<Self>, ctx: SourceContext) -> BoxFuture<'static, Result<(), ComponentError>> {
        Box::pin(async move { read_lines(tokio::io::stdin(), *self, Run::from_context(ctx)).await })
    }
}

const CHUNK: usize = 64 * 1024;

/// Reads `input` to its end (or until shutdown) as line events.
pub(crate) async fn read_lines<R: AsyncRead + Unpin, O: BatchOutput>(
    mut input: R,
    settings: StdinSource,
    mut run: Run<O>,
) -> Result<(), ComponentError> {
    let mut splitter = LineSplitter::new(settings.max_line_length, 0);
    let mut lines = LineBatcher::new(run.name.clone(), settings.batch_size);
    let mut buf = vec![0u8; CHUNK];
    let result: Result<(), Halt> = async {
        loop {
            let n = tokio::select! {
                biased;
                _ = run.shutdown.wait() => return Err(Halt::Shutdown),
                read = input.read(&mut buf) => read.map_err(|e| run.error(format!("cannot read standard input: {e}")))?,
            };
            if n == 0 {
                break;
            }
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
                        tracing::warn!(
                            offset = start,
                            length = end - start,
                            max_line_length = settings.max_line_length,
                            "skipped a line of standard input longer than max_line_length"
                        );
                        run.counters.add_errored(1);
                        let skipped = Skipped {
                            file: None,
                            start,
                            end,
                            head,
                            max: settings.max_line_length,
                        };
                        if lines.push_too_long(&skipped) {
                            run.out.send_batch(lines.take()).await?;
                        }
                    }
                }
            }
            if n < buf.len() {
                run.out.send_batch(lines.take()).await?;
            }
        }
        match splitter.finish() {
            Some(Piece::Line { bytes, .. }) => {
                lines.push(bytes);
            }
            Some(Piece::TooLong { start, end, head }) => {
                run.counters.add_errored(1);
                lines.push_too_long(&Skipped {
                    file: None,
                    start,
                    end,
                    head,
                    max: settings.max_line_length,
                });
            }
            None => {}
        }
        run.out.send_batch(lines.take()).await?;
        Ok(())
    }
    .await;
    if lines.replaced_utf8 > 0 {
        tracing::warn!(
            lines = lines.replaced_utf8,
            "lines of standard input held invalid UTF-8; the invalid bytes were replaced with U+FFFD"
        );
    }
    result.or_else(Halt::into_result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pipectl_core::event::Batch;
    use pipectl_core::metrics::ComponentCounters;
    use pipectl_core::shutdown::shutdown_pair;
    use std::sync::Arc;
    use tokio::sync::mpsc;

    async fn run_on(
        input: &'static [u8],
        max: usize,
        batch_size: usize,
    ) -> (Vec<Vec<String>>, u64) {
        let (tx, mut rx) = mpsc::channel::<Batch>(64);
        let (_trigger, shutdown) = shutdown_pair();
        let counters = Arc::new(ComponentCounters::default());
        let run = Run {
            name: Arc::from("in"),
            out: tx,
            shutdown,
            counters: Arc::clone(&counters),
        };
        let settings = StdinSource {
            max_line_length: max,
            batch_size,
        };
        read_lines(input, settings, run).await.unwrap();
        let mut batches = Vec::new();
        while let Some(batch) = rx.recv().await {
            batches.push(
                batch
                    .iter()
                    .map(|e| pipectl_core::json::to_string(&e.value))
                    .collect(),
            );
        }
        (batches, counters.snapshot().events_errored)
    }

    #[tokio::test]
    async fn lines_become_message_events_in_batches() {
        let (batches, errored) = run_on(b"a\nb\nc\nd", 1024, 3).await;
        assert_eq!(
            batches,
            vec![
                vec![
                    r#"{"message":"a"}"#,
                    r#"{"message":"b"}"#,
                    r#"{"message":"c"}"#
                ],
                vec![r#"{"message":"d"}"#],
            ]
        );
        assert_eq!(errored, 0);
    }

    #[tokio::test]
    async fn long_lines_are_skipped_as_dead_letters() {
        let (batches, errored) = run_on(b"ok\nthis line is too long\n\xffend\n", 8, 100).await;
        assert_eq!(
            batches,
            vec![vec![
                r#"{"message":"ok"}"#,
                concat!(
                    r#"{"message":"this line is too long","pipectl":{"error":{"component":"in","#,
                    r#""message":"line at bytes 3..25 is longer than max_line_length (8 bytes): "#,
                    r#"skipped; `message` holds its first 21 bytes"}},"log":{"offset":3}}"#
                ),
                "{\"message\":\"\u{fffd}end\"}"
            ]]
        );
        assert_eq!(errored, 1);
    }

    #[tokio::test]
    async fn empty_input_sends_nothing() {
        let (batches, _) = run_on(b"", 8, 100).await;
        assert!(batches.is_empty());
    }
}

//! The loop every text subcommand runs: the documents of each input, in batches as they
//! are read, through the subcommand's model, each result written to the sink as soon as its
//! batch is done. A record that fails (it cannot be read, or the model refuses it) stops
//! the run after the results of the records before it, or with `--on-error skip|record` is
//! dropped or written in its place, and the run goes on.

use std::path::Path;

use anyhow::Result;

use crate::batches::Batches;
use crate::docs::{id_text, BadRecord, Doc, DocReader};
use crate::flags::{DocArgs, IoArgs, OnError};
use crate::io::Output;
use crate::messages;
use crate::progress::Progress;
use crate::sink::Sink;
use crate::UsageError;

/// What a subcommand makes of one batch: the results of its first documents (all of them,
/// or those before one it refuses) and the error that stopped it there, naming that
/// document, if any.
pub type BatchResults<R> = (Vec<R>, Option<anyhow::Error>);

/// Records failed under `--on-error skip|record`: the run wrote everything else, and exits
/// with `EXIT_CODE` to say that not every record went through.
#[derive(Debug, thiserror::Error)]
#[error("{count} record{s} failed ({what})", s = if *.count == 1 { "" } else { "s" })]
pub struct RecordsFailed {
    pub count: usize,
    what: &'static str,
}

impl RecordsFailed {
    pub const EXIT_CODE: u8 = 3;
}

/// Failures named on stderr one by one up to this many; the rest are only counted.
const NAMED_FAILURES: usize = 20;

/// Runs `score` over every batch of up to `chunk` documents of `io.inputs`, read as `docs`
/// says, writes each result to `sink`, and completes `output`. `score` gets the input's
/// path, the number of its documents before the batch, and the batch.
pub fn run_documents<R>(
    io: &IoArgs,
    docs: &DocArgs,
    chunk: usize,
    sink: &mut dyn Sink<R>,
    mut output: Output,
    mut score: impl FnMut(&Path, usize, &[Doc]) -> Result<BatchResults<R>>,
) -> Result<()> {
    if io.on_error == OnError::Record && !sink.record_errors() {
        return Err(UsageError(
            "--on-error record writes each failed record in its place with an error field; \
             that needs --format jsonl or csv (or use --on-error skip)"
                .into(),
        )
        .into());
    }
    let mut failures = Failures {
        on_error: io.on_error,
        count: 0,
    };
    let mut progress = Progress::new("texts", None);
    for path in &io.inputs {
        let mut reader = DocReader::open(path, docs, io.several())?;
        sink.begin(output.writer(), reader.header().as_ref())?;
        let mut before = 0;
        for batch in Batches::new(reader, chunk) {
            let batch = match batch {
                Ok(batch) => batch,
                Err(e) => {
                    let bad = e.downcast::<BadRecord>()?;
                    let (doc, error) = bad.into_doc();
                    failures.fail(sink, &mut output, &doc, anyhow::anyhow!(error))?;
                    before += 1;
                    continue;
                }
            };
            // The model may refuse a document: those before it are written, it fails, and
            // the rest of the batch is scored on.
            let mut done = 0;
            while done < batch.len() {
                let (results, stop) = score(path, before + done, &batch[done..])?;
                for (doc, result) in batch[done..].iter().zip(&results) {
                    sink.write(output.writer(), doc, result)?;
                }
                done += results.len();
                progress.add(results.len());
                match stop {
                    Some(e) if done < batch.len() => {
                        failures.fail(sink, &mut output, &batch[done], e)?;
                        done += 1;
                    }
                    Some(e) => return Err(e),
                    None => break,
                }
            }
            output.writer().flush()?;
            before += batch.len();
        }
    }
    progress.finish();
    sink.finish(output.writer())?;
    output.finish_with_start(sink.file_start())?;
    failures.result()
}

/// The records that failed so far, and what `--on-error` does with each.
struct Failures {
    on_error: OnError,
    count: usize,
}

impl Failures {
    /// `doc` failed with `error`: the run stops, or the record is skipped or written.
    fn fail<R>(
        &mut self,
        sink: &mut dyn Sink<R>,
        output: &mut Output,
        doc: &Doc,
        error: anyhow::Error,
    ) -> Result<()> {
        let what = match self.on_error {
            OnError::Fail => {
                output.writer().flush()?;
                return Err(error);
            }
            OnError::Skip => "skipped",
            OnError::Record => {
                sink.fail(output.writer(), doc, &format!("{error:#}"))?;
                "recorded"
            }
        };
        self.count += 1;
        if self.count <= NAMED_FAILURES {
            messages::note(format_args!(
                "record {} {what}: {error:#}",
                id_text(&doc.id)
            ));
        } else if self.count == NAMED_FAILURES + 1 {
            messages::note("more records failed; they are counted at the end");
        }
        Ok(())
    }

    /// An error saying how many records failed, if any did.
    fn result(self) -> Result<()> {
        if self.count == 0 {
            return Ok(());
        }
        let what = match self.on_error {
            OnError::Record => "each written in its place with its error",
            _ => "skipped",
        };
        Err(RecordsFailed {
            count: self.count,
            what,
        }
        .into())
    }
}

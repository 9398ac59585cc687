//! The loop every text subcommand runs: the documents of each input, in batches as they
//! are read, through the subcommand's model, each result written to the sink as soon as its
//! batch is done. A bad record stops the run after the results of the records before it.

use std::path::Path;

use anyhow::Result;

use crate::batches::Batches;
use crate::docs::{Doc, DocReader};
use crate::flags::{DocArgs, IoArgs};
use crate::io::Output;
use crate::progress::Progress;
use crate::sink::Sink;

/// What a subcommand makes of one batch: the results of its first documents (all of them,
/// or those before a bad one) and the error that stopped it there, if any.
pub type BatchResults<R> = (Vec<R>, Option<anyhow::Error>);

/// Runs `score` over every batch of up to `chunk` documents of `io.inputs`, read as `docs`
/// says, and writes each result to `sink`. `score` gets the input's path, the number of its
/// documents before the batch, and the batch.
pub fn run_documents<R>(
    io: &IoArgs,
    docs: &DocArgs,
    chunk: usize,
    sink: &mut dyn Sink<R>,
    output: &mut Output,
    mut score: impl FnMut(&Path, usize, &[Doc]) -> Result<BatchResults<R>>,
) -> Result<()> {
    let mut progress = Progress::new("texts", None);
    for path in &io.inputs {
        let mut reader = DocReader::open(path, docs, io.several())?;
        sink.begin(output.writer(), reader.header().as_ref())?;
        let mut before = 0;
        for batch in Batches::new(reader, chunk) {
            let batch = batch?;
            let (results, stop) = score(path, before, &batch)?;
            for (doc, result) in batch.iter().zip(&results) {
                sink.write(output.writer(), doc, result)?;
            }
            output.writer().flush()?;
            progress.add(results.len());
            if let Some(e) = stop {
                return Err(e);
            }
            before += batch.len();
        }
    }
    progress.finish();
    sink.finish(output.writer())
}

//! Documents handed to a model in batches, read on a thread of their own.
//!
//! From a regular file every batch is full (but the last), so that a run gives the same
//! numbers every time: a text's scores depend, in their last digits, on what it is padded
//! with. From a pipe, a batch is closed once `WAIT` has passed since its first document
//! arrived: `tail -f log | mlkit ner -` tags each line within a moment, and a fast producer
//! (`zcat x.gz |`) still fills whole batches.

use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::docs::{BadRecord, Doc, DocReader};

/// How long a batch from a pipe waits for more documents after its first.
const WAIT: Duration = Duration::from_millis(100);

/// How many documents the reader may read ahead of the batch being filled.
const AHEAD: usize = 256;

/// The batches of one input, in input order, each of at most `max` documents. A reading
/// error comes after the batch of the documents before it, so none of them is lost; after a
/// bad record (`BadRecord`) the batches go on with the records after it.
pub struct Batches {
    /// Documents, then `None` at the end of the input (or an error instead).
    docs: Receiver<Result<Option<Doc>>>,
    max: usize,
    wait: Option<Duration>,
    error: Option<anyhow::Error>,
    ended: bool,
}

impl Batches {
    pub fn new(reader: DocReader, max: usize) -> Batches {
        let wait = (!reader.is_regular_file()).then_some(WAIT);
        // Reading runs a little ahead of the model, overlapping its work; not a batch
        // ahead, which would double the memory that records take.
        let (send, docs) = sync_channel(AHEAD.min(max));
        std::thread::spawn(move || {
            for doc in reader {
                let failed = doc.as_ref().is_err_and(|e| !e.is::<BadRecord>());
                // A closed channel: the command stopped early (an error, or `| head`).
                if send.send(doc.map(Some)).is_err() || failed {
                    return;
                }
            }
            let _ = send.send(Ok(None));
        });
        Batches {
            docs,
            max,
            wait,
            error: None,
            ended: false,
        }
    }
}

impl Iterator for Batches {
    type Item = Result<Vec<Doc>>;

    fn next(&mut self) -> Option<Result<Vec<Doc>>> {
        // A bad record that closed the last batch.
        if let Some(e) = self.error.take() {
            return Some(Err(e));
        }
        let mut batch = Vec::new();
        let mut deadline: Option<Instant> = None;
        while !self.ended && batch.len() < self.max {
            // The first document is waited for; then, from a pipe, only until the deadline.
            let next = match deadline {
                None => self.docs.recv().map_err(|_| RecvTimeoutError::Disconnected),
                Some(d) => self
                    .docs
                    .recv_timeout(d.saturating_duration_since(Instant::now())),
            };
            match next {
                Ok(Ok(Some(doc))) => {
                    if batch.is_empty() {
                        deadline = self.wait.map(|w| Instant::now() + w);
                    }
                    batch.push(doc);
                }
                Ok(Ok(None)) => self.ended = true,
                Ok(Err(e)) => {
                    self.ended = !e.is::<BadRecord>();
                    self.error = Some(e);
                    break;
                }
                Err(RecvTimeoutError::Timeout) => break,
                // Without the end-of-input mark: the reading thread died. Say so rather
                // than take the input as ended there.
                Err(RecvTimeoutError::Disconnected) => {
                    self.error = Some(anyhow::anyhow!(
                        "reading the input stopped unexpectedly; this is a bug in mlkit"
                    ));
                    self.ended = true;
                }
            }
        }
        if batch.is_empty() {
            return self.error.take().map(Err);
        }
        Some(Ok(batch))
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Write};
    use std::path::Path;

    use super::*;
    use crate::flags::{DocArgs, RecordArgs};

    fn lines() -> DocArgs {
        DocArgs::lines(RecordArgs::default())
    }

    fn batches(input: impl BufRead + Send + 'static, regular_file: bool, max: usize) -> Batches {
        let reader = DocReader::new(
            Path::new("in"),
            Box::new(input),
            regular_file,
            &lines(),
            false,
        )
        .unwrap();
        Batches::new(reader, max)
    }

    fn texts(batch: Result<Vec<Doc>>) -> Vec<String> {
        batch.unwrap().into_iter().map(|d| d.text).collect()
    }

    #[test]
    fn a_file_fills_every_batch_but_the_last() {
        let input: String = (1..=10).map(|i| format!("t{i}\n")).collect();
        let sizes: Vec<usize> = batches(std::io::Cursor::new(input), true, 4)
            .map(|b| b.unwrap().len())
            .collect();
        assert_eq!(sizes, [4, 4, 2]);
    }

    #[test]
    fn a_slow_pipe_gets_each_line_handled_as_it_arrives() {
        let (read, mut write) = std::io::pipe().unwrap();
        let mut batches = batches(BufReader::new(read), false, 4096);
        let writer = std::thread::spawn(move || {
            write.write_all(b"first\n").unwrap();
            std::thread::sleep(WAIT * 20);
            write.write_all(b"second\nthird\n").unwrap();
        });
        // The batch closes WAIT after its first line, long before the next ones come.
        assert_eq!(texts(batches.next().unwrap()), ["first"]);
        let rest: Vec<String> = batches.flat_map(texts).collect();
        assert_eq!(rest, ["second", "third"]);
        writer.join().unwrap();
    }

    #[test]
    fn a_bad_line_comes_after_the_lines_before_it_and_the_lines_after_follow() {
        let input: &'static [u8] = b"one\ntwo\n\xff three\nfour\n";
        for regular_file in [true, false] {
            let mut batches = batches(input, regular_file, 10);
            assert_eq!(texts(batches.next().unwrap()), ["one", "two"]);
            let error = batches.next().unwrap().err().unwrap().to_string();
            assert_eq!(
                error,
                "in: line 3, byte offset 8: not valid UTF-8; convert it (iconv -f LATIN1 -t \
                 UTF-8) or pass --lossy"
            );
            // A bad record: the batches read on after it.
            assert_eq!(texts(batches.next().unwrap()), ["four"]);
            assert!(batches.next().is_none());
        }
    }

    #[test]
    fn a_reader_that_dies_is_an_error_not_the_end_of_the_input() {
        struct Dies;
        impl std::io::Read for Dies {
            fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
                panic!("the reader died (as this test wants)")
            }
        }
        let mut batches = batches(BufReader::new(Dies), true, 10);
        let error = batches.next().unwrap().err().unwrap().to_string();
        assert!(error.contains("stopped unexpectedly"), "{error}");
        assert!(batches.next().is_none());
    }
}

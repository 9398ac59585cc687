//! Inputs checked to be UTF-8 line by line, so that an error names the line and byte offset
//! where the bad bytes are without reading the whole input first.

use std::io::{BufRead, Read};
use std::path::Path;

use anyhow::Result;

use super::open_input;

/// The text of an input file, or of stdin for `-`, for a command without `--lossy` (forest,
/// ner eval): invalid UTF-8 is an error naming the file, line and byte offset.
pub fn read_text(path: &Path) -> Result<String> {
    let (input, _) = open_input(path)?;
    read_all(path, input, Lossy::Unavailable)
}

/// What a command does with invalid UTF-8.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Lossy {
    /// Replace it with U+FFFD (`--lossy`).
    Replace,
    /// Fail, and say that `--lossy` would replace it.
    Refuse,
    /// Fail: the command has no `--lossy`.
    Unavailable,
}

impl Lossy {
    pub(super) fn new(lossy: bool) -> Lossy {
        if lossy {
            Lossy::Replace
        } else {
            Lossy::Refuse
        }
    }
}

/// The error for invalid UTF-8 at `offset` bytes into `path`, on `line` (from 1).
pub(super) fn not_utf8(path: &Path, line: usize, offset: u64, lossy: Lossy) -> anyhow::Error {
    let or_lossy = if lossy == Lossy::Unavailable {
        ""
    } else {
        " or pass --lossy"
    };
    anyhow::anyhow!(
        "{}: line {line}, byte offset {offset}: not valid UTF-8; convert it (iconv -f LATIN1 \
         -t UTF-8){or_lossy}",
        path.display()
    )
}

/// The whole of an input as text (for `--unit doc`).
pub(super) fn read_all(
    path: &Path,
    input: Box<dyn BufRead + Send>,
    lossy: Lossy,
) -> Result<String> {
    let mut lines = Utf8Lines::new(input, lossy == Lossy::Replace);
    let mut text = String::new();
    // Lines are checked as they are read; `read_to_string` would check them all again.
    while let Some(line) = lines.next_raw().map_err(|e| read_error(path, &e, lossy))? {
        text.push_str(&line);
    }
    Ok(text)
}

/// A reading error, naming the file (and for invalid UTF-8 the line and byte offset).
pub(super) fn read_error(path: &Path, e: &std::io::Error, lossy: Lossy) -> anyhow::Error {
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<NotUtf8>())
    {
        Some(bad) => not_utf8(path, bad.line, bad.offset, lossy),
        None => anyhow::anyhow!("cannot read {}: {e}", path.display()),
    }
}

/// Whether a reading error is invalid UTF-8 on a line (which `Utf8Lines` has read past).
pub(super) fn is_not_utf8(e: &std::io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<NotUtf8>())
}

/// Invalid UTF-8 met by `Utf8Lines`: where it starts.
#[derive(Debug, thiserror::Error)]
#[error("line {line}, byte offset {offset}: not valid UTF-8")]
struct NotUtf8 {
    line: usize,
    offset: u64,
}

/// The lines of an input, checked to be UTF-8 (or with `lossy`, mended with U+FFFD) one at a
/// time, so that an error can say where the bad bytes are without reading the whole input
/// first. Also a `Read` of the checked text, for the CSV reader.
pub struct Utf8Lines<R> {
    reader: R,
    lossy: bool,
    /// Lines read so far.
    pub(super) line: usize,
    /// Bytes read so far.
    offset: u64,
    /// What `Read` has yet to hand out of the last line.
    pending: Vec<u8>,
    at: usize,
    /// With `mark_invalid`: the lines met that were not UTF-8 (line, byte offset), mended.
    invalid: Option<std::collections::VecDeque<(usize, u64)>>,
}

impl<R: BufRead> Utf8Lines<R> {
    pub fn new(reader: R, lossy: bool) -> Utf8Lines<R> {
        Utf8Lines {
            reader,
            lossy,
            line: 0,
            offset: 0,
            pending: Vec::new(),
            at: 0,
            invalid: None,
        }
    }

    /// Mends invalid lines (as `lossy` does) but notes where each was, so that a reader
    /// that reads ahead (the CSV reader) can name the record that held one
    /// (`take_invalid_through`).
    pub fn mark_invalid(&mut self) {
        if !self.lossy {
            self.invalid = Some(std::collections::VecDeque::new());
        }
    }

    /// The first invalid line (line, byte offset) at or before `line`, if any; every such
    /// line is forgotten.
    pub fn take_invalid_through(&mut self, line: usize) -> Option<(usize, u64)> {
        let marks = self.invalid.as_mut()?;
        let first = marks.front().copied().filter(|(l, _)| *l <= line)?;
        while marks.front().is_some_and(|(l, _)| *l <= line) {
            marks.pop_front();
        }
        Some(first)
    }

    /// The next line with its line end, or `None` at the end of the input.
    fn next_raw(&mut self) -> std::io::Result<Option<String>> {
        let mut bytes = Vec::new();
        let n = self.reader.read_until(b'\n', &mut bytes)?;
        if n == 0 {
            return Ok(None);
        }
        let mut start = self.offset;
        self.offset += n as u64;
        self.line += 1;
        // A UTF-8 byte-order mark is not text: dropped, as Python's utf-8-sig does, so
        // offsets count from the text after it (byte offsets in errors stay the file's).
        if self.line == 1 && bytes.starts_with(b"\xef\xbb\xbf") {
            bytes.drain(..3);
            start += 3;
        }
        match String::from_utf8(bytes) {
            Ok(text) => Ok(Some(text)),
            Err(e) if self.lossy => Ok(Some(String::from_utf8_lossy(e.as_bytes()).into_owned())),
            Err(e) => {
                let offset = start + e.utf8_error().valid_up_to() as u64;
                match self.invalid.as_mut() {
                    Some(marks) => {
                        marks.push_back((self.line, offset));
                        Ok(Some(String::from_utf8_lossy(e.as_bytes()).into_owned()))
                    }
                    None => Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        NotUtf8 {
                            line: self.line,
                            offset,
                        },
                    )),
                }
            }
        }
    }

    /// The next line without its line end (`\n` or `\r\n`), as `BufRead::lines` gives it.
    pub fn next_line(&mut self) -> std::io::Result<Option<String>> {
        let Some(mut text) = self.next_raw()? else {
            return Ok(None);
        };
        if text.ends_with('\n') {
            text.pop();
            if text.ends_with('\r') {
                text.pop();
            }
        }
        Ok(Some(text))
    }
}

impl<R: BufRead> Read for Utf8Lines<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.at == self.pending.len() {
            match self.next_raw()? {
                Some(text) => {
                    self.pending = text.into_bytes();
                    self.at = 0;
                }
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.pending.len() - self.at);
        buf[..n].copy_from_slice(&self.pending[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

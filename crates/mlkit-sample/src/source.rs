//! What the sampler needs from a file format: a way to walk the data rows, from any record
//! boundary, as often as it likes.

use crate::SampleError;

/// One data row as the sampler sees it.
pub(crate) struct Row<'a> {
    /// Where the row is, for error messages ("line 12", "row 3").
    pub location: &'a dyn Fn() -> String,
    /// The row's group key in `encoding` form (empty without `--by`).
    pub key: &'a [u8],
    /// The weight cell read as a float (NaN when missing), when weights are used.
    pub weight: Option<f64>,
    /// Where to find the row again: a byte range for text formats, an index otherwise.
    pub span: Span,
}

/// A row's place in its file: `[start, end)` bytes, or `start` = row index.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Span {
    pub start: u64,
    pub end: u64,
}

/// The drawn rows' places, in output order, as two columns: a sample can hold millions.
#[derive(Debug)]
pub(crate) struct Spans {
    pub starts: Vec<u64>,
    pub ends: Vec<u64>,
}

impl Spans {
    pub fn iter(&self) -> impl Iterator<Item = Span> + '_ {
        self.starts
            .iter()
            .zip(&self.ends)
            .map(|(&start, &end)| Span { start, end })
    }
}

/// A record boundary: a byte offset (or row index) and the line number there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Position {
    pub offset: u64,
    pub line: u64,
}

pub(crate) type Visit<'v> = dyn FnMut(Row<'_>) -> Result<(), SampleError> + 'v;

pub(crate) trait Rows: Sync {
    /// Where the first data row starts, and the end of the data.
    fn data_range(&self) -> (Position, u64);

    /// A place near `offset` that is probably a record boundary (just after a newline), for
    /// splitting a scan over two threads. The scan of the first half confirms it; a guess
    /// inside a quoted field is detected and the split abandoned.
    fn split_candidate(&self, offset: u64) -> Option<u64>;

    /// Calls `visit` on every row from `from` (a record boundary) until the first row that
    /// starts at or after `until`, and returns that row's position (or the end's).
    fn scan(
        &self,
        from: Position,
        until: u64,
        visit: &mut Visit<'_>,
    ) -> Result<Position, SampleError>;

    /// Checks, after a first scan, that the key and weight columns exist (formats without a
    /// header only know their columns once read).
    fn check_columns(&self) -> Result<(), SampleError> {
        Ok(())
    }
}

/// The offset just after the first newline at or after `offset` in `path`: a likely record
/// boundary for `Rows::split_candidate` in line-based formats.
pub(crate) fn after_next_newline(path: &std::path::Path, offset: u64) -> Option<u64> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(path).ok()?;
    file.seek(SeekFrom::Start(offset)).ok()?;
    let mut buf = vec![0u8; 1 << 16];
    let n = file.read(&mut buf).ok()?;
    memchr::memchr(b'\n', &buf[..n]).map(|i| offset + i as u64 + 1)
}

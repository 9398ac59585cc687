//! What the sampler needs from a file format: a way to walk the data rows twice.

use crate::SampleError;

/// One data row as the sampler sees it.
pub(crate) struct Row<'a> {
    /// Where the row is, for error messages ("line 12", "row 3").
    pub location: &'a dyn Fn() -> String,
    /// The row's group key in `keys::encode_cell` form (empty without `--by`).
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

pub(crate) trait Rows {
    /// Calls `visit` on every data row in file order; the same rows every time.
    fn scan(
        &mut self,
        visit: &mut dyn FnMut(Row<'_>) -> Result<(), SampleError>,
    ) -> Result<(), SampleError>;

    /// Checks, after a first scan, that the key and weight columns exist (formats without a
    /// header only know their columns once read).
    fn check_columns(&self) -> Result<(), SampleError> {
        Ok(())
    }
}

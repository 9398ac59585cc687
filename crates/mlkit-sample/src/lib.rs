//! Row sampling, plain and stratified, that returns exactly the rows pandas returns.
//!
//! `sample_file` reproduces `df.sample(...)`, `df.groupby(by).sample(...)` and the notes'
//! `df.groupby(by, group_keys=False).apply(lambda x: x.sample(...))` for the same seed, by
//! reproducing numpy's legacy `RandomState` streams (see `numpy_random`).
//!
//! Text formats are read twice and never held in memory: the first pass counts the rows of
//! each group, the draws then pick row numbers, and the second pass notes where the chosen
//! rows are so they can be copied out byte for byte. Memory grows with the number of groups
//! and the sample, plus 12 bytes a row (key id and weight) when sampling by weight.

mod csv_scan;
mod delimited;
mod encoding;
mod error;
mod keys;
mod ndjson;
pub mod numpy_random;
mod parquet;
mod plan;
mod source;
mod two_pass;

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::Path;

pub use error::SampleError;
use source::{Span, Spans};
use two_pass::choose_rows;

/// How many rows to take: pandas' `n=` or `frac=`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SampleSize {
    Count(usize),
    Frac(f64),
}

/// Which pandas recipe to reproduce when sampling by group.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Compat {
    /// `df.groupby(by).sample(...)`: one generator walks the groups in key order.
    #[default]
    #[cfg_attr(feature = "clap", value(name = "groupby"))]
    GroupBy,
    /// `df.groupby(by, group_keys=False).apply(lambda x: x.sample(..., random_state=S))`:
    /// every group starts a fresh generator from the same seed.
    Apply,
}

/// The file formats `sample` reads and writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Format {
    Csv,
    Tsv,
    Parquet,
    #[cfg_attr(feature = "clap", value(alias = "jsonl"))]
    Ndjson,
}

impl Format {
    /// The format a file name implies, from its extension.
    pub fn from_path(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        Format::from_name(&ext)
    }

    /// A format by name, as `--format` takes it.
    pub fn from_name(name: &str) -> Option<Format> {
        match name {
            "csv" => Some(Format::Csv),
            "tsv" | "tab" => Some(Format::Tsv),
            "parquet" | "pq" => Some(Format::Parquet),
            "ndjson" | "jsonl" => Some(Format::Ndjson),
            _ => None,
        }
    }
}

/// What to sample. `Default` is pandas' default: one row, seed 0.
#[derive(Clone, Debug, PartialEq)]
pub struct SampleOptions {
    /// Columns to group by; empty samples the whole table.
    pub by: Vec<String>,
    pub size: SampleSize,
    /// numpy `RandomState` seed: 0 to 2^32 - 1.
    pub seed: u32,
    pub replace: bool,
    /// A column of non-negative weights; missing weights count as 0.
    pub weights: Option<String>,
    pub compat: Compat,
    /// Write sampled rows in input order instead of pandas' order.
    pub keep_order: bool,
    /// Keep rows whose key is missing as a group of their own (pandas `dropna=False`).
    pub keep_missing: bool,
    /// At least this many rows from every group (all of a smaller group).
    pub min_per_group: Option<usize>,
    /// Take the whole group when it has fewer rows than asked for.
    pub cap: bool,
}

impl Default for SampleOptions {
    fn default() -> Self {
        SampleOptions {
            by: Vec::new(),
            size: SampleSize::Count(1),
            seed: 0,
            replace: false,
            weights: None,
            compat: Compat::GroupBy,
            keep_order: false,
            keep_missing: false,
            min_per_group: None,
            cap: false,
        }
    }
}

impl SampleOptions {
    /// pandas' checks on `frac`, done before any file is read.
    pub fn validate(&self) -> Result<(), SampleError> {
        if let SampleSize::Frac(f) = self.size {
            if !f.is_finite() || f < 0.0 {
                return Err(SampleError::BadFrac(f));
            }
            if f > 1.0 && !self.replace {
                return Err(SampleError::FracAboveOne(f));
            }
        }
        Ok(())
    }
}

/// One group in the report `--stats` prints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupStats {
    /// The key's values joined by ","; empty without `--by`.
    pub key: String,
    pub rows: usize,
    pub sampled: usize,
}

/// What a run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SampleReport {
    /// Data rows read.
    pub rows: u64,
    /// Rows left out because a key was missing (pandas' `dropna=True`).
    pub missing_key_rows: u64,
    /// Groups in the order their rows are written.
    pub groups: Vec<GroupStats>,
    pub sampled: u64,
}

/// Samples `path` (in `format`) and writes the sample to `out` in the same format. Nothing
/// is written unless the whole input was read and every group could be sampled.
pub fn sample_file(
    path: &Path,
    format: Format,
    opts: &SampleOptions,
    out: &mut dyn Write,
) -> Result<SampleReport, SampleError> {
    sample_file_tuned(path, format, opts, out, two_pass::PARALLEL_MIN)
}

/// `sample_file`, scanning on two threads from `parallel_min` bytes (rows for Parquet) on.
/// For tests that must exercise the two-thread path on small files.
#[doc(hidden)]
pub fn sample_file_tuned(
    path: &Path,
    format: Format,
    opts: &SampleOptions,
    out: &mut dyn Write,
    parallel_min: u64,
) -> Result<SampleReport, SampleError> {
    opts.validate()?;
    let weights = opts.weights.as_deref();
    match format {
        Format::Csv | Format::Tsv => {
            let delimiter = if format == Format::Csv { b',' } else { b'\t' };
            let src = delimited::Delimited::open(path, delimiter, &opts.by, weights)?;
            let (spans, report) = choose_rows(&src, path, opts, parallel_min)?;
            src.write(&spans, out)?;
            Ok(report)
        }
        Format::Ndjson => {
            let src = ndjson::Ndjson::open(path, &opts.by, weights)?;
            let (spans, report) = choose_rows(&src, path, opts, parallel_min)?;
            src.write(&spans, out)?;
            Ok(report)
        }
        Format::Parquet => {
            let src = parquet::Parquet::open(path, &opts.by, weights)?;
            let (spans, report) = choose_rows(&src, path, opts, parallel_min)?;
            src.write(&spans, out)?;
            Ok(report)
        }
    }
}

/// Copies `header` and then each span of `path` to `out`, ending every row with a line end.
fn copy_spans(
    path: &Path,
    header: Option<Span>,
    spans: &Spans,
    line_end: &[u8],
    out: &mut dyn Write,
) -> Result<(), SampleError> {
    let read_err = |source| SampleError::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(read_err)?;
    let mut buf = Vec::new();
    let mut copy = |span: Span, out: &mut dyn Write| -> Result<(), SampleError> {
        // Spans come from scanning the file; one that runs backwards means it changed since.
        let len = span
            .end
            .checked_sub(span.start)
            .ok_or_else(|| SampleError::Malformed {
                path: path.to_path_buf(),
                message: "the file changed while it was being read".to_string(),
            })?;
        buf.resize(len as usize, 0);
        file.read_exact_at(&mut buf, span.start).map_err(read_err)?;
        out.write_all(&buf).map_err(SampleError::Write)?;
        if !buf.ends_with(b"\n") && !buf.is_empty() {
            out.write_all(line_end).map_err(SampleError::Write)?;
        }
        Ok(())
    };
    if let Some(h) = header {
        copy(h, out)?;
    }
    for s in spans.iter() {
        copy(s, out)?;
    }
    Ok(())
}

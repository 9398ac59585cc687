//! Row sampling, plain and stratified, that returns exactly the rows pandas returns.
//!
//! `sample_file` reproduces `df.sample(...)`, `df.groupby(by).sample(...)` and the notes'
//! `df.groupby(by, group_keys=False).apply(lambda x: x.sample(...))` for the same seed, by
//! reproducing numpy's legacy `RandomState` streams (see `numpy_random`).
//!
//! Text formats are read twice and never held in memory: the first pass counts the rows of
//! each group, the draws then pick row numbers, and the second pass notes where the chosen
//! rows are so they can be copied out byte for byte. Memory grows with the number of groups
//! and the sample, plus one weight per row when sampling by weight.

mod delimited;
mod encoding;
mod error;
mod keys;
mod ndjson;
pub mod numpy_random;
mod parquet;
mod plan;
mod source;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::Path;

use rustc_hash::FxHashMap;

use encoding::decode_key;
pub use error::SampleError;
use keys::{ColumnType, Key, RawCell};
use source::{Rows, Span};

/// How many rows to take: pandas' `n=` or `frac=`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SampleSize {
    Count(usize),
    Frac(f64),
}

/// Which pandas recipe to reproduce when sampling by group.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Compat {
    /// `df.groupby(by).sample(...)`: one generator walks the groups in key order.
    #[default]
    GroupBy,
    /// `df.groupby(by, group_keys=False).apply(lambda x: x.sample(..., random_state=S))`:
    /// every group starts a fresh generator from the same seed.
    Apply,
}

/// The file formats `sample` reads and writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Csv,
    Tsv,
    Parquet,
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
                return Err(SampleError::Size(format!(
                    "--frac must be a number of at least 0, not {f}"
                )));
            }
            if f > 1.0 && !self.replace {
                return Err(SampleError::Size(format!(
                    "--frac {f} is above 1, which needs --replace (sampling with replacement)"
                )));
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
    opts.validate()?;
    let weights = opts.weights.as_deref();
    match format {
        Format::Csv | Format::Tsv => {
            let delimiter = if format == Format::Csv { b',' } else { b'\t' };
            let mut src = delimited::Delimited::open(path, delimiter, &opts.by, weights)?;
            let (spans, report) = choose_rows(&mut src, path, opts)?;
            src.write(&spans, out)?;
            Ok(report)
        }
        Format::Ndjson => {
            let mut src = ndjson::Ndjson::open(path, &opts.by, weights);
            let (spans, report) = choose_rows(&mut src, path, opts)?;
            src.write(&spans, out)?;
            Ok(report)
        }
        Format::Parquet => {
            let mut src = parquet::Parquet::open(path, &opts.by, weights)?;
            let (spans, report) = choose_rows(&mut src, path, opts)?;
            src.write(&spans, out)?;
            Ok(report)
        }
    }
}

/// The rows pandas would return, in its order (or input order with `keep_order`).
fn choose_rows(
    src: &mut dyn Rows,
    path: &Path,
    opts: &SampleOptions,
) -> Result<(Vec<Span>, SampleReport), SampleError> {
    // Pass 1: count rows per distinct raw key; keep weights when sampling by weight.
    let mut ids: FxHashMap<Vec<u8>, u32> = FxHashMap::default();
    let mut raw_keys: Vec<Vec<u8>> = Vec::new();
    let mut counts: Vec<usize> = Vec::new();
    let mut row_weights: Vec<(u32, f64)> = Vec::new();
    let mut rows = 0u64;
    src.scan(&mut |row| {
        let id = match ids.get(row.key) {
            Some(&id) => id,
            None => {
                let id = raw_keys.len() as u32;
                ids.insert(row.key.to_vec(), id);
                raw_keys.push(row.key.to_vec());
                counts.push(0);
                id
            }
        };
        counts[id as usize] += 1;
        rows += 1;
        if let Some(w) = row.weight {
            // pandas' preprocess_weights checks every row, grouped or not.
            let bad = |reason| SampleError::BadWeight {
                path: path.to_path_buf(),
                location: (row.location)(),
                value: w.to_string(),
                reason,
            };
            if w.is_infinite() {
                return Err(bad("weights may not be infinite"));
            }
            if w < 0.0 {
                return Err(bad("weights may not be negative"));
            }
            row_weights.push((id, if w.is_nan() { 0.0 } else { w }));
        }
        Ok(())
    })?;
    src.check_columns()?;

    // Type the keys as pandas would, merge spellings of one value, and order the groups.
    let cells: Vec<Vec<RawCell>> = raw_keys
        .iter()
        .map(|k| decode_key(k).unwrap_or_default())
        .collect();
    let types: Vec<ColumnType> = (0..opts.by.len())
        .map(|c| ColumnType::infer(cells.iter().filter_map(|k| k.get(c))))
        .collect();
    let mut ordered: BTreeMap<Vec<Key>, Vec<u32>> = BTreeMap::new();
    for (id, k) in cells.iter().enumerate() {
        let typed = types.iter().zip(k).map(|(t, c)| t.key(c)).collect();
        ordered.entry(typed).or_default().push(id as u32);
    }
    let mut group_of_raw: Vec<Option<u32>> = vec![None; raw_keys.len()];
    let mut names = Vec::new();
    let mut sizes = Vec::new();
    let mut missing_key_rows = 0u64;
    for (key, raw_ids) in &ordered {
        let group_rows: usize = raw_ids.iter().map(|&r| counts[r as usize]).sum();
        if !opts.keep_missing && key.iter().any(Key::is_missing) {
            missing_key_rows += group_rows as u64;
            continue;
        }
        for &r in raw_ids {
            group_of_raw[r as usize] = Some(names.len() as u32);
        }
        names.push(
            cells[raw_ids[0] as usize]
                .iter()
                .map(RawCell::display)
                .collect::<Vec<_>>()
                .join(","),
        );
        sizes.push(group_rows);
    }
    let mut group_weights: Vec<Vec<f64>> = vec![Vec::new(); sizes.len()];
    for (raw, w) in row_weights {
        if let Some(g) = group_of_raw[raw as usize] {
            group_weights[g as usize].push(w);
        }
    }
    let inputs: Vec<plan::GroupInput<'_>> = (0..sizes.len())
        .map(|g| plan::GroupInput {
            name: &names[g],
            rows: sizes[g],
            weights: opts.weights.as_ref().map(|_| group_weights[g].as_slice()),
        })
        .collect();
    let draws = plan::draw(&inputs, opts)?;
    drop(group_weights);

    // Output slot of every drawn row, sorted by the row's place in its group so the second
    // pass can match rows with one cursor per group.
    let mut wanted: Vec<Vec<(usize, usize)>> = Vec::with_capacity(draws.len());
    let mut slot = 0usize;
    for d in &draws {
        let mut w: Vec<(usize, usize)> = d
            .iter()
            .map(|&local| {
                slot += 1;
                (local, slot - 1)
            })
            .collect();
        w.sort_unstable();
        wanted.push(w);
    }
    let report = SampleReport {
        rows,
        missing_key_rows,
        groups: names
            .into_iter()
            .zip(&sizes)
            .zip(&draws)
            .map(|((key, &rows), d)| GroupStats {
                key,
                rows,
                sampled: d.len(),
            })
            .collect(),
        sampled: slot as u64,
    };
    drop(draws);

    // Pass 2: find the drawn rows.
    let mut spans = vec![Span::default(); slot];
    let mut seen = vec![0usize; sizes.len()];
    let mut cursor = vec![0usize; sizes.len()];
    src.scan(&mut |row| {
        let raw = ids.get(row.key).copied();
        let Some(g) = raw.and_then(|r| group_of_raw[r as usize]) else {
            return Ok(());
        };
        let g = g as usize;
        let local = seen[g];
        seen[g] += 1;
        let w = &wanted[g];
        while cursor[g] < w.len() && w[cursor[g]].0 == local {
            spans[w[cursor[g]].1] = row.span;
            cursor[g] += 1;
        }
        Ok(())
    })?;
    if seen != sizes {
        return Err(SampleError::Malformed {
            path: path.to_path_buf(),
            message: "the file changed while it was being read".to_string(),
        });
    }
    if opts.keep_order {
        spans.sort_unstable();
    }
    Ok((spans, report))
}

/// Copies `header` and then each span of `path` to `out`, ending every row with a line end.
fn copy_spans(
    path: &Path,
    header: Option<Span>,
    spans: &[Span],
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
        buf.resize((span.end - span.start) as usize, 0);
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
    for &s in spans {
        copy(s, out)?;
    }
    Ok(())
}

//! Everything that can go wrong while sampling, each saying where and how to fix it.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum SampleError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write the sample: {0}")]
    Write(#[source] std::io::Error),
    #[error("{path}: {message}")]
    Malformed { path: PathBuf, message: String },
    #[error("{path}: the input is empty (no header line); a sample needs at least a header")]
    Empty { path: PathBuf },
    #[error("{path}: no column named {column:?}; the columns are: {}", available.join(", "))]
    MissingColumn {
        path: PathBuf,
        column: String,
        available: Vec<String>,
    },
    #[error("{path}: {location}: weight {value:?} is not allowed: {reason}")]
    BadWeight {
        path: PathBuf,
        location: String,
        value: String,
        reason: &'static str,
    },
    #[error("invalid sample size: {0}")]
    Size(String),
    #[error("invalid sample size: frac must be a number of at least 0, not {0}")]
    BadFrac(f64),
    #[error("invalid sample size: frac {0} is above 1, which needs sampling with replacement")]
    FracAboveOne(f64),
    #[error("the seed {0} is out of range: pandas (numpy RandomState) takes 0 to 4294967295")]
    Seed(u64),
    #[error("group {group}: cannot take {requested} rows from {rows} without replacement")]
    TooFewRows {
        group: String,
        rows: usize,
        requested: usize,
    },
    #[error(
        "group {group}: only {nonzero} rows have a weight above zero but {requested} were \
         requested without replacement"
    )]
    TooFewWeighted {
        group: String,
        nonzero: usize,
        requested: usize,
    },
    #[error("group {group}: all weights are zero (or missing), so no row can be drawn")]
    ZeroWeights { group: String },
    #[error("{path}: cannot read parquet: {message}")]
    Parquet { path: PathBuf, message: String },
}

impl SampleError {
    /// Whether the error is in how mlkit was asked (a wrong size, seed or column name: exit
    /// code 2), not in running it.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            SampleError::MissingColumn { .. }
                | SampleError::Size(_)
                | SampleError::BadFrac(_)
                | SampleError::FracAboveOne(_)
                | SampleError::Seed(_)
        )
    }
}

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
    #[error(
        "{}: cannot take {requested} rows from {rows} without replacement",
        in_group(group)
    )]
    TooFewRows {
        group: String,
        rows: usize,
        requested: usize,
    },
    #[error(
        "{}: only {nonzero} rows have a weight above zero but {requested} were requested \
         without replacement",
        in_group(group)
    )]
    TooFewWeighted {
        group: String,
        nonzero: usize,
        requested: usize,
    },
    #[error(
        "{}: all weights are zero (or missing), so no row can be drawn",
        in_group(group)
    )]
    ZeroWeights { group: String },
    #[error(
        "{}: the weights add up to more than the largest number (about 1.8e308); divide them \
         all by one large number first",
        in_group(group)
    )]
    WeightsOverflow { group: String },
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

/// Where a sampling error is: the group, or the whole input when there are no groups (pandas
/// drops rows whose group key is missing, so no group is named "").
fn in_group(group: &str) -> String {
    if group.is_empty() {
        "the input".to_string()
    } else {
        format!("group {group}")
    }
}

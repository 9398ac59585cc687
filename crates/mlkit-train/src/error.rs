//! Errors of training: each names the file and record, and says how to fix it.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Core(#[from] mlkit_core::CoreError),
    #[error(transparent)]
    Ner(#[from] mlkit_ner::NerError),
    #[error("{path}:{line}: {message}")]
    Data {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Usage(String),
}

impl From<candle_core::Error> for TrainError {
    fn from(e: candle_core::Error) -> Self {
        TrainError::Core(e.into())
    }
}

impl TrainError {
    /// Whether the error is in how mlkit was asked (exit code 2), not in running it.
    pub fn is_usage(&self) -> bool {
        match self {
            TrainError::Usage(_) => true,
            TrainError::Core(e) => e.is_usage(),
            TrainError::Ner(e) => e.is_usage(),
            _ => false,
        }
    }
}

pub type Result<T> = std::result::Result<T, TrainError>;

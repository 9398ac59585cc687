//! Errors of NER: each names the file, line or document, and says how to fix it.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum NerError {
    #[error(transparent)]
    Core(#[from] mlkit_core::CoreError),
    #[error("model {origin}: {message}")]
    BadModel { origin: String, message: String },
    #[error("{path}:{line}: {message}")]
    Gold {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{0}")]
    Usage(String),
}

impl From<candle_core::Error> for NerError {
    fn from(e: candle_core::Error) -> Self {
        NerError::Core(e.into())
    }
}

impl NerError {
    /// Whether the error is in how mlkit was asked (exit code 2), not in running it.
    pub fn is_usage(&self) -> bool {
        match self {
            NerError::Usage(_) => true,
            NerError::Core(e) => e.is_usage(),
            _ => false,
        }
    }
}

pub type Result<T> = std::result::Result<T, NerError>;

//! Errors of the inference core: each names the file or input and says how to fix it.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error("model {spec:?} not found: {hint}")]
    NotFound { spec: String, hint: String },
    #[error("{path}: {message}")]
    BadFile { path: PathBuf, message: String },
    #[error("{path}: unsupported model_type {model_type:?}; mlkit runs: {supported}")]
    Unsupported {
        path: PathBuf,
        model_type: String,
        supported: &'static str,
    },
    #[error("cannot get {file} of {repo} from the Hugging Face hub: {message}")]
    Hub {
        repo: String,
        file: String,
        message: String,
    },
    #[error(
        "input {index} has {tokens} tokens, more than the model's maximum of {max}; \
         split the text, or embed with truncation to cut it"
    )]
    TooLong {
        index: usize,
        tokens: usize,
        max: usize,
    },
    #[error("tokenizer: {0}")]
    Tokenize(String),
    #[error("device {spec:?}: {message}")]
    Device { spec: String, message: String },
    #[error("model computation failed: {0}")]
    Candle(#[from] candle_core::Error),
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl CoreError {
    /// Whether the error is in how mlkit was asked (exit code 2), not in running it.
    pub fn is_usage(&self) -> bool {
        matches!(self, CoreError::Device { .. })
    }
}

pub type Result<T> = std::result::Result<T, CoreError>;

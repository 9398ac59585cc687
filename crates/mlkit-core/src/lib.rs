//! mlkit-core: the inference core every transformer subcommand stands on.
//!
//! - `resolve`: a model spec (directory, bundled alias, Hugging Face repo id) to files;
//! - `encoder` and `models/`: architectures chosen from config.json, one file each;
//! - `tokenize`, `batch`: tokenization and length-sorted batches under a token budget;
//! - `pooling`, `embed`: sentence-transformers pooling and the embedding pipeline.

pub mod batch;
pub mod catalog;
pub mod classify;
pub mod device;
pub mod embed;
pub mod encoder;
pub mod error;
pub mod gelu;
pub mod int8;
pub mod linear;
pub mod metrics;
pub mod models;
pub mod parts;
pub mod pooling;
pub mod quantize;
pub mod resolve;
pub mod tokenize;

pub use device::{select_device, RunOptions};
pub use embed::{EmbedOptions, Embedder};
pub use error::{CoreError, Result};
pub use resolve::{resolve, ModelFiles};

/// Download progress bars only for a person watching stderr.
pub fn progress_allowed() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal()
}

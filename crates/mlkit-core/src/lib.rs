//! mlkit-core: the inference core every transformer subcommand stands on.
//!
//! - `resolve`: a model spec (directory, bundled alias, Hugging Face repo id) to files;
//! - `config`: config.json parsed once, into an enum tagged by `model_type`;
//! - `encoder` and `models/`: one file per architecture, its heads beside its encoder;
//! - `tokenize`, `batch`: tokenization and length-sorted batches under a token budget;
//! - `pooling`, `embed`: sentence-transformers pooling and the embedding pipeline.

#[macro_use]
mod vector;

pub mod attention;
pub mod batch;
pub mod catalog;
pub mod classify;
pub mod config;
pub mod device;
pub mod dropout;
pub mod embed;
pub mod encoder;
pub mod error;
pub mod gelu;
pub mod int8;
pub mod linear;
pub mod models;
pub mod ops;
pub mod parallel;
pub mod parts;
pub mod pickle;
pub mod pooling;
pub mod quantize;
pub mod resolve;
pub mod tokenize;
pub mod tokenizer_files;
pub mod trainable;
pub mod unpad;
pub mod weights;

pub use device::{select_device, Precision, RunOptions};
pub use embed::{EmbedOptions, Embedder};
pub use error::{CoreError, Result};
/// The generator fine-tuning draws from.
pub use mlkit_rng as rng;
pub use resolve::{resolve, ModelFiles};

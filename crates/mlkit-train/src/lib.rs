//! mlkit-train: fine-tuning transformer encoders for token classification (NER) and
//! sequence classification on Candle's autograd, saved as transformers saves them.
//!
//! - `data`: CoNLL and span JSONL to tagged words, tokenized with first-sub-token labels;
//! - `trainer`: the model with dropout, the task's loss, `fit` with the best dev epoch kept;
//! - `optim`: AdamW with transformers' decay groups, linear warm-up and decay, clipping;
//! - `dev`: the dev scores epochs are compared by;
//! - `save`: the model directory, written atomically.

pub mod data;
pub mod dev;
pub mod error;
pub mod optim;
pub mod save;
pub mod trainer;

pub use error::{Result, TrainError};
pub use trainer::{fit, Settings, Task, Trained, Trainer};

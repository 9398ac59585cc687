//! mlkit-ner: named entities with transformers' TokenClassificationPipeline semantics.
//!
//! - `tagger`: a token classifier from mlkit-core run over documents in overlapping windows;
//! - `aggregate`: tokens to entities (none, simple, first, average, max), overlaps resolved;
//! - `seqeval`: entity-level precision, recall and F1 as seqeval computes them, CoNLL reading;
//! - `format`: the output formats (jsonl, hf, conll, spacy, pretty, html).

pub mod aggregate;
pub mod error;
pub mod format;
pub mod seqeval;
pub mod tagger;

pub use aggregate::{Aggregation, Entity};
pub use error::{NerError, Result};
pub use tagger::{NerModel, NerOptions};

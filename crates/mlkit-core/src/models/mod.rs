//! One file per architecture: its `Config` (config.json's settings), its encoder and its
//! task heads, tied together by the `Architecture` trait. Adding an architecture is a file
//! here plus one arm of `config::ArchConfig`.

use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;

use crate::linear::LinearWeights;

pub mod bert;
pub mod deberta_v2;
pub mod distilbert;
pub mod roberta;

/// A transformer encoder: token ids in, hidden states out.
pub trait EncoderModel: Send + Sync {
    /// Hidden states (batch, seq, hidden) for `ids` and `type_ids` (batch, seq, u32) and
    /// `mask` (batch, seq; 1 for tokens, 0 for padding).
    fn forward(&self, ids: &Tensor, type_ids: &Tensor, mask: &Tensor) -> Result<Tensor>;
}

/// A `*ForSequenceClassification` head: hidden states (batch, seq, hidden) to logits
/// (batch, labels).
pub trait SequenceHead: Send + Sync {
    fn forward(&self, hidden: &Tensor) -> Result<Tensor>;
}

/// What an architecture's parsed config can build and tell.
pub trait Architecture {
    fn hidden_size(&self) -> usize;
    fn layers(&self) -> usize;
    fn vocab_size(&self) -> usize;
    /// The longest input in tokens, special tokens included.
    fn max_positions(&self) -> usize;
    /// The unknown token of the architecture's slow tokenizer class, which transformers'
    /// pipelines use whatever tokenizer.json says; `None` to take tokenizer.json's.
    fn unk_token(&self) -> Option<&'static str> {
        None
    }
    /// The encoder, from `vb` at its root or under the architecture's prefix.
    fn load_encoder(&self, vb: VarBuilder, linear: &LinearWeights)
        -> Result<Box<dyn EncoderModel>>;
    /// The sequence-classification head for `labels` labels.
    fn load_sequence_head(
        &self,
        vb: VarBuilder,
        linear: &LinearWeights,
        labels: usize,
    ) -> Result<Box<dyn SequenceHead>>;
}

/// The hidden state of each sequence's first token (`[CLS]` or `<s>`): (batch, hidden).
pub(crate) fn first_token(hidden: &Tensor) -> Result<Tensor> {
    hidden.narrow(1, 0, 1)?.squeeze(1)
}

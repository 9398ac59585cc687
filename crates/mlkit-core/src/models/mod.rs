//! One file per architecture: its `Config` (config.json's settings), its encoder and its
//! task heads, tied together by the `Architecture` trait. Adding an architecture is a file
//! here plus one arm of `config::ArchConfig`.

use candle_core::{Module, Result, Tensor};
use candle_nn::VarBuilder;

use crate::linear::{Linear, LinearWeights};
use bert::Activation;

pub mod bert;
pub mod deberta_v2;
pub mod distilbert;
pub mod electra;
pub mod modernbert;
pub mod mpnet;
pub mod roberta;

/// A transformer encoder: token ids in, hidden states out.
pub trait EncoderModel: Send + Sync {
    /// Hidden states (batch, seq, hidden) for `ids` and `type_ids` (batch, seq, u32) and
    /// `mask` (batch, seq; 1 for tokens, 0 for padding).
    fn forward(&self, ids: &Tensor, type_ids: &Tensor, mask: &Tensor) -> Result<Tensor>;
}

/// A `*ForSequenceClassification` head: hidden states (batch, seq, hidden) to logits
/// (batch, labels).
/// Logits (batch, labels) from hidden states (batch, seq, hidden) and the attention mask
/// (batch, seq), which a mean-pooling head needs.
pub trait SequenceHead: Send + Sync {
    fn forward(&self, hidden: &Tensor, mask: &Tensor) -> Result<Tensor>;
}

/// Logits (batch, seq, labels) from hidden states (batch, seq, hidden).
pub trait TokenHead: Send + Sync {
    fn token_logits(&self, hidden: &Tensor) -> Result<Tensor>;
}

/// The token-classification head of most architectures: `classifier` on every token.
impl TokenHead for Linear {
    fn token_logits(&self, hidden: &Tensor) -> Result<Tensor> {
        self.forward(&crate::dropout::classifier(hidden)?)
    }
}

/// An encoder's sizes, as its config gives them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sizes {
    pub hidden: usize,
    pub layers: usize,
    pub vocab: usize,
    /// Token types the embeddings have (0: none, the type ids are ignored).
    pub type_vocab: usize,
    /// The longest input in tokens, special tokens included.
    pub max_positions: usize,
}

/// What an architecture's parsed config can build and tell.
pub trait Architecture {
    fn sizes(&self) -> Sizes;
    /// Where its `*For*Classification` checkpoints keep the encoder (transformers'
    /// `base_model_prefix`): `bert`, `roberta`, ...
    fn prefix(&self) -> &'static str;
    /// The unknown token of the architecture's slow tokenizer class, which transformers'
    /// pipelines use whatever tokenizer.json says; `None` to take tokenizer.json's.
    fn unk_token(&self) -> Option<&'static str> {
        None
    }
    /// The encoder, from `vb` at its root or under the architecture's prefix.
    fn encoder(&self, vb: VarBuilder, w: &LinearWeights) -> Result<Box<dyn EncoderModel>>;
    /// Where its `*ForSequenceClassification` head's weights are.
    fn sequence_head(&self) -> HeadLayout;
    /// Its `*ForSequenceClassification` head for `labels` labels on `hidden`-wide states:
    /// the `sequence_head` layout, unless the architecture's head is of another shape.
    fn load_sequence_head(
        &self,
        vb: &VarBuilder,
        w: &LinearWeights,
        hidden: usize,
        labels: usize,
    ) -> Result<Box<dyn SequenceHead>> {
        self.sequence_head().load(vb, w, hidden, labels)
    }
    /// Its `*ForTokenClassification` head: `classifier` on every token, unless the
    /// architecture's head is of another shape.
    fn load_token_head(
        &self,
        vb: &VarBuilder,
        w: &LinearWeights,
        hidden: usize,
        labels: usize,
    ) -> Result<Box<dyn TokenHead>> {
        Ok(Box::new(Linear::load(
            hidden,
            labels,
            vb.pp("classifier"),
            w,
        )?))
    }
}

/// Where an encoder's weights are: at the root of the checkpoint (a bare encoder, as
/// sentence-transformers saves one), where `embedding` (its word-embedding tensor) is found,
/// or else under `prefix` (a checkpoint saved with a task head: `bert.`, `model.`, ...).
pub(crate) fn encoder_root<'a>(
    vb: VarBuilder<'a>,
    embedding: &str,
    prefix: &str,
) -> VarBuilder<'a> {
    if vb.contains_tensor(embedding) {
        vb
    } else {
        vb.pp(prefix)
    }
}

/// The sequence-classification head of every architecture here is
/// `out`(act(`dense`(first token))): where its two layers' weights are, and what lies
/// between them.
pub struct HeadLayout {
    pub dense: &'static str,
    /// `dense`'s output size.
    pub inner: usize,
    pub act: Activation,
    pub out: &'static str,
}

impl HeadLayout {
    pub(crate) fn new(
        dense: &'static str,
        inner: usize,
        act: Activation,
        out: &'static str,
    ) -> Self {
        HeadLayout {
            dense,
            inner,
            act,
            out,
        }
    }

    /// The head for `labels` labels on `hidden`-wide hidden states.
    pub(crate) fn load(
        &self,
        vb: &VarBuilder,
        w: &LinearWeights,
        hidden: usize,
        labels: usize,
    ) -> Result<Box<dyn SequenceHead>> {
        Ok(Box::new(FirstTokenHead {
            dense: Linear::load(hidden, self.inner, vb.pp(self.dense), w)?,
            act: self.act,
            out: Linear::load(self.inner, labels, vb.pp(self.out), w)?,
        }))
    }
}

struct FirstTokenHead {
    dense: Linear,
    act: Activation,
    out: Linear,
}

impl SequenceHead for FirstTokenHead {
    fn forward(&self, hidden: &Tensor, _mask: &Tensor) -> Result<Tensor> {
        let first = hidden.narrow(1, 0, 1)?.squeeze(1)?;
        let inner = self.act.apply(&self.dense.forward(&first)?)?;
        self.out.forward(&crate::dropout::classifier(&inner)?)
    }
}

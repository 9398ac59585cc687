//! MPNet (all-mpnet-base-v2 and its kin): BERT's post-LayerNorm layers under other names,
//! RoBERTa's positions, no token types, and a relative position bias shared by every layer
//! (T5's bidirectional buckets: exact up to 8 tokens apart, logarithmic to 128).

use candle_core::{DType, Module, Result, Tensor};
use candle_nn::{embedding, Embedding, VarBuilder};
use serde::Deserialize;

use super::bert::{self, Activation, BertModel, LayerNames, Positions};
use super::{encoder_root, Architecture, EncoderModel, HeadLayout, Sizes};
use crate::linear::LinearWeights;

#[derive(Clone, Debug, Deserialize)]
pub struct Config {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    #[serde(default = "default_act")]
    pub hidden_act: Activation,
    pub max_position_embeddings: usize,
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    #[serde(default = "default_buckets")]
    pub relative_attention_num_buckets: usize,
    #[serde(default = "default_pad")]
    pub pad_token_id: u32,
}

fn default_act() -> Activation {
    Activation::Gelu
}
fn default_eps() -> f64 {
    1e-5
}
fn default_buckets() -> usize {
    32
}
fn default_pad() -> u32 {
    1
}

const MPNET_NAMES: LayerNames = LayerNames {
    layers: "encoder.layer",
    query: "attention.attn.q",
    key: "attention.attn.k",
    value: "attention.attn.v",
    attention_out: "attention.attn.o",
    attention_norm: "attention.LayerNorm",
    intermediate: "intermediate.dense",
    output: "output.dense",
    output_norm: "output.LayerNorm",
};

impl Config {
    fn as_bert(&self) -> bert::Config {
        bert::Config {
            vocab_size: self.vocab_size,
            hidden_size: self.hidden_size,
            num_hidden_layers: self.num_hidden_layers,
            num_attention_heads: self.num_attention_heads,
            intermediate_size: self.intermediate_size,
            hidden_act: self.hidden_act,
            max_position_embeddings: self.max_position_embeddings,
            type_vocab_size: 0,
            layer_norm_eps: self.layer_norm_eps,
            position_embedding_type: "absolute".to_string(),
            pad_token_id: Some(self.pad_token_id),
            embedding_size: None,
        }
    }
}

/// MPNet's `relative_position_bucket` with its fixed 32 buckets and distance 128 (the
/// encoder passes 32 whatever the config says), in f32 as torch computes it.
pub fn bucket(relative: i64) -> u32 {
    const HALF: i64 = 16;
    const EXACT: i64 = 8;
    let n = -relative;
    let mut ret = if n < 0 { HALF } else { 0 };
    let n = n.abs();
    if n < EXACT {
        ret += n;
    } else {
        let log =
            ((n as f32 / EXACT as f32).ln() / (128.0f64 / 8.0).ln() as f32) * (HALF - EXACT) as f32;
        ret += (EXACT + log as i64).min(HALF - 1);
    }
    ret as u32
}

pub struct MpnetModel {
    bert: BertModel,
    relative: Embedding,
}

impl MpnetModel {
    pub fn load(vb: VarBuilder, cfg: &Config, format: &LinearWeights) -> Result<Self> {
        let root = encoder_root(vb.clone(), "embeddings.word_embeddings.weight", "mpnet");
        Ok(MpnetModel {
            bert: BertModel::load_flavour(
                vb,
                &cfg.as_bert(),
                format,
                "mpnet",
                Positions::AfterPadding(cfg.pad_token_id),
                &MPNET_NAMES,
            )?,
            relative: embedding(
                cfg.relative_attention_num_buckets,
                cfg.num_attention_heads,
                root.pp("encoder.relative_attention_bias"),
            )?,
        })
    }

    /// The relative position bias (1, heads, seq, seq).
    fn position_bias(&self, seq: usize, like: &Tensor) -> Result<Tensor> {
        let buckets: Vec<u32> = (0..seq as i64)
            .flat_map(|q| (0..seq as i64).map(move |k| bucket(k - q)))
            .collect();
        let buckets = Tensor::from_vec(buckets, (seq, seq), like.device())?;
        self.relative
            .forward(&buckets)?
            .permute((2, 0, 1))?
            .unsqueeze(0)?
            .to_dtype(DType::F32)
    }
}

impl EncoderModel for MpnetModel {
    fn forward(&self, ids: &Tensor, type_ids: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let bias = self.position_bias(ids.dim(1)?, ids)?;
        self.bert
            .forward_with_bias(ids, type_ids, mask, Some(&bias))
    }
}

impl Architecture for Config {
    fn prefix(&self) -> &'static str {
        "mpnet"
    }
    fn sizes(&self) -> Sizes {
        Sizes {
            hidden: self.hidden_size,
            layers: self.num_hidden_layers,
            vocab: self.vocab_size,
            type_vocab: 0,
            // The first positions are taken by the padding offset, as in RoBERTa.
            max_positions: self
                .max_position_embeddings
                .saturating_sub(self.pad_token_id as usize + 1),
        }
    }
    fn unk_token(&self) -> Option<&'static str> {
        // MPNetTokenizer's, whatever tokenizer.json's model says.
        Some("[UNK]")
    }
    fn encoder(&self, vb: VarBuilder, w: &LinearWeights) -> Result<Box<dyn EncoderModel>> {
        Ok(Box::new(MpnetModel::load(vb, self, w)?))
    }
    fn sequence_head(&self) -> HeadLayout {
        // MPNetClassificationHead: out_proj(tanh(dense(first token))).
        HeadLayout::new(
            "classifier.dense",
            self.hidden_size,
            Activation::Tanh,
            "classifier.out_proj",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_match_transformers() {
        // MPNetEncoder.relative_position_bucket(torch.tensor(r)) for these r.
        let r = [-200, -128, -40, -9, -8, -7, -1, 0, 1, 7, 8, 9, 40, 128, 200];
        let want = [15, 15, 12, 8, 8, 7, 1, 0, 17, 23, 24, 24, 28, 31, 31];
        for (r, w) in r.iter().zip(want) {
            assert_eq!(bucket(*r), w, "relative position {r}");
        }
    }
}

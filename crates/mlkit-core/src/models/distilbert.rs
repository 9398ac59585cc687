//! DistilBERT: BERT's layer with other weight names, no token types, weights under
//! `distilbert.`, and its own config keys.

use candle_core::Result;
use candle_nn::VarBuilder;
use serde::Deserialize;

use super::bert::{Activation, BertModel, Config as BertConfig, LayerNames, Positions};
use super::{Architecture, EncoderModel, HeadLayout, Sizes};
use crate::linear::LinearWeights;

#[derive(Clone, Debug, Deserialize)]
pub struct Config {
    pub vocab_size: usize,
    pub dim: usize,
    pub n_layers: usize,
    pub n_heads: usize,
    pub hidden_dim: usize,
    #[serde(default = "default_act")]
    pub activation: Activation,
    pub max_position_embeddings: usize,
    #[serde(default)]
    pub sinusoidal_pos_embds: bool,
}

fn default_act() -> Activation {
    Activation::Gelu
}

const NAMES: LayerNames = LayerNames {
    layers: "transformer.layer",
    query: "attention.q_lin",
    key: "attention.k_lin",
    value: "attention.v_lin",
    attention_out: "attention.out_lin",
    attention_norm: "sa_layer_norm",
    intermediate: "ffn.lin1",
    output: "ffn.lin2",
    output_norm: "output_layer_norm",
};

impl Config {
    /// The same shape in BERT's terms (DistilBERT's LayerNorm eps is fixed at 1e-12).
    pub fn as_bert(&self) -> BertConfig {
        BertConfig {
            vocab_size: self.vocab_size,
            hidden_size: self.dim,
            num_hidden_layers: self.n_layers,
            num_attention_heads: self.n_heads,
            intermediate_size: self.hidden_dim,
            hidden_act: self.activation,
            max_position_embeddings: self.max_position_embeddings,
            type_vocab_size: 0,
            layer_norm_eps: 1e-12,
            position_embedding_type: "absolute".to_string(),
            pad_token_id: None,
            embedding_size: None,
        }
    }
}

pub fn load(vb: VarBuilder, cfg: &Config, format: &LinearWeights) -> Result<BertModel> {
    // Sinusoidal tables are stored in the checkpoint like learned ones, so both load alike.
    BertModel::load_flavour(
        vb,
        &cfg.as_bert(),
        format,
        "distilbert",
        Positions::Absolute,
        &NAMES,
    )
}

impl Architecture for Config {
    fn prefix(&self) -> &'static str {
        "distilbert"
    }
    fn sizes(&self) -> Sizes {
        self.as_bert().sizes()
    }
    fn encoder(&self, vb: VarBuilder, w: &LinearWeights) -> Result<Box<dyn EncoderModel>> {
        Ok(Box::new(load(vb, self, w)?))
    }
    fn sequence_head(&self) -> HeadLayout {
        // DistilBertForSequenceClassification: classifier(relu(pre_classifier(first token))).
        HeadLayout::new("pre_classifier", self.dim, Activation::Relu, "classifier")
    }
}

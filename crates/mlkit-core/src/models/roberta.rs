//! RoBERTa and XLM-RoBERTa: BERT's encoder with positions numbered after the padding id
//! and weights under `roberta.`, and RoBERTa's classification head.

use candle_core::{Module, Result, Tensor};
use candle_nn::VarBuilder;
use serde::Deserialize;

use super::bert::{self, BertModel, Positions, BERT_NAMES};
use super::{first_token, Architecture, EncoderModel, SequenceHead};
use crate::linear::{Linear, LinearWeights};

/// BERT's settings; `pad_token_id` also numbers the positions.
#[derive(Clone, Debug, Deserialize)]
#[serde(transparent)]
pub struct Config(pub bert::Config);

pub fn load(vb: VarBuilder, cfg: &Config, format: &LinearWeights) -> Result<BertModel> {
    let pad = cfg.0.pad_token_id.unwrap_or(1);
    BertModel::load_flavour(
        vb,
        &cfg.0,
        format,
        "roberta",
        Positions::AfterPadding(pad),
        &BERT_NAMES,
    )
}

impl Architecture for Config {
    fn hidden_size(&self) -> usize {
        self.0.hidden_size
    }
    fn layers(&self) -> usize {
        self.0.num_hidden_layers
    }
    fn vocab_size(&self) -> usize {
        self.0.vocab_size
    }
    fn max_positions(&self) -> usize {
        // The first positions are taken by the padding offset.
        match self.0.pad_token_id {
            Some(pad) => self
                .0
                .max_position_embeddings
                .saturating_sub(pad as usize + 1),
            None => self.0.max_position_embeddings,
        }
    }
    fn unk_token(&self) -> Option<&'static str> {
        // RobertaTokenizer's and XLMRobertaTokenizer's, whatever tokenizer.json's model says.
        Some("<unk>")
    }
    fn load_encoder(
        &self,
        vb: VarBuilder,
        linear: &LinearWeights,
    ) -> Result<Box<dyn EncoderModel>> {
        Ok(Box::new(load(vb, self, linear)?))
    }
    fn load_sequence_head(
        &self,
        vb: VarBuilder,
        linear: &LinearWeights,
        labels: usize,
    ) -> Result<Box<dyn SequenceHead>> {
        let h = self.0.hidden_size;
        Ok(Box::new(ClassificationHead {
            dense: Linear::load(h, h, vb.pp("classifier.dense"), linear)?,
            out_proj: Linear::load(h, labels, vb.pp("classifier.out_proj"), linear)?,
        }))
    }
}

/// `RobertaClassificationHead`: `classifier.out_proj`(tanh(`classifier.dense`(first token))).
struct ClassificationHead {
    dense: Linear,
    out_proj: Linear,
}

impl SequenceHead for ClassificationHead {
    fn forward(&self, hidden: &Tensor) -> Result<Tensor> {
        let x = self.dense.forward(&first_token(hidden)?)?.tanh()?;
        self.out_proj.forward(&x)
    }
}

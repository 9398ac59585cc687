//! RoBERTa and XLM-RoBERTa: BERT's encoder with positions numbered after the padding id
//! and weights under `roberta.`, and RoBERTa's classification head.

use candle_core::Result;
use candle_nn::VarBuilder;
use serde::Deserialize;

use super::bert::{self, Activation, BertModel, Positions, BERT_NAMES};
use super::{Architecture, EncoderModel, HeadLayout, Sizes};
use crate::linear::LinearWeights;

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
    fn prefix(&self) -> &'static str {
        "roberta"
    }
    fn sizes(&self) -> Sizes {
        let bert = self.0.sizes();
        Sizes {
            // The first positions are taken by the padding offset.
            max_positions: match self.0.pad_token_id {
                Some(pad) => bert.max_positions.saturating_sub(pad as usize + 1),
                None => bert.max_positions,
            },
            ..bert
        }
    }
    fn unk_token(&self) -> Option<&'static str> {
        // RobertaTokenizer's and XLMRobertaTokenizer's, whatever tokenizer.json's model says.
        Some("<unk>")
    }
    fn encoder(&self, vb: VarBuilder, w: &LinearWeights) -> Result<Box<dyn EncoderModel>> {
        Ok(Box::new(load(vb, self, w)?))
    }
    fn sequence_head(&self) -> HeadLayout {
        // RobertaClassificationHead: classifier.out_proj(tanh(classifier.dense(first token))).
        let h = self.0.hidden_size;
        HeadLayout::new(
            "classifier.dense",
            h,
            Activation::Tanh,
            "classifier.out_proj",
        )
    }
}

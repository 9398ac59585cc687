//! RoBERTa and XLM-RoBERTa: BERT's encoder with positions numbered after the padding id
//! and weights under `roberta.`.

use candle_core::Result;
use candle_nn::VarBuilder;

use super::bert::{BertModel, Config, Positions, BERT_NAMES};
use crate::linear::LinearWeights;

pub fn load(vb: VarBuilder, cfg: &Config, format: &LinearWeights) -> Result<BertModel> {
    let pad = cfg.pad_token_id.unwrap_or(1);
    BertModel::load_flavour(
        vb,
        cfg,
        format,
        "roberta",
        Positions::AfterPadding(pad),
        &BERT_NAMES,
    )
}

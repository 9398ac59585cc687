//! ELECTRA discriminators: BERT's encoder under `electra.`, with embeddings that may be
//! narrower than the layers (`embeddings_project` widens them), and ELECTRA's
//! classification head (GELU where BERT's pooler has tanh).

use candle_core::Result;
use candle_nn::VarBuilder;
use serde::Deserialize;

use super::bert::{self, Activation, BertModel, Positions, BERT_NAMES};
use super::{Architecture, EncoderModel, HeadLayout, Sizes};
use crate::linear::LinearWeights;

#[derive(Clone, Debug, Deserialize)]
#[serde(transparent)]
pub struct Config(pub bert::Config);

impl Architecture for Config {
    fn prefix(&self) -> &'static str {
        "electra"
    }
    fn sizes(&self) -> Sizes {
        self.0.sizes()
    }
    fn encoder(&self, vb: VarBuilder, w: &LinearWeights) -> Result<Box<dyn EncoderModel>> {
        Ok(Box::new(BertModel::load_flavour(
            vb,
            &self.0,
            w,
            "electra",
            Positions::Absolute,
            &BERT_NAMES,
        )?))
    }
    fn sequence_head(&self) -> HeadLayout {
        // ElectraClassificationHead: out_proj(gelu(dense(first token))), exact GELU.
        HeadLayout::new(
            "classifier.dense",
            self.0.hidden_size,
            Activation::Gelu,
            "classifier.out_proj",
        )
    }
}

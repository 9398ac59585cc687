//! Classification heads on an encoder, as Hugging Face's `*ForTokenClassification` and
//! `*ForSequenceClassification` compute them, with labels from config.json.

use candle_core::{DType, Module, Tensor};
use serde::Deserialize;
use std::collections::BTreeMap;

use crate::device::RunOptions;
use crate::encoder::{Encoder, EncoderInfo, LoadedEncoder};
use crate::error::{CoreError, Result};
use crate::linear::Linear;
use crate::models::bert::Activation;
use crate::parts::ModelParts;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Task {
    TokenClassification,
    SequenceClassification,
}

enum Head {
    /// `classifier` on every token's hidden state.
    Token(Linear),
    /// BERT: tanh(`bert.pooler.dense`(first token)), then `classifier`.
    BertSequence { pooler: Linear, classifier: Linear },
    /// RoBERTa: `classifier.out_proj`(tanh(`classifier.dense`(first token))).
    RobertaSequence { dense: Linear, out_proj: Linear },
    /// DistilBERT: `classifier`(relu(`pre_classifier`(first token))).
    DistilSequence { pre: Linear, classifier: Linear },
    /// DeBERTa: `classifier`(act(`pooler.dense`(first token))), act from
    /// `pooler_hidden_act` (the bias of `classifier` included, unlike candle's NER model).
    DebertaSequence {
        pooler: Linear,
        act: Activation,
        classifier: Linear,
    },
}

#[derive(Deserialize)]
struct PoolerConfig {
    pooler_hidden_size: Option<usize>,
    #[serde(default = "gelu")]
    pooler_hidden_act: Activation,
}

fn gelu() -> Activation {
    Activation::Gelu
}

#[derive(Deserialize)]
struct LabelConfig {
    #[serde(default)]
    id2label: BTreeMap<String, String>,
    num_labels: Option<usize>,
}

pub struct Classifier {
    encoder: Encoder,
    head: Head,
    pub info: EncoderInfo,
    /// Labels in id order.
    pub labels: Vec<String>,
}

impl Classifier {
    /// Loads the encoder and the head `task` needs, on `run.device` in `run.dtype` and
    /// `run.weights` (see `Encoder::load`).
    pub fn load(parts: &ModelParts, run: &RunOptions, task: Task) -> Result<Classifier> {
        let labels = labels(parts)?;
        let LoadedEncoder {
            encoder,
            info,
            vb,
            linear,
        } = Encoder::load_with_store(parts, run)?;
        let h = info.hidden_size;
        let n = labels.len();
        let not_a = |what: &str, e: candle_core::Error| CoreError::BadFile {
            path: parts.origin.clone().into(),
            message: format!("is not a {what} checkpoint ({e})"),
        };
        let head = match (task, info.model_type.as_str()) {
            (Task::TokenClassification, _) => Head::Token(
                Linear::load(h, n, vb.pp("classifier"), &linear)
                    .map_err(|e| not_a("token classification", e))?,
            ),
            (Task::SequenceClassification, "bert") => Head::BertSequence {
                pooler: Linear::load(h, h, vb.pp("bert.pooler.dense"), &linear)
                    .map_err(|e| not_a("sequence classification", e))?,
                classifier: Linear::load(h, n, vb.pp("classifier"), &linear)
                    .map_err(|e| not_a("sequence classification", e))?,
            },
            (Task::SequenceClassification, "deberta-v2") => {
                let p: PoolerConfig =
                    serde_json::from_str(&parts.config).map_err(|e| CoreError::BadFile {
                        path: format!("{}/config.json", parts.origin).into(),
                        message: format!("invalid pooler settings: {e}"),
                    })?;
                let ph = p.pooler_hidden_size.unwrap_or(h);
                Head::DebertaSequence {
                    pooler: Linear::load(h, ph, vb.pp("pooler.dense"), &linear)
                        .map_err(|e| not_a("sequence classification", e))?,
                    act: p.pooler_hidden_act,
                    classifier: Linear::load(ph, n, vb.pp("classifier"), &linear)
                        .map_err(|e| not_a("sequence classification", e))?,
                }
            }
            (Task::SequenceClassification, "distilbert") => Head::DistilSequence {
                pre: Linear::load(h, h, vb.pp("pre_classifier"), &linear)
                    .map_err(|e| not_a("sequence classification", e))?,
                classifier: Linear::load(h, n, vb.pp("classifier"), &linear)
                    .map_err(|e| not_a("sequence classification", e))?,
            },
            (Task::SequenceClassification, _) => Head::RobertaSequence {
                dense: Linear::load(h, h, vb.pp("classifier.dense"), &linear)
                    .map_err(|e| not_a("sequence classification", e))?,
                out_proj: Linear::load(h, n, vb.pp("classifier.out_proj"), &linear)
                    .map_err(|e| not_a("sequence classification", e))?,
            },
        };
        Ok(Classifier {
            encoder,
            head,
            info,
            labels,
        })
    }

    /// Logits: (batch, seq, labels) for token classification, (batch, labels) for sequence
    /// classification, in f32.
    pub fn logits(&self, ids: &Tensor, type_ids: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let hidden = self.encoder.forward(ids, type_ids, mask)?;
        let first = || hidden.narrow(1, 0, 1).and_then(|t| t.squeeze(1));
        let out = match &self.head {
            Head::Token(c) => c.forward(&hidden)?,
            Head::BertSequence { pooler, classifier } => {
                classifier.forward(&pooler.forward(&first()?)?.tanh()?)?
            }
            Head::RobertaSequence { dense, out_proj } => {
                out_proj.forward(&dense.forward(&first()?)?.tanh()?)?
            }
            Head::DistilSequence { pre, classifier } => {
                classifier.forward(&pre.forward(&first()?)?.relu()?)?
            }
            Head::DebertaSequence {
                pooler,
                act,
                classifier,
            } => classifier.forward(&act.apply(&pooler.forward(&first()?)?)?)?,
        };
        Ok(out.to_dtype(DType::F32)?)
    }
}

/// id2label in id order; `LABEL_i` names when the config only gives num_labels.
fn labels(parts: &ModelParts) -> Result<Vec<String>> {
    let cfg: LabelConfig = serde_json::from_str(&parts.config).map_err(|e| CoreError::BadFile {
        path: format!("{}/config.json", parts.origin).into(),
        message: format!("invalid label map: {e}"),
    })?;
    let mut by_id: Vec<(usize, String)> = Vec::new();
    for (k, v) in cfg.id2label {
        let id = k.parse().map_err(|_| CoreError::BadFile {
            path: format!("{}/config.json", parts.origin).into(),
            message: format!("id2label key {k:?} is not a number"),
        })?;
        by_id.push((id, v));
    }
    by_id.sort();
    if by_id.iter().enumerate().any(|(i, (id, _))| i != *id) {
        return Err(CoreError::BadFile {
            path: format!("{}/config.json", parts.origin).into(),
            message: "id2label ids are not 0..n".to_string(),
        });
    }
    if by_id.is_empty() {
        let n = cfg.num_labels.unwrap_or(2);
        return Ok((0..n).map(|i| format!("LABEL_{i}")).collect());
    }
    Ok(by_id.into_iter().map(|(_, l)| l).collect())
}

//! Classification heads on an encoder, as Hugging Face's `*ForTokenClassification` and
//! `*ForSequenceClassification` compute them, with labels from config.json. Each
//! architecture's sequence head lives beside its encoder in `models/`.

use candle_core::{DType, Module, Tensor};

use crate::batch::run_padded;
use crate::device::RunOptions;
use crate::encoder::{Encoder, EncoderInfo, LoadedEncoder};
use crate::error::{CoreError, Result};
use crate::linear::Linear;
use crate::models::SequenceHead;
use crate::parts::ModelParts;
use crate::tokenize::Encoded;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Task {
    TokenClassification,
    SequenceClassification,
}

enum Head {
    /// `classifier` on every token's hidden state (the same in every architecture).
    Token(Linear),
    Sequence(Box<dyn SequenceHead>),
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
        let labels = parts.config.labels();
        let LoadedEncoder {
            encoder,
            info,
            vb,
            linear,
        } = Encoder::load_with_store(parts, run)?;
        let not_a = |what: &str, e: candle_core::Error| CoreError::BadFile {
            path: parts.origin.clone().into(),
            message: format!("is not a {what} checkpoint ({e})"),
        };
        let n = labels.len();
        let head = match task {
            Task::TokenClassification => Head::Token(
                Linear::load(info.hidden_size, n, vb.pp("classifier"), &linear)
                    .map_err(|e| not_a("token classification", e))?,
            ),
            Task::SequenceClassification => Head::Sequence(
                parts
                    .config
                    .architecture()?
                    .sequence_head()
                    .load(&vb, &linear, info.hidden_size, n)
                    .map_err(|e| not_a("sequence classification", e))?,
            ),
        };
        Ok(Classifier {
            encoder,
            head,
            info,
            labels,
        })
    }

    /// Each token's logits, per input, through the batch pipeline (token classification).
    pub fn token_logits(&self, items: &[&Encoded], run: &RunOptions) -> Result<Vec<Vec<Vec<f32>>>> {
        run_padded(items, run, |b| {
            Ok(self.logits(&b.ids, &b.type_ids, &b.mask)?.to_vec3()?)
        })
    }

    /// Each input's logits through the batch pipeline (sequence classification).
    pub fn sequence_logits(&self, items: &[&Encoded], run: &RunOptions) -> Result<Vec<Vec<f32>>> {
        run_padded(items, run, |b| {
            Ok(self.logits(&b.ids, &b.type_ids, &b.mask)?.to_vec2()?)
        })
    }

    /// Logits: (batch, seq, labels) for token classification, (batch, labels) for sequence
    /// classification, in f32.
    pub fn logits(&self, ids: &Tensor, type_ids: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let hidden = self.encoder.forward(ids, type_ids, mask)?;
        let out = match &self.head {
            Head::Token(c) => c.forward(&hidden)?,
            Head::Sequence(head) => head.forward(&hidden)?,
        };
        Ok(out.to_dtype(DType::F32)?)
    }
}

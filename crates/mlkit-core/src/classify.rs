//! Classification heads on an encoder, as Hugging Face's `*ForTokenClassification` and
//! `*ForSequenceClassification` compute them, with labels from config.json. Each
//! architecture's sequence head lives beside its encoder in `models/`.

use std::path::Path;

use candle_core::{DType, Tensor};
use candle_nn::VarBuilder;

use crate::batch::run_padded;
use crate::config::ModelConfig;
use crate::device::RunOptions;
use crate::encoder::{Encoder, EncoderInfo, LoadedEncoder};
use crate::error::{CoreError, Result};
use crate::linear::LinearWeights;
use crate::models::{SequenceHead, TokenHead};
use crate::parts::ModelParts;
use crate::tokenize::Encoded;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Task {
    TokenClassification,
    SequenceClassification,
}

enum Head {
    Token(Box<dyn TokenHead>),
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
        let loaded = Encoder::load_with_store(parts, run)?;
        Self::with_head(
            loaded,
            &parts.config,
            Path::new(&parts.origin),
            task,
            parts.config.labels(),
        )
    }

    /// The classifier `config` describes for `labels`, from the weights in `vb` (being
    /// trained, or a snapshot of them); `origin` names them in errors.
    pub fn build(
        config: &ModelConfig,
        vb: VarBuilder<'static>,
        origin: &Path,
        task: Task,
        labels: Vec<String>,
    ) -> Result<Classifier> {
        let loaded = Encoder::build(config, vb, LinearWeights::default(), origin)?;
        Self::with_head(loaded, config, origin, task, labels)
    }

    fn with_head(
        loaded: LoadedEncoder,
        config: &ModelConfig,
        origin: &Path,
        task: Task,
        labels: Vec<String>,
    ) -> Result<Classifier> {
        let LoadedEncoder {
            encoder,
            info,
            vb,
            linear,
        } = loaded;
        let not_a = |what: &str, e: candle_core::Error| CoreError::BadFile {
            path: origin.to_path_buf(),
            message: format!("is not a {what} checkpoint ({e})"),
        };
        let n = labels.len();
        let arch = config.architecture()?;
        let head = match task {
            Task::TokenClassification => Head::Token(
                arch.load_token_head(&vb, &linear, info.hidden_size, n)
                    .map_err(|e| not_a("token classification", e))?,
            ),
            Task::SequenceClassification => Head::Sequence(
                arch.load_sequence_head(&vb, &linear, info.hidden_size, n)
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
            Head::Token(c) => c.token_logits(&hidden)?,
            Head::Sequence(head) => head.forward(&hidden, mask)?,
        };
        Ok(out.to_dtype(DType::F32)?)
    }
}

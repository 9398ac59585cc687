//! Sentence embeddings: tokenize, batch by length, encode, pool, back in input order.

use candle_core::DType;
use serde::Deserialize;

use crate::batch::run_padded;
use crate::device::RunOptions;
use crate::encoder::{Encoder, EncoderInfo};
use crate::error::Result;
use crate::parts::ModelParts;
use crate::pooling::{Pooling, PoolingMode};
use crate::resolve::ModelFiles;
use crate::tokenize::{Encoded, TextTokenizer};

/// How to run an embedding model.
#[derive(Clone, Debug, Default)]
pub struct EmbedOptions {
    pub run: RunOptions,
    /// Cut inputs longer than the model's maximum instead of failing.
    pub truncate: bool,
    /// Override the model's pooling mode and normalisation.
    pub pooling: Option<PoolingMode>,
    pub normalize: Option<bool>,
}

#[derive(Deserialize)]
struct SentenceConfig {
    max_seq_length: Option<usize>,
}

pub struct Embedder {
    encoder: Encoder,
    info: EncoderInfo,
    tokenizer: TextTokenizer,
    pooling: Pooling,
    opts: EmbedOptions,
}

impl Embedder {
    pub fn load(files: &ModelFiles, opts: &EmbedOptions) -> Result<Embedder> {
        Self::from_parts(&ModelParts::read(files)?, opts)
    }

    pub fn from_parts(parts: &ModelParts, opts: &EmbedOptions) -> Result<Embedder> {
        let (encoder, info) = Encoder::load(parts, &opts.run)?;
        let mut pooling = Pooling::from_json(parts.pooling.as_deref(), parts.modules.as_deref())?;
        if let Some(mode) = opts.pooling {
            pooling.mode = mode;
        }
        if let Some(n) = opts.normalize {
            pooling.normalize = n;
        }
        // sentence-transformers' own limit (256 for all-MiniLM-L6-v2) wins over the
        // position table's, as it does in Python.
        let st_limit = parts
            .sentence_config
            .as_deref()
            .and_then(|t| serde_json::from_str::<SentenceConfig>(t).ok())
            .and_then(|c| c.max_seq_length);
        let max_len = st_limit.map_or(info.max_positions, |l| l.min(info.max_positions));
        let tokenizer =
            TextTokenizer::load(&parts.tokenizer, &parts.origin, max_len, opts.truncate)?;
        Ok(Embedder {
            encoder,
            info,
            tokenizer,
            pooling,
            opts: opts.clone(),
        })
    }

    pub fn dim(&self) -> usize {
        self.info.hidden_size
    }

    pub fn info(&self) -> &EncoderInfo {
        &self.info
    }

    pub fn pooling(&self) -> Pooling {
        self.pooling
    }

    /// One vector per text, in input order. `first_index` numbers texts in errors.
    pub fn embed(&self, texts: &[&str], first_index: usize) -> Result<Vec<Vec<f32>>> {
        let encoded = self.tokenizer.encode(texts, first_index)?;
        let items: Vec<&Encoded> = encoded.iter().collect();
        run_padded(&items, &self.opts.run, |batch| {
            let hidden = self
                .encoder
                .forward(&batch.ids, &batch.type_ids, &batch.mask)?;
            let pooled = self.pooling.apply(&hidden, &batch.mask)?;
            Ok(pooled.to_dtype(DType::F32)?.to_vec2::<f32>()?)
        })
    }
}

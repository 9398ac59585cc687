//! Sentence embeddings: tokenize, batch by length, encode, pool, back in input order.

use candle_core::{DType, Device, Tensor};
use serde::Deserialize;

use crate::batch::run_batches;
use crate::device::RunOptions;
use crate::encoder::{Encoder, EncoderInfo};
use crate::error::{CoreError, Result};
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
        let lengths: Vec<usize> = encoded.iter().map(|e| e.ids.len()).collect();
        let run = &self.opts.run;
        run_batches(&lengths, run.max_batch_tokens, run.workers, |batch| {
            let items: Vec<&Encoded> = batch.iter().map(|&i| &encoded[i]).collect();
            self.run_batch(&items)
        })
    }

    fn run_batch(&self, items: &[&Encoded]) -> Result<Vec<Vec<f32>>> {
        let (ids, type_ids, mask) = pad(items, &self.opts.run.device)?;
        let hidden = self.encoder.forward(&ids, &type_ids, &mask)?;
        let pooled = self.pooling.apply(&hidden, &mask)?;
        Ok(pooled.to_dtype(DType::F32)?.to_vec2::<f32>()?)
    }
}

/// Pads a batch to its longest input: ids, type ids and the attention mask, as (b, s).
pub fn pad(items: &[&Encoded], device: &Device) -> Result<(Tensor, Tensor, Tensor)> {
    let width = items.iter().map(|e| e.ids.len()).max().unwrap_or(0).max(1);
    let n = items.len();
    let mut ids = vec![0u32; n * width];
    let mut types = vec![0u32; n * width];
    let mut mask = vec![0u32; n * width];
    for (r, e) in items.iter().enumerate() {
        let row = r * width;
        ids[row..row + e.ids.len()].copy_from_slice(&e.ids);
        types[row..row + e.type_ids.len()].copy_from_slice(&e.type_ids);
        mask[row..row + e.ids.len()].fill(1);
    }
    let t = |v: Vec<u32>| Tensor::from_vec(v, (n, width), device).map_err(CoreError::from);
    Ok((t(ids)?, t(types)?, t(mask)?))
}

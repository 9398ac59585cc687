//! Loading a checkpoint into the architecture its config.json names.

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use serde::Deserialize;

use crate::error::{CoreError, Result};
use crate::linear::WeightFormat;
use crate::models::bert;

/// The architectures mlkit runs, for error messages.
pub const SUPPORTED: &str = "bert (MiniLM included)";

#[derive(Deserialize)]
struct ModelType {
    model_type: String,
}

/// A transformer encoder, whatever its architecture: token ids in, hidden states out.
pub enum Encoder {
    Bert(bert::BertModel),
}

/// What the rest of the core needs to know about a loaded encoder.
#[derive(Clone, Debug)]
pub struct EncoderInfo {
    pub model_type: String,
    pub hidden_size: usize,
    pub max_positions: usize,
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| CoreError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn bad(path: &Path, message: impl std::fmt::Display) -> CoreError {
    CoreError::BadFile {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

impl Encoder {
    /// Loads the encoder described by `config` with weights from `weights` (safetensors).
    pub fn load(
        config: &Path,
        weights: &Path,
        device: &Device,
        dtype: DType,
        format: WeightFormat,
    ) -> Result<(Encoder, EncoderInfo)> {
        let text = read(config)?;
        let kind: ModelType = serde_json::from_slice(&text)
            .map_err(|e| bad(config, format!("invalid config: {e}")))?;
        let bytes = read(weights)?;
        // The safetensors reader checks the header's size, offsets and shapes against the
        // file before any tensor is built.
        let tensors = candle_core::safetensors::load_buffer(&bytes, &Device::Cpu)
            .map_err(|e| bad(weights, format!("not a valid safetensors file: {e}")))?;
        drop(bytes);
        let vb = VarBuilder::from_tensors(tensors, dtype, device);
        match kind.model_type.as_str() {
            "bert" => {
                let cfg: bert::Config = serde_json::from_slice(&text)
                    .map_err(|e| bad(config, format!("invalid BERT config: {e}")))?;
                let model = bert::BertModel::load(vb, &cfg, format)
                    .map_err(|e| bad(weights, format!("does not fit its config.json: {e}")))?;
                Ok((
                    Encoder::Bert(model),
                    EncoderInfo {
                        model_type: kind.model_type,
                        hidden_size: cfg.hidden_size,
                        max_positions: cfg.max_position_embeddings,
                    },
                ))
            }
            other => Err(CoreError::Unsupported {
                path: config.to_path_buf(),
                model_type: other.to_string(),
                supported: SUPPORTED,
            }),
        }
    }

    /// Hidden states (batch, seq, hidden).
    pub fn forward(&self, ids: &Tensor, type_ids: &Tensor, mask: &Tensor) -> Result<Tensor> {
        match self {
            Encoder::Bert(m) => Ok(m.forward(ids, type_ids, mask)?),
        }
    }
}

//! Loading a checkpoint into the architecture its config.json names.

use std::collections::HashMap;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use candle_core::quantized::GgmlDType;
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use serde::Deserialize;

use crate::error::{CoreError, Result};
use crate::linear::{LinearWeights, WeightFormat};
use crate::models::bert;
use crate::parts::{read_gguf_content, ModelParts, Weights};

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

fn bad(path: &Path, message: impl std::fmt::Display) -> CoreError {
    CoreError::BadFile {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

fn weights_path(parts: &ModelParts) -> &Path {
    match &parts.weights {
        Weights::Safetensors(p) | Weights::Gguf(p) => p,
    }
}

/// A VarBuilder over the dense tensors, and the Linear weights kept quantized.
fn weight_store(
    parts: &ModelParts,
    device: &Device,
    dtype: DType,
    format: WeightFormat,
) -> Result<(VarBuilder<'static>, LinearWeights)> {
    match &parts.weights {
        Weights::Safetensors(path) => {
            let bytes = std::fs::read(path).map_err(|source| CoreError::Read {
                path: path.clone(),
                source,
            })?;
            // The safetensors reader checks the header's size, offsets and shapes against
            // the file before any tensor is built.
            let tensors = candle_core::safetensors::load_buffer(&bytes, &Device::Cpu)
                .map_err(|e| bad(path, format!("not a valid safetensors file: {e}")))?;
            Ok((
                VarBuilder::from_tensors(tensors, dtype, device),
                LinearWeights {
                    format,
                    prequantized: HashMap::new(),
                },
            ))
        }
        Weights::Gguf(path) => {
            let content = read_gguf_content(path)?;
            let file = File::open(path).map_err(|source| CoreError::Read {
                path: path.clone(),
                source,
            })?;
            let mut reader = BufReader::new(file);
            let mut dense: HashMap<String, Tensor> = HashMap::new();
            let mut prequantized = HashMap::new();
            for name in content.tensor_infos.keys() {
                let q = content
                    .tensor(&mut reader, name, device)
                    .map_err(|e| bad(path, format!("tensor {name}: {e}")))?;
                let plain = matches!(q.dtype(), GgmlDType::F32 | GgmlDType::F16 | GgmlDType::BF16);
                // Embedding tables are looked up, not multiplied: they are dequantized.
                if plain || name.contains("embeddings.") || q.shape().rank() != 2 {
                    dense.insert(name.clone(), q.dequantize(device)?);
                } else {
                    prequantized.insert(name.clone(), Arc::new(q));
                }
            }
            Ok((
                VarBuilder::from_tensors(dense, dtype, device),
                LinearWeights {
                    format,
                    prequantized,
                },
            ))
        }
    }
}

impl Encoder {
    /// Loads the encoder `parts.config` describes, with activations in `dtype` and Linear
    /// weights in `format` (a GGUF file's quantized weights are used as they are).
    pub fn load(
        parts: &ModelParts,
        device: &Device,
        dtype: DType,
        format: WeightFormat,
    ) -> Result<(Encoder, EncoderInfo)> {
        let config_path = PathBuf::from(format!("{}/config.json", parts.origin));
        let kind: ModelType = serde_json::from_str(&parts.config)
            .map_err(|e| bad(&config_path, format!("invalid config: {e}")))?;
        match kind.model_type.as_str() {
            "bert" => {
                let cfg: bert::Config = serde_json::from_str(&parts.config)
                    .map_err(|e| bad(&config_path, format!("invalid BERT config: {e}")))?;
                let (vb, linear) = weight_store(parts, device, dtype, format)?;
                let model = bert::BertModel::load(vb, &cfg, &linear).map_err(|e| {
                    bad(
                        weights_path(parts),
                        format!("does not fit its config.json: {e}"),
                    )
                })?;
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
                path: config_path,
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

//! Loading a checkpoint into the architecture its config.json names.

use std::collections::HashMap;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use candle_core::quantized::GgmlDType;
use candle_core::{Device, Tensor};
use candle_nn::VarBuilder;
use serde::Deserialize;

use crate::device::RunOptions;
use crate::error::{CoreError, Result};
use crate::linear::LinearWeights;
use crate::models::{bert, deberta_v2, distilbert, roberta};
use crate::parts::{ModelParts, Weights};

/// The architectures mlkit runs, for error messages.
pub const SUPPORTED: &str =
    "bert (MiniLM included), distilbert, roberta, xlm-roberta, deberta-v2 (DeBERTa-v3 included)";

#[derive(Deserialize)]
struct ModelType {
    model_type: String,
}

/// A transformer encoder, whatever its architecture: token ids in, hidden states out.
/// RoBERTa and XLM-RoBERTa are BERT's encoder with another position scheme.
pub enum Encoder {
    Bert(bert::BertModel),
    DebertaV2(Box<deberta_v2::DebertaV2Model>),
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
        Weights::Safetensors(p) | Weights::Gguf(p, _) => p,
    }
}

/// A VarBuilder over the dense tensors, and the Linear weights kept quantized.
fn weight_store(
    parts: &ModelParts,
    run: &RunOptions,
) -> Result<(VarBuilder<'static>, LinearWeights)> {
    let (device, dtype, format) = (&run.device, run.dtype, run.weights);
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
        Weights::Gguf(path, content) => {
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

/// An encoder with the weight store it came from, for heads to load their weights.
pub struct LoadedEncoder {
    pub encoder: Encoder,
    pub info: EncoderInfo,
    pub vb: VarBuilder<'static>,
    pub linear: LinearWeights,
}

impl Encoder {
    /// Loads the encoder `parts.config` describes onto `run.device`, with activations in
    /// `run.dtype` and Linear weights in `run.weights` (a GGUF file's quantized weights are
    /// used as they are).
    pub fn load(parts: &ModelParts, run: &RunOptions) -> Result<(Encoder, EncoderInfo)> {
        let loaded = Self::load_with_store(parts, run)?;
        Ok((loaded.encoder, loaded.info))
    }

    /// `load`, keeping the weight store for a head to load its own weights from.
    pub fn load_with_store(parts: &ModelParts, run: &RunOptions) -> Result<LoadedEncoder> {
        let config_path = PathBuf::from(format!("{}/config.json", parts.origin));
        let kind: ModelType = serde_json::from_str(&parts.config)
            .map_err(|e| bad(&config_path, format!("invalid config: {e}")))?;
        let model_type = kind.model_type.as_str();
        if model_type == "deberta-v2" {
            return Self::load_deberta(parts, run, &config_path);
        }
        if !matches!(
            model_type,
            "bert" | "distilbert" | "roberta" | "xlm-roberta"
        ) {
            return Err(CoreError::Unsupported {
                path: config_path,
                model_type: model_type.to_string(),
                supported: SUPPORTED,
            });
        }
        let invalid =
            |e: serde_json::Error| bad(&config_path, format!("invalid {model_type} config: {e}"));
        let (cfg, distil) = if model_type == "distilbert" {
            let d: distilbert::Config = serde_json::from_str(&parts.config).map_err(invalid)?;
            (d.as_bert(), Some(d))
        } else {
            (
                serde_json::from_str::<bert::Config>(&parts.config).map_err(invalid)?,
                None,
            )
        };
        let (vb, linear) = weight_store(parts, run)?;
        let model = match (model_type, &distil) {
            ("bert", _) => bert::BertModel::load(vb.clone(), &cfg, &linear),
            (_, Some(d)) => distilbert::load(vb.clone(), d, &linear),
            _ => roberta::load(vb.clone(), &cfg, &linear),
        }
        .map_err(|e| {
            bad(
                weights_path(parts),
                format!("does not fit its config.json: {e}"),
            )
        })?;
        Ok(LoadedEncoder {
            encoder: Encoder::Bert(model),
            info: EncoderInfo {
                model_type: model_type.to_string(),
                hidden_size: cfg.hidden_size,
                max_positions: match cfg.pad_token_id {
                    // RoBERTa's first positions are taken by the padding offset.
                    Some(pad) if model_type != "bert" => {
                        cfg.max_position_embeddings.saturating_sub(pad as usize + 1)
                    }
                    _ => cfg.max_position_embeddings,
                },
            },
            vb,
            linear,
        })
    }

    fn load_deberta(
        parts: &ModelParts,
        run: &RunOptions,
        config_path: &Path,
    ) -> Result<LoadedEncoder> {
        let cfg: deberta_v2::Config = serde_json::from_str(&parts.config)
            .map_err(|e| bad(config_path, format!("invalid deberta-v2 config: {e}")))?;
        let (vb, linear) = weight_store(parts, run)?;
        let model = deberta_v2::DebertaV2Model::load(vb.clone(), &cfg, &linear).map_err(|e| {
            bad(
                weights_path(parts),
                format!("does not fit its config.json: {e}"),
            )
        })?;
        Ok(LoadedEncoder {
            encoder: Encoder::DebertaV2(Box::new(model)),
            info: EncoderInfo {
                model_type: "deberta-v2".to_string(),
                hidden_size: cfg.hidden_size,
                max_positions: cfg.max_position_embeddings,
            },
            vb,
            linear,
        })
    }

    /// Hidden states (batch, seq, hidden).
    pub fn forward(&self, ids: &Tensor, type_ids: &Tensor, mask: &Tensor) -> Result<Tensor> {
        match self {
            Encoder::Bert(m) => Ok(m.forward(ids, type_ids, mask)?),
            Encoder::DebertaV2(m) => Ok(m.forward(ids, type_ids, mask)?),
        }
    }
}

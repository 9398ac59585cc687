//! Loading a checkpoint's weights into the encoder its config.json names.

use std::collections::HashMap;
use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::sync::Arc;

use candle_core::quantized::GgmlDType;
use candle_core::{DType, Tensor};
use candle_nn::VarBuilder;

use crate::config::ModelConfig;
use crate::device::RunOptions;
use crate::error::{CoreError, Result};
use crate::linear::LinearWeights;
use crate::models::{EncoderModel, Sizes};
use crate::parts::{ModelParts, Weights};

/// A transformer encoder, whatever its architecture: token ids in, hidden states out.
pub struct Encoder {
    model: Box<dyn EncoderModel>,
    sizes: Sizes,
}

/// What the rest of the core needs to know about a loaded encoder.
#[derive(Clone, Debug)]
pub struct EncoderInfo {
    pub hidden_size: usize,
    pub max_positions: usize,
    /// The unknown token the architecture's pipelines use, when not tokenizer.json's.
    pub unk_token: Option<&'static str>,
}

fn bad(path: &Path, message: impl std::fmt::Display) -> CoreError {
    CoreError::BadFile {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

fn weights_path(parts: &ModelParts) -> &Path {
    match &parts.weights {
        Weights::Tensors(_, files) => files.first().map_or(Path::new(""), |p| p),
        Weights::Gguf(p, _) => p,
    }
}

fn open_gguf(path: &Path) -> Result<BufReader<File>> {
    let file = File::open(path).map_err(|source| CoreError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(BufReader::new(file))
}

/// A VarBuilder over the dense tensors, and the Linear weights kept quantized.
fn weight_store(
    parts: &ModelParts,
    run: &RunOptions,
) -> Result<(VarBuilder<'static>, LinearWeights)> {
    let (device, dtype, format) = (&run.device, run.dtype, run.weights);
    match &parts.weights {
        Weights::Tensors(stored, files) => Ok((
            VarBuilder::from_tensors(crate::weights::load(*stored, files)?, dtype, device),
            LinearWeights {
                format,
                prequantized: HashMap::new(),
            },
        )),
        Weights::Gguf(path, content) => {
            let mut reader = open_gguf(path)?;
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

/// Every tensor of the checkpoint as a dense f32 tensor on the CPU (a GGUF file's quantized
/// ones dequantized): the starting point of fine-tuning.
pub fn dense_weights(parts: &ModelParts) -> Result<HashMap<String, Tensor>> {
    let to_f32 = |t: Tensor| t.to_dtype(DType::F32);
    match &parts.weights {
        Weights::Tensors(stored, files) => crate::weights::load(*stored, files)?
            .into_iter()
            .map(|(name, t)| Ok((name, to_f32(t)?)))
            .collect(),
        Weights::Gguf(path, content) => {
            let mut reader = open_gguf(path)?;
            let device = candle_core::Device::Cpu;
            content
                .tensor_infos
                .keys()
                .map(|name| {
                    let q = content
                        .tensor(&mut reader, name, &device)
                        .map_err(|e| bad(path, format!("tensor {name}: {e}")))?;
                    Ok((name.clone(), to_f32(q.dequantize(&device)?)?))
                })
                .collect()
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
        let (vb, linear) = weight_store(parts, run)?;
        Self::build(&parts.config, vb, linear, weights_path(parts))
    }

    /// The encoder `config` describes, from the weights in `vb` (being trained, or loaded);
    /// `origin` names them in errors.
    pub fn build(
        config: &ModelConfig,
        vb: VarBuilder<'static>,
        linear: LinearWeights,
        origin: &Path,
    ) -> Result<LoadedEncoder> {
        let arch = config.architecture()?;
        let model = arch
            .encoder(vb.clone(), &linear)
            .map_err(|e| bad(origin, format!("does not fit its config.json: {e}")))?;
        let sizes = arch.sizes();
        Ok(LoadedEncoder {
            encoder: Encoder { model, sizes },
            info: EncoderInfo {
                hidden_size: sizes.hidden,
                max_positions: sizes.max_positions,
                unk_token: arch.unk_token(),
            },
            vb,
            linear,
        })
    }

    /// Hidden states (batch, seq, hidden).
    pub fn forward(&self, ids: &Tensor, type_ids: &Tensor, mask: &Tensor) -> Result<Tensor> {
        // An id past the embeddings means the tokenizer is not the model's: say so, rather
        // than fail deep in an index-select.
        let largest = |t: &Tensor| -> Result<u32> {
            Ok(t.flatten_all()?
                .max(0)?
                .to_dtype(DType::U32)?
                .to_scalar::<u32>()?)
        };
        if ids.elem_count() > 0 {
            let id = largest(ids)? as usize;
            if id >= self.sizes.vocab {
                return Err(CoreError::Tokenize(format!(
                    "token id {id} is outside the model's vocabulary of {}: the tokenizer does \
                     not belong to this model",
                    self.sizes.vocab
                )));
            }
        }
        // A model with one token type (RoBERTa, XLM-R) is fed zeros, as its tokenizer in
        // transformers returns no token types at all, even for pairs.
        let zeros;
        let type_ids = if self.sizes.type_vocab <= 1 {
            zeros = type_ids.zeros_like()?;
            &zeros
        } else {
            let types = self.sizes.type_vocab;
            if type_ids.elem_count() > 0 && largest(type_ids)? as usize >= types {
                return Err(CoreError::Tokenize(format!(
                    "the tokenizer gives token types the model does not have ({types}): it \
                     does not belong to this model"
                )));
            }
            type_ids
        };
        Ok(self.model.forward(ids, type_ids, mask)?)
    }
}

//! A model's parts in memory (config, tokenizer, pooling), read from loose files or from
//! the metadata of a self-describing GGUF file.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use candle_core::quantized::gguf_file;

use crate::config::ModelConfig;
use crate::error::{CoreError, Result};
use crate::resolve::ModelFiles;
use crate::weights::{self, WeightFormat};

/// GGUF metadata keys under which `mlkit quantize` stores the loose files.
pub const META_CONFIG: &str = "mlkit.config.json";
pub const META_TOKENIZER: &str = "mlkit.tokenizer.json";
pub const META_MODULES: &str = "mlkit.modules.json";
pub const META_POOLING: &str = "mlkit.pooling.json";
pub const META_SENTENCE: &str = "mlkit.sentence_bert_config.json";

#[derive(Clone, Debug)]
pub enum Weights {
    /// The tensor files (one, or the shards of an index) and how they are stored.
    Tensors(WeightFormat, Vec<PathBuf>),
    /// The file and its header, read and checked once.
    Gguf(PathBuf, Arc<gguf_file::Content>),
}

#[derive(Clone, Debug)]
pub struct ModelParts {
    pub origin: String,
    pub config: ModelConfig,
    /// tokenizer.json text, as shipped or built from a slow tokenizer's files.
    pub tokenizer: Vec<u8>,
    /// Where the tokenizer came from, for `mlkit models info`.
    pub tokenizer_source: String,
    pub modules: Option<String>,
    pub pooling: Option<String>,
    pub sentence_config: Option<String>,
    pub weights: Weights,
}

fn read_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| CoreError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn optional_text(path: Option<&Path>) -> Result<Option<String>> {
    path.map(read_text).transpose()
}

fn missing(files: &ModelFiles, what: &str) -> CoreError {
    CoreError::NotFound {
        spec: files.origin.clone(),
        hint: format!("no {what}"),
    }
}

impl ModelParts {
    pub fn read(files: &ModelFiles) -> Result<ModelParts> {
        if files.weights.extension().is_some_and(|e| e == "gguf") {
            return read_gguf(&files.weights, &files.origin);
        }
        let config = files
            .config
            .as_deref()
            .ok_or_else(|| missing(files, "config.json"))?;
        let tokenizer = files
            .tokenizer
            .as_ref()
            .ok_or_else(|| missing(files, "tokenizer"))?;
        let config = ModelConfig::parse(read_text(config)?, config)?;
        Ok(ModelParts {
            origin: files.origin.clone(),
            tokenizer: tokenizer.tokenizer_json(&config.model_type)?,
            config,
            tokenizer_source: tokenizer.describe(),
            modules: optional_text(files.modules.as_deref())?,
            pooling: optional_text(files.pooling.as_deref())?,
            sentence_config: optional_text(files.sentence_config.as_deref())?,
            weights: Weights::Tensors(
                weights::format_of(&files.weights).ok_or_else(|| CoreError::BadFile {
                    path: files.weights.clone(),
                    message: "is not a safetensors, PyTorch or GGUF weights file".into(),
                })?,
                weights::files(&files.weights)?,
            ),
        })
    }
}

/// A file opened for reading, with its size: what every checkpoint reader checks offsets
/// against.
pub(crate) fn open_sized(path: &Path) -> Result<(File, u64)> {
    let read_err = |source| CoreError::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(read_err)?;
    let len = file.metadata().map_err(read_err)?.len();
    Ok((file, len))
}

/// Reads and checks a GGUF file's header: every tensor's size must be computable without
/// overflow and lie inside the file (candle checks lengths of strings and arrays).
pub fn read_gguf_content(path: &Path) -> Result<gguf_file::Content> {
    let bad = |message: String| CoreError::BadFile {
        path: path.to_path_buf(),
        message,
    };
    let (file, len) = open_sized(path)?;
    let content = gguf_file::Content::read(&mut BufReader::new(file))
        .map_err(|e| bad(format!("not a valid GGUF file: {e}")))?;
    for (name, info) in &content.tensor_infos {
        let elems = info
            .shape
            .dims()
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| bad(format!("tensor {name}: its shape overflows")))?;
        // No model has an empty weight, and Candle would view an empty buffer through a
        // misaligned pointer (found by the fuzz target model_headers).
        if elems == 0 {
            return Err(bad(format!(
                "tensor {name} has no elements (shape {:?})",
                info.shape
            )));
        }
        let block = info.ggml_dtype.block_size();
        let bytes = (elems / block.max(1))
            .checked_mul(info.ggml_dtype.type_size())
            .ok_or_else(|| bad(format!("tensor {name}: its size overflows")))?;
        let end = content
            .tensor_data_offset
            .checked_add(info.offset)
            .and_then(|o| o.checked_add(bytes as u64));
        if elems % block.max(1) != 0 || end.is_none_or(|e| e > len) {
            return Err(bad(format!(
                "tensor {name} ({:?}, {:?}) does not fit in the file",
                info.shape, info.ggml_dtype
            )));
        }
    }
    Ok(content)
}

/// Reads a safetensors file's header (not its tensors) and checks that every tensor's bytes
/// lie inside the file, as loading it would; returns the file's size.
pub fn check_safetensors(path: &Path) -> Result<u64> {
    use std::io::Read;
    let bad = |message: String| CoreError::BadFile {
        path: path.to_path_buf(),
        message,
    };
    let read_err = |source| CoreError::Read {
        path: path.to_path_buf(),
        source,
    };
    let (mut file, len) = open_sized(path)?;
    let mut size = [0u8; 8];
    file.read_exact(&mut size)
        .map_err(|_| bad("not a safetensors file: shorter than its 8-byte header size".into()))?;
    let header_len = u64::from_le_bytes(size);
    // The format caps headers at 100 MB; the file must hold the header it announces.
    if header_len > 100_000_000 || header_len > len - 8 {
        return Err(bad(format!(
            "not a safetensors file: a header of {header_len} bytes in a file of {len}"
        )));
    }
    let mut header = vec![0u8; header_len as usize];
    file.read_exact(&mut header).map_err(read_err)?;
    let header: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&header)
        .map_err(|e| {
            bad(format!(
                "not a safetensors file: its header is not JSON: {e}"
            ))
        })?;
    let data = len - 8 - header_len;
    let mut needed = 0u64;
    for (name, info) in header.iter().filter(|(name, _)| *name != "__metadata__") {
        let offsets = info.get("data_offsets").and_then(|o| o.as_array());
        let (start, end) = match offsets.map(|o| o.as_slice()) {
            Some([s, e]) => (s.as_u64(), e.as_u64()),
            _ => (None, None),
        };
        match (start, end) {
            (Some(s), Some(e)) if s <= e => needed = needed.max(e),
            _ => return Err(bad(format!("tensor {name} has no valid data_offsets"))),
        }
    }
    if needed > data {
        return Err(bad(format!(
            "truncated: its tensors need {needed} bytes after the header, the file has {data}"
        )));
    }
    Ok(len)
}

fn read_gguf(path: &Path, origin: &str) -> Result<ModelParts> {
    let content = read_gguf_content(path)?;
    let text = |key: &str| -> Option<String> {
        content
            .metadata
            .get(key)
            .and_then(|v| v.to_string().ok())
            .cloned()
    };
    let need = |key: &str| {
        text(key).ok_or_else(|| CoreError::BadFile {
            path: path.to_path_buf(),
            message: format!(
                "no {key} in its metadata; mlkit loads GGUF files written by `mlkit quantize`"
            ),
        })
    };
    Ok(ModelParts {
        origin: origin.to_string(),
        config: ModelConfig::parse(
            need(META_CONFIG)?,
            // Errors name the file and the key the config was read from.
            &PathBuf::from(format!("{} (metadata {META_CONFIG})", path.display())),
        )?,
        tokenizer: need(META_TOKENIZER)?.into_bytes(),
        tokenizer_source: format!("{META_TOKENIZER} in the GGUF metadata"),
        modules: text(META_MODULES),
        pooling: text(META_POOLING),
        sentence_config: text(META_SENTENCE),
        weights: Weights::Gguf(path.to_path_buf(), Arc::new(content)),
    })
}

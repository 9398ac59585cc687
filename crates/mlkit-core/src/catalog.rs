//! What models are at hand: bundled ones and those in the Hugging Face cache, and what a
//! model is (architecture, size, precision, labels, source), for `mlkit models`.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::Result;
use crate::parts::{ModelParts, Weights};
use crate::resolve::{bundled_dir, ModelFiles};
use crate::weights::WeightFormat;

/// A model found on disk.
#[derive(Clone, Debug, Serialize)]
pub struct ModelEntry {
    /// What to pass to --model.
    pub name: String,
    /// "bundled" or "hf-cache".
    pub kind: &'static str,
    pub path: PathBuf,
    pub bytes: u64,
}

fn dir_size(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| {
            let p = e.path();
            // Hub snapshots are symlinks into blobs/: follow them.
            match std::fs::metadata(&p) {
                Ok(m) if m.is_dir() => dir_size(&p),
                Ok(m) => m.len(),
                Err(_) => 0,
            }
        })
        .sum()
}

/// Bundled models and hub-cache models, sorted by name.
pub fn list() -> Vec<ModelEntry> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(bundled_dir()) {
        for e in entries.flatten() {
            let p = e.path();
            if p.join("model.gguf").is_file() || p.join("model.safetensors").is_file() {
                out.push(ModelEntry {
                    name: e.file_name().to_string_lossy().into_owned(),
                    kind: "bundled",
                    bytes: dir_size(&p),
                    path: p,
                });
            }
        }
    }
    let cache = hf_hub::Cache::from_env();
    if let Ok(entries) = std::fs::read_dir(cache.path()) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(id) = name.strip_prefix("models--") {
                out.push(ModelEntry {
                    name: id.replacen("--", "/", 1),
                    kind: "hf-cache",
                    bytes: dir_size(&e.path().join("blobs")),
                    path: e.path(),
                });
            }
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// A model's description.
#[derive(Clone, Debug, Serialize)]
pub struct ModelInfo {
    pub source: String,
    pub model_type: String,
    pub layers: Option<u64>,
    pub hidden_size: Option<u64>,
    pub vocab_size: Option<u64>,
    /// "f32", "Q8_0", ...: the Linear weights' storage.
    pub dtype: String,
    /// "safetensors", "pytorch (restricted unpickler)" or "gguf", with the shard count.
    pub format: String,
    pub bytes: u64,
    /// id2label in id order, for classifiers.
    pub labels: Vec<String>,
    pub pooling: Option<String>,
    /// Where the tokenizer comes from: tokenizer.json, or the slow tokenizer's files it is
    /// built from.
    pub tokenizer: String,
}

pub fn info(files: &ModelFiles) -> Result<ModelInfo> {
    let parts = ModelParts::read(files)?;
    let config = &parts.config;
    let arch = config.arch.architecture();
    let sizes = arch.map(|a| a.sizes());
    let format = match &parts.weights {
        Weights::Gguf(..) => "gguf".to_string(),
        Weights::Tensors(stored, files) => {
            let name = match stored {
                WeightFormat::Safetensors => "safetensors",
                WeightFormat::Pickle => "pytorch (restricted unpickler)",
            };
            if files.len() > 1 {
                format!("{name}, {} shards", files.len())
            } else {
                name.to_string()
            }
        }
    };
    let (dtype, bytes) = match &parts.weights {
        Weights::Gguf(p, content) => {
            let q = content
                .tensor_infos
                .iter()
                .find(|(n, _)| n.ends_with("query.weight"))
                .map(|(_, i)| format!("{:?}", i.ggml_dtype))
                .unwrap_or_else(|| "unknown".into());
            (q, std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        }
        Weights::Tensors(stored, files) => {
            let mut bytes = 0;
            for p in files {
                bytes += match stored {
                    // A model is described only once its tensors are known to be all there.
                    WeightFormat::Safetensors => crate::parts::check_safetensors(p)?,
                    // The unpickler checks every storage against the archive.
                    WeightFormat::Pickle => {
                        crate::pickle::read_state_dict(p)?;
                        std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
                    }
                };
            }
            let dtype = config
                .torch_dtype
                .clone()
                .unwrap_or_else(|| "float32".into());
            (dtype, bytes)
        }
    };
    let pooling =
        crate::pooling::Pooling::from_json(parts.pooling.as_deref(), parts.modules.as_deref())
            .ok()
            .filter(|_| parts.pooling.is_some())
            .map(|p| {
                format!(
                    "{:?}{}",
                    p.mode,
                    if p.normalize { " + normalize" } else { "" }
                )
            });
    Ok(ModelInfo {
        source: parts.origin.clone(),
        model_type: config.model_type.clone(),
        layers: sizes.map(|s| s.layers as u64),
        hidden_size: sizes.map(|s| s.hidden as u64),
        vocab_size: sizes.map(|s| s.vocab as u64),
        dtype,
        format,
        bytes,
        labels: config.id2label.clone(),
        pooling,
        tokenizer: parts.tokenizer_source.clone(),
    })
}

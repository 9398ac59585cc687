//! A checkpoint's tensors: one `model.safetensors` or `pytorch_model.bin`, or the shards
//! their `*.index.json` names (`{"weight_map": {tensor: file}}`), read onto the CPU.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};

use crate::error::{CoreError, Result};

/// How the tensors are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WeightFormat {
    Safetensors,
    /// torch.save's zip format, read by the restricted unpickler in `pickle`.
    Pickle,
}

/// The weight files mlkit looks for, in order: safetensors first (no unpickling at all),
/// a single file before shards.
pub const CANDIDATES: [&str; 4] = [
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
];

/// The format of a weights file or index, by its name.
pub fn format_of(path: &Path) -> Option<WeightFormat> {
    let name = path.file_name()?.to_str()?;
    let name = name.strip_suffix(".index.json").unwrap_or(name);
    if name.ends_with(".safetensors") {
        Some(WeightFormat::Safetensors)
    } else if name.ends_with(".bin") || name.ends_with(".pt") || name.ends_with(".pth") {
        Some(WeightFormat::Pickle)
    } else {
        None
    }
}

fn bad(path: &Path, message: impl std::fmt::Display) -> CoreError {
    CoreError::BadFile {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

/// The shard file names an index names, each once, sorted. A name must be a plain file
/// name beside the index: an index may not point elsewhere.
pub fn shard_names(index: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(index).map_err(|source| CoreError::Read {
        path: index.to_path_buf(),
        source,
    })?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| bad(index, format!("is not JSON: {e}")))?;
    let map = value
        .get("weight_map")
        .and_then(|m| m.as_object())
        .ok_or_else(|| bad(index, "has no weight_map object"))?;
    let mut names = BTreeSet::new();
    for (tensor, file) in map {
        let file = file.as_str().ok_or_else(|| {
            bad(
                index,
                format!("tensor {tensor:?}: its file is not a string"),
            )
        })?;
        let plain = !file.is_empty()
            && !file.contains(['/', '\\'])
            && file != "."
            && file != ".."
            && format_of(Path::new(file)).is_some();
        if !plain {
            return Err(bad(
                index,
                format!("tensor {tensor:?}: {file:?} is not a weights file beside the index"),
            ));
        }
        names.insert(file.to_string());
    }
    if names.is_empty() {
        return Err(bad(index, "names no shards"));
    }
    Ok(names.into_iter().collect())
}

/// The files holding the tensors: `main` itself, or the shards beside it that it indexes.
pub fn files(main: &Path) -> Result<Vec<PathBuf>> {
    let is_index = main
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.ends_with(".index.json"));
    if !is_index {
        return Ok(vec![main.to_path_buf()]);
    }
    let dir = main.parent().unwrap_or(Path::new("."));
    Ok(shard_names(main)?.iter().map(|n| dir.join(n)).collect())
}

/// Every tensor of `files` on the CPU, in its stored dtype. A name found in two shards is
/// an error (the shards would disagree on it).
pub fn load(format: WeightFormat, files: &[PathBuf]) -> Result<HashMap<String, Tensor>> {
    let mut all = HashMap::new();
    for path in files {
        let tensors = match format {
            WeightFormat::Safetensors => {
                let bytes = std::fs::read(path).map_err(|source| CoreError::Read {
                    path: path.clone(),
                    source,
                })?;
                // The safetensors reader checks the header's size, offsets and shapes
                // against the file before any tensor is built.
                candle_core::safetensors::load_buffer(&bytes, &Device::Cpu)
                    .map_err(|e| bad(path, format!("not a valid safetensors file: {e}")))?
            }
            WeightFormat::Pickle => crate::pickle::read_state_dict(path)?,
        };
        for (name, t) in tensors {
            if all.insert(name.clone(), t).is_some() {
                return Err(bad(
                    path,
                    format!("tensor {name:?} is also in another shard"),
                ));
            }
        }
    }
    Ok(all)
}

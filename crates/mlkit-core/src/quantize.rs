//! `mlkit quantize`: one self-describing GGUF file from a safetensors checkpoint.
//!
//! Linear weights are quantized (Q8_0 by default); norms, biases and anything whose rows do
//! not split into whole blocks stay f32 (or fall back to Q8_0 when a k-quant's 256-wide
//! blocks do not fit). The config, tokenizer and pooling files go into the metadata, so
//! the one file is the whole model.

use std::io::{Seek, Write};

use candle_core::quantized::{gguf_file, GgmlDType, QTensor};
use candle_core::DType;

use crate::error::{CoreError, Result};
use crate::parts::{
    ModelParts, Weights, META_CONFIG, META_MODULES, META_POOLING, META_SENTENCE, META_TOKENIZER,
};
use crate::resolve::ModelFiles;

/// What a quantization did.
#[derive(Clone, Debug, Default)]
pub struct QuantizeReport {
    pub tensors: usize,
    /// Tensors stored in the requested type.
    pub quantized: usize,
    /// Tensors stored as Q8_0 because the requested type's blocks did not fit their rows.
    pub fell_back: usize,
    pub parameters: usize,
}

/// Whether a tensor is a Linear-style weight worth quantizing.
fn is_matrix_weight(name: &str, rank: usize) -> bool {
    rank == 2 && name.ends_with(".weight") && !name.contains("LayerNorm")
}

pub fn quantize<W: Write + Seek>(
    files: &ModelFiles,
    target: GgmlDType,
    out: &mut W,
) -> Result<QuantizeReport> {
    let parts = ModelParts::read(files)?;
    let Weights::Tensors(stored, weight_files) = &parts.weights else {
        return Err(CoreError::BadFile {
            path: files.weights.clone(),
            message: "already a GGUF file; quantize from the safetensors or PyTorch checkpoint"
                .into(),
        });
    };
    let model_type = &parts.config.model_type;
    let tensors = crate::weights::load(*stored, weight_files)?;
    let mut names: Vec<&String> = tensors.keys().collect();
    names.sort();
    let mut report = QuantizeReport::default();
    let mut quantized: Vec<(String, QTensor)> = Vec::with_capacity(names.len());
    for name in names {
        let t = tensors[name].to_dtype(DType::F32)?;
        let dims = t.dims().to_vec();
        let cols = dims.last().copied().unwrap_or(1);
        let dtype = if is_matrix_weight(name, dims.len()) {
            if cols % target.block_size() == 0 {
                report.quantized += 1;
                target
            } else if cols % GgmlDType::Q8_0.block_size() == 0 {
                report.fell_back += 1;
                GgmlDType::Q8_0
            } else {
                GgmlDType::F32
            }
        } else {
            GgmlDType::F32
        };
        report.tensors += 1;
        report.parameters += t.elem_count();
        quantized.push((name.clone(), QTensor::quantize(&t, dtype)?));
    }
    let text = |s: &str| gguf_file::Value::String(s.to_string());
    // A stable name (repo id or directory name), so the same checkpoint quantizes to the
    // same bytes wherever it sits on disk.
    let name = match parts.origin.strip_prefix("hf:") {
        Some(repo) => repo.trim_end_matches(" (cache)").to_string(),
        None => std::path::Path::new(&parts.origin)
            .file_name()
            .map_or(parts.origin.clone(), |n| n.to_string_lossy().into_owned()),
    };
    let mut metadata: Vec<(&str, gguf_file::Value)> = vec![
        ("general.architecture", text(model_type)),
        ("general.name", text(&name)),
        ("mlkit.quantization", text(&format!("{target:?}"))),
        (META_CONFIG, text(&parts.config.text)),
        (
            META_TOKENIZER,
            text(&String::from_utf8_lossy(&parts.tokenizer)),
        ),
    ];
    for (key, value) in [
        (META_MODULES, &parts.modules),
        (META_POOLING, &parts.pooling),
        (META_SENTENCE, &parts.sentence_config),
    ] {
        if let Some(v) = value {
            metadata.push((key, text(v)));
        }
    }
    let meta_refs: Vec<(&str, &gguf_file::Value)> = metadata.iter().map(|(k, v)| (*k, v)).collect();
    let tensor_refs: Vec<(&str, &QTensor)> =
        quantized.iter().map(|(n, t)| (n.as_str(), t)).collect();
    gguf_file::write(out, &meta_refs, &tensor_refs)?;
    Ok(report)
}

/// A quantization type by the name `--type` takes (`q8_0`, `q4_k`, `f16`, ...).
pub fn parse_type(name: &str) -> Option<GgmlDType> {
    Some(match name.to_ascii_lowercase().as_str() {
        "q8_0" | "q8" => GgmlDType::Q8_0,
        "q4_0" => GgmlDType::Q4_0,
        "q4_1" => GgmlDType::Q4_1,
        "q5_0" => GgmlDType::Q5_0,
        "q5_1" => GgmlDType::Q5_1,
        "q2_k" => GgmlDType::Q2K,
        "q3_k" => GgmlDType::Q3K,
        "q4_k" => GgmlDType::Q4K,
        "q5_k" => GgmlDType::Q5K,
        "q6_k" => GgmlDType::Q6K,
        "f16" => GgmlDType::F16,
        "f32" => GgmlDType::F32,
        _ => return None,
    })
}

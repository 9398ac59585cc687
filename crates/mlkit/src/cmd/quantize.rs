//! `mlkit quantize`: a safetensors checkpoint to one self-describing GGUF file.

use std::io::{BufWriter, Write};
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use mlkit_core::quantize::{parse_type, quantize};
use mlkit_core::resolve;

use crate::UsageError;

/// Quantize a model's Linear weights into one GGUF file that holds the whole model
/// (config, tokenizer and pooling in its metadata); every subcommand loads it with --model.
#[derive(Args, Debug)]
pub struct QuantizeArgs {
    /// A model directory, bundled name or Hugging Face repo id[@revision].
    pub model: String,

    /// The GGUF file to write (it appears only when the run succeeds).
    #[arg(short, long, value_name = "OUT")]
    pub output: PathBuf,

    /// q8_0, q4_0, q4_1, q5_0, q5_1, q2_k, q3_k, q4_k, q5_k, q6_k, f16 or f32. Rows that do
    /// not split into a k-quant's 256-wide blocks are stored as q8_0.
    #[arg(long = "type", default_value = "q8_0", value_name = "TYPE")]
    pub kind: String,
}

pub fn run(args: QuantizeArgs) -> Result<()> {
    let target = parse_type(&args.kind)
        .ok_or_else(|| UsageError(format!("unknown --type {:?}; try q8_0", args.kind)))?;
    let files = resolve(&args.model)?;
    let path = crate::io::final_target(&args.output)?;
    let mut out = BufWriter::new(crate::io::temp_beside(&path)?);
    let report = quantize(&files, target, &mut out)
        .with_context(|| format!("cannot quantize {}", files.origin))?;
    out.flush()?;
    let temp = out.into_inner().map_err(|e| e.into_error())?;
    crate::io::persist(temp, &path)?;
    let size = std::fs::metadata(&args.output)
        .map(|m| m.len())
        .unwrap_or(0);
    crate::messages::note(format_args!(
        "wrote {} ({:.1} MB): {} tensors, {} in {:?}, {} as Q8_0 (blocks did not fit), {} parameters",
        args.output.display(),
        size as f64 / 1e6,
        report.tensors,
        report.quantized,
        target,
        report.fell_back,
        report.parameters
    ));
    Ok(())
}

//! `mlkit embed`: sentence embeddings, one per input line.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use mlkit_core::pooling::PoolingMode;
use mlkit_core::{resolve, EmbedOptions, Embedder};

use super::runtime::RuntimeArgs;

use crate::io::{Input, Output};

/// Embed texts, one per line of INPUT, with a sentence-transformers model.
///
/// Output is JSON Lines, {"id": LINE, "embedding": [...]} with LINE counted from 1, or a
/// float32 .npy matrix (rows in input order) with --format npy or an .npy output file.
/// Every line gives one embedding, empty lines included.
#[derive(Args, Debug)]
pub struct EmbedArgs {
    /// Text file, one text a line, or - for stdin.
    pub input: PathBuf,

    /// Write here instead of stdout (the file appears only when the run succeeds).
    #[arg(short, long, value_name = "OUT")]
    pub output: Option<PathBuf>,

    /// A model directory, a .gguf file, a bundled model name (the default is the bundled
    /// int8 all-MiniLM-L6-v2), or a Hugging Face repo id[@revision] (HF_HOME, HF_ENDPOINT
    /// and HF_TOKEN are honoured; HF_HUB_OFFLINE=1 uses the cache only).
    #[arg(long, default_value = "all-MiniLM-L6-v2")]
    pub model: String,

    /// Override the model's pooling.
    #[arg(long, value_enum)]
    pub pooling: Option<PoolingArg>,

    /// Override whether vectors are L2-normalised.
    #[arg(long)]
    pub normalize: Option<bool>,

    #[command(flatten)]
    pub runtime: RuntimeArgs,

    /// Cut texts longer than the model's maximum instead of failing on them.
    #[arg(long)]
    pub truncate: bool,

    /// Output format; by default from the output file's extension, else jsonl.
    #[arg(long, value_enum)]
    pub format: Option<EmbedFormat>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum PoolingArg {
    Mean,
    Cls,
    Max,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum EmbedFormat {
    Jsonl,
    Npy,
}

/// Texts are embedded this many at a time, so memory stays flat on long inputs.
const CHUNK: usize = 4096;

pub fn run(args: EmbedArgs, _quiet: bool) -> Result<()> {
    let runtime = args.runtime.resolve()?;
    let format =
        args.format
            .unwrap_or_else(|| match args.output.as_ref().and_then(|p| p.extension()) {
                Some(e) if e == "npy" => EmbedFormat::Npy,
                _ => EmbedFormat::Jsonl,
            });
    let opts = EmbedOptions {
        run: runtime,
        truncate: args.truncate,
        pooling: args.pooling.map(|p| match p {
            PoolingArg::Mean => PoolingMode::Mean,
            PoolingArg::Cls => PoolingMode::Cls,
            PoolingArg::Max => PoolingMode::Max,
        }),
        normalize: args.normalize,
    };
    let files = resolve(&args.model)?;
    let embedder = Embedder::load(&files, &opts)
        .with_context(|| format!("cannot load model {}", files.origin))?;

    let input = Input::open(&args.input)?;
    let reader = BufReader::new(
        std::fs::File::open(input.path())
            .with_context(|| format!("cannot open {}", args.input.display()))?,
    );
    let mut output = Output::create(args.output.as_deref())?;
    let mut matrix: Vec<f32> = Vec::new();
    let mut rows = 0usize;
    let mut chunk: Vec<String> = Vec::with_capacity(CHUNK);
    let mut lines = reader.lines();
    loop {
        chunk.clear();
        for line in lines.by_ref().take(CHUNK) {
            let line = line.with_context(|| {
                format!(
                    "{}: line {} is not valid UTF-8",
                    args.input.display(),
                    rows + chunk.len() + 1
                )
            })?;
            chunk.push(line);
        }
        if chunk.is_empty() {
            break;
        }
        let texts: Vec<&str> = chunk.iter().map(String::as_str).collect();
        let vectors = embedder.embed(&texts, rows).map_err(|e| match e {
            // Inputs are numbered from 0 in the core; lines from 1 here.
            mlkit_core::CoreError::TooLong { index, tokens, max } => anyhow::anyhow!(
                "{}: line {}: {tokens} tokens, more than the model's maximum of {max}; \
                 split the line, or pass --truncate to cut it",
                args.input.display(),
                index + 1
            ),
            other => other.into(),
        })?;
        for v in vectors {
            rows += 1;
            match format {
                EmbedFormat::Jsonl => {
                    // id first, for people reading the file.
                    let vector = serde_json::to_string(&v)?;
                    writeln!(output.writer(), "{{\"id\":{rows},\"embedding\":{vector}}}")?;
                }
                EmbedFormat::Npy => matrix.extend_from_slice(&v),
            }
        }
    }
    if format == EmbedFormat::Npy {
        write_npy(output.writer(), &matrix, rows, embedder.dim())?;
    }
    output.finish()
}

/// A float32 matrix in NumPy's .npy format (version 1.0).
fn write_npy(out: &mut dyn Write, data: &[f32], rows: usize, cols: usize) -> Result<()> {
    let mut header =
        format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {cols}), }}");
    // Magic (6) + version (2) + length (2) + header + newline, padded to 64 bytes.
    let total = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - total % 64) % 64));
    header.push('\n');
    out.write_all(b"\x93NUMPY\x01\x00")?;
    out.write_all(&(header.len() as u16).to_le_bytes())?;
    out.write_all(header.as_bytes())?;
    for x in data {
        out.write_all(&x.to_le_bytes())?;
    }
    Ok(())
}

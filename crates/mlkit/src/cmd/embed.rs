//! `mlkit embed`: sentence embeddings, one per input line.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use mlkit_core::pooling::PoolingMode;
use mlkit_core::{resolve, EmbedOptions, Embedder};
use serde_json::Value;

use super::runtime::RuntimeArgs;

use crate::batches::Batches;
use crate::docs::{csv_row, id_text, Doc, DocArgs, DocReader, Record, RecordArgs, Unit};
use crate::io::Output;
use crate::progress::Progress;
use crate::UsageError;

/// Embed texts, one per line of INPUT, with a sentence-transformers model.
///
/// Output is JSON Lines, {"id": LINE, "embedding": [...]} with LINE counted from 1, or a
/// float32 .npy matrix (rows in input order) with --format npy or an .npy output file.
/// Every line gives one embedding, empty lines included. With --text-field, each JSON Lines
/// record comes back with an "embedding" field; with --column, the CSV comes back with an
/// "embedding" column (a JSON array).
#[derive(Args, Debug)]
pub struct EmbedArgs {
    /// Text file (one text a line), JSON Lines (--text-field) or CSV (--column); - for stdin.
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

    /// Output format; by default npy for an .npy output file, csv with --column, else jsonl.
    #[arg(long, value_enum)]
    pub format: Option<EmbedFormat>,

    #[command(flatten)]
    pub records: RecordArgs,
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
    /// The --column input with an "embedding" column.
    Csv,
}

/// Texts are embedded this many at a time, so memory stays flat on long inputs.
const CHUNK: usize = 4096;

pub fn run(args: EmbedArgs, quiet: bool) -> Result<()> {
    let runtime = args.runtime.resolve()?;
    let format =
        args.format
            .unwrap_or_else(|| match args.output.as_ref().and_then(|p| p.extension()) {
                Some(e) if e == "npy" => EmbedFormat::Npy,
                _ if args.records.column.is_some() => EmbedFormat::Csv,
                _ => EmbedFormat::Jsonl,
            });
    if format == EmbedFormat::Csv && args.records.column.is_none() {
        return Err(UsageError(
            "--format csv writes the CSV input back with an embedding column; name the text \
             column with --column"
                .into(),
        )
        .into());
    }
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
    let doc_args = DocArgs {
        unit: Unit::Line,
        records: args.records.clone(),
    };
    let mut reader = DocReader::open(&args.input, &doc_args, false)?;
    let mut output = Output::create(args.output.as_deref())?;
    if let (EmbedFormat::Csv, Some(mut h)) = (format, reader.header()) {
        h.push_field("embedding");
        output.writer().write_all(&csv_row(None, &h)?)?;
    }
    let mut matrix: Vec<f32> = Vec::new();
    let mut rows = 0usize;
    let mut progress = Progress::new(quiet, "texts", None);
    for batch in Batches::new(reader, CHUNK) {
        let batch = batch?;
        let (vectors, failed) = embed_batch(&embedder, &batch, rows, &args)?;
        for (doc, v) in batch.iter().zip(vectors) {
            rows += 1;
            write_row(output.writer(), format, doc, &v, &mut matrix)?;
        }
        output.writer().flush()?;
        if let Some(e) = failed {
            // The texts before the one that failed have reached stdout, as with any bad
            // record (an output file still never appears).
            return Err(e);
        }
        progress.add(batch.len());
    }
    progress.finish();
    if format == EmbedFormat::Npy {
        write_npy(output.writer(), &matrix, rows, embedder.dim())?;
    }
    output.finish()
}

/// The embeddings of a batch whose first text is input number `first` (from 0), or, when a
/// text is too long, those of the texts before it and the error naming it.
fn embed_batch(
    embedder: &Embedder,
    batch: &[Doc],
    first: usize,
    args: &EmbedArgs,
) -> Result<(Vec<Vec<f32>>, Option<anyhow::Error>)> {
    let texts: Vec<&str> = batch.iter().map(|d| d.text.as_str()).collect();
    match embedder.embed(&texts, first) {
        Ok(vectors) => Ok((vectors, None)),
        Err(mlkit_core::CoreError::TooLong { index, tokens, max }) => {
            let doc = &batch[index - first];
            let (what, place) = match doc.record {
                Record::None => ("line", format!("line {}", id_text(&doc.id))),
                _ => ("text", format!("record {}", id_text(&doc.id))),
            };
            let error = anyhow::anyhow!(
                "{}: {place}: {tokens} tokens, more than the model's maximum of {max}; split \
                 the {what}, or pass --truncate to cut it",
                args.input.display()
            );
            // The texts before it fit: the core names the first text that does not.
            let before = match &texts[..index - first] {
                [] => Vec::new(),
                fit => embedder.embed(fit, first)?,
            };
            Ok((before, Some(error)))
        }
        Err(other) => Err(other.into()),
    }
}

/// One document's embedding in the chosen format (npy rows are gathered in `matrix`).
fn write_row(
    out: &mut dyn Write,
    format: EmbedFormat,
    doc: &Doc,
    v: &[f32],
    matrix: &mut Vec<f32>,
) -> Result<()> {
    match (format, &doc.record) {
        (EmbedFormat::Npy, _) => matrix.extend_from_slice(v),
        (EmbedFormat::Csv, Record::Csv(row)) => {
            let mut row = row.clone();
            row.push_field(&serde_json::to_string(v)?);
            out.write_all(&csv_row(None, &row)?)?;
        }
        (_, Record::Json(map)) => {
            // The input record, with its embedding added.
            let mut record = map.clone();
            // Through f32's shortest text: a Value holds f64s, which would print each f32
            // with twice the digits.
            let vector: Value = serde_json::from_str(&serde_json::to_string(v)?)?;
            record.insert("embedding".into(), vector);
            writeln!(out, "{}", Value::Object(record))?;
        }
        _ => jsonl_row(out, &doc.id, v)?,
    }
    Ok(())
}

/// One `{"id": ..., "embedding": [...]}` line, id first for people reading the file.
fn jsonl_row(out: &mut dyn Write, id: &dyn std::fmt::Display, v: &[f32]) -> Result<()> {
    let vector = serde_json::to_string(v)?;
    writeln!(out, "{{\"id\":{id},\"embedding\":{vector}}}")?;
    Ok(())
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

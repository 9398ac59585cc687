//! `mlkit embed`: sentence embeddings, one per input line.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use mlkit_core::pooling::PoolingMode;
use mlkit_core::{resolve, EmbedOptions, Embedder};
use serde_json::Value;

use super::runtime::RuntimeArgs;

use crate::docs::{
    csv_row, id_text, not_utf8, read_docs, read_text, DocArgs, Record, RecordArgs, Unit,
};
use crate::io::{Input, Output};
use crate::UsageError;

/// The lines of a text input without their line ends (`\n` or `\r\n`), as `BufRead::lines`
/// gives them, but able to say where invalid UTF-8 starts and to replace it.
struct Lines<R> {
    reader: R,
    /// Bytes read so far.
    offset: u64,
    lossy: bool,
}

impl<R: BufRead> Lines<R> {
    /// The next line; `Some(Err(offset))` when it is not valid UTF-8 (offset into the
    /// input of its first bad byte) and replacing is off.
    fn next_line(&mut self) -> std::io::Result<Option<Result<String, u64>>> {
        let mut bytes = Vec::new();
        let n = self.reader.read_until(b'\n', &mut bytes)?;
        if n == 0 {
            return Ok(None);
        }
        let start = self.offset;
        self.offset += n as u64;
        if bytes.ends_with(b"\n") {
            bytes.pop();
            if bytes.ends_with(b"\r") {
                bytes.pop();
            }
        }
        Ok(Some(match String::from_utf8(bytes) {
            Ok(text) => Ok(text),
            Err(e) if self.lossy => Ok(String::from_utf8_lossy(e.as_bytes()).into_owned()),
            Err(e) => Err(start + e.utf8_error().valid_up_to() as u64),
        }))
    }
}

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

pub fn run(args: EmbedArgs, _quiet: bool) -> Result<()> {
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
    if args.records.is_records() {
        return embed_records(&args, &embedder, format);
    }

    let input = Input::open(&args.input)?;
    let reader = BufReader::new(
        std::fs::File::open(input.path())
            .with_context(|| format!("cannot open {}", args.input.display()))?,
    );
    let mut output = Output::create(args.output.as_deref())?;
    let mut matrix: Vec<f32> = Vec::new();
    let mut rows = 0usize;
    let mut chunk: Vec<String> = Vec::with_capacity(CHUNK);
    let mut lines = Lines {
        reader,
        offset: 0,
        lossy: args.records.lossy,
    };
    loop {
        chunk.clear();
        while chunk.len() < CHUNK {
            let line = rows + chunk.len() + 1;
            match lines
                .next_line()
                .with_context(|| format!("cannot read {}", args.input.display()))?
            {
                Some(Ok(text)) => chunk.push(text),
                Some(Err(offset)) => return Err(not_utf8(&args.input, line, offset)),
                None => break,
            }
        }
        if chunk.is_empty() {
            break;
        }
        let texts: Vec<&str> = chunk.iter().map(String::as_str).collect();
        // Inputs are numbered from 0 in the core; lines from 1 here.
        let vectors = embedder
            .embed(&texts, rows)
            .map_err(|e| too_long(e, &args.input, "line", |i| format!("line {}", i + 1)))?;
        for v in vectors {
            rows += 1;
            match format {
                EmbedFormat::Npy => matrix.extend_from_slice(&v),
                // Csv needs --column, which reads records instead (checked in `run`).
                EmbedFormat::Jsonl | EmbedFormat::Csv => jsonl_row(output.writer(), &rows, &v)?,
            }
        }
    }
    if format == EmbedFormat::Npy {
        write_npy(output.writer(), &matrix, rows, embedder.dim())?;
    }
    output.finish()
}

/// `--text-field` and `--column`: the records of a JSON Lines or CSV input, each given its
/// embedding. Unlike plain lines, the input is read whole, as `ner` and `zeroshot` read it.
fn embed_records(args: &EmbedArgs, embedder: &Embedder, format: EmbedFormat) -> Result<()> {
    let doc_args = DocArgs {
        unit: Unit::Line,
        records: args.records.clone(),
    };
    let text = read_text(&args.input, args.records.lossy)?;
    let (docs, header) = read_docs(&args.input, text, &doc_args, false)?;
    let mut output = Output::create(args.output.as_deref())?;
    if let (EmbedFormat::Csv, Some(mut h)) = (format, header) {
        h.push_field("embedding");
        output.writer().write_all(&csv_row(None, &h)?)?;
    }
    let mut matrix: Vec<f32> = Vec::new();
    for (c, chunk) in docs.chunks(CHUNK).enumerate() {
        let texts: Vec<&str> = chunk.iter().map(|d| d.text.as_str()).collect();
        let vectors = embedder.embed(&texts, c * CHUNK).map_err(|e| {
            too_long(e, &args.input, "text", |i| {
                format!("record {}", id_text(&docs[i].id))
            })
        })?;
        for (doc, v) in chunk.iter().zip(vectors) {
            let out = output.writer();
            match (format, &doc.record) {
                (EmbedFormat::Npy, _) => matrix.extend_from_slice(&v),
                (EmbedFormat::Csv, Record::Csv(row)) => {
                    let mut row = row.clone();
                    row.push_field(&serde_json::to_string(&v)?);
                    out.write_all(&csv_row(None, &row)?)?;
                }
                (_, Record::Json(map)) => {
                    // The input record, with its embedding added.
                    let mut record = map.clone();
                    // Through f32's shortest text: a Value holds f64s, which would print
                    // each f32 with twice the digits.
                    let vector: Value = serde_json::from_str(&serde_json::to_string(&v)?)?;
                    record.insert("embedding".into(), vector);
                    writeln!(out, "{}", Value::Object(record))?;
                }
                _ => jsonl_row(out, &doc.id, &v)?,
            }
        }
    }
    if format == EmbedFormat::Npy {
        write_npy(output.writer(), &matrix, docs.len(), embedder.dim())?;
    }
    output.finish()
}

/// The core's error for a text longer than the model takes, naming the text by `place`
/// (from its index in the core) and saying what to split; other errors as they are.
fn too_long(
    e: mlkit_core::CoreError,
    input: &Path,
    what: &str,
    place: impl Fn(usize) -> String,
) -> anyhow::Error {
    match e {
        mlkit_core::CoreError::TooLong { index, tokens, max } => anyhow::anyhow!(
            "{}: {}: {tokens} tokens, more than the model's maximum of {max}; split the \
             {what}, or pass --truncate to cut it",
            input.display(),
            place(index)
        ),
        other => other.into(),
    }
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

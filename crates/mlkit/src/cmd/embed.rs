//! `mlkit embed`: sentence embeddings, one per input line or record.

use std::io::Write;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use mlkit_core::pooling::PoolingMode;
use mlkit_core::{resolve, EmbedOptions, Embedder};

use crate::docs::{id_text, Doc, Record};
use crate::flags::{DocArgs, IoArgs, ModelArgs, RecordArgs};
use crate::io::Output;
use crate::pipeline::{run_documents, BatchResults};
use crate::sink::{CsvSink, JsonlSink, Outcome, Sink};
use crate::UsageError;

/// Embed texts, one per line of INPUT, with a sentence-transformers model.
///
/// Output is JSON Lines, {"id": LINE, "embedding": [...]} with LINE counted from 1, or a
/// float32 .npy matrix (rows in input order) with --format npy or an .npy output file.
/// Every line gives one embedding, empty lines included. With --text-field, each JSON Lines
/// record comes back with an "embedding" field; with --column, the CSV comes back with an
/// "embedding" column (a JSON array).
#[derive(Args, Debug)]
#[command(mut_arg("model", |a| a.default_value("all-MiniLM-L6-v2").required(false)
    .help("A model directory, a .gguf file, a bundled model name (the default is the bundled \
           int8 all-MiniLM-L6-v2), or a Hugging Face repo id[@revision] (HF_HOME, HF_ENDPOINT \
           and HF_TOKEN are honoured; HF_HUB_OFFLINE=1 uses the cache only)")))]
pub struct EmbedArgs {
    #[command(flatten)]
    pub io: IoArgs,

    #[command(flatten)]
    pub model: ModelArgs,

    /// Override the model's pooling.
    #[arg(long, value_enum)]
    pub pooling: Option<PoolingMode>,

    /// Override whether vectors are L2-normalised.
    #[arg(long)]
    pub normalize: Option<bool>,

    /// Cut texts longer than the model's maximum instead of failing on them.
    #[arg(long)]
    pub truncate: bool,

    /// Output format; by default npy for an .npy output file, csv with --column, else jsonl.
    #[arg(long, value_enum)]
    pub format: Option<EmbedFormat>,

    #[command(flatten)]
    pub records: RecordArgs,
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

pub fn run(args: EmbedArgs) -> Result<()> {
    let runtime = args.model.runtime.resolve(&args.model.model)?;
    let format =
        args.format.unwrap_or_else(
            || match args.io.output.as_ref().and_then(|p| p.extension()) {
                Some(e) if e == "npy" => EmbedFormat::Npy,
                _ if args.records.column.is_some() => EmbedFormat::Csv,
                _ => EmbedFormat::Jsonl,
            },
        );
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
        pooling: args.pooling,
        normalize: args.normalize,
    };
    let files = resolve(&args.model.model)?;
    let embedder = Embedder::load(&files, &opts)
        .with_context(|| format!("cannot load model {}", files.origin))?;
    let doc_args = DocArgs::lines(args.records.clone());
    let output = Output::create(args.io.output.as_deref())?;
    let mut sink: Box<dyn Sink<Embedding>> = match format {
        EmbedFormat::Jsonl => Box::new(JsonlSink),
        EmbedFormat::Csv => Box::new(CsvSink::default()),
        EmbedFormat::Npy => Box::new(NpySink::new(embedder.dim(), output.is_file())),
    };
    run_documents(
        &args.io,
        &doc_args,
        CHUNK,
        &mut *sink,
        output,
        |path, before, batch| embed_batch(&embedder, batch, before, path),
    )
}

/// The embeddings of a batch whose first text is its input's text number `first` (from 0),
/// or, when a text is too long, those of the texts before it and the error naming it.
fn embed_batch(
    embedder: &Embedder,
    batch: &[Doc],
    first: usize,
    path: &std::path::Path,
) -> Result<BatchResults<Embedding>> {
    let texts: Vec<&str> = batch.iter().map(|d| d.text.as_str()).collect();
    let wrap = |vectors: Vec<Vec<f32>>| vectors.into_iter().map(Embedding).collect();
    match embedder.embed(&texts, first) {
        Ok(vectors) => Ok((wrap(vectors), None)),
        Err(mlkit_core::CoreError::TooLong { index, tokens, max }) => {
            let doc = &batch[index - first];
            let (what, place) = match doc.record {
                Record::None => ("line", format!("line {}", id_text(&doc.id))),
                _ => ("text", format!("record {}", id_text(&doc.id))),
            };
            let error = anyhow::anyhow!(
                "{}: {place}: {tokens} tokens, more than the model's maximum of {max}; split \
                 the {what}, or pass --truncate to cut it",
                path.display()
            );
            // The texts before it fit: the core names the first text that does not.
            let before = match &texts[..index - first] {
                [] => Vec::new(),
                fit => embedder.embed(fit, first)?,
            };
            Ok((wrap(before), Some(error)))
        }
        Err(other) => Err(other.into()),
    }
}

/// One document's embedding.
struct Embedding(Vec<f32>);

impl Outcome for Embedding {
    const CSV_COLUMNS: &'static [&'static str] = &["embedding"];

    fn json_fields(&self, doc: &Doc) -> Vec<(&'static str, String)> {
        vec![("embedding", self.csv_cells(doc).concat())]
    }

    fn csv_cells(&self, _doc: &Doc) -> Vec<String> {
        // f32s in their shortest form; every f32 (NaN aside, which is null) serializes.
        vec![serde_json::to_string(&self.0).unwrap_or_default()]
    }
}

/// A float32 matrix in NumPy's .npy format. Into a file, rows are written as they come and
/// the header, which holds the row count, is written over a placeholder at the end; to
/// stdout, which cannot be rewound, rows are gathered until the end.
struct NpySink {
    cols: usize,
    rows: usize,
    streaming: bool,
    started: bool,
    gathered: Vec<f32>,
}

impl NpySink {
    fn new(cols: usize, streaming: bool) -> NpySink {
        NpySink {
            cols,
            rows: 0,
            streaming,
            started: false,
            gathered: Vec::new(),
        }
    }
}

impl Sink<Embedding> for NpySink {
    fn begin(&mut self, out: &mut dyn Write, _header: Option<&csv::StringRecord>) -> Result<()> {
        if self.streaming && !self.started {
            // The header of any row count has the same length (see `npy_header`).
            out.write_all(&npy_header(0, self.cols))?;
        }
        self.started = true;
        Ok(())
    }

    fn write(&mut self, out: &mut dyn Write, _doc: &Doc, v: &Embedding) -> Result<()> {
        self.rows += 1;
        if self.streaming {
            for x in &v.0 {
                out.write_all(&x.to_le_bytes())?;
            }
        } else {
            self.gathered.extend_from_slice(&v.0);
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut dyn Write) -> Result<()> {
        if !self.streaming {
            out.write_all(&npy_header(self.rows, self.cols))?;
            for x in &self.gathered {
                out.write_all(&x.to_le_bytes())?;
            }
        }
        Ok(())
    }

    fn file_start(&self) -> Option<Vec<u8>> {
        self.streaming.then(|| npy_header(self.rows, self.cols))
    }
}

/// The header of a float32 matrix in NumPy's .npy format (version 1.0): magic (6), version
/// (2), length (2), the dictionary and a newline, padded with spaces to a multiple of 64
/// bytes. It is 128 bytes for every shape whose two numbers have at most 60 digits between
/// them, so any usize row count fits over the placeholder written first.
fn npy_header(rows: usize, cols: usize) -> Vec<u8> {
    let mut dict =
        format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {cols}), }}");
    let total = 10 + dict.len() + 1;
    dict.push_str(&" ".repeat((64 - total % 64) % 64));
    dict.push('\n');
    let mut header = b"\x93NUMPY\x01\x00".to_vec();
    header.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    header.extend_from_slice(dict.as_bytes());
    header
}

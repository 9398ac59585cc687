//! Flags shared by several subcommands, each defined once here and flattened into the
//! commands that take it: inputs and output, how texts are read, the model and how it runs,
//! threads, and report formats. A new shared flag goes here; a subcommand's own flags stay
//! in its `cmd/` module.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, ValueEnum};
use mlkit_core::{select_device, Precision, RunOptions};

use crate::UsageError;

/// Where documents come from and where results go.
#[derive(Args, Debug, Clone)]
pub struct IoArgs {
    /// Text, JSONL or CSV files, or - for stdin.
    #[arg(default_value = "-")]
    pub inputs: Vec<PathBuf>,

    /// Write here instead of stdout (the file appears only when the run succeeds).
    #[arg(short, long, value_name = "OUT")]
    pub output: Option<PathBuf>,

    /// What a record that cannot be read or scored does (invalid UTF-8, a line that is not a
    /// JSON object or lacks the field, a ragged CSV row, a text the model refuses): fail
    /// stops the run (exit 1) after the results before it; skip drops it; record writes it
    /// in its place with an error field (jsonl) or column (csv), so every input record has
    /// its output record. With skip or record the run goes on, each failure is named on
    /// stderr, and the exit code is 3 when any record failed.
    #[arg(long, value_enum, default_value_t = OnError::Fail, value_name = "WHAT")]
    pub on_error: OnError,
}

/// `--on-error`: what a record that fails does to the run.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum OnError {
    Fail,
    Skip,
    Record,
}

impl IoArgs {
    /// Whether ids name their file (several inputs).
    pub fn several(&self) -> bool {
        self.inputs.len() > 1
    }
}

#[derive(Args, Debug, Clone)]
pub struct DocArgs {
    /// A text file as one document, or each line as one.
    #[arg(long, value_enum, default_value_t = Unit::Line)]
    pub unit: Unit,

    #[command(flatten)]
    pub records: RecordArgs,

    /// The JSON field (with --text-field) or CSV column (with --column) of a second text
    /// paired with each text; set by the subcommands that take pairs.
    #[arg(skip)]
    pub pair: Option<String>,
}

/// How texts are read from lines, JSON Lines records or CSV rows: every subcommand that
/// takes texts has these flags.
#[derive(Args, Debug, Clone, Default)]
pub struct RecordArgs {
    /// Read JSON Lines and take the text from this field (other fields are kept in jsonl
    /// output; an "id" field becomes the record's id).
    #[arg(long, value_name = "FIELD", conflicts_with = "column")]
    pub text_field: Option<String>,

    /// Read CSV and take the text from this column; the output is the CSV with result
    /// columns added, other columns untouched.
    #[arg(long, value_name = "COLUMN")]
    pub column: Option<String>,

    /// Replace invalid UTF-8 with U+FFFD instead of failing.
    #[arg(long)]
    pub lossy: bool,
}

impl RecordArgs {
    /// Whether texts come from JSON Lines or CSV records rather than lines.
    pub fn is_records(&self) -> bool {
        self.column.is_some() || self.text_field.is_some()
    }
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum Unit {
    Doc,
    Line,
}

impl DocArgs {
    /// One document per line (or record).
    pub fn lines(records: RecordArgs) -> DocArgs {
        DocArgs {
            unit: Unit::Line,
            records,
            pair: None,
        }
    }

    pub fn check(&self) -> Result<()> {
        if self.records.is_records() && self.unit == Unit::Doc {
            return Err(UsageError(
                "--column and --text-field read one document per record; drop --unit doc".into(),
            )
            .into());
        }
        Ok(())
    }
}

/// The model and how it runs. Each subcommand sets its own default model (`mut_arg`).
#[derive(Args, Debug, Clone)]
pub struct ModelArgs {
    /// A model directory, a .gguf file, a bundled model name, or a Hugging Face repo
    /// id[@revision] (HF_HOME, HF_ENDPOINT and HF_TOKEN are honoured; HF_HUB_OFFLINE=1 uses
    /// the cache only).
    #[arg(long)]
    pub model: String,

    #[command(flatten)]
    pub runtime: RuntimeArgs,
}

/// Flags every transformer subcommand shares (precision, device, threads, batch budget).
#[derive(Args, Debug, Clone)]
pub struct RuntimeArgs {
    /// Precision: f32, f16, bf16, q8 (int8 Q8_0 weights, f32 activations), or int8 (Q8_0
    /// weights and int8 activations: faster on CPUs with AVX2, AVX-512 VNNI, AVX-VNNI or
    /// ARM's int8 dot or matrix products, elsewhere as q8; scores move in the third digit). f16
    /// and bf16 are for GPUs: on the CPU they run about 2.5x slower than f32. Default: int8
    /// for the bundled models, which keep their accuracy there (embeddings' cosine to
    /// f32 >= 0.995, NER F1 within 0.1 point of f32); f32 for any other model. `mlkit
    /// models info` says which.
    #[arg(long, value_enum)]
    pub dtype: Option<Precision>,

    /// auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    pub device: String,

    #[command(flatten)]
    pub threads: ThreadsArg,

    /// Padded tokens per batch; inputs are sorted by length and batched under this budget
    /// (default: 2048 on the CPU, where small batches keep the attention tensors in cache,
    /// measured best; 16384 on a GPU, text-embeddings-inference's default).
    #[arg(long)]
    pub max_batch_tokens: Option<usize>,
}

/// The precision a model runs at without `--dtype`: int8 for the bundled models, whose
/// int8 runs were measured to keep the accuracy contract (all-MiniLM-L6-v2: worst cosine
/// 0.9985 to f32 on the CoNLL-2003 test sentences; conll03-ner-minilm: F1 0.8819 against
/// 0.8821 in f32), and which run as q8 where the CPU has no int8 kernel; f32 for any other
/// model, whose int8 accuracy nobody has measured.
pub fn default_precision(model: &str) -> Precision {
    if mlkit_core::resolve::is_bundled(model) {
        Precision::Int8
    } else {
        Precision::F32
    }
}

/// `--max-batch-tokens` when not given, by device (see the flag's help).
const CPU_BATCH_TOKENS: usize = 2048;
const GPU_BATCH_TOKENS: usize = 16384;

impl RuntimeArgs {
    /// The run options these flags ask for to run `model` (its spec, as `--model` takes it:
    /// the precision's default depends on it), with the device picked. Changes nothing in
    /// the process: `main` keeps Candle's operations on one thread each.
    pub fn resolve(&self, model: &str) -> Result<RunOptions> {
        if self.max_batch_tokens == Some(0) {
            return Err(UsageError("--max-batch-tokens must be at least 1".into()).into());
        }
        let device = select_device(&self.device)?;
        let max_batch_tokens = self.max_batch_tokens.unwrap_or(if device.is_cpu() {
            CPU_BATCH_TOKENS
        } else {
            GPU_BATCH_TOKENS
        });
        // On the CPU, whole batches run on parallel workers, each operation on one thread
        // (measured: 1.86x on 2 cores where splitting operations gave 1.08x).
        let workers = if device.is_cpu() {
            self.threads.get()
        } else {
            1
        };
        let precision = self.dtype.unwrap_or_else(|| default_precision(model));
        Ok(RunOptions {
            device,
            dtype: precision.dtype(),
            weights: precision.weights(),
            max_batch_tokens,
            workers,
        })
    }
}

/// `--threads`, for every subcommand that runs on several cores.
#[derive(Args, Debug, Clone, Copy)]
pub struct ThreadsArg {
    /// CPU threads (default: all cores).
    #[arg(long = "threads", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub threads: Option<usize>,
}

impl ThreadsArg {
    /// The threads asked for, or every core the process may use.
    pub fn get(self) -> usize {
        self.threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
    }
}

/// A score threshold: a number, not NaN (against which every comparison is false, so it
/// would silently drop every result).
pub fn score(s: &str) -> std::result::Result<f32, String> {
    let x: f32 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a number"))?;
    if x.is_nan() {
        return Err("NaN is not a score; give a number such as 0.5".into());
    }
    Ok(x)
}

/// How `eval` subcommands print their report.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum ReportFormat {
    Table,
    Json,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(max_batch_tokens: Option<usize>) -> RuntimeArgs {
        RuntimeArgs {
            dtype: Some(Precision::Q8),
            device: "cpu".into(),
            threads: ThreadsArg { threads: Some(3) },
            max_batch_tokens,
        }
    }

    #[test]
    fn the_batch_budget_defaults_by_device_and_an_explicit_one_wins() {
        let run = args(None).resolve("m").unwrap();
        assert_eq!(run.max_batch_tokens, CPU_BATCH_TOKENS);
        assert_eq!(run.workers, 3);
        assert_eq!(
            run.weights,
            mlkit_core::linear::WeightFormat::Quantized(candle_core::quantized::GgmlDType::Q8_0)
        );
        assert_eq!(args(Some(500)).resolve("m").unwrap().max_batch_tokens, 500);
        assert!(args(Some(0)).resolve("m").is_err());
    }

    #[test]
    fn resolving_the_flags_leaves_the_environment_alone() {
        let before: Vec<(std::ffi::OsString, std::ffi::OsString)> = std::env::vars_os().collect();
        args(None).resolve("m").unwrap();
        let after: Vec<(std::ffi::OsString, std::ffi::OsString)> = std::env::vars_os().collect();
        assert_eq!(before, after);
    }
}

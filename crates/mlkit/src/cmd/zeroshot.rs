//! `mlkit zeroshot`: texts into labels no model was trained on; `mlkit zeroshot eval`.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use mlkit_core::metrics::evaluate;
use mlkit_core::parts::ModelParts;
use mlkit_core::{resolve, EmbedOptions};
use mlkit_zeroshot::nli::is_nli;
use mlkit_zeroshot::ranking::{keep, rank};
use mlkit_zeroshot::{check_labels, NliModel, SimilarityModel};
use serde_json::{json, Value};

use super::runtime::RuntimeArgs;
use crate::batches::Batches;
use crate::docs::{csv_row, id_text, DocArgs, DocReader, IoArgs, Record, RecordArgs, Unit};
use crate::io::Output;
use crate::progress::Progress;
use crate::UsageError;

/// Zero-shot classification: score each text against labels no model was trained on, by
/// NLI (transformers' zero-shot pipeline: "This example is {label}." entailed by the text?)
/// or by embedding similarity (cosine between the text and the label).
///
/// The default model is the bundled all-MiniLM-L6-v2, with the embedding method; an NLI
/// checkpoint (one with an entailment label, e.g. MoritzLaurer/DeBERTa-v3-base-mnli-fever-anli
/// or facebook/bart-large-mnli style models of the supported architectures) gets the NLI
/// method.
#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct ZeroShotArgs {
    #[command(subcommand)]
    pub command: Option<ZeroShotCommand>,

    #[command(flatten)]
    pub classify: ClassifyArgs,
}

#[derive(Subcommand, Debug)]
pub enum ZeroShotCommand {
    /// Accuracy, macro-F1 and the confusion matrix against gold labels in a CSV column.
    Eval(EvalArgs),
}

#[derive(Args, Debug)]
pub struct LabelArgs {
    /// Candidate labels, comma separated.
    #[arg(long, value_delimiter = ',')]
    pub labels: Vec<String>,

    /// Candidate labels, one a line; for --method embed a tab may follow the label with a
    /// description that is embedded instead of the label.
    #[arg(long, conflicts_with = "labels")]
    pub labels_file: Option<PathBuf>,

    /// The hypothesis for the NLI method; {} is replaced by the label.
    #[arg(long, default_value = "This example is {}.")]
    pub template: String,

    /// nli or embed (default: nli for an NLI model, embed otherwise).
    #[arg(long, value_enum)]
    pub method: Option<Method>,

    /// A model directory, a .gguf file, a bundled model name, or a Hugging Face repo id.
    #[arg(long, default_value = "all-MiniLM-L6-v2")]
    pub model: String,

    #[command(flatten)]
    pub runtime: RuntimeArgs,
}

#[derive(Args, Debug)]
pub struct ClassifyArgs {
    #[command(flatten)]
    pub io: IoArgs,

    /// Score each label on its own (NLI: entailment against contradiction), not as a
    /// distribution over the labels.
    #[arg(long)]
    pub multi_label: bool,

    /// Keep only the K best labels of each text.
    #[arg(long)]
    pub top_k: Option<usize>,

    /// Keep only labels scored at least this.
    #[arg(long)]
    pub threshold: Option<f32>,

    /// Output format (default: pretty on a terminal, else jsonl; csv for CSV input, which
    /// adds the columns prediction, score and scores, a JSON object of every label's score).
    #[arg(long, value_enum)]
    pub format: Option<ZeroShotFormat>,

    #[command(flatten)]
    pub docs: DocArgs,

    #[command(flatten)]
    pub labels: LabelArgs,
}

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// CSV file with a text column and a gold label column, or - for stdin.
    pub input: PathBuf,

    /// The column of gold labels.
    #[arg(long)]
    pub gold_column: String,

    /// The column of texts.
    #[arg(long, default_value = "text")]
    pub column: String,

    #[arg(long)]
    pub multi_label: bool,

    /// table or json.
    #[arg(long, value_enum, default_value_t = EvalFormat::Table)]
    pub format: EvalFormat,

    /// Labels default to the gold column's distinct values.
    #[command(flatten)]
    pub labels: LabelArgs,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum Method {
    Nli,
    Embed,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum ZeroShotFormat {
    Pretty,
    Jsonl,
    Csv,
    Hf,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum EvalFormat {
    Table,
    Json,
}

/// Texts are scored up to this many at a time.
const CHUNK: usize = 256;

/// A loaded scorer: either method, behind one call.
enum Scorer {
    Nli(NliModel),
    Embed(SimilarityModel),
}

struct ZeroShot {
    scorer: Scorer,
    labels: Vec<String>,
    template: String,
    multi_label: bool,
}

impl ZeroShot {
    fn scores(&self, texts: &[&str], first_index: usize) -> Result<Vec<Vec<f32>>> {
        Ok(match &self.scorer {
            Scorer::Nli(m) => m.scores(texts, &self.labels, &self.template, self.multi_label)?,
            Scorer::Embed(m) => m.scores(texts, first_index)?,
        })
    }
}

/// Labels from --labels or --labels-file (with optional tab-separated descriptions).
fn read_labels(args: &LabelArgs) -> Result<(Vec<String>, Vec<String>)> {
    let Some(path) = &args.labels_file else {
        let labels: Vec<String> = args.labels.iter().map(|l| l.trim().to_string()).collect();
        return Ok((labels.clone(), labels));
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read labels from {}", path.display()))?;
    let (mut labels, mut texts) = (Vec::new(), Vec::new());
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let (label, description) = match line.split_once('\t') {
            Some((l, d)) if !d.trim().is_empty() => (l.trim(), d.trim()),
            Some((l, _)) => (l.trim(), l.trim()),
            None => (line.trim(), line.trim()),
        };
        labels.push(label.to_string());
        texts.push(description.to_string());
    }
    Ok((labels, texts))
}

fn load(
    args: &LabelArgs,
    labels: Vec<String>,
    label_texts: &[String],
    multi_label: bool,
) -> Result<ZeroShot> {
    check_labels(&labels, &args.template).map_err(|e| UsageError(e.to_string()))?;
    let runtime = args.runtime.resolve()?;
    let files = resolve(&args.model)?;
    let parts = ModelParts::read(&files)?;
    let method = args.method.unwrap_or(if is_nli(&parts.config) {
        Method::Nli
    } else {
        Method::Embed
    });
    let scorer = match method {
        Method::Nli => Scorer::Nli(
            NliModel::from_parts(&parts, &runtime)
                .with_context(|| format!("cannot load model {}", files.origin))?,
        ),
        Method::Embed => {
            let opts = EmbedOptions {
                run: runtime,
                truncate: true,
                ..EmbedOptions::default()
            };
            Scorer::Embed(
                SimilarityModel::from_parts(&parts, &opts, label_texts)
                    .with_context(|| format!("cannot load model {}", files.origin))?,
            )
        }
    };
    Ok(ZeroShot {
        scorer,
        labels,
        template: args.template.clone(),
        multi_label,
    })
}

pub fn run(args: ZeroShotArgs, quiet: bool) -> Result<()> {
    match args.command {
        Some(ZeroShotCommand::Eval(e)) => eval(e),
        None => classify(args.classify, quiet),
    }
}

fn classify(args: ClassifyArgs, quiet: bool) -> Result<()> {
    args.docs.check()?;
    if args.top_k == Some(0) {
        return Err(UsageError("--top-k must be at least 1".into()).into());
    }
    let csv_in = args.docs.records.column.is_some();
    let format = args.format.unwrap_or(if csv_in {
        ZeroShotFormat::Csv
    } else if args.io.output.is_none() && std::io::stdout().is_terminal() {
        ZeroShotFormat::Pretty
    } else {
        ZeroShotFormat::Jsonl
    });
    let (labels, label_texts) = read_labels(&args.labels)?;
    let model = load(&args.labels, labels, &label_texts, args.multi_label)?;
    let mut output = Output::create(args.io.output.as_deref())?;
    let out = output.writer();
    let several = args.io.inputs.len() > 1;
    let mut rows: Vec<[String; 4]> = Vec::new();
    let mut header_done = false;
    let mut progress = Progress::new(quiet, "texts", None);
    for path in &args.io.inputs {
        let mut reader = DocReader::open(path, &args.docs, several)?;
        if format == ZeroShotFormat::Csv && !header_done {
            let mut h = reader
                .header()
                .unwrap_or_else(|| csv::StringRecord::from(vec!["id", "text"]));
            // "prediction", not "label": inputs often have a gold "label" column.
            h.push_field("prediction");
            h.push_field("score");
            h.push_field("scores");
            out.write_all(&csv_row(None, &h)?)?;
            header_done = true;
        }
        let mut first = 0;
        for batch in Batches::new(reader, CHUNK) {
            let batch = batch?;
            // A text with nothing in it: the ones before it are classified, then it stops.
            let empty = batch.iter().position(|d| d.text.trim().is_empty());
            let scored = &batch[..empty.unwrap_or(batch.len())];
            let texts: Vec<&str> = scored.iter().map(|d| d.text.as_str()).collect();
            let scores = if texts.is_empty() {
                Vec::new()
            } else {
                model
                    .scores(&texts, first)
                    .with_context(|| format!("{}: classification failed", path.display()))?
            };
            first += scored.len();
            for (doc, s) in scored.iter().zip(scores) {
                let kept = keep(&s, args.top_k, args.threshold);
                let names: Vec<&str> = kept.iter().map(|&i| model.labels[i].as_str()).collect();
                let values: Vec<f32> = kept.iter().map(|&i| s[i]).collect();
                match format {
                    ZeroShotFormat::Jsonl => {
                        let v = match &doc.record {
                            Record::Json(map) => {
                                let mut m = map.clone();
                                m.insert("labels".into(), json!(names));
                                m.insert("scores".into(), json!(values));
                                Value::Object(m)
                            }
                            _ => json!({"id": doc.id, "labels": names, "scores": values}),
                        };
                        writeln!(out, "{v}")?;
                    }
                    ZeroShotFormat::Hf => writeln!(
                        out,
                        "{}",
                        json!({"sequence": doc.text, "labels": names, "scores": values})
                    )?,
                    ZeroShotFormat::Csv => {
                        let mut row = match &doc.record {
                            Record::Csv(r) => r.clone(),
                            _ => csv::StringRecord::from(vec![id_text(&doc.id), doc.text.clone()]),
                        };
                        let all: serde_json::Map<String, Value> = rank(&s)
                            .into_iter()
                            .map(|i| (model.labels[i].clone(), json!(s[i])))
                            .collect();
                        row.push_field(names.first().copied().unwrap_or(""));
                        row.push_field(
                            &values
                                .first()
                                .map(|v| format!("{v:.6}"))
                                .unwrap_or_default(),
                        );
                        row.push_field(&Value::Object(all).to_string());
                        out.write_all(&csv_row(None, &row)?)?;
                    }
                    ZeroShotFormat::Pretty => {
                        let text: String = doc.text.chars().take(60).collect();
                        rows.push([
                            id_text(&doc.id),
                            names.join(", "),
                            values
                                .iter()
                                .map(|v| format!("{v:.3}"))
                                .collect::<Vec<_>>()
                                .join(", "),
                            text,
                        ]);
                    }
                }
            }
            out.flush()?;
            progress.add(scored.len());
            if let Some(i) = empty {
                anyhow::bail!(
                    "{}: record {} has no text; zero-shot classification needs some (drop \
                     empty lines first, e.g. grep .)",
                    path.display(),
                    id_text(&batch[i].id)
                );
            }
        }
    }
    progress.finish();
    if format == ZeroShotFormat::Pretty {
        out.write_all(
            mlkit_ner::format::table(&["id", "labels", "scores", "text"], &rows).as_bytes(),
        )?;
    }
    output.finish()
}

fn eval(args: EvalArgs) -> Result<()> {
    let column = DocArgs {
        unit: Unit::Line,
        records: RecordArgs {
            text_field: None,
            column: Some(args.column.clone()),
            lossy: false,
        },
    };
    let mut reader = DocReader::open(&args.input, &column, false)?;
    let headers = reader.header().unwrap_or_default();
    let gold_at = headers
        .iter()
        .position(|h| h == args.gold_column)
        .ok_or_else(|| {
            UsageError(format!(
                "{}: no column {:?}; columns: {}",
                args.input.display(),
                args.gold_column,
                headers.iter().collect::<Vec<_>>().join(", ")
            ))
        })?;
    let (mut texts, mut gold) = (Vec::new(), Vec::new());
    for doc in reader {
        let doc = doc?;
        if let Record::Csv(row) = &doc.record {
            gold.push(row.get(gold_at).unwrap_or("").trim().to_string());
        }
        texts.push(doc.text);
    }
    let (mut labels, mut label_texts) = read_labels(&args.labels)?;
    if labels.is_empty() {
        let distinct: std::collections::BTreeSet<String> = gold.iter().cloned().collect();
        labels = distinct.into_iter().collect();
        label_texts = labels.clone();
    }
    let model = load(&args.labels, labels, &label_texts, args.multi_label)?;
    let mut predicted = Vec::with_capacity(texts.len());
    for (c, chunk) in texts.chunks(CHUNK).enumerate() {
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        for s in model.scores(&refs, c * CHUNK)? {
            predicted.push(model.labels[rank(&s)[0]].clone());
        }
    }
    let e = evaluate(&gold, &predicted);
    let mut out = std::io::stdout().lock();
    match args.format {
        EvalFormat::Json => writeln!(
            out,
            "{}",
            json!({
                "texts": texts.len(),
                "accuracy": e.accuracy,
                "macro_f1": e.macro_f1,
                "labels": e.labels,
                "confusion_matrix": e.matrix,
            })
        )?,
        EvalFormat::Table => {
            writeln!(
                out,
                "accuracy  {:.4}\nmacro-F1  {:.4}\n",
                e.accuracy, e.macro_f1
            )?;
            out.write_all(e.confusion_table("gold \\ predicted", 4).as_bytes())?;
        }
    }
    Ok(())
}

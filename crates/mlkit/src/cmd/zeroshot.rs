//! `mlkit zeroshot`: texts into labels no model was trained on; `mlkit zeroshot eval`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use mlkit_core::parts::ModelParts;
use mlkit_core::{resolve, EmbedOptions};
use mlkit_metrics::evaluate;
use mlkit_zeroshot::nli::is_nli;
use mlkit_zeroshot::ranking::{keep, rank};
use mlkit_zeroshot::{check_labels, NliModel, SimilarityModel};
use serde_json::json;

use super::gold::{GoldArgs, GoldTexts};
use super::scored::{scored_sink, Scored, ScoredFormat};
use crate::docs::id_text;
use crate::flags::{score, DocArgs, IoArgs, ModelArgs};
use crate::io::Output;
use crate::pipeline::run_documents;
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

    #[command(flatten)]
    pub model: ModelArgs,
}

/// The bundled sentence-embedding model, with the embedding method.
const DEFAULT_MODEL: &str = "all-MiniLM-L6-v2";

#[derive(Args, Debug)]
#[command(mut_arg("model", |a| a.default_value(DEFAULT_MODEL).required(false)))]
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
    #[arg(long, value_parser = score)]
    pub threshold: Option<f32>,

    /// Output format (default: pretty on a terminal, else jsonl; csv for CSV input, which
    /// adds the columns prediction, score and scores, a JSON object of every label's score).
    #[arg(long, value_enum)]
    pub format: Option<ScoredFormat>,

    #[command(flatten)]
    pub docs: DocArgs,

    #[command(flatten)]
    pub labels: LabelArgs,
}

#[derive(Args, Debug)]
#[command(mut_arg("model", |a| a.default_value(DEFAULT_MODEL).required(false)))]
pub struct EvalArgs {
    #[command(flatten)]
    pub gold: GoldArgs,

    #[arg(long)]
    pub multi_label: bool,

    /// Labels default to the gold column's distinct values.
    #[command(flatten)]
    pub labels: LabelArgs,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum Method {
    Nli,
    Embed,
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
    if labels.is_empty() {
        return Err(UsageError("no labels: pass --labels a,b,c or --labels-file".into()).into());
    }
    check_labels(&labels, &args.template)?;
    let runtime = args.model.runtime.resolve(&args.model.model)?;
    let files = resolve(&args.model.model)?;
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

pub fn run(args: ZeroShotArgs) -> Result<()> {
    match args.command {
        Some(ZeroShotCommand::Eval(e)) => eval(e),
        None => classify(args.classify),
    }
}

fn classify(args: ClassifyArgs) -> Result<()> {
    args.docs.check()?;
    if args.top_k == Some(0) {
        return Err(UsageError("--top-k must be at least 1".into()).into());
    }
    let (labels, label_texts) = read_labels(&args.labels)?;
    let model = load(&args.labels, labels, &label_texts, args.multi_label)?;
    let output = Output::create(args.io.output.as_deref())?;
    let mut sink = scored_sink(args.format, &args.io, &args.docs, |doc, s: &Scored| {
        let (names, values) = s.kept();
        Ok(format!(
            "{}\n",
            json!({"sequence": doc.text, "labels": names, "scores": values})
        ))
    });
    run_documents(
        &args.io,
        &args.docs,
        CHUNK,
        &mut *sink,
        output,
        |path, before, batch| {
            // A text with nothing in it: the ones before it are classified, then it stops.
            let empty = batch.iter().position(|d| d.text.trim().is_empty());
            let texts: Vec<&str> = batch[..empty.unwrap_or(batch.len())]
                .iter()
                .map(|d| d.text.as_str())
                .collect();
            let scores = if texts.is_empty() {
                Vec::new()
            } else {
                model
                    .scores(&texts, before)
                    .with_context(|| format!("{}: classification failed", path.display()))?
            };
            let results = scores
                .into_iter()
                .map(|s| Scored {
                    labels: &model.labels,
                    order: rank(&s),
                    kept: keep(&s, args.top_k, args.threshold).len(),
                    scores: s,
                })
                .collect();
            let stop = empty.map(|i| {
                anyhow::anyhow!(
                    "{}: record {} has no text; zero-shot classification needs some (drop \
                     empty lines first, e.g. grep .)",
                    path.display(),
                    id_text(&batch[i].id)
                )
            });
            Ok((results, stop))
        },
    )
}

fn eval(args: EvalArgs) -> Result<()> {
    let GoldTexts { texts, gold } = args.gold.read()?;
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
    args.gold.report(texts.len(), &evaluate(&gold, &predicted))
}

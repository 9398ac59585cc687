//! `mlkit classify`: texts into a checkpoint's own labels, as transformers'
//! text-classification pipeline; `mlkit classify eval`.

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use mlkit_classify::{ranked, ScoreFunction, TextClassifier};
use mlkit_core::resolve;
use mlkit_metrics::evaluate;
use serde_json::json;

use super::gold::{GoldArgs, GoldTexts};
use super::scored::{scored_sink, Scored, ScoredFormat};
use crate::flags::{DocArgs, IoArgs, ModelArgs};
use crate::io::Output;
use crate::pipeline::run_documents;
use crate::UsageError;

/// Text classification with any sequence-classification checkpoint (sentiment, topic,
/// toxicity, ...): each text's labels scored as transformers'
/// `pipeline("text-classification", top_k=None)` scores them, best first.
#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct ClassifyArgs {
    #[command(subcommand)]
    pub command: Option<ClassifyCommand>,

    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Subcommand, Debug)]
pub enum ClassifyCommand {
    /// Accuracy, macro-F1 and the confusion matrix against gold labels in a CSV column.
    Eval(EvalArgs),
}

/// `--model` is checked by `classify`, not by clap: a required flag here would be required of
/// `classify eval` too, which has its own.
#[derive(Args, Debug)]
#[command(mut_arg("model", |a| a.default_value("").hide_default_value(true).required(false)))]
pub struct RunArgs {
    #[command(flatten)]
    pub io: IoArgs,

    /// Keep only the K best labels of each text (default: all).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub top_k: Option<u64>,

    /// How logits become scores (default as the pipeline: sigmoid for multi-label models
    /// and models with one label, softmax otherwise).
    #[arg(long, value_enum)]
    pub function: Option<ScoreFunction>,

    /// Output format (default: pretty on a terminal, else jsonl; csv for CSV input, which
    /// adds the columns prediction, score and scores, a JSON object of every label's
    /// score). hf: the pipeline's own output, one JSON list of {"label", "score"} per text.
    #[arg(long, value_enum)]
    pub format: Option<ScoredFormat>,

    /// Classify text pairs: the second text of each pair is this JSON field (with
    /// --text-field).
    #[arg(long, value_name = "FIELD", requires = "text_field")]
    pub pair_field: Option<String>,

    /// Classify text pairs: the second text of each pair is this CSV column (with
    /// --column).
    #[arg(
        long,
        value_name = "COLUMN",
        requires = "column",
        conflicts_with = "pair_field"
    )]
    pub pair_column: Option<String>,

    #[command(flatten)]
    pub docs: DocArgs,

    #[command(flatten)]
    pub model: ModelArgs,
}

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// (Gold labels are the model's label names.)
    #[command(flatten)]
    pub gold: GoldArgs,

    #[command(flatten)]
    pub model: ModelArgs,
}

/// Texts are classified up to this many at a time.
const CHUNK: usize = 256;

pub fn run(args: ClassifyArgs) -> Result<()> {
    match args.command {
        Some(ClassifyCommand::Eval(e)) => eval(e),
        None => classify(args.run),
    }
}

fn load(model: &ModelArgs) -> Result<TextClassifier> {
    let runtime = model.runtime.resolve()?;
    let files = resolve(&model.model)?;
    TextClassifier::load(&files, &runtime).with_context(|| {
        format!(
            "cannot load model {} as a text classifier (a *ForSequenceClassification \
             checkpoint)",
            files.origin
        )
    })
}

fn classify(mut args: RunArgs) -> Result<()> {
    if args.model.model.is_empty() {
        return Err(UsageError(
            "--model is required: a text-classification checkpoint (a directory, .gguf file or \
             Hugging Face repo id, e.g. distilbert/distilbert-base-uncased-finetuned-sst-2-english)"
                .into(),
        )
        .into());
    }
    args.docs.check()?;
    args.docs.pair = args.pair_field.clone().or(args.pair_column.clone());
    let model = load(&args.model)?;
    let function = args.function.unwrap_or(model.default_function());
    let labels = model.labels().to_vec();
    let top_k = args
        .top_k
        .map_or(usize::MAX, |k| k.min(usize::MAX as u64) as usize);
    let mut output = Output::create(args.io.output.as_deref())?;
    let mut sink = scored_sink(args.format, &args.io, &args.docs, |_, s: &Scored| {
        let (names, values) = s.kept();
        let list: Vec<_> = names
            .iter()
            .zip(values)
            .map(|(l, v)| json!({"label": l, "score": v}))
            .collect();
        Ok(format!("{}\n", json!(list)))
    });
    run_documents(
        &args.io,
        &args.docs,
        CHUNK,
        &mut *sink,
        &mut output,
        |path, before, batch| {
            let logits = if args.docs.pair.is_some() {
                let pairs: Vec<(&str, &str)> = batch
                    .iter()
                    .map(|d| (d.text.as_str(), d.pair.as_deref().unwrap_or("")))
                    .collect();
                model.pair_logits(&pairs, before)
            } else {
                let texts: Vec<&str> = batch.iter().map(|d| d.text.as_str()).collect();
                model.logits(&texts, before)
            }
            .with_context(|| format!("{}: classification failed", path.display()))?;
            let results = logits
                .iter()
                .map(|l| {
                    let scores = function.apply(l);
                    let order = ranked(&scores);
                    Scored {
                        labels: &labels,
                        kept: order.len().min(top_k),
                        order,
                        scores,
                    }
                })
                .collect();
            Ok((results, None))
        },
    )?;
    output.finish()
}

fn eval(args: EvalArgs) -> Result<()> {
    let GoldTexts { texts, gold } = args.gold.read()?;
    let model = load(&args.model)?;
    // Gold labels the model does not have would be counted as errors it cannot avoid:
    // most likely the gold column uses other names for the same labels.
    if let Some(g) = gold.iter().find(|g| !model.labels().contains(g)) {
        return Err(UsageError(format!(
            "{}: gold label {g:?} is not one of the model's labels ({}); map the gold column \
             to the model's label names first",
            args.gold.input.display(),
            model.labels().join(", ")
        ))
        .into());
    }
    let function = model.default_function();
    let mut predicted = Vec::with_capacity(texts.len());
    for (c, chunk) in texts.chunks(CHUNK).enumerate() {
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        for l in model.logits(&refs, c * CHUNK)? {
            let best = ranked(&function.apply(&l))[0];
            predicted.push(model.labels()[best].clone());
        }
    }
    args.gold.report(texts.len(), &evaluate(&gold, &predicted))
}

//! `mlkit classify`: texts into a checkpoint's own labels, as transformers'
//! text-classification pipeline; `mlkit classify eval`.

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use mlkit_classify::{ranked, ScoreFunction, TextClassifier};
use mlkit_core::resolve;
use mlkit_metrics::evaluate;
use serde_json::json;

use super::gold::{read_gold, GoldArgs, GoldTexts};
use super::scored::{scored_sink, Scored, ScoredFormat};
use super::train::{self as training, TrainFlags};
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
    /// Fine-tune a model on your own labelled texts.
    Train(TrainArgs),
}

/// Fine-tune a transformer for text classification on your own labelled texts, on the CPU
/// (or a GPU with --device cuda), and save it where `mlkit classify --model DIR`, `mlkit
/// classify eval` and transformers load it.
///
/// --train and --dev are CSV files with a text column and a label column. Labels are the
/// training file's; single-label models learn a softmax over them (dev accuracy picks the
/// best epoch), --multi-label models a sigmoid per label (dev micro-F1 picks it). Texts
/// longer than --max-length tokens are cut.
#[derive(Args, Debug)]
pub struct TrainArgs {
    /// The column of texts.
    #[arg(long, default_value = "text")]
    pub text_column: String,

    /// The column of labels.
    #[arg(long, default_value = "label")]
    pub label_column: String,

    /// A text may have any number of labels, separated by --label-delimiter (none: empty).
    #[arg(long)]
    pub multi_label: bool,

    /// What separates the labels of one text with --multi-label.
    #[arg(long, default_value = ",", requires = "multi_label")]
    pub label_delimiter: String,

    #[command(flatten)]
    pub flags: TrainFlags,
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
        Some(ClassifyCommand::Train(t)) => train(t),
        None => classify(args.run),
    }
}

fn load(model: &ModelArgs) -> Result<TextClassifier> {
    let runtime = model.runtime.resolve(&model.model)?;
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
    let output = Output::create(args.io.output.as_deref())?;
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
        output,
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
    )
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

/// Epochs when --epochs is not given.
const TRAIN_EPOCHS: usize = 5;

fn train(args: TrainArgs) -> Result<()> {
    use mlkit_train::data::{Example, Target};
    use mlkit_train::Task;
    let flags = &args.flags;
    if args.multi_label && args.label_delimiter.is_empty() {
        return Err(UsageError("--label-delimiter must not be empty".into()).into());
    }
    let base = flags.base()?;
    let read = |path| {
        read_gold(
            path,
            &args.text_column,
            &args.label_column,
            args.multi_label,
        )
    };
    let (train, dev) = (read(&flags.train)?, read(&flags.dev)?);
    let split = |label: &str| -> Vec<String> {
        if args.multi_label {
            let parts = label.split(args.label_delimiter.as_str()).map(str::trim);
            parts.filter(|l| !l.is_empty()).map(String::from).collect()
        } else {
            vec![label.to_string()]
        }
    };
    let labels: Vec<String> = train
        .gold
        .iter()
        .flat_map(|g| split(g))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    if labels.is_empty() || (labels.len() < 2 && !args.multi_label) {
        return Err(UsageError(format!(
            "{}: {}; a classifier needs at least two labels (one, with --multi-label)",
            flags.train.display(),
            if labels.is_empty() {
                "no text has a label"
            } else {
                "every text has the same label"
            }
        ))
        .into());
    }
    let tokenizer = base.tokenizer(true)?;
    let examples = |data: &GoldTexts, path: &std::path::Path| -> Result<Vec<Example>> {
        let texts: Vec<&str> = data.texts.iter().map(String::as_str).collect();
        let encoded = tokenizer.encode(&texts, 0)?;
        encoded
            .into_iter()
            .zip(&data.gold)
            .enumerate()
            .map(|(row, (encoded, gold))| {
                let ids = split(gold)
                    .iter()
                    .map(|l| {
                        labels.binary_search(l).map_err(|_| {
                            UsageError(format!(
                                "{}: row {}: the label {l:?} is not in the training data ({})",
                                path.display(),
                                row + 1,
                                labels.join(", ")
                            ))
                        })
                    })
                    .collect::<std::result::Result<Vec<usize>, _>>()?;
                let target = if args.multi_label {
                    let mut t = vec![0.0; labels.len()];
                    ids.iter().for_each(|&i| t[i] = 1.0);
                    Target::Labels(t)
                } else {
                    Target::Label(ids[0] as u32)
                };
                Ok(Example { encoded, target })
            })
            .collect()
    };
    let train_examples = examples(&train, &flags.train)?;
    let dev_set = mlkit_train::dev::ClassDev {
        examples: examples(&dev, &flags.dev)?,
    };
    let task = if args.multi_label {
        Task::MultiLabel
    } else {
        Task::SingleLabel
    };
    training::run(
        flags,
        &base,
        task,
        &labels,
        &train_examples,
        &dev_set,
        &flags.settings(TRAIN_EPOCHS),
    )
}

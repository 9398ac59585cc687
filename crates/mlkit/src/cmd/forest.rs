//! `mlkit forest train|predict|eval`: random forests whose confidence is the share of trees
//! voting for a class.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::builder::RangedU64ValueParser;
use clap::{Args, Subcommand, ValueEnum};
use mlkit_forest::calibrate::Method;
use mlkit_forest::data::{column_names, encode, feature_names, read_csv, training_table, Csv};
use mlkit_forest::plot::{reliability_png, reliability_svg};
use mlkit_forest::{ClassWeight, Forest, ForestParams, MaxFeatures};
use mlkit_metrics::{argmax, evaluate, probability_scores};
use serde_json::json;

use crate::docs::{csv_row, read_text};
use crate::flags::{ReportFormat, ThreadsArg};
use crate::io::Output;
use crate::messages;
use crate::UsageError;

/// Random forests and extra trees on CSV data. A prediction's confidence is the share of
/// trees that voted for it ("35 of 100 trees voted Consumer Goods": 0.35).
///
/// Columns whose every value is a number are numeric; others are categories (coded by
/// sorted value), and columns named with --text become hashed TF-IDF features. Missing values
/// (empty, NA, NaN, null, None) go to the right branch of every split, as if larger than any
/// threshold; a category unseen in training counts as missing, a missing text as empty.
/// With --calibrate, confidences are calibrated probabilities (CalibratedClassifierCV).
#[derive(Args, Debug)]
pub struct ForestArgs {
    #[command(subcommand)]
    pub command: ForestCommand,
}

#[derive(Subcommand, Debug)]
pub enum ForestCommand {
    /// Train a forest and write it to a model file.
    Train(TrainArgs),
    /// Predict each row's class with its confidence (vote share, leaf or calibrated probability).
    Predict(PredictArgs),
    /// Accuracy, macro-F1, log loss, Brier score, ECE, confusion matrix and importances.
    Eval(EvalArgs),
}

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Training data (CSV), or - for stdin.
    pub data: PathBuf,
    /// The column to predict.
    #[arg(long)]
    pub target: String,
    /// Use only these feature columns.
    #[arg(long, value_delimiter = ',', conflicts_with = "exclude")]
    pub features: Vec<String>,
    /// Use every column but the target and these.
    #[arg(long, value_delimiter = ',')]
    pub exclude: Vec<String>,
    /// Free-text feature columns (e.g. a company description): each becomes
    /// --text-features columns of hashed TF-IDF over its words and word pairs.
    #[arg(long, value_delimiter = ',')]
    pub text: Vec<String>,
    /// Hashed TF-IDF columns per text column.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=1 << 20))]
    pub text_features: u32,
    /// The model file to write.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Trees in the forest (at most 100,000).
    #[arg(long, default_value_t = 100,
          value_parser = RangedU64ValueParser::<usize>::new().range(1..=100_000))]
    pub trees: usize,
    /// Deepest a tree grows (default: until leaves are pure); at least 1, as scikit-learn.
    #[arg(long, value_parser = RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_depth: Option<usize>,
    /// Fewest samples a node needs to be split; at least 2, as scikit-learn.
    #[arg(long, default_value_t = 2,
          value_parser = RangedU64ValueParser::<usize>::new().range(2..))]
    pub min_samples_split: usize,
    /// Fewest samples a leaf may hold; at least 1, as scikit-learn.
    #[arg(long, default_value_t = 1,
          value_parser = RangedU64ValueParser::<usize>::new().range(1..))]
    pub min_samples_leaf: usize,
    /// Features tried per split: sqrt, log2, all, a count (5) or a fraction (0.3).
    #[arg(long, default_value = "sqrt")]
    pub max_features: String,
    /// Bootstrap samples (default: on for a random forest, off for extra trees).
    #[arg(long)]
    pub bootstrap: Option<bool>,
    /// Extremely randomised trees: a random threshold per feature instead of the best.
    #[arg(long)]
    pub extra_trees: bool,
    #[arg(long, value_enum)]
    pub class_weight: Option<ClassWeight>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[command(flatten)]
    pub threads: ThreadsArg,
    /// Score the training rows on the trees that did not see them.
    #[arg(long)]
    pub oob: bool,
    /// Bins per numeric feature for the split search (2 to 255). A feature with at most this
    /// many distinct values is split exactly at midpoints; one with more at quantile bins.
    #[arg(long, default_value_t = 255, value_parser = clap::value_parser!(u16).range(2..=255))]
    pub max_bins: u16,
    /// Calibrate probabilities as scikit-learn's CalibratedClassifierCV: a forest per fold
    /// (--cv), each calibrated on its held-out rows, one class against the rest; predictions
    /// average the folds. The model then holds cv forests of --trees trees.
    #[arg(long, value_enum, conflicts_with = "oob")]
    pub calibrate: Option<Method>,
    /// Stratified folds for --calibrate.
    #[arg(long, default_value_t = 5, requires = "calibrate",
          value_parser = RangedU64ValueParser::<usize>::new().range(2..))]
    pub cv: usize,
}

#[derive(Args, Debug)]
pub struct PredictArgs {
    pub model: PathBuf,
    /// Data (CSV) with the model's feature columns, or - for stdin.
    pub data: PathBuf,
    /// Add each class's votes as "35/100".
    #[arg(long)]
    pub votes: bool,
    /// What the confidence is: `votes` (the share of trees; the default without
    /// calibration), `leaf` (scikit-learn's averaged leaf fractions) or `calibrated` (the
    /// default for a model trained with --calibrate). leaf and calibrated add proba_CLASS
    /// columns.
    #[arg(long, value_enum)]
    pub proba: Option<ProbaArg>,
    #[command(flatten)]
    pub threads: ThreadsArg,
    #[arg(short, long, value_name = "OUT")]
    pub output: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum ProbaArg {
    Votes,
    Leaf,
    Calibrated,
}

impl ProbaArg {
    /// The asked-for confidence, or the model's default (calibrated when it can be).
    fn resolve(asked: Option<ProbaArg>, forest: &Forest) -> Result<ProbaArg> {
        match asked {
            Some(ProbaArg::Calibrated) if forest.calibration.is_none() => Err(UsageError(
                "--proba calibrated: the model was trained without --calibrate".into(),
            )
            .into()),
            Some(p) => Ok(p),
            None if forest.calibration.is_some() => Ok(ProbaArg::Calibrated),
            None => Ok(ProbaArg::Votes),
        }
    }

    fn describe(self) -> &'static str {
        match self {
            ProbaArg::Votes => "vote share",
            ProbaArg::Leaf => "leaf probability",
            ProbaArg::Calibrated => "calibrated probability",
        }
    }
}

#[derive(Args, Debug)]
pub struct EvalArgs {
    pub model: PathBuf,
    /// Labelled data (CSV) with the model's target column.
    pub data: PathBuf,
    /// The confidence to score: votes, leaf or calibrated (as for predict).
    #[arg(long, value_enum)]
    pub proba: Option<ProbaArg>,
    /// Equal-width bins of top-class confidence for ECE.
    #[arg(long, default_value_t = 10, value_parser = RangedU64ValueParser::<usize>::new().range(1..))]
    pub bins: usize,
    #[command(flatten)]
    pub threads: ThreadsArg,
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    pub format: ReportFormat,
    /// Write a reliability diagram (accuracy per confidence bin, and a histogram of the
    /// confidences) to this .svg or .png file.
    #[arg(long, value_name = "FILE.svg|FILE.png")]
    pub plot: Option<PathBuf>,
}

pub fn run(args: ForestArgs) -> Result<()> {
    match args.command {
        ForestCommand::Train(a) => train(a),
        ForestCommand::Predict(a) => predict(a),
        ForestCommand::Eval(a) => eval(a),
    }
}

fn read(path: &Path) -> Result<Csv> {
    let text = read_text(path)?;
    Ok(read_csv(&path.display().to_string(), &text)?)
}

fn max_features(s: &str) -> Result<MaxFeatures> {
    Ok(match s {
        "sqrt" => MaxFeatures::Sqrt,
        "log2" => MaxFeatures::Log2,
        "all" => MaxFeatures::All,
        _ => match (s.parse::<usize>(), s.parse::<f64>()) {
            (Ok(n), _) if n > 0 => MaxFeatures::Count(n),
            (_, Ok(f)) if f > 0.0 && f <= 1.0 => MaxFeatures::Fraction(f),
            _ => {
                return Err(UsageError(format!(
                    "--max-features {s:?}: use sqrt, log2, all, a count or a fraction in (0, 1]"
                ))
                .into())
            }
        },
    })
}

fn train(args: TrainArgs) -> Result<()> {
    let csv = read(&args.data)?;
    if csv.rows.is_empty() {
        anyhow::bail!(
            "{}: no rows to train on, only a header",
            args.data.display()
        );
    }
    let names = feature_names(&csv, &args.target, &args.features, &args.exclude)?;
    let table = training_table(
        &csv,
        &args.target,
        &names,
        &args.text,
        args.text_features as usize,
    )?;
    let params = ForestParams {
        trees: args.trees,
        max_depth: args.max_depth,
        min_samples_split: args.min_samples_split,
        min_samples_leaf: args.min_samples_leaf,
        max_features: max_features(&args.max_features)?,
        bootstrap: args.bootstrap.unwrap_or(!args.extra_trees),
        extra: args.extra_trees,
        class_weight: args.class_weight.unwrap_or(ClassWeight::None),
        seed: args.seed,
        oob: args.oob,
        max_bins: args.max_bins.into(),
    };
    if params.oob && !params.bootstrap {
        return Err(UsageError("--oob needs bootstrap samples (--bootstrap true)".into()).into());
    }
    let threads = args.threads.get();
    let mut forest = match args.calibrate {
        None => Forest::fit(&table, &params, threads)?,
        Some(method) => Forest::fit_calibrated(&table, &params, method, args.cv, threads)?,
    };
    forest.target = args.target.clone();
    let mut out = Output::create(Some(&args.output))?;
    out.writer().write_all(&forest.to_bytes()?)?;
    out.finish()?;
    messages::note(format_args!(
        "{} trees on {} rows, {} feature columns, {} classes{}; wrote {}",
        forest.trees.len(),
        table.rows(),
        table.columns.len(),
        table.classes.len(),
        forest
            .oob_score
            .map(|s| format!("; out-of-bag accuracy {s:.4}"))
            .unwrap_or_default(),
        args.output.display()
    ));
    Ok(())
}

fn load(path: &Path) -> Result<Forest> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Forest::from_bytes(&bytes).with_context(|| format!("{}", path.display()))
}

/// Per row: (predicted class, confidence, votes, probabilities unless scoring votes).
type Scored = (usize, f64, Vec<u32>, Option<Vec<f64>>);

fn score(forest: &Forest, columns: &[Vec<f32>], proba: ProbaArg, threads: usize) -> Vec<Scored> {
    let scores = forest.score(columns, threads);
    let k = scores.classes;
    let n = forest.trees.len() as f64;
    let p = match proba {
        ProbaArg::Votes => None,
        ProbaArg::Leaf => Some(&scores.leaf),
        ProbaArg::Calibrated => scores.calibrated.as_ref(),
    };
    scores
        .votes
        .chunks(k)
        .enumerate()
        .map(|(r, votes)| {
            let votes = votes.to_vec();
            match p {
                None => {
                    let best = argmax(&votes);
                    (best, votes[best] as f64 / n, votes, None)
                }
                Some(p) => {
                    let p = p[r * k..(r + 1) * k].to_vec();
                    let best = argmax(&p);
                    (best, p[best], votes, Some(p))
                }
            }
        })
        .collect()
}

/// Encodes the data with the model's schema; columns the model does not use are named on
/// stderr (predict still copies them to its output).
fn encode_for(forest: &Forest, csv: &Csv, data: &Path) -> Result<Vec<Vec<f32>>> {
    let columns = encode(csv, &forest.features)?;
    let unused: Vec<&str> = csv
        .header
        .iter()
        .filter(|h| **h != forest.target && !forest.features.iter().any(|f| &f.name == *h))
        .map(String::as_str)
        .collect();
    if !unused.is_empty() {
        messages::note(format_args!(
            "{}: columns the model does not use: {}",
            data.display(),
            unused.join(", ")
        ));
    }
    Ok(columns)
}

fn predict(args: PredictArgs) -> Result<()> {
    let forest = load(&args.model)?;
    let csv = read(&args.data)?;
    let columns = encode_for(&forest, &csv, &args.data)?;
    let proba = ProbaArg::resolve(args.proba, &forest)?;
    let mut output = Output::create(args.output.as_deref())?;
    let out = output.writer();
    let mut header: csv::StringRecord = csv.header.iter().collect();
    header.push_field("prediction");
    header.push_field("confidence");
    for c in &forest.classes {
        if args.votes {
            header.push_field(&format!("votes_{c}"));
        }
    }
    for c in &forest.classes {
        if proba != ProbaArg::Votes {
            header.push_field(&format!("proba_{c}"));
        }
    }
    out.write_all(&csv_row(None, &header)?)?;
    let n = forest.trees.len();
    for (row, (best, conf, votes, proba)) in
        csv.rows
            .iter()
            .zip(score(&forest, &columns, proba, args.threads.get()))
    {
        let mut rec: csv::StringRecord = row.iter().collect();
        rec.push_field(&forest.classes[best]);
        rec.push_field(&format!("{conf:.4}"));
        if args.votes {
            for v in &votes {
                rec.push_field(&format!("{v}/{n}"));
            }
        }
        if let Some(p) = proba {
            for x in p {
                rec.push_field(&format!("{x:.6}"));
            }
        }
        out.write_all(&csv_row(None, &rec)?)?;
    }
    output.finish()
}

fn eval(args: EvalArgs) -> Result<()> {
    let forest = load(&args.model)?;
    let csv = read(&args.data)?;
    if csv.rows.is_empty() {
        anyhow::bail!(
            "{}: no rows to evaluate, only a header",
            args.data.display()
        );
    }
    let t = csv
        .header
        .iter()
        .position(|h| *h == forest.target)
        .ok_or_else(|| {
            UsageError(format!(
                "{}: no target column {:?}, which the model was trained to predict",
                args.data.display(),
                forest.target
            ))
        })?;
    let columns = encode_for(&forest, &csv, &args.data)?;
    let proba_arg = ProbaArg::resolve(args.proba, &forest)?;
    let scored = score(&forest, &columns, proba_arg, args.threads.get());
    let gold: Vec<String> = csv.rows.iter().map(|r| r[t].trim().to_string()).collect();
    let predicted: Vec<String> = scored.iter().map(|s| forest.classes[s.0].clone()).collect();
    let e = evaluate(&gold, &predicted);
    // Probabilities over the model's classes; a gold label the model never saw has none.
    let n = forest.trees.len() as f64;
    let (mut proba, mut truth) = (Vec::new(), Vec::new());
    for (s, g) in scored.iter().zip(&gold) {
        if let Some(k) = forest.classes.iter().position(|c| c == g) {
            proba.push(
                s.3.clone()
                    .unwrap_or_else(|| s.2.iter().map(|&v| v as f64 / n).collect()),
            );
            truth.push(k);
        }
    }
    let p = probability_scores(&proba, &truth, args.bins);
    if let Some(path) = &args.plot {
        let title = format!("Reliability of the {}", proba_arg.describe());
        let bytes = match path.extension().and_then(|e| e.to_str()) {
            Some("svg") => reliability_svg(&p.bins, &title, p.ece).into_bytes(),
            Some("png") => reliability_png(&p.bins, &title, p.ece)?,
            _ => {
                return Err(UsageError(format!(
                    "--plot {}: name the file .svg or .png",
                    path.display()
                ))
                .into())
            }
        };
        let mut out = Output::create(Some(path))?;
        out.writer().write_all(&bytes)?;
        out.finish()?;
    }
    let importances: Vec<(String, f64)> = {
        let mut v: Vec<(String, f64)> = column_names(&forest.features)
            .into_iter()
            .zip(forest.importances.iter().copied())
            .collect();
        v.sort_by(|a, b| b.1.total_cmp(&a.1));
        v
    };
    let mut out = std::io::stdout().lock();
    if args.format == ReportFormat::Json {
        writeln!(
            out,
            "{}",
            json!({
                "rows": gold.len(),
                "confidence": proba_arg.describe(),
                "accuracy": e.accuracy,
                "macro_f1": e.macro_f1,
                "log_loss": p.log_loss,
                "brier": p.brier,
                "ece": p.ece,
                "reliability": p.bins.iter().map(|b| json!({"confidence": b.0, "accuracy": b.1, "rows": b.2})).collect::<Vec<_>>(),
                "labels": e.labels,
                "confusion_matrix": e.matrix,
                "importances": importances.iter().map(|(n, v)| json!({"feature": n, "importance": v})).collect::<Vec<_>>(),
                "oob_score": forest.oob_score,
            })
        )?;
        return Ok(());
    }
    writeln!(out, "rows        {}", gold.len())?;
    writeln!(out, "accuracy    {:.4}", e.accuracy)?;
    writeln!(out, "macro-F1    {:.4}", e.macro_f1)?;
    writeln!(out, "log loss    {:.4}", p.log_loss)?;
    writeln!(out, "Brier       {:.4}", p.brier)?;
    writeln!(
        out,
        "ECE         {:.4}  ({} bins of {})",
        p.ece,
        args.bins,
        proba_arg.describe()
    )?;
    if let Some(s) = forest.oob_score {
        writeln!(out, "OOB score   {s:.4}")?;
    }
    if let Some(c) = &forest.calibration {
        writeln!(out, "calibration {:?}, {} folds", c.method, c.folds.len())?;
    }
    writeln!(out, "\nconfusion (rows gold, columns predicted)")?;
    out.write_all(e.confusion_table("", 6).as_bytes())?;
    writeln!(out, "\nimportance (mean decrease in impurity)")?;
    for (name, v) in importances.iter().take(15) {
        writeln!(out, "{v:8.4}  {name}")?;
    }
    Ok(())
}

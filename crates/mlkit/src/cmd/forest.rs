//! `mlkit forest train|predict|eval`: random forests whose confidence is the share of trees
//! voting for a class.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::builder::RangedU64ValueParser;
use clap::{ArgAction, Args, Subcommand, ValueEnum};
use mlkit_core::device::RunOptions;
use mlkit_core::{resolve, EmbedOptions, Embedder};
use mlkit_forest::calibrate::Method;
use mlkit_forest::data::{
    cell_text, column_names, encode, feature_names, read_csv_threaded, training_table, Csv,
    Embedded, EmbeddingModel, Encoding, TextFeatures,
};
use mlkit_forest::matrix::Matrix;
use mlkit_forest::plot::{reliability_png, reliability_svg};
use mlkit_forest::text::{DocFreq, TextOptions};
use mlkit_forest::{blocks, parallel_map, ClassWeight, Forest, ForestParams, MaxFeatures};
use mlkit_metrics::{argmax, evaluate, probability_scores};
use serde_json::json;

use crate::docs::read_text;
use crate::flags::{ReportFormat, ThreadsArg};
use crate::io::Output;
use crate::messages;
use crate::UsageError;

/// Random forests and extra trees on CSV data. A prediction's confidence is the share of
/// trees that voted for it ("35 of 100 trees voted Consumer Goods": 0.35).
///
/// Columns whose every value is a number are numeric; others are categories (coded by
/// sorted value); columns named with --text become sparse TF-IDF features and columns named
/// with --embed sentence embeddings. Missing values (empty, NA, NaN, null, None) go to the
/// right branch of every split, as if larger than any threshold; a category unseen in
/// training counts as missing, a missing text as empty.
/// With --calibrate, confidences are calibrated probabilities (CalibratedClassifierCV).
#[derive(Args, Debug)]
pub struct ForestArgs {
    #[command(subcommand)]
    pub command: ForestCommand,
}

#[derive(Subcommand, Debug)]
pub enum ForestCommand {
    /// Train a forest and write it to a model file.
    Train(Box<TrainArgs>),
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
    /// Free-text feature columns (e.g. a company description): each becomes sparse TF-IDF
    /// features, one per term of a vocabulary learnt from the training texts. The defaults
    /// are scikit-learn's TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True),
    /// not its own defaults (words alone, min_df=1, raw counts): word pairs and sublinear
    /// counts classify short texts better. --text-hash hashes terms instead.
    #[arg(long, value_delimiter = ',')]
    pub text: Vec<String>,
    /// Word n-grams of --text columns: MIN,MAX words (1,1 for single words).
    #[arg(long, default_value = "1,2", value_parser = ngram_range)]
    pub ngram: (usize, usize),
    /// Drop terms found in fewer training texts than this: a count (2) or a share (0.01).
    #[arg(long, default_value = "2", value_parser = doc_freq)]
    pub min_df: DocFreq,
    /// Drop terms found in more training texts than this: a count or a share (0.5).
    #[arg(long, default_value = "1.0", value_parser = doc_freq)]
    pub max_df: DocFreq,
    /// Keep at most this many terms per text column, the most frequent overall.
    #[arg(long, value_parser = RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_text_features: Option<usize>,
    /// Weigh a term by 1 + ln(count) instead of its count in the text.
    #[arg(long, default_value_t = true, action = ArgAction::Set)]
    pub sublinear_tf: bool,
    /// Hash terms into this many buckets (HashingVectorizer) instead of learning a
    /// vocabulary: a fixed width whatever the data, at the cost of colliding terms (1,024
    /// buckets lose about 16 points of accuracy on news topics).
    #[arg(long, alias = "text-features", value_parser = clap::value_parser!(u32).range(1..=1 << 20),
          conflicts_with_all = ["min_df", "max_df", "max_text_features"])]
    pub text_hash: Option<u32>,
    /// Text columns to turn into sentence embeddings, one numeric feature per dimension (as
    /// the notes' ExtraTrees on Sentence-BERT vectors). Texts longer than the model's limit
    /// are cut to it, as sentence-transformers does; a missing text is embedded as empty.
    /// A column may be both --text and --embed.
    #[arg(long, value_delimiter = ',')]
    pub embed: Vec<String>,
    /// The embedding model for --embed: a bundled name, a directory, a .gguf file or a
    /// Hugging Face repo id. The model file records its name and weights hash, and predict
    /// and eval embed with it.
    #[arg(long, default_value = "all-MiniLM-L6-v2")]
    pub embed_model: String,
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
    /// Data (CSV) with the model's feature columns, or - for stdin; several files (e.g.
    /// data/part-*.csv) are one table, their headers checked to match.
    #[arg(required = true)]
    pub data: Vec<PathBuf>,
    #[command(flatten)]
    pub embed: EmbedModelArg,
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

/// `--embed-model` of predict and eval.
#[derive(Args, Debug)]
pub struct EmbedModelArg {
    /// Where to find the embedding model of a forest trained with --embed, when not where
    /// its name (recorded in the model file) says: its weights must be the same (checked by
    /// their hash).
    #[arg(long)]
    pub embed_model: Option<String>,
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
    /// Labelled data (CSV) with the model's target column; several files are one table.
    #[arg(required = true)]
    pub data: Vec<PathBuf>,
    #[command(flatten)]
    pub embed: EmbedModelArg,
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
        ForestCommand::Train(a) => train(*a),
        ForestCommand::Predict(a) => predict(a),
        ForestCommand::Eval(a) => eval(a),
    }
}

/// A CSV file, read on `threads` threads where it can be.
fn read(path: &Path, threads: usize) -> Result<Csv> {
    let text = read_text(path)?;
    Ok(read_csv_threaded(
        &path.display().to_string(),
        &text,
        threads,
    )?)
}

/// One table from several CSV files (Spark's part-*.csv), rows in the order of the files:
/// each header must be the first's. Empty files (no bytes, as Spark may write for an empty
/// partition) are passed over. Errors about a row name its part and line.
fn read_parts(paths: &[PathBuf], threads: usize) -> Result<Csv> {
    if let [path] = paths {
        return read(path, threads);
    }
    let mut table: Option<Csv> = None;
    for path in paths {
        if path.as_os_str() != "-" && std::fs::metadata(path).is_ok_and(|m| m.len() == 0) {
            continue;
        }
        let mut part = read(path, threads)?;
        match &mut table {
            None => {
                part.parts.push((0, part.name.clone()));
                table = Some(part);
            }
            Some(t) if t.header != part.header => {
                anyhow::bail!(crate::parts::header_mismatch(
                    &part.name,
                    &part.header.join(","),
                    &t.name,
                    &t.header.join(",")
                ))
            }
            Some(t) => {
                t.parts.push((t.rows.len(), part.name));
                t.rows.extend(part.rows);
            }
        }
    }
    let mut table = table.ok_or_else(|| anyhow::anyhow!("every input file is empty"))?;
    let (first, last) = (paths[0].display(), paths[paths.len() - 1].display());
    table.name = format!("{first} … {last} ({} files)", paths.len());
    Ok(table)
}

/// `--ngram MIN,MAX`.
fn ngram_range(s: &str) -> std::result::Result<(usize, usize), String> {
    let parse = |x: &str| {
        x.trim()
            .parse::<usize>()
            .ok()
            .filter(|&n| (1..=10).contains(&n))
    };
    let range = match s.split_once(',') {
        Some((a, b)) => parse(a).zip(parse(b)),
        None => parse(s).map(|n| (n, n)),
    };
    match range {
        Some((a, b)) if a <= b => Ok((a, b)),
        _ => Err(format!(
            "{s:?}: give MIN,MAX word counts from 1 to 10, MIN first (e.g. 1,2)"
        )),
    }
}

/// `--min-df`/`--max-df`: a count of texts (an integer) or a share of them (0.0 to 1.0), as
/// scikit-learn reads an int or a float.
fn doc_freq(s: &str) -> std::result::Result<DocFreq, String> {
    let s = s.trim();
    if let Ok(n) = s.parse::<usize>() {
        return Ok(DocFreq::Count(n));
    }
    match s.parse::<f64>() {
        Ok(f) if (0.0..=1.0).contains(&f) => Ok(DocFreq::Fraction(f)),
        _ => Err(format!(
            "{s:?}: give a count of texts (2) or a share of them from 0.0 to 1.0 (0.5)"
        )),
    }
}

/// Embeds each of `columns` of the data with the model `spec` (texts cut to its limit, a
/// missing text as empty), on `threads` threads; `expect` is the model a forest was trained
/// with, whose weights must be the same.
fn embed_columns(
    csv: &Csv,
    columns: &[String],
    spec: &str,
    expect: Option<&EmbeddingModel>,
    threads: usize,
) -> Result<Vec<Embedded>> {
    if columns.is_empty() {
        return Ok(Vec::new());
    }
    let files = resolve(spec)?;
    let hash = files.weights_hash()?;
    if let Some(m) = expect.filter(|m| m.hash != hash) {
        return Err(UsageError(format!(
            "the forest was trained on embeddings from {} ({}), but {spec} is {hash}; pass \
             --embed-model with the model it was trained with",
            m.name, m.hash
        ))
        .into());
    }
    let opts = EmbedOptions {
        run: RunOptions {
            workers: threads,
            ..RunOptions::default()
        },
        truncate: true,
        ..EmbedOptions::default()
    };
    let embedder = Embedder::load(&files, &opts)
        .with_context(|| format!("cannot load model {}", files.origin))?;
    let model = EmbeddingModel {
        name: expect.map_or_else(|| spec.to_string(), |m| m.name.clone()),
        hash,
        dim: embedder.dim(),
    };
    columns
        .iter()
        .map(|name| {
            let c = csv.header.iter().position(|h| h == name).ok_or_else(|| {
                // Data that lacks a column the model needs, worded as `encode` words it.
                anyhow::anyhow!(
                    "{}: the model needs columns that are not in the data: {name}",
                    csv.name
                )
            })?;
            messages::note(format_args!(
                "embedding {} texts of column {name:?} with {spec}",
                csv.rows.len()
            ));
            let texts: Vec<&str> = csv.rows.iter().map(|r| cell_text(&r[c])).collect();
            let vectors = embedder.embed(&texts, 0)?.concat();
            Ok(Embedded {
                column: name.clone(),
                model: model.clone(),
                vectors,
            })
        })
        .collect()
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
    let csv = read(&args.data, args.threads.get())?;
    if csv.rows.is_empty() {
        anyhow::bail!(
            "{}: no rows to train on, only a header",
            args.data.display()
        );
    }
    let names = feature_names(&csv, &args.target, &args.features, &args.exclude)?;
    if let Some(c) = args.embed.iter().find(|c| !names.contains(c)) {
        return Err(UsageError(format!(
            "--embed {c}: the column is not among the feature columns"
        ))
        .into());
    }
    let threads = args.threads.get();
    let embedded = embed_columns(&csv, &args.embed, &args.embed_model, None, threads)?;
    let text = TextFeatures {
        tfidf: &args.text,
        options: TextOptions {
            ngram: args.ngram,
            min_df: args.min_df,
            max_df: args.max_df,
            max_features: args.max_text_features,
            sublinear_tf: args.sublinear_tf,
            hash: args.text_hash.map(|n| n as usize),
        },
        embedded: &embedded,
    };
    let table = training_table(&csv, &args.target, &names, &text, threads)?;
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
        table.matrix.width(),
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

fn score(forest: &Forest, matrix: &Matrix, proba: ProbaArg, threads: usize) -> Result<Vec<Scored>> {
    let scores = forest.score(matrix, threads)?;
    let k = scores.classes;
    let n = forest.trees.len() as f64;
    let p = match proba {
        ProbaArg::Votes => None,
        ProbaArg::Leaf => Some(&scores.leaf),
        ProbaArg::Calibrated => scores.calibrated.as_ref(),
    };
    Ok(scores
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
        .collect())
}

/// Encodes the data with the model's schema (embedding its embedded columns with the model
/// it was trained with, or `embed_model` holding the same weights); columns the model does
/// not use are named on stderr (predict still copies them to its output).
fn encode_for(
    forest: &Forest,
    csv: &Csv,
    embed_model: &EmbedModelArg,
    threads: usize,
) -> Result<Matrix> {
    // Each embedding model is loaded (and its weights hashed) once, for all its columns.
    let mut by_model: Vec<(&EmbeddingModel, Vec<String>)> = Vec::new();
    for f in &forest.features {
        if let Encoding::Embedding(m) = &f.encoding {
            match by_model.iter_mut().find(|(seen, _)| *seen == m) {
                Some((_, names)) => names.push(f.name.clone()),
                None => by_model.push((m, vec![f.name.clone()])),
            }
        }
    }
    let mut embedded = Vec::new();
    for (m, names) in by_model {
        let spec = embed_model.embed_model.as_deref().unwrap_or(&m.name);
        embedded.extend(embed_columns(csv, &names, spec, Some(m), threads)?);
    }
    let columns = encode(csv, &forest.features, &embedded, threads)?;
    let unused: Vec<&str> = csv
        .header
        .iter()
        .filter(|h| **h != forest.target && !forest.features.iter().any(|f| &f.name == *h))
        .map(String::as_str)
        .collect();
    if !unused.is_empty() {
        messages::note(format_args!(
            "{}: columns the model does not use: {}",
            csv.name,
            unused.join(", ")
        ));
    }
    Ok(columns)
}

/// The model and the data, read at the same time (each is a large file to parse).
fn load_both(model: &Path, data: &[PathBuf], threads: usize) -> Result<(Forest, Csv)> {
    std::thread::scope(|scope| {
        let forest = scope.spawn(|| load(model));
        let csv = read_parts(data, threads);
        let forest = forest.join().expect("the model reading thread panicked");
        Ok((forest?, csv?))
    })
}

fn predict(args: PredictArgs) -> Result<()> {
    let threads = args.threads.get();
    let (forest, csv) = load_both(&args.model, &args.data, threads)?;
    let columns = encode_for(&forest, &csv, &args.embed, threads)?;
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
    let mut w = csv::Writer::from_writer(&mut *out);
    w.write_record(&header)?;
    w.flush()?;
    drop(w);
    let scored = score(&forest, &columns, proba, threads)?;
    // Rows are formatted a block per thread (formatting numbers and quoting fields cost
    // as much as scoring), written in order, a few blocks in memory at a time.
    const BLOCK: usize = 4096;
    let n = forest.trees.len();
    let format_block = |&(start, end): &(usize, usize)| -> std::io::Result<Vec<u8>> {
        let mut w = csv::Writer::from_writer(Vec::new());
        let mut cell = String::new();
        let mut field = |w: &mut csv::Writer<Vec<u8>>, args: std::fmt::Arguments| {
            use std::fmt::Write as _;
            cell.clear();
            let _ = cell.write_fmt(args);
            w.write_field(&cell)
        };
        for (row, (best, conf, votes, proba)) in
            csv.rows[start..end].iter().zip(&scored[start..end])
        {
            for f in row {
                w.write_field(f)?;
            }
            w.write_field(&forest.classes[*best])?;
            field(&mut w, format_args!("{conf:.4}"))?;
            if args.votes {
                for v in votes {
                    field(&mut w, format_args!("{v}/{n}"))?;
                }
            }
            if let Some(p) = proba {
                for x in p {
                    field(&mut w, format_args!("{x:.6}"))?;
                }
            }
            w.write_record(None::<&[u8]>)?;
        }
        w.into_inner().map_err(|e| e.into_error())
    };
    for group in blocks(csv.rows.len(), BLOCK).chunks(2 * threads) {
        for bytes in parallel_map(group, threads, format_block) {
            out.write_all(&bytes?)?;
        }
    }
    output.finish()
}

fn eval(args: EvalArgs) -> Result<()> {
    let (forest, csv) = load_both(&args.model, &args.data, args.threads.get())?;
    if csv.rows.is_empty() {
        anyhow::bail!("{}: no rows to evaluate, only a header", csv.name);
    }
    let t = csv
        .header
        .iter()
        .position(|h| *h == forest.target)
        .ok_or_else(|| {
            UsageError(format!(
                "{}: no target column {:?}, which the model was trained to predict",
                csv.name, forest.target
            ))
        })?;
    let threads = args.threads.get();
    let columns = encode_for(&forest, &csv, &args.embed, threads)?;
    let proba_arg = ProbaArg::resolve(args.proba, &forest)?;
    let scored = score(&forest, &columns, proba_arg, threads)?;
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

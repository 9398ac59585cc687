//! `mlkit ner`: named entities in text files, JSONL fields or CSV columns; `mlkit ner eval`.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use mlkit_core::resolve;
use mlkit_ner::format::{self, entity_type};
use mlkit_ner::seqeval::{evaluate, read_conll};
use mlkit_ner::{Aggregation, Entity, NerModel, NerOptions};
use serde_json::json;

use super::train::{self as training, TrainFlags};
use crate::docs::{id_text, read_text, Doc};
use crate::flags::{score, DocArgs, IoArgs, ModelArgs, ReportFormat};
use crate::io::Output;
use crate::pipeline::run_documents;
use crate::progress::Progress;
use crate::sink::{CsvSink, JsonlSink, LineSink, Outcome, PageSink, Sink, TableRows, TableSink};
use crate::UsageError;

/// Find named entities (people, organisations, places, ...) with a token-classification
/// model: the bundled English CoNLL-2003 model by default, or any Hugging Face checkpoint.
///
/// Long documents are read in overlapping windows (--stride); nothing is cut. Entities'
/// start and end are character offsets into the original text.
#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct NerArgs {
    #[command(subcommand)]
    pub command: Option<NerCommand>,

    #[command(flatten)]
    pub tag: TagArgs,
}

#[derive(Subcommand, Debug)]
pub enum NerCommand {
    /// Entity-level precision, recall and F1 against a CoNLL file (as seqeval computes them).
    Eval(EvalArgs),
    /// Fine-tune a model to find your own entity types, from CoNLL or JSONL span data.
    Train(TrainArgs),
}

/// Fine-tune a transformer for NER on your own labelled data, on the CPU (or a GPU with
/// --device cuda), and save it where `mlkit ner --model DIR` and transformers load it.
///
/// --train and --dev are CoNLL files (a token a line, its tag in the last column of IOB1,
/// IOB2 or IOBES tags, blank lines between sentences) or, when named .jsonl, one JSON
/// object a line: {"text": "...", "entities": [{"start": 0, "end": 5, "label": "PER"}]}
/// with character offsets (spaCy's and Argilla's export). Each word's first sub-token
/// carries its label (IOB2); dev is scored with seqeval's entity F1 after every epoch and
/// the best epoch is kept.
#[derive(Args, Debug)]
pub struct TrainArgs {
    #[command(flatten)]
    pub flags: TrainFlags,
}

/// The bundled English CoNLL-2003 model.
const DEFAULT_MODEL: &str = "conll03-ner-minilm";

#[derive(Args, Debug)]
pub struct ModelArg {
    /// Tokens shared by consecutive windows of a long text (default: a quarter of the
    /// model's maximum length).
    #[arg(long)]
    pub stride: Option<usize>,

    #[command(flatten)]
    pub model: ModelArgs,
}

#[derive(Args, Debug)]
#[command(mut_arg("model", |a| a.default_value(DEFAULT_MODEL).required(false)))]
pub struct TagArgs {
    #[command(flatten)]
    pub io: IoArgs,

    #[command(flatten)]
    pub docs: DocArgs,

    /// Output format (default: pretty on a terminal, else jsonl; csv for --column, which
    /// adds an entities column of JSON; html for an .html output).
    #[arg(long, value_enum)]
    pub format: Option<NerFormat>,

    /// How tokens become entities, as transformers' aggregation_strategy.
    #[arg(long, value_enum, default_value_t = Aggregation::Simple)]
    pub aggregation: Aggregation,

    /// Drop entities scored below this.
    #[arg(long, default_value_t = 0.0, value_parser = score)]
    pub min_score: f32,

    /// Keep only these entity types, e.g. PER,ORG.
    #[arg(long, value_delimiter = ',')]
    pub labels: Vec<String>,

    #[command(flatten)]
    pub model: ModelArg,
}

#[derive(Args, Debug)]
#[command(mut_arg("model", |a| a.default_value(DEFAULT_MODEL).required(false)))]
pub struct EvalArgs {
    /// Gold CoNLL file: a token a line, its tag in a column, blank lines between sentences.
    #[arg(long)]
    pub gold: PathBuf,

    /// The tag column, counted from 0 (default: the last column of IOB tags).
    #[arg(long)]
    pub tag_column: Option<usize>,

    /// table or json.
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    pub format: ReportFormat,

    #[command(flatten)]
    pub model: ModelArg,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum NerFormat {
    Pretty,
    Jsonl,
    /// The input CSV (or id,text) with an entities column of JSON.
    Csv,
    Hf,
    Conll,
    Spacy,
    Html,
}

/// Documents are tagged up to this many at a time: their windows share length-sorted batches
/// (4096 rather than 512: 27 s instead of 31 s on the CoNLL test sentences, less padding).
const CHUNK: usize = 4096;

fn load(args: &ModelArg) -> Result<NerModel> {
    let opts = NerOptions {
        run: args.model.runtime.resolve(&args.model.model)?,
        stride: args.stride,
    };
    let files = resolve(&args.model.model)?;
    NerModel::load(&files, &opts).map_err(|e| {
        // A usage error (a stride too long for the model) says all there is to say.
        let usage = e.is_usage();
        let e = anyhow::Error::from(e);
        if usage {
            e
        } else {
            e.context(format!("cannot load model {}", files.origin))
        }
    })
}

pub fn run(args: NerArgs) -> Result<()> {
    match args.command {
        Some(NerCommand::Eval(e)) => eval(e),
        Some(NerCommand::Train(t)) => train(t),
        None => tag(args.tag),
    }
}

fn tag(args: TagArgs) -> Result<()> {
    args.docs.check()?;
    let format = args.format.unwrap_or_else(|| match &args.io.output {
        Some(p) if p.extension().is_some_and(|e| e == "html" || e == "htm") => NerFormat::Html,
        _ if args.docs.records.column.is_some() => NerFormat::Csv,
        Some(_) => NerFormat::Jsonl,
        None if std::io::stdout().is_terminal() => NerFormat::Pretty,
        None => NerFormat::Jsonl,
    });
    let model = load(&args.model)?;
    // A type the model does not have would silently keep nothing.
    let types: std::collections::BTreeSet<&str> =
        model.labels().iter().map(|l| entity_type(l)).collect();
    if let Some(unknown) = args.labels.iter().find(|l| !types.contains(l.as_str())) {
        let known: Vec<&str> = types.into_iter().filter(|t| *t != "O").collect();
        return Err(UsageError(format!(
            "--labels {unknown}: the model has no such entity type; it has {}",
            known.join(", ")
        ))
        .into());
    }
    let strategy = args.aggregation;
    let output = Output::create(args.io.output.as_deref())?;
    let mut sink = sink_for(format, strategy);
    let wanted = |e: &Entity| {
        e.score >= args.min_score
            && (args.labels.is_empty() || args.labels.iter().any(|l| l == entity_type(&e.label)))
    };
    run_documents(
        &args.io,
        &args.docs,
        CHUNK,
        &mut *sink,
        output,
        |path, _, batch| {
            let texts: Vec<&str> = batch.iter().map(|d| d.text.as_str()).collect();
            let found = model
                .entities(&texts, strategy, &["O"])
                .with_context(|| format!("{}: tagging failed", path.display()))?;
            let kept = found
                .into_iter()
                .map(|entities| Found(entities.into_iter().filter(wanted).collect()))
                .collect();
            Ok((kept, None))
        },
    )
}

/// One document's entities.
struct Found(Vec<Entity>);

impl Outcome for Found {
    const CSV_COLUMNS: &'static [&'static str] = &["entities"];

    fn json_fields(&self, doc: &Doc) -> Vec<(&'static str, String)> {
        vec![("entities", self.csv_cells(doc).concat())]
    }

    fn csv_cells(&self, doc: &Doc) -> Vec<String> {
        vec![format::jsonl(&doc.id, &doc.text, &self.0)["entities"].to_string()]
    }
}

impl TableRows for Found {
    const TABLE_HEADER: &'static [&'static str] = &["id", "label", "score", "text"];

    fn table_rows(&self, doc: &Doc) -> Vec<Vec<String>> {
        format::pretty_rows(&id_text(&doc.id), &doc.text, &self.0)
            .into_iter()
            .map(Vec::from)
            .collect()
    }
}

/// The sink `--format` asks for.
fn sink_for(format: NerFormat, strategy: Aggregation) -> Box<dyn Sink<Found>> {
    match format {
        NerFormat::Jsonl => Box::new(JsonlSink),
        NerFormat::Csv => Box::new(CsvSink::default()),
        NerFormat::Pretty => Box::new(TableSink::default()),
        NerFormat::Hf => Box::new(LineSink(move |_: &Doc, f: &Found| {
            Ok(format!("{}\n", format::hf(&f.0, strategy)))
        })),
        NerFormat::Conll => Box::new(LineSink(|doc: &Doc, f: &Found| {
            Ok(format::conll(&doc.text, &f.0))
        })),
        NerFormat::Spacy => Box::new(LineSink(|doc: &Doc, f: &Found| {
            Ok(format!("{}\n", format::spacy(&doc.text, &f.0)))
        })),
        NerFormat::Html => Box::new(PageSink {
            body: String::new(),
            part: |doc: &Doc, f: &Found| format::html_doc(&doc.text, &f.0),
            whole: format::html_page,
        }),
    }
}

fn eval(args: EvalArgs) -> Result<()> {
    let text = read_text(&args.gold)?;
    let gold = read_conll(&args.gold, &text, args.tag_column)?;
    if gold.words.is_empty() {
        anyhow::bail!("{}: no sentences", args.gold.display());
    }
    let model = load(&args.model)?;
    let started = Instant::now();
    let mut predicted = Vec::with_capacity(gold.words.len());
    let mut progress = Progress::new("sentences", Some(gold.words.len()));
    for chunk in gold.words.chunks(CHUNK) {
        predicted.extend(model.word_tags(chunk)?);
        progress.add(chunk.len());
    }
    let seconds = started.elapsed().as_secs_f64();
    progress.finish();
    let report = evaluate(&gold.tags, &predicted);
    let words: usize = gold.words.iter().map(Vec::len).sum();
    let mut out = std::io::stdout().lock();
    match args.format {
        ReportFormat::Json => {
            let v = json!({
                "model": args.model.model.model,
                "sentences": gold.words.len(),
                "words": words,
                "seconds": seconds,
                "words_per_second": words as f64 / seconds,
                "overall": report.overall,
                "per_type": report.per_type,
            });
            writeln!(out, "{v}")?;
        }
        ReportFormat::Table => {
            let row = |name: &str, s: &mlkit_ner::seqeval::Scores| {
                format!(
                    "{name:<10} {:>9.4} {:>9.4} {:>9.4} {:>9}\n",
                    s.precision, s.recall, s.f1, s.support
                )
            };
            let mut t = format!(
                "{:<10} {:>9} {:>9} {:>9} {:>9}\n",
                "type", "precision", "recall", "f1", "support"
            );
            for (ty, s) in &report.per_type {
                t.push_str(&row(ty, s));
            }
            t.push_str(&row("micro avg", &report.overall));
            t.push_str(&format!(
                "\n{} sentences, {words} words in {seconds:.1} s ({:.0} words/s)\n",
                gold.words.len(),
                words as f64 / seconds
            ));
            out.write_all(t.as_bytes())?;
        }
    }
    Ok(())
}

/// Epochs when --epochs is not given: the bundled model's recipe.
const TRAIN_EPOCHS: usize = 20;

fn train(args: TrainArgs) -> Result<()> {
    use mlkit_train::data::{encode_ner, ner_labels, parse_ner};
    let flags = &args.flags;
    let base = flags.base()?;
    // Read as every input is: a byte-order mark dropped, bad UTF-8 named by its line.
    let read = |path: &PathBuf| -> Result<_> { Ok(parse_ner(path, &read_text(path)?)?) };
    let (train, dev) = (read(&flags.train)?, read(&flags.dev)?);
    let labels = ner_labels(&train);
    if labels.len() < 2 {
        return Err(UsageError(format!(
            "{}: no entity is tagged; a model cannot learn entity types from it",
            flags.train.display()
        ))
        .into());
    }
    let tokenizer = base.tokenizer(false)?;
    let encode = |data, path: &PathBuf| {
        let what = path.display().to_string();
        encode_ner(tokenizer.inner(), data, &labels, base.max_len, &what)
    };
    let examples = encode(&train, &flags.train)?
        .into_iter()
        .map(|w| w.example)
        .collect::<Vec<_>>();
    let dev_set = mlkit_train::dev::NerDev::new(encode(&dev, &flags.dev)?, &dev, &labels);
    training::run(
        flags,
        &base,
        mlkit_train::Task::Tokens,
        &labels,
        &examples,
        &dev_set,
        &flags.settings(TRAIN_EPOCHS),
    )
}

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
use serde_json::{json, Value};

use super::runtime::RuntimeArgs;
use crate::batches::Batches;
use crate::docs::{csv_row, id_text, read_text, Doc, DocArgs, DocReader, IoArgs, Record};
use crate::io::Output;
use crate::progress::Progress;
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
}

#[derive(Args, Debug)]
pub struct ModelArg {
    /// A model directory, a .gguf file, a bundled model name, or a Hugging Face repo
    /// id[@revision] (HF_HOME, HF_ENDPOINT and HF_TOKEN are honoured; HF_HUB_OFFLINE=1 uses the
    /// cache only).
    #[arg(long, default_value = "conll03-ner-minilm")]
    pub model: String,

    /// Tokens shared by consecutive windows of a long text (default: a quarter of the
    /// model's maximum length).
    #[arg(long)]
    pub stride: Option<usize>,

    #[command(flatten)]
    pub runtime: RuntimeArgs,
}

#[derive(Args, Debug)]
pub struct TagArgs {
    #[command(flatten)]
    pub io: IoArgs,

    #[command(flatten)]
    pub docs: DocArgs,

    /// Output format (default: pretty on a terminal, else jsonl; html for an .html output).
    #[arg(long, value_enum)]
    pub format: Option<NerFormat>,

    /// How tokens become entities, as transformers' aggregation_strategy.
    #[arg(long, value_enum, default_value_t = AggregationArg::Simple)]
    pub aggregation: AggregationArg,

    /// Drop entities scored below this.
    #[arg(long, default_value_t = 0.0)]
    pub min_score: f32,

    /// Keep only these entity types, e.g. PER,ORG.
    #[arg(long, value_delimiter = ',')]
    pub labels: Vec<String>,

    #[command(flatten)]
    pub model: ModelArg,
}

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// Gold CoNLL file: a token a line, its tag in a column, blank lines between sentences.
    #[arg(long)]
    pub gold: PathBuf,

    /// The tag column, counted from 0 (default: the last column of IOB tags).
    #[arg(long)]
    pub tag_column: Option<usize>,

    /// table or json.
    #[arg(long, value_enum, default_value_t = EvalFormat::Table)]
    pub format: EvalFormat,

    #[command(flatten)]
    pub model: ModelArg,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum NerFormat {
    Pretty,
    Jsonl,
    Hf,
    Conll,
    Spacy,
    Html,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum EvalFormat {
    Table,
    Json,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum AggregationArg {
    None,
    Simple,
    First,
    Average,
    Max,
}

impl From<AggregationArg> for Aggregation {
    fn from(a: AggregationArg) -> Self {
        match a {
            AggregationArg::None => Aggregation::None,
            AggregationArg::Simple => Aggregation::Simple,
            AggregationArg::First => Aggregation::First,
            AggregationArg::Average => Aggregation::Average,
            AggregationArg::Max => Aggregation::Max,
        }
    }
}

/// Documents are tagged up to this many at a time: their windows share length-sorted batches
/// (4096 rather than 512: 27 s instead of 31 s on the CoNLL test sentences, less padding).
const CHUNK: usize = 4096;

fn load(args: &ModelArg) -> Result<NerModel> {
    let runtime = args.runtime.resolve()?;
    let opts = NerOptions {
        run: runtime,
        stride: args.stride,
    };
    let files = resolve(&args.model)?;
    NerModel::load(&files, &opts).map_err(|e| match e {
        mlkit_ner::NerError::Usage(m) => UsageError(m).into(),
        other => anyhow::Error::from(other).context(format!("cannot load model {}", files.origin)),
    })
}

pub fn run(args: NerArgs, quiet: bool) -> Result<()> {
    match args.command {
        Some(NerCommand::Eval(e)) => eval(e, quiet),
        None => tag(args.tag, quiet),
    }
}

fn tag(args: TagArgs, quiet: bool) -> Result<()> {
    args.docs.check()?;
    let format = args.format.unwrap_or_else(|| match &args.io.output {
        Some(p) if p.extension().is_some_and(|e| e == "html" || e == "htm") => NerFormat::Html,
        Some(_) => NerFormat::Jsonl,
        None if std::io::stdout().is_terminal() => NerFormat::Pretty,
        None => NerFormat::Jsonl,
    });
    if args.docs.records.column.is_some() && !matches!(format, NerFormat::Jsonl | NerFormat::Pretty)
    {
        return Err(UsageError(
            "--column writes CSV with an entities column; --format is not used with it".into(),
        )
        .into());
    }
    let model = load(&args.model)?;
    let strategy: Aggregation = args.aggregation.into();
    let mut output = Output::create(args.io.output.as_deref())?;
    let mut sink = Sink::new(format, strategy, args.docs.records.column.is_some());
    let several = args.io.inputs.len() > 1;
    let mut progress = Progress::new(quiet, "texts", None);
    for path in &args.io.inputs {
        let mut reader = DocReader::open(path, &args.docs, several)?;
        if let Some(h) = reader.header() {
            sink.csv_header(&h);
        }
        for batch in Batches::new(reader, CHUNK) {
            let batch = batch?;
            let texts: Vec<&str> = batch.iter().map(|d| d.text.as_str()).collect();
            let found = model
                .entities(&texts, strategy, &["O"])
                .with_context(|| format!("{}: tagging failed", path.display()))?;
            for (doc, entities) in batch.iter().zip(found) {
                let kept: Vec<Entity> = entities
                    .into_iter()
                    .filter(|e| e.score >= args.min_score)
                    .filter(|e| {
                        args.labels.is_empty()
                            || args.labels.iter().any(|l| l == entity_type(&e.label))
                    })
                    .collect();
                sink.write(output.writer(), doc, &kept)?;
            }
            output.writer().flush()?;
            progress.add(batch.len());
        }
    }
    progress.finish();
    sink.finish(output.writer())?;
    output.finish()
}

/// Writes documents in the chosen format; pretty and html are assembled until the end.
struct Sink {
    format: NerFormat,
    strategy: Aggregation,
    /// CSV out: the header to write before the first row (taken when written).
    csv: bool,
    csv_header: Option<csv::StringRecord>,
    rows: Vec<[String; 4]>,
    html: String,
}

impl Sink {
    fn new(format: NerFormat, strategy: Aggregation, csv: bool) -> Sink {
        Sink {
            format,
            strategy,
            csv,
            csv_header: None,
            rows: Vec::new(),
            html: String::new(),
        }
    }

    /// The first CSV input's header, with the entities column, is written once.
    fn csv_header(&mut self, headers: &csv::StringRecord) {
        if self.csv_header.is_none() {
            let mut h = headers.clone();
            h.push_field("entities");
            self.csv_header = Some(h);
        }
    }

    fn write(&mut self, out: &mut dyn Write, doc: &Doc, entities: &[Entity]) -> Result<()> {
        let text = doc.text.as_str();
        if let Record::Csv(row) = &doc.record {
            let list = format::jsonl(&doc.id, text, entities)["entities"].to_string();
            let mut row = row.clone();
            row.push_field(&list);
            out.write_all(&csv_row(self.csv_header.take().as_ref(), &row)?)?;
            return Ok(());
        }
        match self.format {
            NerFormat::Jsonl => {
                let mut v = format::jsonl(&doc.id, text, entities);
                if let Record::Json(map) = &doc.record {
                    // The input record, with the entities added.
                    let mut m = map.clone();
                    m.insert("entities".into(), v["entities"].take());
                    v = Value::Object(m);
                }
                writeln!(out, "{v}")?;
            }
            NerFormat::Hf => writeln!(out, "{}", format::hf(entities, self.strategy))?,
            NerFormat::Conll => out.write_all(format::conll(text, entities).as_bytes())?,
            NerFormat::Spacy => writeln!(out, "{}", format::spacy(text, entities))?,
            NerFormat::Pretty => {
                let id = id_text(&doc.id);
                self.rows.extend(format::pretty_rows(&id, text, entities));
            }
            NerFormat::Html => self.html.push_str(&format::html_doc(text, entities)),
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut dyn Write) -> Result<()> {
        match self.format {
            _ if self.csv => {
                // A CSV with no rows still gets its header.
                if let Some(h) = self.csv_header.take() {
                    let mut w = csv::Writer::from_writer(Vec::new());
                    w.write_record(&h)?;
                    out.write_all(
                        &w.into_inner()
                            .map_err(|e| anyhow::anyhow!("{}", e.error()))?,
                    )?;
                }
            }
            NerFormat::Pretty => out.write_all(
                format::table(&["id", "label", "score", "text"], &self.rows).as_bytes(),
            )?,
            NerFormat::Html => out.write_all(format::html_page(&self.html).as_bytes())?,
            _ => {}
        }
        Ok(())
    }
}

fn eval(args: EvalArgs, quiet: bool) -> Result<()> {
    let text = read_text(&args.gold, false)?;
    let gold = read_conll(&args.gold, &text, args.tag_column)?;
    if gold.words.is_empty() {
        anyhow::bail!("{}: no sentences", args.gold.display());
    }
    let model = load(&args.model)?;
    let started = Instant::now();
    let mut predicted = Vec::with_capacity(gold.words.len());
    let mut progress = Progress::new(quiet, "sentences", Some(gold.words.len()));
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
        EvalFormat::Json => {
            let v = json!({
                "model": args.model.model,
                "sentences": gold.words.len(),
                "words": words,
                "seconds": seconds,
                "words_per_second": words as f64 / seconds,
                "overall": report.overall,
                "per_type": report.per_type,
            });
            writeln!(out, "{v}")?;
        }
        EvalFormat::Table => {
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

//! One text's scores over labels, as `zeroshot` and `classify` write them: their formats,
//! jsonl fields, CSV columns and table rows.

use std::io::IsTerminal;

use anyhow::Result;
use clap::ValueEnum;
use serde_json::{json, Value};

use crate::docs::{id_text, Doc};
use crate::flags::{DocArgs, IoArgs};
use crate::sink::{CsvSink, JsonlSink, LineSink, Outcome, Sink, TableRows, TableSink};

/// The output formats of scores over labels; `hf` is each subcommand's pipeline's own.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum ScoredFormat {
    Pretty,
    Jsonl,
    Csv,
    Hf,
}

/// The sink of `format`, or of the default (csv for CSV input, pretty on a terminal,
/// jsonl otherwise); `hf` writes a document's line in the pipeline's own form.
pub fn scored_sink<'a>(
    format: Option<ScoredFormat>,
    io: &IoArgs,
    docs: &DocArgs,
    hf: impl FnMut(&Doc, &Scored<'a>) -> Result<String> + 'a,
) -> Box<dyn Sink<Scored<'a>> + 'a> {
    let format = format.unwrap_or(if docs.records.column.is_some() {
        ScoredFormat::Csv
    } else if io.output.is_none() && std::io::stdout().is_terminal() {
        ScoredFormat::Pretty
    } else {
        ScoredFormat::Jsonl
    });
    match format {
        ScoredFormat::Jsonl => Box::new(JsonlSink),
        ScoredFormat::Csv => Box::new(CsvSink::default()),
        ScoredFormat::Pretty => Box::new(TableSink::default()),
        ScoredFormat::Hf => Box::new(LineSink(hf)),
    }
}

/// One text's scores: every label's, all labels best first (by the subcommand's rule for
/// ties), and how many of the best are kept.
pub struct Scored<'a> {
    pub labels: &'a [String],
    pub scores: Vec<f32>,
    pub order: Vec<usize>,
    pub kept: usize,
}

impl Scored<'_> {
    /// The kept labels and their scores, best first.
    pub fn kept(&self) -> (Vec<&str>, Vec<f32>) {
        self.order[..self.kept]
            .iter()
            .map(|&i| (self.labels[i].as_str(), self.scores[i]))
            .unzip()
    }
}

impl Outcome for Scored<'_> {
    // "prediction", not "label": inputs often have a gold "label" column.
    const CSV_COLUMNS: &'static [&'static str] = &["prediction", "score", "scores"];

    fn json_fields(&self, _doc: &Doc) -> Vec<(&'static str, String)> {
        let (names, values) = self.kept();
        vec![
            ("labels", json!(names).to_string()),
            // Through a Value, as f64s: the digits zeroshot has always written.
            ("scores", json!(values).to_string()),
        ]
    }

    fn csv_cells(&self, _doc: &Doc) -> Vec<String> {
        let (names, values) = self.kept();
        let all: serde_json::Map<String, Value> = self
            .order
            .iter()
            .map(|&i| (self.labels[i].clone(), json!(self.scores[i])))
            .collect();
        vec![
            names.first().copied().unwrap_or("").to_string(),
            values
                .first()
                .map(|v| format!("{v:.6}"))
                .unwrap_or_default(),
            Value::Object(all).to_string(),
        ]
    }
}

impl TableRows for Scored<'_> {
    const TABLE_HEADER: &'static [&'static str] = &["id", "labels", "scores", "text"];

    fn table_rows(&self, doc: &Doc) -> Vec<Vec<String>> {
        let (names, values) = self.kept();
        vec![vec![
            id_text(&doc.id),
            names.join(", "),
            values
                .iter()
                .map(|v| format!("{v:.3}"))
                .collect::<Vec<_>>()
                .join(", "),
            doc.text.chars().take(60).collect(),
        ]]
    }
}

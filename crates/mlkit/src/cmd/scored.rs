//! One text's scores over labels, as `zeroshot` and `classify` write them: jsonl fields, CSV
//! columns and table rows.

use serde_json::{json, Value};

use crate::docs::{id_text, Doc};
use crate::sink::{Outcome, TableRows};

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

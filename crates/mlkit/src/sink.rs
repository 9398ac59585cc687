//! One record writer for the text subcommands (ner, zeroshot, embed): each document's result
//! goes to a `Sink` chosen once from `--format`, whatever the input was (lines, JSON Lines
//! records or CSV rows). The shared layouts behave alike in every subcommand:
//!
//! - `jsonl`: the input record (or `{"id": ...}` for a line or CSV row) with the result's
//!   fields added;
//! - `csv`: the CSV input row (or `id,text` for a line or record) with the result's columns
//!   added, under one header;
//! - `pretty`: a table for people, written at the end (its widths need every row);
//! - a subcommand's own: one line per document (`hf`, `conll`, `spacy`), a page gathered
//!   until the end (`html`), or a matrix (`npy`).

use std::io::Write;

use anyhow::Result;
use serde_json::Value;

use crate::docs::{csv_row, id_text, Doc, Record};

/// What a subcommand's result for one document looks like in JSON Lines and CSV.
pub trait Outcome {
    /// Columns added to CSV rows, in order.
    const CSV_COLUMNS: &'static [&'static str];

    /// Fields added to the document's JSON record, each as JSON text (so that f32s keep
    /// their own shortest form, which a `Value` of f64s would lengthen).
    fn json_fields(&self, doc: &Doc) -> Vec<(&'static str, String)>;
    /// Cells added to the document's CSV row, one per `CSV_COLUMNS`.
    fn csv_cells(&self, doc: &Doc) -> Vec<String>;
}

/// What a result looks like in a table (`pretty`), for the subcommands that have one.
pub trait TableRows {
    /// The table's header.
    const TABLE_HEADER: &'static [&'static str];
    /// The document's rows of the table, one cell per `TABLE_HEADER`.
    fn table_rows(&self, doc: &Doc) -> Vec<Vec<String>>;
}

/// Where each document's result goes.
pub trait Sink<R> {
    /// Called before each input's documents, with its CSV header when it is a CSV.
    fn begin(&mut self, _out: &mut dyn Write, _header: Option<&csv::StringRecord>) -> Result<()> {
        Ok(())
    }
    fn write(&mut self, out: &mut dyn Write, doc: &Doc, result: &R) -> Result<()>;
    /// Makes room for an error with every record (`--on-error record`), before `begin`;
    /// false for a format that has no place for one.
    fn record_errors(&mut self) -> bool {
        false
    }
    /// Writes a record that failed in its place, with why (after `record_errors`).
    fn fail(&mut self, _out: &mut dyn Write, _doc: &Doc, _error: &str) -> Result<()> {
        anyhow::bail!("this output format has no place for a record's error; this is a bug")
    }
    /// Called once after the last document (not after an error).
    fn finish(&mut self, _out: &mut dyn Write) -> Result<()> {
        Ok(())
    }
    /// Bytes to write over the start of an output file once it is complete: a header that
    /// needs the row count, with a placeholder of the same length written first.
    fn file_start(&self) -> Option<Vec<u8>> {
        None
    }
}

/// `jsonl`: one JSON object per document.
pub struct JsonlSink;

impl<R: Outcome> Sink<R> for JsonlSink {
    fn write(&mut self, out: &mut dyn Write, doc: &Doc, result: &R) -> Result<()> {
        write_json_line(out, doc, &result.json_fields(doc))
    }

    fn record_errors(&mut self) -> bool {
        true
    }

    fn fail(&mut self, out: &mut dyn Write, doc: &Doc, error: &str) -> Result<()> {
        write_json_line(out, doc, &[("error", serde_json::to_string(error)?)])
    }
}

/// The document's JSON record (or `{"id": ...}`) with `fields` set, as one line.
fn write_json_line(out: &mut dyn Write, doc: &Doc, fields: &[(&str, String)]) -> Result<()> {
    let id;
    let base = match &doc.record {
        Record::Json(map) => map,
        _ => {
            let mut m = serde_json::Map::new();
            m.insert("id".into(), doc.id.clone());
            id = m;
            &id
        }
    };
    let mut line = json_with_fields(base, fields)?;
    line.push('\n');
    out.write_all(line.as_bytes())?;
    Ok(())
}

/// `base` as compact JSON with `fields` (name, JSON text) set: a field the record already
/// has keeps its place, as `Map::insert` would leave it, and new ones follow.
fn json_with_fields(
    base: &serde_json::Map<String, Value>,
    fields: &[(&str, String)],
) -> Result<String> {
    let mut s = String::from("{");
    let entry = |s: &mut String, key: &str, value: &str| -> Result<()> {
        if s.len() > 1 {
            s.push(',');
        }
        s.push_str(&serde_json::to_string(key)?);
        s.push(':');
        s.push_str(value);
        Ok(())
    };
    for (key, value) in base {
        match fields.iter().find(|(name, _)| name == key) {
            Some((_, text)) => entry(&mut s, key, text)?,
            None => entry(&mut s, key, &value.to_string())?,
        }
    }
    for (name, text) in fields {
        if !base.contains_key(*name) {
            entry(&mut s, name, text)?;
        }
    }
    s.push('}');
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_set_as_map_insert_would_set_them() {
        let base: serde_json::Map<String, Value> =
            serde_json::from_str(r#"{"id": "a", "entities": 1, "n": [1, "é"]}"#).unwrap();
        let fields = [
            ("entities", "[2]".to_string()),
            ("extra", "1e-6".to_string()),
        ];
        let got = json_with_fields(&base, &fields).unwrap();
        assert_eq!(got, r#"{"id":"a","entities":[2],"n":[1,"é"],"extra":1e-6}"#);
        // What a Value holding the same would print (but for the number's notation).
        let mut want = base.clone();
        want.insert("entities".into(), serde_json::json!([2]));
        want.insert("extra".into(), serde_json::json!(1));
        assert_eq!(got.replace("1e-6", "1"), Value::Object(want).to_string());
    }
}

/// `csv`: rows with the result's columns added, under the first input's header (and an
/// `error` column last with `--on-error record`).
#[derive(Default)]
pub struct CsvSink {
    header_written: bool,
    /// Whether rows end with an `error` column.
    errors: bool,
    /// The current input's columns, which a ragged row is cut or padded to.
    width: usize,
}

impl CsvSink {
    /// The document's input row (or `id,text`), cut or padded to the input's columns.
    fn input_row(&self, doc: &Doc) -> csv::StringRecord {
        match &doc.record {
            Record::Csv(r) if r.len() == self.width => r.clone(),
            Record::Csv(r) => (0..self.width).map(|i| r.get(i).unwrap_or("")).collect(),
            _ => csv::StringRecord::from(vec![id_text(&doc.id), doc.text.clone()]),
        }
    }

    /// The document's input row with `cells` added, then `error` in the error column.
    fn write_row(
        &self,
        out: &mut dyn Write,
        doc: &Doc,
        cells: Vec<String>,
        error: Option<&str>,
    ) -> Result<()> {
        let mut row = self.input_row(doc);
        for cell in cells.iter().map(String::as_str).chain(error) {
            row.push_field(cell);
        }
        out.write_all(&csv_row(None, &row)?)?;
        Ok(())
    }
}

impl<R: Outcome> Sink<R> for CsvSink {
    fn begin(&mut self, out: &mut dyn Write, header: Option<&csv::StringRecord>) -> Result<()> {
        self.width = header.map_or(2, csv::StringRecord::len);
        if self.header_written {
            return Ok(());
        }
        let mut h = header
            .cloned()
            .unwrap_or_else(|| csv::StringRecord::from(vec!["id", "text"]));
        for column in R::CSV_COLUMNS {
            h.push_field(column);
        }
        if self.errors {
            h.push_field("error");
        }
        out.write_all(&csv_row(None, &h)?)?;
        self.header_written = true;
        Ok(())
    }

    fn write(&mut self, out: &mut dyn Write, doc: &Doc, result: &R) -> Result<()> {
        let error = self.errors.then_some("");
        self.write_row(out, doc, result.csv_cells(doc), error)
    }

    fn record_errors(&mut self) -> bool {
        self.errors = true;
        true
    }

    fn fail(&mut self, out: &mut dyn Write, doc: &Doc, error: &str) -> Result<()> {
        let blanks = vec![String::new(); R::CSV_COLUMNS.len()];
        self.write_row(out, doc, blanks, Some(error))
    }
}

/// `pretty`: a table, written at the end.
#[derive(Default)]
pub struct TableSink {
    rows: Vec<Vec<String>>,
}

impl<R: TableRows> Sink<R> for TableSink {
    fn write(&mut self, _out: &mut dyn Write, doc: &Doc, result: &R) -> Result<()> {
        self.rows.extend(result.table_rows(doc));
        Ok(())
    }

    fn finish(&mut self, out: &mut dyn Write) -> Result<()> {
        out.write_all(mlkit_ner::format::table(R::TABLE_HEADER, &self.rows).as_bytes())?;
        Ok(())
    }
}

/// A subcommand's own line (or block) per document, e.g. the pipeline's `hf` output.
pub struct LineSink<F>(pub F);

impl<R, F: FnMut(&Doc, &R) -> Result<String>> Sink<R> for LineSink<F> {
    fn write(&mut self, out: &mut dyn Write, doc: &Doc, result: &R) -> Result<()> {
        out.write_all((self.0)(doc, result)?.as_bytes())?;
        Ok(())
    }
}

/// A document gathered from each part and written whole at the end (an HTML page).
pub struct PageSink<P, W> {
    pub body: String,
    pub part: P,
    pub whole: W,
}

impl<R, P, W> Sink<R> for PageSink<P, W>
where
    P: FnMut(&Doc, &R) -> String,
    W: FnMut(&str) -> String,
{
    fn write(&mut self, _out: &mut dyn Write, doc: &Doc, result: &R) -> Result<()> {
        self.body.push_str(&(self.part)(doc, result));
        Ok(())
    }

    fn finish(&mut self, out: &mut dyn Write) -> Result<()> {
        out.write_all((self.whole)(&self.body).as_bytes())?;
        Ok(())
    }
}

//! Documents from text files, JSON Lines fields or CSV columns: the inputs `mlkit ner` and
//! `mlkit zeroshot` share (and `mlkit embed`, beside its streamed lines), with their flags
//! defined once.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use serde_json::{json, Value};

use crate::io::Input;
use crate::UsageError;

/// Where documents come from and where results go.
#[derive(Args, Debug, Clone)]
pub struct IoArgs {
    /// Text, JSONL or CSV files, or - for stdin.
    #[arg(default_value = "-")]
    pub inputs: Vec<PathBuf>,

    /// Write here instead of stdout (the file appears only when the run succeeds).
    #[arg(short, long, value_name = "OUT")]
    pub output: Option<PathBuf>,
}

#[derive(Args, Debug, Clone)]
pub struct DocArgs {
    /// A text file as one document, or each line as one.
    #[arg(long, value_enum, default_value_t = Unit::Line)]
    pub unit: Unit,

    #[command(flatten)]
    pub records: RecordArgs,
}

/// How texts are read from lines, JSON Lines records or CSV rows: every subcommand that
/// takes texts has these flags.
#[derive(Args, Debug, Clone)]
pub struct RecordArgs {
    /// Read JSON Lines and take the text from this field (other fields are kept in jsonl
    /// output; an "id" field becomes the record's id).
    #[arg(long, value_name = "FIELD", conflicts_with = "column")]
    pub text_field: Option<String>,

    /// Read CSV and take the text from this column; the output is the CSV with result
    /// columns added, other columns untouched.
    #[arg(long, value_name = "COLUMN")]
    pub column: Option<String>,

    /// Replace invalid UTF-8 with U+FFFD instead of failing.
    #[arg(long)]
    pub lossy: bool,
}

impl RecordArgs {
    /// Whether texts come from JSON Lines or CSV records rather than lines.
    pub fn is_records(&self) -> bool {
        self.column.is_some() || self.text_field.is_some()
    }
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum Unit {
    Doc,
    Line,
}

impl DocArgs {
    pub fn check(&self) -> Result<()> {
        if self.records.is_records() && self.unit == Unit::Doc {
            return Err(UsageError(
                "--column and --text-field read one document per record; drop --unit doc".into(),
            )
            .into());
        }
        Ok(())
    }
}

/// One document: where it came from, its text, and what else to carry to the output.
pub struct Doc {
    pub id: Value,
    pub text: String,
    /// The JSONL record or CSV row it came from.
    pub record: Record,
}

pub enum Record {
    None,
    Json(serde_json::Map<String, Value>),
    Csv(csv::StringRecord),
}

/// The text of an input file, or of stdin for `-`: invalid UTF-8 is an error naming the
/// file, line and byte offset, or with `lossy` replaced by U+FFFD.
pub fn read_text(path: &Path, lossy: bool) -> Result<String> {
    let input = Input::open(path)?;
    let bytes =
        std::fs::read(input.path()).with_context(|| format!("cannot read {}", path.display()))?;
    // Taking the bytes over, not copying them: inputs can be large.
    match String::from_utf8(bytes) {
        Ok(s) => Ok(s),
        Err(e) if lossy => Ok(String::from_utf8_lossy(e.as_bytes()).into_owned()),
        Err(e) => {
            let bytes = e.as_bytes();
            let at = e.utf8_error().valid_up_to();
            let line = bytes[..at].iter().filter(|&&b| b == b'\n').count() + 1;
            Err(not_utf8(path, line, at as u64))
        }
    }
}

/// The error for invalid UTF-8 at `offset` bytes into `path`, on `line` (from 1).
pub fn not_utf8(path: &Path, line: usize, offset: u64) -> anyhow::Error {
    anyhow::anyhow!(
        "{}: line {line}, byte offset {offset}: not valid UTF-8; convert it (iconv -f LATIN1 \
         -t UTF-8) or pass --lossy",
        path.display()
    )
}

/// The documents of one input, and its CSV header when reading a CSV column. Ids are line
/// (or record) numbers from 1, prefixed by the file name when there are `several` inputs;
/// `--unit doc` documents are named by their file.
pub fn read_docs(
    path: &Path,
    text: String,
    args: &DocArgs,
    several: bool,
) -> Result<(Vec<Doc>, Option<csv::StringRecord>)> {
    let name = path.display().to_string();
    let line_id = |n: usize| {
        if several {
            json!(format!("{name}:{n}"))
        } else {
            json!(n)
        }
    };
    if let Some(column) = &args.records.column {
        let mut reader = csv::ReaderBuilder::new().from_reader(text.as_bytes());
        let headers = reader
            .headers()
            .with_context(|| format!("{name}: cannot read the CSV header"))?
            .clone();
        let at = headers.iter().position(|h| h == column).ok_or_else(|| {
            UsageError(format!(
                "{name}: no column {column:?}; columns: {}",
                headers.iter().collect::<Vec<_>>().join(", ")
            ))
        })?;
        let mut docs = Vec::new();
        for (n, row) in reader.records().enumerate() {
            let row = row.map_err(|e| csv_error(&name, n + 1, e))?;
            docs.push(Doc {
                id: line_id(n + 1),
                text: row.get(at).unwrap_or("").to_string(),
                record: Record::Csv(row),
            });
        }
        return Ok((docs, Some(headers)));
    }
    if let Some(field) = &args.records.text_field {
        let mut docs = Vec::new();
        for (n, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let value: Value = serde_json::from_str(line)
                .with_context(|| format!("{name}: line {}: not a JSON object", n + 1))?;
            let Value::Object(map) = value else {
                anyhow::bail!("{name}: line {}: not a JSON object", n + 1);
            };
            let text = match map.get(field) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Null) | None => {
                    anyhow::bail!("{name}: line {}: no text field {field:?}", n + 1)
                }
                Some(other) => anyhow::bail!(
                    "{name}: line {}: field {field:?} is {other}, not a string",
                    n + 1
                ),
            };
            docs.push(Doc {
                id: map.get("id").cloned().unwrap_or_else(|| line_id(n + 1)),
                text,
                record: Record::Json(map),
            });
        }
        return Ok((docs, None));
    }
    let docs = match args.unit {
        Unit::Doc => vec![Doc {
            id: json!(name),
            text,
            record: Record::None,
        }],
        Unit::Line => text
            .lines()
            .enumerate()
            .map(|(n, l)| Doc {
                id: line_id(n + 1),
                text: l.to_string(),
                record: Record::None,
            })
            .collect(),
    };
    Ok((docs, None))
}

/// A CSV reading error that names the file and line and says how to mend the row.
fn csv_error(name: &str, record: usize, e: csv::Error) -> anyhow::Error {
    match e.kind() {
        csv::ErrorKind::UnequalLengths {
            pos: Some(pos),
            expected_len,
            len,
        } => anyhow::anyhow!(
            "{name}: line {}: found {len} fields where the header has {expected_len}; quote \
             fields that contain a comma and give every row the same fields",
            pos.line()
        ),
        _ => anyhow::anyhow!("{name}: CSV record {record}: {e}"),
    }
}

/// A record's id as text (for tables and error messages).
pub fn id_text(id: &Value) -> String {
    match id {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// One CSV row as bytes (a header first when given), for writing row by row.
pub fn csv_row(header: Option<&csv::StringRecord>, row: &csv::StringRecord) -> Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    if let Some(h) = header {
        w.write_record(h)?;
    }
    w.write_record(row)?;
    w.into_inner().map_err(|e| anyhow::anyhow!("{}", e.error()))
}

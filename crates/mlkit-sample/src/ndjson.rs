//! NDJSON / JSON Lines, streamed: one object a line, lines copied back unchanged.

use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use serde_json::Value;

use crate::encoding::encode_cell;
use crate::keys::{parse_weight_text, RawCell};
use crate::source::{after_next_newline, Position, Row, Rows, Span, Spans, Visit};
use crate::{copy_spans, SampleError};

pub(crate) struct Ndjson {
    path: PathBuf,
    by: Vec<String>,
    weights: Option<String>,
    len: u64,
    /// Field names in order of first appearance, for the missing-column error.
    names: Mutex<Vec<String>>,
    /// Whether each key and weight column appeared in some row.
    present: Vec<AtomicBool>,
}

impl Ndjson {
    pub fn open(path: &Path, by: &[String], weights: Option<&str>) -> Result<Self, SampleError> {
        let len = std::fs::metadata(path)
            .map_err(|source| SampleError::Read {
                path: path.to_path_buf(),
                source,
            })?
            .len();
        Ok(Ndjson {
            path: path.to_path_buf(),
            by: by.to_vec(),
            weights: weights.map(str::to_string),
            len,
            names: Mutex::new(Vec::new()),
            present: (0..by.len() + usize::from(weights.is_some()))
                .map(|_| AtomicBool::new(false))
                .collect(),
        })
    }

    pub fn write(&self, spans: &Spans, out: &mut dyn Write) -> Result<(), SampleError> {
        copy_spans(&self.path, None, spans, b"\n", out)
    }
}

fn cell(value: Option<&Value>) -> RawCell {
    match value {
        None | Some(Value::Null) => RawCell::Null,
        Some(Value::Bool(b)) => RawCell::Bool(*b),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(i) => RawCell::Int(i),
            None => RawCell::float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Some(Value::String(s)) => RawCell::Str(s.as_bytes().to_vec()),
        Some(other) => RawCell::Str(other.to_string().into_bytes()),
    }
}

fn weight(value: Option<&Value>) -> Option<f64> {
    match value {
        None | Some(Value::Null) => Some(f64::NAN),
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) => parse_weight_text(s.as_bytes()),
        Some(Value::Bool(b)) => Some(f64::from(u8::from(*b))),
        Some(_) => None,
    }
}

impl Rows for Ndjson {
    fn data_range(&self) -> (Position, u64) {
        (Position { offset: 0, line: 1 }, self.len)
    }

    fn split_candidate(&self, offset: u64) -> Option<u64> {
        // JSON strings cannot hold a raw newline, so every newline ends a record.
        after_next_newline(&self.path, offset)
    }

    fn scan(
        &self,
        from: Position,
        until: u64,
        visit: &mut Visit<'_>,
    ) -> Result<Position, SampleError> {
        let read_err = |source| SampleError::Read {
            path: self.path.clone(),
            source,
        };
        let mut file = File::open(&self.path).map_err(read_err)?;
        file.seek(SeekFrom::Start(from.offset)).map_err(read_err)?;
        let mut input = BufReader::with_capacity(1 << 20, file);
        let mut line = Vec::new();
        let mut offset = from.offset;
        let mut line_no = from.line;
        let mut key = Vec::new();
        let columns: Vec<&String> = self.by.iter().chain(&self.weights).collect();
        loop {
            if offset >= until {
                return Ok(Position {
                    offset,
                    line: line_no,
                });
            }
            line.clear();
            let n = input.read_until(b'\n', &mut line).map_err(read_err)?;
            if n == 0 {
                return Ok(Position {
                    offset,
                    line: line_no,
                });
            }
            let span = Span {
                start: offset,
                end: offset + n as u64,
            };
            offset += n as u64;
            let this_line = line_no;
            line_no += 1;
            if line.trim_ascii().is_empty() {
                continue;
            }
            let object = match serde_json::from_slice::<Value>(&line) {
                Ok(Value::Object(map)) => map,
                Ok(_) => {
                    return Err(SampleError::Malformed {
                        path: self.path.clone(),
                        message: format!("line {this_line}: expected a JSON object"),
                    })
                }
                Err(e) => {
                    return Err(SampleError::Malformed {
                        path: self.path.clone(),
                        message: format!("line {this_line}: invalid JSON: {e}"),
                    })
                }
            };
            if this_line <= 100 {
                if let Ok(mut names) = self.names.lock() {
                    for name in object.keys() {
                        if !names.iter().any(|s| s == name) {
                            names.push(name.clone());
                        }
                    }
                }
            }
            for (flag, name) in self.present.iter().zip(&columns) {
                if object.contains_key(name.as_str()) {
                    flag.store(true, Ordering::Relaxed);
                }
            }
            key.clear();
            for b in &self.by {
                encode_cell(&cell(object.get(b)), &mut key);
            }
            let weight = match &self.weights {
                None => None,
                Some(w) => Some(weight(object.get(w)).ok_or_else(|| SampleError::BadWeight {
                    path: self.path.clone(),
                    location: format!("line {this_line}"),
                    value: object.get(w).map(Value::to_string).unwrap_or_default(),
                    reason: "it is not a number",
                })?),
            };
            visit(Row {
                location: &|| format!("line {this_line}"),
                key: &key,
                weight,
                span,
            })?;
        }
    }

    fn check_columns(&self) -> Result<(), SampleError> {
        let names = self.names.lock().map(|n| n.clone()).unwrap_or_default();
        if names.is_empty() {
            // No rows: nothing to check, and the sample is empty.
            return Ok(());
        }
        let columns = self.by.iter().chain(&self.weights);
        for (flag, name) in self.present.iter().zip(columns) {
            if !flag.load(Ordering::Relaxed) {
                return Err(SampleError::MissingColumn {
                    path: self.path.clone(),
                    column: name.clone(),
                    available: names,
                });
            }
        }
        Ok(())
    }
}

//! NDJSON / JSON Lines, streamed: one object a line, lines copied back unchanged.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::delimited::find_column;
use crate::encoding::encode_cell;
use crate::keys::{parse_weight_text, RawCell};
use crate::source::{Row, Rows, Span};
use crate::{copy_spans, SampleError};

pub(crate) struct Ndjson {
    path: PathBuf,
    by: Vec<String>,
    weights: Option<String>,
    /// Field names in order of first appearance, for the missing-column error.
    seen: Vec<String>,
}

impl Ndjson {
    pub fn open(path: &Path, by: &[String], weights: Option<&str>) -> Self {
        Ndjson {
            path: path.to_path_buf(),
            by: by.to_vec(),
            weights: weights.map(str::to_string),
            seen: Vec::new(),
        }
    }

    pub fn write(&self, spans: &[Span], out: &mut dyn Write) -> Result<(), SampleError> {
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
    fn scan(
        &mut self,
        visit: &mut dyn FnMut(Row<'_>) -> Result<(), SampleError>,
    ) -> Result<(), SampleError> {
        let read_err = |source| SampleError::Read {
            path: self.path.clone(),
            source,
        };
        let file = File::open(&self.path).map_err(read_err)?;
        let mut input = BufReader::with_capacity(1 << 20, file);
        let mut line = Vec::new();
        let mut offset = 0u64;
        let mut line_no = 0u64;
        let mut key = Vec::new();
        let record_names = self.seen.is_empty();
        loop {
            line.clear();
            let n = input
                .read_until(b'\n', &mut line)
                .map_err(|source| SampleError::Read {
                    path: self.path.clone(),
                    source,
                })?;
            if n == 0 {
                break;
            }
            let span = Span {
                start: offset,
                end: offset + n as u64,
            };
            offset += n as u64;
            line_no += 1;
            if line.trim_ascii().is_empty() {
                continue;
            }
            let object = match serde_json::from_slice::<Value>(&line) {
                Ok(Value::Object(map)) => map,
                Ok(_) => {
                    return Err(SampleError::Malformed {
                        path: self.path.clone(),
                        message: format!("line {line_no}: expected a JSON object"),
                    })
                }
                Err(e) => {
                    return Err(SampleError::Malformed {
                        path: self.path.clone(),
                        message: format!("line {line_no}: invalid JSON: {e}"),
                    })
                }
            };
            if record_names {
                for name in object.keys() {
                    if !self.seen.iter().any(|s| s == name) {
                        self.seen.push(name.clone());
                    }
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
                    location: format!("line {line_no}"),
                    value: object.get(w).map(Value::to_string).unwrap_or_default(),
                    reason: "it is not a number",
                })?),
            };
            visit(Row {
                location: &|| format!("line {line_no}"),
                key: &key,
                weight,
                span,
            })?;
        }
        Ok(())
    }

    fn check_columns(&self) -> Result<(), SampleError> {
        if self.seen.is_empty() {
            // No rows: nothing to check, and the sample is empty.
            return Ok(());
        }
        for name in self.by.iter().chain(&self.weights) {
            find_column(&self.path, &self.seen, name)?;
        }
        Ok(())
    }
}

//! Parquet through polars. Unlike the text formats this reads the whole file into memory.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use polars::prelude::*;

use crate::delimited::find_column;
use crate::encoding::encode_cell;
use crate::keys::RawCell;
use crate::source::{Position, Row, Rows, Span, Spans, Visit};
use crate::SampleError;

pub(crate) struct Parquet {
    path: PathBuf,
    frame: DataFrame,
    keys: Vec<Column>,
    weights: Option<Float64Chunked>,
}

fn polars_err(path: &Path, e: PolarsError) -> SampleError {
    SampleError::Parquet {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

impl Parquet {
    pub fn open(path: &Path, by: &[String], weights: Option<&str>) -> Result<Self, SampleError> {
        let file = File::open(path).map_err(|source| SampleError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let frame = ParquetReader::new(file)
            .finish()
            .map_err(|e| polars_err(path, e))?;
        let names: Vec<String> = frame
            .get_column_names()
            .iter()
            .map(|s| s.to_string())
            .collect();
        let column = |name: &str| -> Result<Column, SampleError> {
            let i = find_column(path, &names, name)?;
            Ok(frame.columns()[i].clone())
        };
        let keys = by
            .iter()
            .map(|b| column(b))
            .collect::<Result<Vec<_>, _>>()?;
        let weights = weights
            .map(|w| {
                let c = column(w)?;
                let c = c
                    .cast(&DataType::Float64)
                    .map_err(|e| polars_err(path, e))?;
                c.f64().cloned().map_err(|e| polars_err(path, e))
            })
            .transpose()?;
        Ok(Parquet {
            path: path.to_path_buf(),
            frame,
            keys,
            weights,
        })
    }

    /// Writes the rows whose indices are the spans' starts, in that order.
    pub fn write(&self, spans: &Spans, out: &mut dyn Write) -> Result<(), SampleError> {
        let idx: Vec<IdxSize> = spans.starts.iter().map(|&s| s as IdxSize).collect();
        let idx = IdxCa::from_vec("idx".into(), idx);
        let mut taken = self
            .frame
            .take(&idx)
            .map_err(|e| polars_err(&self.path, e))?;
        ParquetWriter::new(out)
            .finish(&mut taken)
            .map_err(|e| polars_err(&self.path, e))?;
        Ok(())
    }
}

fn cell(value: AnyValue<'_>) -> RawCell {
    match value {
        AnyValue::Null => RawCell::Null,
        AnyValue::Boolean(b) => RawCell::Bool(b),
        AnyValue::Int8(v) => RawCell::Int(v.into()),
        AnyValue::Int16(v) => RawCell::Int(v.into()),
        AnyValue::Int32(v) => RawCell::Int(v.into()),
        AnyValue::Int64(v) => RawCell::Int(v),
        AnyValue::UInt8(v) => RawCell::Int(v.into()),
        AnyValue::UInt16(v) => RawCell::Int(v.into()),
        AnyValue::UInt32(v) => RawCell::Int(v.into()),
        AnyValue::UInt64(v) => i64::try_from(v).map_or(RawCell::float(v as f64), RawCell::Int),
        AnyValue::Float32(v) => RawCell::float(v.into()),
        AnyValue::Float64(v) => RawCell::float(v),
        AnyValue::String(s) => RawCell::Str(s.as_bytes().to_vec()),
        AnyValue::StringOwned(s) => RawCell::Str(s.as_bytes().to_vec()),
        // Dates and other types group by their text, which orders ISO dates correctly.
        other => RawCell::Str(other.to_string().into_bytes()),
    }
}

impl Rows for Parquet {
    fn data_range(&self) -> (Position, u64) {
        (Position { offset: 0, line: 1 }, self.frame.height() as u64)
    }

    fn split_candidate(&self, offset: u64) -> Option<u64> {
        Some(offset)
    }

    fn scan(
        &self,
        from: Position,
        until: u64,
        visit: &mut Visit<'_>,
    ) -> Result<Position, SampleError> {
        let mut key = Vec::new();
        let end = (self.frame.height() as u64).min(until);
        for i in from.offset..end {
            key.clear();
            for c in &self.keys {
                let v = c.get(i as usize).map_err(|e| polars_err(&self.path, e))?;
                encode_cell(&cell(v), &mut key);
            }
            let weight = self
                .weights
                .as_ref()
                .map(|w| w.get(i as usize).unwrap_or(f64::NAN));
            visit(Row {
                location: &|| format!("row {}", i + 1),
                key: &key,
                weight,
                span: Span {
                    start: i,
                    end: i + 1,
                },
            })?;
        }
        Ok(Position {
            offset: end,
            line: end + 1,
        })
    }
}

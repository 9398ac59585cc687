//! CSV and TSV, streamed: rows are found by byte range and copied back unchanged.

use std::fs::File;
use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};

use crate::encoding::encode_text;
use crate::keys::parse_weight_text;
use crate::source::{Row, Rows, Span};
use crate::{copy_spans, SampleError};

pub(crate) struct Delimited {
    path: PathBuf,
    delimiter: u8,
    fields: usize,
    key_columns: Vec<usize>,
    weight_column: Option<usize>,
    /// The header line's bytes, line end included.
    header_end: u64,
    /// The line end to add after a last row that has none.
    line_end: &'static [u8],
}

fn reader(path: &Path, delimiter: u8) -> Result<csv::Reader<BufReader<File>>, SampleError> {
    let file = File::open(path).map_err(|source| SampleError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(true)
        .flexible(false)
        .from_reader(BufReader::with_capacity(1 << 20, file)))
}

/// The position of `name` among `columns`, or an error that lists them.
pub(crate) fn find_column(
    path: &Path,
    columns: &[String],
    name: &str,
) -> Result<usize, SampleError> {
    columns
        .iter()
        .position(|c| c == name)
        .ok_or_else(|| SampleError::MissingColumn {
            path: path.to_path_buf(),
            column: name.to_string(),
            available: columns.to_vec(),
        })
}

impl Delimited {
    pub fn open(
        path: &Path,
        delimiter: u8,
        by: &[String],
        weights: Option<&str>,
    ) -> Result<Self, SampleError> {
        let mut rdr = reader(path, delimiter)?;
        let header = rdr.byte_headers().map_err(|e| malformed(path, e))?.clone();
        if header.is_empty() {
            return Err(SampleError::Empty {
                path: path.to_path_buf(),
            });
        }
        let names: Vec<String> = header
            .iter()
            .map(|h| String::from_utf8_lossy(h).into_owned())
            .collect();
        let key_columns = by
            .iter()
            .map(|b| find_column(path, &names, b))
            .collect::<Result<_, _>>()?;
        let weight_column = weights.map(|w| find_column(path, &names, w)).transpose()?;
        let header_end = rdr.position().byte();
        let mut head = vec![0u8; header_end.min(1 << 20) as usize];
        {
            use std::os::unix::fs::FileExt;
            let file = File::open(path).map_err(|source| SampleError::Read {
                path: path.to_path_buf(),
                source,
            })?;
            file.read_exact_at(&mut head, 0)
                .map_err(|source| SampleError::Read {
                    path: path.to_path_buf(),
                    source,
                })?;
        }
        Ok(Delimited {
            path: path.to_path_buf(),
            delimiter,
            fields: names.len(),
            key_columns,
            weight_column,
            header_end,
            line_end: if head.ends_with(b"\r\n") {
                b"\r\n"
            } else {
                b"\n"
            },
        })
    }

    /// Writes the header and then the rows at `spans`, in that order.
    pub fn write(&self, spans: &[Span], out: &mut dyn Write) -> Result<(), SampleError> {
        copy_spans(
            &self.path,
            Some(Span {
                start: 0,
                end: self.header_end,
            }),
            spans,
            self.line_end,
            out,
        )
    }
}

fn malformed(path: &Path, e: csv::Error) -> SampleError {
    let message = match e.kind() {
        csv::ErrorKind::UnequalLengths {
            pos: Some(pos),
            expected_len,
            len,
        } => format!(
            "line {}: found {len} fields where the header has {expected_len}; \
             quote fields that contain the delimiter and give every row the same fields",
            pos.line()
        ),
        _ => e.to_string(),
    };
    SampleError::Malformed {
        path: path.to_path_buf(),
        message,
    }
}

impl Rows for Delimited {
    fn scan(
        &mut self,
        visit: &mut dyn FnMut(Row<'_>) -> Result<(), SampleError>,
    ) -> Result<(), SampleError> {
        let mut rdr = reader(&self.path, self.delimiter)?;
        rdr.byte_headers().map_err(|e| malformed(&self.path, e))?;
        let mut record = csv::ByteRecord::new();
        let mut key = Vec::with_capacity(64);
        while rdr
            .read_byte_record(&mut record)
            .map_err(|e| malformed(&self.path, e))?
        {
            let start = record.position().map_or(0, |p| p.byte());
            let line = record.position().map_or(0, |p| p.line());
            let end = rdr.position().byte();
            if record.len() != self.fields {
                // The csv reader checks rows against each other; this catches a first row
                // that disagrees with the header.
                return Err(SampleError::Malformed {
                    path: self.path.clone(),
                    message: format!(
                        "line {line}: found {} fields where the header has {}; \
                         quote fields that contain the delimiter and give every row the same fields",
                        record.len(),
                        self.fields
                    ),
                });
            }
            key.clear();
            for &c in &self.key_columns {
                encode_text(record.get(c).unwrap_or_default(), &mut key);
            }
            let weight = match self.weight_column {
                None => None,
                Some(c) => {
                    let text = record.get(c).unwrap_or_default();
                    Some(
                        parse_weight_text(text).ok_or_else(|| SampleError::BadWeight {
                            path: self.path.clone(),
                            location: format!("line {line}"),
                            value: String::from_utf8_lossy(text).into_owned(),
                            reason: "it is not a number",
                        })?,
                    )
                }
            };
            visit(Row {
                location: &|| format!("line {line}"),
                key: &key,
                weight,
                span: Span { start, end },
            })?;
        }
        Ok(())
    }
}

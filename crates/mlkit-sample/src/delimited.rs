//! CSV and TSV, streamed: rows are found by byte range and copied back unchanged.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::csv_scan::Scanner;
use crate::encoding::encode_text;
use crate::keys::parse_weight_text;
use crate::source::{after_next_newline, Position, Row, Rows, Span, Spans, Visit};
use crate::{copy_spans, SampleError};

pub(crate) struct Delimited {
    path: PathBuf,
    delimiter: u8,
    fields: usize,
    /// The key columns, then the weight column if any.
    wanted: Vec<usize>,
    keys: usize,
    has_weight: bool,
    /// Where the first data row starts (just after the header).
    data_start: Position,
    len: u64,
    /// The line end to add after a last row that has none.
    line_end: &'static [u8],
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

fn read_err(path: &Path) -> impl Fn(std::io::Error) -> SampleError + '_ {
    move |source| SampleError::Read {
        path: path.to_path_buf(),
        source,
    }
}

fn open_at(path: &Path, offset: u64) -> Result<File, SampleError> {
    let mut file = File::open(path).map_err(read_err(path))?;
    file.seek(SeekFrom::Start(offset)).map_err(read_err(path))?;
    Ok(file)
}

/// The header record: its names, where it ends, and the line the data starts on.
struct Header {
    names: Vec<String>,
    end: u64,
    next_line: u64,
}

fn read_header(path: &Path, delimiter: u8) -> Result<Header, SampleError> {
    // Ask for every field: start wide, and widen once for a wider header.
    let mut width = 1024;
    loop {
        let all: Vec<usize> = (0..width).collect();
        let mut scanner = Scanner::new(open_at(path, 0)?, delimiter, &all, 0, 1);
        let Some(record) = scanner.next_record().map_err(read_err(path))? else {
            return Err(SampleError::Empty {
                path: path.to_path_buf(),
            });
        };
        if let Some(line) = record.open_quote {
            return Err(SampleError::Malformed {
                path: path.to_path_buf(),
                message: mlkit_csv::unclosed_quote_message(line),
            });
        }
        if record.fields > width {
            width = record.fields;
            continue;
        }
        let names = record.values[..record.fields]
            .iter()
            .map(|h| String::from_utf8_lossy(h).into_owned())
            .collect();
        let end = record.end;
        return Ok(Header {
            names,
            end,
            next_line: scanner.line(),
        });
    }
}

impl Delimited {
    pub fn open(
        path: &Path,
        delimiter: u8,
        by: &[String],
        weights: Option<&str>,
    ) -> Result<Self, SampleError> {
        let len = std::fs::metadata(path).map_err(read_err(path))?.len();
        let header = read_header(path, delimiter)?;
        let mut names = header.names;
        // A UTF-8 byte order mark belongs to the file, not to the first column's name.
        if let Some(first) = names.first_mut() {
            if let Some(stripped) = first.strip_prefix('\u{feff}') {
                *first = stripped.to_string();
            }
        }
        let header_end = header.end;
        let header_fields = names.len();
        let data_line = header.next_line;
        let ends_crlf = {
            let mut tail = [0u8; 2];
            let mut f = open_at(path, header_end.saturating_sub(2))?;
            let n = f.read(&mut tail).map_err(read_err(path))?;
            n == 2 && &tail == b"\r\n"
        };
        let mut wanted = by
            .iter()
            .map(|b| find_column(path, &names, b))
            .collect::<Result<Vec<_>, _>>()?;
        let keys = wanted.len();
        if let Some(w) = weights {
            wanted.push(find_column(path, &names, w)?);
        }
        Ok(Delimited {
            path: path.to_path_buf(),
            delimiter,
            fields: header_fields,
            wanted,
            keys,
            has_weight: weights.is_some(),
            data_start: Position {
                offset: header_end,
                line: data_line,
            },
            len,
            line_end: if ends_crlf { b"\r\n" } else { b"\n" },
        })
    }

    /// Writes the header and then the rows at `spans`, in that order.
    pub fn write(&self, spans: &Spans, out: &mut dyn Write) -> Result<(), SampleError> {
        let header = Span {
            start: 0,
            end: self.data_start.offset,
        };
        copy_spans(&self.path, Some(header), spans, self.line_end, out)
    }
}

impl Rows for Delimited {
    fn data_range(&self) -> (Position, u64) {
        (self.data_start, self.len)
    }

    fn split_candidate(&self, offset: u64) -> Option<u64> {
        // May fall inside a quoted field; the scan of the first half finds out.
        after_next_newline(&self.path, offset)
    }

    fn scan(
        &self,
        from: Position,
        until: u64,
        visit: &mut Visit<'_>,
    ) -> Result<Position, SampleError> {
        let file = open_at(&self.path, from.offset)?;
        let mut scanner = Scanner::new(file, self.delimiter, &self.wanted, from.offset, from.line);
        let mut key = Vec::with_capacity(64);
        loop {
            let Some(record) = scanner.next_record().map_err(read_err(&self.path))? else {
                return Ok(Position {
                    offset: scanner.offset(),
                    line: scanner.line(),
                });
            };
            let line = record.line;
            if record.start >= until {
                return Ok(Position {
                    offset: record.start,
                    line,
                });
            }
            if let Some(line) = record.open_quote {
                return Err(SampleError::Malformed {
                    path: self.path.clone(),
                    message: mlkit_csv::unclosed_quote_message(line),
                });
            }
            if record.fields != self.fields {
                return Err(SampleError::Malformed {
                    path: self.path.clone(),
                    message: mlkit_csv::ragged_row_message(
                        line,
                        record.fields as u64,
                        self.fields as u64,
                        self.delimiter,
                    ),
                });
            }
            key.clear();
            for v in &record.values[..self.keys] {
                encode_text(v, &mut key);
            }
            let weight = if self.has_weight {
                let text = record.values[self.keys];
                Some(
                    parse_weight_text(text).ok_or_else(|| SampleError::BadWeight {
                        path: self.path.clone(),
                        location: format!("line {line}"),
                        value: String::from_utf8_lossy(text).into_owned(),
                        reason: "it is not a number",
                    })?,
                )
            } else {
                None
            };
            visit(Row {
                location: &|| format!("line {line}"),
                key: &key,
                weight,
                span: Span {
                    start: record.start,
                    end: record.end,
                },
            })?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_of_any_width_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wide.csv");
        let names: Vec<String> = (0..5000).map(|i| format!("c{i}")).collect();
        let row: Vec<String> = (0..5000).map(|i| i.to_string()).collect();
        std::fs::write(&path, format!("{}\n{}\n", names.join(","), row.join(","))).unwrap();
        let src = Delimited::open(&path, b',', &["c4999".to_string()], None).unwrap();
        assert_eq!(src.fields, 5000);
        assert_eq!(src.wanted, vec![4999]);
        assert_eq!(
            src.data_start,
            Position {
                offset: 28_890,
                line: 2
            }
        );
    }
}

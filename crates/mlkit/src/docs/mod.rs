//! Documents from text files, JSON Lines fields or CSV columns: the inputs `mlkit ner`,
//! `mlkit zeroshot` and `mlkit embed` share, read as they come (their flags are in `flags`;
//! UTF-8 checks in `utf8`, CSV rows and their errors in `csv_rows`).

mod csv_rows;
mod utf8;

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::{json, Value};

use csv_rows::csv_error;
pub use csv_rows::csv_row;
use mlkit_csv::Tracked;
use utf8::{read_all, read_error, Lossy};
pub use utf8::{read_text, Utf8Lines};

use crate::flags::{DocArgs, Unit};
use crate::UsageError;

/// One document: where it came from, its text, and what else to carry to the output.
pub struct Doc {
    pub id: Value,
    pub text: String,
    /// The second text of a pair, when the subcommand reads pairs (`DocArgs::pair`).
    pub pair: Option<String>,
    /// The JSONL record or CSV row it came from.
    pub record: Record,
}

#[derive(Debug)]
pub enum Record {
    None,
    Json(serde_json::Map<String, Value>),
    Csv(csv::StringRecord),
}

/// A record that could not be read (invalid UTF-8 on its line, a line that is not a JSON
/// object or lacks the text field, a CSV row with too few or too many fields): what is
/// known of it, and why. The input reads on after it, so `--on-error` may skip or record
/// it; unreadable input that leaves no record boundary (an unclosed quote, an I/O error) is
/// another error and always stops the run.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct BadRecord {
    pub id: Value,
    pub record: Record,
    message: String,
}

impl BadRecord {
    /// The record as a document without text, for writing its place in the output.
    pub fn into_doc(self) -> (Doc, String) {
        let doc = Doc {
            id: self.id,
            text: String::new(),
            pair: None,
            record: self.record,
        };
        (doc, self.message)
    }
}

/// Reads the documents of one input as they come, never the whole input at once (but for
/// `--unit doc`). Ids are line (or record) numbers from 1, prefixed by the file name when
/// there are `several` inputs; `--unit doc` documents are named by their file.
pub struct DocReader {
    path: PathBuf,
    several: bool,
    source: Source,
    /// Documents (CSV records, lines) read so far.
    count: usize,
    /// From a regular file, which can fill every batch at once.
    regular_file: bool,
}

/// The input's lines, each checked for UTF-8.
type Lines = Utf8Lines<Box<dyn BufRead + Send>>;

enum Source {
    Lines(Lines),
    Json {
        lines: Lines,
        field: String,
        pair: Option<String>,
    },
    Csv {
        reader: Box<csv::Reader<Tracked<Lines>>>,
        at: usize,
        pair_at: Option<usize>,
        /// The header's fields, which every row must have.
        width: usize,
    },
    /// The whole input (`--unit doc`), until taken; or why it could not be read.
    Whole(Option<Result<String>>),
}

impl DocReader {
    /// Opens `path` (`-` for stdin), reading a CSV header when `args` name a column.
    pub fn open(path: &Path, args: &DocArgs, several: bool) -> Result<DocReader> {
        let (input, regular_file) = open_input(path)?;
        DocReader::new(path, input, regular_file, args, several)
    }

    /// Reads `input`, named `path` in ids and errors.
    pub fn new(
        path: &Path,
        input: Box<dyn BufRead + Send>,
        regular_file: bool,
        args: &DocArgs,
        several: bool,
    ) -> Result<DocReader> {
        let name = path.display();
        let lossy = args.records.lossy;
        let source = if let Some(column) = &args.records.column {
            let mut lines = Utf8Lines::new(input, lossy);
            // The CSV reader reads ahead: invalid lines are noted and mended, and the record
            // that holds one is a bad record (which `--on-error` may skip or record).
            lines.mark_invalid();
            // Flexible, so that a ragged row is read whole and can be written back as it was
            // (`--on-error record`); `next_doc` checks its length.
            let mut reader = csv::ReaderBuilder::new()
                .flexible(true)
                .from_reader(Tracked::new(lines, b','));
            let headers = reader.headers().cloned();
            let header_end = reader.position().line().saturating_sub(1) as usize;
            if let Some((line, offset)) = reader
                .get_mut()
                .get_mut()
                .take_invalid_through(header_end.max(1))
            {
                return Err(utf8::not_utf8(path, line, offset, Lossy::Refuse));
            }
            // A quote in the header that never closes takes the whole input with it.
            if let Some(line) = reader.get_ref().unclosed_quote() {
                anyhow::bail!("{name}: {}", mlkit_csv::unclosed_quote_message(line));
            }
            let headers = match headers {
                Ok(h) => h,
                Err(e) => {
                    return Err(match e.kind() {
                        csv::ErrorKind::Io(io) => read_error(path, io, Lossy::Refuse),
                        _ => anyhow::anyhow!("{name}: cannot read the CSV header: {e}"),
                    })
                }
            };
            if headers.is_empty() {
                anyhow::bail!("{name}: {}", mlkit_csv::EMPTY_INPUT_MESSAGE);
            }
            let find = |column: &str| {
                headers.iter().position(|h| h == column).ok_or_else(|| {
                    let header: Vec<&str> = headers.iter().collect();
                    UsageError(format!(
                        "{name}: {}",
                        mlkit_csv::missing_column_message(column, &header)
                    ))
                })
            };
            let at = find(column)?;
            let pair_at = args.pair.as_deref().map(find).transpose()?;
            Source::Csv {
                width: headers.len(),
                reader: Box::new(reader),
                at,
                pair_at,
            }
        } else if let Some(field) = &args.records.text_field {
            Source::Json {
                lines: Utf8Lines::new(input, lossy),
                field: field.clone(),
                pair: args.pair.clone(),
            }
        } else if args.unit == Unit::Doc {
            Source::Whole(Some(read_all(path, input, Lossy::new(lossy))))
        } else {
            Source::Lines(Utf8Lines::new(input, lossy))
        };
        Ok(DocReader {
            path: path.to_path_buf(),
            several,
            source,
            count: 0,
            regular_file,
        })
    }

    /// The CSV header, when reading a CSV column.
    pub fn header(&mut self) -> Option<csv::StringRecord> {
        match &mut self.source {
            Source::Csv { reader, .. } => reader.headers().ok().cloned(),
            _ => None,
        }
    }

    /// Whether the input is a regular file (not a pipe or terminal).
    pub fn is_regular_file(&self) -> bool {
        self.regular_file
    }

    /// The next document, or `None` at the end of the input. A `BadRecord` error may be
    /// read past; any other error ends the input.
    pub fn next_doc(&mut self) -> Result<Option<Doc>> {
        let name = self.path.display();
        let (path, several) = (self.path.as_path(), self.several);
        let line_id = |n: usize| line_id(path, several, n);
        match &mut self.source {
            Source::Whole(text) => match text.take() {
                None => Ok(None),
                Some(Ok(text)) => Ok(Some(Doc {
                    id: json!(name.to_string()),
                    text,
                    pair: None,
                    record: Record::None,
                })),
                Some(Err(e)) => Err(bad(json!(name.to_string()), Record::None, format!("{e:#}"))),
            },
            Source::Lines(lines) => {
                let next = lines.next_line();
                if matches!(next, Ok(None)) {
                    return Ok(None);
                }
                self.count += 1;
                match next {
                    Ok(text) => Ok(text.map(|text| Doc {
                        id: line_id(self.count),
                        text,
                        pair: None,
                        record: Record::None,
                    })),
                    Err(e) => Err(read_failure(path, several, &e, self.count)),
                }
            }
            Source::Json { lines, field, pair } => loop {
                let line = match lines.next_line() {
                    Ok(Some(line)) => line,
                    Ok(None) => return Ok(None),
                    Err(e) => {
                        let n = lines.line;
                        return Err(read_failure(path, several, &e, n));
                    }
                };
                let n = lines.line;
                if line.trim().is_empty() {
                    continue;
                }
                let map = match serde_json::from_str::<Value>(&line) {
                    Ok(Value::Object(map)) => map,
                    Ok(_) => {
                        let message = format!("{name}: line {n}: not a JSON object");
                        return Err(bad(line_id(n), Record::None, message));
                    }
                    Err(e) => {
                        let message = format!("{name}: line {n}: not a JSON object: {e}");
                        return Err(bad(line_id(n), Record::None, message));
                    }
                };
                let id = match map.get("id") {
                    Some(id) => id.clone(),
                    None => line_id(n),
                };
                let text = string_field(&map, field).map_err(|e| format!("{name}: line {n}: {e}"));
                let pair = match pair {
                    None => Ok(None),
                    Some(p) => string_field(&map, p)
                        .map(Some)
                        .map_err(|e| format!("{name}: line {n}: {e} (the pair's second text)")),
                };
                return match (text, pair) {
                    (Ok(text), Ok(pair)) => Ok(Some(Doc {
                        id,
                        text,
                        pair,
                        record: Record::Json(map),
                    })),
                    (Err(message), _) | (_, Err(message)) => {
                        Err(bad(id, Record::Json(map), message))
                    }
                };
            },
            Source::Csv {
                reader,
                at,
                pair_at,
                width,
            } => {
                let mut row = csv::StringRecord::new();
                let (at, pair_at, width) = (*at, *pair_at, *width);
                let read = reader.read_record(&mut row);
                // A quote that never closes swallows the rows after it into one field (which
                // may also leave its row short of fields): say so rather than what followed.
                if let Some(line) = reader.get_ref().unclosed_quote() {
                    anyhow::bail!("{name}: {}", mlkit_csv::unclosed_quote_message(line));
                }
                let more = read.map_err(|e| csv_error(&self.path, self.count + 1, e))?;
                if !more {
                    return Ok(None);
                }
                self.count += 1;
                let id = line_id(self.count);
                // The record's lines: its first, and one more per line end inside a field.
                let first = row.position().map_or(0, |p| p.line()) as usize;
                let last = first + row.iter().map(|f| f.matches('\n').count()).sum::<usize>();
                if let Some((line, offset)) = reader.get_mut().get_mut().take_invalid_through(last)
                {
                    let message = utf8::not_utf8(path, line, offset, Lossy::Refuse).to_string();
                    return Err(bad(id, Record::Csv(row), message));
                }
                if row.len() != width {
                    let (line, found) = (first as u64, row.len() as u64);
                    let message = mlkit_csv::ragged_row_message(line, found, width as u64, b',');
                    return Err(bad(id, Record::Csv(row), format!("{name}: {message}")));
                }
                Ok(Some(Doc {
                    id,
                    text: row.get(at).unwrap_or("").to_string(),
                    pair: pair_at.map(|p| row.get(p).unwrap_or("").to_string()),
                    record: Record::Csv(row),
                }))
            }
        }
    }
}

/// A record's id: its line (or record) number from 1, prefixed by the file name when there
/// are `several` inputs.
fn line_id(path: &Path, several: bool, n: usize) -> Value {
    if several {
        json!(format!("{}:{n}", path.display()))
    } else {
        json!(n)
    }
}

/// A record that could not be read, as an error the caller may read on after.
fn bad(id: Value, record: Record, message: String) -> anyhow::Error {
    anyhow::Error::new(BadRecord {
        id,
        record,
        message,
    })
}

/// A line that could not be read: invalid UTF-8 is a bad record (line `n`), which the input
/// reads on after; any other reading error ends the input.
fn read_failure(path: &Path, several: bool, e: &std::io::Error, n: usize) -> anyhow::Error {
    let error = read_error(path, e, Lossy::Refuse);
    if utf8::is_not_utf8(e) {
        let message = error.to_string();
        bad(line_id(path, several, n), Record::None, message)
    } else {
        error
    }
}

impl Iterator for DocReader {
    type Item = Result<Doc>;

    fn next(&mut self) -> Option<Result<Doc>> {
        self.next_doc().transpose()
    }
}

/// A JSON record's text `field`, or what is wrong with it.
fn string_field(map: &serde_json::Map<String, Value>, field: &str) -> Result<String, String> {
    match map.get(field) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Null) | None => Err(format!("no text field {field:?}")),
        Some(other) => Err(format!("field {field:?} is {other}, not a string")),
    }
}

/// `path`, or stdin for `-`, and whether it is a regular file.
pub(super) fn open_input(path: &Path) -> Result<(Box<dyn BufRead + Send>, bool)> {
    if path.as_os_str() == "-" {
        // Stdin redirected from a file (`< file`) is a file too.
        let is_file = std::io::stdin()
            .as_fd()
            .try_clone_to_owned()
            .ok()
            .and_then(|fd| File::from(fd).metadata().ok())
            .is_some_and(|m| m.is_file());
        let reader = BufReader::with_capacity(1 << 16, std::io::stdin());
        return Ok((Box::new(reader), is_file));
    }
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let is_file = file.metadata().is_ok_and(|m| m.is_file());
    Ok((Box::new(BufReader::with_capacity(1 << 16, file)), is_file))
}

/// A record's id as text (for tables and error messages).
pub fn id_text(id: &Value) -> String {
    match id {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::flags::RecordArgs;

    fn args(column: Option<&str>, lossy: bool) -> DocArgs {
        DocArgs::lines(RecordArgs {
            text_field: None,
            column: column.map(String::from),
            lossy,
        })
    }

    /// Every text `DocReader` reads from `bytes`, or its error.
    fn read(bytes: &[u8], args: &DocArgs) -> Result<Vec<String>> {
        let input = Box::new(std::io::Cursor::new(bytes.to_vec()));
        let reader = DocReader::new(Path::new("in"), input, true, args, false)?;
        reader.map(|d| d.map(|d| d.text)).collect()
    }

    /// Bytes that are mostly text: lines, commas, quotes and now and then invalid UTF-8.
    fn texty() -> impl Strategy<Value = Vec<u8>> {
        let piece = prop_oneof![
            4 => "[a-z é€😀]{0,6}".prop_map(String::into_bytes),
            2 => Just(b"\n".to_vec()),
            1 => Just(b"\r\n".to_vec()),
            1 => Just(b",".to_vec()),
            1 => Just(b"\"".to_vec()),
            1 => prop::sample::select(vec![
                vec![0xff],
                vec![0xe2, 0x82],
                vec![0xc3],
                vec![0x80, 0x80],
            ]),
        ];
        prop::collection::vec(piece, 0..40).prop_map(|p| p.concat())
    }

    proptest! {
        /// Line by line, texts and errors are what reading the whole input would give.
        #[test]
        fn lines_read_as_they_come_are_the_whole_input_s_lines(bytes in texty()) {
            let lossy = String::from_utf8_lossy(&bytes).into_owned();
            let want: Vec<String> = lossy.lines().map(String::from).collect();
            prop_assert_eq!(read(&bytes, &args(None, true)).unwrap(), want.clone());
            match String::from_utf8(bytes.clone()) {
                Ok(_) => prop_assert_eq!(read(&bytes, &args(None, false)).unwrap(), want),
                Err(e) => {
                    let at = e.utf8_error().valid_up_to();
                    let line = bytes[..at].iter().filter(|&&b| b == b'\n').count() + 1;
                    let error = read(&bytes, &args(None, false)).unwrap_err().to_string();
                    prop_assert!(
                        error.starts_with(&format!("in: line {line}, byte offset {at}: ")),
                        "{}", error
                    );
                }
            }
        }

        /// A CSV column read through the line-checking reader is the column the csv crate
        /// reads from the whole (mended) text; a ragged row is an error either way.
        #[test]
        fn a_csv_column_is_what_the_csv_crate_reads_from_the_whole_text(bytes in texty()) {
            let mut csv_bytes = b"a,b\n".to_vec();
            csv_bytes.extend_from_slice(&bytes);
            let lossy = String::from_utf8_lossy(&csv_bytes).into_owned();
            let mut whole = csv::Reader::from_reader(lossy.as_bytes());
            let want: Result<Vec<String>, _> = whole
                .records()
                .map(|r| r.map(|r| r.get(1).unwrap_or("").to_string()))
                .collect();
            let got = read(&csv_bytes, &args(Some("b"), true));
            // A quote that never closes is an error, though the csv crate reads on.
            let mut quotes = mlkit_csv::QuoteTracker::new(b',');
            quotes.feed(lossy.as_bytes());
            match want {
                Ok(want) if quotes.open_quote_line().is_none() => {
                    prop_assert_eq!(got.unwrap(), want)
                }
                _ => prop_assert!(got.is_err()),
            }
        }
    }
}

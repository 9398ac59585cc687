//! CSV as every mlkit subcommand reads it. The csv crate (and mlkit-sample's own scanner)
//! read a quoted field that never closes as running to the end of the input, so a stray
//! quote swallows every later row without an error of its own; pandas refuses such a file
//! ("EOF inside string"), and so does mlkit, naming the line where the quote opened.
//!
//! - [`QuoteTracker`] follows the quoting byte by byte as the csv crate reads it;
//! - [`Tracked`] puts one in front of a reader;
//! - the `*_message` functions word the errors alike in every subcommand.

use std::io::Read;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// At the start of a field (or of a record).
    FieldStart,
    /// Inside a field that did not start with a quote: quotes in it are plain text.
    Unquoted,
    /// Inside a quoted field.
    Quoted,
    /// Just after a quote inside a quoted field: a second quote is an escaped one, anything
    /// else means the field's quoting closed.
    QuoteInQuoted,
}

/// Follows CSV quoting (RFC 4180, as the csv crate and pandas read it: `""` inside quotes is
/// one quote, text after a closing quote runs on to the delimiter) to tell whether the input
/// read so far ends inside a quoted field, and on which line that field opened.
#[derive(Clone, Debug)]
pub struct QuoteTracker {
    delimiter: u8,
    state: State,
    /// The line being read, from 1.
    line: u64,
    /// The line where the current quoted field opened.
    opened: u64,
}

impl QuoteTracker {
    pub fn new(delimiter: u8) -> QuoteTracker {
        QuoteTracker {
            delimiter,
            state: State::FieldStart,
            line: 1,
            opened: 0,
        }
    }

    /// Follows the next bytes of the input. Only quotes change what matters, so it jumps
    /// from quote to quote (memchr), counting the newlines between; the byte before a quote
    /// tells whether the quote opens a field.
    pub fn feed(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            if self.state == State::QuoteInQuoted {
                self.step(bytes[0]);
                bytes = &bytes[1..];
                continue;
            }
            let Some(q) = memchr::memchr(b'"', bytes) else {
                self.line += newlines(bytes);
                if self.state != State::Quoted {
                    self.state = self.after_unquoted(bytes[bytes.len() - 1]);
                }
                return;
            };
            self.line += newlines(&bytes[..q]);
            if self.state != State::Quoted && q > 0 {
                self.state = self.after_unquoted(bytes[q - 1]);
            }
            self.step(b'"');
            bytes = &bytes[q + 1..];
        }
    }

    /// Follows one byte.
    fn step(&mut self, b: u8) {
        if b == b'\n' {
            self.line += 1;
        }
        self.state = match self.state {
            State::FieldStart if b == b'"' => {
                self.opened = self.line;
                State::Quoted
            }
            State::Quoted if b == b'"' => State::QuoteInQuoted,
            State::Quoted => State::Quoted,
            // `""` inside quotes: an escaped quote, still inside.
            State::QuoteInQuoted if b == b'"' => State::Quoted,
            State::FieldStart | State::Unquoted | State::QuoteInQuoted => self.after_unquoted(b),
        };
    }

    /// The state after byte `b` outside quotes.
    fn after_unquoted(&self, b: u8) -> State {
        if b == self.delimiter || b == b'\n' || b == b'\r' {
            State::FieldStart
        } else {
            State::Unquoted
        }
    }

    /// The line where a quoted field opened that the input read so far leaves open.
    pub fn open_quote_line(&self) -> Option<u64> {
        (self.state == State::Quoted).then_some(self.opened)
    }
}

/// The newlines in `bytes` (a loop the compiler vectorises).
pub fn newlines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}

/// A reader that follows the CSV quoting of what passes through it.
pub struct Tracked<R> {
    inner: R,
    tracker: QuoteTracker,
    at_end: bool,
}

impl<R: Read> Tracked<R> {
    pub fn new(inner: R, delimiter: u8) -> Tracked<R> {
        Tracked {
            inner,
            tracker: QuoteTracker::new(delimiter),
            at_end: false,
        }
    }

    /// The reader it reads from.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    /// Once the whole input has been read: the line where a quoted field opened that never
    /// closes.
    pub fn unclosed_quote(&self) -> Option<u64> {
        self.at_end
            .then(|| self.tracker.open_quote_line())
            .flatten()
    }
}

impl<R: Read> Read for Tracked<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() {
            self.at_end = true;
        }
        self.tracker.feed(&buf[..n]);
        Ok(n)
    }
}

/// An error for a quoted field that opens on `line` and never closes.
pub fn unclosed_quote_message(line: u64) -> String {
    format!(
        "line {line}: a quoted field starts here and is never closed; end it with a quote (\") \
         and write a quote inside a quoted field as two (\"\")"
    )
}

/// An error for a row with `found` fields where the header has `expected`.
pub fn ragged_row_message(line: u64, found: u64, expected: u64, delimiter: u8) -> String {
    let what = match delimiter {
        b',' => "a comma".to_string(),
        b'\t' => "a tab".to_string(),
        d => format!("the delimiter {:?}", d as char),
    };
    format!(
        "line {line}: found {found} fields where the header has {expected}; quote fields that \
         contain {what} and give every row the same fields"
    )
}

/// An error for a column that is not in the header, listing the columns there are.
pub fn missing_column_message(column: &str, header: &[&str]) -> String {
    format!("no column {column:?}; columns: {}", header.join(", "))
}

/// An error for an input without even a header row.
pub const EMPTY_INPUT_MESSAGE: &str =
    "the input is empty; a CSV file starts with a header row naming its columns";

/// What a csv-crate error says, with the line and how to mend it; `None` for an I/O error,
/// which the caller words (it knows the file). `record` counts data rows from 1.
pub fn error_message(e: &csv::Error, record: u64) -> Option<String> {
    Some(match e.kind() {
        csv::ErrorKind::Io(_) => return None,
        csv::ErrorKind::UnequalLengths {
            pos: Some(pos),
            expected_len,
            len,
        } => ragged_row_message(pos.line(), *len, *expected_len, b','),
        csv::ErrorKind::Utf8 {
            pos: Some(pos),
            err,
        } => format!(
            "line {}: field {} is not valid UTF-8; convert the file (iconv -f LATIN1 -t UTF-8)",
            pos.line(),
            err.field() + 1
        ),
        _ => format!("record {record}: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open_line(text: &str) -> Option<u64> {
        let mut t = QuoteTracker::new(b',');
        t.feed(text.as_bytes());
        t.open_quote_line()
    }

    #[test]
    fn closed_quoting_is_closed() {
        for text in [
            "",
            "a,b\n1,2\n",
            "a,b\n\"x, y\",2\n",
            "a,b\n\"say \"\"hi\"\"\",2\n",
            "a,b\n\"two\nlines\",2",
            "a,b\n5\" screen,2\n",
            "a,b\n\"x\"tail,2\r\n",
            "a\n\"\"",
        ] {
            assert_eq!(open_line(text), None, "{text:?}");
        }
    }

    #[test]
    fn an_open_quote_names_the_line_it_opened_on() {
        assert_eq!(open_line("a,b\n1,2\n3,\"4\n5,6\n"), Some(3));
        assert_eq!(open_line("a,b\n\"x\"\"\n"), Some(2));
        assert_eq!(open_line("a,b\n1,\"\"\"\n"), Some(2));
        assert_eq!(open_line("\""), Some(1));
    }

    proptest::proptest! {
        /// The tracker says a quote is open exactly when the csv crate reads a line appended
        /// after the text as part of the last field rather than as a record of its own.
        #[test]
        fn the_tracker_agrees_with_the_csv_crate(
            pieces in proptest::collection::vec(
                proptest::sample::select(vec!["a", "b", ",", "\"", "\n", "\r\n", "\r"]),
                0..30,
            )
        ) {
            let text = pieces.concat();
            let appended = format!("{text}\nz");
            let records: Vec<csv::StringRecord> = csv::ReaderBuilder::new()
                .has_headers(false)
                .flexible(true)
                .from_reader(appended.as_bytes())
                .records()
                .collect::<Result<_, _>>()
                .unwrap();
            let last = records.last().unwrap();
            let own_record = last.len() == 1 && &last[0] == "z";
            proptest::prop_assert_eq!(open_line(&text).is_none(), own_record, "{:?}", text);
        }
    }

    proptest::proptest! {
        /// Fed in any pieces, the tracker ends where it ends when fed a byte at a time.
        #[test]
        fn pieces_are_followed_as_single_bytes(
            pieces in proptest::collection::vec(
                proptest::sample::select(vec!["a", "b", ";", ",", "\"", "\n", "\r\n", "\r", "\"\""]),
                0..40,
            ),
            cuts in proptest::collection::vec(0usize..60, 0..6),
        ) {
            let text = pieces.concat();
            let bytes = text.as_bytes();
            let mut by_byte = QuoteTracker::new(b';');
            for b in bytes {
                by_byte.step(*b);
            }
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(bytes.len())).collect();
            cuts.push(0);
            cuts.push(bytes.len());
            cuts.sort_unstable();
            let mut by_piece = QuoteTracker::new(b';');
            for w in cuts.windows(2) {
                by_piece.feed(&bytes[w[0]..w[1]]);
            }
            proptest::prop_assert_eq!(by_piece.state, by_byte.state, "{:?}", text);
            proptest::prop_assert_eq!(by_piece.line, by_byte.line);
            proptest::prop_assert_eq!(by_piece.open_quote_line(), by_byte.open_quote_line());
        }
    }

    #[test]
    fn tracked_reader_reports_only_at_the_end() {
        let mut r = Tracked::new("a\n\"x\n".as_bytes(), b',');
        let mut first = [0u8; 3];
        r.read_exact(&mut first).unwrap();
        assert_eq!(r.unclosed_quote(), None);
        let mut rest = Vec::new();
        r.read_to_end(&mut rest).unwrap();
        assert_eq!(r.unclosed_quote(), Some(2));
    }
}

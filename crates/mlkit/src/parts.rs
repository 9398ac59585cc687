//! Several files read as one table, as Spark writes one (`data/part-*.csv`): the parts are
//! joined in the order given (a shell glob sorts them) into one spooled file, each header
//! checked to match the first and dropped, so the table is `pd.concat` of the parts with
//! `ignore_index=True`. Errors about a line of the joined file are put back in the terms of
//! the part it came from.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use tempfile::NamedTempFile;

/// The joined table: a spooled file, and where each part's rows begin in it.
pub struct Joined {
    spool: NamedTempFile,
    parts: Vec<Part>,
}

struct Part {
    path: PathBuf,
    /// The joined file's line (from 1) holding the part's first row.
    first_line: u64,
    /// The part's own line holding its first row (2 under a header, else 1).
    own_first_line: u64,
}

/// The error for a part whose header is not the first part's.
pub fn header_mismatch(part: &str, header: &str, first: &str, first_header: &str) -> String {
    format!(
        "{part}: its header ({header}) is not {first}'s ({first_header}); the parts of one \
         table must have the same columns in the same order"
    )
}

/// The bytes of a line without its line end.
fn trim_line_end(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Writes, counting the lines written.
struct CountingWriter<W> {
    inner: W,
    lines: u64,
    last: Option<u8>,
}

impl<W: Write> Write for CountingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.lines += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
        if n > 0 {
            self.last = Some(buf[n - 1]);
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl Joined {
    /// Joins `paths` (`-` for stdin, at most once); with `header`, each part's first line
    /// names its columns and must be the first part's. Empty files (no bytes at all, as
    /// Spark may write for an empty partition) are passed over.
    pub fn new(paths: &[PathBuf], header: bool) -> Result<Joined> {
        if paths.iter().filter(|p| p.as_os_str() == "-").count() > 1 {
            return Err(crate::UsageError("stdin (-) can be only one of the inputs".into()).into());
        }
        let spool = NamedTempFile::new().context("cannot create a temporary file")?;
        crate::cleanup::remove_on_signal(spool.path());
        let mut out = CountingWriter {
            inner: io::BufWriter::new(spool.reopen()?),
            lines: 0,
            last: None,
        };
        let mut parts = Vec::new();
        let mut first_header: Option<(Vec<u8>, &Path)> = None;
        for path in paths {
            let name = path.display();
            let mut input: Box<dyn BufRead> = if path.as_os_str() == "-" {
                Box::new(BufReader::new(io::stdin()))
            } else {
                let file = File::open(path).with_context(|| format!("cannot open {name}"))?;
                Box::new(BufReader::with_capacity(1 << 16, file))
            };
            let mut first = Vec::new();
            input
                .read_until(b'\n', &mut first)
                .with_context(|| format!("cannot read {name}"))?;
            if first.is_empty() {
                continue;
            }
            // A byte-order mark is not part of the header (or of the first row).
            let first = first
                .strip_prefix(b"\xef\xbb\xbf")
                .unwrap_or(&first)
                .to_vec();
            if header {
                match &first_header {
                    None => {
                        out.write_all(&first)?;
                        if !first.ends_with(b"\n") {
                            out.write_all(b"\n")?;
                        }
                        first_header = Some((trim_line_end(&first).to_vec(), path));
                    }
                    Some((want, first_path)) if trim_line_end(&first) != want.as_slice() => {
                        anyhow::bail!(header_mismatch(
                            &name.to_string(),
                            &String::from_utf8_lossy(trim_line_end(&first)),
                            &first_path.display().to_string(),
                            &String::from_utf8_lossy(want),
                        ));
                    }
                    Some(_) => {}
                }
            }
            parts.push(Part {
                path: path.clone(),
                first_line: out.lines + 1,
                own_first_line: if header { 2 } else { 1 },
            });
            if !header {
                out.write_all(&first)?;
            }
            io::copy(&mut input, &mut out).with_context(|| format!("cannot read {name}"))?;
            // A part whose last line has no line end must not run into the next part.
            if out.last != Some(b'\n') {
                out.write_all(b"\n")?;
            }
        }
        out.flush().context("cannot write the temporary file")?;
        Ok(Joined { spool, parts })
    }

    /// The joined file.
    pub fn path(&self) -> &Path {
        self.spool.path()
    }

    /// The part and its own line for a line of the joined file.
    fn locate(&self, line: u64) -> Option<(&Path, u64)> {
        let part = self.parts.iter().rev().find(|p| p.first_line <= line)?;
        Some((&part.path, line - part.first_line + part.own_first_line))
    }

    /// `message`, which names the joined file, in the parts' terms: "JOINED: line N" becomes
    /// "PART: line M"; any other mention of the joined file names the parts.
    pub fn explain(&self, message: &str) -> String {
        let joined = self.path().display().to_string();
        let mut out = String::new();
        let mut rest = message;
        while let Some(at) = rest.find(&joined) {
            out.push_str(&rest[..at]);
            rest = &rest[at + joined.len()..];
            let digits = rest
                .strip_prefix(": line ")
                .map(|r| r.bytes().take_while(u8::is_ascii_digit).count())
                .unwrap_or(0);
            let line = rest.get(7..7 + digits).and_then(|d| d.parse().ok());
            match line.and_then(|n| self.locate(n)) {
                Some((path, own)) if digits > 0 => {
                    out.push_str(&format!("{}: line {own}", path.display()));
                    rest = &rest[7 + digits..];
                }
                _ => out.push_str(&self.names()),
            }
        }
        out.push_str(rest);
        out
    }

    /// The parts, for messages about the whole table.
    fn names(&self) -> String {
        let names: Vec<String> = self
            .parts
            .iter()
            .map(|p| p.path.display().to_string())
            .collect();
        format!("the joined parts ({})", names.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    #[test]
    fn parts_join_under_one_header_and_lines_map_back_to_their_part() {
        let dir = tempfile::tempdir().unwrap();
        let a = write(dir.path(), "a.csv", b"\xef\xbb\xbfx,y\r\n1,2\r\n3,4");
        let empty = write(dir.path(), "empty.csv", b"");
        let b = write(dir.path(), "b.csv", b"x,y\n5,6\n");
        let c = write(dir.path(), "c.csv", b"x,y\n");
        let d = write(dir.path(), "d.csv", b"x,y\n7,8\n9,10\n");
        let joined = Joined::new(&[a, empty, b, c, d], true).unwrap();
        let text = std::fs::read_to_string(joined.path()).unwrap();
        assert_eq!(text, "x,y\r\n1,2\r\n3,4\n5,6\n7,8\n9,10\n");
        let at = |line| {
            let (p, n) = joined.locate(line).unwrap();
            (p.file_name().unwrap().to_str().unwrap().to_string(), n)
        };
        assert_eq!(at(3), ("a.csv".into(), 3));
        assert_eq!(at(4), ("b.csv".into(), 2));
        assert_eq!(at(6), ("d.csv".into(), 3));
        let message = format!("{}: line 5: bad row", joined.path().display());
        assert!(joined.explain(&message).ends_with("d.csv: line 2: bad row"));
        let message = format!("{} is empty", joined.path().display());
        assert!(joined.explain(&message).starts_with("the joined parts ("));
    }

    #[test]
    fn a_part_with_other_columns_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let a = write(dir.path(), "a.csv", b"x,y\n1,2\n");
        let b = write(dir.path(), "b.csv", b"y,x\n2,1\n");
        let error = Joined::new(&[a, b], true).err().unwrap().to_string();
        assert!(error.contains("b.csv: its header (y,x) is not"), "{error}");
        assert!(error.contains("a.csv's (x,y)"), "{error}");
    }

    #[test]
    fn lines_without_a_header_join_as_they_are() {
        let dir = tempfile::tempdir().unwrap();
        let a = write(dir.path(), "a.jsonl", b"{\"k\": 1}\n{\"k\": 2}");
        let b = write(dir.path(), "b.jsonl", b"{\"k\": 3}\n");
        let joined = Joined::new(&[a, b], false).unwrap();
        let text = std::fs::read_to_string(joined.path()).unwrap();
        assert_eq!(text, "{\"k\": 1}\n{\"k\": 2}\n{\"k\": 3}\n");
        assert_eq!(joined.locate(3).unwrap().1, 1);
    }
}

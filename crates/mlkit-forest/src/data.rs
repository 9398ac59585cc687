//! A table of features and a target, from CSV: numeric columns as numbers, others as
//! categories (coded by sorted value), missing values as NaN; text columns named by the user
//! as sparse TF-IDF columns (see `text`), and text columns the caller embedded as one dense
//! column per dimension.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use mlkit_csv::Tracked;

use crate::matrix::{Column, Matrix, SparseColumn};
use crate::parallel::{blocks, parallel_map};
use crate::text::{HashedText, TextOptions, Vocabulary};
use crate::{ForestError, Result};

/// Spellings of a missing value (pandas' defaults, the common ones).
const MISSING: &[&str] = &[
    "", "NA", "N/A", "NaN", "nan", "NULL", "null", "None", "#N/A",
];

pub fn is_missing(s: &str) -> bool {
    MISSING.contains(&s.trim())
}

/// How a feature column is turned into numbers; kept in the model file.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub enum Encoding {
    Numeric,
    /// Category codes 0..n in this (sorted) order; unseen values at predict time are missing.
    Categorical(Vec<String>),
    /// Sparse columns of TF-IDF over a learnt vocabulary, one per term; a missing text is an
    /// empty one.
    Tfidf(Vocabulary),
    /// Sparse columns of hashed TF-IDF, one per kept bucket (named `Text` in model files,
    /// as before vocabularies).
    #[serde(rename = "Text")]
    Hashed(HashedText),
    /// One dense column per dimension of a sentence embedding of the text, which the caller
    /// computes with the model named here (the forest library runs no model).
    Embedding(EmbeddingModel),
}

/// The widest embedding a model file may describe.
pub const MAX_EMBEDDING_DIM: usize = 1 << 16;

/// The model a text column was embedded with, so that prediction embeds the same way.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct EmbeddingModel {
    /// As the user named it (a bundled name, a directory, a hub id).
    pub name: String,
    /// A hash of the model's weights, e.g. `sha256:...`.
    pub hash: String,
    pub dim: usize,
}

/// A text column's embeddings, computed by the caller: `vectors` holds `model.dim` numbers
/// per data row, row after row.
#[derive(Clone, Debug)]
pub struct Embedded {
    pub column: String,
    pub model: EmbeddingModel,
    pub vectors: Vec<f32>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Feature {
    pub name: String,
    pub encoding: Encoding,
}

impl Feature {
    /// How many numeric columns the feature becomes.
    pub fn width(&self) -> usize {
        match &self.encoding {
            Encoding::Tfidf(v) => v.width(),
            Encoding::Hashed(t) => t.width(),
            Encoding::Embedding(e) => e.dim,
            Encoding::Numeric | Encoding::Categorical(_) => 1,
        }
    }

    /// Checks a feature read from a model file.
    pub fn validate(&self) -> std::result::Result<(), String> {
        let checked = match &self.encoding {
            Encoding::Tfidf(v) => v.validate(),
            Encoding::Hashed(t) => t.validate(),
            // (No sentence-embedding model is wider; a file claiming more is damaged.)
            Encoding::Embedding(e) if !(1..=MAX_EMBEDDING_DIM).contains(&e.dim) => Err(format!(
                "an embedding of {} dimensions (1 to {MAX_EMBEDDING_DIM})",
                e.dim
            )),
            _ => Ok(()),
        };
        checked.map_err(|e| format!("feature {:?}: {e}", self.name))
    }
}

/// The names of the numeric columns the features become, in order: a text feature's by
/// term (`COL:term`), an embedding's by dimension (`COL:emb[17]`).
pub fn column_names(features: &[Feature]) -> Vec<String> {
    features
        .iter()
        .flat_map(|f| match &f.encoding {
            Encoding::Tfidf(v) => v.terms.iter().map(|t| format!("{}:{t}", f.name)).collect(),
            Encoding::Hashed(t) => t.column_names(&f.name),
            Encoding::Embedding(e) => (0..e.dim).map(|i| format!("{}:emb[{i}]", f.name)).collect(),
            Encoding::Numeric | Encoding::Categorical(_) => vec![f.name.clone()],
        })
        .collect()
}

/// The features of a set of rows, plus the target's class index per row.
#[derive(Clone, Debug)]
pub struct Table {
    pub features: Vec<Feature>,
    /// One column per numeric column the features become (a text feature spans several,
    /// sparse); NaN where missing.
    pub matrix: Matrix,
    pub target: Vec<usize>,
    pub classes: Vec<String>,
}

impl Csv {
    /// Where data row `row` (from 0) is, for errors: the file (the part, for rows joined
    /// from several) and its line.
    fn at(&self, row: usize) -> String {
        let name = self
            .parts
            .iter()
            .rev()
            .find(|(first, _)| *first <= row)
            .map_or(self.name.as_str(), |(_, part)| part.as_str());
        match self.rows[row].position() {
            Some(p) => format!("{name}: line {}", p.line()),
            None => format!("{name}: record {}", row + 1),
        }
    }
}

impl Table {
    pub fn rows(&self) -> usize {
        self.target.len()
    }

    /// The given rows, in that order (the classes stay the same, even if some are absent).
    pub fn subset(&self, rows: &[usize]) -> Table {
        Table {
            features: self.features.clone(),
            matrix: self.matrix.subset(rows),
            target: rows.iter().map(|&r| self.target[r]).collect(),
            classes: self.classes.clone(),
        }
    }
}

/// The header and string cells of a CSV file (a record keeps its fields in one buffer).
pub struct Csv {
    /// The file's name, for errors.
    pub name: String,
    pub header: Vec<String>,
    pub rows: Vec<csv::StringRecord>,
    /// For rows joined from several files: each file's first row (from 0) and its name, in
    /// order; empty for one file.
    pub parts: Vec<(usize, String)>,
}

pub fn read_csv(name: &str, text: &str) -> Result<Csv> {
    let mut r = csv::ReaderBuilder::new().from_reader(Tracked::new(text.as_bytes(), b','));
    let header: Vec<String> = r
        .headers()
        .map_err(|e| csv_error(name, 0, &e))?
        .iter()
        .map(String::from)
        .collect();
    // A second column of one name would be read as the first, silently.
    if let Some(dup) = header
        .iter()
        .enumerate()
        .find_map(|(i, h)| header[..i].contains(h).then_some(h))
    {
        return Err(ForestError::Data(format!(
            "{name}: two columns are named {dup:?}; give every column its own name"
        )));
    }
    let mut rows = Vec::new();
    loop {
        let mut rec = csv::StringRecord::new();
        let read = r.read_record(&mut rec);
        // A quote that never closes swallows the rows after it into one field (which may
        // also leave its row short of fields): say so rather than what followed from it.
        if let Some(line) = r.get_ref().unclosed_quote() {
            return Err(ForestError::Data(format!(
                "{name}: {}",
                mlkit_csv::unclosed_quote_message(line)
            )));
        }
        if !read.map_err(|e| csv_error(name, rows.len() as u64 + 1, &e))? {
            break;
        }
        rows.push(rec);
    }
    if header.is_empty() {
        let empty = mlkit_csv::EMPTY_INPUT_MESSAGE;
        return Err(ForestError::Data(format!("{name}: {empty}")));
    }
    Ok(Csv {
        name: name.to_string(),
        header,
        rows,
        parts: Vec::new(),
    })
}

/// Inputs shorter than this are read by one thread: starting threads would cost more.
const PARALLEL_CSV_BYTES: usize = 1 << 20;

/// [`read_csv`], on `threads` threads where it can be: a file without a quote (or a `\r`) has
/// one record a line, so its lines can be cut into pieces read at the same time. Rows and their
/// positions are what `read_csv` gives; any error, and any file with a quote, is read by
/// `read_csv` itself, so that its error is worded and placed as always.
pub fn read_csv_threaded(name: &str, text: &str, threads: usize) -> Result<Csv> {
    read_csv_pieces(name, text, threads, PARALLEL_CSV_BYTES)
}

fn read_csv_pieces(name: &str, text: &str, threads: usize, min_bytes: usize) -> Result<Csv> {
    let bytes = text.as_bytes();
    let header_end = memchr::memchr(b'\n', bytes).map(|i| i + 1);
    let serial = threads < 2
        || bytes.len() < min_bytes
        // A quote may hold a newline; the csv crate counts the lines of `\r\n` files its
        // own way.
        || memchr::memchr2(b'"', b'\r', bytes).is_some()
        // Blank lines before the header would make another line the header.
        || matches!(bytes.first(), None | Some(b'\n' | b'\r'));
    let (false, Some(header_end)) = (serial, header_end) else {
        return read_csv(name, text);
    };
    let mut csv = read_csv(name, &text[..header_end])?;
    let body = &bytes[header_end..];
    // Pieces end just after a newline, so that no record is cut.
    let pieces = threads * 4;
    let mut ends: Vec<usize> = (1..pieces)
        .filter_map(|p| {
            let at = body.len() * p / pieces;
            memchr::memchr(b'\n', &body[at..]).map(|i| at + i + 1)
        })
        .collect();
    ends.push(body.len());
    ends.dedup();
    let starts = std::iter::once(0).chain(ends.iter().copied());
    let ranges: Vec<(usize, usize)> = starts.zip(ends.iter().copied()).collect();
    let width = csv.header.len();
    let parts = parallel_map(&ranges, threads, |&(start, end)| {
        let piece = &body[start..end];
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(piece);
        let mut rows = Vec::new();
        let mut record = csv::StringRecord::new();
        loop {
            match reader.read_record(&mut record) {
                Ok(true) if record.len() == width => rows.push(std::mem::take(&mut record)),
                Ok(false) => break,
                // A ragged row or invalid text: `read_csv` says what and where.
                _ => return None,
            }
        }
        Some((rows, mlkit_csv::newlines(piece)))
    });
    // Positions count from the file's start: lines and bytes before the piece, records
    // before it (the header is record 0). The header is line 1, so the body starts on 2.
    let mut line = 2;
    for (part, &(start, _)) in parts.into_iter().zip(&ranges) {
        let Some((rows, lines)) = part else {
            return read_csv(name, text);
        };
        for mut row in rows {
            if let Some(p) = row.position() {
                let mut at = csv::Position::new();
                at.set_line(line + p.line() - 1)
                    .set_byte((header_end + start) as u64 + p.byte())
                    .set_record(csv.rows.len() as u64 + 1);
                row.set_position(Some(at));
            }
            csv.rows.push(row);
        }
        line += lines;
    }
    Ok(csv)
}

/// A CSV reading error naming the file and line, and how to mend the row (as every mlkit
/// subcommand words it).
fn csv_error(name: &str, record: u64, e: &csv::Error) -> ForestError {
    ForestError::Data(match mlkit_csv::error_message(e, record) {
        Some(message) => format!("{name}: {message}"),
        None => format!("{name}: {e}"),
    })
}

fn column(csv: &Csv, name: &str) -> Result<usize> {
    csv.header.iter().position(|h| h == name).ok_or_else(|| {
        let header: Vec<&str> = csv.header.iter().map(String::as_str).collect();
        ForestError::Schema(mlkit_csv::missing_column_message(name, &header))
    })
}

/// Which columns are features: `include` if given, else all but the target and `exclude`.
pub fn feature_names(
    csv: &Csv,
    target: &str,
    include: &[String],
    exclude: &[String],
) -> Result<Vec<String>> {
    column(csv, target)?;
    for c in include.iter().chain(exclude) {
        column(csv, c)?;
    }
    let names: Vec<String> = if include.is_empty() {
        csv.header
            .iter()
            .filter(|h| *h != target && !exclude.contains(h))
            .cloned()
            .collect()
    } else {
        include.to_vec()
    };
    // A model that reads its own answer learns nothing.
    if names.iter().any(|n| n == target) {
        return Err(ForestError::Schema(format!(
            "the target column {target:?} cannot also be a feature"
        )));
    }
    if names.is_empty() {
        return Err(ForestError::Schema("no feature columns left".into()));
    }
    Ok(names)
}

/// Which columns are text, and how text becomes features.
#[derive(Clone, Debug, Default)]
pub struct TextFeatures<'a> {
    /// Columns that become TF-IDF features.
    pub tfidf: &'a [String],
    pub options: TextOptions,
    /// Columns the caller embedded.
    pub embedded: &'a [Embedded],
}

/// Learns each feature's encoding from training data and encodes it, with the target. The
/// text columns (which must be among `names`) become TF-IDF columns or embeddings; a column
/// may be both.
pub fn training_table(
    csv: &Csv,
    target: &str,
    names: &[String],
    text: &TextFeatures,
    threads: usize,
) -> Result<Table> {
    let t = column(csv, target)?;
    let mut features = Vec::new();
    let named = text
        .tfidf
        .iter()
        .chain(text.embedded.iter().map(|e| &e.column));
    for name in named {
        if !names.contains(name) {
            return Err(ForestError::Schema(format!(
                "text column {name:?} is not among the feature columns"
            )));
        }
    }
    // Whether each column is numeric: every cell a number or missing. The numbers parsed
    // here are the numeric columns' values; `encode` does not parse them again.
    let indices = names
        .iter()
        .map(|name| column(csv, name))
        .collect::<Result<Vec<_>>>()?;
    let specs: Vec<(usize, Option<&[String]>)> = indices.iter().map(|&c| (c, None)).collect();
    let mut parsed: Vec<(String, Vec<f32>)> = Vec::new();
    for ((name, &c), numbers) in names
        .iter()
        .zip(&indices)
        .zip(parse_columns(csv, &specs, threads))
    {
        let embedded = text.embedded.iter().find(|e| &e.column == name);
        if text.tfidf.contains(name) {
            let texts = csv.rows.iter().map(|r| cell_text(&r[c]));
            let encoding = match text.options.hash {
                Some(buckets) => Encoding::Hashed(HashedText::fit(
                    texts,
                    buckets,
                    text.options.ngram,
                    text.options.sublinear_tf,
                )),
                None => Encoding::Tfidf(
                    Vocabulary::fit(texts, &text.options)
                        .map_err(|e| ForestError::Data(format!("text column {name:?}: {e}")))?,
                ),
            };
            features.push(Feature {
                name: name.clone(),
                encoding,
            });
        }
        if let Some(e) = embedded {
            features.push(Feature {
                name: name.clone(),
                encoding: Encoding::Embedding(e.model.clone()),
            });
        }
        if text.tfidf.contains(name) || embedded.is_some() {
            continue;
        }
        let encoding = if let Ok(numbers) = numbers {
            parsed.push((name.clone(), numbers));
            Encoding::Numeric
        } else {
            let values: BTreeSet<&str> = csv
                .rows
                .iter()
                .map(|r| r[c].trim())
                .filter(|v| !is_missing(v))
                .collect();
            Encoding::Categorical(values.into_iter().map(String::from).collect())
        };
        features.push(Feature {
            name: name.clone(),
            encoding,
        });
    }
    let mut classes: Vec<String> = Vec::new();
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    let labels: BTreeSet<&str> = csv.rows.iter().map(|r| r[t].trim()).collect();
    for (n, r) in csv.rows.iter().enumerate() {
        if is_missing(&r[t]) {
            return Err(ForestError::Data(format!(
                "{}: the target {target:?} is missing; drop such rows first",
                csv.at(n)
            )));
        }
    }
    for l in labels {
        index.insert(l.to_string(), classes.len());
        classes.push(l.to_string());
    }
    let target_idx = csv.rows.iter().map(|r| index[r[t].trim()]).collect();
    let matrix = encode_parsed(csv, &features, text.embedded, threads, parsed)?;
    Ok(Table {
        features,
        matrix,
        target: target_idx,
        classes,
    })
}

/// A text cell as text features read it: a missing value is an empty text.
pub fn cell_text(cell: &str) -> &str {
    if is_missing(cell) {
        ""
    } else {
        cell
    }
}

/// Encodes a CSV's feature columns with a model's schema (extra columns are ignored);
/// `embedded` holds the embeddings of the schema's embedding features. Numeric and
/// categorical columns are parsed `threads` at a time.
pub fn encode(
    csv: &Csv,
    features: &[Feature],
    embedded: &[Embedded],
    threads: usize,
) -> Result<Matrix> {
    encode_parsed(csv, features, embedded, threads, Vec::new())
}

/// [`encode`], with the values of some numeric features already parsed (by name).
fn encode_parsed(
    csv: &Csv,
    features: &[Feature],
    embedded: &[Embedded],
    threads: usize,
    mut parsed: Vec<(String, Vec<f32>)>,
) -> Result<Matrix> {
    let missing: Vec<&str> = features
        .iter()
        .filter(|f| !csv.header.contains(&f.name))
        .map(|f| f.name.as_str())
        .collect();
    if !missing.is_empty() {
        // The data does not fit the model: not a matter of how the model was asked for.
        return Err(ForestError::Data(format!(
            "{}: the model needs columns that are not in the data: {}",
            csv.name,
            missing.join(", ")
        )));
    }
    let rows = csv.rows.len();
    let to_parse: Vec<&Feature> = features
        .iter()
        .filter(|f| matches!(f.encoding, Encoding::Numeric | Encoding::Categorical(_)))
        .filter(|f| !parsed.iter().any(|(name, _)| *name == f.name))
        .collect();
    let specs = to_parse
        .iter()
        .map(|f| {
            let categories = match &f.encoding {
                Encoding::Categorical(c) => Some(c.as_slice()),
                _ => None,
            };
            column(csv, &f.name).map(|c| (c, categories))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut scalars = parse_columns(csv, &specs, threads)
        .into_iter()
        .zip(to_parse.iter().zip(&specs))
        .map(|(values, (f, &(c, _)))| {
            values.map_err(|row| {
                ForestError::Data(format!(
                    "{}, column {:?}: {:?} is not a number; the model was trained on numbers \
                     in this column",
                    csv.at(row),
                    f.name,
                    csv.rows[row][c].trim()
                ))
            })
        });
    let mut columns = Vec::new();
    for f in features {
        let c = column(csv, &f.name)?;
        let values = csv.rows.iter().map(|r| &r[c]);
        match &f.encoding {
            Encoding::Tfidf(v) => columns.extend(sparse_columns(
                f.width(),
                values.map(|t| v.row(cell_text(t))),
            )),
            Encoding::Hashed(h) => columns.extend(sparse_columns(
                f.width(),
                values.map(|t| h.row(cell_text(t))),
            )),
            Encoding::Embedding(model) => {
                let e = embedded
                    .iter()
                    .find(|e| e.column == f.name)
                    .ok_or_else(|| {
                        ForestError::Usage(format!(
                            "column {:?} must be embedded with {} first",
                            f.name, model.name
                        ))
                    })?;
                if e.model.hash != model.hash || e.model.dim != model.dim {
                    return Err(ForestError::Usage(format!(
                        "column {:?} was embedded with {} ({}), but the model was trained on \
                         embeddings from {} ({}); embed with the model it was trained with",
                        f.name, e.model.name, e.model.hash, model.name, model.hash
                    )));
                }
                if e.vectors.len() != rows * model.dim {
                    return Err(ForestError::Data(format!(
                        "column {:?}: {} embedding values for {rows} rows of {} dimensions",
                        f.name,
                        e.vectors.len(),
                        model.dim
                    )));
                }
                for d in 0..model.dim {
                    columns.push(Column::Dense(
                        e.vectors
                            .iter()
                            .skip(d)
                            .step_by(model.dim)
                            .copied()
                            .collect(),
                    ));
                }
            }
            Encoding::Numeric | Encoding::Categorical(_) => {
                let values = match parsed.iter().position(|(name, _)| *name == f.name) {
                    Some(i) => parsed.swap_remove(i).1,
                    None => scalars
                        .next()
                        .expect("one parsed column per scalar feature")?,
                };
                columns.push(Column::Dense(values));
            }
        }
    }
    Matrix::new(rows, columns)
}

/// `width` sparse columns from each row's (column, value) entries, rows in order.
fn sparse_columns(width: usize, rows: impl Iterator<Item = Vec<(usize, f32)>>) -> Vec<Column> {
    let mut columns = vec![SparseColumn::default(); width];
    for (row, entries) in rows.enumerate() {
        for (c, x) in entries {
            columns[c].rows.push(row as u32);
            columns[c].values.push(x);
        }
    }
    columns.into_iter().map(Column::Sparse).collect()
}

/// Rows parsed by one thread at a time in [`parse_columns`]: enough to share the work, few
/// enough that the blocks' columns are cheap to join.
const PARSE_BLOCK: usize = 8192;

/// The numeric (`None`) or categorical (`Some(categories)`, as codes) cells of the columns at
/// the given indices, or for a column with a cell that is not a number the first such row.
/// Rows are parsed a block at a time, each row's cells together: a column at a time would
/// read every row's record from memory once per column.
fn parse_columns(
    csv: &Csv,
    specs: &[(usize, Option<&[String]>)],
    threads: usize,
) -> Vec<std::result::Result<Vec<f32>, usize>> {
    let n = csv.rows.len();
    let blocks = blocks(n, PARSE_BLOCK);
    let parts = parallel_map(&blocks, threads, |&(start, end)| {
        // (Not `vec![..; n]`: its clones would not keep the capacity.)
        let mut columns: Vec<std::result::Result<Vec<f32>, usize>> = (0..specs.len())
            .map(|_| Ok(Vec::with_capacity(end - start)))
            .collect();
        for (row, record) in csv.rows[start..end].iter().enumerate() {
            for (out, &(c, categories)) in columns.iter_mut().zip(specs) {
                if let Ok(values) = out {
                    match scalar(categories, &record[c]) {
                        Some(x) => values.push(x),
                        None => *out = Err(start + row),
                    }
                }
            }
        }
        columns
    });
    let mut columns: Vec<std::result::Result<Vec<f32>, usize>> = (0..specs.len())
        .map(|_| Ok(Vec::with_capacity(n)))
        .collect();
    for part in parts {
        for (all, block) in columns.iter_mut().zip(part) {
            match (&mut *all, block) {
                (Ok(values), Ok(block)) => values.extend(block),
                (Ok(_), Err(row)) => *all = Err(row),
                (Err(_), _) => {}
            }
        }
    }
    columns
}

/// A numeric cell as a number (NaN if missing), `None` if it is not one. A plain number
/// parses at once; only what does not is trimmed and checked for a spelling of missing.
fn number(cell: &str) -> Option<f32> {
    if let Ok(x) = cell.parse::<f32>() {
        return Some(x);
    }
    let v = cell.trim();
    if MISSING.contains(&v) {
        return Some(f32::NAN);
    }
    v.parse::<f32>().ok()
}

/// A numeric cell, or a categorical one's code, as a number (NaN if missing or unseen);
/// `None` for a numeric column's cell that is not a number.
fn scalar(categories: Option<&[String]>, v: &str) -> Option<f32> {
    match categories {
        None => number(v),
        Some(_) if is_missing(v) => Some(f32::NAN),
        Some(values) => Some(
            values
                .binary_search_by(|x| x.as_str().cmp(v.trim()))
                .map_or(f32::NAN, |i| i as f32),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Read in pieces, a table gives `read_csv`'s rows, positions and errors.
    #[test]
    fn pieces_read_as_one_reader_reads() {
        let mut big = String::from("a,b,c\n");
        for i in 0..500 {
            big.push_str(&format!("{i},x{i},{}\n", i % 7));
            if i % 97 == 0 {
                big.push('\n');
            }
        }
        let ragged = format!("{big}1,2\n{big}");
        let unterminated = big.trim_end().to_string();
        let crlf = big.replace('\n', "\r\n");
        let quoted = format!("{big}\"q,1\",2,3\n");
        let long_last = format!("{big}4,5,6,7");
        let tiny = "a\n1\n".to_string();
        for text in [
            &big,
            &ragged,
            &unterminated,
            &crlf,
            &quoted,
            &long_last,
            &tiny,
        ] {
            let want = read_csv("t.csv", text);
            for threads in [2, 3, 8] {
                let got = read_csv_pieces("t.csv", text, threads, 0);
                match (&want, &got) {
                    (Ok(w), Ok(g)) => {
                        assert_eq!(w.header, g.header);
                        assert_eq!(w.rows, g.rows);
                        let at = |c: &Csv| -> Vec<_> {
                            c.rows
                                .iter()
                                .map(|r| r.position().map(|p| (p.line(), p.byte(), p.record())))
                                .collect()
                        };
                        assert_eq!(at(w), at(g));
                    }
                    (Err(w), Err(g)) => assert_eq!(w.to_string(), g.to_string()),
                    _ => panic!(
                        "{threads} threads: {} against {}",
                        got.is_ok(),
                        want.is_ok()
                    ),
                }
            }
        }
        assert!(read_csv("t.csv", &ragged).is_err());
    }
}

//! A table of features and a target, from CSV: numeric columns as numbers, others as
//! categories (coded by sorted value), missing values as NaN; text columns named by the user
//! as hashed TF-IDF columns (see `text`).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use mlkit_csv::Tracked;

use crate::text::TextEncoding;
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
    /// Columns of hashed TF-IDF, one per kept bucket; a missing text is an empty one.
    Text(TextEncoding),
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
            Encoding::Text(t) => t.width(),
            _ => 1,
        }
    }
}

/// The names of the numeric columns the features become, in order.
pub fn column_names(features: &[Feature]) -> Vec<String> {
    features
        .iter()
        .flat_map(|f| match &f.encoding {
            Encoding::Text(t) => t.column_names(&f.name),
            _ => vec![f.name.clone()],
        })
        .collect()
}

/// Rows x features, column-major, plus the target's class index per row.
#[derive(Clone, Debug)]
pub struct Table {
    pub features: Vec<Feature>,
    /// `columns[c][row]` (a text feature spans several columns); NaN where missing.
    pub columns: Vec<Vec<f32>>,
    pub target: Vec<usize>,
    pub classes: Vec<String>,
}

impl Csv {
    /// Where data row `row` (from 0) is, for errors: the file and its line.
    fn at(&self, row: usize) -> String {
        match self.rows[row].position() {
            Some(p) => format!("{}: line {}", self.name, p.line()),
            None => format!("{}: record {}", self.name, row + 1),
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
            columns: self
                .columns
                .iter()
                .map(|c| rows.iter().map(|&r| c[r]).collect())
                .collect(),
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
    })
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

/// Learns each feature's encoding from training data and encodes it, with the target. The
/// `text` columns (which must be among `names`) become TF-IDF columns over `buckets` hash
/// buckets each.
pub fn training_table(
    csv: &Csv,
    target: &str,
    names: &[String],
    text: &[String],
    buckets: usize,
) -> Result<Table> {
    let t = column(csv, target)?;
    let mut features = Vec::new();
    if let Some(name) = text.iter().find(|n| !names.contains(n)) {
        return Err(ForestError::Schema(format!(
            "text column {name:?} is not among the feature columns"
        )));
    }
    for name in names {
        let c = column(csv, name)?;
        if text.contains(name) {
            let texts = csv.rows.iter().map(|r| cell_text(&r[c]));
            features.push(Feature {
                name: name.clone(),
                encoding: Encoding::Text(TextEncoding::fit(texts, buckets)),
            });
            continue;
        }
        let numeric = csv
            .rows
            .iter()
            .map(|r| r[c].trim())
            .filter(|v| !is_missing(v))
            .all(|v| v.parse::<f64>().is_ok());
        let encoding = if numeric {
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
    let columns = encode(csv, &features)?;
    Ok(Table {
        features,
        columns,
        target: target_idx,
        classes,
    })
}

fn cell_text(cell: &str) -> &str {
    if is_missing(cell) {
        ""
    } else {
        cell
    }
}

/// Encodes a CSV's feature columns with a model's schema (extra columns are ignored).
pub fn encode(csv: &Csv, features: &[Feature]) -> Result<Vec<Vec<f32>>> {
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
    let mut columns = Vec::new();
    for f in features {
        let c = column(csv, &f.name)?;
        let values = csv.rows.iter().map(|r| &r[c]);
        match &f.encoding {
            Encoding::Text(t) => {
                let first = columns.len();
                columns.extend(std::iter::repeat_n(vec![0.0; csv.rows.len()], t.width()));
                for (row, text) in values.enumerate() {
                    for (b, x) in t.row(cell_text(text)) {
                        columns[first + b][row] = x;
                    }
                }
            }
            Encoding::Numeric | Encoding::Categorical(_) => {
                let categories = match &f.encoding {
                    Encoding::Categorical(c) => Some(c.as_slice()),
                    _ => None,
                };
                columns.push(
                    values
                        .enumerate()
                        .map(|(n, v)| {
                            scalar(categories, v.trim()).ok_or_else(|| {
                                ForestError::Data(format!(
                                    "{}, column {:?}: {:?} is not a number; the model was \
                                     trained on numbers in this column",
                                    csv.at(n),
                                    f.name,
                                    v.trim()
                                ))
                            })
                        })
                        .collect::<Result<_>>()?,
                )
            }
        }
    }
    Ok(columns)
}

/// A numeric cell, or a categorical one's code, as a number (NaN if missing or unseen);
/// `None` for a numeric column's cell that is not a number.
fn scalar(categories: Option<&[String]>, v: &str) -> Option<f32> {
    if is_missing(v) {
        return Some(f32::NAN);
    }
    match categories {
        None => v.parse::<f32>().ok(),
        Some(values) => Some(
            values
                .binary_search_by(|x| x.as_str().cmp(v))
                .map_or(f32::NAN, |i| i as f32),
        ),
    }
}

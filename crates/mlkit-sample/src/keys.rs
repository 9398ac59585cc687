//! Group keys typed the way pandas types them, so groups merge and sort as in pandas.
//!
//! `pandas.read_csv` turns a column into int64 when every non-missing value is an integer,
//! float64 when every one is a number, bool for True/False words, and str otherwise.
//! `groupby(sort=True)` then orders keys by that type: "10" after "9" in an int column but
//! before it in a str column, and "01" and "1" in an int column are one group.

use std::cmp::Ordering;

/// The strings `pandas.read_csv` reads as NaN by default (`na_values`).
const PANDAS_NA: [&str; 19] = [
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
];

/// True when pandas would read this text as a missing value.
pub fn is_pandas_na(text: &[u8]) -> bool {
    PANDAS_NA.iter().any(|na| na.as_bytes() == text)
}

/// One cell of a key column as the reader saw it, before the column's type is known.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RawCell {
    /// Text from a delimited file; pandas' rules decide what it is.
    Text(Vec<u8>),
    /// A value typed as a string by its file format (JSON, Parquet): always text.
    Str(Vec<u8>),
    Null,
    Int(i64),
    /// f64 bits; -0.0 is folded to 0.0 since pandas puts them in one group.
    Float(u64),
    Bool(bool),
}

impl RawCell {
    pub fn float(v: f64) -> RawCell {
        if v.is_nan() {
            RawCell::Null
        } else if v == 0.0 {
            RawCell::Float(0f64.to_bits())
        } else {
            RawCell::Float(v.to_bits())
        }
    }

    fn kind(&self) -> Kind {
        match self {
            RawCell::Null => Kind::Missing,
            RawCell::Int(_) => Kind::Int,
            RawCell::Float(_) => Kind::Float,
            RawCell::Bool(_) => Kind::Bool,
            RawCell::Text(t) => text_kind(t),
            RawCell::Str(_) => Kind::Str,
        }
    }

    /// How the cell reads in a report: its text, or the value written plainly.
    pub fn display(&self) -> String {
        match self {
            RawCell::Text(t) | RawCell::Str(t) => String::from_utf8_lossy(t).into_owned(),
            RawCell::Null => "NaN".to_string(),
            RawCell::Int(v) => v.to_string(),
            RawCell::Float(b) => f64::from_bits(*b).to_string(),
            RawCell::Bool(true) => "True".to_string(),
            RawCell::Bool(false) => "False".to_string(),
        }
    }
}

/// What a column holds once all its values are seen, in pandas' order of preference.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Missing,
    Bool,
    Int,
    Float,
    Str,
}

fn trimmed(text: &[u8]) -> &[u8] {
    text.trim_ascii()
}

fn parse_int(text: &[u8]) -> Option<i64> {
    std::str::from_utf8(trimmed(text)).ok()?.parse().ok()
}

fn parse_float(text: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(trimmed(text)).ok()?;
    // Rust also reads "nan" and "infinity"; pandas' missing words are handled before this.
    s.parse().ok()
}

fn parse_bool(text: &[u8]) -> Option<bool> {
    match text {
        b"True" | b"TRUE" | b"true" => Some(true),
        b"False" | b"FALSE" | b"false" => Some(false),
        _ => None,
    }
}

fn text_kind(t: &[u8]) -> Kind {
    if is_pandas_na(t) {
        Kind::Missing
    } else if parse_int(t).is_some() {
        Kind::Int
    } else if parse_float(t).is_some() {
        Kind::Float
    } else if parse_bool(t).is_some() {
        Kind::Bool
    } else {
        Kind::Str
    }
}

/// Combines two kinds seen in one column: ints widen to floats, anything else mixed is str.
fn widen(a: Kind, b: Kind) -> Kind {
    match (a, b) {
        (Kind::Missing, k) | (k, Kind::Missing) => k,
        (x, y) if x == y => x,
        (Kind::Int, Kind::Float) | (Kind::Float, Kind::Int) => Kind::Float,
        _ => Kind::Str,
    }
}

/// A key column's inferred type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ColumnType(Kind);

impl ColumnType {
    /// The type pandas would give a column holding these (distinct) cells.
    pub fn infer<'a>(cells: impl IntoIterator<Item = &'a RawCell>) -> ColumnType {
        ColumnType(
            cells
                .into_iter()
                .fold(Kind::Missing, |acc, c| widen(acc, c.kind())),
        )
    }

    /// The cell as a value of this column's type.
    pub fn key(self, cell: &RawCell) -> Key {
        match (self.0, cell) {
            (_, RawCell::Null) | (Kind::Missing, _) => Key::Missing,
            (Kind::Str, RawCell::Text(t)) => {
                if is_pandas_na(t) {
                    Key::Missing
                } else {
                    Key::Str(t.clone())
                }
            }
            (_, RawCell::Str(t)) => Key::Str(t.clone()),
            (Kind::Str, other) => Key::Str(other.display().into_bytes()),
            (_, RawCell::Text(t)) if is_pandas_na(t) => Key::Missing,
            (Kind::Int, RawCell::Text(t)) => parse_int(t).map_or(Key::Missing, Key::Int),
            (Kind::Float, RawCell::Text(t)) => parse_float(t).map_or(Key::Missing, Key::float),
            (Kind::Bool, RawCell::Text(t)) => parse_bool(t).map_or(Key::Missing, Key::Bool),
            (Kind::Float, RawCell::Int(v)) => Key::float(*v as f64),
            (_, RawCell::Int(v)) => Key::Int(*v),
            (_, RawCell::Float(b)) => Key::float(f64::from_bits(*b)),
            (_, RawCell::Bool(b)) => Key::Bool(*b),
        }
    }
}

/// A typed key value. Within one column all values share a type; missing sorts last, as
/// pandas places the NaN group with `dropna=False`.
#[derive(Clone, Debug, PartialEq)]
pub enum Key {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Vec<u8>),
    Missing,
}

impl Key {
    fn float(v: f64) -> Key {
        if v.is_nan() {
            Key::Missing
        } else {
            // -0.0 == 0.0 in pandas' hash table.
            Key::Float(if v == 0.0 { 0.0 } else { v })
        }
    }

    fn rank(&self) -> u8 {
        match self {
            Key::Bool(_) => 0,
            Key::Int(_) => 1,
            Key::Float(_) => 2,
            Key::Str(_) => 3,
            Key::Missing => 4,
        }
    }

    pub fn is_missing(&self) -> bool {
        matches!(self, Key::Missing)
    }
}

impl Eq for Key {}

impl Ord for Key {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Key::Bool(a), Key::Bool(b)) => a.cmp(b),
            (Key::Int(a), Key::Int(b)) => a.cmp(b),
            (Key::Float(a), Key::Float(b)) => a.total_cmp(b),
            (Key::Str(a), Key::Str(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// pandas' float reading of a weight cell: missing words are NaN (weight 0 later).
pub fn parse_weight_text(text: &[u8]) -> Option<f64> {
    if is_pandas_na(text) {
        Some(f64::NAN)
    } else {
        parse_float(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> RawCell {
        RawCell::Text(s.as_bytes().to_vec())
    }

    #[test]
    fn int_columns_sort_numerically_and_merge_spellings() {
        let cells = [text("10"), text("9"), text("09"), text("")];
        let ty = ColumnType::infer(&cells);
        assert_eq!(ty.key(&cells[0]), Key::Int(10));
        assert_eq!(ty.key(&cells[1]), ty.key(&cells[2]));
        assert!(ty.key(&cells[1]) < ty.key(&cells[0]));
        assert!(ty.key(&cells[3]).is_missing());
    }

    #[test]
    fn one_word_makes_the_column_text() {
        let cells = [text("10"), text("9"), text("x")];
        let ty = ColumnType::infer(&cells);
        assert!(ty.key(&cells[0]) < ty.key(&cells[1]));
        assert_eq!(ty.key(&cells[1]), Key::Str(b"9".to_vec()));
    }

    #[test]
    fn ints_and_floats_make_floats() {
        let cells = [text("1"), text("1.0"), text("NA"), text("-0.0"), text("0")];
        let ty = ColumnType::infer(&cells);
        assert_eq!(ty.key(&cells[0]), ty.key(&cells[1]));
        assert_eq!(ty.key(&cells[3]), ty.key(&cells[4]));
        assert!(ty.key(&cells[2]).is_missing());
    }
}

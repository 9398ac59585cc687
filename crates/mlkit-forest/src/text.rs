//! Text columns as features: TF-IDF of word n-grams, as scikit-learn's `TfidfVectorizer`
//! computes it (a vocabulary learnt from the training texts, pruned by document frequency
//! and size; smoothed idf; optional sublinear tf; l2-normalised rows), or, with a fixed
//! number of hash buckets instead of a vocabulary, as `HashingVectorizer(alternate_sign=False,
//! norm=None)` followed by `TfidfTransformer()`.
//!
//! Words are lowercased runs of two or more word characters (scikit-learn's default
//! `(?u)\b\w\w+\b`, where a word character is a letter, a number or `_`); n-grams join
//! neighbouring words with one space. Each text becomes a sparse row: its terms' tf-idf
//! values, the rest zero.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// A document-frequency bound: a number of texts, or a share of them (scikit-learn's int
/// and float `min_df`/`max_df`).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
pub enum DocFreq {
    Count(usize),
    Fraction(f64),
}

impl DocFreq {
    /// The bound in texts, out of `n`.
    fn texts(self, n: usize) -> f64 {
        match self {
            DocFreq::Count(c) => c as f64,
            DocFreq::Fraction(f) => f * n as f64,
        }
    }
}

/// How text columns become features.
#[derive(Clone, Debug, PartialEq)]
pub struct TextOptions {
    /// Shortest and longest n-gram, in words.
    pub ngram: (usize, usize),
    /// Terms in fewer texts than this are dropped.
    pub min_df: DocFreq,
    /// Terms in more texts than this are dropped.
    pub max_df: DocFreq,
    /// Keep only this many terms, the most frequent over all training texts.
    pub max_features: Option<usize>,
    /// Use 1 + ln(tf) instead of the count.
    pub sublinear_tf: bool,
    /// Hash terms into this many buckets instead of learning a vocabulary.
    pub hash: Option<usize>,
}

impl Default for TextOptions {
    /// mlkit's defaults: word 1- and 2-grams seen in at least 2 texts, sublinear tf, a
    /// learnt vocabulary (the everyday scikit-learn recipe for topic classification; on
    /// short texts it beats TfidfVectorizer's own defaults).
    fn default() -> Self {
        TextOptions {
            ngram: (1, 2),
            min_df: DocFreq::Count(2),
            max_df: DocFreq::Fraction(1.0),
            max_features: None,
            sublinear_tf: true,
            hash: None,
        }
    }
}

/// Whether `c` is a word character of Python's `\w` (letters, numbers and `_`; not the
/// combining marks and symbols Rust counts as alphabetic, such as Devanagari vowel signs).
fn is_word_char(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphanumeric() || c == '_';
    }
    use unicode_categories::UnicodeCategories;
    c.is_alphanumeric() && !c.is_mark() && !c.is_symbol()
}

/// Lowercased words of two or more word characters, in order.
pub fn words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !is_word_char(c))
        .filter(|w| w.chars().nth(1).is_some())
        .map(String::from)
        .collect()
}

/// The text's n-grams for `ngram` = (shortest, longest), in scikit-learn's order.
pub fn terms(text: &str, (min_n, max_n): (usize, usize)) -> Vec<String> {
    let w = words(text);
    let mut out = Vec::new();
    for n in min_n.max(1)..=max_n.min(w.len()) {
        if n == 1 {
            out.extend(w.iter().cloned());
        } else {
            out.extend(w.windows(n).map(|g| g.join(" ")));
        }
    }
    out
}

/// An l2-normalised tf-idf row from each distinct term's (column, count, idf): a term
/// without a column counts in the norm only. Computed in f64, as scikit-learn does.
fn weigh(
    terms: impl Iterator<Item = (Option<usize>, u32, f64)>,
    sublinear_tf: bool,
) -> Vec<(usize, f32)> {
    let v: Vec<(Option<usize>, f64)> = terms
        .map(|(c, n, idf)| {
            let tf = if sublinear_tf {
                1.0 + f64::from(n).ln()
            } else {
                f64::from(n)
            };
            (c, tf * idf)
        })
        .collect();
    let norm = v.iter().map(|x| x.1 * x.1).sum::<f64>().sqrt();
    let norm = if norm > 0.0 { norm } else { 1.0 };
    let mut row: Vec<(usize, f32)> = v
        .into_iter()
        .filter_map(|(c, x)| Some((c?, (x / norm) as f32)))
        .filter(|x| x.1 != 0.0)
        .collect();
    row.sort_unstable_by_key(|x| x.0);
    row
}

/// Smoothed inverse document frequency: ln((1 + n) / (1 + df)) + 1.
fn smooth_idf(n: usize, df: usize) -> f64 {
    ((1 + n) as f64 / (1 + df) as f64).ln() + 1.0
}

fn default_ngram() -> (usize, usize) {
    (1, 2)
}

/// A vocabulary learnt from training texts, with each term's idf: what `TfidfVectorizer`
/// keeps after `fit`. Kept in the model file.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Vocabulary {
    pub ngram: (usize, usize),
    pub sublinear_tf: bool,
    /// The terms, ascending (one column each, in this order).
    pub terms: Vec<String>,
    pub idf: Vec<f64>,
}

impl Vocabulary {
    /// Learns the vocabulary and idf from the training texts. An error says why no term is
    /// left (no words at all, or the frequency bounds dropped them all).
    pub fn fit<'a>(
        texts: impl Iterator<Item = &'a str>,
        options: &TextOptions,
    ) -> Result<Vocabulary, String> {
        // Per term: texts it occurs in, occurrences, the last text it was seen in.
        let mut stats: HashMap<String, (usize, u64, usize)> = HashMap::new();
        let mut n = 0;
        for (d, text) in texts.enumerate() {
            n += 1;
            for t in terms(text, options.ngram) {
                let e = match stats.get_mut(&t) {
                    Some(e) => e,
                    None => stats.entry(t).or_insert((0, 0, usize::MAX)),
                };
                e.1 += 1;
                if e.2 != d {
                    e.2 = d;
                    e.0 += 1;
                }
            }
        }
        if stats.is_empty() {
            return Err("no text has a word of two or more letters or digits".into());
        }
        let (low, high) = (options.min_df.texts(n), options.max_df.texts(n));
        if high < low {
            return Err(format!(
                "the largest document frequency ({high} texts) is below the smallest \
                 ({low} texts); raise --max-df or lower --min-df"
            ));
        }
        let mut kept: Vec<(String, usize, u64)> = stats
            .into_iter()
            .filter(|(_, (df, _, _))| (*df as f64) >= low && (*df as f64) <= high)
            .map(|(t, (df, tf, _))| (t, df, tf))
            .collect();
        if kept.is_empty() {
            return Err(format!(
                "no term is in at least {low} and at most {high} of the {n} training texts; \
                 lower --min-df or raise --max-df"
            ));
        }
        kept.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        if let Some(limit) = options.max_features {
            if kept.len() > limit {
                // The most frequent terms over all texts; among equals, the first in
                // order (scikit-learn's unstable sort may pick another of equals).
                let mut order: Vec<usize> = (0..kept.len()).collect();
                order.sort_by(|&a, &b| kept[b].2.cmp(&kept[a].2).then(a.cmp(&b)));
                let mut keep = vec![false; kept.len()];
                for &i in &order[..limit] {
                    keep[i] = true;
                }
                let mut i = 0;
                kept.retain(|_| {
                    i += 1;
                    keep[i - 1]
                });
            }
        }
        Ok(Vocabulary {
            ngram: options.ngram,
            sublinear_tf: options.sublinear_tf,
            idf: kept.iter().map(|t| smooth_idf(n, t.1)).collect(),
            terms: kept.into_iter().map(|t| t.0).collect(),
        })
    }

    pub fn width(&self) -> usize {
        self.terms.len()
    }

    /// One text's l2-normalised tf-idf, sparse: (column, value), columns ascending. Terms
    /// outside the vocabulary are ignored, as in scikit-learn.
    pub fn row(&self, text: &str) -> Vec<(usize, f32)> {
        let mut columns: Vec<usize> = terms(text, self.ngram)
            .iter()
            .filter_map(|t| {
                self.terms
                    .binary_search_by(|x| x.as_str().cmp(t.as_str()))
                    .ok()
            })
            .collect();
        columns.sort_unstable();
        let counted = runs(&columns);
        weigh(
            counted.into_iter().map(|(c, n)| (Some(c), n, self.idf[c])),
            self.sublinear_tf,
        )
    }

    /// Checks a vocabulary read from a file.
    pub fn validate(&self) -> Result<(), String> {
        let ascending = self.terms.windows(2).all(|w| w[0] < w[1]);
        let (lo, hi) = self.ngram;
        if !ascending
            || self.idf.len() != self.terms.len()
            || self.terms.is_empty()
            || lo == 0
            || hi < lo
            || self.idf.iter().any(|x| !x.is_finite())
        {
            return Err("the vocabulary is malformed".into());
        }
        Ok(())
    }
}

/// Each distinct value of a sorted slice with how often it occurs.
fn runs(sorted: &[usize]) -> Vec<(usize, u32)> {
    let mut out: Vec<(usize, u32)> = Vec::new();
    for &x in sorted {
        match out.last_mut() {
            Some((y, n)) if *y == x => *n += 1,
            _ => out.push((x, 1)),
        }
    }
    out
}

/// How a text column becomes numeric columns by hashing, one per hash bucket that some
/// training text filled (a bucket no training text reaches is zero in every training row, so
/// no tree could split on it; keeping only the filled ones bounds the table by the data, not
/// by `buckets`); kept in the model file.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct HashedText {
    pub buckets: usize,
    /// The buckets that are columns, ascending. Model files written before this field name
    /// none here and keep every bucket (see `model_file`).
    #[serde(default)]
    pub kept: Vec<u32>,
    /// Smoothed inverse document frequency per kept bucket: ln((1 + n) / (1 + df)) + 1.
    pub idf: Vec<f32>,
    /// The idf of a bucket no training text filled, ln(1 + n) + 1: a new text's terms there
    /// are no column but still count in its l2 norm, as in scikit-learn.
    #[serde(default)]
    pub unseen_idf: f32,
    /// The training rows' most frequent term per kept bucket, to name features.
    pub terms: Vec<String>,
    /// (Files written before these fields used 1- and 2-grams and raw counts.)
    #[serde(default = "default_ngram")]
    pub ngram: (usize, usize),
    #[serde(default)]
    pub sublinear_tf: bool,
}

/// scikit-learn's bucket of a term: |murmurhash3_32(term, seed=0) as i32| mod buckets.
pub fn bucket(term: &str, buckets: usize) -> usize {
    let h = murmur3_32(term.as_bytes(), 0) as i32;
    let buckets = buckets as i64;
    if h == i32::MIN {
        // |i32::MIN| does not fit; scikit-learn's _hashing_fast special-cases it the same way.
        ((i32::MAX as i64 - (buckets - 1)) % buckets) as usize
    } else {
        (i64::from(h).abs() % buckets) as usize
    }
}

/// MurmurHash3_x86_32.
pub fn murmur3_32(data: &[u8], seed: u32) -> u32 {
    const C1: u32 = 0xcc9e_2d51;
    const C2: u32 = 0x1b87_3593;
    let mix = |k: u32| k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
    let mut h = seed;
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        h ^= mix(u32::from_le_bytes([c[0], c[1], c[2], c[3]]));
        h = h.rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64);
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        let k = tail
            .iter()
            .enumerate()
            .fold(0u32, |k, (i, &b)| k | (u32::from(b) << (8 * i)));
        h ^= mix(k);
    }
    h ^= data.len() as u32;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

impl HashedText {
    /// Learns the idf (and a name per bucket) from the training texts.
    pub fn fit<'a>(
        texts: impl Iterator<Item = &'a str>,
        buckets: usize,
        ngram: (usize, usize),
        sublinear_tf: bool,
    ) -> HashedText {
        let buckets = buckets.max(1);
        let mut df = vec![0usize; buckets];
        let mut term_counts: Vec<HashMap<String, usize>> = vec![HashMap::new(); buckets];
        let mut n = 0;
        for text in texts {
            n += 1;
            let mut seen = vec![false; buckets];
            for t in terms(text, ngram) {
                let b = bucket(&t, buckets);
                if !seen[b] {
                    seen[b] = true;
                    df[b] += 1;
                }
                *term_counts[b].entry(t).or_insert(0) += 1;
            }
        }
        let idf_of = |d: usize| smooth_idf(n, d) as f32;
        let mut kept: Vec<u32> = (0..buckets)
            .filter(|&b| df[b] > 0)
            .map(|b| b as u32)
            .collect();
        // Texts without a single word still make one (all-zero) column, so that the feature
        // and every row keep their place in the table.
        if kept.is_empty() {
            kept.push(0);
        }
        // The most frequent term; the first in sorted order among equals.
        let terms = kept
            .iter()
            .map(|&b| {
                let mut best = (String::new(), 0);
                for (t, c) in std::mem::take(&mut term_counts[b as usize]) {
                    if c > best.1 || (c == best.1 && t < best.0) {
                        best = (t, c);
                    }
                }
                best.0
            })
            .collect();
        HashedText {
            buckets,
            idf: kept.iter().map(|&b| idf_of(df[b as usize])).collect(),
            kept,
            unseen_idf: idf_of(0),
            terms,
            ngram,
            sublinear_tf,
        }
    }

    /// How many columns the text becomes.
    pub fn width(&self) -> usize {
        self.kept.len()
    }

    /// The column of `bucket`, if it is one.
    fn column_of(&self, bucket: usize) -> Option<usize> {
        self.kept.binary_search(&(bucket as u32)).ok()
    }

    /// The idf of `bucket`.
    pub fn idf_of_bucket(&self, bucket: usize) -> f32 {
        self.column_of(bucket)
            .map_or(self.unseen_idf, |c| self.idf[c])
    }

    /// One row's l2-normalised tf-idf, sparse: (column, value), columns ascending. Terms in
    /// buckets that are no column count in the norm only.
    pub fn row(&self, text: &str) -> Vec<(usize, f32)> {
        let mut b: Vec<usize> = terms(text, self.ngram)
            .iter()
            .map(|t| bucket(t, self.buckets))
            .collect();
        b.sort_unstable();
        weigh(
            runs(&b)
                .into_iter()
                .map(|(b, n)| (self.column_of(b), n, f64::from(self.idf_of_bucket(b)))),
            self.sublinear_tf,
        )
    }

    /// Checks hashed text features read from a file.
    pub fn validate(&self) -> Result<(), String> {
        let ascending = self.kept.windows(2).all(|w| w[0] < w[1]);
        let in_range = self
            .kept
            .last()
            .is_none_or(|&b| (b as usize) < self.buckets);
        let (lo, hi) = self.ngram;
        if self.buckets == 0
            || !ascending
            || !in_range
            || self.idf.len() != self.kept.len()
            || self.terms.len() != self.kept.len()
            || lo == 0
            || hi < lo
        {
            return Err("the hashed text features are malformed".into());
        }
        Ok(())
    }

    /// The names of the columns: `COLUMN:term` (the bucket's most frequent training term).
    pub fn column_names(&self, column: &str) -> Vec<String> {
        self.terms
            .iter()
            .zip(&self.kept)
            .map(|(t, b)| {
                if t.is_empty() {
                    format!("{column}:#{b}")
                } else {
                    format!("{column}:{t}")
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur3_known_values() {
        // Reference values of MurmurHash3_x86_32 (seed 0), as sklearn.utils.murmurhash3_32.
        assert_eq!(murmur3_32(b"", 0), 0);
        assert_eq!(murmur3_32(b"hello", 0), 0x248b_fa47);
        assert_eq!(
            murmur3_32(b"The quick brown fox jumps over the lazy dog", 0),
            0x2e4f_f723
        );
    }

    #[test]
    fn words_as_scikit_learns_token_pattern() {
        assert_eq!(
            terms("AI for high-end Grocery stores, a_b x", (1, 2)),
            [
                "ai",
                "for",
                "high",
                "end",
                "grocery",
                "stores",
                "a_b",
                "ai for",
                "for high",
                "high end",
                "end grocery",
                "grocery stores",
                "stores a_b"
            ]
        );
    }

    #[test]
    fn texts_without_words_still_make_a_column() {
        // Found by the forest_train fuzz target: a text column of empty texts gave no
        // column at all, and the forest scored no rows.
        let enc = HashedText::fit(["", "a", "!"].into_iter(), 8, (1, 2), false);
        assert_eq!(enc.width(), 1);
        assert_eq!(enc.row(""), []);
        let some = HashedText::fit(["hello world"].into_iter(), 1 << 20, (1, 2), false);
        assert_eq!(some.width(), 3, "two words and their pair: {:?}", some.kept);
    }

    #[test]
    fn word_characters_are_pythons() {
        // Devanagari vowel signs are marks: Python's \w stops at them, Rust's
        // is_alphanumeric does not. Circled letters are symbols.
        assert_eq!(words("हिन्दी ⓐⓑ ab"), ["ab"]);
        assert_eq!(words("Straße ΟΔΟΣ x_1 ½½"), ["straße", "οδος", "x_1", "½½"]);
        assert_eq!(terms("a b c d", (2, 3)), Vec::<String>::new());
        assert_eq!(terms("aa bb cc", (2, 3)), ["aa bb", "bb cc", "aa bb cc"]);
    }

    #[test]
    fn vocabulary_bounds_and_refusals() {
        let texts = ["red apple", "red pear", "green apple red"];
        let fit = |o: TextOptions| Vocabulary::fit(texts.iter().copied(), &o);
        let one = TextOptions {
            ngram: (1, 1),
            min_df: DocFreq::Count(2),
            ..TextOptions::default()
        };
        assert_eq!(fit(one.clone()).unwrap().terms, ["apple", "red"]);
        let most = TextOptions {
            max_df: DocFreq::Fraction(0.9),
            ..one.clone()
        };
        assert_eq!(fit(most).unwrap().terms, ["apple"]);
        let none = TextOptions {
            min_df: DocFreq::Count(4),
            ..one.clone()
        };
        assert!(fit(none).unwrap_err().contains("--min-df"));
        let crossed = TextOptions {
            max_df: DocFreq::Count(1),
            ..one
        };
        assert!(fit(crossed).unwrap_err().contains("--max-df"));
        let empty = Vocabulary::fit(["", "!"].into_iter(), &TextOptions::default());
        assert!(empty.is_err());
    }
}

//! Text columns as features: hashed TF-IDF of word n-grams, as scikit-learn's
//! `HashingVectorizer(n_features=buckets, ngram_range=(1, 2), alternate_sign=False,
//! norm=None)` followed by `TfidfTransformer()` (smooth idf, l2 norm) computes them, so a
//! forest can learn "company description -> sector" directly from a CSV.
//!
//! Words are lowercased runs of two or more word characters (scikit-learn's default
//! `(?u)\b\w\w+\b`); each word and each pair of neighbouring words is hashed with
//! MurmurHash3 (x86, 32 bits, seed 0) into one of `buckets` columns. The idf of each bucket
//! is learnt from the training rows and kept in the model.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// How a text column becomes numeric columns, one per hash bucket that some training text
/// filled (a bucket no training text reaches is zero in every training row, so no tree could
/// split on it; keeping only the filled ones bounds the table by the data, not by
/// `buckets`); kept in the model file.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TextEncoding {
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
}

/// Lowercased words of two or more word characters (letters, digits, underscore).
pub fn words(text: &str) -> Vec<String> {
    let lower = text.to_lowercase();
    lower
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| w.chars().nth(1).is_some())
        .map(String::from)
        .collect()
}

/// Words and pairs of neighbouring words, in scikit-learn's order.
pub fn terms(text: &str) -> Vec<String> {
    let w = words(text);
    let pairs: Vec<String> = w.windows(2).map(|p| format!("{} {}", p[0], p[1])).collect();
    w.into_iter().chain(pairs).collect()
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

/// Term counts per bucket of one text.
fn counts(text: &str, buckets: usize) -> BTreeMap<usize, f32> {
    let mut c = BTreeMap::new();
    for t in terms(text) {
        *c.entry(bucket(&t, buckets)).or_insert(0.0) += 1.0;
    }
    c
}

impl TextEncoding {
    /// Learns the idf (and a name per bucket) from the training texts.
    pub fn fit<'a>(texts: impl Iterator<Item = &'a str>, buckets: usize) -> TextEncoding {
        let buckets = buckets.max(1);
        let mut df = vec![0usize; buckets];
        let mut term_counts: Vec<BTreeMap<String, usize>> = vec![BTreeMap::new(); buckets];
        let mut n = 0;
        for text in texts {
            n += 1;
            let mut seen = vec![false; buckets];
            for t in terms(text) {
                let b = bucket(&t, buckets);
                if !seen[b] {
                    seen[b] = true;
                    df[b] += 1;
                }
                *term_counts[b].entry(t).or_insert(0) += 1;
            }
        }
        let idf_of = |d: usize| (((1 + n) as f64 / (1 + d) as f64).ln() + 1.0) as f32;
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
                    if c > best.1 {
                        best = (t, c);
                    }
                }
                best.0
            })
            .collect();
        TextEncoding {
            buckets,
            idf: kept.iter().map(|&b| idf_of(df[b as usize])).collect(),
            kept,
            unseen_idf: idf_of(0),
            terms,
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

    /// One row's l2-normalised tf-idf, sparse: (column, value). Terms in buckets that are no
    /// column count in the norm only.
    pub fn row(&self, text: &str) -> Vec<(usize, f32)> {
        let v: Vec<(usize, f64)> = counts(text, self.buckets)
            .into_iter()
            .map(|(b, c)| (b, c as f64 * self.idf_of_bucket(b) as f64))
            .collect();
        let norm = v.iter().map(|x| x.1 * x.1).sum::<f64>().sqrt();
        let norm = if norm > 0.0 { norm } else { 1.0 };
        v.into_iter()
            .filter_map(|(b, x)| Some((self.column_of(b)?, (x / norm) as f32)))
            .collect()
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
            terms("AI for high-end Grocery stores, a_b x"),
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
        let enc = TextEncoding::fit(["", "a", "!"].into_iter(), 8);
        assert_eq!(enc.width(), 1);
        assert_eq!(enc.row(""), []);
        let some = TextEncoding::fit(["hello world"].into_iter(), 1 << 20);
        assert_eq!(some.width(), 3, "two words and their pair: {:?}", some.kept);
    }
}

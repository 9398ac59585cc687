//! Text columns against scikit-learn (fixtures from tests/fixtures/make_fixtures.py,
//! scikit-learn 1.9.1), on examples/company_sectors.csv's descriptions and non-ASCII, empty
//! and degenerate strings:
//! - TfidfVectorizer under four option sets (its defaults, mlkit's, document-frequency
//!   shares with a size limit, word pairs alone): the same vocabulary, idf within 1e-9 and
//!   the same sparse matrix (every stored position, values within 1e-6);
//! - HashingVectorizer(n_features=64, ngram_range=(1, 2), alternate_sign=False, norm=None)
//!   then TfidfTransformer(): the same idf and the same dense matrix within 1e-6.

mod common;

use mlkit_forest::text::{DocFreq, HashedText, TextOptions, Vocabulary};
use serde_json::Value;

fn doc_freq(v: &Value, default: DocFreq) -> DocFreq {
    match v {
        Value::Null => default,
        v if v.is_u64() => DocFreq::Count(v.as_u64().unwrap() as usize),
        v => DocFreq::Fraction(v.as_f64().unwrap()),
    }
}

/// A JSON array of strings.
fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect()
}

#[test]
fn vocabulary_tfidf_matches_scikit_learn() {
    let doc = common::json("tfidf.json");
    let texts = strings(&doc["texts"]);
    let cases = doc["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 4);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let o = &case["options"];
        let ngram = match o["ngram_range"].as_array() {
            Some(r) => (
                r[0].as_u64().unwrap() as usize,
                r[1].as_u64().unwrap() as usize,
            ),
            None => (1, 1),
        };
        let options = TextOptions {
            ngram,
            min_df: doc_freq(&o["min_df"], DocFreq::Count(1)),
            max_df: doc_freq(&o["max_df"], DocFreq::Fraction(1.0)),
            max_features: o["max_features"].as_u64().map(|n| n as usize),
            sublinear_tf: o["sublinear_tf"].as_bool().unwrap_or(false),
            hash: None,
        };
        let v = Vocabulary::fit(texts.iter().copied(), &options).unwrap();
        let want = strings(&case["terms"]);
        assert_eq!(v.terms, want, "{name}: vocabulary");
        for (i, w) in case["idf"].as_array().unwrap().iter().enumerate() {
            let w = w.as_f64().unwrap();
            assert!(
                (v.idf[i] - w).abs() < 1e-9,
                "{name}: idf of {:?}",
                v.terms[i]
            );
        }
        let indptr = case["indptr"].as_array().unwrap();
        let (indices, data) = (
            case["indices"].as_array().unwrap(),
            case["data"].as_array().unwrap(),
        );
        for (r, text) in texts.iter().enumerate() {
            let span =
                indptr[r].as_u64().unwrap() as usize..indptr[r + 1].as_u64().unwrap() as usize;
            let got = v.row(text);
            assert_eq!(got.len(), span.len(), "{name}: row {r} ({text:?}) stores");
            for ((c, x), i) in got.iter().zip(span) {
                let (wc, wx) = (
                    indices[i].as_u64().unwrap() as usize,
                    data[i].as_f64().unwrap(),
                );
                assert_eq!(*c, wc, "{name}: row {r} ({text:?})");
                assert!(
                    (*x as f64 - wx).abs() < 1e-6,
                    "{name}: row {r} ({text:?}), term {:?}: mlkit {x}, scikit-learn {wx}",
                    v.terms[wc]
                );
            }
        }
    }
}

#[test]
fn hashed_tfidf_matches_scikit_learn() {
    let doc = common::json("text.json");
    let texts = strings(&doc["texts"]);
    let buckets = doc["buckets"].as_u64().unwrap() as usize;
    let enc = HashedText::fit(texts.iter().copied(), buckets, (1, 2), false);
    for (b, want) in doc["idf"].as_array().unwrap().iter().enumerate() {
        let want = want.as_f64().unwrap();
        assert!(
            (enc.idf_of_bucket(b) as f64 - want).abs() < 1e-5,
            "idf of bucket {b}"
        );
    }
    let mut nonzero = 0;
    for (i, (text, want)) in texts
        .iter()
        .zip(doc["tfidf"].as_array().unwrap())
        .enumerate()
    {
        let mut dense = vec![0.0f32; buckets];
        for (c, x) in enc.row(text) {
            dense[enc.kept[c] as usize] = x;
        }
        for (b, w) in want.as_array().unwrap().iter().enumerate() {
            let w = w.as_f64().unwrap();
            nonzero += usize::from(w != 0.0);
            assert!(
                (dense[b] as f64 - w).abs() < 1e-6,
                "row {i} ({text:?}), bucket {b}: mlkit {}, scikit-learn {w}",
                dense[b]
            );
        }
    }
    assert!(
        nonzero > 500,
        "the fixture exercises the hashing: {nonzero}"
    );
}

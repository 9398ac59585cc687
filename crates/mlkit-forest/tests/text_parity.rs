//! Text columns against scikit-learn (fixture from tests/fixtures/make_fixtures.py,
//! scikit-learn 1.9.1): HashingVectorizer(n_features=64, ngram_range=(1, 2),
//! alternate_sign=False, norm=None) then TfidfTransformer(), on examples/company_sectors.csv's
//! descriptions and a few non-ASCII and degenerate strings: the same idf and the same dense
//! matrix within 1e-6.

mod common;

use mlkit_forest::text::TextEncoding;

#[test]
fn hashed_tfidf_matches_scikit_learn() {
    let doc = common::json("text.json");
    let texts: Vec<&str> = doc["texts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    let buckets = doc["buckets"].as_u64().unwrap() as usize;
    let enc = TextEncoding::fit(texts.iter().copied(), buckets);
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

//! Accuracy on a labelled topic set against scikit-learn (fixtures from
//! tests/fixtures/make_topics.py: 3,174 training and 1,075 test descriptions of Debian
//! packages in four topics, split by source package; scikit-learn 1.9.1), mean test
//! accuracy over seeds 0, 1 and 2, predictions by averaged leaf probabilities as
//! scikit-learn's predict:
//! - a random forest of 200 trees on sparse TF-IDF (mlkit's default text features, which
//!   are TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)): the same
//!   vocabulary size, accuracy within 1 point of RandomForestClassifier's on that matrix;
//! - extra trees of 200 trees on all-MiniLM-L6-v2 sentence embeddings (the very numbers
//!   scikit-learn was given): within 1 point of ExtraTreesClassifier's.

mod common;

use std::time::Instant;

use common::{fixtures, json};
use mlkit_forest::data::{
    encode, read_csv, training_table, Csv, Embedded, EmbeddingModel, TextFeatures,
};
use mlkit_forest::text::TextOptions;
use mlkit_forest::{Forest, ForestParams};
use mlkit_metrics::argmax;
use serde_json::Value;

fn topics(name: &str) -> Csv {
    let text = std::fs::read_to_string(fixtures().join(name)).unwrap();
    read_csv(name, &text).unwrap()
}

/// The embeddings of topics_embeddings.bin, dequantised: train rows, then test rows.
fn embeddings() -> (usize, Vec<f32>) {
    let bytes = std::fs::read(fixtures().join("topics_embeddings.bin")).unwrap();
    let word = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().unwrap()) as usize;
    let (rows, dim) = (word(0), word(4));
    let mut out = Vec::with_capacity(rows * dim);
    for r in 0..rows {
        let at = 8 + r * (4 + dim);
        let scale = f32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
        out.extend(
            bytes[at + 4..at + 4 + dim]
                .iter()
                .map(|&q| q as i8 as f32 * scale),
        );
    }
    assert_eq!(bytes.len(), 8 + rows * (4 + dim));
    (dim, out)
}

/// Mean test accuracy over the fixture's seeds, and mlkit's training seconds per forest.
fn mean_accuracy(
    doc: &Value,
    train: &Csv,
    test: &Csv,
    text: &TextFeatures,
    test_embedded: &[Embedded],
    extra: bool,
) -> (f64, f64, usize) {
    let names = vec!["text".to_string()];
    let table = training_table(train, "topic", &names, text, 2).unwrap();
    let matrix = encode(test, &table.features, test_embedded, 2).unwrap();
    let t = test.header.iter().position(|h| h == "topic").unwrap();
    let (mut accs, mut seconds) = (Vec::new(), 0.0);
    for seed in doc["seeds"].as_array().unwrap() {
        let params = ForestParams {
            trees: doc["trees"].as_u64().unwrap() as usize,
            extra,
            bootstrap: !extra,
            seed: seed.as_u64().unwrap(),
            ..ForestParams::default()
        };
        let start = Instant::now();
        let forest = Forest::fit(&table, &params, 2).unwrap();
        seconds += start.elapsed().as_secs_f64();
        let scores = forest.score(&matrix, 2).unwrap();
        let right = scores
            .leaf
            .chunks(scores.classes)
            .zip(&test.rows)
            .filter(|(p, row)| forest.classes[argmax(p)] == row[t].trim())
            .count();
        accs.push(right as f64 / test.rows.len() as f64);
    }
    let n = accs.len() as f64;
    eprintln!("accuracies {accs:?}");
    (
        accs.iter().sum::<f64>() / n,
        seconds / n,
        table.matrix.width(),
    )
}

fn check(what: &str, ours: f64, seconds: f64, theirs: &Value) {
    let mean = theirs["mean"].as_f64().unwrap();
    let their_seconds: f64 = theirs["fit_seconds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_f64().unwrap())
        .sum::<f64>()
        / 3.0;
    // Times are for information (this is a test build on a shared machine): the
    // benchmarks in benches/ make the speed claims.
    eprintln!(
        "{what}: mlkit {ours:.4} ({seconds:.1} s a forest), scikit-learn {mean:.4} \
         ({their_seconds:.1} s when the fixture was made)"
    );
    assert!(
        (ours - mean).abs() <= 0.01,
        "{what}: mlkit {ours:.4} is more than a point from scikit-learn's {mean:.4}"
    );
}

#[test]
fn random_forest_on_sparse_tfidf_is_within_a_point_of_scikit_learn() {
    let doc = json("topics.json");
    let (train, test) = (topics("topics_train.csv"), topics("topics_test.csv"));
    let names = vec!["text".to_string()];
    let text = TextFeatures {
        tfidf: &names,
        options: TextOptions::default(),
        embedded: &[],
    };
    let (ours, seconds, width) = mean_accuracy(&doc, &train, &test, &text, &[], false);
    assert_eq!(
        width as u64,
        doc["tfidf_terms"].as_u64().unwrap(),
        "vocabulary size"
    );
    check(
        "random forest on TF-IDF",
        ours,
        seconds,
        &doc["random_forest_tfidf"],
    );
}

#[test]
fn extra_trees_on_sentence_embeddings_are_within_a_point_of_scikit_learn() {
    let doc = json("topics.json");
    let (train, test) = (topics("topics_train.csv"), topics("topics_test.csv"));
    let (dim, vectors) = embeddings();
    let n = train.rows.len();
    assert_eq!(vectors.len(), (n + test.rows.len()) * dim);
    let model = EmbeddingModel {
        name: "all-MiniLM-L6-v2".into(),
        hash: "fixture".into(),
        dim,
    };
    let embedded = |vectors: &[f32]| Embedded {
        column: "text".into(),
        model: model.clone(),
        vectors: vectors.to_vec(),
    };
    let train_embedded = [embedded(&vectors[..n * dim])];
    let text = TextFeatures {
        tfidf: &[],
        options: TextOptions::default(),
        embedded: &train_embedded,
    };
    let test_embedded = [embedded(&vectors[n * dim..])];
    let (ours, seconds, width) = mean_accuracy(&doc, &train, &test, &text, &test_embedded, true);
    assert_eq!(width, dim);
    check(
        "extra trees on embeddings",
        ours,
        seconds,
        &doc["extra_trees_embeddings"],
    );
}

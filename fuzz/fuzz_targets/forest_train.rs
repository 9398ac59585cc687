//! Any bytes as a training CSV for `mlkit forest train` (the first column is the target, the
//! second a text column when the first byte says so: sparse TF-IDF over a learnt vocabulary,
//! or hashed when the input's length is odd), with parameters picked by the first byte: odd
//! tables must be errors, never panics; a trained forest must score its own rows, and score
//! them the same after a round trip through its model file and on one thread or two.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mlkit_forest::calibrate::Method;
use mlkit_forest::data::{encode, feature_names, read_csv, training_table, TextFeatures};
use mlkit_forest::text::{DocFreq, TextOptions};
use mlkit_forest::{ClassWeight, Forest, ForestParams, MaxFeatures};

fuzz_target!(|data: &[u8]| {
    let Some((&flags, table)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(table) else {
        return;
    };
    let bit = |n: u8| flags & (1 << n) != 0;
    let Ok(csv) = read_csv("fuzz.csv", text) else {
        return;
    };
    let Some(target) = csv.header.first().cloned() else {
        return;
    };
    let Ok(names) = feature_names(&csv, &target, &[], &[]) else {
        return;
    };
    let text_columns: Vec<String> = if bit(0) {
        names.iter().take(1).cloned().collect()
    } else {
        Vec::new()
    };
    let text = TextFeatures {
        tfidf: &text_columns,
        options: TextOptions {
            min_df: DocFreq::Count(1),
            hash: (data.len() % 2 == 1).then_some(8),
            ..TextOptions::default()
        },
        embedded: &[],
    };
    let Ok(table) = training_table(&csv, &target, &names, &text, 2) else {
        return;
    };
    let params = ForestParams {
        trees: 3,
        max_depth: bit(1).then_some(3),
        min_samples_leaf: if bit(2) { 2 } else { 1 },
        max_features: if bit(3) {
            MaxFeatures::All
        } else {
            MaxFeatures::Sqrt
        },
        bootstrap: !bit(4),
        extra: bit(5),
        class_weight: if bit(6) {
            ClassWeight::Balanced
        } else {
            ClassWeight::None
        },
        oob: true,
        max_bins: 16,
        ..ForestParams::default()
    };
    let trained = if bit(7) {
        Forest::fit_calibrated(&table, &params, Method::Sigmoid, 2, 2)
    } else {
        Forest::fit(&table, &params, 2)
    };
    let Ok(forest) = trained else {
        return;
    };
    let columns = encode(&csv, &forest.features, &[], 2).expect("a forest encodes its training data");
    let scores = forest.score(&columns, 2).expect("a forest scores its training data");
    let rows = csv.rows.len();
    let k = forest.classes.len();
    assert_eq!(scores.leaf.len(), rows * k, "one probability per row and class");
    for p in scores.leaf.chunks(k) {
        let sum: f64 = p.iter().sum();
        assert!((sum - 1.0).abs() < 1e-6, "leaf probabilities sum to {sum}");
    }
    let one_thread = forest.score(&columns, 1).expect("scores on one thread");
    assert_eq!(scores.votes, one_thread.votes);
    assert_eq!(scores.leaf, one_thread.leaf);
    let bytes = forest.to_bytes().expect("a trained forest saves");
    let loaded = Forest::from_bytes(&bytes).expect("a saved forest loads");
    let again = loaded.score(&columns, 2).expect("a loaded forest scores");
    assert_eq!(scores.votes, again.votes, "the model file keeps the votes");
    assert_eq!(scores.leaf, again.leaf, "the model file keeps the probabilities");
    assert_eq!(scores.calibrated, again.calibrated);
});

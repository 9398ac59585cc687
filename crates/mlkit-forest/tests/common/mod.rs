//! Fixture loading shared by the parity tests (fixtures from tests/fixtures/make_fixtures.py).
// Each test file uses its own part of this module.
#![allow(dead_code)]

use std::path::PathBuf;

use mlkit_forest::data::{read_csv, training_table, Table, TextFeatures};
use serde_json::Value;

pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

pub fn json(name: &str) -> Value {
    serde_json::from_slice(&std::fs::read(fixtures().join(name)).unwrap()).unwrap()
}

/// A scikit-learn dataset exported as NAME.csv: every column but `target` is a feature.
pub fn dataset(name: &str) -> Table {
    let text = std::fs::read_to_string(fixtures().join(format!("{name}.csv"))).unwrap();
    let csv = read_csv(name, &text).unwrap();
    let names: Vec<String> = csv
        .header
        .iter()
        .filter(|h| *h != "target")
        .cloned()
        .collect();
    training_table(&csv, "target", &names, &TextFeatures::default(), 2).unwrap()
}

/// The seeds of `doc` and, per dataset, each row's fold in sklearn.json (StratifiedKFold,
/// shuffled); sklearn.json is read once.
pub fn seeds_and_folds(doc: &Value) -> (Vec<u64>, impl Fn(&str) -> Vec<usize>) {
    let seeds = doc["seeds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_u64().unwrap())
        .collect();
    let folds_doc = json("sklearn.json");
    let folds = move |name: &str| {
        folds_doc["datasets"][name]["folds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_u64().unwrap() as usize)
            .collect()
    };
    (seeds, folds)
}

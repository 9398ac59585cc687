//! Accuracy parity with scikit-learn (fixtures from tests/fixtures/make_fixtures.py): on
//! iris, wine, breast_cancer and digits, the same 5 stratified folds, default settings (100
//! trees, sqrt features), mean accuracy over seeds 0..3 within 1 point of
//! RandomForestClassifier's and ExtraTreesClassifier's.

mod common;

use common::{dataset, json, seeds_and_folds};
use mlkit_forest::data::Table;
use mlkit_forest::{Forest, ForestParams};
use mlkit_metrics::argmax;

fn cv_accuracy(table: &Table, folds: &[usize], extra: bool, seeds: &[u64]) -> f64 {
    let mut accs = Vec::new();
    for &seed in seeds {
        for k in 0..5 {
            let train: Vec<usize> = (0..folds.len()).filter(|&i| folds[i] != k).collect();
            let test: Vec<usize> = (0..folds.len()).filter(|&i| folds[i] == k).collect();
            let params = ForestParams {
                extra,
                bootstrap: !extra,
                seed,
                ..ForestParams::default()
            };
            let forest = Forest::fit(&table.subset(&train), &params, 2).unwrap();
            let scores = forest.score(&table.subset(&test).matrix, 2).unwrap();
            let right = scores
                .leaf
                .chunks(scores.classes)
                .zip(&test)
                .filter(|(p, &r)| argmax(p) == table.target[r])
                .count();
            accs.push(right as f64 / test.len() as f64);
        }
    }
    accs.iter().sum::<f64>() / accs.len() as f64
}

#[test]
fn cross_validated_accuracy_is_within_a_point_of_scikit_learn() {
    let doc = json("sklearn.json");
    let (seeds, folds_of) = seeds_and_folds(&doc);
    let mut report = Vec::new();
    let mut worse = Vec::new();
    for (name, case) in doc["datasets"].as_object().unwrap() {
        let table = dataset(name);
        let folds = folds_of(name);
        for (label, extra) in [("random_forest", false), ("extra_trees", true)] {
            let ours = cv_accuracy(&table, &folds, extra, &seeds);
            let theirs = case["accuracy"][label].as_f64().unwrap();
            report.push(format!(
                "{name} {label}: mlkit {ours:.4}, scikit-learn {theirs:.4}"
            ));
            if (ours - theirs).abs() > 0.01 {
                worse.push(report.last().unwrap().clone());
            }
        }
    }
    eprintln!("{}", report.join("\n"));
    assert!(
        worse.is_empty(),
        "more than a point from scikit-learn:\n{}",
        worse.join("\n")
    );
}

//! Calibration against scikit-learn (fixtures from tests/fixtures/make_fixtures.py,
//! scikit-learn 1.9.1): the sigmoid and isotonic calibrators fitted to the same scores, and
//! the expected calibration error of CalibratedClassifierCV(RandomForestClassifier, cv=5)
//! on a held-out fold, which mlkit's must not exceed by more than 0.01.

mod common;

use common::{dataset, json, seeds_and_folds};
use mlkit_forest::calibrate::{Calibrator, Method};
use mlkit_forest::{Forest, ForestParams};
use mlkit_metrics::probability_scores;
use serde_json::Value;

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

#[test]
fn calibrators_match_scikit_learn_on_the_same_scores() {
    let doc = json("calibration.json");
    let c = &doc["calibrators"];
    let score = floats(&c["score"]);
    let positive: Vec<bool> = c["positive"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_bool().unwrap())
        .collect();
    // Platt: the optimum scikit-learn's L-BFGS stops near (its gtol is 1e-6).
    let Calibrator::Sigmoid { a, b } = Calibrator::fit(Method::Sigmoid, &score, &positive) else {
        panic!("not a sigmoid")
    };
    let want = floats(&c["sigmoid"]);
    assert!(
        (a - want[0]).abs() < 1e-3 && (b - want[1]).abs() < 1e-3,
        "sigmoid ({a}, {b}), scikit-learn {want:?}"
    );
    // Isotonic: the same thresholds and values.
    let Calibrator::Isotonic { x, y } = Calibrator::fit(Method::Isotonic, &score, &positive) else {
        panic!("not isotonic")
    };
    let (wx, wy) = (floats(&c["isotonic"]["x"]), floats(&c["isotonic"]["y"]));
    assert_eq!(x.len(), wx.len(), "{x:?} against {wx:?}");
    for i in 0..x.len() {
        assert!((x[i] - wx[i]).abs() < 1e-12 && (y[i] - wy[i]).abs() < 1e-12);
    }
}

#[test]
fn calibrated_forest_is_no_worse_calibrated_than_scikit_learn() {
    let doc = json("calibration.json");
    let (seeds, folds_of) = seeds_and_folds(&doc);
    let mut report = Vec::new();
    let mut worse = Vec::new();
    for (name, case) in doc["datasets"].as_object().unwrap() {
        let table = dataset(name);
        let folds = folds_of(name);
        let train: Vec<usize> = (0..folds.len()).filter(|&r| folds[r] != 0).collect();
        let held: Vec<usize> = (0..folds.len()).filter(|&r| folds[r] == 0).collect();
        let truth: Vec<usize> = held.iter().map(|&r| table.target[r]).collect();
        for (label, method) in [
            ("uncalibrated", None),
            ("sigmoid", Some(Method::Sigmoid)),
            ("isotonic", Some(Method::Isotonic)),
        ] {
            let mut ece = 0.0;
            for &seed in &seeds {
                let params = ForestParams {
                    seed,
                    ..ForestParams::default()
                };
                let sub = table.subset(&train);
                let forest = match method {
                    None => Forest::fit(&sub, &params, 2).unwrap(),
                    Some(m) => Forest::fit_calibrated(&sub, &params, m, 5, 2).unwrap(),
                };
                let scores = forest.score(&table.subset(&held).matrix, 2).unwrap();
                let proba: Vec<Vec<f64>> = scores
                    .calibrated
                    .as_ref()
                    .unwrap_or(&scores.leaf)
                    .chunks(scores.classes)
                    .map(<[f64]>::to_vec)
                    .collect();
                ece += probability_scores(&proba, &truth, 10).ece / seeds.len() as f64;
            }
            let theirs = case["ece"][label].as_f64().unwrap();
            report.push(format!(
                "{name} {label}: ECE mlkit {ece:.4}, scikit-learn {theirs:.4}"
            ));
            if method.is_some() && ece > theirs + 0.01 {
                worse.push(report.last().unwrap().clone());
            }
        }
    }
    eprintln!("{}", report.join("\n"));
    assert!(
        worse.is_empty(),
        "calibrated worse than scikit-learn + 0.01:\n{}",
        worse.join("\n")
    );
}

/// A saved calibrated model scores exactly as the one that was trained: the calibrators'
/// parameters live in the model file's JSON, so its numbers must read back to the same f64.
#[test]
fn a_calibrated_model_file_scores_exactly_as_trained() {
    let table = dataset("breast_cancer");
    let params = ForestParams {
        trees: 10,
        ..ForestParams::default()
    };
    for method in [Method::Sigmoid, Method::Isotonic] {
        let forest = Forest::fit_calibrated(&table, &params, method, 3, 2).unwrap();
        let loaded = Forest::from_bytes(&forest.to_bytes().unwrap()).unwrap();
        let (a, b) = (
            forest.score(&table.matrix, 2).unwrap(),
            loaded.score(&table.matrix, 2).unwrap(),
        );
        assert_eq!(a.votes, b.votes);
        assert_eq!(a.leaf, b.leaf);
        assert_eq!(a.calibrated, b.calibrated, "{method:?}");
    }
}

//! Parity with transformers' TokenClassificationPipeline (fixtures from
//! tests/fixtures/make_fixtures.py): the same entities, labels, offsets and words for every
//! aggregation strategy, scores within 1e-4, on the bundled model (its Q8_0 weights run in
//! f32, as the fixture's transformers run them) and on mlkit-core's tiny random classifiers.

use std::path::PathBuf;

use mlkit_ner::{Aggregation, NerModel, NerOptions};
use serde_json::Value;

const TOLERANCE: f32 = 1e-4;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fixtures() -> Value {
    let path = root().join("crates/mlkit-ner/tests/fixtures/pipeline.json");
    serde_json::from_slice(&std::fs::read(path).expect("fixture")).expect("json")
}

/// Compares one fixture group; returns how many entities were compared.
fn check(group: &str) -> usize {
    let all = fixtures();
    let case = &all[group];
    let model_path = root().join(case["model"].as_str().expect("model"));
    let files = mlkit_core::resolve(model_path.to_str().expect("utf-8 path")).expect("resolve");
    let opts = NerOptions {
        stride: case["stride"].as_u64().map(|s| s as usize),
        ..NerOptions::default()
    };
    let model = NerModel::load(&files, &opts).expect("load");
    let texts: Vec<&str> = case["texts"]
        .as_array()
        .expect("texts")
        .iter()
        .map(|t| t.as_str().expect("text"))
        .collect();
    let scored = model.score(&texts).expect("score");
    let mut compared = 0;
    let mut mismatches = Vec::new();
    for (name, expected) in case["results"].as_object().expect("results") {
        let strategy: Aggregation = name.parse().expect("strategy");
        for (i, (doc, want)) in scored
            .iter()
            .zip(expected.as_array().expect("list"))
            .enumerate()
        {
            let got = model.aggregate(doc, strategy, &["O"]);
            let want = want.as_array().expect("entities");
            if got.len() != want.len() {
                mismatches.push(format!(
                    "{group} {name} text {i}: {} entities, want {}: {got:?} vs {want:?}",
                    got.len(),
                    want.len()
                ));
                continue;
            }
            for (g, w) in got.iter().zip(want) {
                compared += 1;
                let label = w
                    .get("entity_group")
                    .or_else(|| w.get("entity"))
                    .expect("label");
                let same = g.label == label.as_str().expect("str")
                    && g.start as u64 == w["start"].as_u64().expect("start")
                    && g.end as u64 == w["end"].as_u64().expect("end")
                    && g.word == w["word"].as_str().expect("word")
                    && (g.score - w["score"].as_f64().expect("score") as f32).abs() <= TOLERANCE
                    && w.get("index")
                        .is_none_or(|x| Some(x.as_u64().expect("index") as usize) == g.index);
                if !same {
                    mismatches.push(format!("{group} {name} text {i}: got {g:?}, want {w}"));
                }
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches[..mismatches.len().min(10)].join("\n")
    );
    compared
}

#[test]
fn bundled_model_matches_the_pipeline_on_conll_sentences() {
    // 246 texts x 5 strategies; thousands of entities, so a broken rule cannot hide.
    assert!(check("bundled") > 3000);
}

#[test]
fn long_document_windows_match_the_pipeline_with_stride() {
    assert!(check("bundled_long") > 1000);
}

#[test]
fn tiny_bert_matches() {
    assert!(check("tiny-bert-tc") > 0);
}

#[test]
fn tiny_distilbert_matches() {
    assert!(check("tiny-distilbert-tc") > 0);
}

#[test]
fn tiny_roberta_matches() {
    assert!(check("tiny-roberta-tc") > 0);
}

#[test]
fn tiny_deberta_v3_matches() {
    assert!(check("tiny-deberta-v3-tc") > 0);
}

//! Parity with transformers' ZeroShotClassificationPipeline (tiny random NLI models whose
//! entailment ids differ: 2 for BERT, 1 for a binary RoBERTa, 0 for DeBERTa-v3) and with
//! sentence-transformers' cosine
//! on the bundled all-MiniLM-L6-v2; fixtures from tests/fixtures/make_fixtures.py.

use std::path::PathBuf;

use mlkit_core::{EmbedOptions, RunOptions};
use mlkit_zeroshot::ranking::rank;
use mlkit_zeroshot::{NliModel, SimilarityModel};
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fixtures() -> Value {
    let p = root().join("crates/mlkit-zeroshot/tests/fixtures/zeroshot.json");
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

/// `got` and `want` side by side, which must be as long as each other: a short output must
/// fail, not compare fewer pairs.
fn paired<'a, A, B>(
    got: &'a [A],
    want: &'a [B],
    what: &str,
) -> impl Iterator<Item = (&'a A, &'a B)> {
    assert_eq!(
        got.len(),
        want.len(),
        "{what}: {} results for {} expected",
        got.len(),
        want.len()
    );
    got.iter().zip(want)
}

#[test]
#[should_panic(expected = "1 results for 2 expected")]
fn a_short_output_fails_the_comparison() {
    paired(&[1.0f32], &[1.0f64, 2.0], "scores").for_each(drop);
}

fn check_nli(name: &str) {
    let all = fixtures();
    let case = &all[name];
    let path = root().join(case["model"].as_str().unwrap());
    let files = mlkit_core::resolve(path.to_str().unwrap()).unwrap();
    let model = NliModel::load(&files, &RunOptions::default()).unwrap();
    assert_eq!(
        model.nli_labels().1 as u64,
        case["entailment"].as_u64().unwrap()
    );
    let texts = strings(&case["texts"]);
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    for c in case["cases"].as_array().unwrap() {
        let labels = strings(&c["labels"]);
        let template = c["template"].as_str().unwrap();
        let multi = c["multi_label"].as_bool().unwrap();
        let scores = model.scores(&refs, &labels, template, multi).unwrap();
        let results = c["results"].as_array().unwrap();
        for (i, (s, want)) in paired(&scores, results, name).enumerate() {
            let order = rank(s);
            let got_labels: Vec<&str> = order.iter().map(|&k| labels[k].as_str()).collect();
            assert_eq!(
                got_labels,
                strings(&want["labels"]),
                "{name} {template} multi={multi} text {i}"
            );
            let want_scores = want["scores"].as_array().unwrap();
            for (&k, w) in paired(&order, want_scores, name) {
                let diff = (s[k] as f64 - w.as_f64().unwrap()).abs();
                assert!(
                    diff <= 1e-5,
                    "{name} text {i} label {}: {} vs {w}",
                    labels[k],
                    s[k]
                );
            }
        }
    }
}

#[test]
fn bert_nli_with_entailment_last_matches_the_pipeline() {
    check_nli("bert");
}

#[test]
fn binary_roberta_nli_with_entailment_second_matches_the_pipeline() {
    check_nli("roberta");
}

#[test]
fn embedding_method_matches_sentence_transformers_cosine() {
    let all = fixtures();
    let case = &all["embed"];
    let path = root().join(case["model"].as_str().unwrap());
    let files = mlkit_core::resolve(path.to_str().unwrap()).unwrap();
    let labels = strings(&case["labels"]);
    let model = SimilarityModel::load(&files, &EmbedOptions::default(), &labels).unwrap();
    let texts = strings(&case["texts"]);
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let scores = model.scores(&refs, 0).unwrap();
    let mut worst = 0f64;
    for (row, want) in paired(&scores, case["scores"].as_array().unwrap(), "texts") {
        for (s, w) in paired(row, want.as_array().unwrap(), "labels") {
            worst = worst.max((*s as f64 - w.as_f64().unwrap()).abs());
        }
    }
    assert!(worst <= 1e-4, "worst difference {worst}");
    // And the method is useful: each text's best label is the intended one.
    let best: Vec<usize> = scores.iter().map(|s| rank(s)[0]).collect();
    assert_eq!(best, [0, 1, 2, 3]);
}

#[test]
fn deberta_v3_nli_matches_the_pipeline() {
    check_nli("deberta");
}

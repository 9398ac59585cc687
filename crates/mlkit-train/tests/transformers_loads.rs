//! Directories written by `mlkit ner train` and `mlkit classify train`, loaded by
//! transformers (tests/fixtures/trained.json, made by make_trained_fixtures.py, which runs
//! mlkit to train them): the class transformers picks, its labels, the tokenizer's ids and
//! the logits agree with mlkit's own loading of the same directory within 1e-5.

use std::path::PathBuf;

use candle_core::{Device, Tensor};
use mlkit_core::classify::{Classifier, Task};
use mlkit_core::parts::ModelParts;
use mlkit_core::tokenize::TextTokenizer;
use mlkit_core::{resolve, RunOptions};
use serde_json::Value;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn check(name: &str, task: Task, class: &str) {
    let all: Value =
        serde_json::from_slice(&std::fs::read(fixtures().join("trained.json")).unwrap()).unwrap();
    let case = &all[name];
    assert_eq!(case["class"], class);
    let dir = fixtures().join(name);
    let parts = ModelParts::read(&resolve(dir.to_str().unwrap()).unwrap()).unwrap();
    let model = Classifier::load(&parts, &RunOptions::default(), task).unwrap();
    let labels: Vec<&str> = case["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert_eq!(model.labels, labels);
    let tokenizer = TextTokenizer::load(&parts.tokenizer, name, 512, false).unwrap();
    let texts = all["texts"].as_array().unwrap();
    for (text, want) in texts.iter().zip(case["outputs"].as_array().unwrap()) {
        let encoded = tokenizer.encode(&[text.as_str().unwrap()], 0).unwrap();
        let ids: Vec<u64> = want["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap())
            .collect();
        let ours: Vec<u64> = encoded[0].ids.iter().map(|&i| u64::from(i)).collect();
        assert_eq!(ours, ids, "{name}: {text}");
        let n = ours.len();
        let t = |v: Vec<u32>| Tensor::from_vec(v, (1, n), &Device::Cpu).unwrap();
        let logits = model
            .logits(
                &t(encoded[0].ids.clone()),
                &t(encoded[0].type_ids.clone()),
                &t(vec![1; n]),
            )
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let want: Vec<f64> = want["logits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        assert_eq!(logits.len(), want.len());
        for (a, b) in logits.iter().zip(&want) {
            assert!(
                (f64::from(*a) - b).abs() < 1e-5,
                "{name}: {text}: {a} vs {b}"
            );
        }
    }
}

#[test]
fn transformers_loads_a_bert_fine_tuned_for_ner() {
    check(
        "trained-tiny-bert-tc",
        Task::TokenClassification,
        "BertForTokenClassification",
    );
}

#[test]
fn transformers_loads_a_deberta_v3_fine_tuned_to_classify() {
    check(
        "trained-tiny-deberta-v3-sc",
        Task::SequenceClassification,
        "DebertaV2ForSequenceClassification",
    );
}

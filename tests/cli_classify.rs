//! End-to-end tests of `mlkit classify` and `mlkit classify eval`: the hf format against
//! transformers' text-classification pipeline (`top_k=None`) on the tiny sequence
//! classifiers of every architecture (and a one-label and a multi-label one) (fixture: crates/mlkit-core/tests/fixtures/
//! make_classify_fixtures.py, transformers 4.57.1), scores within 1e-5.

mod common;

use common::{failing, mlkit, root, stdout};
use serde_json::{json, Value};

const FIXTURES: &str = "crates/mlkit-core/tests/fixtures";

fn fixtures() -> Value {
    let path = root().join(FIXTURES).join("tiny_classify.json");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn model(name: &str) -> String {
    format!("{FIXTURES}/{name}")
}

/// `mlkit classify --format hf` of JSON Lines `records` (text in "text", a pair's second
/// text in "pair"), with `extra` flags: one parsed JSON list per record.
fn classify_hf(name: &str, records: &[Value], extra: &[&str]) -> Vec<Value> {
    let input: String = records.iter().map(|r| format!("{r}\n")).collect();
    let m = model(name);
    let args = [
        &[
            "classify",
            "--model",
            &m,
            "--format",
            "hf",
            "--text-field",
            "text",
        ][..],
        extra,
        &["-"],
    ]
    .concat();
    stdout(&mlkit(&args, input.as_bytes()))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The same labels in the same order, each score within 1e-5.
fn assert_same(context: &str, got: &[Value], want: &[Value]) {
    assert_eq!(got.len(), want.len(), "{context}");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let (g, w) = (g.as_array().unwrap(), w.as_array().unwrap());
        let labels = |v: &[Value]| v.iter().map(|x| x["label"].clone()).collect::<Vec<_>>();
        assert_eq!(labels(g), labels(w), "{context}, input {i}");
        for (a, b) in g.iter().zip(w) {
            let (a, b) = (a["score"].as_f64().unwrap(), b["score"].as_f64().unwrap());
            assert!((a - b).abs() < 1e-5, "{context}, input {i}: {a} vs {b}");
        }
    }
}

#[test]
fn hf_output_is_the_pipeline_s_for_every_architecture_and_function() {
    let f = fixtures();
    let texts: Vec<Value> = f["texts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| json!({ "text": t }))
        .collect();
    let pairs: Vec<Value> = f["pairs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| json!({"text": p[0], "pair": p[1]}))
        .collect();
    let models = f["models"].as_object().unwrap();
    assert_eq!(models.len(), 11);
    for (name, want) in models {
        let got = classify_hf(name, &texts, &[]);
        assert_same(
            &format!("{name}, default"),
            &got,
            want["default"].as_array().unwrap(),
        );
        for function in ["softmax", "sigmoid", "none"] {
            let got = classify_hf(name, &texts, &["--function", function]);
            assert_same(
                &format!("{name}, {function}"),
                &got,
                want[function].as_array().unwrap(),
            );
        }
        let got = classify_hf(name, &pairs, &["--pair-field", "pair"]);
        assert_same(
            &format!("{name}, pairs"),
            &got,
            want["pairs"].as_array().unwrap(),
        );
    }
}

#[test]
fn top_k_keeps_the_best_and_csv_adds_columns() {
    let f = fixtures();
    let want = &f["models"]["tiny-bert-multi"]["default"][0];
    let got = classify_hf(
        "tiny-bert-multi",
        &[json!({"text": "Hello world."})],
        &["--top-k", "2"],
    );
    assert_same("top-k 2", &got, &[json!(want.as_array().unwrap()[..2])]);
    // CSV in, CSV out: the input's columns untouched, then prediction, score, scores.
    let m = model("tiny-bert-multi");
    let out = stdout(&mlkit(
        &["classify", "--model", &m, "--column", "body", "-"],
        b"id,body\n7,Hello world.\n8,\"a, b\"\n",
    ));
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("id,body,prediction,score,scores"));
    let best = want[0]["label"].as_str().unwrap();
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with(&format!("7,Hello world.,{best},")),
        "{out}"
    );
    assert!(lines.next().unwrap().starts_with("8,\"a, b\","), "{out}");
}

#[test]
fn eval_scores_against_gold_labels() {
    let f = fixtures();
    // Gold labels: the pipeline's best label for the first two texts, a wrong one for the
    // third: accuracy 2/3.
    let want = &f["models"]["tiny-bert-sc"]["default"];
    let best = |i: usize| want[i][0]["label"].as_str().unwrap().to_string();
    let wrong = want[2][1]["label"].as_str().unwrap();
    let csv = format!(
        "text,gold\nHello world.,{}\nThe quick brown fox jumps over the lazy dog near Berlin.,{}\na,{wrong}\n",
        best(0),
        best(1)
    );
    let m = model("tiny-bert-sc");
    let out = stdout(&mlkit(
        &[
            "classify",
            "eval",
            "-",
            "--model",
            &m,
            "--gold-column",
            "gold",
            "--format",
            "json",
        ],
        csv.as_bytes(),
    ));
    let report: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(report["texts"], 3);
    assert!(
        (report["accuracy"].as_f64().unwrap() - 2.0 / 3.0).abs() < 1e-9,
        "{report}"
    );
    // A gold label the model does not have is a usage error naming it.
    let (_, err) = failing(
        &[
            "classify",
            "eval",
            "-",
            "--model",
            &m,
            "--gold-column",
            "gold",
        ],
        b"text,gold\nHello,positive\n",
        2,
    );
    assert!(
        err.contains("\"positive\" is not one of the model's labels"),
        "{err}"
    );
}

#[test]
fn a_model_without_a_sequence_head_is_refused_with_the_reason() {
    let m = model("tiny-bert");
    let (_, err) = failing(&["classify", "--model", &m, "-"], b"hello\n", 1);
    assert!(err.contains("sequence classification"), "{err}");
    let (_, err) = failing(&["classify", "-"], b"hello\n", 2);
    assert!(err.contains("--model is required"), "{err}");
    // --pair-field needs --text-field.
    let m = model("tiny-bert-sc");
    let (_, err) = failing(
        &["classify", "--model", &m, "--pair-field", "p", "-"],
        b"x\n",
        2,
    );
    assert!(err.contains("--text-field"), "{err}");
}

#[test]
fn new_architectures_run_in_q8_and_int8_and_from_a_quantized_file() {
    let dir = tempfile::tempdir().unwrap();
    let text = [json!({"text": "The quick brown fox jumps over the lazy dog near Berlin."})];
    for name in [
        "tiny-modernbert-sc",
        "tiny-mpnet-sc",
        "tiny-electra-sc",
        "tiny-camembert-sc",
    ] {
        let exact = classify_hf(name, &text, &[]);
        let gguf = dir.path().join(format!("{name}.gguf"));
        let m = model(name);
        stdout(&mlkit(&["quantize", &m, "-o", gguf.to_str().unwrap()], b""));
        let quantized = {
            let input = format!("{}\n", text[0]);
            let args = [
                "classify",
                "--model",
                gguf.to_str().unwrap(),
                "--format",
                "hf",
                "--text-field",
                "text",
                "-",
            ];
            let out = stdout(&mlkit(&args, input.as_bytes()));
            vec![serde_json::from_str::<Value>(out.trim()).unwrap()]
        };
        for (how, got) in [
            ("q8", classify_hf(name, &text, &["--dtype", "q8"])),
            ("int8", classify_hf(name, &text, &["--dtype", "int8"])),
            ("gguf", quantized),
        ] {
            // int8 weights move scores in the third digit, never the order of these.
            let (g, w) = (got[0].as_array().unwrap(), exact[0].as_array().unwrap());
            assert_eq!(g[0]["label"], w[0]["label"], "{name} {how}");
            for (a, b) in g.iter().zip(w) {
                let d = (a["score"].as_f64().unwrap() - b["score"].as_f64().unwrap()).abs();
                assert!(d < 0.01, "{name} {how}: {d}");
            }
        }
    }
}

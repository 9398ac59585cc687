//! End-to-end tests of `mlkit ner train` and `mlkit classify train` on a tiny random BERT
//! (crates/mlkit-core/tests/fixtures/tiny-bert): synthetic data whose labels follow from the
//! words (and, for multi-word entities, their neighbours) is learnt well enough to score a
//! stated F1 or accuracy on held-out data; the saved directory reloads in `mlkit ner`,
//! `ner eval`, `classify` and `classify eval`; a seed gives the same model; an interrupted
//! run leaves nothing behind.

mod common;

use std::path::Path;

use common::{command, failing, mlkit, stdout};
use serde_json::Value;

const BASE: &str = "crates/mlkit-core/tests/fixtures/tiny-bert";

/// A small deterministic generator (the tests must not depend on a crate's stream).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

const FILLER: [&str; 12] = [
    "hello", "world", "the", "quick", "jumps", "over", "a", "like", "get", "split", "they", "words",
];

/// `n` sentences of filler words with entities: "berlin" (LOC), "fox", "brown fox", "dog",
/// "lazy dog" (ANIMAL), "unknown" (MISC); as (word, IOB2 tag) pairs.
fn sentences(seed: u64, n: usize) -> Vec<Vec<(String, String)>> {
    let mut rng = Lcg(seed);
    let entities: [&[(&str, &str)]; 6] = [
        &[("berlin", "B-LOC")],
        &[("fox", "B-ANIMAL")],
        &[("brown", "B-ANIMAL"), ("fox", "I-ANIMAL")],
        &[("dog", "B-ANIMAL")],
        &[("lazy", "B-ANIMAL"), ("dog", "I-ANIMAL")],
        &[("unknown", "B-MISC")],
    ];
    (0..n)
        .map(|_| {
            let mut s = Vec::new();
            for _ in 0..3 + rng.below(8) {
                if rng.below(4) == 0 {
                    for (w, t) in entities[rng.below(entities.len())] {
                        s.push((w.to_string(), t.to_string()));
                    }
                } else {
                    s.push((FILLER[rng.below(FILLER.len())].to_string(), "O".into()));
                }
            }
            s
        })
        .collect()
}

fn conll(data: &[Vec<(String, String)>]) -> String {
    data.iter()
        .map(|s| {
            let lines: String = s.iter().map(|(w, t)| format!("{w} {t}\n")).collect();
            lines + "\n"
        })
        .collect()
}

/// The same sentences as JSONL with character spans.
fn spans(data: &[Vec<(String, String)>]) -> String {
    let mut out = String::new();
    for s in data {
        let mut text = String::new();
        let mut entities: Vec<Value> = Vec::new();
        for (w, t) in s {
            if !text.is_empty() {
                text.push(' ');
            }
            let start = text.chars().count();
            text.push_str(w);
            let end = text.chars().count();
            match t.split_once('-') {
                Some(("B", kind)) => entities.push(serde_json::json!(
                    {"start": start, "end": end, "label": kind}
                )),
                Some(("I", _)) => {
                    if let Some(last) = entities.last_mut() {
                        last["end"] = end.into();
                    }
                }
                _ => {}
            }
        }
        out.push_str(&serde_json::json!({"text": text, "entities": entities}).to_string());
        out.push('\n');
    }
    out
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn ner_train(train: &Path, dev: &Path, out: &Path, epochs: &str, extra: &[&str]) -> Value {
    let args = [
        &[
            "ner",
            "train",
            "--model",
            BASE,
            "--train",
            path(train),
            "--dev",
            path(dev),
            "-o",
            path(out),
            "--epochs",
            epochs,
            "--lr",
            "3e-3",
            "--batch-size",
            "8",
            "--threads",
            "1",
        ][..],
        extra,
    ]
    .concat();
    serde_json::from_str(stdout(&mlkit(&args, b"")).trim()).unwrap()
}

#[test]
fn ner_train_learns_saves_and_reloads() {
    let dir = tempfile::tempdir().unwrap();
    let (train, dev, test) = (
        dir.path().join("train.conll"),
        dir.path().join("dev.jsonl"),
        dir.path().join("test.conll"),
    );
    std::fs::write(&train, conll(&sentences(1, 300))).unwrap();
    // Dev as spans: both readers in one run.
    std::fs::write(&dev, spans(&sentences(2, 60))).unwrap();
    std::fs::write(&test, conll(&sentences(3, 100))).unwrap();
    let out = dir.path().join("model");
    let summary = ner_train(&train, &dev, &out, "6", &["--quantize"]);
    assert_eq!(summary["dev_metric"], "entity_f1");
    for f in [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "train_log.jsonl",
        "model.gguf",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let config: Value =
        serde_json::from_slice(&std::fs::read(out.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["architectures"][0], "BertForTokenClassification");
    assert_eq!(config["id2label"]["0"], "O");
    assert_eq!(config["id2label"].as_object().unwrap().len(), 7);
    let log = std::fs::read_to_string(out.join("train_log.jsonl")).unwrap();
    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 6);
    assert_eq!(lines[0]["settings"]["seed"], 42);
    assert!(lines[5]["loss"].as_f64().unwrap() < lines[0]["loss"].as_f64().unwrap());

    // Held-out sentences through `ner eval`, from the safetensors and the int8 file.
    for model in [
        path(&out).to_string(),
        path(&out.join("model.gguf")).to_string(),
    ] {
        let report = stdout(&mlkit(
            &[
                "ner",
                "eval",
                "--model",
                &model,
                "--gold",
                path(&test),
                "--format",
                "json",
            ],
            b"",
        ));
        let report: Value = serde_json::from_str(report.trim()).unwrap();
        let f1 = report["overall"]["f1"].as_f64().unwrap();
        assert!(f1 >= 0.9, "{model}: held-out F1 {f1}");
    }
    let tagged = stdout(&mlkit(
        &["ner", "--model", path(&out), "--format", "jsonl", "-"],
        b"the lazy dog jumps over berlin\n",
    ));
    let entities: Value = serde_json::from_str(tagged.trim()).unwrap();
    let found: Vec<(&str, &str)> = entities["entities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["text"].as_str().unwrap(), e["label"].as_str().unwrap()))
        .collect();
    assert_eq!(found, [("lazy dog", "ANIMAL"), ("berlin", "LOC")]);
}

#[test]
fn a_seed_gives_the_same_model() {
    let dir = tempfile::tempdir().unwrap();
    let (train, dev) = (dir.path().join("t.conll"), dir.path().join("d.conll"));
    std::fs::write(&train, conll(&sentences(4, 40))).unwrap();
    std::fs::write(&dev, conll(&sentences(5, 10))).unwrap();
    let run = |name: &str, seed: &str| {
        let out = dir.path().join(name);
        ner_train(&train, &dev, &out, "2", &["--seed", seed]);
        std::fs::read(out.join("model.safetensors")).unwrap()
    };
    let a = run("a", "7");
    assert_eq!(a, run("b", "7"));
    assert_ne!(a, run("c", "8"));
}

#[test]
fn classify_train_learns_single_and_multi_label() {
    let dir = tempfile::tempdir().unwrap();
    // A text is "animal" when it names one, else "place" when it names berlin, else "none".
    let write = |name: &str, seed: u64, n: usize| {
        let mut csv = String::from("text,label,tags\n");
        for s in sentences(seed, n) {
            let words: Vec<&str> = s.iter().map(|(w, _)| w.as_str()).collect();
            let animal = s.iter().any(|(_, t)| t.ends_with("ANIMAL"));
            let place = words.contains(&"berlin");
            let label = if animal {
                "animal"
            } else if place {
                "place"
            } else {
                "none"
            };
            let mut tags = Vec::new();
            if animal {
                tags.push("animal");
            }
            if place {
                tags.push("place");
            }
            csv.push_str(&format!(
                "{},{label},\"{}\"\n",
                words.join(" "),
                tags.join(",")
            ));
        }
        let p = dir.path().join(name);
        std::fs::write(&p, csv).unwrap();
        p
    };
    let (train, dev, test) = (
        write("tr.csv", 11, 300),
        write("dv.csv", 12, 60),
        write("te.csv", 13, 100),
    );
    // Every run but for its output directory and extra flags.
    let train_args = [
        "classify",
        "train",
        "--model",
        BASE,
        "--train",
        path(&train),
        "--dev",
        path(&dev),
        "--epochs",
        "8",
        "--lr",
        "3e-3",
        "--batch-size",
        "8",
        "--threads",
        "1",
    ];
    let single = dir.path().join("single");
    stdout(&mlkit(
        &[&train_args[..], &["-o", path(&single)]].concat(),
        b"",
    ));
    let report = stdout(&mlkit(
        &[
            "classify",
            "eval",
            "--model",
            path(&single),
            "--gold-column",
            "label",
            "--format",
            "json",
            path(&test),
        ],
        b"",
    ));
    let report: Value = serde_json::from_str(report.trim()).unwrap();
    let accuracy = report["accuracy"].as_f64().unwrap();
    assert!(accuracy >= 0.9, "held-out accuracy {accuracy}");

    let multi = dir.path().join("multi");
    let extra = [
        "-o",
        path(&multi),
        "--multi-label",
        "--label-column",
        "tags",
    ];
    let out = stdout(&mlkit(&[&train_args[..], &extra].concat(), b""));
    let summary: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(summary["dev_metric"], "micro_f1");
    assert!(summary["dev_score"].as_f64().unwrap() >= 0.9, "{summary}");
    let config: Value =
        serde_json::from_slice(&std::fs::read(multi.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["problem_type"], "multi_label_classification");
    // Sigmoid scores: both labels of a text with an animal in berlin score above 0.5.
    let out = stdout(&mlkit(
        &[
            "classify",
            "--model",
            path(&multi),
            "--format",
            "jsonl",
            "-",
        ],
        b"the fox jumps over berlin\n",
    ));
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    let labels = v["labels"].as_array().unwrap();
    let scores = v["scores"].as_array().unwrap();
    let mut high: Vec<&str> = labels
        .iter()
        .zip(scores)
        .filter(|(_, s)| s.as_f64().unwrap() > 0.5)
        .map(|(l, _)| l.as_str().unwrap())
        .collect();
    high.sort();
    assert_eq!(high, ["animal", "place"], "{v}");
}

#[test]
fn bad_data_and_flags_are_refused_before_training() {
    let dir = tempfile::tempdir().unwrap();
    let train = dir.path().join("t.conll");
    std::fs::write(&train, conll(&sentences(4, 10))).unwrap();
    let dev = dir.path().join("d.conll");
    std::fs::write(&dev, "hello O\nberlin B-CITY\n").unwrap();
    let out = dir.path().join("m");
    let train_args = ["ner", "train", "--model", BASE, "--train", path(&train)];
    let run = |dev: &Path, out: &Path, code| {
        let args = [&train_args[..], &["--dev", path(dev), "-o", path(out)]].concat();
        failing(&args, b"", code).1
    };
    let err = run(&dev, &out, 2);
    assert!(
        err.contains("\"B-CITY\", which the training data does not have"),
        "{err}"
    );
    assert!(!out.exists());
    // A non-empty output directory is refused.
    std::fs::write(dir.path().join("x"), "").unwrap();
    let err = run(&train, dir.path(), 2);
    assert!(err.contains("exists and is not empty"), "{err}");
    let args = [
        &train_args[..],
        &["--dev", path(&train), "-o", path(&out), "--lr", "0"],
    ]
    .concat();
    let (_, err) = failing(&args, b"", 2);
    assert!(err.contains("must be above 0"), "{err}");
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"text\": \"ab\", \"entities\": [{\"start\": 0}]}\n").unwrap();
    let err = run(&bad, &out, 1);
    assert!(err.contains("bad.jsonl:1: not a {\"text\""), "{err}");
}

#[cfg(unix)]
#[test]
fn an_interrupted_run_leaves_no_model_directory() {
    let dir = tempfile::tempdir().unwrap();
    let (train, dev) = (dir.path().join("t.conll"), dir.path().join("d.conll"));
    std::fs::write(&train, conll(&sentences(6, 200))).unwrap();
    std::fs::write(&dev, conll(&sentences(7, 20))).unwrap();
    let out = dir.path().join("model");
    let mut child = command(&[
        "ner",
        "train",
        "--model",
        BASE,
        "--train",
        path(&train),
        "--dev",
        path(&dev),
        "-o",
        path(&out),
        "--epochs",
        "100000",
        "--quiet",
    ])
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null())
    .spawn()
    .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let pid = child.id().to_string();
    std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success());
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let mut left = left;
    left.sort();
    assert_eq!(left, ["d.conll", "t.conll"]);
}

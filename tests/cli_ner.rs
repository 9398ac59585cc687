//! End-to-end tests of `mlkit ner` and `mlkit ner eval` on the bundled model.

mod common;

use common::{mlkit, root, stdout};

use std::process::Command;

use serde_json::Value;

fn jsonl(s: &str) -> Vec<Value> {
    s.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

const NEWS: &str = "Angela Merkel met Emmanuel Macron in Paris.\n\nZoë Baird joined General Electric in München.\n";

#[test]
fn each_line_is_a_document_and_offsets_are_characters() {
    let out = jsonl(&stdout(&mlkit(
        &["ner", "--format", "jsonl", "-"],
        NEWS.as_bytes(),
    )));
    // Three lines in, three records out, the empty one with an empty list.
    assert_eq!(out.len(), 3);
    assert_eq!(out[1]["entities"], Value::Array(vec![]));
    let line = NEWS.lines().nth(2).unwrap();
    let mut found = Vec::new();
    for e in out[2]["entities"].as_array().unwrap() {
        let (s, t) = (
            e["start"].as_u64().unwrap() as usize,
            e["end"].as_u64().unwrap() as usize,
        );
        let by_chars: String = line.chars().skip(s).take(t - s).collect();
        assert_eq!(by_chars, e["text"].as_str().unwrap());
        found.push((e["label"].as_str().unwrap().to_string(), by_chars));
    }
    assert!(
        found.contains(&("PER".into(), "Zoë Baird".into())),
        "{found:?}"
    );
    assert!(
        found.contains(&("LOC".into(), "München".into())),
        "{found:?}"
    );
}

#[test]
fn labels_and_min_score_filter() {
    let out = jsonl(&stdout(&mlkit(
        &[
            "ner",
            "--format",
            "jsonl",
            "--labels",
            "LOC",
            "--min-score",
            "0.5",
            "-",
        ],
        NEWS.as_bytes(),
    )));
    let labels: Vec<&str> = out
        .iter()
        .flat_map(|d| d["entities"].as_array().unwrap())
        .map(|e| e["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["LOC", "LOC"]);
}

#[test]
fn jsonl_field_and_csv_column_inputs_keep_their_records() {
    let dir = tempfile::tempdir().unwrap();
    let j = dir.path().join("in.jsonl");
    std::fs::write(
        &j,
        "{\"id\": \"a\", \"body\": \"Apple opened a store in Tokyo.\", \"n\": 1}\n",
    )
    .unwrap();
    let out = jsonl(&stdout(&mlkit(
        &[
            "ner",
            "--format",
            "jsonl",
            "--text-field",
            "body",
            j.to_str().unwrap(),
        ],
        b"",
    )));
    assert_eq!(
        (out[0]["id"].as_str(), out[0]["n"].as_i64()),
        (Some("a"), Some(1))
    );
    assert!(out[0]["entities"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["text"] == "Tokyo"));

    let c = dir.path().join("in.csv");
    std::fs::write(
        &c,
        "id,text,other\n1,\"Obama visited Kenya, then Berlin.\",x\n2,,y\n",
    )
    .unwrap();
    let out = stdout(&mlkit(
        &["ner", "--column", "text", c.to_str().unwrap()],
        b"",
    ));
    let mut r = csv::Reader::from_reader(out.as_bytes());
    assert_eq!(
        r.headers().unwrap().iter().collect::<Vec<_>>(),
        ["id", "text", "other", "entities"]
    );
    let rows: Vec<csv::StringRecord> = r.records().map(|x| x.unwrap()).collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(&rows[0][2], "x");
    let ents: Value = serde_json::from_str(&rows[0][3]).unwrap();
    assert!(ents
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["text"] == "Kenya"));
    assert_eq!(&rows[1][3], "[]");
}

#[test]
fn a_csv_column_is_written_in_the_format_asked_for() {
    let csv_in = b"id,text\n7,Obama visited Kenya.\n";
    // --format jsonl writes JSON Lines, as it does for embed and zeroshot (it wrote CSV).
    let out = jsonl(&stdout(&mlkit(
        &["ner", "--column", "text", "--format", "jsonl", "-"],
        csv_in,
    )));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0]["id"], 1, "records are numbered from 1");
    assert!(out[0]["entities"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["text"] == "Kenya"));
    // hf: the pipeline's list, one line per row (words as the uncased model has them).
    let hf = jsonl(&stdout(&mlkit(
        &["ner", "--column", "text", "--format", "hf", "-"],
        csv_in,
    )));
    assert!(hf[0]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["word"] == "kenya"));
    // And csv from plain lines: id, text and the entities, as zeroshot writes them.
    let out = stdout(&mlkit(
        &["ner", "--format", "csv", "-"],
        b"Obama visited Kenya.\n",
    ));
    let mut r = csv::Reader::from_reader(out.as_bytes());
    assert_eq!(
        r.headers().unwrap().iter().collect::<Vec<_>>(),
        ["id", "text", "entities"]
    );
    let row = r.records().next().unwrap().unwrap();
    assert_eq!((&row[0], &row[1]), ("1", "Obama visited Kenya."));
}

#[test]
fn hf_conll_spacy_and_unit_doc() {
    let hf = jsonl(&stdout(&mlkit(
        &["ner", "--format", "hf", "--aggregation", "none", "-"],
        b"Paris\n",
    )));
    assert_eq!(hf[0][0]["entity"], "B-LOC");
    assert_eq!(hf[0][0]["index"], 1);
    let conll = stdout(&mlkit(
        &["ner", "--format", "conll", "-"],
        b"Angela Merkel spoke\n",
    ));
    assert_eq!(conll, "Angela B-PER\nMerkel I-PER\nspoke O\n\n");
    let doc = jsonl(&stdout(&mlkit(
        &["ner", "--unit", "doc", "--format", "spacy", "-"],
        NEWS.as_bytes(),
    )));
    assert_eq!(doc.len(), 1);
    assert_eq!(doc[0]["text"], NEWS);
    assert!(doc[0]["ents"].as_array().unwrap().len() >= 6);
}

#[test]
fn bad_input_is_named() {
    let o = mlkit(&["ner", "-"], b"fine line\nbad \xff byte\n");
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("line 2, byte offset 14"), "{err}");
    // --lossy goes on with U+FFFD.
    let out = jsonl(&stdout(&mlkit(
        &["ner", "--lossy", "--format", "jsonl", "-"],
        b"bad \xff byte\n",
    )));
    assert_eq!(out.len(), 1);
    // A checkpoint without a token classifier.
    let plain = root().join("crates/mlkit-core/tests/fixtures/tiny-bert");
    let o = mlkit(&["ner", "--model", plain.to_str().unwrap(), "-"], b"x\n");
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("is not a token classification checkpoint"));
    // Usage errors exit 2.
    let o = mlkit(&["ner", "--stride", "600", "-"], b"x\n");
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn eval_reproduces_seqeval() {
    let fixtures: Value = serde_json::from_slice(
        &std::fs::read(root().join("crates/mlkit-ner/tests/fixtures/pipeline.json")).unwrap(),
    )
    .unwrap();
    let case = &fixtures["eval"];
    let out = stdout(&mlkit(
        &[
            "ner",
            "eval",
            "--gold",
            case["gold"].as_str().unwrap(),
            "--format",
            "json",
            // The fixture's tags come from the bundled model's weights in f32, as the
            // pipeline runs them; int8 activations (the default) move a few scores.
            "--dtype",
            "f32",
        ],
        b"",
    ));
    let got: Value = serde_json::from_str(&out).unwrap();
    let want = &case["seqeval"];
    let close = |a: &Value, b: &Value| (a.as_f64().unwrap() - b.as_f64().unwrap()).abs() < 1e-9;
    assert!(
        close(&got["overall"]["f1"], &want["micro avg"]["f1-score"]),
        "{got} vs {want}"
    );
    assert!(close(
        &got["overall"]["precision"],
        &want["micro avg"]["precision"]
    ));
    for ty in ["LOC", "MISC", "ORG", "PER"] {
        assert!(
            close(&got["per_type"][ty]["f1"], &want[ty]["f1-score"]),
            "{ty}"
        );
        assert!(
            close(&got["per_type"][ty]["recall"], &want[ty]["recall"]),
            "{ty}"
        );
    }
}

#[test]
fn html_marks_entities() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("ents.html");
    let o = mlkit(
        &["ner", "-o", page.to_str().unwrap(), "-"],
        b"Angela Merkel met <Macron> & co in Paris.\n",
    );
    stdout(&o);
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("&lt;"), "text is escaped");
    // In a real browser: the DOM has the highlighted spans with their labels.
    let Some(chromium) = ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find(|b| {
            Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
    else {
        assert!(
            std::env::var_os("MLKIT_REQUIRE_BROWSER").is_none(),
            "MLKIT_REQUIRE_BROWSER is set but no chromium runs"
        );
        eprintln!("chromium not installed: the browser half of this test is skipped");
        return;
    };
    let profile = dir.path().join("profile");
    let dom = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            &format!("--user-data-dir={}", profile.display()),
            "--dump-dom",
            &format!("file://{}", page.display()),
        ])
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&dom.stdout);
    let marks: Vec<&str> = dom.split("<mark").skip(1).collect();
    assert!(marks.len() >= 3, "{dom}");
    assert!(marks
        .iter()
        .any(|m| m.contains("data-label=\"PER\"") && m.contains(">Angela Merkel<")));
    assert!(marks
        .iter()
        .any(|m| m.contains("data-label=\"LOC\"") && m.contains(">Paris<")));
}

#[test]
fn int8_finds_the_entities_q8_finds() {
    let run = |dtype: &str| {
        jsonl(&stdout(&mlkit(
            &[
                "ner",
                "--dtype",
                dtype,
                "--format",
                "jsonl",
                "examples/news.txt",
            ],
            b"",
        )))
    };
    let (q8, int8) = (run("q8"), run("int8"));
    assert_eq!(q8.len(), int8.len());
    let mut entities = 0;
    for (a, b) in q8.iter().zip(&int8) {
        let (a, b) = (
            a["entities"].as_array().unwrap(),
            b["entities"].as_array().unwrap(),
        );
        let spans = |es: &[Value]| -> Vec<(Value, Value, Value)> {
            es.iter()
                .map(|e| (e["label"].clone(), e["start"].clone(), e["end"].clone()))
                .collect()
        };
        assert_eq!(spans(a), spans(b));
        for (x, y) in a.iter().zip(b) {
            // Activations rounded to int8 move scores a little (at most 0.02 on this file).
            let d = (x["score"].as_f64().unwrap() - y["score"].as_f64().unwrap()).abs();
            assert!(d <= 0.05, "{x} against {y}");
            entities += 1;
        }
    }
    assert!(entities >= 20, "{entities} entities");
}

//! End-to-end tests of `mlkit zeroshot` and `mlkit zeroshot eval`.

mod common;

use common::{mlkit, root, stdout};

use serde_json::Value;

const NLI: &str = "crates/mlkit-zeroshot/tests/fixtures/tiny-roberta-nli";

#[test]
fn nli_hf_output_is_the_pipeline_s() {
    let fixtures: Value = serde_json::from_slice(
        &std::fs::read(root().join("crates/mlkit-zeroshot/tests/fixtures/zeroshot.json")).unwrap(),
    )
    .unwrap();
    let case = &fixtures["roberta"]["cases"][1]; // multi-label
    let text = fixtures["roberta"]["texts"][0].as_str().unwrap();
    let out = stdout(&mlkit(
        &[
            "zeroshot",
            "--model",
            NLI,
            "--labels",
            "fox,world,berlin,dog",
            "--multi-label",
            "--format",
            "hf",
            "-",
        ],
        format!("{text}\n").as_bytes(),
    ));
    let got: Value = serde_json::from_str(out.trim()).unwrap();
    let want = &case["results"][0];
    assert_eq!(got["sequence"], text);
    assert_eq!(got["labels"], want["labels"]);
    for (g, w) in got["scores"]
        .as_array()
        .unwrap()
        .iter()
        .zip(want["scores"].as_array().unwrap())
    {
        assert!((g.as_f64().unwrap() - w.as_f64().unwrap()).abs() < 1e-5);
    }
}

#[test]
fn csv_column_in_csv_out_and_eval() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("news.csv");
    std::fs::write(
        &data,
        "text,label\n\
         The striker scored twice in the cup final.,sport\n\
         Parliament passed the budget on Tuesday.,politics\n\
         The new phone has a faster chip.,technology\n\
         The goalkeeper saved a penalty in extra time.,sport\n",
    )
    .unwrap();
    let out = stdout(&mlkit(
        &[
            "zeroshot",
            "--labels",
            "sport,politics,technology",
            "--column",
            "text",
            data.to_str().unwrap(),
        ],
        b"",
    ));
    let mut r = csv::Reader::from_reader(out.as_bytes());
    assert_eq!(
        r.headers().unwrap().iter().collect::<Vec<_>>(),
        ["text", "label", "prediction", "score", "scores"]
    );
    let rows: Vec<csv::StringRecord> = r.records().map(|x| x.unwrap()).collect();
    assert_eq!(rows.len(), 4);
    let predicted: Vec<&str> = rows.iter().map(|r| r.get(2).unwrap()).collect();
    assert_eq!(predicted, ["sport", "politics", "technology", "sport"]);

    let e = stdout(&mlkit(
        &[
            "zeroshot",
            "eval",
            "--gold-column",
            "label",
            "--format",
            "json",
            data.to_str().unwrap(),
        ],
        b"",
    ));
    let e: Value = serde_json::from_str(&e).unwrap();
    assert_eq!(e["accuracy"], 1.0);
    assert_eq!(
        e["labels"],
        serde_json::json!(["politics", "sport", "technology"])
    );
    assert_eq!(
        e["confusion_matrix"],
        serde_json::json!([[1, 0, 0], [0, 2, 0], [0, 0, 1]])
    );
    // The same data from stdin; a gold column that is not there is a usage error.
    let eval = |gold: &str| {
        let input = std::fs::read(&data).unwrap();
        let args = [
            "zeroshot",
            "eval",
            "--gold-column",
            gold,
            "--format",
            "json",
            "-",
        ];
        mlkit(&args, &input)
    };
    assert_eq!(
        serde_json::from_str::<Value>(&stdout(&eval("label"))).unwrap(),
        e
    );
    let o = eval("gold");
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("-: no column \"gold\"; columns: text, label")
    );
}

#[test]
fn jsonl_field_top_k_and_threshold() {
    let out = stdout(&mlkit(
        &[
            "zeroshot",
            "--labels",
            "sport,politics,technology",
            "--text-field",
            "t",
            "--top-k",
            "2",
            "-",
        ],
        b"{\"id\": 7, \"t\": \"The new phone has a faster chip.\"}\n",
    ));
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        (v["id"].as_i64(), v["labels"][0].as_str()),
        (Some(7), Some("technology"))
    );
    assert_eq!(v["labels"].as_array().unwrap().len(), 2);
    let out = stdout(&mlkit(
        &[
            "zeroshot",
            "--labels",
            "sport,politics",
            "--threshold",
            "2",
            "--format",
            "jsonl",
            "-",
        ],
        b"anything\n",
    ));
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["labels"], serde_json::json!([]));
}

#[test]
fn bad_input_is_refused_clearly() {
    let cases: [(&[&str], &[u8], i32, &str); 5] = [
        (&["zeroshot", "-"], b"x\n", 2, "no labels"),
        (
            &["zeroshot", "--labels", "a,b,a", "-"],
            b"x\n",
            2,
            "given twice",
        ),
        (
            &["zeroshot", "--labels", "a", "--template", "none", "-"],
            b"x\n",
            2,
            "has no {}",
        ),
        (
            &["zeroshot", "--labels", "a,b", "-"],
            b"x\n\n",
            1,
            "record 2 has no text",
        ),
        (
            &[
                "zeroshot",
                "--labels",
                "a",
                "--method",
                "nli",
                "--model",
                "crates/mlkit-core/tests/fixtures/tiny-bert-sc",
                "-",
            ],
            b"x\n",
            1,
            "no entailment label among its labels (O, B-PER, I-PER, B-LOC)",
        ),
    ];
    for (args, input, code, message) in cases {
        let o = mlkit(args, input);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(code), "{args:?}: {err}");
        assert!(err.contains(message), "{args:?}: {err}");
    }
}

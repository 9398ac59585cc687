//! End-to-end tests of `mlkit forest train|predict|eval`.

mod common;

use common::{mlkit, root, stdout};
use serde_json::Value;

fn iris() -> String {
    root()
        .join("crates/mlkit-forest/tests/fixtures/iris.csv")
        .display()
        .to_string()
}

#[test]
fn train_predict_eval_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("iris.forest");
    let m = model.to_str().unwrap();
    stdout(&mlkit(
        &[
            "forest",
            "train",
            &iris(),
            "--target",
            "target",
            "-o",
            m,
            "--trees",
            "40",
            "--oob",
            "--seed",
            "3",
        ],
        b"",
    ));
    let out = stdout(&mlkit(&["forest", "predict", m, &iris(), "--votes"], b""));
    let mut r = csv::Reader::from_reader(out.as_bytes());
    let h: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(
        &h[h.len() - 5..],
        [
            "prediction",
            "confidence",
            "votes_c0",
            "votes_c1",
            "votes_c2"
        ]
    );
    let rows: Vec<csv::StringRecord> = r.records().map(|x| x.unwrap()).collect();
    assert_eq!(rows.len(), 150);
    for row in &rows {
        // The confidence is the winner's vote share, and votes add up to the trees.
        let votes: Vec<usize> = (h.len() - 3..h.len())
            .map(|i| row[i].split('/').next().unwrap().parse().unwrap())
            .collect();
        assert_eq!(votes.iter().sum::<usize>(), 40);
        let conf: f64 = row[h.len() - 4].parse().unwrap();
        assert!((conf - *votes.iter().max().unwrap() as f64 / 40.0).abs() < 1e-9);
    }
    let e: Value = serde_json::from_str(&stdout(&mlkit(
        &["forest", "eval", m, &iris(), "--format", "json"],
        b"",
    )))
    .unwrap();
    assert!(e["accuracy"].as_f64().unwrap() > 0.95);
    assert!(e["oob_score"].as_f64().unwrap() > 0.9);
    assert_eq!(e["confusion_matrix"].as_array().unwrap().len(), 3);
    assert_eq!(e["importances"].as_array().unwrap().len(), 4);
    let svg = dir.path().join("reliability.svg");
    stdout(&mlkit(
        &[
            "forest",
            "eval",
            m,
            &iris(),
            "--plot",
            svg.to_str().unwrap(),
        ],
        b"",
    ));
    let svg = std::fs::read_to_string(svg).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("class=\"accuracy\""));
}

#[test]
fn the_same_seed_gives_the_same_forest_on_any_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    for (path, threads) in [(&a, "1"), (&b, "2")] {
        stdout(&mlkit(
            &[
                "forest",
                "train",
                &iris(),
                "--target",
                "target",
                "--trees",
                "20",
                "--extra-trees",
                "--threads",
                threads,
                "-o",
                path.to_str().unwrap(),
            ],
            b"",
        ));
    }
    assert_eq!(std::fs::read(a).unwrap(), std::fs::read(b).unwrap());
}

#[test]
fn bad_models_and_data_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.forest");
    let m = model.to_str().unwrap();
    stdout(&mlkit(
        &[
            "forest",
            "train",
            &iris(),
            "--target",
            "target",
            "--trees",
            "5",
            "-o",
            m,
        ],
        b"",
    ));
    // Data without a feature column.
    let o = mlkit(&["forest", "predict", m, "-"], b"f0,f1,f2\n1,2,3\n");
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not in the data: f3"));
    // A truncated or damaged model file: an error, never a panic.
    let bytes = std::fs::read(&model).unwrap();
    std::fs::write(&model, &bytes[..bytes.len() / 3]).unwrap();
    let o = mlkit(&["forest", "predict", m, &iris()], b"");
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // Usage errors.
    let o = mlkit(
        &["forest", "train", &iris(), "--target", "nope", "-o", m],
        b"",
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no column \"nope\""));
    let o = mlkit(
        &[
            "forest",
            "train",
            &iris(),
            "--target",
            "target",
            "--max-features",
            "zero",
            "-o",
            m,
        ],
        b"",
    );
    assert_eq!(o.status.code(), Some(2));
}

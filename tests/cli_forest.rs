//! End-to-end tests of `mlkit forest train|predict|eval`.

mod common;

use common::{failing, mlkit, root, stdout};
use serde_json::Value;

fn iris() -> String {
    root()
        .join("crates/mlkit-forest/tests/fixtures/iris.csv")
        .display()
        .to_string()
}

/// `mlkit forest train` on iris (target `target`) into `model`, with `extra` flags.
fn train_iris(model: &str, extra: &[&str]) -> std::process::Output {
    let data = iris();
    let mut args = vec!["forest", "train", &data, "--target", "target", "-o", model];
    args.extend(extra);
    mlkit(&args, b"")
}

#[test]
fn train_predict_eval_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("iris.forest");
    let m = model.to_str().unwrap();
    stdout(&train_iris(m, &["--trees", "40", "--oob", "--seed", "3"]));
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
    let png = dir.path().join("reliability.png");
    stdout(&mlkit(
        &[
            "forest",
            "eval",
            m,
            &iris(),
            "--plot",
            png.to_str().unwrap(),
        ],
        b"",
    ));
    assert!(std::fs::read(png)
        .unwrap()
        .starts_with(b"\x89PNG\r\n\x1a\n"));
    let o = mlkit(&["forest", "eval", m, &iris(), "--plot", "x.pdf"], b"");
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn the_same_seed_gives_the_same_forest_on_any_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    for (path, threads) in [(&a, "1"), (&b, "2")] {
        let flags = ["--trees", "20", "--extra-trees", "--threads", threads];
        stdout(&train_iris(path.to_str().unwrap(), &flags));
    }
    assert_eq!(std::fs::read(a).unwrap(), std::fs::read(b).unwrap());
}

#[test]
fn bad_models_and_data_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.forest");
    let m = model.to_str().unwrap();
    stdout(&train_iris(m, &["--trees", "5"]));
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
    let o = train_iris(m, &["--max-features", "zero"]);
    assert_eq!(o.status.code(), Some(2));
    // A row with a field too many, on line 4 of the file.
    let (_, err) = failing(
        &["forest", "train", "-", "--target", "y", "-o", m],
        b"a,b,y\n1,2,0\n3,4,1\n5,\"6\",7,1\n",
        1,
    );
    assert!(
        err.contains("-: line 4: found 4 fields where the header has 3; quote fields"),
        "{err}"
    );
}

#[test]
fn calibrated_models_predict_calibrated_probabilities() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("cal.forest");
    let m = model.to_str().unwrap();
    let train = |extra: &[&str]| train_iris(m, &[&["--trees", "10"], extra].concat());
    stdout(&train(&["--calibrate", "isotonic", "--cv", "3"]));
    // The default confidence of a calibrated model is its calibrated probability.
    let out = stdout(&mlkit(&["forest", "predict", m, &iris(), "--votes"], b""));
    let mut r = csv::Reader::from_reader(out.as_bytes());
    let h: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(
        &h[h.len() - 8..],
        [
            "prediction",
            "confidence",
            "votes_c0",
            "votes_c1",
            "votes_c2",
            "proba_c0",
            "proba_c1",
            "proba_c2"
        ]
    );
    for row in r.records().map(|x| x.unwrap()) {
        let p: Vec<f64> = (h.len() - 3..h.len())
            .map(|i| row[i].parse().unwrap())
            .collect();
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-5, "{p:?}");
        let conf: f64 = row[h.len() - 7].parse().unwrap();
        assert!((conf - p.iter().cloned().fold(0.0, f64::max)).abs() < 1e-4);
        // 3 folds of 10 trees vote.
        let votes: usize = (h.len() - 6..h.len() - 3)
            .map(|i| row[i].split('/').next().unwrap().parse::<usize>().unwrap())
            .sum();
        assert_eq!(votes, 30);
    }
    let e = stdout(&mlkit(&["forest", "eval", m, &iris()], b""));
    assert!(e.contains("calibrated probability") && e.contains("Isotonic, 3 folds"));
    // Too many folds for the smallest class, calibrated scores of an uncalibrated model, and
    // out-of-bag scores with calibration: usage errors.
    let o = train(&["--calibrate", "sigmoid", "--cv", "60"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("each class needs at least 60"));
    assert_eq!(
        train(&["--calibrate", "sigmoid", "--oob"]).status.code(),
        Some(2)
    );
    stdout(&train(&[]));
    let o = mlkit(
        &["forest", "predict", m, &iris(), "--proba", "calibrated"],
        b"",
    );
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn text_columns_become_tfidf_features() {
    // The notes' recipe: a company description to its sector.
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("sectors.forest");
    let m = model.to_str().unwrap();
    let data = root()
        .join("examples/company_sectors.csv")
        .display()
        .to_string();
    let train = |text: &str| {
        let args = [
            "forest",
            "train",
            &data,
            "--target",
            "sector",
            "--exclude",
            "company",
            "--text",
            text,
            "--seed",
            "1",
            "-o",
            m,
        ];
        mlkit(&args, b"")
    };
    stdout(&train("description"));
    let rows = "company,description,employees,country\n\
        A,Electric cars and battery packs built in our assembly plant,900,DE\n\
        B,Cloud software for developers with managed databases,120,US\n\
        C,,,\n";
    let out = stdout(&mlkit(
        &["forest", "predict", m, "-", "--votes"],
        rows.as_bytes(),
    ));
    let mut r = csv::Reader::from_reader(out.as_bytes());
    let h: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    let p = h.iter().position(|c| c == "prediction").unwrap();
    let got: Vec<String> = r.records().map(|x| x.unwrap()[p].to_string()).collect();
    // Three rows in, three out; the empty description and missing values still predict.
    assert_eq!(got.len(), 3);
    assert_eq!(got[0], "Automotive Manufacturing");
    assert_eq!(got[1], "IT & Technology");
    // Importances name the words behind the hashed columns.
    let e: Value = serde_json::from_str(&stdout(&mlkit(
        &["forest", "eval", m, &data, "--format", "json"],
        b"",
    )))
    .unwrap();
    let names: Vec<&str> = e["importances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["feature"].as_str().unwrap())
        .collect();
    // Only the buckets some training text fills are columns (of 1024), each named by a
    // word; then employees and country.
    let text_columns = names
        .iter()
        .filter(|n| n.starts_with("description:"))
        .count();
    assert!((100..1024).contains(&text_columns), "{text_columns}");
    assert_eq!(names.len(), text_columns + 2);
    assert!(!names.iter().any(|n| n.starts_with("description:#")));
    assert!(
        names.contains(&"description:software"),
        "{:?}",
        &names[..10]
    );
    // A text column that is not a feature: a usage error.
    assert_eq!(train("nope").status.code(), Some(2));
}

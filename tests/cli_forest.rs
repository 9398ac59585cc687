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

fn company_sectors() -> String {
    root()
        .join("examples/company_sectors.csv")
        .display()
        .to_string()
}

/// Trains on examples/company_sectors.csv (sector from everything but the company name) with
/// `extra` flags into `model`.
fn train_sectors(model: &str, extra: &[&str]) -> std::process::Output {
    let data = company_sectors();
    let mut args = vec![
        "forest",
        "train",
        &data,
        "--target",
        "sector",
        "--exclude",
        "company",
        "--seed",
        "1",
        "-o",
        model,
    ];
    args.extend(extra);
    mlkit(&args, b"")
}

/// The importances `forest eval --format json` names, most important first.
fn importance_names(model: &str, extra: &[&str]) -> Vec<String> {
    let data = company_sectors();
    let mut args = vec!["forest", "eval", model, &data, "--format", "json"];
    args.extend(extra);
    let e: Value = serde_json::from_str(&stdout(&mlkit(&args, b""))).unwrap();
    e["importances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["feature"].as_str().unwrap().to_string())
        .collect()
}

/// The predictions of `forest predict` on `rows`.
fn predictions(model: &str, rows: &str, extra: &[&str]) -> Vec<String> {
    let mut args = vec!["forest", "predict", model, "-"];
    args.extend(extra);
    let out = stdout(&mlkit(&args, rows.as_bytes()));
    let mut r = csv::Reader::from_reader(out.as_bytes());
    let h: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    let p = h.iter().position(|c| c == "prediction").unwrap();
    r.records().map(|x| x.unwrap()[p].to_string()).collect()
}

const NEW_COMPANIES: &str = "company,description,employees,country\n\
    A,Electric cars and battery packs built in our assembly plant,900,DE\n\
    B,Cloud software for developers with managed databases,120,US\n\
    C,,,\n";

#[test]
fn text_columns_become_tfidf_features() {
    // The notes' recipe: a company description to its sector.
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("sectors.forest");
    let m = model.to_str().unwrap();
    stdout(&train_sectors(m, &["--text", "description"]));
    let got = predictions(m, NEW_COMPANIES, &["--votes"]);
    // Three rows in, three out; the empty description and missing values still predict.
    assert_eq!(got.len(), 3);
    assert_eq!(got[0], "Automotive Manufacturing");
    assert_eq!(got[1], "IT & Technology");
    // The learnt vocabulary: every term in at least 2 descriptions (min_df 2), words and
    // word pairs; then employees and country.
    let names = importance_names(m, &[]);
    let terms: Vec<&str> = names
        .iter()
        .filter_map(|n| n.strip_prefix("description:"))
        .collect();
    assert_eq!(names.len(), terms.len() + 2);
    let descriptions = std::fs::read_to_string(company_sectors())
        .unwrap()
        .to_lowercase();
    for t in &terms {
        assert!(
            descriptions.matches(t).count() >= 2,
            "{t:?} is in fewer than 2 descriptions"
        );
    }
    assert!(terms.contains(&"software"), "{terms:?}");
    assert!(
        terms.iter().any(|t| t.contains(' ')),
        "word pairs: {terms:?}"
    );
    // Options as TfidfVectorizer's: single words in at least 3 texts.
    stdout(&train_sectors(
        m,
        &["--text", "description", "--ngram", "1,1", "--min-df", "3"],
    ));
    let fewer = importance_names(m, &[]);
    assert!(fewer.len() < names.len());
    assert!(!fewer.iter().any(|t| t.contains(' ')), "{fewer:?}");
    // Hashing instead: each bucket named by its most frequent term.
    stdout(&train_sectors(
        m,
        &["--text", "description", "--text-hash", "1024"],
    ));
    let hashed = importance_names(m, &[]);
    let buckets = hashed
        .iter()
        .filter(|n| n.starts_with("description:"))
        .count();
    assert!((100..1024).contains(&buckets), "{buckets}");
    assert!(hashed.contains(&"description:software".to_string()));
    assert_eq!(predictions(m, NEW_COMPANIES, &[])[1], "IT & Technology");
    // A text column that is not a feature, bounds that leave no term, options of the
    // other kind: usage errors or named data errors.
    assert_eq!(train_sectors(m, &["--text", "nope"]).status.code(), Some(2));
    let o = train_sectors(m, &["--text", "description", "--min-df", "1000"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--min-df"));
    let o = train_sectors(
        m,
        &[
            "--text",
            "description",
            "--text-hash",
            "64",
            "--min-df",
            "3",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    let o = train_sectors(m, &["--text", "description", "--ngram", "2,1"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn embedded_text_columns_are_features_and_predict_embeds_the_same_way() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("sectors.forest");
    let m = model.to_str().unwrap();
    // The notes' newsworthiness recipe: extra trees on sentence embeddings, beside other
    // columns, with the bundled model.
    let o = train_sectors(
        m,
        &["--embed", "description", "--extra-trees", "--trees", "200"],
    );
    stdout(&o);
    let got = predictions(m, NEW_COMPANIES, &[]);
    assert_eq!(got.len(), 3);
    assert_eq!(got[0], "Automotive Manufacturing");
    assert_eq!(got[1], "IT & Technology");
    let names = importance_names(m, &[]);
    assert_eq!(
        names.len(),
        384 + 2,
        "all-MiniLM-L6-v2's 384 dimensions, then the others"
    );
    assert!(names.contains(&"description:emb[17]".to_string()));
    // The model file records the model by name and weights hash.
    let bytes = std::fs::read(&model).unwrap();
    let meta = String::from_utf8_lossy(&bytes);
    assert!(meta.contains("\"name\":\"all-MiniLM-L6-v2\""));
    assert!(meta.contains("\"hash\":\"sha256:"));
    // Another model at predict time: refused, naming both.
    let tiny = root().join("crates/mlkit-core/tests/fixtures/tiny-bert");
    let tiny = tiny.to_str().unwrap();
    let (_, err) = failing(
        &["forest", "predict", m, "-", "--embed-model", tiny],
        NEW_COMPANIES.as_bytes(),
        2,
    );
    assert!(
        err.contains("all-MiniLM-L6-v2") && err.contains(tiny),
        "{err}"
    );
    // TF-IDF and embeddings of one column side by side.
    stdout(&train_sectors(
        m,
        &[
            "--text",
            "description",
            "--embed",
            "description",
            "--embed-model",
            tiny,
        ],
    ));
    let both = importance_names(m, &[]);
    assert!(both.iter().any(|n| n == "description:software"));
    assert!(both.iter().any(|n| n == "description:emb[0]"));
    // Data without the embedded column: the model's need, named (exit 1, as for any
    // missing column).
    let (_, err) = failing(
        &["forest", "predict", m, "-"],
        b"company,employees\nA,3\n",
        1,
    );
    assert!(err.contains("not in the data: description"), "{err}");
    // An embedded column that is not a feature: a usage error.
    let (_, err) = failing(
        &[
            "forest",
            "train",
            &company_sectors(),
            "--target",
            "sector",
            "--features",
            "employees",
            "--embed",
            "description",
            "-o",
            m,
        ],
        b"",
        2,
    );
    assert!(err.contains("--embed description"), "{err}");
}

#[test]
fn predict_and_eval_read_spark_part_files_as_one_table() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("iris.forest");
    let m = model.to_str().unwrap();
    stdout(&train_iris(m, &["--trees", "20", "--seed", "3"]));
    let text = std::fs::read_to_string(iris()).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let rows: Vec<&str> = lines.collect();
    let mut parts = Vec::new();
    for (i, chunk) in rows.chunks(60).enumerate() {
        let path = dir.path().join(format!("part-{i:05}.csv"));
        std::fs::write(&path, format!("{header}\n{}\n", chunk.join("\n"))).unwrap();
        parts.push(path.display().to_string());
    }
    // An empty partition's file, as Spark may write one.
    let empty = dir.path().join("part-00009.csv");
    std::fs::write(&empty, "").unwrap();
    parts.push(empty.display().to_string());
    let part_refs: Vec<&str> = parts.iter().map(String::as_str).collect();
    let whole = stdout(&mlkit(&["forest", "predict", m, &iris()], b""));
    let joined = stdout(&mlkit(
        &[&["forest", "predict", m][..], &part_refs].concat(),
        b"",
    ));
    assert_eq!(joined, whole);
    let eval = |data: &[&str]| {
        stdout(&mlkit(
            &[&["forest", "eval", m, "--format", "json"][..], data].concat(),
            b"",
        ))
    };
    let (e_whole, e_joined) = (eval(&[&iris()]), eval(&part_refs));
    let accuracy = |s: &str| serde_json::from_str::<Value>(s).unwrap()["accuracy"].clone();
    assert_eq!(accuracy(&e_joined), accuracy(&e_whole));

    // A bad value is named by its own part and line.
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, format!("{header}\n1,2,3,4,c0\n1,x,3,4,c1\n")).unwrap();
    let (_, err) = failing(
        &["forest", "predict", m, &parts[0], bad.to_str().unwrap()],
        b"",
        1,
    );
    assert!(err.contains("bad.csv: line 3"), "{err}");

    let other = dir.path().join("other.csv");
    std::fs::write(&other, "a,b\n1,2\n").unwrap();
    let (_, err) = failing(
        &["forest", "predict", m, &parts[0], other.to_str().unwrap()],
        b"",
        1,
    );
    assert!(err.contains("other.csv: its header (a,b) is not"), "{err}");
}

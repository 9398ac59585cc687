//! Golden parity with pandas: `fixtures/cases.json` holds, for each option combination, the
//! ids of the rows pandas 2.2.3 / numpy 2.1.3 returned (made by `fixtures/make_fixtures.py`).
//! Every case must give the same rows in the same order, or the same kind of error.

use std::path::{Path, PathBuf};

use mlkit_sample::{sample_file_tuned, Compat, Format, SampleError, SampleOptions, SampleSize};
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn options(o: &Value) -> SampleOptions {
    let size = match (o.get("n"), o.get("frac")) {
        (Some(n), _) => SampleSize::Count(n.as_u64().unwrap() as usize),
        (None, Some(f)) => SampleSize::Frac(f.as_f64().unwrap()),
        _ => panic!("case without n or frac: {o}"),
    };
    let flag = |k: &str| o.get(k).and_then(Value::as_bool).unwrap_or(false);
    SampleOptions {
        by: o
            .get("by")
            .and_then(Value::as_array)
            .map(|a| a.iter().map(|v| v.as_str().unwrap().to_string()).collect())
            .unwrap_or_default(),
        size,
        seed: o["seed"].as_u64().unwrap() as u32,
        replace: flag("replace"),
        weights: o.get("weights").map(|w| w.as_str().unwrap().to_string()),
        compat: if o.get("compat").and_then(Value::as_str) == Some("apply") {
            Compat::Apply
        } else {
            Compat::GroupBy
        },
        keep_order: false,
        keep_missing: flag("keep_missing"),
        min_per_group: o.get("min_per_group").map(|k| k.as_u64().unwrap() as usize),
        cap: flag("cap"),
    }
}

/// The `id` column of a sample written in `format`.
fn ids(format: Format, out: &[u8]) -> Vec<i64> {
    match format {
        Format::Csv | Format::Tsv => {
            let delim = if format == Format::Csv { b',' } else { b'\t' };
            let mut r = csv::ReaderBuilder::new().delimiter(delim).from_reader(out);
            let col = r.headers().unwrap().iter().position(|h| h == "id").unwrap();
            r.records()
                .map(|rec| rec.unwrap()[col].parse().unwrap())
                .collect()
        }
        Format::Ndjson => out
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| {
                serde_json::from_slice::<Value>(l).unwrap()["id"]
                    .as_i64()
                    .unwrap()
            })
            .collect(),
        Format::Parquet => {
            use polars::prelude::*;
            let df = ParquetReader::new(std::io::Cursor::new(out.to_vec()))
                .finish()
                .unwrap();
            df.column("id")
                .unwrap()
                .cast(&DataType::Int64)
                .unwrap()
                .i64()
                .unwrap()
                .into_no_null_iter()
                .collect()
        }
    }
}

fn error_kind(e: &SampleError) -> &'static str {
    match e {
        SampleError::TooFewRows { .. } => "too_few_rows",
        SampleError::ZeroWeights { .. } => "zero_weights",
        SampleError::TooFewWeighted { .. } => "too_few_weighted",
        SampleError::BadWeight { .. } => "bad_weight",
        _ => "other",
    }
}

#[test]
fn every_case_matches_pandas() {
    check_cases(u64::MAX);
}

/// The same cases with every scan split over two threads, as big files are.
#[test]
fn every_case_matches_pandas_on_two_threads() {
    check_cases(1);
}

fn check_cases(parallel_min: u64) {
    let text = std::fs::read_to_string(fixtures().join("cases.json")).unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    let cases = doc["cases"].as_array().unwrap();
    assert!(cases.len() >= 40, "fixture lost its cases");
    let mut failures = Vec::new();
    for case in cases {
        let file = case["file"].as_str().unwrap();
        let path = fixtures().join(file);
        let format = Format::from_path(&path).unwrap();
        let opts = options(&case["options"]);
        let mut out = Vec::new();
        let got = sample_file_tuned(&path, format, &opts, &mut out, parallel_min);
        match (case.get("expected"), got) {
            (Some(expected), Ok(report)) => {
                let expected: Vec<i64> = expected
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_i64().unwrap())
                    .collect();
                let got = ids(format, &out);
                assert_eq!(report.sampled as usize, got.len());
                if got != expected {
                    failures.push(format!(
                        "{file} {}: expected {:?}.. got {:?}..",
                        case["options"],
                        &expected[..expected.len().min(8)],
                        &got[..got.len().min(8)]
                    ));
                }
            }
            (Some(_), Err(e)) => failures.push(format!("{file} {}: error {e}", case["options"])),
            (None, Ok(_)) => failures.push(format!(
                "{file} {}: pandas raised {} but mlkit sampled",
                case["options"], case["error"]
            )),
            (None, Err(e)) => {
                if error_kind(&e) != case["error"].as_str().unwrap() {
                    failures.push(format!(
                        "{file} {}: pandas raised {}, mlkit: {e}",
                        case["options"], case["error"]
                    ));
                }
                assert!(out.is_empty(), "an error must leave no output");
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn numpy_streams_match() {
    use mlkit_sample::numpy_random::{numpy_sum, RandomState};
    let text = std::fs::read_to_string(fixtures().join("numpy_streams.json")).unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    let u = |v: &Value| v.as_u64().unwrap();
    for p in doc["permutation"].as_array().unwrap() {
        let n = u(&p["n"]) as usize;
        let got = RandomState::new(u(&p["seed"]) as u32).permutation_prefix(n, n);
        let want: Vec<usize> = p["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| u(v) as usize)
            .collect();
        assert_eq!(got, want, "permutation seed {}", p["seed"]);
    }
    for r in doc["randint"].as_array().unwrap() {
        let got = RandomState::new(u(&r["seed"]) as u32)
            .randint(u(&r["high"]) as usize, u(&r["size"]) as usize);
        let want: Vec<usize> = r["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| u(v) as usize)
            .collect();
        assert_eq!(got, want, "randint {r}");
    }
    for r in doc["random_sample"].as_array().unwrap() {
        let mut rs = RandomState::new(u(&r["seed"]) as u32);
        for b in r["bits"].as_array().unwrap() {
            assert_eq!(rs.random_sample().to_bits(), u(b));
        }
    }
    for s in doc["sums"].as_array().unwrap() {
        let n = u(&s["n"]) as usize;
        let a: Vec<f64> = (0..n)
            .map(|i| ((i % 97) as f64 + 0.1) / ((i % 13) as f64 + 1.7))
            .collect();
        assert_eq!(numpy_sum(&a).to_bits(), u(&s["sum"]), "sum of {n}");
    }
}

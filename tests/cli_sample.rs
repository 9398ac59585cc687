//! End-to-end tests of `mlkit sample`: the binary, its files, pipes and exit codes.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fixture(name: &str) -> PathBuf {
    root().join("crates/mlkit-sample/tests/fixtures").join(name)
}

fn mlkit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mlkit"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn mlkit_stdin(args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mlkit"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The first column of every data line.
fn first_column(csv: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(csv)
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().to_string())
        .collect()
}

fn expected_ids(file: &str, options: &str) -> Vec<String> {
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("cases.json")).unwrap()).unwrap();
    let want: Value = serde_json::from_str(options).unwrap();
    let case = doc["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["file"] == file && c["options"] == want)
        .expect("fixture case");
    case["expected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.to_string())
        .collect()
}

#[test]
fn stratified_sample_matches_pandas_and_copies_rows_unchanged() {
    let input = fixture("skewed.csv");
    let o = mlkit(&[
        "sample",
        "--by",
        "Category",
        "--frac",
        "0.25",
        "--seed",
        "42",
        input.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        first_column(&o.stdout),
        expected_ids("skewed.csv", r#"{"by":["Category"],"frac":0.25,"seed":42}"#)
    );
    // Every output line is an input line, byte for byte (quoted fields included).
    let original = std::fs::read_to_string(&input).unwrap();
    let lines: std::collections::HashSet<&str> = original.lines().collect();
    for line in String::from_utf8_lossy(&o.stdout).lines() {
        assert!(lines.contains(line), "changed line: {line}");
    }
    assert!(
        o.stderr.is_empty(),
        "stderr should be quiet: {}",
        stderr(&o)
    );
}

#[test]
fn stdin_gives_the_same_sample_as_the_file() {
    let input = fixture("skewed.csv");
    let from_file = mlkit(&[
        "sample",
        "--by",
        "Category",
        "--frac",
        "0.5",
        "--seed",
        "1",
        input.to_str().unwrap(),
    ]);
    let bytes = std::fs::read(&input).unwrap();
    let from_stdin = mlkit_stdin(
        &[
            "sample", "--by", "Category", "--frac", "0.5", "--seed", "1", "-",
        ],
        &bytes,
    );
    assert!(from_stdin.status.success(), "{}", stderr(&from_stdin));
    assert_eq!(from_file.stdout, from_stdin.stdout);
}

#[test]
fn output_file_appears_only_on_success() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("s.csv");
    let input = fixture("skewed.csv");
    let ok = mlkit(&[
        "sample",
        "-n",
        "10",
        "--seed",
        "0",
        "-o",
        out.to_str().unwrap(),
        input.to_str().unwrap(),
    ]);
    assert!(ok.status.success(), "{}", stderr(&ok));
    assert!(ok.stdout.is_empty());
    assert_eq!(
        first_column(&std::fs::read(&out).unwrap()),
        expected_ids("skewed.csv", r#"{"n":10,"seed":0}"#)
    );
    // Three rows from every group fails on the small groups: exit 1, no file, no debris.
    let failed = dir.path().join("f.csv");
    let bad = mlkit(&[
        "sample",
        "--by",
        "Category",
        "-n",
        "3",
        "--seed",
        "7",
        "-o",
        failed.to_str().unwrap(),
        input.to_str().unwrap(),
    ]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad).contains("--cap"), "{}", stderr(&bad));
    assert!(!failed.exists());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn usage_errors_exit_2_and_say_how_to_fix() {
    let input = fixture("skewed.csv");
    let path = input.to_str().unwrap();
    let missing = mlkit(&["sample", "--by", "Categry", "--frac", "0.1", path]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        stderr(&missing).contains("Category, tier"),
        "{}",
        stderr(&missing)
    );
    let upsample = mlkit(&["sample", "--frac", "1.5", path]);
    assert_eq!(upsample.status.code(), Some(2));
    assert!(stderr(&upsample).contains("--replace"));
    let seed = mlkit(&["sample", "-n", "1", "--seed", "4294967296", path]);
    assert_eq!(seed.status.code(), Some(2));
    let neither = mlkit(&["sample", path]);
    assert_eq!(neither.status.code(), Some(2));
    let dir = tempfile::tempdir().unwrap();
    let odd = dir.path().join("data.xyz");
    std::fs::write(&odd, "a\n1\n").unwrap();
    let unknown = mlkit(&["sample", "-n", "1", odd.to_str().unwrap()]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(stderr(&unknown).contains("--format"));
    let absent = mlkit(&["sample", "-n", "1", "no/such/file.csv"]);
    assert_eq!(absent.status.code(), Some(1));
    assert!(stderr(&absent).contains("no/such/file.csv"));
}

#[test]
fn bad_data_names_the_line_and_writes_nothing() {
    let ragged = mlkit_stdin(
        &["sample", "-n", "1", "--seed", "0", "-"],
        b"a,b\n1,2\n3,4,5\n6,7\n",
    );
    assert_eq!(ragged.status.code(), Some(1));
    assert!(stderr(&ragged).contains("line 3"), "{}", stderr(&ragged));
    assert!(ragged.stdout.is_empty());
    let negative = mlkit_stdin(
        &["sample", "-n", "1", "--weights", "w", "--seed", "0", "-"],
        b"a,w\n1,2\n3,-4\n",
    );
    assert_eq!(negative.status.code(), Some(1));
    assert!(
        stderr(&negative).contains("line 3"),
        "{}",
        stderr(&negative)
    );
    let empty = mlkit_stdin(&["sample", "-n", "1", "--format", "csv", "-"], b"");
    assert_eq!(empty.status.code(), Some(1));
    assert!(stderr(&empty).contains("empty"), "{}", stderr(&empty));
}

#[test]
fn header_only_input_gives_header_only_output() {
    let o = mlkit_stdin(
        &["sample", "--by", "g", "--frac", "0.5", "--seed", "0", "-"],
        b"id,g\n",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(o.stdout, b"id,g\n");
}

#[test]
fn stats_table_goes_to_stderr() {
    let input = root().join("examples/companies.csv");
    let o = mlkit(&[
        "sample",
        "--by",
        "Category",
        "--frac",
        "0.5",
        "--seed",
        "42",
        "--stats",
        input.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("Consumer Goods") && err.contains("sampled"),
        "{err}"
    );
    // 14 rows at 0.5 -> 7; 3 rows at 0.5 -> round(1.5) = 2.
    assert!(
        err.lines()
            .any(|l| l.starts_with("Consumer Goods") && l.trim_end().ends_with(" 7")),
        "{err}"
    );
    assert!(
        err.lines()
            .any(|l| l.starts_with("Healthcare") && l.trim_end().ends_with(" 2")),
        "{err}"
    );
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).lines().count(),
        1 + 7 + 6 + 4 + 2 + 2
    );
}

#[test]
fn closed_pipe_exits_quietly() {
    let input = fixture("big.csv");
    let mut child = Command::new(env!("CARGO_BIN_EXE_mlkit"))
        .args([
            "sample",
            "--frac",
            "1",
            "--seed",
            "0",
            input.to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 16];
    stdout.read_exact(&mut first).unwrap();
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(out.stderr.is_empty(), "{}", stderr(&out));
}

#[test]
fn keep_order_writes_input_order() {
    let input = fixture("skewed.csv");
    let o = mlkit(&[
        "sample",
        "--by",
        "Category",
        "--frac",
        "0.25",
        "--seed",
        "42",
        "--keep-order",
        input.to_str().unwrap(),
    ]);
    let ids: Vec<u64> = first_column(&o.stdout)
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    let mut want: Vec<u64> =
        expected_ids("skewed.csv", r#"{"by":["Category"],"frac":0.25,"seed":42}"#)
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
    want.sort_unstable();
    assert_eq!(ids, want);
}

/// `text` (a header line, then rows) cut into part files under `dir` as Spark writes them:
/// each with the header, one of them empty, the last without a final line end.
fn spark_parts(dir: &Path, text: &str, parts: usize) -> Vec<String> {
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let rows: Vec<&str> = lines.collect();
    let per = rows.len().div_ceil(parts);
    let mut paths = Vec::new();
    for (i, chunk) in rows.chunks(per).enumerate() {
        let path = dir.join(format!("part-{i:05}.csv"));
        let mut body = format!("{header}\n{}", chunk.join("\n"));
        if i + 1 < parts {
            body.push('\n');
        }
        std::fs::write(&path, body).unwrap();
        paths.push(path.display().to_string());
        if i == 0 {
            let empty = dir.join("part-00000-empty.csv");
            std::fs::write(&empty, "").unwrap();
            paths.push(empty.display().to_string());
        }
    }
    paths
}

#[test]
fn spark_part_files_are_sampled_as_the_one_table_they_make() {
    let input = fixture("skewed.csv");
    let text = std::fs::read_to_string(&input).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let parts = spark_parts(dir.path(), &text, 3);
    let flags = [
        "sample", "--by", "Category", "--frac", "0.25", "--seed", "42",
    ];
    let whole = mlkit(&[&flags[..], &[input.to_str().unwrap()]].concat());
    let part_refs: Vec<&str> = parts.iter().map(String::as_str).collect();
    let joined = mlkit(&[&flags[..], &part_refs].concat());
    assert!(joined.status.success(), "{}", stderr(&joined));
    // The whole file's sample (pandas', by the test above), byte for byte.
    assert_eq!(
        String::from_utf8_lossy(&joined.stdout),
        String::from_utf8_lossy(&whole.stdout)
    );

    // A part with other columns is named, with both headers.
    let other = dir.path().join("other.csv");
    std::fs::write(&other, "Category,Other\nx,1\n").unwrap();
    // One row from the first part and another file, as one table.
    let with_first_part = |other: &Path| {
        mlkit(&[
            "sample",
            "-n",
            "1",
            "--seed",
            "1",
            &parts[0],
            other.to_str().unwrap(),
        ])
    };
    let o = with_first_part(&other);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("other.csv: its header (Category,Other) is not"),
        "{}",
        stderr(&o)
    );

    // A part of another format is named, stdin among the parts or not.
    let tsv = dir.path().join("other.tsv");
    std::fs::write(&tsv, "Category\tOther\nx\t1\n").unwrap();
    let o = mlkit_stdin(
        &[
            "sample",
            "-n",
            "1",
            "--seed",
            "1",
            "-",
            &parts[0],
            tsv.to_str().unwrap(),
        ],
        text.as_bytes(),
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("other.tsv: a Tsv file among Csv files"),
        "{}",
        stderr(&o)
    );

    // A bad row is named by its own file and line, not the joined table's.
    let ragged = dir.path().join("ragged.csv");
    let header = text.lines().next().unwrap();
    let width = header.split(',').count();
    std::fs::write(
        &ragged,
        format!("{header}\n{}\n", vec!["1"; width + 1].join(",")),
    )
    .unwrap();
    let o = with_first_part(&ragged);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("ragged.csv: line 2:"), "{}", stderr(&o));
}

//! End-to-end tests of `--on-error fail|skip|record` in the text subcommands (ner,
//! zeroshot, classify, embed): with `record` every input record has its output record, in
//! input order, the failed ones with their error; with `skip` they are dropped and named on
//! stderr; either way the exit code is 3 when a record failed, and the records that did not
//! fail get what a run without the failed ones gives them.

mod common;

use common::{failing, mlkit, stdout};
use serde_json::Value;

/// The exit code of a run that wrote everything but the records that failed.
const SOME_FAILED: i32 = 3;

fn jsonl(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Lines, a few of them invalid UTF-8 (the 2nd and 5th).
const LINES: &[u8] = b"Angela Merkel visited Paris.\nbad \xff line\nJohn works at Google.\n\
Nothing here.\n\xc3 also bad\nThe United Nations met in Geneva.\n";

/// The same lines without the bad ones.
const GOOD_LINES: &[u8] = b"Angela Merkel visited Paris.\nJohn works at Google.\n\
Nothing here.\nThe United Nations met in Geneva.\n";

#[test]
fn fail_stops_at_the_first_bad_record_after_the_results_before_it() {
    for args in [&["ner", "-"][..], &["ner", "--on-error", "fail", "-"]] {
        let (out, err) = failing(args, LINES, 1);
        assert_eq!(out.len(), 1, "{out:?}");
        assert!(
            err.contains("-: line 2, byte offset 33: not valid UTF-8"),
            "{err}"
        );
    }
}

#[test]
fn record_writes_every_record_in_input_order_with_the_failed_ones_errors() {
    let (out, err) = failing(
        &["ner", "--on-error", "record", "--format", "jsonl", "-"],
        LINES,
        SOME_FAILED,
    );
    let got = jsonl(&out.join("\n"));
    let ids: Vec<i64> = got.iter().map(|r| r["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, [1, 2, 3, 4, 5, 6]);
    for (i, record) in got.iter().enumerate() {
        let bad = i == 1 || i == 4;
        assert_eq!(record.get("error").is_some(), bad, "{record}");
        assert_eq!(record.get("entities").is_some(), !bad, "{record}");
    }
    assert!(
        got[1]["error"]
            .as_str()
            .unwrap()
            .starts_with("-: line 2, byte offset 33: not valid UTF-8"),
        "{}",
        got[1]
    );
    assert!(err.contains("record 2 recorded: -: line 2"), "{err}");
    assert!(err.contains("record 5 recorded: -: line 5"), "{err}");
    assert!(err.contains("2 records failed"), "{err}");

    // The good records get what a run on them alone gives.
    let alone = jsonl(&stdout(&mlkit(
        &["ner", "--format", "jsonl", "-"],
        GOOD_LINES,
    )));
    let kept: Vec<&Value> = got.iter().filter(|r| r.get("error").is_none()).collect();
    assert_eq!(kept.len(), alone.len());
    for (k, a) in kept.iter().zip(&alone) {
        assert_eq!(
            k["entities"].as_array().unwrap().len(),
            a["entities"].as_array().unwrap().len()
        );
        for (x, y) in k["entities"]
            .as_array()
            .unwrap()
            .iter()
            .zip(a["entities"].as_array().unwrap())
        {
            assert_eq!(
                (&x["label"], &x["start"], &x["end"]),
                (&y["label"], &y["start"], &y["end"])
            );
            let (sx, sy) = (x["score"].as_f64().unwrap(), y["score"].as_f64().unwrap());
            // Scores move in their last digits with the texts they are batched with.
            assert!((sx - sy).abs() < 1e-4, "{x} vs {y}");
        }
    }
}

#[test]
fn skip_drops_the_failed_records_and_names_them_on_stderr() {
    let (out, err) = failing(
        &["ner", "--on-error", "skip", "--format", "jsonl", "-"],
        LINES,
        SOME_FAILED,
    );
    let ids: Vec<i64> = jsonl(&out.join("\n"))
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [1, 3, 4, 6]);
    assert!(err.contains("record 2 skipped"), "{err}");
    assert!(err.contains("record 5 skipped"), "{err}");
    assert!(err.contains("2 records failed (skipped)"), "{err}");
    // --quiet names none of them, but still says how many failed and exits 3.
    let (_, err) = failing(
        &["ner", "-q", "--on-error", "skip", "--format", "jsonl", "-"],
        LINES,
        SOME_FAILED,
    );
    assert_eq!(err.trim(), "mlkit: 2 records failed (skipped)");
}

#[test]
fn without_failures_record_exits_0_and_csv_has_an_empty_error_column() {
    let o = mlkit(
        &["ner", "--on-error", "record", "--format", "csv", "-"],
        GOOD_LINES,
    );
    let out = stdout(&o);
    let mut rows = csv::Reader::from_reader(out.as_bytes());
    assert_eq!(
        rows.headers().unwrap(),
        vec!["id", "text", "entities", "error"]
    );
    let rows: Vec<csv::StringRecord> = rows.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 4);
    assert!(rows.iter().all(|r| r[3].is_empty()));
}

#[test]
fn a_ragged_csv_row_comes_back_in_its_place_cut_to_the_header() {
    let input = b"id,text,x\n1,Angela Merkel visited Paris.,a\n2,oops,b,extra\n3,short\n\
4,John works at Google.,d\n";
    let (out, err) = failing(
        &["ner", "--on-error", "record", "--column", "text", "-"],
        input,
        SOME_FAILED,
    );
    let text = out.join("\n");
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    assert_eq!(
        reader.headers().unwrap(),
        vec!["id", "text", "x", "entities", "error"]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let firsts: Vec<&str> = rows.iter().map(|r| &r[0]).collect();
    assert_eq!(firsts, ["1", "2", "3", "4"]);
    assert_eq!(
        rows[1].iter().take(3).collect::<Vec<_>>(),
        ["2", "oops", "b"]
    );
    assert_eq!(
        rows[2].iter().take(3).collect::<Vec<_>>(),
        ["3", "short", ""]
    );
    assert!(rows[1][4].contains("line 3: found 4 fields where the header has 3"));
    assert!(rows[2][4].contains("line 4: found 2 fields where the header has 3"));
    assert_eq!((&rows[1][3], &rows[2][3]), ("", ""));
    assert!(rows[0][3].contains("Angela Merkel") && rows[0][4].is_empty());
    assert!(rows[3][3].contains("Google") && rows[3][4].is_empty());
    assert!(err.contains("2 records failed"), "{err}");
}

#[test]
fn json_records_that_cannot_be_read_keep_their_place_and_fields() {
    let input = b"{\"text\": \"Merkel in Berlin\", \"k\": 1}\n{\"txt\": 1}\nnot json\n\
{\"text\": 5, \"id\": \"x\"}\n{\"text\": \"Bob\"}\n";
    let (out, _) = failing(
        &["ner", "--on-error", "record", "--text-field", "text", "-"],
        input,
        SOME_FAILED,
    );
    let got = jsonl(&out.join("\n"));
    assert_eq!(got.len(), 5);
    assert_eq!(got[0]["k"], 1);
    assert_eq!(got[1]["txt"], 1);
    assert!(got[1]["error"]
        .as_str()
        .unwrap()
        .contains("line 2: no text field \"text\""));
    assert_eq!(got[2]["id"], 3);
    assert!(got[2]["error"]
        .as_str()
        .unwrap()
        .contains("line 3: not a JSON object"));
    assert_eq!(got[3]["id"], "x");
    assert!(got[3]["error"]
        .as_str()
        .unwrap()
        .contains("is 5, not a string"));
    assert!(got[4]["entities"].is_array());
}

#[test]
fn zeroshot_records_empty_texts_in_place_and_scores_the_rest_as_alone() {
    let labels = [
        "zeroshot",
        "--labels",
        "sport,politics",
        "--format",
        "jsonl",
    ];
    let with = [&labels[..], &["--on-error", "record", "-"]].concat();
    let (out, _) = failing(
        &with,
        b"a football match\n\nthe election\n   \nthe cup final\n",
        SOME_FAILED,
    );
    let got = jsonl(&out.join("\n"));
    let alone = jsonl(&stdout(&mlkit(
        &[&labels[..], &["-"]].concat(),
        b"a football match\nthe election\nthe cup final\n",
    )));
    assert_eq!(got.len(), 5);
    assert!(got[1]["error"]
        .as_str()
        .unwrap()
        .contains("record 2 has no text"));
    assert!(got[3]["error"]
        .as_str()
        .unwrap()
        .contains("record 4 has no text"));
    for (g, a) in [&got[0], &got[2], &got[4]].into_iter().zip(&alone) {
        assert_eq!(g["labels"], a["labels"]);
        for (x, y) in g["scores"]
            .as_array()
            .unwrap()
            .iter()
            .zip(a["scores"].as_array().unwrap())
        {
            assert!(
                (x.as_f64().unwrap() - y.as_f64().unwrap()).abs() < 1e-5,
                "{g} vs {a}"
            );
        }
    }
}

#[test]
fn embed_records_a_text_too_long_and_refuses_record_in_npy() {
    let long = "word ".repeat(600);
    let input = format!("short one\n{long}\nanother\n");
    let (out, err) = failing(
        &["embed", "--on-error", "record", "-"],
        input.as_bytes(),
        SOME_FAILED,
    );
    let got = jsonl(&out.join("\n"));
    assert_eq!(got.len(), 3);
    assert!(got[0]["embedding"].is_array() && got[2]["embedding"].is_array());
    assert!(got[1]["error"]
        .as_str()
        .unwrap()
        .contains("more than the model's maximum"));
    assert!(err.contains("record 2 recorded"), "{err}");
    // npy has no place for an error: a usage error before anything is read.
    let (out, err) = failing(
        &["embed", "--on-error", "record", "--format", "npy", "-"],
        input.as_bytes(),
        2,
    );
    assert!(out.is_empty());
    assert!(err.contains("needs --format jsonl or csv"), "{err}");
    // skip keeps the matrix's rows to the texts that were embedded.
    let o = mlkit(
        &["embed", "--on-error", "skip", "--format", "npy", "-"],
        input.as_bytes(),
    );
    assert_eq!(o.status.code(), Some(SOME_FAILED));
    let header = String::from_utf8_lossy(&o.stdout[..128]).into_owned();
    assert!(header.contains("'shape': (2, 384)"), "{header}");
}

#[test]
fn classify_records_a_pair_without_its_second_text() {
    let model = "crates/mlkit-core/tests/fixtures/tiny-bert-sc";
    let input = b"{\"text\": \"a\", \"pair\": \"b\"}\n{\"text\": \"c\"}\n{\"text\": \"d\", \"pair\": \"e\"}\n";
    let (out, _) = failing(
        &[
            "classify",
            "--model",
            model,
            "--text-field",
            "text",
            "--pair-field",
            "pair",
            "--on-error",
            "record",
            "--format",
            "jsonl",
            "-",
        ],
        input,
        SOME_FAILED,
    );
    let got = jsonl(&out.join("\n"));
    assert_eq!(got.len(), 3);
    assert!(got[1]["error"]
        .as_str()
        .unwrap()
        .contains("the pair's second text"));
    assert!(got[0].get("error").is_none() && got[2].get("error").is_none());
}

#[test]
fn an_output_file_appears_when_records_failed_under_record() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("out.jsonl");
    let t = target.to_str().unwrap();
    let o = mlkit(&["ner", "--on-error", "record", "-o", t, "-"], LINES);
    assert_eq!(o.status.code(), Some(SOME_FAILED));
    let written = std::fs::read_to_string(&target).unwrap();
    assert_eq!(written.lines().count(), 6);
}

#[test]
fn a_csv_row_with_invalid_utf8_is_a_bad_record_and_the_rows_after_it_follow() {
    let input = b"id,text\n1,Angela Merkel visited Paris.\n2,caf\xe9 in Lyon\n\
3,\"two\nlines \xff here\"\n4,John works at Google.\n";
    let (out, err) = failing(
        &["ner", "--on-error", "record", "--column", "text", "-"],
        input,
        SOME_FAILED,
    );
    let text = out.join("\n");
    let rows: Vec<csv::StringRecord> = csv::Reader::from_reader(text.as_bytes())
        .records()
        .map(Result::unwrap)
        .collect();
    let ids: Vec<&str> = rows.iter().map(|r| &r[0]).collect();
    assert_eq!(ids, ["1", "2", "3", "4"]);
    // The row comes back mended (U+FFFD), with where the bad bytes were.
    assert_eq!(&rows[1][1], "caf\u{fffd} in Lyon");
    assert!(
        rows[1][3].contains("-: line 3, byte offset 44: not valid UTF-8"),
        "{}",
        &rows[1][3]
    );
    // A quoted field over two lines: the second line's bad bytes are its record's.
    assert!(
        rows[2][3].contains("-: line 5, byte offset"),
        "{}",
        &rows[2][3]
    );
    assert!(rows[3][2].contains("Google") && rows[3][3].is_empty());
    assert!(err.contains("2 records failed"), "{err}");
    // fail: the rows before it, then the error naming the line.
    let (out, err) = failing(&["ner", "--column", "text", "-"], input, 1);
    assert_eq!(out.len(), 2, "{out:?}");
    assert!(
        err.contains("-: line 3, byte offset 44: not valid UTF-8"),
        "{err}"
    );
}

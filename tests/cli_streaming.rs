//! ner, zeroshot and embed read their input as it comes: results leave as soon as their
//! batch is done, and a bad record stops the run after every record before it is written.

mod common;

use common::{command, failing, root};

use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

fn tiny_bert() -> String {
    let p = root().join("crates/mlkit-core/tests/fixtures/tiny-bert");
    p.to_str().unwrap().to_string()
}

/// Feeds `first` to mlkit, waits for `n` lines of output while its stdin is still open, then
/// sends `rest` and closes it: the output lines, the first `n` read before the input ended.
fn answers_before_the_input_ends(args: &[&str], first: &str, n: usize, rest: &str) -> Vec<String> {
    let mut child = command(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (send, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if send.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    stdin.write_all(first.as_bytes()).unwrap();
    stdin.flush().unwrap();
    // Generous for a debug build loading a model; a command that waits for the end of its
    // input never answers while stdin stays open.
    let early: Vec<String> = (0..n)
        .map_while(|_| lines.recv_timeout(Duration::from_secs(120)).ok())
        .collect();
    stdin.write_all(rest.as_bytes()).unwrap();
    drop(stdin);
    let status = child.wait().unwrap();
    assert_eq!(early.len(), n, "{args:?}: {early:?} before the input ended");
    assert!(status.success(), "{args:?}");
    early.into_iter().chain(lines).collect()
}

#[test]
fn results_leave_before_the_input_ends() {
    let out = answers_before_the_input_ends(
        &["ner", "--format", "jsonl", "-"],
        "Angela Merkel visited Paris.\n",
        1,
        "Bill Gates founded Microsoft.\n",
    );
    assert_eq!(out.len(), 2);
    assert!(out[0].contains("Angela Merkel") && out[1].contains("Microsoft"));

    // CSV in: the header and the first row, then the rest.
    let out = answers_before_the_input_ends(
        &[
            "zeroshot",
            "--labels",
            "sport,politics",
            "--column",
            "text",
            "-",
        ],
        "id,text\n1,the match ended in a draw\n",
        2,
        "2,parliament passed the budget\n",
    );
    assert_eq!(out[0], "id,text,prediction,score,scores");
    assert_eq!(out.len(), 3);
    assert!(
        out[1].starts_with("1,the match ended in a draw,"),
        "{}",
        out[1]
    );

    let bert = tiny_bert();
    let out = answers_before_the_input_ends(
        &["embed", "--model", &bert, "--text-field", "t", "-"],
        "{\"t\": \"one\"}\n",
        1,
        "{\"t\": \"two\"}\n{\"t\": \"three\"}\n",
    );
    assert_eq!(out.len(), 3);
    assert!(
        out[0].starts_with("{\"t\":\"one\",\"embedding\":["),
        "{}",
        out[0]
    );
}

#[test]
fn a_bad_record_stops_the_run_after_every_record_before_it() {
    // Invalid UTF-8 on line 3.
    let (out, err) = failing(
        &["ner", "--format", "jsonl", "-"],
        b"Paris is big.\nSo is Berlin.\nbad \xff\nRome\n",
        1,
    );
    assert_eq!(out.len(), 2, "{out:?}");
    assert!(
        err.contains("-: line 3, byte offset 32: not valid UTF-8"),
        "{err}"
    );

    // A ragged CSV row (line 4 of the file, data row 3).
    let (out, err) = failing(
        &["ner", "--column", "text", "-"],
        b"id,text\n1,Paris\n2,\"Berlin,\nGermany\"\n3,a,b\n4,Rome\n",
        1,
    );
    assert_eq!(out[0], "id,text,entities");
    assert_eq!(out.len(), 4, "{out:?}"); // header, row 1, the two lines of row 2
    assert!(
        err.contains("-: line 5: found 3 fields where the header has 2"),
        "{err}"
    );

    // An empty text on line 4.
    let (out, err) = failing(
        &["zeroshot", "--labels", "a,b", "--format", "jsonl", "-"],
        b"one\ntwo\nthree\n\nfive\n",
        1,
    );
    assert_eq!(out.len(), 3, "{out:?}");
    assert!(out[2].starts_with("{\"id\":3,"), "{}", out[2]);
    assert!(err.contains("-: record 4 has no text"), "{err}");

    // A text longer than the model's 64 positions on line 3.
    let long = format!("one\ntwo\n{}\nfour\n", "the quick brown fox ".repeat(40));
    let bert = tiny_bert();
    let (out, err) = failing(&["embed", "--model", &bert, "-"], long.as_bytes(), 1);
    assert_eq!(out.len(), 2, "{out:?}");
    assert!(out[1].starts_with("{\"id\":2,"), "{}", out[1]);
    assert!(err.contains("-: line 3: 162 tokens"), "{err}");

    // Written to a file instead, a failed run leaves no file.
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("out.jsonl");
    let (out, _) = failing(
        &[
            "embed",
            "--model",
            &bert,
            "-o",
            target.to_str().unwrap(),
            "-",
        ],
        long.as_bytes(),
        1,
    );
    assert!(out.is_empty());
    assert!(!target.exists());
}

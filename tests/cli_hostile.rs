//! Hostile inputs and odd output targets, as a new user would try them (issue 21's sweep):
//! each case checks the exit code, that stderr says what was wrong, and that nothing is left
//! half written or replaced.

mod common;

use std::os::unix::fs::FileTypeExt;
use std::path::Path;
use std::process::{Output, Stdio};

use common::{failing, mlkit};

const COMPANIES: &str = "examples/companies.csv";

/// `mlkit sample` of two rows of the companies example into `out`, which must succeed.
fn sample_into(out: &Path) -> Output {
    let o = mlkit(
        &[
            "sample",
            "--seed",
            "1",
            "-n",
            "2",
            "-o",
            out.to_str().unwrap(),
            COMPANIES,
        ],
        b"",
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    o
}

/// What `path` itself is (a link is not followed).
fn kind(path: &Path) -> std::fs::FileType {
    std::fs::symlink_metadata(path).unwrap().file_type()
}

#[test]
fn output_into_a_fifo_writes_through_it_and_leaves_it_a_fifo() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("out.fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read_to_string(fifo).unwrap())
    };
    sample_into(&fifo);
    let got = reader.join().unwrap();
    assert_eq!(got.lines().count(), 3, "{got}");
    assert!(kind(&fifo).is_fifo());
    // Nothing else was left in the directory.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn output_through_a_symlink_replaces_its_target_and_keeps_the_link() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real.csv");
    std::fs::write(&real, "old\n").unwrap();
    let link = dir.path().join("link.csv");
    std::os::unix::fs::symlink("real.csv", &link).unwrap();
    sample_into(&link);
    assert!(kind(&link).is_symlink());
    let written = std::fs::read_to_string(&real).unwrap();
    assert!(
        written.starts_with("Company,Description,Category\n"),
        "{written}"
    );
    assert_eq!(written.lines().count(), 3);
}

#[test]
fn output_to_dev_stdout_reaches_stdout() {
    // A link of our own to the process's stdout, as /dev/stdout is: were the link replaced
    // by a file, it would be this one, not the machine's /dev/stdout.
    let dir = tempfile::tempdir().unwrap();
    let stdout = dir.path().join("stdout");
    std::os::unix::fs::symlink("/proc/self/fd/1", &stdout).unwrap();
    let o = sample_into(&stdout);
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 3);
    assert!(kind(&stdout).is_symlink());
}

#[test]
fn models_output_to_a_closed_pipe_or_a_full_disk_is_never_a_panic() {
    for args in [
        &["models", "list"][..],
        &["models", "info", "conll03-ner-minilm"][..],
    ] {
        // The reader goes away at once (`| head -0`).
        let mut child = common::command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let o = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
        // A full disk is an error that says so.
        let full = std::fs::File::options()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let o = common::command(args).stdout(full).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains("No space left on device") && !err.contains("panicked"),
            "{err}"
        );
    }
}

#[test]
fn forest_refuses_duplicate_columns_and_a_target_among_the_features() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m.forest");
    let out = out.to_str().unwrap();
    let (_, err) = failing(
        &["forest", "train", "-", "--target", "label", "-o", out],
        b"a,a,label\n1,2,x\n3,4,y\n",
        1,
    );
    assert!(err.contains("two columns are named \"a\""), "{err}");
    let (_, err) = failing(
        &[
            "forest",
            "train",
            "-",
            "--target",
            "label",
            "--features",
            "a,label",
            "-o",
            out,
        ],
        b"a,b,label\n1,2,x\n3,4,y\n",
        2,
    );
    assert!(err.contains("\"label\" cannot also be a feature"), "{err}");
    assert!(!std::path::Path::new(out).exists());
}

#[test]
fn a_byte_order_mark_is_not_part_of_the_first_text() {
    let plain = common::stdout(&mlkit(
        &["ner", "--format", "jsonl", "-"],
        b"Angela Merkel visited Paris.\n",
    ));
    let marked = common::stdout(&mlkit(
        &["ner", "--format", "jsonl", "-"],
        b"\xef\xbb\xbfAngela Merkel visited Paris.\n",
    ));
    assert_eq!(marked, plain, "offsets count from the text after the mark");
    // JSON Lines with a mark read as without it (it was "not a JSON object").
    let records = common::stdout(&mlkit(
        &["ner", "--format", "jsonl", "--text-field", "t", "-"],
        b"\xef\xbb\xbf{\"t\": \"Angela Merkel visited Paris.\"}\n",
    ));
    let records: serde_json::Value = serde_json::from_str(records.trim()).unwrap();
    let plain: serde_json::Value = serde_json::from_str(plain.trim()).unwrap();
    assert_eq!(records["entities"], plain["entities"]);
    // An invalid byte after the mark is named by its offset in the file.
    let (_, err) = failing(&["ner", "-"], b"\xef\xbb\xbfok\nbad \xff\n", 1);
    assert!(err.contains("line 2, byte offset 10"), "{err}");
}

#[test]
fn models_info_refuses_a_truncated_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let tiny = common::root().join("crates/mlkit-core/tests/fixtures/tiny-bert");
    for f in ["config.json", "tokenizer.json"] {
        std::fs::copy(tiny.join(f), dir.path().join(f)).unwrap();
    }
    let weights = std::fs::read(tiny.join("model.safetensors")).unwrap();
    let cut = dir.path().join("model.safetensors");
    std::fs::write(&cut, &weights[..weights.len() / 2]).unwrap();
    let (out, err) = failing(&["models", "info", dir.path().to_str().unwrap()], b"", 1);
    assert!(
        err.contains(&cut.display().to_string()) && err.contains("truncated"),
        "{err}"
    );
    assert!(out.is_empty());
    // The whole file is described.
    std::fs::write(&cut, &weights).unwrap();
    let whole = mlkit(&["models", "info", dir.path().to_str().unwrap()], b"");
    assert!(
        whole.status.success(),
        "{}",
        String::from_utf8_lossy(&whole.stderr)
    );
}

#[test]
fn a_signal_during_an_output_run_leaves_no_temporary_file() {
    for signal in ["INT", "TERM", "HUP"] {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("entities.jsonl");
        let mut child = common::command(&["ner", "-o", out.to_str().unwrap(), "-"])
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        std::io::Write::write_all(&mut stdin, b"Angela Merkel visited Paris.\n").unwrap();
        // The output's temporary file exists once the model is loaded.
        let started = std::time::Instant::now();
        while std::fs::read_dir(dir.path()).unwrap().count() == 0 {
            assert!(
                started.elapsed().as_secs() < 60,
                "no temporary file appeared"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        // The shell's own kill: no procps needed.
        let killed = std::process::Command::new("sh")
            .args(["-c", &format!("kill -{signal} {}", child.id())])
            .status()
            .unwrap();
        assert!(killed.success());
        let status = child.wait().unwrap();
        drop(stdin);
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
        assert!(left.is_empty(), "{signal}: left {left:?}");
        assert!(!status.success(), "{signal}: {status:?}");
    }
}

#[test]
fn sizes_beyond_what_can_be_drawn_are_usage_errors_not_aborts() {
    let csv = b"g,w\na,1\na,2\nb,3\n";
    let huge = [
        &["--frac", "1e308", "--replace"][..],
        &["-n", "18446744073709551615", "--replace"][..],
        &["-n", "18446744073709551615", "--replace", "--by", "g"][..],
        &["-n", "18446744073709551615", "--replace", "--weights", "w"][..],
        &[
            "-n",
            "18446744073709551615",
            "--replace",
            "--by",
            "g",
            "--compat",
            "apply",
        ][..],
        &[
            "-n",
            "1",
            "--replace",
            "--by",
            "g",
            "--min-per-group",
            "18446744073709551615",
        ][..],
        &["-n", "4000000000", "--replace"][..],
        &["--frac", "1e9", "--replace"][..],
    ];
    for size in huge {
        let args = [&["sample", "--seed", "1"][..], size, &["-"][..]].concat();
        let (out, err) = failing(&args, csv, 2);
        assert!(
            err.contains("more than the 268435456 rows mlkit draws in one run"),
            "{size:?}: {err}"
        );
        assert!(out.is_empty());
    }
    // Without replacement the input bounds the sample: the group is named.
    let (_, err) = failing(&["sample", "-n", "18446744073709551615", "-"], csv, 1);
    assert!(
        err.contains("cannot take 18446744073709551615 rows from 3"),
        "{err}"
    );
    let (_, err) = failing(
        &[
            "forest",
            "train",
            "-",
            "--target",
            "g",
            "--trees",
            "4294967296",
            "-o",
            "x",
        ],
        csv,
        2,
    );
    assert!(err.contains("4294967296 is not in 1..=100000"), "{err}");
}

#[test]
fn nonsense_values_are_refused_with_the_reason() {
    // A type the model does not have, NaN thresholds: each would silently keep nothing.
    let (_, err) = failing(&["ner", "--labels", "FOO", "-"], b"Paris.\n", 2);
    assert!(
        err.contains("--labels FOO") && err.contains("LOC, MISC, ORG, PER"),
        "{err}"
    );
    let (_, err) = failing(&["ner", "--min-score", "nan", "-"], b"Paris.\n", 2);
    assert!(err.contains("NaN is not a score"), "{err}");
    let (_, err) = failing(
        &["zeroshot", "--labels", "a,b", "--threshold", "NaN", "-"],
        b"x\n",
        2,
    );
    assert!(err.contains("NaN is not a score"), "{err}");
    // scikit-learn refuses max_depth=0; ECE needs a bin.
    let train = |extra: &[&str]| {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("m.forest");
        let args = [
            &[
                "forest",
                "train",
                "-",
                "--target",
                "label",
                "-o",
                out.to_str().unwrap(),
            ][..],
            extra,
        ]
        .concat();
        failing(&args, b"a,label\n1,x\n2,y\n", 2).1
    };
    assert!(train(&["--max-depth", "0"]).contains("0 is not in 1.."));
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.forest");
    let model = model.to_str().unwrap();
    let data = b"a,label\n1,x\n2,y\n3,x\n";
    let trained = mlkit(
        &["forest", "train", "-", "--target", "label", "-o", model],
        data,
    );
    assert!(trained.status.success());
    let (_, err) = failing(&["forest", "eval", model, "--bins", "0", "-"], data, 2);
    assert!(err.contains("0 is not in 1.."), "{err}");
    // A file with a header and no rows has nothing to score (it printed accuracy 0).
    let (out, err) = failing(&["forest", "eval", model, "-"], b"a,label\n", 1);
    assert!(
        err.contains("no rows to evaluate") && out.is_empty(),
        "{err}"
    );
    // Forest has no --lossy, so it does not suggest one.
    let (_, err) = failing(&["forest", "eval", model, "-"], b"a,label\n1,\xff\n", 1);
    assert!(
        err.contains("not valid UTF-8") && !err.contains("--lossy"),
        "{err}"
    );
}

#[test]
fn an_unclosed_quote_is_named_where_it_opens_in_every_csv_reader() {
    // The quote on line 3 swallows the rest of the file into one field: read on, the rows
    // after it vanish (or their count comes out wrong), so every reader refuses the file.
    let data = b"text,label\nfine,x\n\"never closed,y\nmore,z\nlast,x\n";
    let says = |err: &str| err.contains("line 3: a quoted field starts here and is never closed");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("in.csv");
    std::fs::write(&file, data).unwrap();
    let file = file.to_str().unwrap();
    let model = dir.path().join("m.forest");
    let model = model.to_str().unwrap();
    // (embed streams: the header and the row before the quote are written, then the error.)
    for args in [
        &["sample", "-n", "1", "--seed", "1", file][..],
        &["embed", "--column", "text", file],
        &["forest", "train", "--target", "label", "-o", model, file],
    ] {
        let (out, err) = failing(args, b"", 1);
        assert!(says(&err), "{args:?}: {err}");
        assert!(out.len() <= 2, "{args:?}: {} lines", out.len());
    }
    assert!(!Path::new(model).exists());
}

#[test]
fn empty_and_header_only_csv_say_so_and_are_runtime_errors() {
    let (_, err) = failing(&["embed", "--column", "text", "-"], b"", 1);
    assert!(err.contains("the input is empty"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.forest");
    let train = [
        "forest",
        "train",
        "-",
        "--target",
        "label",
        "-o",
        model.to_str().unwrap(),
    ];
    let (_, err) = failing(&train, b"", 1);
    assert!(err.contains("the input is empty"), "{err}");
    let (_, err) = failing(&train, b"a,label\n", 1);
    assert!(err.contains("no rows to train on"), "{err}");
    // A value that is not a number names the file and line.
    let data = b"a,label\n1,x\n2,y\n3,x\n";
    assert!(mlkit(&train, data).status.success());
    let (_, err) = failing(
        &["forest", "predict", model.to_str().unwrap(), "-"],
        b"a,label\n1,x\nlots,y\n",
        1,
    );
    assert!(
        err.contains("-: line 3, column \"a\": \"lots\" is not a number"),
        "{err}"
    );
}

#[test]
fn an_empty_gold_label_is_named_by_its_line() {
    let (_, err) = failing(
        &["zeroshot", "eval", "--gold-column", "label", "-"],
        b"text,label\nthe match,sport\nan election,\n",
        1,
    );
    assert!(err.contains("line 3: the gold label"), "{err}");
}

#[test]
fn a_bad_tag_in_ner_gold_is_named_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let gold = dir.path().join("gold.conll");
    std::fs::write(
        &gold,
        "EU B-ORG 0\nrejects O 0\n\nPeter B-PER 0\nsaid BAD 0\n",
    )
    .unwrap();
    let gold = gold.to_str().unwrap();
    let (_, err) = failing(&["ner", "eval", "--gold", gold], b"", 1);
    assert!(err.contains(":5") && err.contains("\"BAD\""), "{err}");
    // The column of zeros is no tag column: it was scored as all "O" with exit 0.
    let (_, err) = failing(
        &["ner", "eval", "--gold", gold, "--tag-column", "2"],
        b"",
        1,
    );
    assert!(err.contains("\"0\" in column 2 is not an IOB tag"), "{err}");
}

#[test]
fn many_hash_buckets_on_few_rows_cost_only_what_the_rows_fill() {
    // 2^20 buckets on 60 short texts: only the buckets the texts reach become columns (it
    // built 2^20 dense columns: a minute and a gigabyte).
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.forest");
    let o = mlkit(
        &[
            "forest",
            "train",
            "examples/company_sectors.csv",
            "--target",
            "sector",
            "--text",
            "description",
            "--text-features",
            "1048576",
            "-o",
            model.to_str().unwrap(),
        ],
        b"",
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    let columns: usize = err
        .split(" feature columns")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no column count in {err}"));
    assert!((100..5000).contains(&columns), "{err}");
    assert!(std::fs::metadata(&model).unwrap().len() < 10 << 20);
}

#[test]
fn weights_that_add_up_past_the_largest_float_say_so() {
    let data = b"a,w\nx,1e308\ny,1e308\nz,1e308\nq,1\n";
    let (_, err) = failing(
        &["sample", "-n", "2", "--seed", "1", "--weights", "w", "-"],
        data,
        1,
    );
    assert!(
        err.contains("the input: the weights add up to more than"),
        "{err}"
    );
}

#[test]
fn every_input_class_gives_one_result_per_record_or_names_the_bad_one() {
    let fixture = |name: &str| {
        common::root()
            .join("crates/mlkit-core/tests/fixtures")
            .join(name)
            .display()
            .to_string()
    };
    let (embedder, classifier) = (fixture("tiny-bert"), fixture("tiny-bert-sc"));
    // (input, records): empty, only newlines (empty texts are texts), no final newline,
    // CRLF, a NUL inside a line.
    let cases: [(&[u8], usize); 5] = [
        (b"", 0),
        (b"\n\n\n", 3),
        (b"a\nb", 2),
        (b"a\r\nb\r\n", 2),
        (b"a\0b\n", 1),
    ];
    for (input, records) in cases {
        for args in [
            &["embed", "--model", &embedder, "-"][..],
            &["classify", "--model", &classifier, "--format", "jsonl", "-"],
        ] {
            let out = common::stdout(&mlkit(args, input));
            assert_eq!(out.lines().count(), records, "{args:?} on {input:?}");
        }
    }
    // A line longer than the model: embed names it and how to proceed; classify cuts it,
    // as its other subcommands' pipelines do.
    let long = "word ".repeat(30_000);
    let (out, err) = failing(&["embed", "--model", &embedder, "-"], long.as_bytes(), 1);
    assert!(
        out.is_empty() && err.contains("line 1") && err.contains("--truncate"),
        "{err}"
    );
    let out = common::stdout(&mlkit(
        &["classify", "--model", &classifier, "--format", "jsonl", "-"],
        long.as_bytes(),
    ));
    assert_eq!(out.lines().count(), 1);
}

//! End-to-end tests of `mlkit embed` on the real all-MiniLM-L6-v2 weights in shared/ and
//! the tiny fixtures of mlkit-core.

mod common;

use common::{mlkit, root};

use std::path::PathBuf;

use serde_json::{json, Value};

fn minilm() -> PathBuf {
    root().join("../shared/models/all-MiniLM-L6-v2")
}

fn core_fixture(name: &str) -> PathBuf {
    root().join("crates/mlkit-core/tests/fixtures").join(name)
}

fn reference() -> (Vec<String>, Vec<Vec<f64>>) {
    let doc: Value =
        serde_json::from_slice(&std::fs::read(core_fixture("minilm.json")).unwrap()).unwrap();
    let s = doc["sentences"]
        .as_array()
        .unwrap()
        .iter()
        .take(6)
        .map(|s| s.as_str().unwrap().to_string())
        .collect();
    let e = doc["embeddings"]
        .as_array()
        .unwrap()
        .iter()
        .take(6)
        .map(|v| {
            v.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect()
        })
        .collect();
    (s, e)
}

fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let n = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
    dot / (n(a) * n(b))
}

#[test]
fn jsonl_from_stdin_matches_sentence_transformers() {
    let (sentences, want) = reference();
    let input = sentences.join("\n") + "\n";
    let model = minilm();
    let o = mlkit(
        &[
            "embed",
            "--model",
            model.to_str().unwrap(),
            "--device",
            "cpu",
            "-",
        ],
        input.as_bytes(),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let lines: Vec<Value> = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), sentences.len());
    for (i, (line, w)) in lines.iter().zip(&want).enumerate() {
        assert_eq!(line["id"], i + 1);
        let got: Vec<f64> = line["embedding"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        assert_eq!(got.len(), 384);
        assert!(cosine(&got, w) >= 0.99999, "line {}", i + 1);
    }
}

#[test]
fn npy_output_file_has_one_row_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("e.npy");
    let model = core_fixture("tiny-bert");
    let o = mlkit(
        &[
            "embed",
            "--model",
            model.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "-",
        ],
        b"hello world\n\nthe lazy dog\n",
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let bytes = std::fs::read(&out).unwrap();
    assert!(bytes.starts_with(b"\x93NUMPY\x01\x00"));
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = std::str::from_utf8(&bytes[10..10 + header_len]).unwrap();
    assert!(header.contains("'shape': (3, 32)"), "{header}");
    assert_eq!((10 + header_len) % 64, 0);
    assert_eq!(bytes.len() - 10 - header_len, 3 * 32 * 4);
}

#[test]
fn invalid_utf8_names_its_line_and_byte_unless_lossy() {
    let model = core_fixture("tiny-bert");
    let model = model.to_str().unwrap();
    // Line 3 starts at byte 14; its bad byte is its third.
    let input = b"hello world\r\n\nab\xffc\nlast";
    let o = mlkit(&["embed", "--model", model, "-"], input);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("line 3, byte offset 16: not valid UTF-8") && err.contains("--lossy"),
        "{err}"
    );

    let lossy = common::stdout(&mlkit(&["embed", "--lossy", "--model", model, "-"], input));
    let replaced = common::stdout(&mlkit(
        &["embed", "--model", model, "-"],
        "hello world\n\nab\u{fffd}c\nlast\n".as_bytes(),
    ));
    // CRLF and LF line ends, a missing last line end and U+FFFD for the bad byte: the same
    // four texts.
    assert_eq!(lossy.lines().count(), 4);
    assert_eq!(lossy, replaced);
}

#[test]
fn jsonl_records_and_csv_rows_get_the_embedding_of_their_text() {
    let model = core_fixture("tiny-bert");
    let model = model.to_str().unwrap();
    let lines = common::stdout(&mlkit(
        &["embed", "--model", model, "-"],
        b"hello world\nthe lazy dog\n",
    ));
    let plain: Vec<Value> = lines
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["embedding"].clone())
        .collect();

    // Records keep their fields; a blank line is no record.
    let jsonl = common::stdout(&mlkit(
        &["embed", "--model", model, "--text-field", "body", "-"],
        b"{\"id\": \"a\", \"body\": \"hello world\", \"n\": 1}\n\n{\"body\": \"the lazy dog\"}\n",
    ));
    let records: Vec<Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 2);
    assert_eq!(
        (&records[0]["id"], &records[0]["n"]),
        (&json!("a"), &json!(1))
    );
    assert_eq!(records[1]["body"], json!("the lazy dog"));
    for (r, want) in records.iter().zip(&plain) {
        assert_eq!(&r["embedding"], want);
    }

    // CSV comes back as CSV with an embedding column, quoted cells and all.
    let csv_in = b"id,text,note\n1,hello world,\"x, y\"\n2,the lazy dog,z\n";
    let csv_out = common::stdout(&mlkit(
        &["embed", "--model", model, "--column", "text", "-"],
        csv_in,
    ));
    let mut reader = csv::Reader::from_reader(csv_out.as_bytes());
    assert_eq!(
        reader.headers().unwrap(),
        vec!["id", "text", "note", "embedding"]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(&rows[0][2], "x, y");
    for (row, want) in rows.iter().zip(&plain) {
        assert_eq!(&serde_json::from_str::<Value>(&row[3]).unwrap(), want);
    }

    // The same rows as JSON Lines ids and embeddings, or as an .npy matrix.
    let ids = common::stdout(&mlkit(
        &[
            "embed", "--model", model, "--column", "text", "--format", "jsonl", "-",
        ],
        csv_in,
    ));
    let first: Value = serde_json::from_str(ids.lines().next().unwrap()).unwrap();
    assert_eq!((&first["id"], &first["embedding"]), (&json!(1), &plain[0]));
    let npy = mlkit(
        &[
            "embed", "--model", model, "--column", "text", "--format", "npy", "-",
        ],
        csv_in,
    );
    assert_eq!(npy.stdout.len(), 128 + 2 * 32 * 4);

    let ragged = mlkit(
        &["embed", "--model", model, "--column", "text", "-"],
        b"id,text\n1,a\n2,b,c\n",
    );
    assert_eq!(ragged.status.code(), Some(1));
    let err = String::from_utf8_lossy(&ragged.stderr);
    assert!(
        err.contains("-: line 3: found 3 fields where the header has 2; quote"),
        "{err}"
    );

    let no_column = mlkit(&["embed", "--model", model, "--format", "csv", "-"], csv_in);
    assert_eq!(no_column.status.code(), Some(2));
    let long = format!(
        "{{\"id\": \"big\", \"t\": \"{}\"}}\n",
        "the quick fox ".repeat(60)
    );
    let o = mlkit(
        &["embed", "--model", model, "--text-field", "t", "-"],
        long.as_bytes(),
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err.contains("record big") && err.contains("--truncate"),
        "{err}"
    );
}

#[test]
fn bad_models_and_long_lines_are_clear_errors() {
    // A pickle in torch.save's legacy format (a bare pickle, no zip): refused, named.
    let dir = tempfile::tempdir().unwrap();
    let tiny = core_fixture("tiny-bert");
    for f in ["config.json", "tokenizer.json"] {
        std::fs::copy(tiny.join(f), dir.path().join(f)).unwrap();
    }
    std::fs::write(dir.path().join("pytorch_model.bin"), b"\x80\x02").unwrap();
    let o = mlkit(
        &["embed", "--model", dir.path().to_str().unwrap(), "-"],
        b"x\n",
    );
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("pytorch_model.bin") && err.contains("legacy format"),
        "{err}"
    );

    let missing = mlkit(&["embed", "--model", "no/such/dir/here", "-"], b"x\n");
    assert_eq!(missing.status.code(), Some(1));

    let model = core_fixture("tiny-bert");
    let long = "the quick brown fox ".repeat(40);
    let input = format!("short\n{long}\n");
    let o = mlkit(
        &["embed", "--model", model.to_str().unwrap(), "-"],
        input.as_bytes(),
    );
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("line 2") && err.contains("--truncate"),
        "{err}"
    );
    assert!(o.stdout.is_empty() || !String::from_utf8_lossy(&o.stdout).contains("\"id\":2"));
}

#[test]
fn default_model_is_the_bundled_int8_minilm() {
    let (sentences, want) = reference();
    let o = mlkit(
        &["embed", "--device", "cpu", "-"],
        (sentences[0].clone() + "\n").as_bytes(),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(
        text.starts_with("{\"id\":1,\"embedding\":["),
        "{}",
        &text[..40]
    );
    let line: Value = serde_json::from_str(text.trim()).unwrap();
    let got: Vec<f64> = line["embedding"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    assert!(cosine(&got, &want[0]) >= 0.995);
}

#[test]
fn quantize_writes_a_loadable_gguf_and_models_describes_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("tiny.gguf");
    let model = core_fixture("tiny-bert");
    let q = mlkit(
        &[
            "quantize",
            model.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ],
        b"",
    );
    assert!(q.status.success(), "{}", String::from_utf8_lossy(&q.stderr));
    let info = mlkit(&["models", "info", out.to_str().unwrap(), "--json"], b"");
    assert!(
        info.status.success(),
        "{}",
        String::from_utf8_lossy(&info.stderr)
    );
    let info: Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_eq!(info["model_type"], "bert");
    assert_eq!(info["dtype"], "Q8_0");
    assert_eq!(info["hidden_size"], 32);
    // A model of the user's runs in f32 unless asked; only the bundled ones default to int8.
    assert_eq!(info["default_dtype"], "f32");
    let e = mlkit(
        &["embed", "--model", out.to_str().unwrap(), "-"],
        b"hello world\n",
    );
    assert!(e.status.success(), "{}", String::from_utf8_lossy(&e.stderr));
    let bad = mlkit(
        &[
            "quantize",
            model.to_str().unwrap(),
            "--type",
            "q9",
            "-o",
            out.to_str().unwrap(),
        ],
        b"",
    );
    assert_eq!(bad.status.code(), Some(2));
    let list = mlkit(&["models", "list", "--json"], b"");
    let list: Value = serde_json::from_slice(&list.stdout).unwrap();
    assert!(list
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["name"] == "all-MiniLM-L6-v2" && m["kind"] == "bundled"));
}

#[test]
fn a_device_that_cannot_be_had_is_a_usage_error() {
    let model = core_fixture("tiny-bert");
    let run = |device: &str| {
        mlkit(
            &[
                "embed",
                "--model",
                model.to_str().unwrap(),
                "--device",
                device,
                "-",
            ],
            b"hello\n",
        )
    };
    let o = run("gpu");
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("expected auto, cpu, cuda or cuda:N"));
    // Without the `cuda` feature, asking for CUDA says how to get it; `auto` is the CPU.
    if !cfg!(feature = "cuda") {
        let o = run("cuda:0");
        assert_eq!(o.status.code(), Some(2));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("built without CUDA") && err.contains("--features cuda"),
            "{err}"
        );
        let o = run("auto");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
}

#[test]
fn a_copied_binary_finds_the_models_beside_it() {
    // A binary shipped with its models, away from the clone it was built in. A hard link
    // in the target directory (same filesystem) stands in for a copy of the large binary.
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_mlkit"));
    let dir = tempfile::tempdir_in(exe.parent().unwrap()).unwrap();
    let copy = dir.path().join("mlkit");
    if std::fs::hard_link(&exe, &copy).is_err() {
        std::fs::copy(&exe, &copy).unwrap();
    }
    // Only one of the bundled models, so that the list shows which directory was read.
    std::fs::create_dir(dir.path().join("models")).unwrap();
    std::os::unix::fs::symlink(
        root()
            .join("models/all-MiniLM-L6-v2")
            .canonicalize()
            .unwrap(),
        dir.path().join("models/all-MiniLM-L6-v2"),
    )
    .unwrap();
    let o = std::process::Command::new(&copy)
        .args(["models", "list", "--json"])
        .env_remove("MLKIT_MODELS")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let list: Value = serde_json::from_slice(&o.stdout).unwrap();
    let bundled: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["kind"] == "bundled")
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(bundled, ["all-MiniLM-L6-v2"]);
}

#[test]
fn an_npy_file_gets_its_rows_as_they_are_embedded() {
    use std::io::Write;
    use std::process::Stdio;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("vectors.npy");
    let model = core_fixture("tiny-bert");
    let mut child = common::command(&[
        "embed",
        "--model",
        model.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "-",
    ])
    .stdin(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"hello world\n").unwrap();
    stdin.flush().unwrap();
    // With stdin still open, the first row reaches the (hidden, temporary) file: rows are
    // streamed, not held until the end (the header is a placeholder until then).
    let grown = |min: u64| {
        std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .any(|e| e.metadata().is_ok_and(|m| m.len() >= min))
    };
    let started = std::time::Instant::now();
    while !grown(128 + 32 * 4) {
        assert!(
            started.elapsed().as_secs() < 60,
            "no row reached the output file while the input was open"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(!out.exists(), "the file appears only when the run succeeds");
    stdin.write_all(b"the lazy dog\n").unwrap();
    drop(stdin);
    let status = child.wait().unwrap();
    assert!(status.success());
    // The matrix written to stdout at the end, but for the last digits a text's vector
    // takes from what it is batched with.
    let whole = mlkit(
        &[
            "embed",
            "--model",
            model.to_str().unwrap(),
            "--format",
            "npy",
            "-",
        ],
        b"hello world\nthe lazy dog\n",
    );
    assert!(whole.status.success());
    let written = std::fs::read(&out).unwrap();
    assert_eq!(written.len(), 128 + 2 * 32 * 4);
    assert_eq!(written[..128], whole.stdout[..128]);
    assert!(String::from_utf8_lossy(&written[..128]).contains("'shape': (2, 32)"));
    let floats = |b: &[u8]| -> Vec<f32> {
        b[128..]
            .chunks(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    };
    for (a, b) in floats(&written).iter().zip(floats(&whole.stdout)) {
        assert!((a - b).abs() <= 1e-5, "{a} vs {b}");
    }
}

#[test]
fn several_inputs_are_embedded_as_one_stream_with_named_ids() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.txt"), dir.path().join("b.txt"));
    std::fs::write(&a, "hello world\n").unwrap();
    std::fs::write(&b, "the lazy dog\nfox\n").unwrap();
    let model = core_fixture("tiny-bert");
    let model = model.to_str().unwrap();
    let both = common::stdout(&mlkit(
        &[
            "embed",
            "--model",
            model,
            a.to_str().unwrap(),
            b.to_str().unwrap(),
        ],
        b"",
    ));
    let lines: Vec<Value> = both
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let ids: Vec<String> = lines
        .iter()
        .map(|l| l["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        ids,
        [
            format!("{}:1", a.display()),
            format!("{}:1", b.display()),
            format!("{}:2", b.display())
        ]
    );
    // Each as when embedded alone, but for the last digits batching moves.
    let alone = common::stdout(&mlkit(&["embed", "--model", model, "-"], b"the lazy dog\n"));
    let alone: Value = serde_json::from_str(alone.trim()).unwrap();
    let (a, b) = (
        lines[1]["embedding"].as_array().unwrap(),
        alone["embedding"].as_array().unwrap(),
    );
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
        assert!((x - y).abs() <= 1e-5, "{x} vs {y}");
    }
}

#[test]
fn models_pull_says_when_there_is_nothing_to_pull() {
    let o = mlkit(&["models", "pull", "all-MiniLM-L6-v2"], b"");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("nothing to pull"), "{err}");
    assert!(o.stdout.is_empty());
}

#[test]
fn models_info_says_what_is_wrong_with_a_config() {
    let dir = tempfile::tempdir().unwrap();
    let tiny = core_fixture("tiny-bert");
    for f in ["tokenizer.json", "model.safetensors"] {
        std::fs::copy(tiny.join(f), dir.path().join(f)).unwrap();
    }
    let config = dir.path().join("config.json");
    std::fs::write(&config, "{\"hidden_size\": 32}").unwrap();
    let o = mlkit(&["models", "info", dir.path().to_str().unwrap()], b"");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&config.display().to_string()) && err.contains("missing field `model_type`"),
        "{err}"
    );
    assert!(o.stdout.is_empty(), "not described as an unknown model");
}

/// Without `--dtype` the bundled model runs int8 (what `--dtype int8` gives, on any CPU: as
/// q8 where it has no int8 kernel), and `models info` says so.
#[test]
fn the_bundled_model_runs_int8_unless_asked_otherwise() {
    let text = b"Angela Merkel visited Paris.\nThe bank raised rates on Tuesday.\n";
    let run = |extra: &[&str]| {
        let mut args = vec!["embed", "--format", "jsonl"];
        args.extend_from_slice(extra);
        args.push("-");
        let o = mlkit(&args, text);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        o.stdout
    };
    assert_eq!(run(&[]), run(&["--dtype", "int8"]));
    let info = mlkit(&["models", "info", "all-MiniLM-L6-v2"], b"");
    let info = String::from_utf8_lossy(&info.stdout);
    // The kernel this CPU runs, named as MLKIT_INT8_KERNEL names it (or "as q8").
    let json = mlkit(&["models", "info", "conll03-ner-minilm", "--json"], b"");
    let json: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(json["default_dtype"], "int8");
    let kernel = json["int8_kernel"].as_str().unwrap();
    let runs_as = if kernel == "scalar" {
        "int8 (as q8: this CPU has no int8 kernel)".to_string()
    } else {
        format!("int8 (the {kernel} kernel on this CPU)")
    };
    assert!(
        info.contains(&format!(
            "runs as       {runs_as} unless --dtype says otherwise"
        )),
        "{info}"
    );
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        assert_ne!(kernel, "scalar", "every AVX2 CPU has an int8 kernel");
    }
}

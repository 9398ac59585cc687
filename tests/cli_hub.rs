//! The real Hugging Face download path, end to end, against a stand-in hub on localhost
//! (`HF_ENDPOINT`): the repo info and resolve endpoints as hf-hub's sync client calls them
//! (ranged GETs, etag and commit headers), the token sent, the cache written under
//! `HF_HOME` and then read alone with `HF_HUB_OFFLINE=1`, an old-style repo (PyTorch shards
//! and vocab.txt) and missing repos.

mod common;

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};

use common::{mlkit, root};

const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";
const TOKEN: &str = "hf_test_token";

/// One request as the stand-in hub saw it.
#[derive(Clone, Debug)]
struct Seen {
    path: String,
    authorization: Option<String>,
}

/// A repo: file name to contents.
type Repo = HashMap<String, Vec<u8>>;

struct Hub {
    endpoint: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

/// Serves `repos` on a free localhost port until the test process ends.
fn hub(repos: HashMap<String, Repo>) -> Hub {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            answer(stream, &repos, &log);
        }
    });
    Hub { endpoint, seen }
}

fn answer(mut stream: TcpStream, repos: &HashMap<String, Repo>, log: &Mutex<Vec<Seen>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("")
        .to_string();
    let mut headers = HashMap::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    log.lock().unwrap().push(Seen {
        path: path.clone(),
        authorization: headers.get("authorization").cloned(),
    });
    let reply = |stream: &mut TcpStream, status: &str, extra: &[(&str, String)], body: &[u8]| {
        let mut head = format!(
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
            body.len()
        );
        for (k, v) in extra {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        let _ = stream.write_all(head.as_bytes());
        let _ = stream.write_all(body);
    };
    // GET /api/models/{org}/{name}/revision/{rev}
    if let Some(rest) = path.strip_prefix("/api/models/") {
        let repo = rest.split("/revision/").next().unwrap_or("");
        return match repos.get(repo) {
            Some(files) => {
                let siblings: Vec<_> = files
                    .keys()
                    .map(|f| serde_json::json!({ "rfilename": f }))
                    .collect();
                let body = serde_json::json!({ "sha": COMMIT, "siblings": siblings });
                reply(
                    &mut stream,
                    "200 OK",
                    &[("Content-Type", "application/json".into())],
                    body.to_string().as_bytes(),
                )
            }
            None => reply(&mut stream, "404 Not Found", &[], b"Repository not found"),
        };
    }
    // GET /{org}/{name}/resolve/{rev}/{file}, always with a Range header.
    let found = path.split_once("/resolve/").and_then(|(repo, rest)| {
        let file = rest.split_once('/')?.1;
        repos.get(repo.trim_start_matches('/'))?.get(file)
    });
    let Some(data) = found else {
        return reply(&mut stream, "404 Not Found", &[], b"Entry not found");
    };
    let start: usize = headers
        .get("range")
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.split('-').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
        .min(data.len());
    let end = match headers.get("range").map(String::as_str) {
        Some("bytes=0-0") => 1.min(data.len()),
        _ => data.len(),
    };
    // Any content hash will do for the etag (the hub sends the blob's sha256).
    let mut hash = DefaultHasher::new();
    data.hash(&mut hash);
    let etag = format!("\"{:016x}{:08x}\"", hash.finish(), data.len());
    reply(
        &mut stream,
        "206 Partial Content",
        &[
            ("ETag", etag),
            ("X-Repo-Commit", COMMIT.into()),
            (
                "Content-Range",
                format!("bytes {start}-{}/{}", end.max(1) - 1, data.len()),
            ),
        ],
        &data[start..end],
    );
}

/// A vocab.txt with tokenizer.json's WordPiece vocabulary, one token a line by id (what a
/// repo without tokenizer.json ships).
fn vocab_txt(tokenizer: &Path) -> Vec<u8> {
    let t: serde_json::Value = serde_json::from_slice(&std::fs::read(tokenizer).unwrap()).unwrap();
    let mut vocab: Vec<(&String, u64)> = t["model"]["vocab"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k, v.as_u64().unwrap()))
        .collect();
    vocab.sort_by_key(|(_, id)| *id);
    let lines: Vec<&str> = vocab.iter().map(|(k, _)| k.as_str()).collect();
    format!("{}\n", lines.join("\n")).into_bytes()
}

fn fixture_repo(dir: &Path, files: &[&str]) -> Repo {
    files
        .iter()
        .map(|f| (f.to_string(), std::fs::read(dir.join(f)).unwrap()))
        .collect()
}

/// mlkit with the hub environment: `HF_HOME` in `home`, the stand-in endpoint, a token,
/// no proxies, and `extra` on top.
fn mlkit_hub(args: &[&str], hub: &Hub, home: &Path, extra: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mlkit"));
    cmd.args(args)
        .current_dir(root())
        .env("CANDLE_NUM_THREADS", "1")
        .env("HF_HOME", home)
        .env("HF_ENDPOINT", &hub.endpoint)
        .env("HF_TOKEN", TOKEN)
        .env_remove("HF_HUB_OFFLINE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for var in [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
    ] {
        cmd.env_remove(var);
    }
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let _ = child
        .stdin
        .take()
        .unwrap()
        .write_all(b"hello world\nthe lazy dog\n");
    child.wait_with_output().unwrap()
}

/// The stderr of `mlkit embed --model MODEL`, which must fail at run time (exit 1).
fn embed_fails(model: &str, hub: &Hub, home: &Path) -> String {
    let o = mlkit_hub(&["embed", "--model", model, "-"], hub, home, &[]);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(1), "{err}");
    err
}

#[test]
fn models_download_into_the_cache_and_then_run_offline() {
    let tiny = root().join("crates/mlkit-core/tests/fixtures/tiny-bert");
    let mut repos = HashMap::new();
    repos.insert(
        "someone/tiny-bert".to_string(),
        fixture_repo(
            &tiny,
            &["config.json", "tokenizer.json", "model.safetensors"],
        ),
    );
    // The same model as an older repo has it: PyTorch shards and a slow tokenizer's
    // vocab.txt, no tokenizer.json, no safetensors.
    let sharded = root().join("crates/mlkit-core/tests/fixtures/tiny-bert-sharded-bin");
    let mut old = fixture_repo(
        &sharded,
        &[
            "config.json",
            "pytorch_model.bin.index.json",
            "pytorch_model-00001-of-00002.bin",
            "pytorch_model-00002-of-00002.bin",
        ],
    );
    old.insert("vocab.txt".into(), vocab_txt(&tiny.join("tokenizer.json")));
    repos.insert("someone/old-style".to_string(), old);
    let hub = hub(repos);
    let home = tempfile::tempdir().unwrap();

    // What the same model gives from its directory.
    let local = mlkit(
        &["embed", "--model", tiny.to_str().unwrap(), "-"],
        b"hello world\nthe lazy dog\n",
    );
    assert!(local.status.success());

    let online = mlkit_hub(
        &["embed", "--model", "someone/tiny-bert", "-"],
        &hub,
        home.path(),
        &[],
    );
    assert!(
        online.status.success(),
        "{}",
        String::from_utf8_lossy(&online.stderr)
    );
    assert_eq!(
        online.stdout, local.stdout,
        "downloaded model, same vectors"
    );

    // The hub cache layout, as Python's huggingface_hub writes it.
    let repo_dir = home.path().join("hub/models--someone--tiny-bert");
    assert_eq!(
        std::fs::read_to_string(repo_dir.join("refs/main")).unwrap(),
        COMMIT
    );
    for f in ["config.json", "tokenizer.json", "model.safetensors"] {
        let cached = std::fs::read(repo_dir.join("snapshots").join(COMMIT).join(f)).unwrap();
        assert_eq!(cached, std::fs::read(tiny.join(f)).unwrap(), "{f}");
    }
    // Every request carried the token.
    let seen = hub.seen.lock().unwrap().clone();
    assert!(seen
        .iter()
        .any(|s| s.path.contains("/resolve/main/model.safetensors")));
    for s in &seen {
        assert_eq!(
            s.authorization.as_deref(),
            Some(format!("Bearer {TOKEN}").as_str()),
            "{}",
            s.path
        );
    }

    // Offline: the cache alone, not one more request.
    let before = hub.seen.lock().unwrap().len();
    let offline = mlkit_hub(
        &["embed", "--model", "someone/tiny-bert", "-"],
        &hub,
        home.path(),
        &[("HF_HUB_OFFLINE", "1")],
    );
    assert!(
        offline.status.success(),
        "{}",
        String::from_utf8_lossy(&offline.stderr)
    );
    assert_eq!(offline.stdout, local.stdout);
    assert_eq!(hub.seen.lock().unwrap().len(), before);

    // `models list` shows the cached model.
    let list = mlkit_hub(&["models", "list", "--json"], &hub, home.path(), &[]);
    let list: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|m| m["name"] == "someone/tiny-bert" && m["kind"] != "bundled"),
        "{list}"
    );

    // The old-style repo: its shards and vocab.txt downloaded, the same vectors.
    let old = mlkit_hub(
        &["embed", "--model", "someone/old-style", "-"],
        &hub,
        home.path(),
        &[],
    );
    assert!(
        old.status.success(),
        "{}",
        String::from_utf8_lossy(&old.stderr)
    );
    assert_eq!(
        old.stdout, local.stdout,
        "shards and vocab.txt, same vectors"
    );

    // A repo the hub does not have: the error names it.
    let err = embed_fails("someone/nothing-here", &hub, home.path());
    assert!(
        err.contains("someone/nothing-here") && err.contains("check the name"),
        "{err}"
    );

    // No hub at the endpoint: the error says what to check, and how to work offline.
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let nowhere = Hub {
        endpoint: format!("http://{closed}"),
        seen: Arc::default(),
    };
    let err = embed_fails("someone/tiny-bert-2", &nowhere, home.path());
    assert!(
        err.contains("cannot reach the hub") && err.contains("HF_HUB_OFFLINE"),
        "{err}"
    );
}

/// The tiny BERT fixture as a hub repo, with `config` as its config.json when given.
fn tiny_repo(config: Option<&str>) -> Repo {
    let tiny = root().join("crates/mlkit-core/tests/fixtures/tiny-bert");
    let mut repo = fixture_repo(
        &tiny,
        &["config.json", "tokenizer.json", "model.safetensors"],
    );
    if let Some(c) = config {
        repo.insert("config.json".into(), c.as_bytes().to_vec());
    }
    repo
}

#[test]
fn a_hub_model_s_config_errors_name_the_cached_file() {
    let tiny = root().join("crates/mlkit-core/tests/fixtures/tiny-bert/config.json");
    let mut config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(tiny).unwrap()).unwrap();
    config["id2label"] = serde_json::json!({"zero": "A"});
    let mut repos = HashMap::new();
    repos.insert(
        "someone/bad-labels".to_string(),
        tiny_repo(Some(&config.to_string())),
    );
    let hub = hub(repos);
    let home = tempfile::tempdir().unwrap();
    let err = embed_fails("someone/bad-labels", &hub, home.path());
    // The file on disk, not "hf:someone/bad-labels/config.json".
    let cached = home
        .path()
        .join("hub/models--someone--bad-labels/snapshots")
        .join(COMMIT)
        .join("config.json");
    assert!(
        err.contains(&format!("{}: ", cached.display()))
            && err.contains("id2label key \"zero\" is not a number"),
        "{err}"
    );
}

/// What a terminal shows of `mlkit ARGS` run with the hub environment: `script` gives it a
/// pseudo-terminal, where download progress bars are drawn.
fn on_a_terminal(args: &str, hub: &Hub, home: &Path) -> String {
    let bin = env!("CARGO_BIN_EXE_mlkit");
    let out = Command::new("script")
        .args(["-qec", &format!("{bin} {args}"), "/dev/null"])
        .current_dir(root())
        .env("HF_HOME", home)
        .env("HF_ENDPOINT", &hub.endpoint)
        .env("HF_TOKEN", TOKEN)
        .env_remove("HF_HUB_OFFLINE")
        // A terminal type that draws, whatever the environment the tests run in has.
        .env("TERM", "xterm")
        .stdin(Stdio::null())
        .output()
        .expect("script (util-linux) runs a command on a pseudo-terminal");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn quiet_silences_the_download_progress_bars() {
    let mut repos = HashMap::new();
    repos.insert("someone/tiny-bert".to_string(), tiny_repo(None));
    let hub = hub(repos);
    // On a terminal, a download shows its bars (so the test can see them)...
    let home = tempfile::tempdir().unwrap();
    let shown = on_a_terminal("models pull someone/tiny-bert", &hub, home.path());
    assert!(shown.contains("model.safetensors"), "{shown}");
    // ...and with --quiet nothing but the requested output: the description of the model.
    let home = tempfile::tempdir().unwrap();
    let quiet = on_a_terminal("-q models pull someone/tiny-bert", &hub, home.path());
    assert!(!quiet.contains("model.safetensors"), "{quiet}");
    assert!(quiet.contains("architecture  bert"), "{quiet}");
}

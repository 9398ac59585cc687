//! Helpers the end-to-end tests share: where the repository is, and running the binary.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The mlkit binary with `args`, to run in the repository root on one Candle thread.
pub fn command(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mlkit"));
    command
        .args(args)
        .current_dir(root())
        .env("CANDLE_NUM_THREADS", "1");
    command
}

/// Runs mlkit in the repository root with `stdin` as its input, one Candle thread.
pub fn mlkit(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = command(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A command that fails before reading its input closes the pipe: not a test failure.
    let _ = child.stdin.take().unwrap().write_all(stdin);
    child.wait_with_output().unwrap()
}

/// The stdout of a run that must have succeeded.
#[allow(dead_code)] // Not every test file uses it.
pub fn stdout(o: &Output) -> String {
    assert!(
        o.status.success(),
        "mlkit failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).unwrap()
}

/// The stdout lines and stderr of a run that must fail with exit code `code`.
#[allow(dead_code)] // Not every test file uses it.
pub fn failing(args: &[&str], input: &[u8], code: i32) -> (Vec<String>, String) {
    let o = mlkit(args, input);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(code), "{args:?}: {err}");
    let out = String::from_utf8_lossy(&o.stdout);
    (out.lines().map(str::to_string).collect(), err)
}

//! Helpers the end-to-end tests share: where the repository is, and running the binary.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs mlkit in the repository root with `stdin` as its input, one Candle thread.
pub fn mlkit(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mlkit"))
        .args(args)
        .current_dir(root())
        .env("CANDLE_NUM_THREADS", "1")
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

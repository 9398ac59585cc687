//! Helpers shared by the parity tests: where the fixtures are, how to read them, and which
//! device they run on.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use candle_core::Device;
use serde_json::Value;

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The device the parity tests run on: `MLKIT_TEST_DEVICE` (any `--device` spec), the CPU
/// when unset. The same fixtures and tolerances then check every backend, e.g.
/// `MLKIT_TEST_DEVICE=cuda cargo test -p mlkit-core --features cuda` on a GPU machine.
/// Opened once: each `Device::new_cuda` is a distinct device to Candle, which refuses to
/// mix tensors from two of them.
pub fn device() -> Device {
    static DEVICE: OnceLock<Device> = OnceLock::new();
    DEVICE
        .get_or_init(|| {
            let spec = std::env::var("MLKIT_TEST_DEVICE").unwrap_or_else(|_| "cpu".to_string());
            match mlkit_core::select_device(&spec) {
                Ok(d) => d,
                Err(e) => panic!("MLKIT_TEST_DEVICE={spec}: {e}"),
            }
        })
        .clone()
}

/// f32 activations and dense weights on the test device.
#[allow(dead_code)] // Not every test file uses it.
pub fn run_options() -> mlkit_core::RunOptions {
    mlkit_core::RunOptions {
        device: device(),
        ..mlkit_core::RunOptions::default()
    }
}

/// A JSON array of numbers as f32.
#[allow(dead_code)] // Not every test file uses it.
pub fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

//! Any bytes as a forest model file: an error is fine, a panic or a huge allocation is a bug.
//! Inputs that carry a valid checksum reach the tree reader, so the target also re-signs
//! the body it is given.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mlkit_forest::matrix::Matrix;
use mlkit_forest::Forest;

fuzz_target!(|data: &[u8]| {
    let _ = Forest::from_bytes(data);
    // The same body behind a header with its true checksum, to get past the checksum
    // (version 2's FNV-1a: version 3 differs only in the checksum, and 2 is still read).
    let sum = data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let mut signed = format!(
        "{{\"format\":\"mlkit-forest\",\"version\":2,\"rng\":1,\"checksum\":\"fnv1a64:{sum:016x}\"}}\n"
    )
    .into_bytes();
    signed.extend_from_slice(data);
    if let Ok(forest) = Forest::from_bytes(&signed) {
        let width = forest.features.iter().map(|f| f.width()).sum();
        // A model's width is checked against the bytes it came in, so this stays small.
        if let Ok(matrix) = Matrix::dense(vec![vec![0.5f32, f32::NAN]; width]) {
            let _ = forest.score(&matrix, 1);
        }
    }
});

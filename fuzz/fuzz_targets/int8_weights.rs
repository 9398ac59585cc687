//! Any bytes as a Q8_0 weight of any shape packed for the int8 kernels: a size that does not
//! match is an error, never a panic or a huge allocation; a weight that packs gives, with
//! every kernel this CPU has, the scalar reference's numbers bit for bit, whatever its bytes
//! (f16 scales that are NaN, infinite or denormal, weights of -128) and the activations',
//! with a bias or without.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mlkit_int8::{Int8Matmul, Kernel};

fuzz_target!(|data: &[u8]| {
    let [a, b, c, rest @ ..] = data else {
        return;
    };
    // Shapes up to 40 columns, 4 blocks and 3 rows, with sizes that do not match sometimes.
    let (n, k, m) = (usize::from(*a % 41), 32 * usize::from(*b % 5), 1 + usize::from(*c % 3));
    let Ok(w) = Int8Matmul::from_q8_0(n, k, &rest[..rest.len().min(n * k / 32 * 34)]) else {
        return;
    };
    // The activations: the bytes after the weight's, as f32s (any bit pattern), or zeros.
    let tail = rest.get(n * k / 32 * 34..).unwrap_or(&[]);
    let x: Vec<f32> = (0..m * k)
        .map(|i| {
            let at = 4 * i;
            tail.get(at..at + 4)
                .map_or(0.0, |b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        })
        .collect();
    // Half the inputs add a bias (the activations' values again), which every kernel adds
    // as it stores.
    let w = if c & 8 == 0 {
        w
    } else {
        let bias: Vec<f32> = (0..n).map(|i| x.get(i).copied().unwrap_or(1.0)).collect();
        match w.with_bias(&bias) {
            Ok(w) => w,
            Err(e) => panic!("a bias of n values is refused: {e}"),
        }
    };
    let want = w.matmul_with(Kernel::Scalar, &x, m);
    for kernel in Kernel::supported() {
        let got = w.matmul_with(kernel, &x, m);
        // NaN (from a NaN scale) is NaN whatever its payload; anything else to the bit.
        let same = |g: &f32, w: &f32| g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan());
        assert!(got.len() == want.len() && got.iter().zip(&want).all(|(g, w)| same(g, w)), "{kernel:?}");
    }
});

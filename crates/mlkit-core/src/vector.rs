//! Loops shaped for vector units: `widest_vectors!` compiles a loop for the widest vectors
//! the CPU has, and `sum`/`fold` reduce rows in lanes, which the compiler keeps in vector
//! registers (a plain running sum of floats is one dependent add after another, since
//! reordering it would change the result).

/// Defines `fn $name(args)` running `$body` compiled for the widest vectors this CPU has
/// (AVX-512F or AVX2 on x86-64, picked at run time, else the build's baseline): loops of
/// plain arithmetic vectorise 16 or 8 wide there, where the baseline build stops at 4 (GELU
/// took a tenth of an int8 encoder's time at 4). No path contracts a multiply and an add
/// into an FMA, so each gives the same numbers.
macro_rules! widest_vectors {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $body:block) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) {
            #[inline(always)]
            fn body($($arg: $ty),*) $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f")]
                fn avx512($($arg: $ty),*) {
                    body($($arg),*)
                }
                #[target_feature(enable = "avx2")]
                fn avx2($($arg: $ty),*) {
                    body($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx512f") {
                    // SAFETY: the CPU has AVX-512F.
                    return unsafe { avx512($($arg),*) };
                }
                if std::arch::is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU has AVX2.
                    return unsafe { avx2($($arg),*) };
                }
            }
            body($($arg),*)
        }
    };
}

/// Values an AVX-512 vector holds: the lane count of `sum` and `fold`.
pub(crate) const LANES: usize = 16;

/// `lanes` folded by `f` in halves (16 to 8 to 4 to 2 to 1): four vector steps where a fold
/// from the first lane to the last is 15 dependent ones.
#[inline(always)]
pub(crate) fn fold(mut lanes: [f32; LANES], f: impl Fn(f32, f32) -> f32) -> f32 {
    let mut width = LANES / 2;
    while width > 0 {
        for i in 0..width {
            lanes[i] = f(lanes[i], lanes[i + width]);
        }
        width /= 2;
    }
    lanes[0]
}

/// The sum of `f(x)` over `xs`, in `LANES` partial sums.
#[inline(always)]
pub(crate) fn sum(xs: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut sums = [0f32; LANES];
    let chunks = xs.chunks_exact(LANES);
    let tail = chunks.remainder();
    for chunk in chunks {
        for i in 0..LANES {
            sums[i] += f(chunk[i]);
        }
    }
    for (s, &x) in sums.iter_mut().zip(tail) {
        *s += f(x);
    }
    fold(sums, |a, b| a + b)
}

/// The dot product of `a` and `b` (of one length), in `LANES` partial sums.
#[inline(always)]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut sums = [0f32; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ta, tb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..LANES {
            sums[i] += x[i] * y[i];
        }
    }
    for (s, (x, y)) in sums.iter_mut().zip(ta.iter().zip(tb)) {
        *s += x * y;
    }
    fold(sums, |a, b| a + b)
}

/// e^x for x <= 0 (a score less its row's maximum, -x^2/2 in GELU's gradient), within 2 ulp
/// of the exact value, in branch-free arithmetic that vectorises: x = n ln 2 + r with
/// |r| <= ln 2 / 2, e^r by its degree-7 Taylor polynomial (remainder below 2^-27 relative
/// there), times 2^n built in the exponent bits. Below -87.3 (where 2^n would leave the
/// normal range) the result is 0, which is also where e^x rounds to (or below) the smallest
/// normal f32; a NaN stays NaN.
#[inline(always)]
pub(crate) fn exp_nonpositive(x: f32) -> f32 {
    const LOG2_E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split so that n * LN2_HI is exact for |n| < 2^9.
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    let clamped = x.max(-87.3);
    let n = (clamped * LOG2_E).round_ties_even();
    let r = (clamped - n * LN2_HI) - n * LN2_LO;
    let mut p = 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    // 2^n from the biased exponent n + 127 in 0..=127: adding 2^23 puts an integer-valued
    // float's value in the low mantissa bits, and the shift moves it into the exponent
    // (the bits of 2^23 itself leave the word). `as i32` would not vectorise.
    let two_n = f32::from_bits((n + (127.0 + 8_388_608.0)).to_bits() << 23);
    if x < -87.3 {
        0.0
    } else if x.is_nan() {
        // The clamp above dropped it.
        x
    } else {
        p * two_n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_within_2_ulp_below_zero_and_0_far_below() {
        let mut worst = 0f64;
        for i in 0..=873_000 {
            let x = -(i as f32) / 10_000.0;
            let want = f64::from(x).exp();
            let got = f64::from(exp_nonpositive(x));
            // An ulp of the result, with the f32 exponent of the exact value.
            let ulp = f64::from(f32::EPSILON) * 2f64.powi(want.log2().floor() as i32);
            worst = worst.max((got - want).abs() / ulp);
        }
        assert!(worst <= 2.0, "worst error {worst} ulp");
        assert_eq!(exp_nonpositive(-100.0), 0.0);
        assert_eq!(exp_nonpositive(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp_nonpositive(0.0), 1.0);
        assert!(exp_nonpositive(f32::NAN).is_nan());
    }

    #[test]
    fn lane_sums_and_folds_see_every_value() {
        for n in [0usize, 1, 15, 16, 17, 40, 384] {
            let xs: Vec<f32> = (0..n).map(|i| i as f32).collect();
            let want = (n * n.saturating_sub(1) / 2) as f32;
            assert_eq!(sum(&xs, |x| x), want, "n {n}");
            assert_eq!(sum(&xs, |x| 2.0 * x), 2.0 * want, "n {n}");
        }
        let lanes: [f32; LANES] = std::array::from_fn(|i| (i * 7 % 16) as f32);
        assert_eq!(fold(lanes, f32::max), 15.0);
    }
}

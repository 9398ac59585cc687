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

#[cfg(test)]
mod tests {
    use super::*;

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

//! Attention probabilities at inference: `softmax(scores x scale + bias)` over the last
//! dimension in one pass over the scores, where Candle takes three (a scaling, a
//! broadcast addition and a softmax, each a fresh tensor, the last two split row by row
//! through rayon even on one thread) and libm's scalar `expf` (here `exp_nonpositive`).
//! Together they took a tenth of an int8 encoder's time. Tracked tensors (training), other
//! devices and dtypes take Candle's operations.

use candle_core::{DType, Result, Tensor};

use crate::ops::{softmax_last_dim, with_host_f32};
use crate::vector::{exp_nonpositive, fold, LANES};

/// `softmax(scores * scale + bias)` over the last dimension: `scores` is (b, h, s, t) and
/// `bias` broadcasts to it (each dimension 1 or the same; (b, 1, 1, t) for a padding mask).
pub fn softmax_scaled_biased(scores: &Tensor, bias: &Tensor, scale: f64) -> Result<Tensor> {
    let fused = !scores.track_op()
        && !bias.track_op()
        && scores.device().is_cpu()
        && scores.dtype() == DType::F32
        && bias.dtype() == DType::F32
        && scores.rank() == 4
        && bias.rank() == 4;
    if !fused {
        return softmax_last_dim(&(scores * scale)?.broadcast_add(bias)?);
    }
    let dims: [usize; 4] = std::array::from_fn(|i| scores.dims()[i]);
    let bias_dims: [usize; 4] = std::array::from_fn(|i| bias.dims()[i]);
    let broadcasts = dims
        .iter()
        .zip(&bias_dims)
        .enumerate()
        .all(|(i, (&d, &b))| b == d || (b == 1 && i < 3));
    if !broadcasts {
        candle_core::bail!("attention scores {dims:?} with a bias of {bias_dims:?}");
    }
    let (b, h, s, t) = (dims[0], dims[1], dims[2], dims[3]);
    // Both read in place: copying the scores first was a pass of its own (and, with the
    // copies of each short row into a padded buffer this did before, 5% of an int8 encoder).
    let (scores, bias) = (scores.contiguous()?, bias.contiguous()?);
    let probs = with_host_f32(&scores, "attention scores", |scores| {
        with_host_f32(&bias, "an attention bias", |bias| {
            let mut probs = Vec::with_capacity(scores.len());
            softmax_rows(scores, bias, dims, bias_dims, scale as f32, &mut probs);
            Ok(probs)
        })
    })?;
    Tensor::from_vec(probs, (b, h, s, t), scores.device())
}

widest_vectors! {
    /// Each row of `scores` (b, h, s, t): `row * scale + bias`, then its softmax, pushed
    /// onto `probs`.
    fn softmax_rows(
        scores: &[f32],
        bias: &[f32],
        dims: [usize; 4],
        bias_dims: [usize; 4],
        scale: f32,
        probs: &mut Vec<f32>,
    ) {
        let [b, h, s, t] = dims;
        let [bb, bh, bs, _] = bias_dims;
        let mut rows = scores.chunks_exact(t.max(1));
        for bi in 0..b {
            for hi in 0..h {
                for si in 0..s {
                    let Some(row) = rows.next() else { return };
                    // A broadcast dimension (of size 1) always takes index 0.
                    let at = (((bi % bb) * bh + hi % bh) * bs + si % bs) * t;
                    let start = probs.len();
                    probs.extend(row.iter().zip(&bias[at..at + t]).map(|(x, b)| x * scale + b));
                    softmax_in_place(&mut probs[start..]);
                }
            }
        }
    }
}

/// The softmax of one row, in place: whole vectors of `LANES`, then the rest one by one.
#[inline(always)]
fn softmax_in_place(row: &mut [f32]) {
    let larger = |a: f32, b: f32| if a > b { a } else { b };
    let mut most = [f32::NEG_INFINITY; LANES];
    let mut chunks = row.chunks_exact(LANES);
    for xs in &mut chunks {
        for i in 0..LANES {
            most[i] = larger(xs[i], most[i]);
        }
    }
    let max = chunks
        .remainder()
        .iter()
        .fold(fold(most, larger), |m, &x| larger(x, m));
    let mut sums = [0f32; LANES];
    let mut chunks = row.chunks_exact_mut(LANES);
    for xs in &mut chunks {
        for i in 0..LANES {
            xs[i] = exp_nonpositive(xs[i] - max);
            sums[i] += xs[i];
        }
    }
    let mut sum = fold(sums, |a, b| a + b);
    for x in chunks.into_remainder() {
        *x = exp_nonpositive(*x - max);
        sum += *x;
    }
    for x in row.iter_mut() {
        *x /= sum;
    }
}

#[cfg(test)]
mod tests {
    use candle_core::Device;

    use super::*;

    #[test]
    fn the_fused_softmax_is_candles_within_float_rounding() {
        let dev = Device::Cpu;
        let scores = Tensor::randn(0f32, 3.0, (2, 3, 5, 7), &dev).unwrap();
        // A padding mask, and a full (b, h, s, t) bias as relative positions add.
        let mask = Tensor::new(&[[0f32, 0., 0., 0., 0., f32::MIN, f32::MIN]; 2], &dev)
            .unwrap()
            .reshape((2, 1, 1, 7))
            .unwrap();
        let full = Tensor::randn(0f32, 1.0, (2, 3, 5, 7), &dev).unwrap();
        for bias in [mask, full] {
            let got = softmax_scaled_biased(&scores, &bias, 0.125).unwrap();
            let want = softmax_last_dim(&(&scores * 0.125).unwrap().broadcast_add(&bias).unwrap())
                .unwrap();
            let got: Vec<f32> = got.flatten_all().unwrap().to_vec1().unwrap();
            let want: Vec<f32> = want.flatten_all().unwrap().to_vec1().unwrap();
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() <= 1e-6 * w.max(1e-3), "{g} against {w}");
            }
        }
        let bad = Tensor::zeros((3, 1, 1, 7), DType::F32, &dev).unwrap();
        assert!(softmax_scaled_biased(&scores, &bad, 1.0).is_err());
    }
}

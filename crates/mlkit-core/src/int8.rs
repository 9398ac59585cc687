//! Q8_0 Linear layers multiplied as int8 (`mlkit-int8`'s kernels): the weight taken from a
//! GGUF tensor, the activations from a Candle tensor.

use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{bail, Result, Tensor};
pub use mlkit_int8::{available, Kernel};

/// A Q8_0 weight packed for the int8 kernels, with the bias the kernels add as they store.
#[derive(Clone, Debug)]
pub struct Int8Matmul(mlkit_int8::Int8Matmul);

impl Int8Matmul {
    /// Packs a Q8_0 weight of shape (n, k).
    pub fn new(q: &QTensor) -> Result<Int8Matmul> {
        Self::with_bias(q, None)
    }

    /// Packs a Q8_0 weight of shape (n, k) and a bias of n values (any float dtype).
    pub fn with_bias(q: &QTensor, bias: Option<&Tensor>) -> Result<Int8Matmul> {
        let &[n, k] = q.shape().dims() else {
            bail!("an int8 Linear needs a matrix, not shape {:?}", q.shape());
        };
        if q.dtype() != GgmlDType::Q8_0 {
            bail!("an int8 Linear needs Q8_0 weights, not {:?}", q.dtype());
        }
        let mut packed = mlkit_int8::Int8Matmul::from_q8_0(n, k, &q.data()?)
            .map_err(candle_core::Error::wrap)?;
        if let Some(bias) = bias {
            let values = bias.flatten_all()?.to_dtype(candle_core::DType::F32)?;
            packed = packed
                .with_bias(&values.to_vec1::<f32>()?)
                .map_err(candle_core::Error::wrap)?;
        }
        Ok(Int8Matmul(packed))
    }

    /// `xs` (..., k) times the weight's transpose, plus the bias: (..., n), in f32.
    pub fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        self.forward_then(xs, |_| Ok(()))
    }

    /// `forward`, with `then` run on the fresh result's values before they become a
    /// tensor: an activation or a residual addition in place costs no allocation and no
    /// copy of its own.
    pub fn forward_then(
        &self,
        xs: &Tensor,
        then: impl FnOnce(&mut [f32]) -> Result<()>,
    ) -> Result<Tensor> {
        let Some((_, lead)) = xs.dims().split_last() else {
            bail!("an int8 Linear needs at least one dimension");
        };
        let mut y = self.on_rows(xs, |x, m| self.0.matmul(x, m))?;
        then(&mut y)?;
        let mut shape = lead.to_vec();
        shape.push(self.0.n());
        Tensor::from_vec(y, shape, xs.device())
    }

    /// `forward` on `xs` (b, s, k) with the result split into `heads` attention heads:
    /// (b, heads, s, n / heads), which the kernels store in place of the copy a transpose
    /// costs. `None` where the kernels cannot (see `mlkit_int8::Int8Matmul::matmul_heads`).
    pub fn forward_heads(&self, xs: &Tensor, heads: usize) -> Result<Option<Tensor>> {
        let n = self.0.n();
        let (b, s, _) = xs.dims3()?;
        if heads == 0 || !n.is_multiple_of(heads) {
            return Ok(None);
        }
        let head_dim = n / heads;
        let y = self.on_rows(xs, |x, m| self.0.matmul_heads(x, m, s, head_dim))?;
        y.map(|y| Tensor::from_vec(y, (b, heads, s, head_dim), xs.device()))
            .transpose()
    }

    /// `product` on `xs`' values as rows of the weight's width in f32, with their count:
    /// read in place, where a copy would cost as much as quantizing them.
    fn on_rows<T>(&self, xs: &Tensor, product: impl FnOnce(&[f32], usize) -> T) -> Result<T> {
        let k = self.0.k();
        let width = xs.dims().last().copied().unwrap_or(0);
        if width != k {
            bail!("an int8 Linear of width {k} got inputs of width {width}");
        }
        let xs = xs.to_dtype(candle_core::DType::F32)?.contiguous()?;
        let m = xs.elem_count() / k;
        crate::ops::with_host_f32(&xs, "an int8 Linear", |x| Ok(product(x, m)))
    }

    /// `m` rows of `x` (m x k, row-major) by `kernel` (see `mlkit_int8::Int8Matmul`).
    pub fn matmul_with(&self, kernel: Kernel, x: &[f32], m: usize) -> Vec<f32> {
        self.0.matmul_with(kernel, x, m)
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{DType, Device};

    use super::*;

    #[test]
    fn a_gguf_weight_runs_on_tensors_and_bad_shapes_are_refused() {
        let dev = Device::Cpu;
        let w = Tensor::randn(0f32, 0.5, (40, 64), &dev).unwrap();
        let q = QTensor::quantize(&w, GgmlDType::Q8_0).unwrap();
        let mm = Int8Matmul::new(&q).unwrap();
        let x = Tensor::randn(0f32, 1.0, (2, 3, 64), &dev).unwrap();
        let y = mm.forward(&x).unwrap();
        assert_eq!(y.dims(), [2, 3, 40]);
        // Within activation rounding of the dequantized weights' product: half a step of
        // max |x| / 127 (at most about 4 / 254) times the sum of a row's |w| (about 26).
        let want = x
            .matmul(
                &q.dequantize(&dev)
                    .unwrap()
                    .t()
                    .unwrap()
                    .unsqueeze(0)
                    .unwrap()
                    .broadcast_as((2, 64, 40))
                    .unwrap(),
            )
            .unwrap();
        let diff: f32 = (y - want)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar()
            .unwrap();
        assert!(diff < 0.4, "{diff}");
        let bad = Tensor::zeros((3, 33), DType::F32, &dev).unwrap();
        assert!(mm.forward(&bad).is_err());
        let q4 = QTensor::quantize(
            &Tensor::zeros((16, 32), DType::F32, &dev).unwrap(),
            GgmlDType::Q4_0,
        )
        .unwrap();
        assert!(Int8Matmul::new(&q4).is_err());
    }
}

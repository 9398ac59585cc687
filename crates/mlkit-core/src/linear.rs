//! A Linear layer whose weight is dense (f32/f16/bf16) or quantized (GGUF Q8_0 and kin).
//! Architectures call `Linear::load` and never care which; the q8 kernel is swappable.

use std::collections::HashMap;
use std::sync::Arc;

use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{DType, Module, Result, Tensor};
use candle_nn::VarBuilder;

use crate::int8::{self, Int8Matmul};

/// How Linear weights are stored once loaded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WeightFormat {
    #[default]
    Dense,
    /// Quantized weights; on the CPU multiplied in f32 (exactly the quantized values).
    Quantized(GgmlDType),
    /// Q8_0 weights and int8 activations, multiplied by `int8.rs` on CPUs with AVX-512 VNNI,
    /// AVX-VNNI or aarch64's dot or matrix products (elsewhere as `Quantized(Q8_0)`):
    /// faster, at the cost of rounding the activations.
    Int8,
}

impl WeightFormat {
    /// The quantization of Linear weights, if any.
    fn quantization(self) -> Option<GgmlDType> {
        match self {
            WeightFormat::Dense => None,
            WeightFormat::Quantized(dtype) => Some(dtype),
            WeightFormat::Int8 => Some(GgmlDType::Q8_0),
        }
    }
}

/// How an architecture's Linear layers get their weights: quantized as they are read from
/// a GGUF file (`prequantized`, by tensor name), else from the VarBuilder in `format`.
#[derive(Default)]
pub struct LinearWeights {
    pub format: WeightFormat,
    pub prequantized: HashMap<String, Arc<QTensor>>,
}

#[derive(Clone, Debug)]
pub enum Linear {
    Dense(candle_nn::Linear),
    Quantized {
        weight: QMatMul,
        bias: Option<Tensor>,
    },
    /// Q8_0 weights run by mlkit's own int8 product (`int8::available`), which adds the
    /// bias too.
    Int8(Int8Matmul),
}

impl Linear {
    /// Loads `weight` (out, in) and `bias` (out) under `vb`.
    pub fn load(
        in_dim: usize,
        out_dim: usize,
        vb: VarBuilder,
        weights: &LinearWeights,
    ) -> Result<Self> {
        Self::load_with(in_dim, out_dim, vb, weights, true)
    }

    /// Loads a Linear without a bias (`bias=False` in PyTorch).
    pub fn load_no_bias(
        in_dim: usize,
        out_dim: usize,
        vb: VarBuilder,
        weights: &LinearWeights,
    ) -> Result<Self> {
        Self::load_with(in_dim, out_dim, vb, weights, false)
    }

    fn load_with(
        in_dim: usize,
        out_dim: usize,
        vb: VarBuilder,
        weights: &LinearWeights,
        with_bias: bool,
    ) -> Result<Self> {
        let bias = if with_bias {
            Some(vb.get(out_dim, "bias")?)
        } else {
            None
        };
        let name = format!("{}.weight", vb.prefix());
        if let Some(q) = weights.prequantized.get(&name) {
            if q.shape().dims() != [out_dim, in_dim] {
                candle_core::bail!(
                    "{name} has shape {:?}, expected [{out_dim}, {in_dim}]",
                    q.shape().dims()
                );
            }
            return quantized(q.clone(), bias, weights.format == WeightFormat::Int8);
        }
        let weight = vb.get((out_dim, in_dim), "weight")?;
        Self::from_parts(weight, bias, weights.format)
    }

    pub fn from_parts(weight: Tensor, bias: Option<Tensor>, format: WeightFormat) -> Result<Self> {
        let Some(dtype) = format.quantization() else {
            return Ok(Linear::Dense(candle_nn::Linear::new(weight, bias)));
        };
        // GGUF blocks run along a row: a row that does not split into whole blocks stays
        // dense, as `mlkit quantize` leaves such a matrix in f32.
        if weight.dims().last().copied().unwrap_or(0) % dtype.block_size() != 0 {
            return Ok(Linear::Dense(candle_nn::Linear::new(weight, bias)));
        }
        let q = QTensor::quantize(&weight.to_dtype(candle_core::DType::F32)?, dtype)?;
        quantized(Arc::new(q), bias, format == WeightFormat::Int8)
    }
}

/// A quantized Linear with the kernel that runs it here. On a GPU, Candle's quantized
/// kernels. On the CPU, the weights are expanded to f32 once at load, since Candle's CPU
/// Q8_0 matmul is about 4x slower than its f32 gemm on encoder batches (42 against 165
/// sentences/s for all-MiniLM-L6-v2 on two cores): the file stays small and the numbers are
/// the quantized ones. With `int8` asked for, Q8_0 runs as int8 where `int8::available`
/// (AVX-512 VNNI, AVX-VNNI, aarch64 dot and matrix products; per layer on one core, 1.7x to
/// 2.1x f32's speed with AVX-512 VNNI, 1.2x to 1.3x with AVX-VNNI, `benches/int8_matmul.rs`).
fn quantized(q: Arc<QTensor>, bias: Option<Tensor>, int8: bool) -> Result<Linear> {
    let bias = bias
        .map(|b| b.to_dtype(candle_core::DType::F32))
        .transpose()?;
    if !q.device().is_cpu() {
        return Ok(Linear::Quantized {
            weight: QMatMul::from_arc(q)?,
            bias,
        });
    }
    if int8 && q.dtype() == GgmlDType::Q8_0 && int8::available() {
        return Ok(Linear::Int8(Int8Matmul::with_bias(&q, bias.as_ref())?));
    }
    Ok(Linear::Quantized {
        weight: QMatMul::Tensor(q.dequantize(&q.device())?),
        bias,
    })
}

impl Module for Linear {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        match self {
            Linear::Dense(l) => match l.bias() {
                // Training: the bias through `add_bias`, whose gradient is one column sum.
                Some(bias) if xs.track_op() || l.weight().track_op() => {
                    let product = candle_nn::Linear::new(l.weight().clone(), None).forward(xs)?;
                    crate::ops::add_bias(&product, bias)
                }
                _ => l.forward(xs),
            },
            Linear::Quantized { weight, bias } => {
                let dtype = xs.dtype();
                // Candle's CUDA quantized matmul reads f32 rows in place: it refuses strided
                // inputs. (A no-op for the contiguous activations the encoders pass.)
                let xs = xs.to_dtype(candle_core::DType::F32)?.contiguous()?;
                with_bias(weight.forward(&xs)?, bias)?.to_dtype(dtype)
            }
            // The int8 product takes any float dtype and gives f32.
            Linear::Int8(weight) => weight.forward(xs)?.to_dtype(xs.dtype()),
        }
    }
}

impl Linear {
    /// `forward` on `xs` (b, s, k), split into `heads` attention heads: (b, heads, s,
    /// n / heads), contiguous, as attention takes its queries, keys and values. int8
    /// products store it so, saving a transposing copy of each; the others are copied.
    pub(crate) fn forward_heads(&self, xs: &Tensor, heads: usize) -> Result<Tensor> {
        if let Linear::Int8(weight) = self {
            if xs.device().is_cpu() && !xs.track_op() {
                if let Some(ys) = weight.forward_heads(xs, heads)? {
                    return ys.to_dtype(xs.dtype());
                }
            }
        }
        split_heads(&self.forward(xs)?, heads)
    }

    /// `forward`, then `then` on the result's values in place, for inference on the CPU in
    /// f32: the bias and `then` (an activation, a residual and LayerNorm) in one pass over
    /// a fresh product, where separate operations took a pass and an allocation each, and
    /// Candle's broadcast addition went through rayon even on one thread. int8 products
    /// add their bias as they store. `None` where `then` is not run (a GPU, other dtypes,
    /// training): the caller applies it as an operation on `forward`'s result.
    pub(crate) fn forward_fused(
        &self,
        xs: &Tensor,
        then: impl FnOnce(&mut [f32]) -> Result<()>,
    ) -> Result<Option<Tensor>> {
        let f32_cpu = |t: &Tensor| t.dtype() == DType::F32 && t.device().is_cpu() && !t.track_op();
        if !f32_cpu(xs) {
            return Ok(None);
        }
        let (weight, bias) = match self {
            Linear::Int8(weight) => return weight.forward_then(xs, then).map(Some),
            Linear::Dense(l) => (l.weight(), l.bias()),
            Linear::Quantized {
                weight: QMatMul::Tensor(w),
                bias,
            } => (w, bias.as_ref()),
            Linear::Quantized { .. } => return Ok(None),
        };
        if !f32_cpu(weight) || !bias.is_none_or(f32_cpu) {
            return Ok(None);
        }
        let (n, k) = weight.dims2()?;
        let Some((&width, lead)) = xs.dims().split_last() else {
            return Ok(None);
        };
        if width != k {
            candle_core::bail!("a Linear of width {k} got inputs of width {width}");
        }
        let m = xs.elem_count() / k.max(1);
        let product = xs.reshape((m, k))?.matmul(&weight.t()?)?;
        let mut ys = product.flatten_all()?.to_vec1::<f32>()?;
        if let Some(bias) = bias {
            let bias = bias.flatten_all()?.to_vec1::<f32>()?;
            if bias.len() != n {
                candle_core::bail!("a Linear with {n} outputs has a bias of {}", bias.len());
            }
            crate::ops::add_bias_rows(&mut ys, &bias);
        }
        then(&mut ys)?;
        let mut shape = lead.to_vec();
        shape.push(n);
        Tensor::from_vec(ys, shape, xs.device()).map(Some)
    }
}

/// A projection `ys` (b, s, n) split into `heads` attention heads: (b, heads, s, n /
/// heads), contiguous.
pub(crate) fn split_heads(ys: &Tensor, heads: usize) -> Result<Tensor> {
    let (b, s, n) = ys.dims3()?;
    ys.reshape((b, s, heads, n / heads))?
        .transpose(1, 2)?
        .contiguous()
}

/// Adds `residual`'s values to `ys` in place: the skip connection fused into a product's
/// output (`Linear::forward_fused`). `residual` must be f32, contiguous and on the CPU
/// (`in_place_operand`) and as long as `ys`.
pub(crate) fn add_in_place(ys: &mut [f32], residual: &Tensor) -> Result<()> {
    crate::ops::with_host_f32(residual, "a residual added in place", |rs| {
        if rs.len() != ys.len() {
            candle_core::bail!("a residual of {} values for {}", rs.len(), ys.len());
        }
        for (y, r) in ys.iter_mut().zip(rs) {
            *y += r;
        }
        Ok(())
    })
}

/// Whether `t` can be read in place by an operation fused into a product: f32, contiguous,
/// on the CPU.
pub(crate) fn in_place_operand(t: &Tensor) -> bool {
    t.dtype() == candle_core::DType::F32 && t.is_contiguous() && t.device().is_cpu()
}

fn with_bias(ys: Tensor, bias: &Option<Tensor>) -> Result<Tensor> {
    match bias {
        Some(b) => ys.broadcast_add(b),
        None => Ok(ys),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};

    #[test]
    fn fused_steps_give_the_separate_operations_numbers() {
        let dev = Device::Cpu;
        let x = Tensor::randn(0f32, 1.0, (2, 3, 64), &dev).unwrap();
        let w = Tensor::randn(0f32, 0.2, (40, 64), &dev).unwrap();
        let b = Tensor::randn(0f32, 0.5, 40, &dev).unwrap();
        let formats = [
            WeightFormat::Dense,
            WeightFormat::Quantized(GgmlDType::Q8_0),
            WeightFormat::Int8,
        ];
        for format in formats {
            let l = Linear::from_parts(w.clone(), Some(b.clone()), format).unwrap();
            let want: Vec<f32> = crate::gelu::gelu_erf(&l.forward(&x).unwrap())
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            let fused = l
                .forward_fused(&x, |ys| {
                    crate::gelu::gelu_erf_in_place(ys);
                    Ok(())
                })
                .unwrap()
                .expect("every CPU f32 Linear fuses");
            assert_eq!(fused.dims(), [2, 3, 40]);
            let got: Vec<f32> = fused.flatten_all().unwrap().to_vec1().unwrap();
            assert_eq!(got, want, "{format:?}");
        }
        // Not on a tracked input (training): the caller runs the operation itself.
        let tracked = candle_core::Var::from_tensor(&x).unwrap();
        let l = Linear::from_parts(w, Some(b), WeightFormat::Dense).unwrap();
        let fused = l.forward_fused(tracked.as_tensor(), |_| Ok(())).unwrap();
        assert!(fused.is_none());
    }

    #[test]
    fn rows_that_do_not_split_into_blocks_stay_dense() {
        let q8 = WeightFormat::Quantized(GgmlDType::Q8_0);
        let x = Tensor::ones((2, 37), DType::F32, &Device::Cpu).unwrap();
        let w = Tensor::ones((4, 37), DType::F32, &Device::Cpu).unwrap();
        let l = Linear::from_parts(w, None, q8).unwrap();
        assert!(matches!(l, Linear::Dense(_)));
        let y: Vec<Vec<f32>> = l.forward(&x).unwrap().to_vec2().unwrap();
        assert_eq!(y, vec![vec![37.0; 4]; 2]);

        let x = Tensor::ones((2, 64), DType::F32, &Device::Cpu).unwrap();
        let w = Tensor::ones((4, 64), DType::F32, &Device::Cpu).unwrap();
        let l = Linear::from_parts(w, None, q8).unwrap();
        assert!(matches!(l, Linear::Quantized { .. }));
        let y: Vec<f32> = l
            .forward(&x)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        // Q8_0 keeps each block's scale in f16: 1/127 is not exact.
        assert!(y.iter().all(|v| (v - 64.0).abs() < 0.01), "{y:?}");
    }
}

//! A Linear layer whose weight is dense (f32/f16/bf16) or quantized (GGUF Q8_0 and kin).
//! Architectures call `Linear::load` and never care which; the q8 kernel is swappable.

use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{Module, Result, Tensor};
use candle_nn::VarBuilder;

/// How Linear weights are stored once loaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WeightFormat {
    Dense,
    Quantized(GgmlDType),
}

#[derive(Clone, Debug)]
pub enum Linear {
    Dense(candle_nn::Linear),
    Quantized {
        weight: QMatMul,
        bias: Option<Tensor>,
    },
}

impl Linear {
    /// Loads `weight` (out, in) and `bias` (out) under `vb`.
    pub fn load(
        in_dim: usize,
        out_dim: usize,
        vb: VarBuilder,
        format: WeightFormat,
    ) -> Result<Self> {
        let weight = vb.get((out_dim, in_dim), "weight")?;
        let bias = vb.get(out_dim, "bias")?;
        Self::from_parts(weight, Some(bias), format)
    }

    pub fn from_parts(weight: Tensor, bias: Option<Tensor>, format: WeightFormat) -> Result<Self> {
        match format {
            WeightFormat::Dense => Ok(Linear::Dense(candle_nn::Linear::new(weight, bias))),
            WeightFormat::Quantized(dtype) => {
                let q = QTensor::quantize(&weight.to_dtype(candle_core::DType::F32)?, dtype)?;
                Ok(Linear::Quantized {
                    weight: QMatMul::from_qtensor(q)?,
                    bias: bias
                        .map(|b| b.to_dtype(candle_core::DType::F32))
                        .transpose()?,
                })
            }
        }
    }
}

impl Module for Linear {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        match self {
            Linear::Dense(l) => l.forward(xs),
            Linear::Quantized { weight, bias } => {
                let dtype = xs.dtype();
                let ys = weight.forward(&xs.to_dtype(candle_core::DType::F32)?)?;
                let ys = match bias {
                    Some(b) => ys.broadcast_add(b)?,
                    None => ys,
                };
                ys.to_dtype(dtype)
            }
        }
    }
}

//! Operations with two paths: Candle's fused kernels at inference, and compositions of
//! differentiable primitives when a tensor is being trained. Candle's fused softmax and
//! LayerNorm kernels have no backward pass; which path runs is decided per call by whether
//! an input is tracked by autograd (`Tensor::track_op`), which no inference tensor is.

use candle_core::{Module, Result, Tensor, D};

/// Softmax over the last dimension.
pub fn softmax_last_dim(xs: &Tensor) -> Result<Tensor> {
    if xs.track_op() {
        candle_nn::ops::softmax(xs, D::Minus1)
    } else {
        candle_nn::ops::softmax_last_dim(xs)
    }
}

/// LayerNorm over the last dimension, with or without a bias, as PyTorch computes it (the
/// biased variance).
#[derive(Clone, Debug)]
pub struct LayerNorm {
    weight: Tensor,
    bias: Option<Tensor>,
    eps: f64,
    fast: candle_nn::LayerNorm,
}

impl LayerNorm {
    pub fn new(weight: Tensor, bias: Option<Tensor>, eps: f64) -> Self {
        let fast = match &bias {
            Some(b) => candle_nn::LayerNorm::new(weight.clone(), b.clone(), eps),
            None => candle_nn::LayerNorm::new_no_bias(weight.clone(), eps),
        };
        LayerNorm {
            weight,
            bias,
            eps,
            fast,
        }
    }
}

impl Module for LayerNorm {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let tracked = xs.track_op() || self.weight.track_op();
        if !tracked {
            return self.fast.forward(xs);
        }
        let mean = xs.mean_keepdim(D::Minus1)?;
        let centred = xs.broadcast_sub(&mean)?;
        let var = centred.sqr()?.mean_keepdim(D::Minus1)?;
        let normed = centred.broadcast_div(&(var + self.eps)?.sqrt()?)?;
        let scaled = normed.broadcast_mul(&self.weight)?;
        match &self.bias {
            Some(b) => scaled.broadcast_add(b),
            None => Ok(scaled),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device, Var};

    fn close(a: &Tensor, b: &Tensor) -> f32 {
        (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    }

    #[test]
    fn both_paths_agree_and_the_tracked_one_has_gradients() {
        let dev = Device::Cpu;
        let xs = Tensor::randn(0f32, 3.0, (2, 3, 8), &dev).unwrap();
        let w = Tensor::randn(1f32, 0.1, 8, &dev).unwrap();
        let b = Tensor::randn(0f32, 0.1, 8, &dev).unwrap();
        let plain = LayerNorm::new(w.clone(), Some(b.clone()), 1e-5);
        let var = Var::from_tensor(&xs).unwrap();
        let fast = plain.forward(&xs).unwrap();
        let slow = plain.forward(var.as_tensor()).unwrap();
        assert!(close(&fast, &slow) < 1e-5);
        let s_fast = softmax_last_dim(&xs).unwrap();
        let s_slow = softmax_last_dim(var.as_tensor()).unwrap();
        assert!(close(&s_fast, &s_slow) < 1e-6);
        // d/dx sum(softmax(x) * c) and of the norm: finite, and not all zero.
        let c = Tensor::randn(0f32, 1.0, (2, 3, 8), &dev).unwrap();
        let loss = ((s_slow * &c).unwrap().sum_all().unwrap()
            + (slow * &c).unwrap().sum_all().unwrap())
        .unwrap();
        let grads = loss.backward().unwrap();
        let g = grads.get(var.as_tensor()).unwrap();
        let total = g
            .abs()
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(total.is_finite() && total > 0.0, "{total}");
        assert_eq!(g.dtype(), DType::F32);
    }
}

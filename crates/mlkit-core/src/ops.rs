//! Operations with two paths: Candle's fused kernels at inference, and differentiable ones
//! when a tensor is being trained. Candle's fused softmax and LayerNorm kernels have no
//! backward pass; which path runs is decided per call by whether an input is tracked by
//! autograd (`Tensor::track_op`), which no inference tensor is. On the CPU in f32, training
//! runs LayerNorm and bias additions as single-pass kernels with hand-written backward
//! passes: Candle's composed versions reduce over leading dimensions element by element,
//! which took a third of a MiniLM training step.

use candle_core::{
    CpuStorage, CustomOp2, CustomOp3, DType, Layout, Module, Result, Shape, Tensor, D,
};

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
    /// The weight and bias (zeros where none) as host values, for weights that are f32 on
    /// the CPU and not trained: inference normalises rows in place (`normalize_in_place`).
    host: Option<(Vec<f32>, Vec<f32>)>,
}

impl LayerNorm {
    pub fn new(weight: Tensor, bias: Option<Tensor>, eps: f64) -> Self {
        let fast = match &bias {
            Some(b) => candle_nn::LayerNorm::new(weight.clone(), b.clone(), eps),
            None => candle_nn::LayerNorm::new_no_bias(weight.clone(), eps),
        };
        let host = host_values(&weight, bias.as_ref());
        LayerNorm {
            weight,
            bias,
            eps,
            fast,
            host,
        }
    }

    /// Normalises each row of `ys` (rows of the weight's width) in place, where the weights
    /// are host values (`on_host`). One pass less than an operation on a tensor: inference
    /// runs it on a product's fresh output (`Linear::forward_fused`).
    pub(crate) fn normalize_in_place(&self, ys: &mut [f32]) -> Result<()> {
        let Some((w, b)) = &self.host else {
            candle_core::bail!("this LayerNorm's weights are not f32 values on the CPU")
        };
        if w.is_empty() || !ys.len().is_multiple_of(w.len()) {
            candle_core::bail!("LayerNorm of width {} over {} values", w.len(), ys.len())
        }
        layer_norm_rows(ys, w, b, self.eps as f32);
        Ok(())
    }

    /// Whether `normalize_in_place` runs: the weights are f32 on the CPU and not trained.
    pub(crate) fn on_host(&self) -> bool {
        self.host.is_some() && !self.weight.track_op()
    }
}

/// The weight and bias as host values, if both are f32 on the CPU and not trained.
fn host_values(weight: &Tensor, bias: Option<&Tensor>) -> Option<(Vec<f32>, Vec<f32>)> {
    let untrained = |t: &Tensor| {
        t.device().is_cpu() && t.dtype() == DType::F32 && !t.track_op() && t.rank() == 1
    };
    if !untrained(weight) || !bias.is_none_or(untrained) {
        return None;
    }
    let w = weight.to_vec1::<f32>().ok()?;
    let b = match bias {
        Some(b) => b.to_vec1::<f32>().ok()?,
        None => vec![0.0; w.len()],
    };
    (b.len() == w.len()).then_some((w, b))
}

widest_vectors! {
    /// LayerNorm of each row in place: the mean, then the biased variance about it (two
    /// passes, as PyTorch), each summed in vector lanes.
    fn layer_norm_rows(ys: &mut [f32], weight: &[f32], bias: &[f32], eps: f32) {
        let n = weight.len();
        for row in ys.chunks_exact_mut(n) {
            let (mean, rstd) = mean_rstd(row, eps);
            for ((y, w), b) in row.iter_mut().zip(weight).zip(bias) {
                *y = (*y - mean) * rstd * w + b;
            }
        }
    }
}

/// A row's mean and 1 / standard deviation (the biased variance, about the mean), summed
/// in vector lanes: what LayerNorm normalises by, forward and backward.
#[inline(always)]
fn mean_rstd(row: &[f32], eps: f32) -> (f32, f32) {
    let n = row.len() as f32;
    let mean = crate::vector::sum(row, |x| x) / n;
    let var = crate::vector::sum(row, |x| (x - mean) * (x - mean)) / n;
    (mean, 1.0 / (var + eps).sqrt())
}

impl Module for LayerNorm {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let tracked = xs.track_op() || self.weight.track_op();
        if !tracked {
            if self.on_host() && xs.device().is_cpu() && xs.dtype() == DType::F32 {
                let mut ys = xs.flatten_all()?.to_vec1::<f32>()?;
                self.normalize_in_place(&mut ys)?;
                return Tensor::from_vec(ys, xs.shape(), xs.device());
            }
            return self.fast.forward(xs);
        }
        if let Some(bias) = &self.bias {
            if host_f32(&[xs, &self.weight, bias]) {
                return xs.contiguous()?.apply_op3(
                    &self.weight,
                    bias,
                    HostLayerNorm { eps: self.eps },
                );
            }
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

/// Whether every tensor is f32 on the CPU: the single-pass training kernels' domain.
fn host_f32(ts: &[&Tensor]) -> bool {
    ts.iter()
        .all(|t| t.device().is_cpu() && t.dtype() == DType::F32)
}

fn contiguous_f32<'a>(s: &'a CpuStorage, l: &Layout, op: &str) -> Result<&'a [f32]> {
    let CpuStorage::F32(data) = s else {
        candle_core::bail!("{op}: f32 only")
    };
    let Some((start, end)) = l.contiguous_offsets() else {
        candle_core::bail!("{op}: contiguous input only")
    };
    Ok(&data[start..end])
}

/// `f` on `t`'s values in place, for a tensor that is f32, contiguous and on the CPU (else
/// an error naming `op`): what operations fused into a product read without a copy.
pub(crate) fn with_host_f32<T>(
    t: &Tensor,
    op: &str,
    f: impl FnOnce(&[f32]) -> Result<T>,
) -> Result<T> {
    let (storage, layout) = t.storage_and_layout();
    let candle_core::Storage::Cpu(cpu) = &*storage else {
        candle_core::bail!("{op}: CPU tensors only")
    };
    f(contiguous_f32(cpu, layout, op)?)
}

/// Adds `bias` (n values) to each row of n values of `ys`, in place.
pub(crate) fn add_bias_rows(ys: &mut [f32], bias: &[f32]) {
    for row in ys.chunks_exact_mut(bias.len().max(1)) {
        for (y, b) in row.iter_mut().zip(bias) {
            *y += b;
        }
    }
}

/// `xs + bias` with `bias` (n) broadcast over the rows of `xs` (.., n): while training on
/// the CPU in f32, one pass forward and a column sum for the bias's gradient.
pub fn add_bias(xs: &Tensor, bias: &Tensor) -> Result<Tensor> {
    if (xs.track_op() || bias.track_op()) && host_f32(&[xs, bias]) {
        return xs.contiguous()?.apply_op2(bias, HostBiasAdd);
    }
    xs.broadcast_add(bias)
}

struct HostBiasAdd;

impl CustomOp2 for HostBiasAdd {
    fn name(&self) -> &'static str {
        "mlkit-bias-add"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let xs = contiguous_f32(s1, l1, self.name())?;
        let bias = contiguous_f32(s2, l2, self.name())?;
        let n = bias.len();
        if n == 0 || xs.len() % n != 0 {
            candle_core::bail!("mlkit-bias-add: rows of {} and a bias of {n}", xs.len())
        }
        let mut out = xs.to_vec();
        add_bias_rows(&mut out, bias);
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        _xs: &Tensor,
        bias: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let n = bias.elem_count();
        let mut sums = vec![0f32; n];
        with_host_f32(&grad.contiguous()?, self.name(), |g| {
            for row in g.chunks_exact(n.max(1)) {
                for (s, v) in sums.iter_mut().zip(row) {
                    *s += v;
                }
            }
            Ok(())
        })?;
        Ok((
            Some(grad.clone()),
            Some(Tensor::from_vec(sums, bias.shape(), bias.device())?),
        ))
    }
}

/// LayerNorm of the last dimension with a backward pass (PyTorch's formulas).
struct HostLayerNorm {
    eps: f64,
}

impl CustomOp3 for HostLayerNorm {
    fn name(&self) -> &'static str {
        "mlkit-layer-norm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let xs = contiguous_f32(s1, l1, self.name())?;
        let w = contiguous_f32(s2, l2, self.name())?;
        let b = contiguous_f32(s3, l3, self.name())?;
        let n = w.len();
        if n == 0 || b.len() != n || xs.len() % n != 0 {
            candle_core::bail!("mlkit-layer-norm: rows of {} with {n} weights", xs.len())
        }
        let mut out = xs.to_vec();
        layer_norm_rows(&mut out, w, b, self.eps as f32);
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        xs: &Tensor,
        weight: &Tensor,
        bias: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let n = weight.elem_count();
        let name = self.name();
        let (xs_c, grad_c) = (xs.contiguous()?, grad.contiguous()?);
        let eps = self.eps as f32;
        let (dx, dw, db) = with_host_f32(&xs_c, name, |x| {
            with_host_f32(weight, name, |w| {
                with_host_f32(&grad_c, name, |g| {
                    if n == 0 || x.len() != g.len() || x.len() % n != 0 {
                        candle_core::bail!("{name}: {} gradients for {} inputs", g.len(), x.len())
                    }
                    Ok(layer_norm_backward(x, w, g, eps))
                })
            })
        })?;
        let t = |v: Vec<f32>, like: &Tensor| Tensor::from_vec(v, like.shape(), like.device());
        Ok((Some(t(dx, xs)?), Some(t(dw, weight)?), Some(t(db, bias)?)))
    }
}

/// Rows per block of `layer_norm_backward`: the unit of work of a thread, and of the
/// weight and bias gradients' partial sums.
const BACKWARD_ROWS: usize = 16;

/// One block of rows of `layer_norm_backward`: its input gradients and its share of the
/// weight and bias gradients.
struct RowsBackward<'a> {
    dx: &'a mut [f32],
    dw: Vec<f32>,
    db: Vec<f32>,
}

/// LayerNorm's backward pass (PyTorch's formulas) over rows of `w.len()` inputs `x` with
/// output gradients `g`: the gradients of the inputs, the weight and the bias. Rows run in
/// blocks on Candle's threads; the blocks' weight and bias sums are added in order, so the
/// thread count changes no number.
fn layer_norm_backward(
    x: &[f32],
    w: &[f32],
    g: &[f32],
    eps: f32,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let n = w.len();
    let mut dx = vec![0f32; x.len()];
    let mut blocks: Vec<RowsBackward> = dx
        .chunks_mut(BACKWARD_ROWS * n)
        .map(|dx| RowsBackward {
            dx,
            dw: vec![0f32; n],
            db: vec![0f32; n],
        })
        .collect();
    crate::parallel::for_parts(&mut blocks, x.len(), |first, part| {
        let (mut xhat, mut dxhat) = (vec![0f32; n], vec![0f32; n]);
        for (k, block) in part.iter_mut().enumerate() {
            let start = (first + k) * BACKWARD_ROWS * n;
            let rows = x[start..].chunks_exact(n).zip(g[start..].chunks_exact(n));
            for ((row, grow), out) in rows.zip(block.dx.chunks_exact_mut(n)) {
                let (mean, rstd) = mean_rstd(row, eps);
                for j in 0..n {
                    xhat[j] = (row[j] - mean) * rstd;
                    dxhat[j] = grow[j] * w[j];
                    block.dw[j] += grow[j] * xhat[j];
                    block.db[j] += grow[j];
                }
                let mean_d = crate::vector::sum(&dxhat, |d| d) / n as f32;
                let mean_dx = crate::vector::dot(&dxhat, &xhat) / n as f32;
                for j in 0..n {
                    out[j] = rstd * (dxhat[j] - mean_d - xhat[j] * mean_dx);
                }
            }
        }
    });
    let (mut dw, mut db) = (vec![0f32; n], vec![0f32; n]);
    for block in &blocks {
        for j in 0..n {
            dw[j] += block.dw[j];
            db[j] += block.db[j];
        }
    }
    (dx, dw, db)
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
    fn the_host_layer_norm_is_candles_within_rounding() {
        let dev = Device::Cpu;
        for (width, with_bias) in [(8, true), (37, true), (384, true), (384, false)] {
            let xs = (Tensor::randn(0f32, 3.0, (2, 5, width), &dev).unwrap() + 4.0).unwrap();
            let w = Tensor::randn(1f32, 0.1, width, &dev).unwrap();
            let b = with_bias.then(|| Tensor::randn(0f32, 0.1, width, &dev).unwrap());
            let ours = LayerNorm::new(w.clone(), b.clone(), 1e-12);
            assert!(ours.on_host());
            let candle = match b {
                Some(b) => candle_nn::LayerNorm::new(w, b, 1e-12),
                None => candle_nn::LayerNorm::new_no_bias(w, 1e-12),
            };
            let (got, want) = (ours.forward(&xs).unwrap(), candle.forward(&xs).unwrap());
            assert!(close(&got, &want) < 1e-5, "width {width}");
        }
    }

    /// The hand-written backward pass against Candle's autograd through the composed
    /// formula, on more rows than one block (and thread) takes, the last block short.
    #[test]
    fn layer_norm_gradients_are_autograds_of_the_composed_formula() {
        let dev = Device::Cpu;
        let xs = (Tensor::randn(0f32, 2.0, (3, 101, 384), &dev).unwrap() + 1.0).unwrap();
        let w = Tensor::randn(1f32, 0.1, 384, &dev).unwrap();
        let b = Tensor::randn(0f32, 0.1, 384, &dev).unwrap();
        let c = Tensor::randn(0f32, 1.0, (3, 101, 384), &dev).unwrap();
        let gradients = |host: bool| -> Vec<Tensor> {
            let vars = [&xs, &w, &b].map(|t| Var::from_tensor(t).unwrap());
            let [x, w, b] = [0, 1, 2].map(|i| vars[i].as_tensor().clone());
            let ys = if host {
                LayerNorm::new(w, Some(b), 1e-5).forward(&x).unwrap()
            } else {
                let mean = x.mean_keepdim(D::Minus1).unwrap();
                let centred = x.broadcast_sub(&mean).unwrap();
                let var = centred.sqr().unwrap().mean_keepdim(D::Minus1).unwrap();
                let rstd = (var + 1e-5).unwrap().sqrt().unwrap();
                let xhat = centred.broadcast_div(&rstd).unwrap();
                xhat.broadcast_mul(&w).unwrap().broadcast_add(&b).unwrap()
            };
            let grads = (ys * &c).unwrap().sum_all().unwrap().backward().unwrap();
            vars.iter()
                .map(|v| grads.get(v.as_tensor()).unwrap().clone())
                .collect()
        };
        let (ours, autograd) = (gradients(true), gradients(false));
        for (name, (a, b)) in ["input", "weight", "bias"]
            .iter()
            .zip(ours.iter().zip(&autograd))
        {
            let scale = b.abs().unwrap().flatten_all().unwrap().max(0).unwrap();
            let scale = scale.to_scalar::<f32>().unwrap();
            assert!(
                close(a, b) <= 1e-5 * scale,
                "{name}: {} of {scale}",
                close(a, b)
            );
        }
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

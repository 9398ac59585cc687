//! The optimiser of transformers' fine-tuning recipes: AdamW with weight decay on every
//! weight but biases and LayerNorm scales, a learning rate warmed up linearly then decayed
//! linearly to zero (`get_linear_schedule_with_warmup`), and gradients clipped to a global
//! L2 norm (`clip_grad_norm_`). On the CPU the update is one pass over each parameter, its
//! gradient and its moments, in place (Candle's AdamW allocates a dozen temporaries per
//! parameter: a fifth of a MiniLM step went to it and the page faults it caused).

use std::cell::RefCell;

use candle_core::backprop::GradStore;
use candle_core::{CpuStorage, DType, InplaceOp1, Layout, Result, Storage, Tensor, Var};
use mlkit_core::parallel::{for_parts, BLOCK_VALUES};

/// Linear warm-up over `warmup` steps, then linear decay to 0 at `total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Schedule {
    pub total: usize,
    pub warmup: usize,
}

impl Schedule {
    /// The factor on the learning rate for the optimiser step that follows `done` steps
    /// (torch's LambdaLR: the first step runs at factor(0), 0 when there is a warm-up).
    pub fn factor(&self, done: usize) -> f64 {
        if done < self.warmup {
            return done as f64 / self.warmup.max(1) as f64;
        }
        let left = self.total.saturating_sub(done) as f64;
        (left / self.total.saturating_sub(self.warmup).max(1) as f64).max(0.0)
    }
}

/// transformers' recipes exempt biases and LayerNorm weights from weight decay.
pub fn decays(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    let norm = lower.contains("norm") && lower.ends_with("weight");
    !(lower.ends_with("bias") || norm || lower.ends_with("gamma") || lower.ends_with("beta"))
}

const BETA1: f64 = 0.9;
const BETA2: f64 = 0.999;
const EPS: f64 = 1e-8;

/// A parameter's first and second moments: on the host for f32 CPU parameters, else
/// tensors beside the parameter.
enum Moments {
    Host(Vec<f32>, Vec<f32>),
    Device(Tensor, Tensor),
}

struct Param {
    var: Var,
    weight_decay: f64,
    moments: Moments,
}

/// The scalars of one update, as torch's single-tensor AdamW computes them.
#[derive(Clone, Copy)]
struct Update {
    lr: f64,
    weight_decay: f64,
    /// lr / (1 - beta1^t).
    step_size: f64,
    /// sqrt(1 - beta2^t).
    bias_correction2_sqrt: f64,
    /// The gradient's scale (clipping).
    scale: f64,
}

pub struct Optimizer {
    params: Vec<Param>,
    lr: f64,
    schedule: Schedule,
    clip: Option<f64>,
    done: usize,
}

impl Optimizer {
    /// AdamW over `vars` (named) at peak learning rate `lr` (torch's defaults: betas 0.9 and
    /// 0.999, eps 1e-8), `weight_decay` on the weights `decays` names; gradients clipped to
    /// `clip` when given.
    pub fn new(
        vars: &[(String, Var)],
        lr: f64,
        weight_decay: f64,
        schedule: Schedule,
        clip: Option<f64>,
    ) -> Result<Self> {
        let params = vars
            .iter()
            .filter(|(_, v)| v.dtype().is_float())
            .map(|(name, var)| {
                let n = var.elem_count();
                let moments = if var.device().is_cpu() && var.dtype() == DType::F32 {
                    Moments::Host(vec![0.0; n], vec![0.0; n])
                } else {
                    Moments::Device(var.zeros_like()?, var.zeros_like()?)
                };
                Ok(Param {
                    var: var.clone(),
                    weight_decay: if decays(name) { weight_decay } else { 0.0 },
                    moments,
                })
            })
            .collect::<Result<_>>()?;
        Ok(Optimizer {
            params,
            lr,
            schedule,
            clip,
            done: 0,
        })
    }

    /// The learning rate of the next step.
    pub fn learning_rate(&self) -> f64 {
        self.lr * self.schedule.factor(self.done)
    }

    /// What gradients of global norm `norm` are multiplied by (torch's clip_grad_norm_:
    /// max_norm / (norm + 1e-6) when that is below 1).
    pub fn clip_scale(&self, norm: f64) -> f64 {
        match self.clip {
            Some(max) if max / (norm + 1e-6) < 1.0 => max / (norm + 1e-6),
            _ => 1.0,
        }
    }

    /// One update from `grads` (taken out of the store): clipped, at the scheduled learning
    /// rate. Returns the gradients' global norm before clipping.
    pub fn step(&mut self, grads: &mut GradStore) -> Result<f64> {
        let mut found = Vec::with_capacity(self.params.len());
        let mut squares = 0f64;
        for p in &self.params {
            let g = match grads.remove(p.var.as_tensor()) {
                Some(g) => Some(g.contiguous()?),
                None => None,
            };
            if let Some(g) = &g {
                squares += sum_of_squares(g)?;
            }
            found.push(g);
        }
        let norm = squares.sqrt();
        // torch: clip_coef = max_norm / (total_norm + 1e-6), applied when below 1.
        let scale = self.clip_scale(norm);
        let t = (self.done + 1) as i32;
        let lr = self.learning_rate();
        for (p, g) in self.params.iter_mut().zip(found) {
            let Some(g) = g else { continue };
            let u = Update {
                lr,
                weight_decay: p.weight_decay,
                step_size: lr / (1.0 - BETA1.powi(t)),
                bias_correction2_sqrt: (1.0 - BETA2.powi(t)).sqrt(),
                scale,
            };
            p.update(&g, u)?;
        }
        self.done += 1;
        Ok(norm)
    }
}

/// Sum of squares of a contiguous gradient, read in place on the CPU.
fn sum_of_squares(g: &Tensor) -> Result<f64> {
    if let Some(total) = with_host_f32(g, host_sum_of_squares)? {
        return Ok(total);
    }
    Ok(f64::from(
        g.to_dtype(DType::F32)?
            .sqr()?
            .sum_all()?
            .to_scalar::<f32>()?,
    ))
}

/// The squares of `values` summed in f64, on Candle's thread count for large gradients
/// (a MiniLM step has 22.7 million gradient values; one thread adding them into one
/// accumulator waited on each addition: 3% of a step). Blocks of `BLOCK_VALUES` are summed
/// alone and their sums added in order, so the norm does not depend on how many threads
/// computed it.
fn host_sum_of_squares(values: &[f32]) -> f64 {
    let blocks: Vec<&[f32]> = values.chunks(BLOCK_VALUES).collect();
    let mut sums = vec![0f64; blocks.len()];
    for_parts(&mut sums, values.len(), |first, out| {
        for (i, sum) in out.iter_mut().enumerate() {
            *sum = lanes_sum_of_squares(blocks[first + i]);
        }
    });
    sums.iter().sum()
}

/// Sum of squares over eight independent f64 lanes, which the compiler vectorises.
fn lanes_sum_of_squares(values: &[f32]) -> f64 {
    const LANES: usize = 8;
    let mut acc = [0f64; LANES];
    let chunks = values.chunks_exact(LANES);
    let rest = chunks.remainder();
    for chunk in chunks {
        for (a, &x) in acc.iter_mut().zip(chunk) {
            *a += f64::from(x * x);
        }
    }
    for (a, &x) in acc.iter_mut().zip(rest) {
        *a += f64::from(x * x);
    }
    acc.iter().sum()
}

/// `f` over a contiguous f32 CPU tensor's values, without copying them; None elsewhere.
fn with_host_f32<T>(t: &Tensor, f: impl FnOnce(&[f32]) -> T) -> Result<Option<T>> {
    let (storage, layout) = t.storage_and_layout();
    let (Storage::Cpu(CpuStorage::F32(data)), Some((start, end))) =
        (&*storage, layout.contiguous_offsets())
    else {
        return Ok(None);
    };
    Ok(Some(f(&data[start..end])))
}

impl Param {
    fn update(&mut self, g: &Tensor, u: Update) -> Result<()> {
        match &mut self.moments {
            Moments::Host(m, v) => {
                let done = with_host_f32(g, |g| {
                    self.var.as_tensor().inplace_op1(&HostAdamW {
                        g,
                        m: RefCell::new(m),
                        v: RefCell::new(v),
                        u,
                    })
                })?;
                match done {
                    Some(r) => r,
                    None => candle_core::bail!("a CPU parameter with a gradient elsewhere"),
                }
            }
            Moments::Device(m, v) => {
                let g = (g * u.scale)?;
                let theta = (self.var.as_tensor() * (1.0 - u.lr * u.weight_decay))?;
                let next_m = ((&*m * BETA1)? + (&g * (1.0 - BETA1))?)?;
                let next_v = ((&*v * BETA2)? + (g.sqr()? * (1.0 - BETA2))?)?;
                let denom = ((next_v.sqrt()? / u.bias_correction2_sqrt)? + EPS)?;
                let next = (theta - ((&next_m / denom)? * u.step_size)?)?;
                self.var.set(&next)?;
                *m = next_m;
                *v = next_v;
                Ok(())
            }
        }
    }
}

/// One AdamW update of a parameter in place, with its moments, in a single pass.
struct HostAdamW<'a> {
    g: &'a [f32],
    m: RefCell<&'a mut Vec<f32>>,
    v: RefCell<&'a mut Vec<f32>>,
    u: Update,
}

impl InplaceOp1 for HostAdamW<'_> {
    fn name(&self) -> &'static str {
        "mlkit-adamw"
    }

    fn cpu_fwd(&self, storage: &mut CpuStorage, layout: &Layout) -> Result<()> {
        let CpuStorage::F32(data) = storage else {
            candle_core::bail!("mlkit-adamw: f32 only")
        };
        let Some((start, end)) = layout.contiguous_offsets() else {
            candle_core::bail!("mlkit-adamw: contiguous parameters only")
        };
        let theta = &mut data[start..end];
        let (mut m, mut v) = (self.m.borrow_mut(), self.v.borrow_mut());
        let (m, v) = (m.as_mut_slice(), v.as_mut_slice());
        if theta.len() != self.g.len() || m.len() != theta.len() || v.len() != theta.len() {
            candle_core::bail!("mlkit-adamw: a gradient or moment of another size")
        }
        let u = self.u;
        // Parameters split into the blocks `for_blocks` uses, updated on Candle's threads:
        // the update of each element reads only its own gradient and moments.
        let mut blocks: Vec<_> = theta
            .chunks_mut(BLOCK_VALUES)
            .zip(m.chunks_mut(BLOCK_VALUES))
            .zip(v.chunks_mut(BLOCK_VALUES))
            .zip(self.g.chunks(BLOCK_VALUES))
            .map(|(((p, m), v), g)| (p, m, v, g))
            .collect();
        let elements = self.g.len();
        for_parts(&mut blocks, elements, |_, part| {
            for (p, m, v, g) in part.iter_mut() {
                adamw(p, m, v, g, u);
            }
        });
        Ok(())
    }
}

/// torch's single-tensor AdamW on one block of a parameter and its moments.
fn adamw(theta: &mut [f32], m: &mut [f32], v: &mut [f32], g: &[f32], u: Update) {
    let decay = (1.0 - u.lr * u.weight_decay) as f32;
    let (scale, step) = (u.scale as f32, u.step_size as f32);
    let (b1, b2, bc2) = (BETA1 as f32, BETA2 as f32, u.bias_correction2_sqrt as f32);
    let eps = EPS as f32;
    for (((p, &g), m), v) in theta.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
        let g = g * scale;
        *m += (1.0 - b1) * (g - *m);
        *v = b2 * *v + (1.0 - b2) * g * g;
        *p = *p * decay - step * *m / (v.sqrt() / bc2 + eps);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_matches_transformers_linear_warmup() {
        let s = Schedule {
            total: 10,
            warmup: 2,
        };
        let f: Vec<f64> = (0..=10).map(|d| s.factor(d)).collect();
        assert_eq!(f[0], 0.0);
        assert_eq!(f[1], 0.5);
        assert_eq!(f[2], 1.0);
        assert_eq!(f[6], 0.5);
        assert_eq!(f[10], 0.0);
        let none = Schedule {
            total: 4,
            warmup: 0,
        };
        assert_eq!(none.factor(0), 1.0);
    }

    #[test]
    fn biases_and_norms_do_not_decay() {
        assert!(decays("bert.encoder.layer.0.attention.self.query.weight"));
        assert!(decays("classifier.weight"));
        assert!(!decays("classifier.bias"));
        assert!(!decays("bert.embeddings.LayerNorm.weight"));
        assert!(!decays(
            "distilbert.transformer.layer.0.sa_layer_norm.weight"
        ));
        assert!(!decays("bert.embeddings.LayerNorm.gamma"));
    }

    /// The in-place host update and the tensor (device) formulation agree.
    #[test]
    fn host_and_device_updates_agree() {
        let dev = candle_core::Device::Cpu;
        let init = Tensor::randn(0f32, 1.0, (3, 5), &dev).unwrap();
        let grad = Tensor::randn(0f32, 1.0, (3, 5), &dev).unwrap();
        let run = |host: bool| {
            let var = Var::from_tensor(&init.copy().unwrap()).unwrap();
            let mut p = Param {
                var: var.clone(),
                weight_decay: 0.01,
                moments: if host {
                    Moments::Host(vec![0.0; 15], vec![0.0; 15])
                } else {
                    Moments::Device(init.zeros_like().unwrap(), init.zeros_like().unwrap())
                },
            };
            for t in 1..=3 {
                let u = Update {
                    lr: 1e-2,
                    weight_decay: 0.01,
                    step_size: 1e-2 / (1.0 - BETA1.powi(t)),
                    bias_correction2_sqrt: (1.0 - BETA2.powi(t)).sqrt(),
                    scale: 0.5,
                };
                p.update(&grad, u).unwrap();
            }
            var.as_tensor()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
        };
        let (a, b) = (run(true), run(false));
        let start = init.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        for ((x, y), s) in a.iter().zip(&b).zip(&start) {
            assert!((x - y).abs() < 1e-6, "{x} vs {y}");
            assert!((x - s).abs() > 1e-3, "the parameter moved");
        }
    }
}

//! The optimiser of transformers' fine-tuning recipes: AdamW with weight decay on every
//! weight but biases and LayerNorm scales, a learning rate warmed up linearly then decayed
//! linearly to zero (`get_linear_schedule_with_warmup`), and gradients clipped to a global
//! L2 norm (`clip_grad_norm_`).

use candle_core::backprop::GradStore;
use candle_core::{Result, Var};
use candle_nn::{AdamW, Optimizer as _, ParamsAdamW};

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

pub struct Optimizer {
    decayed: AdamW,
    plain: AdamW,
    vars: Vec<Var>,
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
        let params = |weight_decay| ParamsAdamW {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay,
        };
        let pick = |decay: bool| -> Vec<Var> {
            vars.iter()
                .filter(|(n, _)| decays(n) == decay)
                .map(|(_, v)| v.clone())
                .collect()
        };
        Ok(Optimizer {
            decayed: AdamW::new(pick(true), params(weight_decay))?,
            plain: AdamW::new(pick(false), params(0.0))?,
            vars: vars.iter().map(|(_, v)| v.clone()).collect(),
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

    /// Steps taken.
    pub fn steps(&self) -> usize {
        self.done
    }

    /// One update from `grads`: clipped, at the scheduled learning rate. Returns the
    /// gradients' global norm before clipping.
    pub fn step(&mut self, grads: &mut GradStore) -> Result<f64> {
        let mut squares = 0f64;
        for v in &self.vars {
            if let Some(g) = grads.get(v.as_tensor()) {
                squares += f64::from(g.sqr()?.sum_all()?.to_scalar::<f32>()?);
            }
        }
        let norm = squares.sqrt();
        if let Some(max) = self.clip {
            // torch: clip_coef = max_norm / (total_norm + 1e-6), applied when below 1.
            let coef = max / (norm + 1e-6);
            if coef < 1.0 {
                for v in &self.vars {
                    if let Some(g) = grads.remove(v.as_tensor()) {
                        grads.insert(v.as_tensor(), (g * coef)?);
                    }
                }
            }
        }
        let lr = self.learning_rate();
        self.decayed.set_learning_rate(lr);
        self.plain.set_learning_rate(lr);
        self.decayed.step(grads)?;
        self.plain.step(grads)?;
        self.done += 1;
        Ok(norm)
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
}

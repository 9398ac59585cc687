//! Dropout while training, seeded. Inference never turns it on; the trainer does for the
//! length of a forward pass (`during`), so the architectures call `hidden`, `attention` and
//! `classifier` at the places transformers applies dropout without carrying a training flag
//! through every layer. The state is per thread: the forward pass runs on the thread that
//! asked for it (Candle parallelises inside operations only).

use std::cell::RefCell;

use candle_core::{Result, Tensor};

use mlkit_rng::Rng;

use crate::unpad::Rows;

/// Dropout probabilities, as config.json names them for BERT-like models.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Rates {
    /// `hidden_dropout_prob`: embeddings and each sub-layer's output.
    pub hidden: f64,
    /// `attention_probs_dropout_prob`: the attention probabilities.
    pub attention: f64,
    /// `classifier_dropout` (else `hidden_dropout_prob`): before a task head's last layer.
    pub classifier: f64,
}

struct Active {
    rates: Rates,
    rng: Rng,
}

thread_local! {
    static ACTIVE: RefCell<Option<Active>> = const { RefCell::new(None) };
}

/// Runs `f` with dropout at `rates`, drawing masks from `rng` (advanced by what `f` drew).
pub fn during<T>(rates: Rates, rng: &mut Rng, f: impl FnOnce() -> T) -> T {
    let previous = ACTIVE.with(|a| {
        a.borrow_mut().replace(Active {
            rates,
            rng: rng.clone(),
        })
    });
    let out = f();
    let finished = ACTIVE.with(|a| std::mem::replace(&mut *a.borrow_mut(), previous));
    if let Some(finished) = finished {
        *rng = finished.rng;
    }
    out
}

/// Whether a forward pass on this thread is inside `during` (training).
pub fn is_active() -> bool {
    ACTIVE.with(|a| a.borrow().is_some())
}

fn apply(xs: &Tensor, rate: impl Fn(&Rates) -> f64) -> Result<Tensor> {
    apply_to_rows(xs, None, rate)
}

/// Dropout on `xs`; with `rows`, `xs` is the real tokens' rows of a padded batch (see
/// `unpad`) and the masks are drawn as over the whole padded batch, the padding's draws
/// passed over, so that a seed gives the same masks either way.
fn apply_to_rows(xs: &Tensor, rows: Option<&Rows>, rate: impl Fn(&Rates) -> f64) -> Result<Tensor> {
    let mask = ACTIVE.with(|a| -> Result<Option<Tensor>> {
        let mut a = a.borrow_mut();
        let Some(active) = a.as_mut() else {
            return Ok(None);
        };
        let p = rate(&active.rates);
        if p <= 0.0 {
            return Ok(None);
        }
        // Kept units are scaled by 1 / (1 - p), as torch.nn.Dropout does.
        let scale = (1.0 / (1.0 - p)) as f32;
        let mut draw = || if active.rng.unit() >= p { scale } else { 0.0 };
        let keep: Vec<f32> = match rows {
            None => (0..xs.elem_count()).map(|_| draw()).collect(),
            Some(rows) => {
                let (n, width) = xs.dims2()?;
                if n != rows.kept().len() {
                    candle_core::bail!("dropout on {n} rows of a batch of {}", rows.kept().len())
                }
                let mut keep = Vec::with_capacity(n * width);
                let mut kept = rows.kept().iter().peekable();
                for position in 0..rows.padded_len() as u32 {
                    let real = kept.next_if_eq(&&position).is_some();
                    for _ in 0..width {
                        let unit = draw();
                        if real {
                            keep.push(unit);
                        }
                    }
                }
                keep
            }
        };
        Ok(Some(
            Tensor::from_vec(keep, xs.shape(), xs.device())?.to_dtype(xs.dtype())?,
        ))
    })?;
    match mask {
        Some(m) => xs.mul(&m),
        None => Ok(xs.clone()),
    }
}

/// Dropout on embeddings and sub-layer outputs.
pub fn hidden(xs: &Tensor) -> Result<Tensor> {
    apply(xs, |r| r.hidden)
}

/// `hidden` on the real tokens' rows (tokens, width) of a padded batch, with the masks the
/// padded batch would draw for them.
pub fn hidden_rows(xs: &Tensor, rows: &Rows) -> Result<Tensor> {
    apply_to_rows(xs, Some(rows), |r| r.hidden)
}

/// Dropout on attention probabilities.
pub fn attention(xs: &Tensor) -> Result<Tensor> {
    apply(xs, |r| r.attention)
}

/// Dropout before a task head's output layer.
pub fn classifier(xs: &Tensor) -> Result<Tensor> {
    apply(xs, |r| r.classifier)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};

    #[test]
    fn off_outside_training_and_seeded_inside() {
        let xs = Tensor::ones((4, 1000), DType::F32, &Device::Cpu).unwrap();
        let same = hidden(&xs).unwrap();
        assert_eq!(same.sum_all().unwrap().to_scalar::<f32>().unwrap(), 4000.0);
        let rates = Rates {
            hidden: 0.25,
            attention: 0.0,
            classifier: 0.0,
        };
        let run = |seed| {
            let mut rng = Rng::new(seed, 0);
            during(rates, &mut rng, || {
                let a = hidden(&xs).unwrap().flatten_all().unwrap();
                let b = attention(&xs).unwrap().flatten_all().unwrap();
                (a.to_vec1::<f32>().unwrap(), b.to_vec1::<f32>().unwrap())
            })
        };
        let (a, b) = run(7);
        assert_eq!(run(7).0, a);
        assert_ne!(run(8).0, a);
        assert!(b.iter().all(|&v| v == 1.0));
        let dropped = a.iter().filter(|&&v| v == 0.0).count();
        assert!((800..1200).contains(&dropped), "{dropped}");
        assert!(a.iter().all(|&v| v == 0.0 || (v - 4.0 / 3.0).abs() < 1e-6));
    }

    #[test]
    fn rows_of_a_padded_batch_get_the_padded_batchs_masks() {
        let dev = Device::Cpu;
        let mask = Tensor::new(&[[1u32, 1, 0, 0], [1, 1, 1, 0]], &dev).unwrap();
        let rows = Rows::of_mask(&mask).unwrap().unwrap();
        let padded = Tensor::randn(0f32, 1.0, (2, 4, 64), &dev).unwrap();
        let rates = Rates {
            hidden: 0.5,
            attention: 0.0,
            classifier: 0.0,
        };
        let mut rng = Rng::new(3, 0);
        let whole = during(rates, &mut rng, || hidden(&padded).unwrap());
        let mut rng = Rng::new(3, 0);
        let real = rows.gather(&padded).unwrap();
        let of_rows = during(rates, &mut rng, || hidden_rows(&real, &rows).unwrap());
        assert_eq!(
            of_rows.to_vec2::<f32>().unwrap(),
            rows.gather(&whole).unwrap().to_vec2::<f32>().unwrap()
        );
        // Rows that are not the batch's real tokens are refused.
        let mut rng = Rng::new(3, 0);
        let wrong = Tensor::zeros((4, 64), DType::F32, &dev).unwrap();
        assert!(during(rates, &mut rng, || hidden_rows(&wrong, &rows)).is_err());
    }
}

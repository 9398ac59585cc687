//! Weights being fine-tuned: a checkpoint's tensors turned into Candle `Var`s as the model
//! asks for them, so that autograd tracks exactly the tensors the model uses and only those
//! are saved. A tensor the checkpoint lacks (a new task head) is initialised as transformers
//! initialises it (`_init_weights`): matrices from N(0, initializer_range), biases 0,
//! LayerNorm scales 1, from the run's seed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use candle_core::{DType, Device, Result, Shape, Tensor, Var};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::VarBuilder;

use mlkit_rng::Rng;

#[derive(Clone)]
pub struct TrainableWeights {
    store: Arc<Mutex<Store>>,
}

struct Store {
    base: HashMap<String, Tensor>,
    /// In the order the model asked for them: the optimiser's order, and the file's.
    vars: Vec<(String, Var)>,
    index: HashMap<String, usize>,
    /// Tensors initialised here, with why.
    created: Vec<String>,
    rng: Rng,
    init_std: f64,
    /// The encoder's prefix: a tensor under it must come from the checkpoint as it is.
    prefix: String,
}

impl TrainableWeights {
    /// Starts from `base` (a checkpoint's tensors, f32). A bare encoder's tensors (none under
    /// `prefix`, as sentence-transformers saves them) are moved under `prefix.`, so that the
    /// fine-tuned model is saved as transformers' `*For*Classification` saves it.
    pub fn new(base: HashMap<String, Tensor>, prefix: &str, init_std: f64, seed: u64) -> Self {
        let under = format!("{prefix}.");
        let base = if base.keys().any(|k| k.starts_with(&under)) {
            base
        } else {
            base.into_iter()
                .map(|(k, v)| (format!("{under}{k}"), v))
                .collect()
        };
        TrainableWeights {
            store: Arc::new(Mutex::new(Store {
                base,
                vars: Vec::new(),
                index: HashMap::new(),
                created: Vec::new(),
                rng: Rng::new(seed, 0),
                init_std,
                prefix: under,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Store> {
        // A panic while holding the lock leaves a store that is still consistent.
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A VarBuilder whose tensors are this store's variables, on `device`.
    pub fn var_builder(&self, device: &Device) -> VarBuilder<'static> {
        VarBuilder::from_backend(Box::new(self.clone()), DType::F32, device.clone())
    }

    /// The variables in the order the model asked for them.
    pub fn vars(&self) -> Vec<(String, Var)> {
        self.lock().vars.clone()
    }

    /// What was initialised rather than read from the checkpoint, and why.
    pub fn created(&self) -> Vec<String> {
        self.lock().created.clone()
    }

    /// The variables' current values, detached from autograd and from later updates.
    pub fn snapshot(&self) -> Result<HashMap<String, Tensor>> {
        self.lock()
            .vars
            .iter()
            .map(|(n, v)| Ok((n.clone(), v.as_tensor().detach().copy()?)))
            .collect()
    }
}

impl Store {
    fn initial(&mut self, name: &str, shape: &Shape) -> Result<Tensor> {
        let n = shape.elem_count();
        let values: Vec<f32> = if shape.rank() >= 2 {
            (0..n)
                .map(|_| (self.rng.normal() * self.init_std) as f32)
                .collect()
        } else if name.ends_with("bias") || name.ends_with("beta") {
            vec![0.0; n]
        } else {
            vec![1.0; n]
        };
        Tensor::from_vec(values, shape.clone(), &Device::Cpu)
    }

    fn get(&mut self, shape: &Shape, name: &str, dtype: DType, dev: &Device) -> Result<Tensor> {
        if let Some(&i) = self.index.get(name) {
            let t = self.vars[i].1.as_tensor();
            if t.shape() != shape {
                candle_core::bail!("{name}: asked for as {shape:?} and as {:?}", t.shape())
            }
            return Ok(t.clone());
        }
        let value = match self.base.remove(name) {
            Some(t) if t.shape() == shape => t,
            // A head of another size (new labels) starts afresh, as transformers'
            // `ignore_mismatched_sizes`; the encoder must fit.
            Some(t) if !name.starts_with(&self.prefix) => {
                self.created.push(format!(
                    "{name} (the checkpoint's is {:?}, the task needs {shape:?})",
                    t.shape()
                ));
                self.initial(name, shape)?
            }
            Some(t) => candle_core::bail!(
                "{name} has shape {:?} in the checkpoint, the model needs {shape:?}",
                t.shape()
            ),
            None => {
                self.created.push(name.to_string());
                self.initial(name, shape)?
            }
        };
        let var = Var::from_tensor(&value.to_dtype(dtype)?.to_device(dev)?)?;
        let t = var.as_tensor().clone();
        self.index.insert(name.to_string(), self.vars.len());
        self.vars.push((name.to_string(), var));
        Ok(t)
    }
}

impl SimpleBackend for TrainableWeights {
    fn get(
        &self,
        s: Shape,
        name: &str,
        _h: candle_nn::Init,
        dtype: DType,
        dev: &Device,
    ) -> Result<Tensor> {
        self.lock().get(&s, name, dtype, dev)
    }

    fn get_unchecked(&self, name: &str, dtype: DType, dev: &Device) -> Result<Tensor> {
        let mut store = self.lock();
        let shape = match store.index.get(name) {
            Some(&i) => store.vars[i].1.shape().clone(),
            None => match store.base.get(name) {
                Some(t) => t.shape().clone(),
                None => candle_core::bail!("no tensor {name} in the checkpoint"),
            },
        };
        store.get(&shape, name, dtype, dev)
    }

    fn contains_tensor(&self, name: &str) -> bool {
        let store = self.lock();
        store.index.contains_key(name) || store.base.contains_key(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_encoders_move_under_the_prefix_and_heads_are_initialised() {
        let dev = Device::Cpu;
        let mut base = HashMap::new();
        base.insert(
            "embeddings.w".to_string(),
            Tensor::ones((3, 2), DType::F32, &dev).unwrap(),
        );
        let w = TrainableWeights::new(base, "bert", 0.02, 1);
        let vb = w.var_builder(&dev);
        assert!(vb.contains_tensor("bert.embeddings.w"));
        assert!(!vb.contains_tensor("embeddings.w"));
        let e = vb.get((3, 2), "bert.embeddings.w").unwrap();
        assert!(e.is_variable());
        assert!(vb.get((2, 2), "bert.embeddings.w").is_err());
        let c = vb.get((4, 8), "classifier.weight").unwrap();
        let b = vb.get(4, "classifier.bias").unwrap();
        let n = vb.get(8, "classifier.LayerNorm.weight").unwrap();
        assert_eq!(b.sum_all().unwrap().to_scalar::<f32>().unwrap(), 0.0);
        assert_eq!(n.sum_all().unwrap().to_scalar::<f32>().unwrap(), 8.0);
        let sd: f32 = c.sqr().unwrap().mean_all().unwrap().to_scalar().unwrap();
        assert!(sd.sqrt() > 0.01 && sd.sqrt() < 0.04, "{sd}");
        assert_eq!(
            w.created(),
            [
                "classifier.weight",
                "classifier.bias",
                "classifier.LayerNorm.weight"
            ]
        );
        let names: Vec<String> = w.vars().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names[0], "bert.embeddings.w");
        // The same seed initialises the same head.
        let again = TrainableWeights::new(HashMap::new(), "bert", 0.02, 1);
        let c2 = again
            .var_builder(&dev)
            .get((4, 8), "classifier.weight")
            .unwrap();
        assert_eq!(
            c.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            c2.flatten_all().unwrap().to_vec1::<f32>().unwrap()
        );
    }
}

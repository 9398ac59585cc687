//! Fine-tuning one encoder with a classification head: batches through the model with
//! dropout, the task's loss, autograd, and `optim`'s update; the best epoch on the dev set
//! is kept. Deterministic for a seed, device and thread count: initialisation, shuffling
//! and dropout draw from the run's own generator.

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use candle_core::backprop::GradStore;
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use mlkit_core::batch::pad;
use mlkit_core::classify::{Classifier, Task as CoreTask};
use mlkit_core::config::ModelConfig;
use mlkit_core::dropout::{self, Rates};
use mlkit_core::parts::ModelParts;
use mlkit_core::rng::Rng;
use mlkit_core::tokenize::Encoded;
use mlkit_core::trainable::TrainableWeights;
use mlkit_core::RunOptions;
use serde::Serialize;
use serde_json::Value;

use crate::data::{Example, Target};
use crate::error::{Result, TrainError};
use crate::optim::{Optimizer, Schedule};

/// What the head predicts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// A label per token (`*ForTokenClassification`).
    Tokens,
    /// One label per input, softmax (`single_label_classification`).
    SingleLabel,
    /// Any labels per input, a sigmoid each (`multi_label_classification`).
    MultiLabel,
}

impl Task {
    /// The head the core builds for it.
    fn head(self) -> CoreTask {
        match self {
            Task::Tokens => CoreTask::TokenClassification,
            Task::SingleLabel | Task::MultiLabel => CoreTask::SequenceClassification,
        }
    }
}

/// The run's settings, as the training log records them.
#[derive(Clone, Debug, Serialize)]
pub struct Settings {
    pub epochs: usize,
    pub lr: f64,
    pub batch_size: usize,
    /// The share of all steps spent warming up.
    pub warmup: f64,
    pub weight_decay: f64,
    pub seed: u64,
    /// The longest input in tokens (special tokens included).
    pub max_length: usize,
    /// Gradients' global norm is clipped to this.
    pub clip: Option<f64>,
    /// Dropout as the model's config.json says; off for step-by-step comparisons.
    pub dropout: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            epochs: 3,
            lr: 5e-5,
            batch_size: 16,
            warmup: 0.1,
            weight_decay: 0.01,
            seed: 42,
            max_length: 512,
            clip: Some(1.0),
            dropout: true,
        }
    }
}

pub struct Trainer {
    config: ModelConfig,
    origin: String,
    weights: TrainableWeights,
    model: Classifier,
    optimizer: Optimizer,
    rates: Rates,
    rng: Rng,
    task: Task,
    device: Device,
}

fn number(config: &Value, keys: &[&str]) -> Option<f64> {
    keys.iter()
        .find_map(|k| config.get(*k).and_then(Value::as_f64))
}

/// Dropout rates from config.json, under the names transformers' configs give them.
fn rates(config: &Value, task: Task) -> Rates {
    let hidden = number(config, &["hidden_dropout_prob", "dropout"]).unwrap_or(0.0);
    let attention = number(
        config,
        &["attention_probs_dropout_prob", "attention_dropout"],
    )
    .unwrap_or(0.0);
    let sequence_head = if task == Task::Tokens {
        None
    } else {
        number(config, &["seq_classif_dropout"])
    };
    Rates {
        hidden,
        attention,
        classifier: number(config, &["classifier_dropout"])
            .or(sequence_head)
            .unwrap_or(hidden),
    }
}

impl Trainer {
    /// A trainer for `task` with `labels` on the checkpoint `parts`, for `total_steps`
    /// optimiser steps, on `device`.
    pub fn new(
        parts: &ModelParts,
        task: Task,
        labels: &[String],
        settings: &Settings,
        total_steps: usize,
        device: &Device,
    ) -> Result<Trainer> {
        let arch = parts.config.architecture()?;
        let json: Value = serde_json::from_str(&parts.config.text).unwrap_or(Value::Null);
        let init_std = number(&json, &["initializer_range"]).unwrap_or(0.02);
        let base = mlkit_core::encoder::dense_weights(parts)?;
        let weights = TrainableWeights::new(base, arch.prefix(), init_std, settings.seed);
        let model = Classifier::build(
            &parts.config,
            weights.var_builder(device),
            Path::new(&parts.origin),
            task.head(),
            labels.to_vec(),
        )?;
        let schedule = Schedule {
            total: total_steps,
            warmup: (settings.warmup * total_steps as f64) as usize,
        };
        let optimizer = Optimizer::new(
            &weights.vars(),
            settings.lr,
            settings.weight_decay,
            schedule,
            settings.clip,
        )?;
        Ok(Trainer {
            config: parts.config.clone(),
            origin: parts.origin.clone(),
            rates: if settings.dropout {
                rates(&json, task)
            } else {
                Rates::default()
            },
            // Dropout and shuffling draw from their own stream, apart from initialisation.
            rng: Rng::new(settings.seed ^ 0x5EED_D80F, 0),
            weights,
            model,
            optimizer,
            task,
            device: device.clone(),
        })
    }

    /// What was initialised rather than read from the checkpoint (the new head).
    pub fn initialised(&self) -> Vec<String> {
        self.weights.created()
    }

    pub fn weights(&self) -> &TrainableWeights {
        &self.weights
    }

    pub fn learning_rate(&self) -> f64 {
        self.optimizer.learning_rate()
    }

    /// The random stream shuffling draws from.
    pub fn rng(&mut self) -> &mut Rng {
        &mut self.rng
    }

    /// The mean loss over `batch` (with dropout) and its gradients.
    pub fn loss_and_grads(&mut self, batch: &[&Example]) -> Result<(f32, GradStore)> {
        let rows: Vec<&Encoded> = batch.iter().map(|e| &e.encoded).collect();
        let padded = pad(&rows, &self.device)?;
        let (model, rates) = (&self.model, self.rates);
        let logits = dropout::during(rates, &mut self.rng, || {
            model.logits(&padded.ids, &padded.type_ids, &padded.mask)
        })?;
        let loss = loss(self.task, &logits, batch, &self.device)?;
        let value = loss.to_scalar::<f32>()?;
        if !value.is_finite() {
            return Err(TrainError::Usage(format!(
                "the loss is {value}: lower the learning rate (--lr)"
            )));
        }
        Ok((value, loss.backward()?))
    }

    /// One optimiser step on `batch`; returns its loss.
    pub fn step(&mut self, batch: &[&Example]) -> Result<f32> {
        let (value, mut grads) = self.loss_and_grads(batch)?;
        self.optimizer.step(&mut grads)?;
        Ok(value)
    }

    /// The model with `weights` (a snapshot of the trained ones), without autograd, for
    /// predictions.
    pub fn model_with(&self, weights: HashMap<String, Tensor>) -> Result<Classifier> {
        Ok(Classifier::build(
            &self.config,
            VarBuilder::from_tensors(weights, DType::F32, &self.device),
            Path::new(&self.origin),
            self.task.head(),
            self.model.labels.clone(),
        )?)
    }
}

/// The task's loss, as transformers computes it: cross-entropy over labelled tokens
/// (ignore_index -100) or inputs, or the mean binary cross-entropy over every label.
fn loss(task: Task, logits: &Tensor, batch: &[&Example], device: &Device) -> Result<Tensor> {
    match task {
        Task::Tokens => {
            let (b, s, l) = logits.dims3()?;
            let (mut keep, mut labels) = (Vec::new(), Vec::new());
            for (r, e) in batch.iter().enumerate() {
                if let Target::Tokens(t) = &e.target {
                    for (c, &label) in t.iter().enumerate().take(s) {
                        if label >= 0 {
                            keep.push((r * s + c) as u32);
                            labels.push(label as u32);
                        }
                    }
                }
            }
            if keep.is_empty() {
                return Ok(logits.sum_all()?.zeros_like()?);
            }
            let n = keep.len();
            let flat = logits.reshape((b * s, l))?;
            let picked = flat.index_select(&Tensor::from_vec(keep, n, device)?, 0)?;
            Ok(candle_nn::loss::cross_entropy(
                &picked,
                &Tensor::from_vec(labels, n, device)?,
            )?)
        }
        Task::SingleLabel => {
            let labels: Vec<u32> = batch
                .iter()
                .map(|e| match e.target {
                    Target::Label(l) => l,
                    _ => 0,
                })
                .collect();
            let n = labels.len();
            Ok(candle_nn::loss::cross_entropy(
                logits,
                &Tensor::from_vec(labels, n, device)?,
            )?)
        }
        Task::MultiLabel => {
            let (b, l) = logits.dims2()?;
            let mut targets = Vec::with_capacity(b * l);
            for e in batch {
                match &e.target {
                    Target::Labels(t) => targets.extend_from_slice(t),
                    _ => targets.extend(std::iter::repeat_n(0.0, l)),
                }
            }
            let t = Tensor::from_vec(targets, (b, l), device)?;
            // torch's BCEWithLogitsLoss: max(x, 0) - x t + log(1 + exp(-|x|)), averaged.
            let x = logits;
            let soft = ((x.abs()?.neg()?.exp()? + 1.0)?).log()?;
            Ok(((x.relu()? - (x * &t)?)? + soft)?.mean_all()?)
        }
    }
}

/// One line of the training log.
#[derive(Clone, Debug, Serialize)]
pub struct EpochLog {
    pub epoch: usize,
    /// Mean training loss over the epoch's batches.
    pub loss: f64,
    /// The dev score the best epoch is chosen by (entity F1, accuracy or micro F1).
    pub dev_score: f64,
    pub dev_metric: &'static str,
    pub learning_rate: f64,
    pub seconds: f64,
    pub best: bool,
}

/// What the caller hears during `fit`.
pub enum Event<'a> {
    Batch {
        epoch: usize,
        done: usize,
        of: usize,
        loss: f32,
    },
    Evaluating {
        epoch: usize,
    },
    Epoch(&'a EpochLog),
}

/// The dev set's score for a model (higher is better) and the metric's name.
pub trait DevScore {
    fn metric(&self) -> &'static str;
    fn score(&self, model: &Classifier, run: &RunOptions) -> Result<f64>;
}

/// The outcome of `fit`: the best epoch's weights and the log.
pub struct Trained {
    pub weights: HashMap<String, Tensor>,
    pub log: Vec<EpochLog>,
    pub best_epoch: usize,
}

/// Number of optimiser steps `fit` takes for `examples` examples.
pub fn total_steps(examples: usize, settings: &Settings) -> usize {
    settings.epochs * examples.div_ceil(settings.batch_size.max(1))
}

/// Trains for `settings.epochs` epochs over `train` (reshuffled each epoch), scores `dev`
/// after each, and keeps the best epoch's weights (the first of equals).
pub fn fit(
    trainer: &mut Trainer,
    train: &[Example],
    dev: &dyn DevScore,
    settings: &Settings,
    run: &RunOptions,
    on_event: &mut dyn FnMut(Event),
) -> Result<Trained> {
    let mut order: Vec<usize> = (0..train.len()).collect();
    let mut log = Vec::new();
    let mut best: Option<(f64, usize, HashMap<String, Tensor>)> = None;
    let batch_size = settings.batch_size.max(1);
    // Candle's CPU products split their work on rayon's pool. Called from a thread outside
    // it, every product wakes the pool's threads and sleeps until they are done, and the
    // thread that picks the job up first often ran both halves before the other woke. A
    // step run on one of the pool's own threads does its share of each product and only
    // lends the rest: an epoch of 2,000 CoNLL sentences took 36.8 s outside, 30.1 s in it
    // (MiniLM, 2 cores). Without a pool (none could be made) steps run where they are.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(candle_core::utils::get_num_threads())
        .build()
        .ok();
    for epoch in 1..=settings.epochs {
        let started = Instant::now();
        trainer.rng().shuffle(&mut order);
        let batches: Vec<&[usize]> = order.chunks(batch_size).collect();
        let mut total = 0f64;
        for (i, idx) in batches.iter().enumerate() {
            let batch: Vec<&Example> = idx.iter().map(|&j| &train[j]).collect();
            let loss = match &pool {
                Some(pool) => pool.install(|| trainer.step(&batch))?,
                None => trainer.step(&batch)?,
            };
            total += f64::from(loss);
            on_event(Event::Batch {
                epoch,
                done: i + 1,
                of: batches.len(),
                loss,
            });
        }
        on_event(Event::Evaluating { epoch });
        // One copy of the weights serves the dev score and, if best, the model kept (the
        // model only reads the tensors it shares with the copy).
        let weights = trainer.weights().snapshot()?;
        let score = dev.score(&trainer.model_with(weights.clone())?, run)?;
        let improved = best.as_ref().is_none_or(|(b, _, _)| score > *b);
        if improved {
            best = Some((score, epoch, weights));
        }
        log.push(EpochLog {
            epoch,
            loss: total / batches.len().max(1) as f64,
            dev_score: score,
            dev_metric: dev.metric(),
            learning_rate: trainer.learning_rate(),
            seconds: started.elapsed().as_secs_f64(),
            best: improved,
        });
        if let Some(last) = log.last() {
            on_event(Event::Epoch(last));
        }
    }
    let (_, best_epoch, weights) = match best {
        Some(b) => b,
        None => (0.0, 0, trainer.weights().snapshot()?),
    };
    Ok(Trained {
        weights,
        log,
        best_epoch,
    })
}

//! Two training steps against PyTorch (tests/fixtures/train_steps.json, made by
//! make_train_fixtures.py): the same batch, dropout off, AdamW with transformers' decay
//! groups, clipping and a linear schedule. Losses, gradient norms (relative above 1), the
//! first step's gradients (after clipping) and the weights after both steps agree within
//! 1e-5.

use std::path::PathBuf;

use candle_core::Device;
use mlkit_core::parts::ModelParts;
use mlkit_core::resolve;
use mlkit_core::tokenize::Encoded;
use mlkit_train::data::{Example, Target};
use mlkit_train::optim::{Optimizer, Schedule};
use mlkit_train::{Settings, Task, Trainer};
use serde_json::Value;

const TOLERANCE: f64 = 1e-5;

fn fixture() -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/train_steps.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn model(name: &str) -> ModelParts {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../mlkit-core/tests/fixtures")
        .join(name);
    ModelParts::read(&resolve(dir.to_str().unwrap()).unwrap()).unwrap()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn worst(a: &[f64], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - f64::from(*y)).abs())
        .fold(0.0, f64::max)
}

/// The fixture's batch as examples: each row's real tokens, padding left to the trainer.
fn batch(case: &Value, task: Task) -> Vec<Example> {
    let ids = case["ids"].as_array().unwrap();
    let masks = case["mask"].as_array().unwrap();
    let labels = case["labels"].as_array().unwrap();
    let n_labels = case["labels_n"].as_u64().unwrap() as usize;
    (0..ids.len())
        .map(|r| {
            let len = floats(&masks[r]).iter().filter(|&&m| m > 0.0).count();
            let row: Vec<u32> = floats(&ids[r])[..len].iter().map(|&x| x as u32).collect();
            let target = match task {
                Task::Tokens => Target::Tokens(
                    floats(&labels[r])[..len]
                        .iter()
                        .map(|&x| x as i64)
                        .collect(),
                ),
                Task::SingleLabel => Target::Label(labels[r].as_u64().unwrap() as u32),
                Task::MultiLabel => {
                    let targets: Vec<f32> = floats(&labels[r]).iter().map(|&x| x as f32).collect();
                    assert_eq!(targets.len(), n_labels);
                    Target::Labels(targets)
                }
            };
            Example {
                encoded: Encoded {
                    type_ids: vec![0; len],
                    offsets: vec![(0, 0); len],
                    special: vec![0; len],
                    tokens: vec![String::new(); len],
                    ids: row,
                },
                target,
            }
        })
        .collect()
}

fn check(name: &str, task: Task) {
    let all = fixture();
    let case = &all[name];
    let parts = model(name);
    let labels = parts.config.labels();
    assert_eq!(labels.len(), case["labels_n"].as_u64().unwrap() as usize);
    let settings = Settings {
        lr: all["lr"].as_f64().unwrap(),
        weight_decay: all["weight_decay"].as_f64().unwrap(),
        warmup: 0.0,
        clip: all["clip"].as_f64(),
        dropout: false,
        ..Settings::default()
    };
    let steps = all["steps"].as_u64().unwrap() as usize;
    let mut trainer = Trainer::new(&parts, task, &labels, &settings, steps, &Device::Cpu).unwrap();
    assert!(
        trainer.initialised().is_empty(),
        "{:?}",
        trainer.initialised()
    );
    let vars = trainer.weights().vars();
    // The optimiser is rebuilt over the same variables to look at the gradients between
    // backward and update; the trainer's own `step` does the same in one call.
    let mut optimizer = Optimizer::new(
        &vars,
        settings.lr,
        settings.weight_decay,
        Schedule {
            total: steps,
            warmup: 0,
        },
        settings.clip,
    )
    .unwrap();
    let examples = batch(case, task);
    let refs: Vec<&Example> = examples.iter().collect();
    let losses = floats(&case["losses"]);
    let norms = floats(&case["grad_norms"]);
    for step in 0..steps {
        let (loss, mut grads) = trainer.loss_and_grads(&refs).unwrap();
        let d = (f64::from(loss) - losses[step]).abs();
        assert!(
            d < TOLERANCE,
            "{name} step {step}: loss {loss} against {}",
            losses[step]
        );
        // The first step's gradients as computed, before the optimiser takes them.
        let raw: Vec<(String, Vec<f32>)> = case["grads"]
            .as_object()
            .unwrap()
            .keys()
            .map(|tensor| {
                let var = &vars.iter().find(|(n, _)| n == tensor).unwrap().1;
                let g = grads.get(var.as_tensor()).unwrap();
                (tensor.clone(), g.flatten_all().unwrap().to_vec1().unwrap())
            })
            .collect();
        let norm = optimizer.step(&mut grads).unwrap();
        // Relative above 1: a norm is a sum over every gradient, and after one update it
        // carries Adam's amplification of float noise in the tiniest gradients.
        let d = (norm - norms[step]).abs() / norms[step].max(1.0);
        assert!(
            d < TOLERANCE,
            "{name} step {step}: grad norm {norm} against {}",
            norms[step]
        );
        if step == 0 {
            // torch recorded them clipped.
            let scale = optimizer.clip_scale(norm) as f32;
            // Clipping acts wherever torch's norm is above the limit (all but one case).
            let clip = all["clip"].as_f64().unwrap();
            assert_eq!(scale < 1.0, norms[0] > clip, "clipping acts as in torch");
            assert!(raw.len() >= 5);
            for (tensor, g) in raw {
                let g: Vec<f32> = g.iter().map(|x| x * scale).collect();
                let w = worst(&floats(&case["grads"][&tensor]), &g);
                assert!(w < TOLERANCE, "{name}: gradient of {tensor} off by {w}");
            }
        }
    }
    for (tensor, want) in case["after"].as_object().unwrap() {
        let var = &vars.iter().find(|(n, _)| n == tensor).unwrap().1;
        let got: Vec<f32> = var.as_tensor().flatten_all().unwrap().to_vec1().unwrap();
        let w = worst(&floats(want), &got);
        assert!(
            w < TOLERANCE,
            "{name}: {tensor} after {steps} steps off by {w}"
        );
    }
}

#[test]
fn bert_token_classification_steps_match_pytorch() {
    check("tiny-bert-tc", Task::Tokens);
}

#[test]
fn deberta_v3_token_classification_steps_match_pytorch() {
    check("tiny-deberta-v3-tc", Task::Tokens);
}

#[test]
fn bert_sequence_classification_steps_match_pytorch() {
    check("tiny-bert-sc", Task::SingleLabel);
}

#[test]
fn roberta_token_classification_steps_match_pytorch() {
    check("tiny-roberta-tc", Task::Tokens);
}

#[test]
fn distilbert_token_classification_steps_match_pytorch() {
    check("tiny-distilbert-tc", Task::Tokens);
}

#[test]
fn electra_token_classification_steps_match_pytorch() {
    check("tiny-electra-tc", Task::Tokens);
}

#[test]
fn mpnet_token_classification_steps_match_pytorch() {
    check("tiny-mpnet-tc", Task::Tokens);
}

#[test]
fn modernbert_token_classification_steps_match_pytorch() {
    check("tiny-modernbert-tc", Task::Tokens);
}

#[test]
fn deberta_v3_sequence_classification_steps_match_pytorch() {
    check("tiny-deberta-v3-sc", Task::SingleLabel);
}

#[test]
fn roberta_sequence_classification_steps_match_pytorch() {
    check("tiny-roberta-sc", Task::SingleLabel);
}

#[test]
fn distilbert_sequence_classification_steps_match_pytorch() {
    check("tiny-distilbert-sc", Task::SingleLabel);
}

#[test]
fn electra_sequence_classification_steps_match_pytorch() {
    check("tiny-electra-sc", Task::SingleLabel);
}

#[test]
fn mpnet_sequence_classification_steps_match_pytorch() {
    check("tiny-mpnet-sc", Task::SingleLabel);
}

#[test]
fn modernbert_sequence_classification_steps_match_pytorch() {
    check("tiny-modernbert-sc", Task::SingleLabel);
}

#[test]
fn bert_multi_label_steps_match_pytorch() {
    check("tiny-bert-multi", Task::MultiLabel);
}

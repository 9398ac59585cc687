//! What `ner train` and `classify train` share: the flags of a fine-tuning run, the loop's
//! progress and log on stderr, and the model directory written at the end.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use mlkit_core::parts::ModelParts;
use mlkit_core::quantize::quantize;
use mlkit_core::tokenize::TextTokenizer;
use mlkit_core::{resolve, RunOptions};
use mlkit_train::data::Example;
use mlkit_train::save::{self, ModelDir};
use mlkit_train::trainer::{total_steps, DevScore, Event};
use mlkit_train::{fit, Settings, Task, Trainer};
use serde_json::json;

use crate::cleanup;
use crate::flags::ThreadsArg;
use crate::messages::note;
use crate::progress::Progress;

/// The flags of a fine-tuning run. Defaults are the bundled NER model's recipe
/// (models/recipes/conll03-ner-minilm-train.py) but for the number of epochs.
#[derive(Args, Debug)]
pub struct TrainFlags {
    /// Training data.
    #[arg(long)]
    pub train: PathBuf,

    /// Development data: scored after every epoch; the best epoch is the model kept.
    #[arg(long)]
    pub dev: PathBuf,

    /// The model to fine-tune: a directory, a .gguf file, a bundled model name, or a
    /// Hugging Face repo id. Its encoder is kept; a new head is made for the labels of
    /// --train. The bundled all-MiniLM-L6-v2 is int8 (its weights are dequantized); for the
    /// f32 original give sentence-transformers/all-MiniLM-L6-v2.
    #[arg(long, default_value = "all-MiniLM-L6-v2")]
    pub model: String,

    /// The directory to write (it must not exist, or be empty): config.json,
    /// model.safetensors and tokenizer.json, as transformers saves a model, and
    /// train_log.jsonl, one line per epoch.
    #[arg(short = 'o', long)]
    pub output: PathBuf,

    /// Passes over the training data (default: 20 for ner train, 5 for classify train).
    #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub epochs: Option<usize>,

    /// Peak learning rate of AdamW.
    #[arg(long, default_value_t = 7e-5, value_parser = positive)]
    pub lr: f64,

    /// Inputs per optimiser step.
    #[arg(long, default_value_t = 16, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub batch_size: usize,

    /// Share of the steps over which the learning rate rises linearly from 0; it then falls
    /// linearly to 0.
    #[arg(long, default_value_t = 0.1, value_parser = share)]
    pub warmup: f64,

    /// AdamW's weight decay (not on biases and LayerNorm weights).
    #[arg(long, default_value_t = 0.01, value_parser = non_negative)]
    pub weight_decay: f64,

    /// Clip the gradients' global L2 norm to this.
    #[arg(long, default_value_t = 1.0, value_parser = positive)]
    pub max_grad_norm: f64,

    /// Seed of initialisation, shuffling and dropout: the same seed, device and --threads
    /// give the same model.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,

    /// The longest input in tokens (at most the model's); longer NER sentences are split
    /// into windows at word boundaries, longer texts to classify are cut.
    #[arg(long, default_value_t = 512, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(8..))]
    pub max_length: usize,

    /// Also write model.gguf, the model with int8 (Q8_0) weights, as `mlkit quantize`.
    #[arg(long)]
    pub quantize: bool,

    /// auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    pub device: String,

    #[command(flatten)]
    pub threads: ThreadsArg,
}

fn number(s: &str) -> std::result::Result<f64, String> {
    let x: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a number"))?;
    if !x.is_finite() {
        return Err(format!("{s:?} is not a finite number"));
    }
    Ok(x)
}

fn positive(s: &str) -> std::result::Result<f64, String> {
    let x = number(s)?;
    if x <= 0.0 {
        return Err(format!("{s} must be above 0"));
    }
    Ok(x)
}

fn non_negative(s: &str) -> std::result::Result<f64, String> {
    let x = number(s)?;
    if x < 0.0 {
        return Err(format!("{s} must be 0 or more"));
    }
    Ok(x)
}

fn share(s: &str) -> std::result::Result<f64, String> {
    let x = number(s)?;
    if !(0.0..1.0).contains(&x) {
        return Err(format!("{s} must be at least 0 and below 1"));
    }
    Ok(x)
}

/// The base model, read and checked before any data is tokenized.
pub struct Base {
    pub parts: ModelParts,
    /// The longest input: --max-length within the model's positions.
    pub max_len: usize,
}

impl TrainFlags {
    /// Refuses a non-empty output directory, and reads the base model.
    pub fn base(&self) -> Result<Base> {
        save::check_output(&self.output)?;
        let files = resolve(&self.model)?;
        let parts = ModelParts::read(&files)
            .with_context(|| format!("cannot read base model {}", files.origin))?;
        let positions = parts.config.architecture()?.sizes().max_positions;
        Ok(Base {
            max_len: self.max_length.min(positions),
            parts,
        })
    }

    pub fn settings(&self, default_epochs: usize) -> Settings {
        Settings {
            epochs: self.epochs.unwrap_or(default_epochs),
            lr: self.lr,
            batch_size: self.batch_size,
            warmup: self.warmup,
            weight_decay: self.weight_decay,
            seed: self.seed,
            max_length: self.max_length,
            clip: Some(self.max_grad_norm),
            dropout: true,
        }
    }
}

impl Base {
    /// The base model's tokenizer, without truncation (inputs are windowed or cut by the
    /// caller) when `truncate` is off.
    pub fn tokenizer(&self, truncate: bool) -> Result<TextTokenizer> {
        Ok(TextTokenizer::load(
            &self.parts.tokenizer,
            &self.parts.origin,
            self.max_len,
            truncate,
        )?)
    }
}

/// Fine-tunes `base` on `train`, keeps the best epoch on `dev`, and writes the model
/// directory; a JSON summary goes to stdout.
pub fn run(
    flags: &TrainFlags,
    base: &Base,
    task: Task,
    labels: &[String],
    train: &[Example],
    dev: &dyn DevScore,
    settings: &Settings,
) -> Result<()> {
    let started = Instant::now();
    let device = mlkit_core::select_device(&flags.device)?;
    let run = RunOptions {
        device: device.clone(),
        ..RunOptions::default()
    };
    let steps = total_steps(train.len(), settings);
    let mut trainer = Trainer::new(&base.parts, task, labels, settings, steps, &device)
        .with_context(|| format!("cannot fine-tune {}", base.parts.origin))?;
    let fresh = trainer.initialised();
    if !fresh.is_empty() {
        note(format!("new weights (initialised): {}", fresh.join(", ")));
    }
    note(format!(
        "fine-tuning {} on {} inputs, {} labels: {} epochs of {} steps",
        base.parts.origin,
        train.len(),
        labels.len(),
        settings.epochs,
        steps / settings.epochs.max(1)
    ));
    let mut progress: Option<Progress> = None;
    let trained = fit(
        &mut trainer,
        train,
        dev,
        settings,
        &run,
        &mut |event| match event {
            Event::Batch {
                epoch,
                done,
                of,
                loss,
            } => {
                let p = progress.get_or_insert_with(|| Progress::new("steps", Some(of)));
                p.set_note(format!("epoch {epoch}/{}, loss {loss:.4}", settings.epochs));
                p.add(1);
                if done == of {
                    progress = None;
                }
            }
            Event::Evaluating { .. } => {}
            Event::Epoch(log) => note(format!(
                "epoch {}/{}: loss {:.4}, dev {} {:.4}{}, {:.0} s",
                log.epoch,
                settings.epochs,
                log.loss,
                log.dev_metric,
                log.dev_score,
                if log.best { " (best so far)" } else { "" },
                log.seconds
            )),
        },
    )?;
    let config = save::task_config(
        &base.parts.config.text,
        &base.parts.config.model_type,
        task,
        labels,
    )?;
    let partial = save::partial_dir(&flags.output);
    cleanup::remove_on_signal(&partial);
    let written = (|| -> Result<()> {
        save::write(
            &partial,
            &ModelDir {
                config: &config,
                tokenizer: &base.parts.tokenizer,
                weights: &trained.weights,
                log: &trained.log,
                settings,
                task,
                base: &base.parts.origin,
            },
        )?;
        if flags.quantize {
            let files = resolve(&partial.to_string_lossy())?;
            let path = partial.join("model.gguf");
            let mut out = std::fs::File::create(&path)
                .with_context(|| format!("cannot write {}", path.display()))?;
            quantize(&files, candle_core::quantized::GgmlDType::Q8_0, &mut out)?;
        }
        save::commit(&partial, &flags.output)?;
        Ok(())
    })();
    if written.is_err() {
        let _ = std::fs::remove_dir_all(&partial);
    }
    cleanup::keep(&partial);
    written?;
    let best = trained.log.iter().find(|l| l.epoch == trained.best_epoch);
    let summary = json!({
        "model": flags.output,
        "base": base.parts.origin,
        "best_epoch": trained.best_epoch,
        "dev_metric": best.map(|l| l.dev_metric),
        "dev_score": best.map(|l| l.dev_score),
        "epochs": settings.epochs,
        "seconds": started.elapsed().as_secs_f64(),
    });
    println!("{summary}");
    note(format!("wrote {}", flags.output.display()));
    Ok(())
}

//! The fine-tuned model as a directory transformers loads as it is: config.json (with the
//! `*For*Classification` class, id2label and label2id), model.safetensors and tokenizer.json,
//! plus the training log. It is written beside the target and renamed into place, so an
//! interrupted run leaves no half-written model directory.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use candle_core::Tensor;
use serde_json::{json, Map, Value};

use crate::error::{Result, TrainError};
use crate::trainer::{EpochLog, Settings, Task};

/// transformers' class-name stem for a `model_type`.
fn class_stem(model_type: &str) -> Option<&'static str> {
    Some(match model_type {
        "bert" => "Bert",
        "roberta" => "Roberta",
        "xlm-roberta" => "XLMRoberta",
        "camembert" => "Camembert",
        "electra" => "Electra",
        "mpnet" => "MPNet",
        "modernbert" => "ModernBert",
        "distilbert" => "DistilBert",
        "deberta-v2" => "DebertaV2",
        _ => return None,
    })
}

/// The base config.json with the task's class and labels.
pub fn task_config(base: &str, model_type: &str, task: Task, labels: &[String]) -> Result<String> {
    let mut config: Map<String, Value> = serde_json::from_str(base)
        .map_err(|e| TrainError::Usage(format!("the base model's config.json: {e}")))?;
    let stem = class_stem(model_type).ok_or_else(|| {
        TrainError::Usage(format!("fine-tuning {model_type} models is not supported"))
    })?;
    let head = match task {
        Task::Tokens => "TokenClassification",
        _ => "SequenceClassification",
    };
    config.insert("architectures".into(), json!([format!("{stem}For{head}")]));
    let id2label: Map<String, Value> = labels
        .iter()
        .enumerate()
        .map(|(i, l)| (i.to_string(), json!(l)))
        .collect();
    let label2id: Map<String, Value> = labels
        .iter()
        .enumerate()
        .map(|(i, l)| (l.clone(), json!(i)))
        .collect();
    config.insert("id2label".into(), Value::Object(id2label));
    config.insert("label2id".into(), Value::Object(label2id));
    config.remove("num_labels");
    match task {
        Task::Tokens => config.remove("problem_type"),
        Task::SingleLabel => {
            config.insert("problem_type".into(), "single_label_classification".into())
        }
        Task::MultiLabel => {
            config.insert("problem_type".into(), "multi_label_classification".into())
        }
    };
    config.insert("torch_dtype".into(), json!("float32"));
    serde_json::to_string_pretty(&config)
        .map_err(|e| TrainError::Usage(format!("config.json: {e}")))
}

/// Where the directory is written before it is renamed to `out`.
pub fn partial_dir(out: &Path) -> PathBuf {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".into());
    out.with_file_name(format!(".{name}.partial-{}", std::process::id()))
}

/// Refuses an output directory that exists and is not empty, before any training.
pub fn check_output(out: &Path) -> Result<()> {
    match std::fs::read_dir(out).map(|mut entries| entries.next().is_some()) {
        Ok(true) => Err(TrainError::Usage(format!(
            "{} exists and is not empty: choose a new directory (-o) or remove it",
            out.display()
        ))),
        Ok(false) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(TrainError::Io {
            path: out.to_path_buf(),
            source,
        }),
    }
}

/// What goes into the model directory.
pub struct ModelDir<'a> {
    pub config: &'a str,
    pub tokenizer: &'a [u8],
    pub weights: &'a HashMap<String, Tensor>,
    pub log: &'a [EpochLog],
    pub settings: &'a Settings,
    pub task: Task,
    pub base: &'a str,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> TrainError + '_ {
    move |source| TrainError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes the model into `dir` (which must not exist).
pub fn write(dir: &Path, m: &ModelDir) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let at = |name: &str| dir.join(name);
    std::fs::write(at("config.json"), m.config).map_err(io(&at("config.json")))?;
    std::fs::write(at("tokenizer.json"), m.tokenizer).map_err(io(&at("tokenizer.json")))?;
    candle_core::safetensors::save(m.weights, at("model.safetensors"))?;
    let log_path = at("train_log.jsonl");
    let mut log = std::fs::File::create(&log_path).map_err(io(&log_path))?;
    for line in m.log {
        let mut value = json!(line);
        value["task"] = json!(m.task);
        value["base"] = json!(m.base);
        value["settings"] = json!(m.settings);
        writeln!(log, "{value}").map_err(io(&log_path))?;
    }
    Ok(())
}

/// Moves the finished `partial` directory to `out` (an empty `out` is replaced).
pub fn commit(partial: &Path, out: &Path) -> Result<()> {
    if out.is_dir() {
        std::fs::remove_dir(out).map_err(io(out))?;
    }
    std::fs::rename(partial, out).map_err(io(out))
}

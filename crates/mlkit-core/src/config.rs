//! config.json, parsed once into the architecture's own settings (an enum tagged by
//! `model_type`, as text-embeddings-inference's `Config`) and the settings every model
//! shares (labels, precision), with where it was read from for messages.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use crate::error::{CoreError, Result};
use crate::models::{
    bert, deberta_v2, distilbert, electra, modernbert, mpnet, roberta, Architecture,
};

/// The architectures mlkit runs, for error messages.
pub const SUPPORTED: &str = "bert (MiniLM included), distilbert, electra, mpnet, roberta, \
                              xlm-roberta, camembert, deberta-v2 (DeBERTa-v3 included), modernbert";

/// An architecture's settings, by `model_type`. A new architecture is one arm here and one
/// in `architecture`.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "model_type")]
pub enum ArchConfig {
    #[serde(rename = "bert")]
    Bert(bert::Config),
    /// CamemBERT is RoBERTa, weights and all.
    #[serde(rename = "roberta", alias = "xlm-roberta", alias = "camembert")]
    Roberta(roberta::Config),
    #[serde(rename = "electra")]
    Electra(electra::Config),
    #[serde(rename = "mpnet")]
    Mpnet(mpnet::Config),
    #[serde(rename = "modernbert")]
    ModernBert(modernbert::Config),
    #[serde(rename = "distilbert")]
    DistilBert(distilbert::Config),
    #[serde(rename = "deberta-v2")]
    DebertaV2(deberta_v2::Config),
    /// A `model_type` mlkit does not run: `models info` still describes the model.
    #[serde(other)]
    Unsupported,
}

impl ArchConfig {
    /// The architecture, or `None` for one mlkit does not run.
    pub fn architecture(&self) -> Option<&dyn Architecture> {
        match self {
            ArchConfig::Bert(c) => Some(c),
            ArchConfig::Roberta(c) => Some(c),
            ArchConfig::DistilBert(c) => Some(c),
            ArchConfig::Electra(c) => Some(c),
            ArchConfig::Mpnet(c) => Some(c),
            ArchConfig::ModernBert(c) => Some(c),
            ArchConfig::DebertaV2(c) => Some(c),
            ArchConfig::Unsupported => None,
        }
    }
}

/// What every config.json may say, whatever the architecture.
#[derive(Deserialize)]
struct Shared {
    model_type: String,
    #[serde(default)]
    id2label: BTreeMap<String, String>,
    num_labels: Option<usize>,
    /// Kept in the file's order (serde_json's `preserve_order`): the NLI pipeline searches it
    /// in that order.
    #[serde(default)]
    label2id: serde_json::Map<String, Value>,
    torch_dtype: Option<Value>,
    problem_type: Option<String>,
}

/// A model's config.json.
#[derive(Clone, Debug)]
pub struct ModelConfig {
    /// The text as read (`mlkit quantize` stores it whole).
    pub text: String,
    /// Where it was read from: a file, or a GGUF file's metadata key.
    pub source: PathBuf,
    pub model_type: String,
    pub arch: ArchConfig,
    /// id2label in id order (empty when the config has none).
    pub id2label: Vec<String>,
    pub num_labels: Option<usize>,
    /// label2id in the file's order (ids that are not numbers are `None`).
    pub label2id: Vec<(String, Option<u64>)>,
    /// The checkpoint's stored precision ("float32", ...), when the config says.
    pub torch_dtype: Option<String>,
    /// "single_label_classification", "multi_label_classification" or "regression", when
    /// the config says (the text-classification pipeline picks its score function by it).
    pub problem_type: Option<String>,
}

impl ModelConfig {
    /// Parses `text`, read from `source` (named in errors).
    pub fn parse(text: String, source: &Path) -> Result<ModelConfig> {
        let bad = |message: String| CoreError::BadFile {
            path: source.to_path_buf(),
            message,
        };
        let shared: Shared =
            serde_json::from_str(&text).map_err(|e| bad(format!("invalid config: {e}")))?;
        let arch: ArchConfig = serde_json::from_str(&text)
            .map_err(|e| bad(format!("invalid {} config: {e}", shared.model_type)))?;
        Ok(ModelConfig {
            source: source.to_path_buf(),
            model_type: shared.model_type,
            arch,
            id2label: in_id_order(shared.id2label).map_err(bad)?,
            num_labels: shared.num_labels,
            label2id: shared
                .label2id
                .into_iter()
                .map(|(name, id)| (name, id.as_u64()))
                .collect(),
            torch_dtype: shared
                .torch_dtype
                .and_then(|v| v.as_str().map(String::from)),
            problem_type: shared.problem_type,
            text,
        })
    }

    /// A classifier's labels in id order: id2label, else `LABEL_i` names for num_labels
    /// (default 2, as transformers' PretrainedConfig).
    pub fn labels(&self) -> Vec<String> {
        if self.id2label.is_empty() {
            let n = self.num_labels.unwrap_or(2);
            return (0..n).map(|i| format!("LABEL_{i}")).collect();
        }
        self.id2label.clone()
    }

    /// The architecture, or the error that mlkit does not run it.
    pub fn architecture(&self) -> Result<&dyn Architecture> {
        self.arch
            .architecture()
            .ok_or_else(|| CoreError::Unsupported {
                path: self.source.clone(),
                model_type: self.model_type.clone(),
                supported: SUPPORTED,
            })
    }
}

/// id2label's labels in id order; the ids must be 0..n.
fn in_id_order(id2label: BTreeMap<String, String>) -> std::result::Result<Vec<String>, String> {
    let mut by_id: Vec<(usize, String)> = Vec::with_capacity(id2label.len());
    for (k, v) in id2label {
        let id = k
            .parse()
            .map_err(|_| format!("id2label key {k:?} is not a number"))?;
        by_id.push((id, v));
    }
    by_id.sort();
    if by_id.iter().enumerate().any(|(i, (id, _))| i != *id) {
        return Err("id2label ids are not 0..n".to_string());
    }
    Ok(by_id.into_iter().map(|(_, l)| l).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ModelConfig> {
        ModelConfig::parse(text.to_string(), Path::new("somewhere/config.json"))
    }

    #[test]
    fn model_type_picks_the_architecture_and_unknown_ones_are_described() {
        let bert = r#"{"model_type": "bert", "vocab_size": 10, "hidden_size": 8,
            "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 16,
            "max_position_embeddings": 32, "id2label": {"1": "B", "0": "A"}}"#;
        let c = parse(bert).unwrap();
        assert!(matches!(c.arch, ArchConfig::Bert(_)));
        assert_eq!(c.labels(), ["A", "B"]);
        assert_eq!(c.architecture().unwrap().sizes().max_positions, 32);
        let xlmr = bert.replace("\"bert\"", "\"xlm-roberta\"").replace(
            "\"max_position_embeddings\": 32",
            "\"max_position_embeddings\": 34, \"pad_token_id\": 1",
        );
        let c = parse(&xlmr).unwrap();
        assert!(matches!(c.arch, ArchConfig::Roberta(_)));
        assert_eq!(c.architecture().unwrap().sizes().max_positions, 32);
        assert_eq!(c.architecture().unwrap().unk_token(), Some("<unk>"));
        let gpt = parse(r#"{"model_type": "gpt2", "num_labels": 3}"#).unwrap();
        assert_eq!(gpt.labels(), ["LABEL_0", "LABEL_1", "LABEL_2"]);
        assert!(gpt.id2label.is_empty());
        let e = gpt.architecture().err().unwrap().to_string();
        assert!(
            e.starts_with("somewhere/config.json: unsupported model_type \"gpt2\""),
            "{e}"
        );
    }

    #[test]
    fn errors_name_the_place_and_what_is_wrong() {
        let e = parse("{").unwrap_err().to_string();
        assert!(
            e.starts_with("somewhere/config.json: invalid config"),
            "{e}"
        );
        let e = parse(r#"{"model_type": "bert"}"#).unwrap_err().to_string();
        assert!(e.contains("invalid bert config: missing field"), "{e}");
        let e = parse(r#"{"model_type": "x", "id2label": {"a": "A"}}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("id2label key \"a\" is not a number"), "{e}");
        let e = parse(r#"{"model_type": "x", "id2label": {"1": "A"}}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("id2label ids are not 0..n"), "{e}");
    }
}

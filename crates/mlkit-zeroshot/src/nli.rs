//! The NLI method, exactly as transformers' ZeroShotClassificationPipeline computes it:
//! premise = the text, hypothesis = the template with the label, truncation "only_first";
//! one softmax over the labels' entailment logits, or, for multi-label (and a single label),
//! a softmax over [contradiction, entailment] for each label on its own.

use mlkit_core::classify::{Classifier, Task};
use mlkit_core::config::ModelConfig;
use mlkit_core::parts::ModelParts;
use mlkit_core::tokenize::{Encoded, TextTokenizer};
use mlkit_core::{ModelFiles, RunOptions};

use crate::{Result, ZeroShotError};

pub struct NliModel {
    classifier: Classifier,
    tokenizer: TextTokenizer,
    entailment: usize,
    contradiction: usize,
    opts: RunOptions,
}

/// The pipeline's `entailment_id`: the first label2id entry, in the config's order, whose
/// name starts with "entail" (any case); id2label order when there is no label2id.
pub fn entailment_id(config: &ModelConfig) -> Option<usize> {
    if !config.label2id.is_empty() {
        return config
            .label2id
            .iter()
            .find(|(name, _)| name.to_lowercase().starts_with("entail"))
            .and_then(|(_, id)| *id)
            .map(|id| id as usize);
    }
    config
        .id2label
        .iter()
        .position(|l| l.to_lowercase().starts_with("entail"))
}

/// Whether a model's config names an entailment label: an NLI classifier, for which the
/// NLI method is the default.
pub fn is_nli(config: &ModelConfig) -> bool {
    entailment_id(config).is_some()
}

impl NliModel {
    pub fn load(files: &ModelFiles, opts: &RunOptions) -> Result<NliModel> {
        Self::from_parts(&ModelParts::read(files)?, opts)
    }

    pub fn from_parts(parts: &ModelParts, opts: &RunOptions) -> Result<NliModel> {
        let classifier = Classifier::load(parts, opts, Task::SequenceClassification)?;
        let labels = &classifier.labels;
        let entailment = entailment_id(&parts.config)
            .filter(|&i| i < labels.len())
            .ok_or_else(|| ZeroShotError::BadModel {
                origin: parts.origin.clone(),
                message: format!(
                    "no entailment label among its labels ({}); the NLI method needs an NLI \
                     model (e.g. MoritzLaurer/DeBERTa-v3-base-mnli-fever-anli), or use \
                     the embedding method",
                    labels.join(", ")
                ),
            })?;
        // The pipeline's rule: the last label when entailment is the first, else the first.
        let contradiction = if entailment == 0 { labels.len() - 1 } else { 0 };
        let max_len = classifier.info.max_positions;
        let tokenizer = TextTokenizer::load(&parts.tokenizer, &parts.origin, max_len, true)?;
        Ok(NliModel {
            classifier,
            tokenizer,
            entailment,
            contradiction,
            opts: opts.clone(),
        })
    }

    /// The model's labels in id order, and the entailment and contradiction ids.
    pub fn nli_labels(&self) -> (&[String], usize, usize) {
        (&self.classifier.labels, self.entailment, self.contradiction)
    }

    /// Raw logits of every (text, hypothesis) pair: `[text][label][class]`.
    pub fn logits(&self, texts: &[&str], hypotheses: &[String]) -> Result<Vec<Vec<Vec<f32>>>> {
        let pairs: Vec<(&str, &str)> = texts
            .iter()
            .flat_map(|&t| hypotheses.iter().map(move |h| (t, h.as_str())))
            .collect();
        let encoded = self.tokenizer.encode_pairs(&pairs, 0)?;
        let items: Vec<&Encoded> = encoded.iter().collect();
        let out = self.classifier.sequence_logits(&items, &self.opts)?;
        let n = hypotheses.len().max(1);
        let mut rows = out.into_iter();
        Ok((0..texts.len())
            .map(|_| rows.by_ref().take(n).collect())
            .collect())
    }

    /// Each text's score for each label, in label order.
    pub fn scores(
        &self,
        texts: &[&str],
        labels: &[String],
        template: &str,
        multi_label: bool,
    ) -> Result<Vec<Vec<f32>>> {
        let hypotheses: Vec<String> = labels
            .iter()
            .map(|l| template.replacen("{}", l, 1))
            .collect();
        let logits = self.logits(texts, &hypotheses)?;
        Ok(logits
            .iter()
            .map(|per_label| {
                score_rule(
                    per_label,
                    self.entailment,
                    self.contradiction,
                    multi_label || labels.len() == 1,
                )
            })
            .collect())
    }
}

/// The pipeline's postprocess for one text: `per_label[label][class]` logits to scores.
pub fn score_rule(
    per_label: &[Vec<f32>],
    entailment: usize,
    contradiction: usize,
    independent: bool,
) -> Vec<f32> {
    if independent {
        per_label
            .iter()
            .map(|l| {
                let (c, e) = (l[contradiction] as f64, l[entailment] as f64);
                // exp(e) / (exp(c) + exp(e)), computed without overflow.
                (1.0 / (1.0 + (c - e).exp())) as f32
            })
            .collect()
    } else {
        let e: Vec<f64> = per_label.iter().map(|l| l[entailment] as f64).collect();
        let max = e.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let exp: Vec<f64> = e.iter().map(|x| (x - max).exp()).collect();
        let sum: f64 = exp.iter().sum();
        exp.into_iter().map(|x| (x / sum) as f32).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entailment_is_found_by_name_never_by_position() {
        // id2label: contradiction, neutral, entailment; label2id as given.
        let config = |label2id: &str| {
            let text = format!(
                r#"{{"model_type": "x", "id2label": {{"0": "contradiction", "1": "neutral",
                "2": "entailment"}}, "label2id": {label2id}}}"#
            );
            ModelConfig::parse(text, std::path::Path::new("config.json")).unwrap()
        };
        let cfg = config(r#"{"CONTRADICTION": 0, "NEUTRAL": 1, "ENTAILMENT": 2}"#);
        assert_eq!(entailment_id(&cfg), Some(2));
        let cfg = config(r#"{"entailment": 0, "not_entailment": 1}"#);
        assert_eq!(entailment_id(&cfg), Some(0));
        let cfg = config(r#"{"positive": 0}"#);
        assert_eq!(entailment_id(&cfg), None);
        // No label2id: id2label order.
        assert_eq!(entailment_id(&config("{}")), Some(2));
    }

    #[test]
    fn softmax_rules() {
        let logits = vec![vec![0.0, 0.0, 2.0], vec![1.0, 0.0, 0.0]];
        let s = score_rule(&logits, 2, 0, false);
        assert!((s[0] - 2f32.exp() / (2f32.exp() + 1.0)).abs() < 1e-6);
        assert!((s[0] + s[1] - 1.0).abs() < 1e-6);
        let m = score_rule(&logits, 2, 0, true);
        assert!((m[0] - 1.0 / (1.0 + (-2f32).exp())).abs() < 1e-6);
        assert!((m[1] - 1.0 / (1.0 + 1f32.exp())).abs() < 1e-6);
    }
}

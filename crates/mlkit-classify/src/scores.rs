//! From logits to the pipeline's scores and their order.

use mlkit_core::config::ModelConfig;

/// What turns a text's logits into its scores (the pipeline's `function_to_apply`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum ScoreFunction {
    /// One distribution over the labels.
    Softmax,
    /// Each label on its own, in 0..1.
    Sigmoid,
    /// The logits themselves.
    None,
}

impl ScoreFunction {
    /// The pipeline's default: none for regression, sigmoid for multi-label checkpoints and
    /// for those with one label, softmax for other classifiers.
    pub fn for_config(config: &ModelConfig) -> ScoreFunction {
        let n = config.labels().len();
        match config.problem_type.as_deref() {
            Some("regression") => ScoreFunction::None,
            Some("multi_label_classification") => ScoreFunction::Sigmoid,
            _ if n == 1 => ScoreFunction::Sigmoid,
            Some("single_label_classification") => ScoreFunction::Softmax,
            _ if n > 1 => ScoreFunction::Softmax,
            _ => ScoreFunction::None,
        }
    }

    /// The scores of one text's logits, in f32 as the pipeline computes them in numpy.
    pub fn apply(self, logits: &[f32]) -> Vec<f32> {
        match self {
            ScoreFunction::Softmax => {
                let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let exp: Vec<f32> = logits.iter().map(|&x| (x - max).exp()).collect();
                let sum: f32 = exp.iter().sum();
                exp.into_iter().map(|e| e / sum).collect()
            }
            ScoreFunction::Sigmoid => logits.iter().map(|&x| 1.0 / (1.0 + (-x).exp())).collect(),
            ScoreFunction::None => logits.to_vec(),
        }
    }
}

/// Label indices best first, as the pipeline sorts them (Python's stable sort, reversed by
/// key: of equal scores the earlier label first).
pub fn ranked(scores: &[f32]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &str) -> ModelConfig {
        let text = format!(r#"{{"model_type": "x"{extra}}}"#);
        ModelConfig::parse(text, std::path::Path::new("config.json")).unwrap()
    }

    #[test]
    fn the_default_function_follows_the_config() {
        assert_eq!(
            ScoreFunction::for_config(&config("")),
            ScoreFunction::Softmax
        );
        let one = config(r#", "id2label": {"0": "score"}"#);
        assert_eq!(ScoreFunction::for_config(&one), ScoreFunction::Sigmoid);
        let multi = config(r#", "num_labels": 3, "problem_type": "multi_label_classification""#);
        assert_eq!(ScoreFunction::for_config(&multi), ScoreFunction::Sigmoid);
        let regression = config(r#", "num_labels": 1, "problem_type": "regression""#);
        assert_eq!(ScoreFunction::for_config(&regression), ScoreFunction::None);
    }

    #[test]
    fn softmax_and_sigmoid() {
        let s = ScoreFunction::Softmax.apply(&[1.0, 2.0, 3.0]);
        let e: Vec<f64> = [1.0f64, 2.0, 3.0].iter().map(|x| x.exp()).collect();
        let sum: f64 = e.iter().sum();
        for (got, want) in s.iter().zip(e.iter().map(|x| x / sum)) {
            assert!((*got as f64 - want).abs() < 1e-7);
        }
        // Large logits do not overflow.
        assert_eq!(ScoreFunction::Softmax.apply(&[1000.0, 1000.0]), [0.5, 0.5]);
        let s = ScoreFunction::Sigmoid.apply(&[0.0, 2.0]);
        assert!((s[1] as f64 - 1.0 / (1.0 + (-2.0f64).exp())).abs() < 1e-7 && s[0] == 0.5);
    }

    #[test]
    fn ties_keep_the_earlier_label_first() {
        assert_eq!(ranked(&[0.2, 0.5, 0.2, 0.1]), [1, 0, 2, 3]);
    }
}

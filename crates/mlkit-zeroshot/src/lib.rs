//! mlkit-zeroshot: sort texts into labels no model was trained on.
//!
//! - `nli`: transformers' ZeroShotClassificationPipeline: each (text, "This example is
//!   {label}.") pair through an NLI cross-encoder, softmax over the entailment logits;
//! - `similarity`: cosine between a text's embedding and each label's (sentence-transformers);
//! - `ranking`: labels ordered by score as the pipeline orders them, top-k and thresholds;

pub mod nli;
pub mod ranking;
pub mod similarity;

pub use nli::NliModel;
pub use similarity::SimilarityModel;

#[derive(Debug, thiserror::Error)]
pub enum ZeroShotError {
    #[error(transparent)]
    Core(#[from] mlkit_core::CoreError),
    #[error("model {origin}: {message}")]
    BadModel { origin: String, message: String },
    #[error("{0}")]
    Usage(String),
}

impl ZeroShotError {
    /// Whether the error is in how mlkit was asked (exit code 2), not in running it.
    pub fn is_usage(&self) -> bool {
        match self {
            ZeroShotError::Usage(_) => true,
            ZeroShotError::Core(e) => e.is_usage(),
            ZeroShotError::BadModel { .. } => false,
        }
    }
}

impl From<candle_core::Error> for ZeroShotError {
    fn from(e: candle_core::Error) -> Self {
        ZeroShotError::Core(e.into())
    }
}

pub type Result<T> = std::result::Result<T, ZeroShotError>;

/// Checks candidate labels and the hypothesis template as the CLI receives them.
pub fn check_labels(labels: &[String], template: &str) -> Result<()> {
    if labels.is_empty() {
        return Err(ZeroShotError::Usage(
            "no labels: give at least one candidate label".into(),
        ));
    }
    if let Some(l) = labels.iter().find(|l| l.trim().is_empty()) {
        return Err(ZeroShotError::Usage(format!(
            "empty label {l:?} in the label list"
        )));
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(dup) = labels.iter().find(|l| !seen.insert(l.as_str())) {
        return Err(ZeroShotError::Usage(format!(
            "label {dup:?} is given twice"
        )));
    }
    if !template.contains("{}") {
        return Err(ZeroShotError::Usage(format!(
            "the template {template:?} has no {{}} for the label, e.g. \"This example is {{}}.\""
        )));
    }
    Ok(())
}

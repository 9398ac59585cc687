//! mlkit-classify: texts into a checkpoint's own labels (sentiment, topic, toxicity, ...), as
//! transformers' `pipeline("text-classification", top_k=None)` computes them.
//!
//! - `scores`: the pipeline's score functions (softmax, sigmoid, none), how it picks one
//!   from the config, and its order of labels (best first, ties in label order);
//! - [`TextClassifier`]: a sequence-classification checkpoint with its tokenizer, giving
//!   each text's (or text pair's) logits.

pub mod scores;

use mlkit_core::classify::{Classifier, Task};
use mlkit_core::parts::ModelParts;
use mlkit_core::tokenize::{Encoded, TextTokenizer};
use mlkit_core::{CoreError, ModelFiles, RunOptions};

pub use scores::{ranked, ScoreFunction};

#[derive(Debug, thiserror::Error)]
pub enum ClassifyError {
    #[error(transparent)]
    Core(#[from] CoreError),
}

impl ClassifyError {
    /// Whether the error is in how mlkit was asked (exit code 2), not in running it.
    pub fn is_usage(&self) -> bool {
        match self {
            ClassifyError::Core(e) => e.is_usage(),
        }
    }
}

pub type Result<T> = std::result::Result<T, ClassifyError>;

/// A sequence-classification checkpoint and its tokenizer.
pub struct TextClassifier {
    classifier: Classifier,
    tokenizer: TextTokenizer,
    function: ScoreFunction,
    opts: RunOptions,
}

impl TextClassifier {
    pub fn load(files: &ModelFiles, opts: &RunOptions) -> Result<TextClassifier> {
        Self::from_parts(&ModelParts::read(files)?, opts)
    }

    pub fn from_parts(parts: &ModelParts, opts: &RunOptions) -> Result<TextClassifier> {
        let classifier = Classifier::load(parts, opts, Task::SequenceClassification)?;
        let max_len = classifier.info.max_positions;
        // The pipeline does not truncate (an overlong text is an error there); a text longer
        // than the model's positions is cut to them here, as the other subcommands do.
        let tokenizer = TextTokenizer::load(&parts.tokenizer, &parts.origin, max_len, true)?;
        Ok(TextClassifier {
            function: ScoreFunction::for_config(&parts.config),
            classifier,
            tokenizer,
            opts: opts.clone(),
        })
    }

    /// The labels in id order.
    pub fn labels(&self) -> &[String] {
        &self.classifier.labels
    }

    /// The score function the pipeline applies to this model by default.
    pub fn default_function(&self) -> ScoreFunction {
        self.function
    }

    /// Each text's logits; `first_index` numbers the texts in errors.
    pub fn logits(&self, texts: &[&str], first_index: usize) -> Result<Vec<Vec<f32>>> {
        let encoded = self.tokenizer.encode(texts, first_index)?;
        self.run(&encoded)
    }

    /// Each (text, text pair)'s logits, the two encoded as one input the way the model was
    /// trained on pairs (`[CLS] a [SEP] b [SEP]` for BERT).
    pub fn pair_logits(&self, pairs: &[(&str, &str)], first_index: usize) -> Result<Vec<Vec<f32>>> {
        let encoded = self.tokenizer.encode_pairs(pairs, first_index)?;
        self.run(&encoded)
    }

    fn run(&self, encoded: &[Encoded]) -> Result<Vec<Vec<f32>>> {
        let items: Vec<&Encoded> = encoded.iter().collect();
        Ok(self.classifier.sequence_logits(&items, &self.opts)?)
    }
}

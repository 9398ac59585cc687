//! Dev-set scores the best epoch is chosen by: seqeval's entity F1 for NER (as `ner eval`),
//! accuracy for single-label and micro-averaged F1 for multi-label classification.

use mlkit_core::classify::Classifier;
use mlkit_core::tokenize::Encoded;
use mlkit_core::RunOptions;

use crate::data::{word_tags, Example, TaggedWords, Target, Window};
use crate::error::Result;
use crate::trainer::DevScore;

/// Tagged dev sentences and their windows.
pub struct NerDev {
    pub windows: Vec<Window>,
    pub gold: Vec<Vec<String>>,
    pub labels: Vec<String>,
}

impl NerDev {
    pub fn new(windows: Vec<Window>, sentences: &[TaggedWords], labels: &[String]) -> Self {
        NerDev {
            windows,
            gold: sentences.iter().map(|s| s.tags.clone()).collect(),
            labels: labels.to_vec(),
        }
    }

    /// Each sentence's predicted tags.
    pub fn predict(&self, model: &Classifier, run: &RunOptions) -> Result<Vec<Vec<String>>> {
        let items: Vec<&Encoded> = self.windows.iter().map(|w| &w.example.encoded).collect();
        let logits = model.token_logits(&items, run)?;
        Ok(word_tags(
            &self.windows,
            &logits,
            &self.labels,
            self.gold.len(),
        ))
    }
}

impl DevScore for NerDev {
    fn metric(&self) -> &'static str {
        "entity_f1"
    }

    fn score(&self, model: &Classifier, run: &RunOptions) -> Result<f64> {
        let predicted = self.predict(model, run)?;
        Ok(mlkit_ner::seqeval::evaluate(&self.gold, &predicted)
            .overall
            .f1)
    }
}

/// Dev inputs with their labels.
pub struct ClassDev {
    pub examples: Vec<Example>,
}

impl DevScore for ClassDev {
    fn metric(&self) -> &'static str {
        match self.examples.first().map(|e| &e.target) {
            Some(Target::Labels(_)) => "micro_f1",
            _ => "accuracy",
        }
    }

    fn score(&self, model: &Classifier, run: &RunOptions) -> Result<f64> {
        let items: Vec<&Encoded> = self.examples.iter().map(|e| &e.encoded).collect();
        let logits = model.sequence_logits(&items, run)?;
        let (mut right, mut predicted, mut gold) = (0usize, 0usize, 0usize);
        for (e, row) in self.examples.iter().zip(&logits) {
            match &e.target {
                Target::Label(l) => {
                    right += usize::from(mlkit_metrics::argmax(row) == *l as usize);
                    predicted += 1;
                    gold += 1;
                }
                Target::Labels(t) => {
                    for (x, y) in row.iter().zip(t) {
                        let p = *x > 0.0; // sigmoid(x) > 0.5
                        let g = *y > 0.5;
                        right += usize::from(p && g);
                        predicted += usize::from(p);
                        gold += usize::from(g);
                    }
                }
                Target::Tokens(_) => {}
            }
        }
        Ok(mlkit_metrics::precision_recall_f1(right, predicted, gold).2)
    }
}

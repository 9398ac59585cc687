//! The embedding method: cosine between each text's sentence embedding and each label's
//! (the label's description when one is given), as sentence-transformers' `cos_sim`.
//! Labels are embedded once.

use mlkit_core::parts::ModelParts;
use mlkit_core::{EmbedOptions, Embedder, ModelFiles};

use crate::Result;

pub struct SimilarityModel {
    embedder: Embedder,
    /// Unit-length label vectors, in label order.
    labels: Vec<Vec<f32>>,
}

fn unit(mut v: Vec<f32>) -> Vec<f32> {
    let norm = v
        .iter()
        .map(|x| (*x as f64) * (*x as f64))
        .sum::<f64>()
        .sqrt();
    // sentence-transformers' cos_sim divides by max(norm, 1e-8).
    let norm = norm.max(1e-8) as f32;
    v.iter_mut().for_each(|x| *x /= norm);
    v
}

impl SimilarityModel {
    /// Loads the embedding model and embeds `label_texts` (one per label).
    pub fn load(files: &ModelFiles, opts: &EmbedOptions, label_texts: &[String]) -> Result<Self> {
        Self::from_parts(&ModelParts::read(files)?, opts, label_texts)
    }

    pub fn from_parts(
        parts: &ModelParts,
        opts: &EmbedOptions,
        label_texts: &[String],
    ) -> Result<Self> {
        let embedder = Embedder::from_parts(parts, opts)?;
        let refs: Vec<&str> = label_texts.iter().map(String::as_str).collect();
        let labels = embedder.embed(&refs, 0)?.into_iter().map(unit).collect();
        Ok(SimilarityModel { embedder, labels })
    }

    /// Each text's cosine with each label, in label order. `first_index` numbers texts in
    /// errors.
    pub fn scores(&self, texts: &[&str], first_index: usize) -> Result<Vec<Vec<f32>>> {
        Ok(self
            .embedder
            .embed(texts, first_index)?
            .into_iter()
            .map(|v| {
                let v = unit(v);
                self.labels
                    .iter()
                    .map(|l| l.iter().zip(&v).map(|(a, b)| a * b).sum())
                    .collect()
            })
            .collect())
    }
}

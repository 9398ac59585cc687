//! A token-classification model run over documents: tokenized into overlapping windows,
//! batched by length, scored, and turned into the pipeline's pre-entities.

use mlkit_core::classify::{Classifier, Task};
use mlkit_core::parts::ModelParts;
use mlkit_core::tokenize::{Encoded, Overlong, TextTokenizer};
use mlkit_core::{ModelFiles, RunOptions};
use mlkit_metrics::argmax;
use serde::Deserialize;
use tokenizers::Decoder;

use crate::aggregate::{aggregate, resolve_overlaps, Aggregation, Entity, PreEntity};
use crate::error::{NerError, Result};

/// How to run a token classifier.
#[derive(Clone, Debug, Default)]
pub struct NerOptions {
    pub run: RunOptions,
    /// Tokens shared by consecutive windows of a long document; None: the default,
    /// a quarter of the model's maximum length.
    pub stride: Option<usize>,
}

/// The two facts of tokenizer.json's model the pipeline reads.
#[derive(Deserialize)]
struct TokenizerJson {
    model: TokenizerModel,
}

#[derive(Deserialize)]
struct TokenizerModel {
    continuing_subword_prefix: Option<String>,
    unk_token: Option<String>,
}

pub struct NerModel {
    classifier: Classifier,
    tokenizer: TextTokenizer,
    /// A tokenizer with a continuing-sub-word prefix ("##") marks sub-words itself; others
    /// fall back on "no space before the token", as the pipeline does.
    word_aware: bool,
    unk_id: Option<u32>,
    stride: usize,
    opts: NerOptions,
}

/// One document's windows, each a list of tokens with their label scores.
pub type Scored = Vec<Vec<PreEntity>>;

impl NerModel {
    pub fn load(files: &ModelFiles, opts: &NerOptions) -> Result<NerModel> {
        Self::from_parts(&ModelParts::read(files)?, opts)
    }

    pub fn from_parts(parts: &ModelParts, opts: &NerOptions) -> Result<NerModel> {
        let classifier = Classifier::load(parts, &opts.run, Task::TokenClassification)?;
        let max_len = classifier.info.max_positions;
        let stride = opts.stride.unwrap_or(max_len / 4);
        // Each window must move forward: the template's special tokens and the overlap
        // leave room for at least one new token.
        if stride + 4 > max_len {
            return Err(NerError::Usage(format!(
                "stride {stride} leaves no room in windows of {max_len} tokens; use at most {}",
                max_len.saturating_sub(4)
            )));
        }
        let tokenizer = TextTokenizer::load_with(
            &parts.tokenizer,
            &parts.origin,
            max_len,
            Overlong::Windows { stride },
        )?;
        let facts: TokenizerJson =
            serde_json::from_slice(&parts.tokenizer).map_err(|e| NerError::BadModel {
                origin: parts.origin.clone(),
                message: format!("tokenizer.json has no readable model section: {e}"),
            })?;
        let word_aware = facts
            .model
            .continuing_subword_prefix
            .is_some_and(|p| !p.is_empty());
        // Python takes the unknown token from the tokenizer class (tokenizer_config.json
        // aside): the architecture says when it is not tokenizer.json's.
        let unk = match classifier.info.unk_token {
            Some(unk) => unk.to_string(),
            None => facts.model.unk_token.unwrap_or_else(|| "[UNK]".into()),
        };
        let unk_id = tokenizer.inner().token_to_id(&unk);
        Ok(NerModel {
            classifier,
            tokenizer,
            word_aware,
            unk_id,
            stride,
            opts: opts.clone(),
        })
    }

    /// Labels in id order.
    pub fn labels(&self) -> &[String] {
        &self.classifier.labels
    }

    pub fn max_len(&self) -> usize {
        self.tokenizer.max_len()
    }

    pub fn stride(&self) -> usize {
        self.stride
    }

    /// `convert_tokens_to_string`: the tokenizer's decoder over vocabulary tokens.
    pub fn decode(&self, tokens: &[String]) -> String {
        match self.tokenizer.inner().get_decoder() {
            Some(d) => d
                .decode(tokens.to_vec())
                .unwrap_or_else(|_| tokens.join(" ")),
            None => tokens.join(" "),
        }
    }

    /// Entities of each text, by the pipeline's rules; `ignore` lists dropped labels.
    pub fn entities(
        &self,
        texts: &[&str],
        strategy: Aggregation,
        ignore: &[&str],
    ) -> Result<Vec<Vec<Entity>>> {
        Ok(self
            .score(texts)?
            .iter()
            .map(|windows| self.aggregate(windows, strategy, ignore))
            .collect())
    }

    /// One scored document's entities: each window aggregated, then overlaps resolved.
    pub fn aggregate(
        &self,
        windows: &Scored,
        strategy: Aggregation,
        ignore: &[&str],
    ) -> Vec<Entity> {
        let decode = |t: &[String]| self.decode(t);
        let found: Vec<Entity> = windows
            .iter()
            .flat_map(|w| aggregate(w, strategy, self.labels(), &decode, ignore))
            .collect();
        if windows.len() > 1 {
            resolve_overlaps(found)
        } else {
            found
        }
    }

    /// Every text's windows with label scores for each non-special token.
    pub fn score(&self, texts: &[&str]) -> Result<Vec<Scored>> {
        let windows = self.tokenizer.encode_windows(texts)?;
        // Flatten the windows of all texts, so that short texts share batches.
        let flat: Vec<(usize, usize, &Encoded)> = windows
            .iter()
            .enumerate()
            .flat_map(|(t, ws)| ws.iter().enumerate().map(move |(w, e)| (t, w, e)))
            .collect();
        let items: Vec<&Encoded> = flat.iter().map(|(_, _, e)| *e).collect();
        let scores = self.classifier.token_logits(&items, &self.opts.run)?;
        let chars: Vec<Vec<char>> = texts.iter().map(|t| t.chars().collect()).collect();
        let mut out: Vec<Scored> = windows
            .iter()
            .map(|w| Vec::with_capacity(w.len()))
            .collect();
        for ((t, _, enc), rows) in flat.iter().zip(scores) {
            out[*t].push(self.pre_entities(&chars[*t], enc, rows));
        }
        Ok(out)
    }

    /// The pipeline's gather_pre_entities for one window.
    fn pre_entities(&self, text: &[char], enc: &Encoded, logits: Vec<Vec<f32>>) -> Vec<PreEntity> {
        let mut out = Vec::with_capacity(enc.ids.len());
        for (idx, row) in logits.into_iter().enumerate().take(enc.ids.len()) {
            if enc.special[idx] != 0 {
                continue;
            }
            let (start, end) = enc.offsets[idx];
            let (word, is_subword) = if Some(enc.ids[idx]) == self.unk_id {
                // [UNK] stands for the text it covers, a word of its own.
                let covered = text[start.min(text.len())..end.min(text.len())].iter();
                (covered.collect(), false)
            } else {
                let token = enc.tokens[idx].clone();
                let is_subword = if self.word_aware {
                    token.chars().count() != end - start
                } else {
                    start > 0 && text[start - 1] != ' ' && text.get(start) != Some(&' ')
                };
                (token, is_subword)
            };
            out.push(PreEntity {
                word,
                scores: softmax(&row),
                start,
                end,
                index: idx,
                is_subword,
            });
        }
        out
    }

    /// Tags of pre-split words (CoNLL): the label of each word's first token, the rule the
    /// bundled model was trained and scored with. Words are joined by single spaces.
    pub fn word_tags(&self, sentences: &[Vec<String>]) -> Result<Vec<Vec<String>>> {
        let texts: Vec<String> = sentences.iter().map(|w| w.join(" ")).collect();
        let refs: Vec<&str> = texts.iter().map(|s| s.as_str()).collect();
        let scored = self.score(&refs)?;
        Ok(sentences
            .iter()
            .zip(scored)
            .map(|(words, windows)| {
                let mut starts = Vec::with_capacity(words.len());
                let mut at = 0;
                for w in words {
                    starts.push(at);
                    at += w.chars().count() + 1;
                }
                starts
                    .iter()
                    .map(|&s| {
                        windows.iter().flatten().find(|p| p.start == s).map_or_else(
                            || "O".to_string(),
                            |p| self.labels()[argmax(&p.scores)].clone(),
                        )
                    })
                    .collect()
            })
            .collect())
    }
}

/// numpy's `exp(x - max) / sum`, in f32 as the pipeline computes it.
fn softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exp: Vec<f32> = logits.iter().map(|&x| (x - max).exp()).collect();
    let sum: f32 = exp.iter().sum();
    exp.into_iter().map(|e| e / sum).collect()
}

//! Tokenization with Hugging Face `tokenizers`, padding done per batch by the core.

use tokenizers::{EncodeInput, Tokenizer, TruncationParams, TruncationStrategy};

use crate::error::{CoreError, Result};

/// One tokenized input.
#[derive(Clone, Debug)]
pub struct Encoded {
    pub ids: Vec<u32>,
    pub type_ids: Vec<u32>,
    /// Character offsets of each token in the input (0, 0 for special tokens).
    pub offsets: Vec<(usize, usize)>,
    /// 1 where the token was added by the tokenizer's template ([CLS], [SEP], <s>, ...).
    pub special: Vec<u32>,
    /// Each token as its vocabulary spells it ("##ing", "Ġthe"), as
    /// `convert_ids_to_tokens` gives it in Python.
    pub tokens: Vec<String>,
}

pub struct TextTokenizer {
    inner: Tokenizer,
    max_len: usize,
    overlong: Overlong,
}

/// What happens to an input longer than the model's maximum length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overlong {
    /// An error naming the input.
    Fail,
    /// Cut at the end, as sentence-transformers does.
    Truncate,
    /// Split into windows of the maximum length that overlap by `stride` tokens, as the
    /// transformers pipelines' `stride` does (`return_overflowing_tokens`).
    Windows { stride: usize },
}

impl TextTokenizer {
    /// Loads a `tokenizer.json` (`origin` names it in errors). Inputs longer than `max_len`
    /// tokens are an error unless `truncate`, in which case they are cut as
    /// sentence-transformers cuts them.
    pub fn load(json: &[u8], origin: &str, max_len: usize, truncate: bool) -> Result<Self> {
        let overlong = if truncate {
            Overlong::Truncate
        } else {
            Overlong::Fail
        };
        Self::load_with(json, origin, max_len, overlong)
    }

    /// As `load`, with any handling of overlong inputs.
    pub fn load_with(
        json: &[u8],
        origin: &str,
        max_len: usize,
        overlong: Overlong,
    ) -> Result<Self> {
        let mut inner = Tokenizer::from_bytes(json).map_err(|e| CoreError::BadFile {
            path: format!("{origin}/tokenizer.json").into(),
            message: format!("not a valid tokenizer.json: {e}"),
        })?;
        inner.with_padding(None);
        let truncation = match overlong {
            Overlong::Fail => None,
            Overlong::Truncate => Some(TruncationParams {
                max_length: max_len,
                strategy: TruncationStrategy::OnlyFirst,
                ..Default::default()
            }),
            Overlong::Windows { stride } => Some(TruncationParams {
                max_length: max_len,
                stride,
                strategy: TruncationStrategy::LongestFirst,
                ..Default::default()
            }),
        };
        inner
            .with_truncation(truncation)
            .map_err(|e| CoreError::Tokenize(e.to_string()))?;
        Ok(TextTokenizer {
            inner,
            max_len,
            overlong,
        })
    }

    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// The tokenizer itself, for what this wrapper does not cover (decoding tokens).
    pub fn inner(&self) -> &Tokenizer {
        &self.inner
    }

    /// Tokenizes `texts`; `first_index` numbers them in errors.
    pub fn encode(&self, texts: &[&str], first_index: usize) -> Result<Vec<Encoded>> {
        let inputs: Vec<EncodeInput> = texts.iter().map(|&t| t.into()).collect();
        self.encode_inputs(inputs, first_index)
    }

    /// Tokenizes `texts` into windows (one when a text fits; see `Overlong::Windows`). Each
    /// window has the template's special tokens; offsets stay relative to the whole text.
    pub fn encode_windows(&self, texts: &[&str]) -> Result<Vec<Vec<Encoded>>> {
        let inputs: Vec<EncodeInput> = texts.iter().map(|&t| t.into()).collect();
        let encodings = self
            .inner
            .encode_batch_char_offsets(inputs, true)
            .map_err(|e| CoreError::Tokenize(e.to_string()))?;
        Ok(encodings
            .into_iter()
            .map(|mut e| {
                let overflow = e.take_overflowing();
                std::iter::once(e).chain(overflow).map(encoded).collect()
            })
            .collect())
    }

    /// Tokenizes text pairs (premise, hypothesis) with the tokenizer's pair template, as
    /// NLI models are fed; truncation, when on, cuts the first text first ("only_first").
    pub fn encode_pairs(&self, pairs: &[(&str, &str)], first_index: usize) -> Result<Vec<Encoded>> {
        let inputs: Vec<EncodeInput> = pairs.iter().map(|&(a, b)| (a, b).into()).collect();
        self.encode_inputs(inputs, first_index)
    }

    fn encode_inputs(&self, inputs: Vec<EncodeInput>, first_index: usize) -> Result<Vec<Encoded>> {
        let encodings = self
            .inner
            .encode_batch_char_offsets(inputs, true)
            .map_err(|e| CoreError::Tokenize(e.to_string()))?;
        encodings
            .into_iter()
            .enumerate()
            .map(|(i, e)| {
                if self.overlong == Overlong::Fail && e.len() > self.max_len {
                    return Err(CoreError::TooLong {
                        index: first_index + i,
                        tokens: e.len(),
                        max: self.max_len,
                    });
                }
                Ok(encoded(e))
            })
            .collect()
    }
}

fn encoded(e: tokenizers::Encoding) -> Encoded {
    Encoded {
        ids: e.get_ids().to_vec(),
        type_ids: e.get_type_ids().to_vec(),
        offsets: e.get_offsets().to_vec(),
        special: e.get_special_tokens_mask().to_vec(),
        tokens: e.get_tokens().to_vec(),
    }
}

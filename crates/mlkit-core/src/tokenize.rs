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
}

pub struct TextTokenizer {
    inner: Tokenizer,
    max_len: usize,
    truncate: bool,
}

impl TextTokenizer {
    /// Loads a `tokenizer.json` (`origin` names it in errors). Inputs longer than `max_len`
    /// tokens are an error unless `truncate`, in which case they are cut as
    /// sentence-transformers cuts them.
    pub fn load(json: &[u8], origin: &str, max_len: usize, truncate: bool) -> Result<Self> {
        let mut inner = Tokenizer::from_bytes(json).map_err(|e| CoreError::BadFile {
            path: format!("{origin}/tokenizer.json").into(),
            message: format!("not a valid tokenizer.json: {e}"),
        })?;
        inner.with_padding(None);
        let truncation = truncate.then(|| TruncationParams {
            max_length: max_len,
            strategy: TruncationStrategy::OnlyFirst,
            ..Default::default()
        });
        inner
            .with_truncation(truncation)
            .map_err(|e| CoreError::Tokenize(e.to_string()))?;
        Ok(TextTokenizer {
            inner,
            max_len,
            truncate,
        })
    }

    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// Tokenizes `texts`; `first_index` numbers them in errors.
    pub fn encode(&self, texts: &[&str], first_index: usize) -> Result<Vec<Encoded>> {
        let inputs: Vec<EncodeInput> = texts.iter().map(|&t| t.into()).collect();
        self.encode_inputs(inputs, first_index)
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
                if !self.truncate && e.len() > self.max_len {
                    return Err(CoreError::TooLong {
                        index: first_index + i,
                        tokens: e.len(),
                        max: self.max_len,
                    });
                }
                Ok(Encoded {
                    ids: e.get_ids().to_vec(),
                    type_ids: e.get_type_ids().to_vec(),
                    offsets: e.get_offsets().to_vec(),
                })
            })
            .collect()
    }
}

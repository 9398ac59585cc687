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
        let bad = |message: String| CoreError::BadFile {
            path: format!("{origin}/tokenizer.json").into(),
            message,
        };
        // JSON syntax first: tokenizers 0.23 panics (`expect("Helper")`) instead of erring on
        // malformed JSON inside `decoder` (found by the fuzz target model_config).
        let value: serde_json::Value =
            serde_json::from_slice(json).map_err(|e| bad(format!("not valid JSON: {e}")))?;
        // A precompiled normalizer's tables are indexed without checks by its reader: check
        // them first, as for a SentencePiece model's.
        crate::tokenizer_files::check_precompiled_normalizers(&value).map_err(bad)?;
        let mut inner = Tokenizer::from_bytes(json)
            .map_err(|e| bad(format!("not a valid tokenizer.json: {e}")))?;
        let post = serde_json::to_value(inner.get_post_processor())
            .map_err(|e| bad(format!("its post_processor cannot be read back: {e}")))?;
        check_templates(&post).map_err(bad)?;
        inner.with_padding(None);
        let truncation = match overlong {
            Overlong::Fail => None,
            Overlong::Truncate => Some(TruncationParams {
                max_length: max_len,
                strategy: TruncationStrategy::OnlyFirst,
                ..Default::default()
            }),
            // Windows are cut by `encode_windows` itself: tokenizers 0.23's template
            // processing keeps only the first overflowing window (0.22 kept them all).
            Overlong::Windows { .. } => None,
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
        let stride = match self.overlong {
            Overlong::Windows { stride } => stride,
            _ => 0,
        };
        let inputs: Vec<EncodeInput> = texts.iter().map(|&t| t.into()).collect();
        self.encode_batch(inputs)?
            .into_iter()
            .map(|e| windows(Encoded::from(e), self.max_len, stride))
            .collect()
    }

    /// Tokenizes text pairs (premise, hypothesis) with the tokenizer's pair template, as
    /// NLI models are fed; truncation, when on, cuts the first text first ("only_first").
    /// An empty second text is no pair, as in transformers (`if text_pair` is false for "").
    pub fn encode_pairs(&self, pairs: &[(&str, &str)], first_index: usize) -> Result<Vec<Encoded>> {
        let inputs: Vec<EncodeInput> = pairs
            .iter()
            .map(|&(a, b)| {
                if b.is_empty() {
                    a.into()
                } else {
                    (a, b).into()
                }
            })
            .collect();
        self.encode_inputs(inputs, first_index)
    }

    /// The tokenizer's own batch encoding, with special tokens and character offsets.
    fn encode_batch(&self, inputs: Vec<EncodeInput>) -> Result<Vec<tokenizers::Encoding>> {
        self.inner
            .encode_batch_char_offsets(inputs, true)
            .map_err(|e| CoreError::Tokenize(e.to_string()))
    }

    fn encode_inputs(&self, inputs: Vec<EncodeInput>, first_index: usize) -> Result<Vec<Encoded>> {
        self.encode_batch(inputs)?
            .into_iter()
            .enumerate()
            .map(|(i, e)| {
                // Only Truncate cuts; windows come from `encode_windows`, never from here.
                if self.overlong != Overlong::Truncate && e.len() > self.max_len {
                    return Err(CoreError::TooLong {
                        index: first_index + i,
                        tokens: e.len(),
                        max: self.max_len,
                    });
                }
                Ok(Encoded::from(e))
            })
            .collect()
    }
}

/// Cuts a whole encoding into windows of at most `max_len` tokens that overlap by `stride`,
/// each with the template's leading and trailing special tokens, exactly as tokenizers'
/// `Encoding::truncate` (direction right) and the post-processor lay them out.
fn windows(e: Encoded, max_len: usize, stride: usize) -> Result<Vec<Encoded>> {
    let n = e.ids.len();
    let lead = e.special.iter().take_while(|&&s| s != 0).count();
    let trail = e.special[lead..]
        .iter()
        .rev()
        .take_while(|&&s| s != 0)
        .count();
    let room = max_len.saturating_sub(lead + trail);
    if n <= max_len {
        return Ok(vec![e]);
    }
    if room <= stride {
        return Err(CoreError::Tokenize(format!(
            "windows of {max_len} tokens leave {room} for text, not more than the stride {stride}"
        )));
    }
    let content = lead..n - trail;
    let len = content.len();
    let mut out = Vec::new();
    let mut start = 0;
    loop {
        let stop = (start + room).min(len);
        let pick = |i: usize| -> usize {
            if i < lead {
                i
            } else if i < lead + (stop - start) {
                content.start + start + (i - lead)
            } else {
                content.end + (i - lead - (stop - start))
            }
        };
        let width = lead + (stop - start) + trail;
        let idx: Vec<usize> = (0..width).map(pick).collect();
        out.push(Encoded {
            ids: idx.iter().map(|&i| e.ids[i]).collect(),
            type_ids: idx.iter().map(|&i| e.type_ids[i]).collect(),
            offsets: idx.iter().map(|&i| e.offsets[i]).collect(),
            special: idx.iter().map(|&i| e.special[i]).collect(),
            tokens: idx.iter().map(|&i| e.tokens[i].clone()).collect(),
        });
        if stop == len {
            break;
        }
        start += room - stride;
    }
    Ok(out)
}

impl From<tokenizers::Encoding> for Encoded {
    fn from(e: tokenizers::Encoding) -> Encoded {
        Encoded {
            ids: e.get_ids().to_vec(),
            type_ids: e.get_type_ids().to_vec(),
            offsets: e.get_offsets().to_vec(),
            special: e.get_special_tokens_mask().to_vec(),
            tokens: e.get_tokens().to_vec(),
        }
    }
}

/// tokenizers 0.23 builds a TemplateProcessing from JSON without the check its builder
/// makes, then panics while encoding when a template names a special token that
/// `special_tokens` does not define (found by the fuzz target model_config): refuse such a
/// file at load instead.
fn check_templates(v: &serde_json::Value) -> std::result::Result<(), String> {
    use serde_json::Value;
    match v {
        Value::Object(m) => {
            if m.get("type").and_then(Value::as_str) == Some("TemplateProcessing") {
                let defined = m.get("special_tokens").and_then(Value::as_object);
                let pieces = ["single", "pair"]
                    .into_iter()
                    .filter_map(|k| m.get(k).and_then(Value::as_array))
                    .flatten();
                for piece in pieces {
                    let Some(id) = piece.pointer("/SpecialToken/id").and_then(Value::as_str) else {
                        continue;
                    };
                    if !defined.is_some_and(|d| d.contains_key(id)) {
                        return Err(format!(
                            "its post_processor's template uses the special token {id:?}, \
                             which its special_tokens do not define"
                        ));
                    }
                }
            }
            m.values().try_for_each(check_templates)
        }
        Value::Array(a) => a.iter().try_for_each(check_templates),
        _ => Ok(()),
    }
}

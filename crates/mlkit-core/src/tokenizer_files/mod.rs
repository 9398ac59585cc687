//! Tokenizers of checkpoints that ship no tokenizer.json, built from the slow tokenizer's
//! files the way transformers' `convert_slow_tokenizer` builds them, so that ids and
//! character offsets equal `AutoTokenizer.from_pretrained(..., use_fast=True)`'s:
//!
//! - `wordpiece`: `vocab.txt` (BERT, DistilBERT, ELECTRA: `BertConverter`; MPNet:
//!   `MPNetConverter`);
//! - `bpe`: `vocab.json` + `merges.txt` (RoBERTa: `RobertaConverter`);
//! - `sentencepiece` (with `protobuf`, its model file): `spm.model` and
//!   `sentencepiece.bpe.model` (DeBERTa-v2/v3, XLM-R, CamemBERT: the `SpmConverter`s);
//! - `settings`: what `tokenizer_config.json`, `special_tokens_map.json` and the legacy
//!   `added_tokens.json` say (casing,
//!   accents, special tokens, added tokens), shared by both.
//!
//! The result is a tokenizer.json in memory: everything after this (truncation, windows,
//! `mlkit quantize` storing it in a GGUF file) treats it as if the checkpoint had shipped it.

mod bpe;
mod protobuf;
mod sentencepiece;
mod settings;
mod wordpiece;

use std::path::{Path, PathBuf};

use tokenizers::Tokenizer;

use crate::error::{CoreError, Result};
use settings::Settings;

/// Where a tokenizer comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenizerKind {
    /// `tokenizer.json`, used as it is.
    Json,
    /// `vocab.txt`: BERT's WordPiece.
    WordPiece,
    /// `vocab.json` and `merges.txt`: RoBERTa's byte-level BPE.
    ByteLevelBpe,
    /// A SentencePiece model: `spm.model` or `sentencepiece.bpe.model`.
    SentencePiece,
}

impl TokenizerKind {
    /// The kinds in the order they are looked for (tokenizer.json first, as transformers
    /// prefers it), with the files each needs.
    const SEARCH: [(TokenizerKind, &'static [&'static str]); 5] = [
        (TokenizerKind::Json, &["tokenizer.json"]),
        (TokenizerKind::SentencePiece, &["spm.model"]),
        (TokenizerKind::SentencePiece, &["sentencepiece.bpe.model"]),
        (TokenizerKind::ByteLevelBpe, &["vocab.json", "merges.txt"]),
        (TokenizerKind::WordPiece, &["vocab.txt"]),
    ];
}

/// The files of one tokenizer.
#[derive(Clone, Debug)]
pub struct TokenizerFiles {
    pub kind: TokenizerKind,
    /// The files the kind needs, in the order of `TokenizerKind::SEARCH`.
    pub files: Vec<PathBuf>,
    /// tokenizer_config.json, when there is one (not read for tokenizer.json).
    pub config: Option<PathBuf>,
    /// special_tokens_map.json, when there is one (not read for tokenizer.json).
    pub special_tokens_map: Option<PathBuf>,
    /// added_tokens.json, the legacy list of added tokens, when there is one.
    pub added_tokens: Option<PathBuf>,
}

/// A file must not be larger than this to be read (the largest vocabularies are a few MB).
const MAX_FILE_BYTES: u64 = 256 << 20;

impl TokenizerFiles {
    /// Finds a tokenizer's files through `get`, which gives a file's local path when the
    /// model has it (and may download it to get there). `None` when the model has none of
    /// the kinds.
    pub fn locate(mut get: impl FnMut(&str) -> Result<Option<PathBuf>>) -> Result<Option<Self>> {
        for (kind, names) in TokenizerKind::SEARCH {
            let mut files = Vec::new();
            for name in names {
                match get(name)? {
                    Some(path) => files.push(path),
                    None => break,
                }
            }
            if files.len() < names.len() {
                continue;
            }
            let (config, special_tokens_map, added_tokens) = if kind == TokenizerKind::Json {
                (None, None, None)
            } else {
                (
                    get(settings::CONFIG)?,
                    get(settings::SPECIAL_TOKENS_MAP)?,
                    get(settings::ADDED_TOKENS)?,
                )
            };
            return Ok(Some(TokenizerFiles {
                kind,
                files,
                config,
                special_tokens_map,
                added_tokens,
            }));
        }
        Ok(None)
    }

    /// What `mlkit models info` says of the tokenizer.
    pub fn describe(&self) -> String {
        match self.kind {
            TokenizerKind::Json => "tokenizer.json".into(),
            TokenizerKind::WordPiece => {
                "vocab.txt (WordPiece, built as transformers converts BertTokenizer or \
                 MPNetTokenizer)"
                    .into()
            }
            TokenizerKind::ByteLevelBpe => "vocab.json + merges.txt (byte-level BPE, built as \
                                            transformers converts RobertaTokenizer)"
                .into(),
            TokenizerKind::SentencePiece => format!(
                "{} (SentencePiece, built as transformers converts it)",
                self.files[0]
                    .file_name()
                    .map_or(String::new(), |n| n.to_string_lossy().into_owned())
            ),
        }
    }

    /// The tokenizer as tokenizer.json text; `model_type` (config.json's) picks the
    /// tokenizer class where the files alone do not say.
    pub fn tokenizer_json(&self, model_type: &str) -> Result<Vec<u8>> {
        if self.kind == TokenizerKind::Json {
            return read_limited(&self.files[0]);
        }
        let settings = Settings::read(
            self.config.as_deref(),
            self.special_tokens_map.as_deref(),
            self.added_tokens.as_deref(),
        )?;
        let main = &self.files[0];
        let tokenizer = match self.kind {
            TokenizerKind::Json => unreachable!("returned above"),
            TokenizerKind::WordPiece => {
                let class = wordpiece::WordPieceClass::pick(
                    settings.text("tokenizer_class").as_deref(),
                    model_type,
                );
                wordpiece::build(main, &read_text(main)?, &settings, class)?
            }
            TokenizerKind::SentencePiece => {
                let class = sentencepiece::SpmClass::pick(
                    settings.text("tokenizer_class").as_deref(),
                    model_type,
                    main,
                );
                sentencepiece::build(main, &read_limited(main)?, &settings, class)?
            }
            TokenizerKind::ByteLevelBpe => {
                let merges = &self.files[1];
                bpe::build(
                    (main, &read_text(main)?),
                    (merges, &read_text(merges)?),
                    &settings,
                )?
            }
        };
        tokenizer
            .to_string(false)
            .map(String::into_bytes)
            .map_err(|e| CoreError::Tokenize(format!("cannot write the built tokenizer: {e}")))
    }
}

/// A file's bytes, refused past `MAX_FILE_BYTES`.
fn read_limited(path: &Path) -> Result<Vec<u8>> {
    let read = |source| CoreError::Read {
        path: path.to_path_buf(),
        source,
    };
    let len = std::fs::metadata(path).map_err(read)?.len();
    if len > MAX_FILE_BYTES {
        return Err(bad(
            path,
            format!("is {len} bytes, more than a tokenizer file can be"),
        ));
    }
    std::fs::read(path).map_err(read)
}

fn read_text(path: &Path) -> Result<String> {
    String::from_utf8(read_limited(path)?).map_err(|e| {
        bad(
            path,
            format!("is not UTF-8 (byte {})", e.utf8_error().valid_up_to()),
        )
    })
}

fn bad(path: &Path, message: impl std::fmt::Display) -> CoreError {
    CoreError::BadFile {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

/// Adds the checkpoint's added tokens and special tokens to `tokenizer` as
/// `PreTrainedTokenizerFast.__init__` does after the conversion: first those of
/// `added_tokens_decoder` by id, then the special tokens not among them.
fn add_tokens(path: &Path, tokenizer: &mut Tokenizer, settings: &Settings) -> Result<()> {
    tokenizer
        .add_tokens(settings.tokens_to_add())
        .map_err(|e| bad(path, format!("cannot add its added tokens: {e}")))?;
    Ok(())
}

/// The id of special token `token` in `vocab`, or an error naming the file.
fn special_id(
    vocab: &std::collections::HashMap<String, u32>,
    token: &str,
    role: &str,
    path: &Path,
) -> Result<u32> {
    vocab.get(token).copied().ok_or_else(|| {
        bad(
            path,
            format!("has no {role} token {token:?}; name the right one in tokenizer_config.json"),
        )
    })
}

/// Checks every precompiled normalizer in a tokenizer.json (`{"type": "Precompiled",
/// "precompiled_charsmap": base64}`, at any depth) as a SentencePiece model's is checked.
pub fn check_precompiled_normalizers(value: &serde_json::Value) -> std::result::Result<(), String> {
    use serde_json::Value;
    match value {
        Value::Object(m) => {
            if m.get("type").and_then(Value::as_str) == Some("Precompiled") {
                let text = m
                    .get("precompiled_charsmap")
                    .and_then(Value::as_str)
                    .ok_or("a precompiled normalizer without its charsmap")?;
                let bytes =
                    base64(text).ok_or("a precompiled normalizer whose charsmap is not base64")?;
                protobuf::check_charsmap(&bytes)?;
            }
            m.values().try_for_each(check_precompiled_normalizers)
        }
        Value::Array(v) => v.iter().try_for_each(check_precompiled_normalizers),
        _ => Ok(()),
    }
}

/// Standard base64 with padding, as tokenizers writes a charsmap.
fn base64(text: &str) -> Option<Vec<u8>> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let body = text.trim_end_matches('=');
    if !text.len().is_multiple_of(4) || text.len() - body.len() > 2 {
        return None;
    }
    let mut out = Vec::with_capacity(body.len() * 3 / 4);
    for chunk in body.as_bytes().chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= value(c)? << (18 - 6 * i);
        }
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_as_tokenizers_writes_it() {
        assert_eq!(base64("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(base64("aGVsbG8h").unwrap(), b"hello!");
        assert_eq!(base64("aGk=").unwrap(), b"hi");
        assert_eq!(base64("").unwrap(), b"");
        assert!(base64("aGk").is_none() && base64("a*==").is_none());
    }

    #[test]
    fn a_damaged_charsmap_in_a_tokenizer_json_is_refused() {
        // Four bytes saying the trie has 4 units (16 bytes), then nothing.
        let json = serde_json::json!({"normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Precompiled", "precompiled_charsmap": "EAAAAA=="}]}});
        let e = check_precompiled_normalizers(&json).unwrap_err();
        assert!(e.contains("truncated"), "{e}");
        assert!(check_precompiled_normalizers(&serde_json::json!({"normalizer": null})).is_ok());
    }
}

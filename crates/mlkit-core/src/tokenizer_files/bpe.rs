//! `vocab.json` + `merges.txt` to a byte-level BPE tokenizer, as transformers'
//! `RobertaConverter` builds it from a `RobertaTokenizer`: ByteLevel pre-tokenizer (with a
//! prefix space if the config asks), BPE without an unknown token, `<s> A </s>` /
//! `<s> A </s></s> B </s>` with offsets trimmed of spaces.

use std::collections::HashMap;

use ahash::AHashMap;
use std::path::Path;

use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::BPE;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::processors::roberta::RobertaProcessing;
use tokenizers::Tokenizer;

use super::settings::{roberta_defaults, Settings};
use super::{add_tokens, bad, special_id};
use crate::error::Result;

/// The merges of a merges.txt as `RobertaTokenizer` reads them: the text split at "\n",
/// the first line (the "#version" line) and the last piece dropped, each line two tokens.
fn read_merges(path: &Path, text: &str) -> Result<Vec<(String, String)>> {
    let lines: Vec<&str> = text.split('\n').collect();
    let body = if lines.len() >= 2 {
        &lines[1..lines.len() - 1]
    } else {
        &[][..]
    };
    body.iter()
        .enumerate()
        .map(|(n, line)| {
            let parts: Vec<&str> = line.split_whitespace().collect();
            match parts[..] {
                [a, b] => Ok((a.to_string(), b.to_string())),
                _ => Err(bad(
                    path,
                    format!("line {}: a merge is two tokens, found {:?}", n + 2, line),
                )),
            }
        })
        .collect()
}

pub fn build(
    (vocab_path, vocab_text): (&Path, &str),
    (merges_path, merges_text): (&Path, &str),
    settings: &Settings,
) -> Result<Tokenizer> {
    let settings = settings.clone().with_defaults(&roberta_defaults());
    let vocab: HashMap<String, u32> = serde_json::from_str(vocab_text)
        .map_err(|e| bad(vocab_path, format!("is not a token -> id JSON object: {e}")))?;
    let merges = read_merges(merges_path, merges_text)?;
    let cls = settings.special("cls_token", "<s>");
    let sep = settings.special("sep_token", "</s>");
    let cls_id = special_id(&vocab, &cls, "classifier", vocab_path)?;
    let sep_id = special_id(&vocab, &sep, "separator", vocab_path)?;
    let add_prefix_space = settings.flag("add_prefix_space").unwrap_or(false);
    // RobertaTokenizerFast trims offsets unless told not to.
    let trim_offsets = settings.flag("trim_offsets").unwrap_or(true);
    let model = BPE::builder()
        .vocab_and_merges(vocab.into_iter().collect::<AHashMap<_, _>>(), merges)
        .continuing_subword_prefix(String::new())
        .end_of_word_suffix(String::new())
        .fuse_unk(false)
        .build()
        .map_err(|e| bad(merges_path, format!("does not fit vocab.json: {e}")))?;
    let mut tokenizer = Tokenizer::new(model);
    tokenizer.with_pre_tokenizer(Some(ByteLevel::new(add_prefix_space, true, true)));
    tokenizer.with_decoder(Some(ByteLevelDecoder::default()));
    tokenizer.with_post_processor(Some(
        RobertaProcessing::new((sep, sep_id), (cls, cls_id))
            .trim_offsets(trim_offsets)
            .add_prefix_space(add_prefix_space),
    ));
    add_tokens(vocab_path, &mut tokenizer, &settings)?;
    Ok(tokenizer)
}

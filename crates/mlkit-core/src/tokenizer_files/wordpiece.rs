//! `vocab.txt` to a WordPiece tokenizer, as transformers' `BertConverter` builds it from a
//! `BertTokenizer` (DistilBERT's and ELECTRA's too): BertNormalizer (clean text, Chinese
//! characters split, accents stripped and lower-cased as the config says),
//! BertPreTokenizer, WordPiece with "##" continuations, `[CLS] A [SEP]` /
//! `[CLS] A [SEP] B [SEP]` with token types 0 and 1. `MPNetConverter` is the same with
//! MPNet's special tokens and two separators between a pair.

use std::collections::HashMap;

use ahash::AHashMap;
use std::path::Path;

use tokenizers::decoders::wordpiece::WordPiece as WordPieceDecoder;
use tokenizers::models::wordpiece::WordPiece;
use tokenizers::normalizers::bert::BertNormalizer;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::processors::template::TemplateProcessing;
use tokenizers::Tokenizer;

use super::settings::{lstripped, plain, Settings};
use super::{add_tokens, bad, special_id};
use crate::error::Result;

/// The tokens of a vocab.txt, one a line, ids by line number. Lines end as Python's
/// universal newlines end them (\n, \r\n or \r), and a token seen twice keeps its later
/// line, as `BertTokenizer`'s `load_vocab` reads them.
pub fn read_vocab(text: &str) -> HashMap<String, u32> {
    let mut vocab = HashMap::new();
    let text = text.strip_suffix('\n').unwrap_or(text);
    let mut id = 0u32;
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        // A lone \r inside a line also ends it.
        for token in line.split('\r') {
            vocab.insert(token.to_string(), id);
            id = id.saturating_add(1);
        }
    }
    vocab
}

/// Which slow tokenizer class a vocab.txt belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WordPieceClass {
    Bert,
    Mpnet,
}

impl WordPieceClass {
    /// MPNet's when the config's `tokenizer_class` or the model type says so.
    pub fn pick(tokenizer_class: Option<&str>, model_type: &str) -> WordPieceClass {
        let class = tokenizer_class.map(|c| c.trim_end_matches("Fast"));
        if class == Some("MPNetTokenizer") || (class.is_none() && model_type == "mpnet") {
            WordPieceClass::Mpnet
        } else {
            WordPieceClass::Bert
        }
    }
}

pub fn build(
    path: &Path,
    text: &str,
    settings: &Settings,
    class: WordPieceClass,
) -> Result<Tokenizer> {
    // The class's defaults, for what the files do not name.
    let settings = settings.clone().with_defaults(&match class {
        WordPieceClass::Bert => vec![
            ("unk_token", plain("[UNK]")),
            ("sep_token", plain("[SEP]")),
            ("pad_token", plain("[PAD]")),
            ("cls_token", plain("[CLS]")),
            ("mask_token", plain("[MASK]")),
        ],
        WordPieceClass::Mpnet => vec![
            ("bos_token", plain("<s>")),
            ("eos_token", plain("</s>")),
            ("sep_token", plain("</s>")),
            ("cls_token", plain("<s>")),
            ("unk_token", plain("[UNK]")),
            ("pad_token", plain("<pad>")),
            ("mask_token", lstripped("<mask>")),
        ],
    });
    let vocab = read_vocab(text);
    let unk = settings.special("unk_token", "");
    let cls = settings.special("cls_token", "");
    let sep = settings.special("sep_token", "");
    special_id(&vocab, &unk, "unknown", path)?;
    let cls_id = special_id(&vocab, &cls, "classifier", path)?;
    let sep_id = special_id(&vocab, &sep, "separator", path)?;
    // BertTokenizer's defaults; without basic tokenization the converter turns all three off.
    let basic = settings.flag("do_basic_tokenize").unwrap_or(true);
    let lowercase = basic && settings.flag("do_lower_case").unwrap_or(true);
    let chinese = basic && settings.flag("tokenize_chinese_chars").unwrap_or(true);
    let strip_accents = if basic {
        settings.flag("strip_accents")
    } else {
        Some(false)
    };
    let model = WordPiece::builder()
        .vocab(vocab.into_iter().collect::<AHashMap<_, _>>())
        .unk_token(unk)
        .continuing_subword_prefix("##".into())
        .max_input_chars_per_word(100)
        .build()
        .map_err(|e| bad(path, format!("is not a WordPiece vocabulary: {e}")))?;
    let mut tokenizer = Tokenizer::new(model);
    tokenizer
        .with_normalizer(Some(BertNormalizer::new(
            true,
            chinese,
            strip_accents,
            lowercase,
        )))
        .map_err(|e| bad(path, e))?;
    tokenizer.with_pre_tokenizer(Some(BertPreTokenizer));
    let template = TemplateProcessing::builder()
        .try_single(format!("{cls}:0 $A:0 {sep}:0"))
        .and_then(|t| {
            t.try_pair(match class {
                WordPieceClass::Bert => format!("{cls}:0 $A:0 {sep}:0 $B:1 {sep}:1"),
                WordPieceClass::Mpnet => format!("{cls}:0 $A:0 {sep}:0 {sep}:0 $B:1 {sep}:1"),
            })
        })
        .map_err(|e| bad(path, format!("special tokens do not make a template: {e}")))?
        .special_tokens(vec![(cls.clone(), cls_id), (sep.clone(), sep_id)])
        .build()
        .map_err(|e| bad(path, format!("special tokens do not make a template: {e}")))?;
    tokenizer.with_post_processor(Some(template));
    tokenizer.with_decoder(Some(WordPieceDecoder::new("##".into(), true)));
    add_tokens(path, &mut tokenizer, &settings)?;
    Ok(tokenizer)
}

//! SentencePiece models (`spm.model`, `sentencepiece.bpe.model`) to tokenizers, as
//! transformers' `SpmConverter` family builds them: Unigram (or BPE with merges rebuilt
//! from the pieces' scores), the model's precompiled normalizer, Metaspace ("▁") word
//! boundaries, control and user-defined pieces as added tokens, and each class's own
//! vocabulary and template:
//!
//! - `DebertaV2Tokenizer` (`DebertaV2Converter`): lower-casing and punctuation splitting
//!   as the config says, `[CLS] A [SEP] B [SEP]`;
//! - `XLMRobertaTokenizer`: fairseq's vocabulary (`<s> <pad> </s> <unk>`, then the pieces
//!   from the fourth on, then `<mask>`), `<s> A </s></s> B </s>`;
//! - `CamembertTokenizer`: its own fairseq vocabulary (`<s>NOTUSED`, ..., `<mask>`).

use std::collections::HashMap;
use std::path::Path;

use ahash::AHashMap;
use tokenizers::decoders::metaspace::Metaspace as MetaspaceDecoder;
use tokenizers::models::bpe::BPE;
use tokenizers::models::unigram::Unigram;
use tokenizers::normalizers::{Lowercase, Precompiled, Replace, Sequence, Strip};
use tokenizers::pre_tokenizers::metaspace::{Metaspace, PrependScheme};
use tokenizers::pre_tokenizers::punctuation::Punctuation;
use tokenizers::pre_tokenizers::sequence::Sequence as PreSequence;
use tokenizers::processors::template::TemplateProcessing;
use tokenizers::{
    AddedToken, NormalizerWrapper, PreTokenizerWrapper, SplitDelimiterBehavior, Tokenizer,
};

use super::protobuf::{check_charsmap, ModelType, PieceType, SentencePieceModel};
use super::settings::{plain, roberta_defaults, Settings, TokenSpec, ROLES};
use super::{add_tokens, bad};
use crate::error::Result;

/// Which slow tokenizer class the model belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpmClass {
    DebertaV2,
    XlmRoberta,
    Camembert,
}

impl SpmClass {
    /// The class: the config's `tokenizer_class` if it names one of these, else the model
    /// type's, else the file name's (spm.model is DeBERTa's, sentencepiece.bpe.model
    /// XLM-R's).
    pub fn pick(tokenizer_class: Option<&str>, model_type: &str, file: &Path) -> SpmClass {
        let class = tokenizer_class.map(|c| c.trim_end_matches("Fast"));
        match (class, model_type) {
            (Some("DebertaV2Tokenizer"), _) => SpmClass::DebertaV2,
            (Some("XLMRobertaTokenizer"), _) => SpmClass::XlmRoberta,
            (Some("CamembertTokenizer"), _) => SpmClass::Camembert,
            (_, "deberta-v2") => SpmClass::DebertaV2,
            (_, "camembert") => SpmClass::Camembert,
            (_, "xlm-roberta" | "roberta") => SpmClass::XlmRoberta,
            _ if file.file_name().is_some_and(|n| n == "spm.model") => SpmClass::DebertaV2,
            _ => SpmClass::XlmRoberta,
        }
    }

    fn name(self) -> &'static str {
        match self {
            SpmClass::DebertaV2 => "DebertaV2Tokenizer",
            SpmClass::XlmRoberta => "XLMRobertaTokenizer",
            SpmClass::Camembert => "CamembertTokenizer",
        }
    }

    /// The class's special tokens, for roles the files do not name.
    fn defaults(self) -> Vec<(&'static str, TokenSpec)> {
        match self {
            SpmClass::DebertaV2 => vec![
                ("bos_token", plain("[CLS]")),
                ("eos_token", plain("[SEP]")),
                ("unk_token", plain("[UNK]")),
                ("sep_token", plain("[SEP]")),
                ("pad_token", plain("[PAD]")),
                ("cls_token", plain("[CLS]")),
                ("mask_token", plain("[MASK]")),
            ],
            SpmClass::XlmRoberta | SpmClass::Camembert => roberta_defaults(),
        }
    }

    /// The vocabulary (piece, score) the converter builds, and its unknown token's id.
    fn vocab(self, m: &SentencePieceModel) -> (Vec<(String, f64)>, i64) {
        let pieces = |from: usize| {
            m.pieces
                .iter()
                .skip(from)
                .map(|p| (p.piece.clone(), f64::from(p.score)))
        };
        let fixed = |entries: &[(&str, f64)]| {
            entries
                .iter()
                .map(|(p, s)| (p.to_string(), *s))
                .collect::<Vec<_>>()
        };
        match self {
            SpmClass::DebertaV2 => (pieces(0).collect(), m.unk_id),
            SpmClass::XlmRoberta => {
                let mut v = fixed(&[("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]);
                v.extend(pieces(3));
                v.push(("<mask>".into(), 0.0));
                (v, 3)
            }
            SpmClass::Camembert => {
                let mut v = fixed(&[
                    ("<s>NOTUSED", 0.0),
                    ("<pad>", 0.0),
                    ("</s>NOTUSED", 0.0),
                    ("<unk>", 0.0),
                    ("<unk>NOTUSED", -100.0),
                ]);
                v.extend(pieces(1));
                v.push(("<mask>".into(), 0.0));
                (v, 3)
            }
        }
    }
}

/// transformers' `generate_merges` with scores: every split of a piece into two pieces of
/// the model, ordered by the piece's score (highest first), then the left and right
/// lengths (longest first), ties in vocabulary order.
fn merges(raw: &HashMap<&str, usize>, vocab: &[(String, f64)]) -> Vec<(String, String)> {
    // dict(vocab_scores): a piece seen twice keeps its first place and last score.
    let mut order: Vec<&str> = Vec::new();
    let mut scores: HashMap<&str, f64> = HashMap::new();
    for (p, s) in vocab {
        if scores.insert(p, *s).is_none() {
            order.push(p);
        }
    }
    let mut all: Vec<(String, String, f64)> = Vec::new();
    for piece in order {
        let mut local: Vec<(&str, &str)> = piece
            .char_indices()
            .skip(1)
            .map(|(i, _)| piece.split_at(i))
            .filter(|(l, r)| raw.contains_key(l) && raw.contains_key(r))
            .collect();
        local.sort_by_key(|(l, r)| (raw[l], raw[r]));
        let score = scores[piece];
        all.extend(
            local
                .into_iter()
                .map(|(l, r)| (l.to_string(), r.to_string(), score)),
        );
    }
    // Python's sort(reverse=True) is stable: equal keys keep their order.
    all.sort_by(|a, b| {
        b.2.total_cmp(&a.2)
            .then(b.0.chars().count().cmp(&a.0.chars().count()))
            .then(b.1.chars().count().cmp(&a.1.chars().count()))
    });
    all.into_iter().map(|(l, r, _)| (l, r)).collect()
}

pub fn build(path: &Path, data: &[u8], settings: &Settings, class: SpmClass) -> Result<Tokenizer> {
    let settings = settings.clone().with_defaults(&class.defaults());
    let m = SentencePieceModel::parse(data).map_err(|e| bad(path, e))?;
    if !m.precompiled_charsmap.is_empty() {
        check_charsmap(&m.precompiled_charsmap).map_err(|e| bad(path, e))?;
    }
    let (vocab, unk_id) = class.vocab(&m);
    let unk_id = usize::try_from(unk_id)
        .ok()
        .filter(|&u| u < vocab.len())
        .ok_or_else(|| {
            bad(
                path,
                format!("its unknown piece id {unk_id} is not a piece"),
            )
        })?;
    let model: tokenizers::models::ModelWrapper = match m.model_type {
        ModelType::Unigram => Unigram::from(vocab.clone(), Some(unk_id), false)
            .map_err(|e| bad(path, format!("is not a Unigram model: {e}")))?
            .into(),
        ModelType::Bpe => {
            let raw: HashMap<&str, usize> = m
                .pieces
                .iter()
                .enumerate()
                .map(|(i, p)| (p.piece.as_str(), i))
                .collect();
            let merges = merges(&raw, &vocab);
            let ids: AHashMap<String, u32> = vocab
                .iter()
                .enumerate()
                .map(|(i, (p, _))| (p.clone(), i as u32))
                .collect();
            BPE::builder()
                .vocab_and_merges(ids, merges)
                .unk_token(m.unk_piece.clone())
                .fuse_unk(true)
                .build()
                .map_err(|e| bad(path, format!("is not a BPE model: {e}")))?
                .into()
        }
        ModelType::Other(t) => {
            return Err(bad(
                path,
                format!("is a SentencePiece model of type {t}; only Unigram and BPE convert"),
            ))
        }
    };
    let mut tokenizer = Tokenizer::new(model);
    // Control and user-defined pieces are added tokens (control ones special), by id.
    let specials: Vec<String> = ROLES.iter().map(|r| settings.special(r, "")).collect();
    let spm_added: Vec<AddedToken> = m
        .pieces
        .iter()
        .filter(|p| matches!(p.kind, PieceType::Control | PieceType::UserDefined))
        .map(|p| {
            let special = p.kind == PieceType::Control || specials.contains(&p.piece);
            AddedToken::from(p.piece.clone(), special).normalized(false)
        })
        .collect();
    tokenizer
        .add_tokens(spm_added)
        .map_err(|e| bad(path, format!("cannot add its control pieces: {e}")))?;
    let mut norms: Vec<NormalizerWrapper> = Vec::new();
    let charsmap = || -> Result<Option<NormalizerWrapper>> {
        if m.precompiled_charsmap.is_empty() {
            return Ok(None);
        }
        let p = Precompiled::from(&m.precompiled_charsmap)
            .map_err(|e| bad(path, format!("its precompiled normalizer: {e}")))?;
        Ok(Some(p.into()))
    };
    let spaces = |with: &str| {
        Replace::new(
            tokenizers::normalizers::replace::ReplacePattern::Regex(" {2,}".into()),
            with,
        )
        .map_err(|e| bad(path, e))
    };
    match class {
        SpmClass::DebertaV2 => {
            if settings.flag("do_lower_case").unwrap_or(false) {
                norms.push(Lowercase.into());
            }
            norms.push(Strip::new(true, true).into());
            norms.extend(charsmap()?);
            norms.push(spaces(" ")?.into());
        }
        SpmClass::XlmRoberta | SpmClass::Camembert => {
            norms.extend(charsmap()?);
            norms.push(Strip::new(false, true).into());
            norms.push(spaces("▁")?.into());
        }
    }
    tokenizer
        .with_normalizer(Some(Sequence::new(norms)))
        .map_err(|e| bad(path, e))?;
    // None of these classes has `add_prefix_space` or `legacy=False`: always a prefix.
    let metaspace = Metaspace::new('▁', PrependScheme::Always, true);
    let mut pre: Vec<PreTokenizerWrapper> = Vec::new();
    if class == SpmClass::DebertaV2 && settings.flag("split_by_punct").unwrap_or(false) {
        pre.push(Punctuation::new(SplitDelimiterBehavior::Isolated).into());
    }
    pre.push(metaspace.into());
    tokenizer.with_pre_tokenizer(Some(PreSequence::new(pre)));
    tokenizer.with_decoder(Some(MetaspaceDecoder::new(
        '▁',
        PrependScheme::Always,
        true,
    )));
    let (cls, sep, single, pair) = match class {
        SpmClass::DebertaV2 => (
            "[CLS]",
            "[SEP]",
            "[CLS]:0 $A:0 [SEP]:0",
            "[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1",
        ),
        SpmClass::XlmRoberta | SpmClass::Camembert => {
            ("<s>", "</s>", "<s> $A </s>", "<s> $A </s> </s> $B </s>")
        }
    };
    let id = |token: &str| {
        tokenizer.token_to_id(token).ok_or_else(|| {
            bad(
                path,
                format!("has no {token:?}, which {} needs", class.name()),
            )
        })
    };
    let special_tokens = vec![(cls, id(cls)?), (sep, id(sep)?)];
    let template = TemplateProcessing::builder()
        .try_single(single)
        .and_then(|t| t.try_pair(pair))
        .map_err(|e| bad(path, e))?
        .special_tokens(special_tokens)
        .build()
        .map_err(|e| bad(path, e))?;
    tokenizer.with_post_processor(Some(template));
    add_tokens(path, &mut tokenizer, &settings)?;
    Ok(tokenizer)
}

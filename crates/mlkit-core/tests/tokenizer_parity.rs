//! Tokenizers built from slow-tokenizer files (no tokenizer.json) against transformers'
//! fast tokenizer converted from the same files (fixture: tests/fixtures/
//! make_tokenizer_fixtures.py, transformers 4.57.1, tokenizers 0.22.2, sentencepiece 0.2.3;
//! WordPiece, byte-level BPE, and SentencePiece Unigram and BPE with their precompiled
//! normalizer for DeBERTa-v2, XLM-R and CamemBERT): the same token ids,
//! token types and character offsets, exactly, on texts with accents, CJK, emoji, odd
//! spaces, control characters and special tokens written in the text, alone and in pairs.

mod common;

use mlkit_core::tokenize::TextTokenizer;
use mlkit_core::tokenizer_files::{TokenizerFiles, TokenizerKind};
use serde_json::Value;

fn files(name: &str) -> TokenizerFiles {
    let dir = common::fixtures().join(name);
    TokenizerFiles::locate(|f| Ok(Some(dir.join(f)).filter(|p| p.is_file())))
        .unwrap()
        .unwrap()
}

#[test]
fn slow_tokenizer_files_tokenize_as_transformers_fast_tokenizer() {
    let fixture: Value =
        serde_json::from_slice(&std::fs::read(common::fixtures().join("tokenizers.json")).unwrap())
            .unwrap();
    let texts: Vec<&str> = fixture["texts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    let pairs: Vec<(&str, &str)> = fixture["pairs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p[0].as_str().unwrap(), p[1].as_str().unwrap()))
        .collect();
    let expected = fixture["tokenizers"].as_object().unwrap();
    assert_eq!(expected.len(), 8);
    for (name, want) in expected {
        let files = files(name);
        let kind = if name.contains("spm") {
            TokenizerKind::SentencePiece
        } else if name.contains("bpe") {
            TokenizerKind::ByteLevelBpe
        } else {
            TokenizerKind::WordPiece
        };
        assert_eq!(files.kind, kind, "{name}");
        let json = files.tokenizer_json("").unwrap();
        let tok = TextTokenizer::load(&json, name, 100_000, false).unwrap();
        let got = tok.encode(&texts, 0).unwrap();
        let got_pairs = tok.encode_pairs(&pairs, 0).unwrap();
        let cases = got
            .iter()
            .zip(want["texts"].as_array().unwrap())
            .chain(got_pairs.iter().zip(want["pairs"].as_array().unwrap()));
        for (i, (g, w)) in cases.enumerate() {
            let ids: Vec<u32> = serde_json::from_value(w["ids"].clone()).unwrap();
            assert_eq!(g.ids, ids, "{name}, input {i}: ids");
            let offsets: Vec<(usize, usize)> = w["offsets"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| {
                    (
                        o[0].as_u64().unwrap() as usize,
                        o[1].as_u64().unwrap() as usize,
                    )
                })
                .collect();
            assert_eq!(g.offsets, offsets, "{name}, input {i}: offsets");
            if let Some(types) = w["type_ids"].as_array() {
                let types: Vec<u32> = types.iter().map(|t| t.as_u64().unwrap() as u32).collect();
                assert_eq!(g.type_ids, types, "{name}, input {i}: token types");
            }
        }
    }
}

#[test]
fn tokenizer_json_is_preferred_and_missing_special_tokens_are_named() {
    // A directory with tokenizer.json uses it, whatever else is there.
    let dir = tempfile::tempdir().unwrap();
    let wordpiece = common::fixtures().join("tok-wordpiece-cased");
    std::fs::copy(wordpiece.join("vocab.txt"), dir.path().join("vocab.txt")).unwrap();
    let get = |d: &std::path::Path| {
        let d = d.to_path_buf();
        move |f: &str| Ok(Some(d.join(f)).filter(|p| p.is_file()))
    };
    let found = TokenizerFiles::locate(get(dir.path())).unwrap().unwrap();
    assert_eq!(found.kind, TokenizerKind::WordPiece);
    assert!(found.tokenizer_json("bert").is_ok());
    std::fs::write(dir.path().join("tokenizer.json"), "{}").unwrap();
    let found = TokenizerFiles::locate(get(dir.path())).unwrap().unwrap();
    assert_eq!(found.kind, TokenizerKind::Json);
    // A vocabulary without the special tokens its class needs is refused, naming them.
    let bare = tempfile::tempdir().unwrap();
    std::fs::write(bare.path().join("vocab.txt"), "[UNK]\nhello\n").unwrap();
    let err = TokenizerFiles::locate(get(bare.path()))
        .unwrap()
        .unwrap()
        .tokenizer_json("bert")
        .unwrap_err()
        .to_string();
    assert!(err.contains("\"[CLS]\""), "{err}");
    // A merges.txt line that is not two tokens names its line.
    let bpe = tempfile::tempdir().unwrap();
    std::fs::write(
        bpe.path().join("vocab.json"),
        r#"{"<s>": 0, "</s>": 1, "a": 2}"#,
    )
    .unwrap();
    std::fs::write(bpe.path().join("merges.txt"), "#version: 0.2\na b\nc\n").unwrap();
    let err = TokenizerFiles::locate(get(bpe.path()))
        .unwrap()
        .unwrap()
        .tokenizer_json("bert")
        .unwrap_err()
        .to_string();
    assert!(err.contains("line 3"), "{err}");
    assert!(
        TokenizerFiles::locate(get(tempfile::tempdir().unwrap().path()))
            .unwrap()
            .is_none()
    );
}

#[test]
fn the_legacy_fixture_has_its_added_token_only_in_added_tokens_json() {
    // What makes tok-spm-deberta-legacy (checked against transformers in the test above,
    // where a text writes its added [UNK]) a test of added_tokens.json.
    let dir = common::fixtures().join("tok-spm-deberta-legacy");
    let config = std::fs::read_to_string(dir.join("tokenizer_config.json")).unwrap();
    assert!(!config.contains("added_tokens_decoder"));
    let found = files(&dir.file_name().unwrap().to_string_lossy());
    assert!(found.added_tokens.is_some());
}

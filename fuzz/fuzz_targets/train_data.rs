//! Any bytes as NER training data (CoNLL, or span JSONL when the first byte is even), read,
//! labelled and tokenized into windows with a tiny WordPiece tokenizer at a fuzzed maximum
//! length, then scored against themselves: an error is fine, a panic is a bug, and every
//! word of every sentence must come back with a tag.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mlkit_core::tokenize::TextTokenizer;
use mlkit_train::data::{encode_ner, ner_labels, parse_ner, word_tags};

const TOKENIZER: &[u8] =
    include_bytes!("../../crates/mlkit-core/tests/fixtures/tiny-bert/tokenizer.json");

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let name = if first % 2 == 0 { "d.jsonl" } else { "d.conll" };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let Ok(sentences) = parse_ner(std::path::Path::new(name), text) else {
        return;
    };
    let labels = ner_labels(&sentences);
    let max_len = 4 + usize::from(first / 2 % 32);
    let tok = TextTokenizer::load(TOKENIZER, "fuzz", 512, false).expect("tiny tokenizer");
    let Ok(windows) = encode_ner(tok.inner(), &sentences, &labels, max_len, "fuzz") else {
        return;
    };
    for w in &windows {
        assert!(w.example.encoded.ids.len() <= max_len);
    }
    // Logits of zeros: every word predicted as the first label.
    let logits: Vec<Vec<Vec<f32>>> = windows
        .iter()
        .map(|w| vec![vec![0.0; labels.len()]; w.example.encoded.ids.len()])
        .collect();
    let tags = word_tags(&windows, &logits, &labels, sentences.len());
    for (s, t) in sentences.iter().zip(&tags) {
        assert_eq!(s.words.len(), t.len());
    }
});

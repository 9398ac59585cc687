//! Any bytes as a slow tokenizer's files (vocab.txt; vocab.json + merges.txt; with a
//! tokenizer_config.json), built into a tokenizer and run on a text: an error is fine, a
//! panic is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mlkit_core::tokenize::TextTokenizer;
use mlkit_core::tokenizer_files::TokenizerFiles;

fuzz_target!(|data: &[u8]| {
    // Parts separated by 0xff: file contents, then a text to tokenize.
    let mut parts = data.split(|&b| b == 0xff);
    let (Some(kind), Some(a), b, c, text) =
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let write = |name: &str, bytes: &[u8]| std::fs::write(dir.path().join(name), bytes).expect("write");
    if kind.first().is_some_and(|k| k % 2 == 0) {
        write("vocab.txt", a);
    } else {
        write("vocab.json", a);
        write("merges.txt", b.unwrap_or(b""));
    }
    if let Some(config) = c {
        write("tokenizer_config.json", config);
    }
    let found = TokenizerFiles::locate(|n| Ok(Some(dir.path().join(n)).filter(|p| p.is_file())));
    let Ok(Some(files)) = found else { return };
    let Ok(json) = files.tokenizer_json("") else { return };
    if let Ok(tok) = TextTokenizer::load(&json, "fuzz", 512, true) {
        let text = String::from_utf8_lossy(text.unwrap_or(b"Hello world."));
        let _ = tok.encode(&[&text], 0);
        let _ = tok.encode_pairs(&[(&text, "second")], 0);
    }
});

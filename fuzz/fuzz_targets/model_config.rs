//! tiny-bert with its config.json or tokenizer.json replaced by the input (the first byte
//! picks which), loaded and run on a few texts: hostile sizes, wrong types and odd tokenizer
//! definitions must be errors, never panics or huge allocations.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mlkit_core::{resolve, EmbedOptions, Embedder};

fuzz_target!(|data: &[u8]| {
    let Some((&which, contents)) = data.split_first() else {
        return;
    };
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../crates/mlkit-core/tests/fixtures/tiny-bert"
    );
    let dir = tempfile::tempdir().expect("temp dir");
    for f in ["config.json", "tokenizer.json", "model.safetensors"] {
        // Hard links: the weights are not rewritten for every input.
        let (from, to) = (format!("{fixture}/{f}"), dir.path().join(f));
        if std::fs::hard_link(&from, &to).is_err() {
            std::fs::copy(&from, &to).expect("copy fixture");
        }
    }
    let target = if which % 2 == 0 {
        "config.json"
    } else {
        "tokenizer.json"
    };
    let path = dir.path().join(target);
    std::fs::remove_file(&path).expect("unlink");
    std::fs::write(&path, contents).expect("write");
    let Ok(files) = resolve(dir.path().to_str().expect("utf-8 temp path")) else {
        return;
    };
    if let Ok(embedder) = Embedder::load(&files, &EmbedOptions::default()) {
        let _ = embedder.embed(&["hello world", "", "Zürich 42 !!"], 0);
    }
});

//! Any text through `mlkit ner` (the bundled model, or the tiny fixture whose 64-position
//! windows make every longer text a many-window document), with the aggregation picked by
//! the first byte: every text must be tagged, every entity must lie inside its text, and
//! grouped entities must not overlap, however the windows cut the text.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mlkit_core::resolve;
use mlkit_ner::{Aggregation, NerModel, NerOptions};

fn model(tiny: bool) -> &'static NerModel {
    static MODELS: OnceLock<[NerModel; 2]> = OnceLock::new();
    let load = |dir: &str| {
        let files = resolve(&format!("{}/../{dir}", env!("CARGO_MANIFEST_DIR"))).expect("model");
        NerModel::load(&files, &NerOptions::default()).expect("loads")
    };
    &MODELS.get_or_init(|| {
        [
            load("models/conll03-ner-minilm"),
            load("crates/mlkit-core/tests/fixtures/tiny-bert-tc"),
        ]
    })[usize::from(tiny)]
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, text)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(text);
    let strategy = match flags % 5 {
        0 => Aggregation::None,
        1 => Aggregation::Simple,
        2 => Aggregation::First,
        3 => Aggregation::Average,
        _ => Aggregation::Max,
    };
    let model = model(flags & 0x80 != 0);
    let found = model
        .entities(&[&text], strategy, &["O"])
        .expect("every text is tagged");
    assert_eq!(found.len(), 1);
    let chars = text.chars().count();
    for e in &found[0] {
        assert!(e.start <= e.end && e.end <= chars, "{e:?} outside 0..{chars}");
        assert!(e.score.is_finite() && (0.0..=1.0).contains(&e.score), "{e:?}");
    }
    if strategy != Aggregation::None {
        let mut spans: Vec<(usize, usize)> = found[0].iter().map(|e| (e.start, e.end)).collect();
        spans.sort_unstable();
        for w in spans.windows(2) {
            assert!(w[0].1 <= w[1].0, "overlapping entities {:?} in {text:?}", found[0]);
        }
    }
});

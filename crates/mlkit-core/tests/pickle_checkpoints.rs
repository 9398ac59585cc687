//! PyTorch checkpoints (pytorch_model.bin) and sharded checkpoints (fixtures:
//! tests/fixtures/make_pickle_fixtures.py, torch 2.15, transformers 4.57.1): the same model
//! saved as safetensors and as a pickle gives bit-identical tensors and outputs; hostile
//! pickles are refused with the reason, and nothing in them ever runs.

mod common;

use std::collections::HashMap;
use std::path::Path;

use candle_core::Tensor;
use common::{fixtures, run_options};
use mlkit_core::classify::{Classifier, Task};
use mlkit_core::parts::{ModelParts, Weights};
use mlkit_core::resolve;
use mlkit_core::tokenize::{Encoded, TextTokenizer};
use mlkit_core::weights::{self, WeightFormat};

fn tensors(dir: &str) -> HashMap<String, Tensor> {
    let files = resolve(fixtures().join(dir).to_str().unwrap()).unwrap();
    let parts = ModelParts::read(&files).unwrap();
    let Weights::Tensors(format, paths) = &parts.weights else {
        panic!("{dir}: not a tensor checkpoint")
    };
    weights::load(*format, paths).unwrap()
}

fn assert_same_tensors(a: &HashMap<String, Tensor>, b: &HashMap<String, Tensor>, what: &str) {
    let mut names: Vec<&String> = a.keys().collect();
    names.sort();
    let mut other: Vec<&String> = b.keys().collect();
    other.sort();
    assert_eq!(names, other, "{what}: tensor names");
    for name in names {
        let (x, y) = (&a[name], &b[name]);
        assert_eq!(x.dims(), y.dims(), "{what}: {name}");
        assert_eq!(x.dtype(), y.dtype(), "{what}: {name}");
        let (x, y) = (
            x.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            y.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
        );
        assert!(
            x.iter().zip(&y).all(|(p, q)| p.to_bits() == q.to_bits()),
            "{what}: {name}"
        );
    }
}

#[test]
fn a_pickle_and_shards_hold_exactly_the_safetensors_tensors() {
    // transformers' save_pretrained writes the same state dict either way.
    assert_same_tensors(
        &tensors("tiny-bert-sc-bin"),
        &tensors("tiny-bert-sc"),
        "pickle",
    );
    let plain = tensors("tiny-bert");
    assert_same_tensors(&tensors("tiny-bert-sharded-bin"), &plain, "pickle shards");
    assert_same_tensors(
        &tensors("tiny-bert-sharded-st"),
        &plain,
        "safetensors shards",
    );
}

#[test]
fn a_pickle_checkpoint_classifies_as_its_safetensors_twin() {
    let logits = |dir: &str| {
        let parts =
            ModelParts::read(&resolve(fixtures().join(dir).to_str().unwrap()).unwrap()).unwrap();
        let c = Classifier::load(&parts, &run_options(), Task::SequenceClassification).unwrap();
        let tok = TextTokenizer::load(&parts.tokenizer, dir, 64, false).unwrap();
        let enc = tok.encode(&["Hello world.", "the lazy dog"], 0).unwrap();
        let items: Vec<&Encoded> = enc.iter().collect();
        c.sequence_logits(&items, &run_options()).unwrap()
    };
    assert_eq!(logits("tiny-bert-sc-bin"), logits("tiny-bert-sc"));
}

/// Reads a hostile file and returns the error's text.
fn refused(name: &str) -> String {
    let path = fixtures().join("hostile-pickles").join(name);
    match weights::load(WeightFormat::Pickle, &[path]) {
        Ok(t) => panic!("{name} was read: {:?}", t.keys().collect::<Vec<_>>()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn hostile_pickles_are_refused_and_never_run() {
    let pwned = Path::new("/tmp/mlkit-pickle-was-executed");
    let _ = std::fs::remove_file(pwned);
    let cases = [
        ("evil.bin", "refuses global posix.system"),
        ("global.bin", "refuses global collections.Counter"),
        ("huge.bin", "storage holds 16 bytes, not the"),
        ("past.bin", "reaches past its storage"),
        ("strided.bin", "is not contiguous"),
        ("truncated.bin", "is not a PyTorch zip checkpoint"),
        ("legacy.bin", "legacy format"),
    ];
    for (name, says) in cases {
        let e = refused(name);
        assert!(e.contains(says), "{name}: {e}");
        assert!(e.contains(name), "{name}: the error names the file: {e}");
    }
    assert!(!pwned.exists(), "a pickle was executed");
    // The same hand-made archive with a sound tensor is read.
    let fine = fixtures().join("hostile-pickles/fine.bin");
    let t = weights::load(WeightFormat::Pickle, &[fine]).unwrap();
    assert_eq!(t["w"].dims(), [2, 2]);
}

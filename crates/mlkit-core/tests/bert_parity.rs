//! Parity with Hugging Face transformers and sentence-transformers on committed fixtures
//! (`fixtures/make_fixtures.py`), and refusal of malformed model files.

mod common;

use std::path::{Path, PathBuf};

use candle_core::quantized::GgmlDType;
use candle_core::{DType, Device};
use common::{device, fixtures, floats, run_options};
use mlkit_core::batch::{pad, Padded};
use mlkit_core::encoder::Encoder;
use mlkit_core::linear::WeightFormat;
use mlkit_core::parts::ModelParts;
use mlkit_core::pooling::PoolingMode;
use mlkit_core::tokenize::TextTokenizer;
use mlkit_core::{resolve, CoreError, EmbedOptions, Embedder, RunOptions};
use serde_json::Value;

fn shared_minilm() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/models/all-MiniLM-L6-v2")
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum();
    let na: f64 = a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb)
}

const TOLERANCE: f32 = 1e-4;

/// Default embedding options on the test device.
fn embed_options() -> EmbedOptions {
    EmbedOptions {
        run: run_options(),
        ..EmbedOptions::default()
    }
}

#[test]
fn tiny_bert_matches_transformers_alone_and_padded() {
    let doc: Value =
        serde_json::from_slice(&std::fs::read(fixtures().join("tiny_bert.json")).unwrap()).unwrap();
    let texts: Vec<&str> = doc["texts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    for name in ["tiny-bert", "tiny-bert-tc"] {
        let files = resolve(fixtures().join(name).to_str().unwrap()).unwrap();
        let parts = ModelParts::read(&files).unwrap();
        let (encoder, info) = Encoder::load(&parts, &run_options()).unwrap();
        assert_eq!(info.hidden_size, 32);
        let tok = TextTokenizer::load(&parts.tokenizer, name, 64, false).unwrap();
        let enc = tok.encode(&texts, 0).unwrap();
        let want = &doc[name];
        for (i, e) in enc.iter().enumerate() {
            let ids: Vec<u32> = want["ids"][i]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap() as u32)
                .collect();
            assert_eq!(e.ids, ids, "{name}: token ids of text {i}");
            let Padded {
                ids,
                type_ids: types,
                mask,
            } = pad(&[e], &device()).unwrap();
            let h = encoder.forward(&ids, &types, &mask).unwrap();
            let got: Vec<f32> = h.flatten_all().unwrap().to_vec1().unwrap();
            let d = max_diff(&got, &floats(&want["hidden"][i]));
            assert!(d <= TOLERANCE, "{name}: text {i} alone differs by {d}");
        }
        let refs: Vec<_> = enc.iter().collect();
        let Padded {
            ids,
            type_ids: types,
            mask,
        } = pad(&refs, &device()).unwrap();
        let h = encoder.forward(&ids, &types, &mask).unwrap();
        for (i, e) in enc.iter().enumerate() {
            let row = h.get(i).unwrap().narrow(0, 0, e.ids.len()).unwrap();
            let got: Vec<f32> = row.flatten_all().unwrap().to_vec1().unwrap();
            let d = max_diff(&got, &floats(&want["batched_hidden"][i]));
            assert!(
                d <= TOLERANCE,
                "{name}: text {i} in a padded batch differs by {d}"
            );
        }
        let opts = EmbedOptions {
            pooling: Some(PoolingMode::Mean),
            normalize: Some(true),
            run: RunOptions {
                max_batch_tokens: 40,
                ..run_options()
            },
            ..EmbedOptions::default()
        };
        let embedder = Embedder::load(&files, &opts).unwrap();
        let pooled = embedder.embed(&texts, 0).unwrap();
        for (i, v) in pooled.iter().enumerate() {
            let d = max_diff(v, &floats(&want["mean_normalized"][i]));
            assert!(d <= TOLERANCE, "{name}: pooled text {i} differs by {d}");
        }
    }
}

fn minilm_reference() -> (Vec<String>, Vec<Vec<f32>>) {
    let doc: Value =
        serde_json::from_slice(&std::fs::read(fixtures().join("minilm.json")).unwrap()).unwrap();
    let sentences = doc["sentences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect();
    let emb = doc["embeddings"]
        .as_array()
        .unwrap()
        .iter()
        .map(floats)
        .collect();
    (sentences, emb)
}

fn minilm_embeddings(weights: WeightFormat) -> Vec<Vec<f32>> {
    let dir = shared_minilm();
    assert!(
        dir.is_dir(),
        "{} is missing: the real-weights test needs shared/ beside the project",
        dir.display()
    );
    let files = resolve(dir.to_str().unwrap()).unwrap();
    let opts = EmbedOptions {
        run: RunOptions {
            weights,
            ..run_options()
        },
        ..EmbedOptions::default()
    };
    let embedder = Embedder::load(&files, &opts).unwrap();
    assert_eq!(embedder.dim(), 384);
    let (sentences, _) = minilm_reference();
    let refs: Vec<&str> = sentences.iter().map(String::as_str).collect();
    embedder.embed(&refs, 0).unwrap()
}

#[test]
fn minilm_matches_sentence_transformers_in_f32() {
    let (_, want) = minilm_reference();
    let got = minilm_embeddings(WeightFormat::Dense);
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        let c = cosine(g, w);
        assert!(c >= 0.99999, "sentence {i}: cosine {c}");
        let d = max_diff(g, w);
        assert!(d <= TOLERANCE, "sentence {i}: max difference {d}");
    }
}

#[test]
fn minilm_in_q8_stays_close() {
    let (_, want) = minilm_reference();
    let got = minilm_embeddings(WeightFormat::Quantized(
        candle_core::quantized::GgmlDType::Q8_0,
    ));
    let worst = got
        .iter()
        .zip(&want)
        .map(|(g, w)| cosine(g, w))
        .fold(1.0, f64::min);
    assert!(worst >= 0.995, "worst cosine {worst}");
}

#[test]
fn minilm_with_int8_activations_stays_close() {
    let (_, want) = minilm_reference();
    let got = minilm_embeddings(WeightFormat::Int8);
    let worst = got
        .iter()
        .zip(&want)
        .map(|(g, w)| cosine(g, w))
        .fold(1.0, f64::min);
    println!("int8 vs sentence-transformers: worst cosine {worst:.6}");
    assert!(worst >= 0.995, "worst cosine {worst}");
}

/// A copy of tiny-bert with one file replaced.
fn broken_copy(file: &str, contents: &[u8]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for f in ["config.json", "tokenizer.json", "model.safetensors"] {
        std::fs::copy(fixtures().join("tiny-bert").join(f), dir.path().join(f)).unwrap();
    }
    std::fs::write(dir.path().join(file), contents).unwrap();
    dir
}

fn load_error(dir: &Path) -> CoreError {
    let files = resolve(dir.to_str().unwrap()).unwrap();
    match Embedder::load(&files, &embed_options()) {
        Ok(_) => panic!("a broken model loaded"),
        Err(e) => e,
    }
}

#[test]
fn malformed_model_files_are_errors_not_panics() {
    let weights = std::fs::read(fixtures().join("tiny-bert/model.safetensors")).unwrap();
    let config = std::fs::read_to_string(fixtures().join("tiny-bert/config.json")).unwrap();

    let truncated = broken_copy("model.safetensors", &weights[..weights.len() / 2]);
    assert!(load_error(truncated.path())
        .to_string()
        .contains("safetensors"));

    // A header claiming 2^60 bytes must not be allocated.
    let mut hostile = (1u64 << 60).to_le_bytes().to_vec();
    hostile.extend_from_slice(b"{}");
    let huge = broken_copy("model.safetensors", &hostile);
    assert!(load_error(huge.path()).to_string().contains("safetensors"));

    let wrong_shape = broken_copy(
        "config.json",
        config
            .replace("\"intermediate_size\": 37", "\"intermediate_size\": 38")
            .as_bytes(),
    );
    let e = load_error(wrong_shape.path()).to_string();
    assert!(e.contains("does not fit"), "{e}");

    let deeper = broken_copy(
        "config.json",
        config
            .replace("\"num_hidden_layers\": 2", "\"num_hidden_layers\": 3")
            .as_bytes(),
    );
    let e = load_error(deeper.path()).to_string();
    assert!(e.contains("does not fit"), "{e}");

    let tokenizer = broken_copy("tokenizer.json", b"{\"version\": ");
    assert!(load_error(tokenizer.path())
        .to_string()
        .contains("tokenizer.json"));

    // A template naming a special token the file does not define: tokenizers itself would
    // load it and then panic on the first text.
    let mut tok: Value = serde_json::from_slice(
        &std::fs::read(fixtures().join("tiny-bert/tokenizer.json")).unwrap(),
    )
    .unwrap();
    tok["post_processor"]["special_tokens"]
        .as_object_mut()
        .unwrap()
        .remove("[SEP]");
    let undefined = broken_copy("tokenizer.json", tok.to_string().as_bytes());
    let e = load_error(undefined.path()).to_string();
    assert!(
        e.contains("\"[SEP]\"") && e.contains("special_tokens"),
        "{e}"
    );

    // Broken JSON inside the decoder, where tokenizers itself panics rather than erring.
    let text = std::fs::read_to_string(fixtures().join("tiny-bert/tokenizer.json")).unwrap();
    assert!(text.contains("\"decoder\": null"));
    let decoder = broken_copy(
        "tokenizer.json",
        text.replace("\"decoder\": null", "\"decoder\": @")
            .as_bytes(),
    );
    let e = load_error(decoder.path()).to_string();
    assert!(
        e.contains("tokenizer.json") && e.contains("not valid JSON"),
        "{e}"
    );

    let not_json = broken_copy("config.json", b"model_type=bert");
    assert!(load_error(not_json.path()).to_string().contains("config"));

    let other = broken_copy(
        "config.json",
        config
            .replace("\"model_type\": \"bert\"", "\"model_type\": \"gpt2\"")
            .as_bytes(),
    );
    assert!(matches!(
        load_error(other.path()),
        CoreError::Unsupported { .. }
    ));
}

#[test]
fn long_inputs_are_refused_unless_truncation_is_asked_for() {
    let files = resolve(fixtures().join("tiny-bert").to_str().unwrap()).unwrap();
    let embedder = Embedder::load(&files, &embed_options()).unwrap();
    let long = "the quick brown fox ".repeat(40);
    let err = embedder.embed(&["short", &long], 7).unwrap_err();
    assert!(
        matches!(
            err,
            CoreError::TooLong {
                index: 8,
                max: 64,
                ..
            }
        ),
        "{err}"
    );
    let opts = EmbedOptions {
        truncate: true,
        ..embed_options()
    };
    let embedder = Embedder::load(&files, &opts).unwrap();
    assert_eq!(embedder.embed(&["short", &long], 0).unwrap().len(), 2);
}

fn quantized_copy(model: &Path, kind: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("model.gguf");
    let files = resolve(model.to_str().unwrap()).unwrap();
    let target = mlkit_core::quantize::parse_type(kind).unwrap();
    let mut f = std::io::BufWriter::new(std::fs::File::create(&out).unwrap());
    let report = mlkit_core::quantize::quantize(&files, target, &mut f).unwrap();
    assert!(report.quantized > 0);
    drop(f);
    (dir, out)
}

#[test]
fn a_quantized_gguf_is_a_whole_model() {
    let (_dir, gguf) = quantized_copy(&fixtures().join("tiny-bert"), "q8_0");
    let texts = ["hello world", "the lazy dog near berlin", ""];
    let dense = Embedder::load(
        &resolve(fixtures().join("tiny-bert").to_str().unwrap()).unwrap(),
        &embed_options(),
    )
    .unwrap()
    .embed(&texts, 0)
    .unwrap();
    // The GGUF alone: config, tokenizer and weights all come from the one file.
    let q = Embedder::load(&resolve(gguf.to_str().unwrap()).unwrap(), &embed_options())
        .unwrap()
        .embed(&texts, 0)
        .unwrap();
    for (a, b) in dense.iter().zip(&q) {
        assert!(cosine(a, b) >= 0.99, "cosine {}", cosine(a, b));
        assert!(
            max_diff(a, b) > 0.0,
            "q8 weights should differ from f32 at least a little"
        );
    }
}

#[test]
fn malformed_gguf_files_are_errors_not_panics() {
    let (dir, gguf) = quantized_copy(&fixtures().join("tiny-bert"), "q8_0");
    let bytes = std::fs::read(&gguf).unwrap();
    let load = |data: &[u8]| {
        let p = dir.path().join("broken.gguf");
        std::fs::write(&p, data).unwrap();
        match Embedder::load(&resolve(p.to_str().unwrap()).unwrap(), &embed_options()) {
            Ok(_) => panic!("a broken GGUF loaded"),
            Err(e) => e.to_string(),
        }
    };
    for cut in [0, 4, 24, 200, bytes.len() / 2, bytes.len() - 1] {
        let e = load(&bytes[..cut]);
        assert!(
            e.contains("GGUF") || e.contains("tensor"),
            "cut at {cut}: {e}"
        );
    }
    // Hostile tensor count in the header.
    let mut hostile = bytes.clone();
    hostile[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(load(&hostile).contains("GGUF"));
    // A GGUF without mlkit's metadata.
    let plain = one_tensor_gguf((2, 32), GgmlDType::Q8_0);
    assert!(load(&plain).contains("mlkit quantize"));
    // A tensor without elements (the fuzz target's find: Candle would read it through a
    // misaligned pointer).
    let e = load(&one_tensor_gguf((0, 32), GgmlDType::F32));
    assert!(e.contains("has no elements"), "{e}");
}

/// A GGUF file of one zero tensor named `w` and no metadata.
fn one_tensor_gguf(shape: (usize, usize), dtype: GgmlDType) -> Vec<u8> {
    let zeros = candle_core::Tensor::zeros(shape, DType::F32, &Device::Cpu).unwrap();
    let t = candle_core::quantized::QTensor::quantize(&zeros, dtype).unwrap();
    let mut file = std::io::Cursor::new(Vec::new());
    candle_core::quantized::gguf_file::write(&mut file, &[], &[("w", &t)]).unwrap();
    file.into_inner()
}

#[test]
fn the_bundled_int8_minilm_matches_sentence_transformers() {
    let files = resolve("all-MiniLM-L6-v2").unwrap();
    assert!(files.weights.ends_with("model.gguf"), "{files:?}");
    let embedder = Embedder::load(&files, &embed_options()).unwrap();
    let (sentences, want) = minilm_reference();
    let refs: Vec<&str> = sentences.iter().map(String::as_str).collect();
    let got = embedder.embed(&refs, 0).unwrap();
    let cosines: Vec<f64> = got.iter().zip(&want).map(|(g, w)| cosine(g, w)).collect();
    let worst = cosines.iter().copied().fold(1.0, f64::min);
    let mean = cosines.iter().sum::<f64>() / cosines.len() as f64;
    println!("bundled q8 vs sentence-transformers: worst cosine {worst:.6}, mean {mean:.6}");
    assert!(worst >= 0.995, "worst cosine {worst}");
}

#[test]
fn token_offsets_count_characters_not_bytes() {
    let parts = ModelParts::read(&resolve("all-MiniLM-L6-v2").unwrap()).unwrap();
    let tok = TextTokenizer::load(&parts.tokenizer, "bundled", 256, false).unwrap();
    let text = "Zürich is nice";
    let enc = &tok.encode(&[text], 0).unwrap()[0];
    let chars: Vec<char> = text.chars().collect();
    let words: Vec<String> = enc
        .offsets
        .iter()
        .filter(|(s, e)| e > s)
        .map(|&(s, e)| chars[s..e].iter().collect())
        .collect();
    // As Hugging Face Python reports them: "is" spans characters 7..9 (bytes 8..10).
    assert!(enc.offsets.contains(&(7, 9)), "{:?}", enc.offsets);
    assert!(
        words.contains(&"is".to_string()) && words.contains(&"nice".to_string()),
        "{words:?}"
    );
}

//! Token- and sequence-classification heads and the RoBERTa and DistilBERT encoders
//! against transformers
//! (`fixtures/tiny_heads.json`, from `fixtures/make_fixtures.py`): logits for single texts
//! and text pairs, alone and in one padded batch, within 1e-4.

mod common;

use candle_core::Tensor;
use common::{device, fixtures, floats, run_options};
use mlkit_core::classify::{Classifier, Task};
use mlkit_core::encoder::Encoder;
use mlkit_core::parts::ModelParts;
use mlkit_core::{resolve, RunOptions};
use serde_json::Value;

fn rows(v: &Value) -> Vec<Vec<u32>> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap() as u32)
                .collect()
        })
        .collect()
}

/// (ids, type ids, mask) tensors for rows padded with 0 to the longest.
fn batch(ids: &[Vec<u32>], types: &[Vec<u32>]) -> (Tensor, Tensor, Tensor) {
    let width = ids.iter().map(Vec::len).max().unwrap();
    let pad = |rows: &[Vec<u32>], fill: u32| -> Vec<u32> {
        rows.iter()
            .flat_map(|r| r.iter().copied().chain(std::iter::repeat(fill)).take(width))
            .collect()
    };
    let mask: Vec<u32> = ids
        .iter()
        .flat_map(|r| {
            std::iter::repeat_n(1, r.len())
                .chain(std::iter::repeat(0))
                .take(width)
        })
        .collect();
    let t = |v: Vec<u32>| Tensor::from_vec(v, (ids.len(), width), &device()).unwrap();
    (t(pad(ids, 0)), t(pad(types, 0)), t(mask))
}

/// A loaded model as a function of (ids, type ids, mask).
type Run = Box<dyn Fn(&Tensor, &Tensor, &Tensor) -> Tensor>;

fn check(name: &str, got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{name} {what}: length");
    let d = got
        .iter()
        .zip(want)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(d <= 1e-4, "{name} {what}: differs by {d}");
}

#[test]
fn heads_and_roberta_match_transformers() {
    check_models(
        "tiny_heads.json",
        &[
            "tiny-roberta",
            "tiny-bert-tc",
            "tiny-roberta-tc",
            "tiny-bert-sc",
            "tiny-roberta-sc",
            "tiny-distilbert",
            "tiny-distilbert-tc",
            "tiny-distilbert-sc",
        ],
    );
}

/// DeBERTa-v3 (shared keys, log buckets, no absolute positions) and DeBERTa-v2 (separate
/// position projections, absolute positions, token types, distances clamped at 16) from
/// `fixtures/make_deberta_fixtures.py`.
#[test]
fn deberta_v2_and_v3_match_transformers() {
    check_models(
        "tiny_deberta.json",
        &[
            "tiny-deberta-v3",
            "tiny-deberta-v3-tc",
            "tiny-deberta-v3-sc",
            "tiny-deberta-v2",
            "tiny-deberta-v2-sc",
        ],
    );
}

/// MPNet (relative position bias), ELECTRA (narrow embeddings projected up) and CamemBERT
/// (RoBERTa's weights), plain, token and sequence heads, from
/// `fixtures/make_arch_fixtures.py`.
#[test]
fn mpnet_electra_and_camembert_match_transformers() {
    check_models(
        "tiny_arch.json",
        &[
            "tiny-mpnet",
            "tiny-mpnet-tc",
            "tiny-mpnet-sc",
            "tiny-electra",
            "tiny-electra-tc",
            "tiny-electra-sc",
            "tiny-camembert-sc",
        ],
    );
}

fn check_models(file: &str, names: &[&str]) {
    let doc: Value =
        serde_json::from_slice(&std::fs::read(fixtures().join(file)).unwrap()).unwrap();
    for &name in names {
        let want = &doc[name];
        let parts =
            ModelParts::read(&resolve(fixtures().join(name).to_str().unwrap()).unwrap()).unwrap();
        let ids = rows(&want["ids"]);
        let types = rows(&want["type_ids"]);
        let kind = want["kind"].as_str().unwrap();
        let run: Run = match kind {
            "hidden" => {
                let (enc, _) = Encoder::load(&parts, &run_options()).unwrap();
                Box::new(move |i, t, m| enc.forward(i, t, m).unwrap())
            }
            _ => {
                let task = if kind == "token" {
                    Task::TokenClassification
                } else {
                    Task::SequenceClassification
                };
                let c = Classifier::load(&parts, &run_options(), task).unwrap();
                let labels: Vec<String> = want["labels"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|l| l.as_str().unwrap().to_string())
                    .collect();
                assert_eq!(c.labels, labels, "{name} labels");
                Box::new(move |i, t, m| c.logits(i, t, m).unwrap())
            }
        };
        for (k, (i, t)) in ids.iter().zip(&types).enumerate() {
            let (bi, bt, bm) = batch(std::slice::from_ref(i), std::slice::from_ref(t));
            let out: Vec<f32> = run(&bi, &bt, &bm).flatten_all().unwrap().to_vec1().unwrap();
            check(
                name,
                &out,
                &floats(&want["alone"][k]),
                &format!("input {k} alone"),
            );
        }
        let (bi, bt, bm) = batch(&ids, &types);
        let out = run(&bi, &bt, &bm);
        for (k, i) in ids.iter().enumerate() {
            let row = out.get(k).unwrap();
            let row = if kind == "sequence" {
                row
            } else {
                row.narrow(0, 0, i.len()).unwrap()
            };
            let got: Vec<f32> = row.flatten_all().unwrap().to_vec1().unwrap();
            check(
                name,
                &got,
                &floats(&want["batched"][k]),
                &format!("input {k} in a padded batch"),
            );
        }
    }
}

#[test]
fn a_plain_encoder_is_not_a_classifier() {
    let parts =
        ModelParts::read(&resolve(fixtures().join("tiny-roberta").to_str().unwrap()).unwrap())
            .unwrap();
    let err = Classifier::load(&parts, &RunOptions::default(), Task::TokenClassification)
        .err()
        .expect("a model without a classifier loaded as one")
        .to_string();
    assert!(
        err.contains("is not a token classification checkpoint"),
        "{err}"
    );
}

#[test]
fn text_pairs_tokenize_as_transformers_does() {
    let doc: Value =
        serde_json::from_slice(&std::fs::read(fixtures().join("tiny_heads.json")).unwrap())
            .unwrap();
    let parts =
        ModelParts::read(&resolve(fixtures().join("tiny-bert-sc").to_str().unwrap()).unwrap())
            .unwrap();
    let tok =
        mlkit_core::tokenize::TextTokenizer::load(&parts.tokenizer, "tiny-bert-sc", 64, false)
            .unwrap();
    let want_ids = rows(&doc["tiny-bert-sc"]["ids"]);
    let want_types = rows(&doc["tiny-bert-sc"]["type_ids"]);
    for (k, pair) in doc["pairs"].as_array().unwrap().iter().enumerate() {
        let a = pair[0].as_str().unwrap();
        let enc = match pair[1].as_str() {
            Some(b) => tok.encode_pairs(&[(a, b)], 0).unwrap(),
            None => tok.encode(&[a], 0).unwrap(),
        };
        assert_eq!(enc[0].ids, want_ids[k], "pair {k} ids");
        assert_eq!(enc[0].type_ids, want_types[k], "pair {k} type ids");
    }
}

/// ModernBERT (rotary positions, GeGLU, local attention between global layers, its own
/// prediction head with cls and mean pooling) from `fixtures/make_arch_fixtures.py`.
#[test]
fn modernbert_matches_transformers() {
    check_models(
        "tiny_arch.json",
        &[
            "tiny-modernbert",
            "tiny-modernbert-tc",
            "tiny-modernbert-sc",
            "tiny-modernbert-sc-cls",
        ],
    );
}

/// A tiny MPNet packaged as all-mpnet-base-v2 is (mean pooling, then normalization):
/// embeddings within 1e-4 of sentence-transformers 5.7 (`fixtures/tiny_arch_st.json`,
/// from `make_arch_fixtures.py`).
#[test]
fn an_mpnet_sentence_model_embeds_as_sentence_transformers() {
    let doc: Value =
        serde_json::from_slice(&std::fs::read(fixtures().join("tiny_arch_st.json")).unwrap())
            .unwrap();
    let texts: Vec<&str> = doc["texts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    let files = resolve(fixtures().join("tiny-mpnet-st").to_str().unwrap()).unwrap();
    let opts = mlkit_core::EmbedOptions {
        run: run_options(),
        ..mlkit_core::EmbedOptions::default()
    };
    let embedder = mlkit_core::Embedder::load(&files, &opts).unwrap();
    let got = embedder.embed(&texts, 0).unwrap();
    for (i, (g, w)) in got
        .iter()
        .zip(doc["embeddings"].as_array().unwrap())
        .enumerate()
    {
        check("tiny-mpnet-st", g, &floats(w), &format!("text {i}"));
    }
}

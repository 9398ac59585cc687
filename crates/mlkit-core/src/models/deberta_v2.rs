//! DeBERTa-v2 and -v3 (`model_type` "deberta-v2"), as Hugging Face's `DebertaV2Model`
//! computes it: disentangled attention (content-to-position and position-to-content terms
//! over shared or separate relative-position projections, log-bucketed relative positions),
//! optional absolute positions and token types, post-LayerNorm layers as BERT's.

use candle_core::{DType, Device, Module, Result, Tensor};
use candle_nn::{embedding, Embedding, VarBuilder};
use serde::Deserialize;
use serde_json::Value;

use super::bert::{merge_heads, norm, Activation, LayerTail, BERT_NAMES};
use super::{encoder_root, Architecture, EncoderModel, HeadLayout, Sizes};
use crate::dropout;
use crate::linear::{Linear, LinearWeights};
use crate::ops::{softmax_last_dim, LayerNorm};
use crate::unpad::Rows;

#[derive(Clone, Debug, Deserialize)]
pub struct Config {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    #[serde(default = "default_act")]
    pub hidden_act: Activation,
    pub max_position_embeddings: usize,
    #[serde(default)]
    pub type_vocab_size: usize,
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    #[serde(default)]
    pub relative_attention: bool,
    #[serde(default = "minus_one")]
    pub max_relative_positions: i64,
    #[serde(default = "minus_one")]
    pub position_buckets: i64,
    /// A list (["p2c", "c2p"]) or, in older configs, a string ("c2p|p2c").
    #[serde(default)]
    pub pos_att_type: Value,
    #[serde(default)]
    pub share_att_key: bool,
    #[serde(default)]
    pub norm_rel_ebd: Option<String>,
    #[serde(default = "yes")]
    pub position_biased_input: bool,
    pub embedding_size: Option<usize>,
    #[serde(default)]
    pub conv_kernel_size: usize,
    pub pooler_hidden_size: Option<usize>,
    #[serde(default = "default_act")]
    pub pooler_hidden_act: Activation,
}

fn default_act() -> Activation {
    Activation::Gelu
}
fn default_eps() -> f64 {
    1e-7
}
fn minus_one() -> i64 {
    -1
}
fn yes() -> bool {
    true
}

impl Config {
    fn pos_att(&self) -> (bool, bool) {
        let kinds: Vec<String> = match &self.pos_att_type {
            Value::String(s) => s
                .to_lowercase()
                .split('|')
                .map(|x| x.trim().to_string())
                .collect(),
            Value::Array(a) => a
                .iter()
                .filter_map(|x| x.as_str().map(|s| s.to_lowercase()))
                .collect(),
            _ => Vec::new(),
        };
        (
            kinds.iter().any(|k| k == "c2p"),
            kinds.iter().any(|k| k == "p2c"),
        )
    }

    /// The maximum relative distance (max_position_embeddings when unset).
    fn max_relative(&self) -> i64 {
        if self.max_relative_positions < 1 {
            self.max_position_embeddings as i64
        } else {
            self.max_relative_positions
        }
    }

    /// Half the relative-embedding table: the bucket count, or the maximum distance.
    fn span(&self) -> i64 {
        if self.position_buckets > 0 {
            self.position_buckets
        } else {
            self.max_relative()
        }
    }
}

struct Embeddings {
    words: Embedding,
    positions: Option<Embedding>,
    types: Option<Embedding>,
    project: Option<Linear>,
    norm: LayerNorm,
}

impl Embeddings {
    fn load(vb: VarBuilder, cfg: &Config, format: &LinearWeights) -> Result<Self> {
        let e = cfg.embedding_size.unwrap_or(cfg.hidden_size);
        Ok(Embeddings {
            words: embedding(cfg.vocab_size, e, vb.pp("word_embeddings"))?,
            positions: if cfg.position_biased_input {
                Some(embedding(
                    cfg.max_position_embeddings,
                    e,
                    vb.pp("position_embeddings"),
                )?)
            } else {
                None
            },
            types: if cfg.type_vocab_size > 0 {
                Some(embedding(
                    cfg.type_vocab_size,
                    e,
                    vb.pp("token_type_embeddings"),
                )?)
            } else {
                None
            },
            project: if e != cfg.hidden_size {
                Some(Linear::load_no_bias(
                    e,
                    cfg.hidden_size,
                    vb.pp("embed_proj"),
                    format,
                )?)
            } else {
                None
            },
            norm: norm(cfg.hidden_size, cfg.layer_norm_eps, vb.pp("LayerNorm"))?,
        })
    }

    fn forward(&self, ids: &Tensor, type_ids: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let (_, s) = ids.dims2()?;
        let mut xs = self.words.forward(ids)?;
        if let Some(p) = &self.positions {
            let pos = Tensor::arange(0u32, s as u32, ids.device())?;
            xs = xs.broadcast_add(&p.forward(&pos)?)?;
        }
        if let Some(t) = &self.types {
            xs = xs.add(&t.forward(type_ids)?)?;
        }
        if let Some(p) = &self.project {
            xs = p.forward(&xs)?;
        }
        let xs = self.norm.forward(&xs)?;
        dropout::hidden(&xs.broadcast_mul(&mask.to_dtype(xs.dtype())?.unsqueeze(2)?)?)
    }
}

/// Hugging Face's make_log_bucket_position, in f32 as torch computes it.
fn log_bucket(relative: i64, buckets: i64, max_position: i64) -> i64 {
    let mid = buckets / 2;
    let abs = if relative < mid && relative > -mid {
        mid - 1
    } else {
        relative.abs()
    };
    if abs <= mid {
        return relative;
    }
    let base = (((max_position - 1) as f64 / mid as f64) as f32).ln();
    let log_pos = ((abs as f32 / mid as f32).ln() / base * (mid - 1) as f32).ceil() + mid as f32;
    log_pos as i64 * relative.signum()
}

/// Gather indices for the c2p and p2c terms: (seq, seq) each, clamped into the table.
fn relative_indices(cfg: &Config, s: usize, device: &Device) -> Result<(Tensor, Tensor)> {
    let span = cfg.span();
    let (mut c2p, mut p2c) = (Vec::with_capacity(s * s), Vec::with_capacity(s * s));
    for q in 0..s as i64 {
        for k in 0..s as i64 {
            let mut r = q - k;
            if cfg.position_buckets > 0 && cfg.max_relative() > 0 {
                r = log_bucket(r, cfg.position_buckets, cfg.max_relative());
            }
            c2p.push((r + span).clamp(0, 2 * span - 1) as u32);
            p2c.push((-r + span).clamp(0, 2 * span - 1) as u32);
        }
    }
    Ok((
        Tensor::from_vec(c2p, (s, s), device)?,
        Tensor::from_vec(p2c, (s, s), device)?,
    ))
}

struct Layer {
    query: Linear,
    key: Linear,
    value: Linear,
    /// Separate relative-position projections when keys are not shared.
    pos_key: Option<Linear>,
    pos_query: Option<Linear>,
    tail: LayerTail,
    heads: usize,
    head_dim: usize,
    c2p: bool,
    p2c: bool,
}

impl Layer {
    fn load(vb: VarBuilder, cfg: &Config, format: &LinearWeights) -> Result<Self> {
        let (h, i, eps) = (cfg.hidden_size, cfg.intermediate_size, cfg.layer_norm_eps);
        let (c2p, p2c) = cfg.pos_att();
        let separate = cfg.relative_attention && !cfg.share_att_key;
        let att = vb.pp("attention.self");
        Ok(Layer {
            query: Linear::load(h, h, att.pp("query_proj"), format)?,
            key: Linear::load(h, h, att.pp("key_proj"), format)?,
            value: Linear::load(h, h, att.pp("value_proj"), format)?,
            pos_key: if separate && c2p {
                Some(Linear::load(h, h, att.pp("pos_key_proj"), format)?)
            } else {
                None
            },
            pos_query: if separate && p2c {
                Some(Linear::load(h, h, att.pp("pos_query_proj"), format)?)
            } else {
                None
            },
            tail: LayerTail::load(&vb, (h, i, eps), cfg.hidden_act, format, &BERT_NAMES)?,
            heads: cfg.num_attention_heads,
            head_dim: h / cfg.num_attention_heads,
            c2p: cfg.relative_attention && c2p,
            p2c: cfg.relative_attention && p2c,
        })
    }

    /// (.., s, hidden) to (.., heads, s, head_dim).
    fn split_heads(&self, xs: &Tensor) -> Result<Tensor> {
        let dims = xs.dims();
        let mut shape = dims[..dims.len() - 1].to_vec();
        shape.extend([self.heads, self.head_dim]);
        let rank = shape.len();
        xs.reshape(shape)?
            .transpose(rank - 3, rank - 2)?
            .contiguous()
    }

    fn forward(&self, xs: &Tensor, keep: &Tensor, rel: Option<&Relative>) -> Result<Tensor> {
        let heads = |linear: &Linear| self.split_heads(&linear.forward(xs)?);
        let context = self.attend(heads, keep, rel)?;
        self.tail.after_attention(&merge_heads(&context)?, xs, None)
    }

    /// `forward` on the real tokens' rows `xs` (tokens, hidden) of a padded batch: the
    /// products on the rows, attention on the padded layout (`unpad`).
    fn forward_rows(
        &self,
        xs: &Tensor,
        keep: &Tensor,
        rel: Option<&Relative>,
        rows: &Rows,
    ) -> Result<Tensor> {
        let heads = |linear: &Linear| self.split_heads(&rows.pad(&linear.forward(xs)?)?);
        let context = self.attend(heads, keep, rel)?;
        let context = rows.gather(&merge_heads(&context)?)?;
        self.tail.after_attention(&context, xs, Some(rows))
    }

    /// Attention's result (b, heads, s, d), from the queries, keys and values `heads` makes
    /// of each projection.
    fn attend(
        &self,
        heads: impl Fn(&Linear) -> Result<Tensor>,
        keep: &Tensor,
        rel: Option<&Relative>,
    ) -> Result<Tensor> {
        let (q, k, v) = (heads(&self.query)?, heads(&self.key)?, heads(&self.value)?);
        let (b, _, s, _) = q.dims4()?;
        let factor = 1 + usize::from(self.c2p) + usize::from(self.p2c);
        let scale = ((self.head_dim * factor) as f64).sqrt();
        let mut scores = (q.matmul(&k.t()?)? / scale)?;
        if let Some(rel) = rel {
            let full = (b, self.heads, s, s);
            if self.c2p {
                let pos_key = match &self.pos_key {
                    Some(p) => p.forward(&rel.embeddings)?,
                    None => self.key.forward(&rel.embeddings)?,
                };
                let pos_key = self.split_heads(&pos_key)?; // (heads, 2span, d)
                let c2p = q.broadcast_matmul(&pos_key.t()?)?; // (b, heads, s, 2span)
                let index = rel.c2p.broadcast_as(full)?.contiguous()?;
                scores = (scores + (c2p.gather(&index, 3)? / scale)?)?;
            }
            if self.p2c {
                let pos_query = match &self.pos_query {
                    Some(p) => p.forward(&rel.embeddings)?,
                    None => self.query.forward(&rel.embeddings)?,
                };
                let pos_query = self.split_heads(&pos_query)?;
                let p2c = k.broadcast_matmul(&pos_query.t()?)?; // (b, heads, s, 2span)
                let index = rel.p2c.broadcast_as(full)?.contiguous()?;
                let p2c = p2c.gather(&index, 3)?.transpose(2, 3)?;
                scores = (scores + (p2c / scale)?)?;
            }
        }
        // masked_fill, not an added bias: padded rows stay finite.
        let fill = Tensor::new(f32::MIN, q.device())?
            .to_dtype(scores.dtype())?
            .broadcast_as(scores.shape())?;
        let scores = keep
            .broadcast_as(scores.shape())?
            .where_cond(&scores, &fill)?;
        let probs = dropout::attention(&softmax_last_dim(&scores)?)?;
        probs.matmul(&v)
    }
}

/// Relative-position inputs shared by every layer of one forward pass.
struct Relative {
    /// (2 span, hidden), layer-normed when the config says so.
    embeddings: Tensor,
    c2p: Tensor,
    p2c: Tensor,
}

pub struct DebertaV2Model {
    cfg: Config,
    embeddings: Embeddings,
    layers: Vec<Layer>,
    rel_embeddings: Option<Tensor>,
    rel_norm: Option<LayerNorm>,
}

impl DebertaV2Model {
    /// Loads the encoder from `vb`, at its root or under `deberta.`.
    pub fn load(vb: VarBuilder, cfg: &Config, format: &LinearWeights) -> Result<Self> {
        if cfg.conv_kernel_size > 0 {
            candle_core::bail!(
                "DeBERTa's convolution layer (conv_kernel_size > 0) is not supported"
            );
        }
        if cfg.num_attention_heads == 0 || !cfg.hidden_size.is_multiple_of(cfg.num_attention_heads)
        {
            candle_core::bail!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                cfg.hidden_size,
                cfg.num_attention_heads
            );
        }
        if cfg.relative_attention && (cfg.span() < 1 || cfg.span() > 1 << 20) {
            candle_core::bail!(
                "relative position table of {} entries is out of range",
                cfg.span()
            );
        }
        let vb = encoder_root(vb, "embeddings.word_embeddings.weight", "deberta");
        let encoder = vb.pp("encoder");
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| Layer::load(encoder.pp("layer").pp(i), cfg, format))
            .collect::<Result<_>>()?;
        let normed = cfg
            .norm_rel_ebd
            .as_deref()
            .unwrap_or("none")
            .to_lowercase()
            .split('|')
            .any(|x| x.trim() == "layer_norm");
        let (rel_embeddings, rel_norm) = if cfg.relative_attention {
            let rows = (2 * cfg.span()) as usize;
            (
                Some(encoder.get((rows, cfg.hidden_size), "rel_embeddings.weight")?),
                if normed {
                    Some(norm(
                        cfg.hidden_size,
                        cfg.layer_norm_eps,
                        encoder.pp("LayerNorm"),
                    )?)
                } else {
                    None
                },
            )
        } else {
            (None, None)
        };
        Ok(DebertaV2Model {
            cfg: cfg.clone(),
            embeddings: Embeddings::load(vb.pp("embeddings"), cfg, format)?,
            layers,
            rel_embeddings,
            rel_norm,
        })
    }

    /// Hidden states (batch, seq, hidden) for `ids`, `type_ids` and `mask` (batch, seq).
    pub fn forward(&self, ids: &Tensor, type_ids: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let (b, s) = ids.dims2()?;
        let mut xs = self.embeddings.forward(ids, type_ids, mask)?;
        let rel = match &self.rel_embeddings {
            Some(table) => {
                let embeddings = match &self.rel_norm {
                    Some(n) => n.forward(table)?,
                    None => table.clone(),
                };
                let (c2p, p2c) = relative_indices(&self.cfg, s, ids.device())?;
                Some(Relative {
                    embeddings: embeddings.to_dtype(xs.dtype())?,
                    c2p,
                    p2c,
                })
            }
            None => None,
        };
        // Keys that may be attended: (b, 1, 1, s).
        let keep = mask.to_dtype(DType::U8)?.reshape((b, 1, 1, s))?;
        // Training runs the layers on the real tokens only (`unpad`), as BERT's do.
        if xs.track_op() {
            if let Some(rows) = Rows::of_mask(mask)? {
                let mut real = rows.gather(&xs)?;
                for layer in &self.layers {
                    real = layer.forward_rows(&real, &keep, rel.as_ref(), &rows)?;
                }
                return rows.pad(&real);
            }
        }
        for layer in &self.layers {
            xs = layer.forward(&xs, &keep, rel.as_ref())?;
        }
        Ok(xs)
    }
}

impl EncoderModel for DebertaV2Model {
    fn forward(&self, ids: &Tensor, type_ids: &Tensor, mask: &Tensor) -> Result<Tensor> {
        DebertaV2Model::forward(self, ids, type_ids, mask)
    }
}

impl Architecture for Config {
    fn prefix(&self) -> &'static str {
        "deberta"
    }
    fn sizes(&self) -> Sizes {
        Sizes {
            hidden: self.hidden_size,
            layers: self.num_hidden_layers,
            vocab: self.vocab_size,
            type_vocab: self.type_vocab_size,
            max_positions: self.max_position_embeddings,
        }
    }
    fn encoder(&self, vb: VarBuilder, w: &LinearWeights) -> Result<Box<dyn EncoderModel>> {
        Ok(Box::new(DebertaV2Model::load(vb, self, w)?))
    }
    fn sequence_head(&self) -> HeadLayout {
        // DebertaV2ForSequenceClassification: classifier(act(pooler.dense(first token))),
        // act from pooler_hidden_act (the classifier's bias included, unlike candle's NER
        // model).
        let inner = self.pooler_hidden_size.unwrap_or(self.hidden_size);
        HeadLayout::new("pooler.dense", inner, self.pooler_hidden_act, "classifier")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_buckets_match_hugging_face() {
        // torch: make_log_bucket_position(arange(-300, 300), 256, 512) at a few points.
        assert_eq!(log_bucket(0, 256, 512), 0);
        assert_eq!(log_bucket(127, 256, 512), 127);
        assert_eq!(log_bucket(128, 256, 512), 128);
        assert_eq!(log_bucket(-128, 256, 512), -128);
        assert!(log_bucket(300, 256, 512) > 128 && log_bucket(300, 256, 512) < 256);
        assert_eq!(log_bucket(-300, 256, 512), -log_bucket(300, 256, 512));
    }
}

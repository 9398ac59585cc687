//! ModernBERT, as transformers' eager `ModernBertModel` computes it: pre-LayerNorm layers
//! (the first without its attention norm) with rotary positions, a GeGLU feed-forward
//! block, and attention that is global every `global_attn_every_n_layers` layers and local
//! (a window of `local_attention` tokens, with its own rotary base) in between; LayerNorms
//! and Linears without biases unless the config asks; and its heads: a prediction head
//! (dense, activation, norm) on the first token or the mean of the tokens, then the
//! classifier.

use candle_core::{DType, Device, Module, Result, Tensor, D};
use candle_nn::{embedding, Embedding, VarBuilder};
use serde::Deserialize;

use super::bert::{attention_bias, merge_heads, Activation};
use super::{encoder_root, Architecture, EncoderModel, HeadLayout, SequenceHead, Sizes, TokenHead};
use crate::linear::{Linear, LinearWeights};
use crate::ops::{softmax_last_dim, LayerNorm};
use crate::unpad::Rows;

#[derive(Clone, Debug, Deserialize)]
pub struct Config {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    #[serde(default = "gelu")]
    pub hidden_activation: Activation,
    pub max_position_embeddings: usize,
    #[serde(default = "default_eps")]
    pub norm_eps: f64,
    #[serde(default)]
    pub norm_bias: bool,
    #[serde(default = "default_global_theta")]
    pub global_rope_theta: f64,
    #[serde(default = "default_local_theta")]
    pub local_rope_theta: Option<f64>,
    #[serde(default = "default_every")]
    pub global_attn_every_n_layers: usize,
    #[serde(default = "default_window")]
    pub local_attention: usize,
    #[serde(default)]
    pub attention_bias: bool,
    #[serde(default)]
    pub mlp_bias: bool,
    #[serde(default = "default_pooling")]
    pub classifier_pooling: Pooling,
    #[serde(default)]
    pub classifier_bias: bool,
    #[serde(default = "gelu")]
    pub classifier_activation: Activation,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    Cls,
    Mean,
}

fn gelu() -> Activation {
    Activation::Gelu
}
fn default_eps() -> f64 {
    1e-5
}
fn default_global_theta() -> f64 {
    160_000.0
}
fn default_local_theta() -> Option<f64> {
    Some(10_000.0)
}
fn default_every() -> usize {
    3
}
fn default_window() -> usize {
    128
}
fn default_pooling() -> Pooling {
    Pooling::Cls
}

/// A LayerNorm with or without its bias.
fn norm(size: usize, eps: f64, bias: bool, vb: VarBuilder) -> Result<LayerNorm> {
    let weight = vb.get(size, "weight")?;
    if bias {
        Ok(LayerNorm::new(weight, Some(vb.get(size, "bias")?), eps))
    } else {
        Ok(LayerNorm::new(weight, None, eps))
    }
}

fn linear(i: usize, o: usize, bias: bool, vb: VarBuilder, w: &LinearWeights) -> Result<Linear> {
    if bias {
        Linear::load(i, o, vb, w)
    } else {
        Linear::load_no_bias(i, o, vb, w)
    }
}

/// `xs` (b, heads, seq, head_dim) at its rotary positions. Candle's fused `rope` has no
/// backward pass (its result is not tracked): while training it would cut the gradient of
/// the queries and keys, so a tracked input takes the composed, differentiable form (the
/// same arithmetic).
fn rotate(xs: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
    if xs.track_op() {
        candle_nn::rotary_emb::rope_slow(xs, cos, sin)
    } else {
        candle_nn::rotary_emb::rope(xs, cos, sin)
    }
}

/// cos and sin (seq, head_dim / 2) of the rotary positions 0..seq with base `theta`, in f32
/// as transformers computes them.
fn rotary(
    seq: usize,
    head_dim: usize,
    theta: f64,
    dtype: DType,
    device: &Device,
) -> Result<(Tensor, Tensor)> {
    let inv: Vec<f32> = (0..head_dim / 2)
        .map(|i| 1.0 / (theta as f32).powf((2 * i) as f32 / head_dim as f32))
        .collect();
    let freqs: Vec<f32> = (0..seq)
        .flat_map(|p| inv.iter().map(move |f| p as f32 * f))
        .collect();
    let freqs = Tensor::from_vec(freqs, (seq, head_dim / 2), device)?;
    Ok((freqs.cos()?.to_dtype(dtype)?, freqs.sin()?.to_dtype(dtype)?))
}

struct Layer {
    attn_norm: Option<LayerNorm>,
    wqkv: Linear,
    wo: Linear,
    mlp_norm: LayerNorm,
    wi: Linear,
    mlp_out: Linear,
    act: Activation,
    heads: usize,
    head_dim: usize,
    /// Whether the layer attends within a window (with the local rotary base).
    local: bool,
}

/// What a layer's attention needs beyond its input, the same for every global (or every
/// local) layer of a batch, so computed once per batch: the bias (padding, and for local
/// layers the window) and the rotary cos and sin.
struct AttentionInputs {
    bias: Tensor,
    cos: Tensor,
    sin: Tensor,
}

impl Layer {
    fn load(i: usize, cfg: &Config, vb: VarBuilder, w: &LinearWeights) -> Result<Layer> {
        let h = cfg.hidden_size;
        let local = !i.is_multiple_of(cfg.global_attn_every_n_layers.max(1));
        Ok(Layer {
            attn_norm: if i == 0 {
                None
            } else {
                Some(norm(h, cfg.norm_eps, cfg.norm_bias, vb.pp("attn_norm"))?)
            },
            wqkv: linear(h, 3 * h, cfg.attention_bias, vb.pp("attn.Wqkv"), w)?,
            wo: linear(h, h, cfg.attention_bias, vb.pp("attn.Wo"), w)?,
            mlp_norm: norm(h, cfg.norm_eps, cfg.norm_bias, vb.pp("mlp_norm"))?,
            wi: linear(
                h,
                2 * cfg.intermediate_size,
                cfg.mlp_bias,
                vb.pp("mlp.Wi"),
                w,
            )?,
            mlp_out: linear(cfg.intermediate_size, h, cfg.mlp_bias, vb.pp("mlp.Wo"), w)?,
            act: cfg.hidden_activation,
            heads: cfg.num_attention_heads,
            head_dim: h / cfg.num_attention_heads,
            local,
        })
    }

    /// The layer on `xs` (b, s, hidden), or with `rows` on the real tokens' rows (tokens,
    /// hidden) of a padded batch: everything but attention on the rows (`unpad`).
    fn forward(
        &self,
        xs: &Tensor,
        attention: &AttentionInputs,
        rows: Option<&Rows>,
    ) -> Result<Tensor> {
        let normed = match &self.attn_norm {
            Some(n) => n.forward(xs)?,
            None => xs.clone(),
        };
        let qkv = self.wqkv.forward(&normed)?;
        let qkv = match rows {
            Some(rows) => rows.pad(&qkv)?,
            None => qkv,
        };
        let (b, s, _) = qkv.dims3()?;
        let qkv = qkv.reshape((b, s, 3, self.heads, self.head_dim))?;
        let part = |i: usize| -> Result<Tensor> {
            qkv.narrow(2, i, 1)?
                .squeeze(2)?
                .transpose(1, 2)?
                .contiguous()
        };
        let (q, k, v) = (part(0)?, part(1)?, part(2)?);
        let AttentionInputs { bias, cos, sin } = attention;
        let (q, k) = (rotate(&q, cos, sin)?, rotate(&k, cos, sin)?);
        let scale = 1.0 / (self.head_dim as f64).sqrt();
        let scores = (q.matmul(&k.t()?)? * scale)?.broadcast_add(bias)?;
        let probs = softmax_last_dim(&scores)?;
        let context = merge_heads(&probs.matmul(&v)?)?;
        let context = match rows {
            Some(rows) => rows.gather(&context)?,
            None => context,
        };
        let xs = (xs + self.wo.forward(&context)?)?;
        let gated = self.wi.forward(&self.mlp_norm.forward(&xs)?)?;
        let half = gated.dim(D::Minus1)? / 2;
        let input = gated.narrow(D::Minus1, 0, half)?;
        let gate = gated.narrow(D::Minus1, half, half)?;
        let inner = (self.act.apply(&input)? * gate)?;
        xs + self.mlp_out.forward(&inner)?
    }
}

pub struct ModernBertModel {
    embeddings: Embedding,
    embedding_norm: LayerNorm,
    layers: Vec<Layer>,
    final_norm: LayerNorm,
    window: usize,
    head_dim: usize,
    global_theta: f64,
    local_theta: f64,
    dtype: DType,
}

impl ModernBertModel {
    pub fn load(vb: VarBuilder, cfg: &Config, w: &LinearWeights) -> Result<Self> {
        if cfg.num_attention_heads == 0 || !cfg.hidden_size.is_multiple_of(cfg.num_attention_heads)
        {
            candle_core::bail!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                cfg.hidden_size,
                cfg.num_attention_heads
            );
        }
        let vb = encoder_root(vb, "embeddings.tok_embeddings.weight", "model");
        let h = cfg.hidden_size;
        Ok(ModernBertModel {
            embeddings: embedding(cfg.vocab_size, h, vb.pp("embeddings.tok_embeddings"))?,
            embedding_norm: norm(h, cfg.norm_eps, cfg.norm_bias, vb.pp("embeddings.norm"))?,
            layers: (0..cfg.num_hidden_layers)
                .map(|i| Layer::load(i, cfg, vb.pp("layers").pp(i), w))
                .collect::<Result<_>>()?,
            final_norm: norm(h, cfg.norm_eps, cfg.norm_bias, vb.pp("final_norm"))?,
            window: cfg.local_attention / 2,
            head_dim: h / cfg.num_attention_heads,
            global_theta: cfg.global_rope_theta,
            local_theta: cfg.local_rope_theta.unwrap_or(cfg.global_rope_theta),
            dtype: vb.dtype(),
        })
    }
}

impl EncoderModel for ModernBertModel {
    fn forward(&self, ids: &Tensor, _type_ids: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let s = ids.dim(1)?;
        let global_bias = attention_bias(mask, self.dtype)?;
        // The local layers' mask: the padding mask, and also every key further than the
        // window from the query (transformers fills those with the same minimum, so the
        // two are combined by taking the smaller, never summed into an infinity).
        // Row q of `inside` is a mask over the keys within the window of query q.
        let inside: Vec<f32> = (0..s)
            .flat_map(|q| (0..s).map(move |k| f32::from(u8::from(q.abs_diff(k) <= self.window))))
            .collect();
        let inside = Tensor::from_vec(inside, (s, s), ids.device())?;
        let outside = attention_bias(&inside, self.dtype)?;
        let local_bias = global_bias.broadcast_minimum(&outside.reshape((1, 1, s, s))?)?;
        let inputs = |bias: Tensor, theta: f64| -> Result<AttentionInputs> {
            let (cos, sin) = rotary(s, self.head_dim, theta, self.dtype, ids.device())?;
            Ok(AttentionInputs { bias, cos, sin })
        };
        let global = inputs(global_bias, self.global_theta)?;
        let local = inputs(local_bias, self.local_theta)?;
        let mut xs = self
            .embedding_norm
            .forward(&self.embeddings.forward(ids)?)?;
        // Training runs the layers on the real tokens only (`unpad`), as BERT's do.
        let rows = if xs.track_op() {
            Rows::of_mask(mask)?
        } else {
            None
        };
        if let Some(rows) = &rows {
            xs = rows.gather(&xs)?;
        }
        for layer in &self.layers {
            let inputs = if layer.local { &local } else { &global };
            xs = layer.forward(&xs, inputs, rows.as_ref())?;
        }
        let xs = self.final_norm.forward(&xs)?;
        match &rows {
            Some(rows) => rows.pad(&xs),
            None => Ok(xs),
        }
    }
}

/// ModernBertPredictionHead: norm(act(dense(x))).
struct PredictionHead {
    dense: Linear,
    act: Activation,
    norm: LayerNorm,
}

impl PredictionHead {
    fn load(cfg: &Config, vb: VarBuilder, w: &LinearWeights) -> Result<Self> {
        let h = cfg.hidden_size;
        Ok(PredictionHead {
            dense: linear(h, h, cfg.classifier_bias, vb.pp("dense"), w)?,
            act: cfg.classifier_activation,
            norm: norm(h, cfg.norm_eps, cfg.norm_bias, vb.pp("norm"))?,
        })
    }

    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        self.norm
            .forward(&self.act.apply(&self.dense.forward(xs)?)?)
    }
}

/// `classifier(head(pooled))`, pooled by the first token or the mean of the real tokens.
struct Head {
    head: PredictionHead,
    classifier: Linear,
    pooling: Pooling,
}

impl SequenceHead for Head {
    fn forward(&self, hidden: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let pooled = match self.pooling {
            Pooling::Cls => hidden.narrow(1, 0, 1)?.squeeze(1)?,
            Pooling::Mean => {
                let m = mask.to_dtype(hidden.dtype())?.unsqueeze(2)?;
                let sum = hidden.broadcast_mul(&m)?.sum(1)?;
                sum.broadcast_div(&m.sum(1)?)?
            }
        };
        self.classifier.forward(&self.head.forward(&pooled)?)
    }
}

impl TokenHead for Head {
    fn token_logits(&self, hidden: &Tensor) -> Result<Tensor> {
        self.classifier.forward(&self.head.forward(hidden)?)
    }
}

impl Config {
    fn head(&self, vb: &VarBuilder, w: &LinearWeights, labels: usize) -> Result<Head> {
        Ok(Head {
            head: PredictionHead::load(self, vb.pp("head"), w)?,
            classifier: Linear::load(self.hidden_size, labels, vb.pp("classifier"), w)?,
            pooling: self.classifier_pooling,
        })
    }
}

impl Architecture for Config {
    fn prefix(&self) -> &'static str {
        "model"
    }
    fn sizes(&self) -> Sizes {
        Sizes {
            hidden: self.hidden_size,
            layers: self.num_hidden_layers,
            vocab: self.vocab_size,
            type_vocab: 0,
            max_positions: self.max_position_embeddings,
        }
    }
    fn encoder(&self, vb: VarBuilder, w: &LinearWeights) -> Result<Box<dyn EncoderModel>> {
        Ok(Box::new(ModernBertModel::load(vb, self, w)?))
    }
    fn sequence_head(&self) -> HeadLayout {
        // Not this layout: `load_sequence_head` builds ModernBERT's own head.
        HeadLayout::new(
            "head.dense",
            self.hidden_size,
            self.classifier_activation,
            "classifier",
        )
    }
    fn load_sequence_head(
        &self,
        vb: &VarBuilder,
        w: &LinearWeights,
        _hidden: usize,
        labels: usize,
    ) -> Result<Box<dyn SequenceHead>> {
        Ok(Box::new(self.head(vb, w, labels)?))
    }
    fn load_token_head(
        &self,
        vb: &VarBuilder,
        w: &LinearWeights,
        _hidden: usize,
        labels: usize,
    ) -> Result<Box<dyn TokenHead>> {
        Ok(Box::new(self.head(vb, w, labels)?))
    }
}

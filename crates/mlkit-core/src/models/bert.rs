//! BERT (and MiniLM, which is BERT with fewer, narrower layers), as Hugging Face's
//! `BertModel` computes it: post-LayerNorm encoder, absolute positions, erf GELU.

use candle_core::{DType, Module, Result, Tensor};
use candle_nn::{embedding, Embedding, VarBuilder};
use serde::Deserialize;

use super::{encoder_root, Architecture, EncoderModel, HeadLayout, Sizes};
use crate::attention::softmax_scaled_biased;
use crate::dropout;
use crate::linear::{split_heads, Linear, LinearWeights};
use crate::ops::LayerNorm;
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
    #[serde(default = "default_type_vocab")]
    pub type_vocab_size: usize,
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    #[serde(default = "default_position_type")]
    pub position_embedding_type: String,
    /// RoBERTa numbers positions after its padding id; BERT ignores it.
    #[serde(default)]
    pub pad_token_id: Option<u32>,
    /// ELECTRA's embeddings are narrower than its layers (`embeddings_project` widens
    /// them); BERT's are as wide.
    #[serde(default)]
    pub embedding_size: Option<usize>,
}

fn default_act() -> Activation {
    Activation::Gelu
}
fn default_type_vocab() -> usize {
    2
}
fn default_eps() -> f64 {
    1e-12
}
fn default_position_type() -> String {
    "absolute".to_string()
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// Hugging Face's "gelu" is the exact erf form.
    Gelu,
    #[serde(alias = "gelu_new", alias = "gelu_pytorch_tanh")]
    GeluApproximate,
    Relu,
    Tanh,
}

impl Activation {
    pub(crate) fn apply(self, xs: &Tensor) -> Result<Tensor> {
        match self {
            Activation::Gelu => crate::gelu::gelu_erf(xs),
            Activation::GeluApproximate => xs.gelu(),
            Activation::Relu => xs.relu(),
            Activation::Tanh => xs.tanh(),
        }
    }

    /// The activation of `linear`'s output, applied to the product in place where the
    /// Linear can (`Linear::forward_fused`), with the same numbers.
    pub(crate) fn after(self, linear: &Linear, xs: &Tensor) -> Result<Tensor> {
        if self == Activation::Gelu {
            let fused = linear.forward_fused(xs, |ys| {
                crate::gelu::gelu_erf_in_place(ys);
                Ok(())
            })?;
            if let Some(ys) = fused {
                return Ok(ys);
            }
        }
        self.apply(&linear.forward(xs)?)
    }
}

/// Layer norm weights are `weight`/`bias`, or `gamma`/`beta` in old TF-converted checkpoints.
pub(crate) fn norm(size: usize, eps: f64, vb: VarBuilder) -> Result<LayerNorm> {
    let (w, b) = if vb.contains_tensor("weight") || !vb.contains_tensor("gamma") {
        ("weight", "bias")
    } else {
        ("gamma", "beta")
    };
    Ok(LayerNorm::new(
        vb.get(size, w)?,
        Some(vb.get(size, b)?),
        eps,
    ))
}

/// How position ids are made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Positions {
    /// 0, 1, 2, ... (BERT).
    Absolute,
    /// RoBERTa's `create_position_ids_from_input_ids`: tokens other than the padding id
    /// count up from padding_idx + 1; padding gets padding_idx.
    AfterPadding(u32),
}

struct Embeddings {
    words: Embedding,
    positions: Embedding,
    /// DistilBERT has no token types.
    token_types: Option<Embedding>,
    norm: LayerNorm,
    scheme: Positions,
}

impl Embeddings {
    fn load(vb: VarBuilder, cfg: &Config, scheme: Positions) -> Result<Self> {
        let width = cfg.embedding_width();
        Ok(Embeddings {
            scheme,
            words: embedding(cfg.vocab_size, width, vb.pp("word_embeddings"))?,
            positions: embedding(
                cfg.max_position_embeddings,
                width,
                vb.pp("position_embeddings"),
            )?,
            token_types: if cfg.type_vocab_size > 0 {
                Some(embedding(
                    cfg.type_vocab_size,
                    width,
                    vb.pp("token_type_embeddings"),
                )?)
            } else {
                None
            },
            norm: norm(width, cfg.layer_norm_eps, vb.pp("LayerNorm"))?,
        })
    }

    fn forward(&self, ids: &Tensor, type_ids: &Tensor) -> Result<Tensor> {
        let seq = ids.dim(1)?;
        let positions = match self.scheme {
            Positions::Absolute => Tensor::arange(0u32, seq as u32, ids.device())?.unsqueeze(0)?,
            Positions::AfterPadding(pad) => {
                let real = ids.ne(pad)?.to_dtype(DType::F32)?;
                let counted = (real.cumsum(1)? * &real)?;
                (counted + f64::from(pad))?.to_dtype(DType::U32)?
            }
        };
        let xs = self
            .words
            .forward(ids)?
            .broadcast_add(&self.positions.forward(&positions)?)?;
        let xs = match &self.token_types {
            Some(t) => xs.add(&t.forward(type_ids)?)?,
            None => xs,
        };
        dropout::hidden(&self.norm.forward(&xs)?)
    }
}

/// Where a layer's weights are, relative to the layer: the one difference between BERT's
/// and DistilBERT's layers.
pub(crate) struct LayerNames {
    pub layers: &'static str,
    pub query: &'static str,
    pub key: &'static str,
    pub value: &'static str,
    pub attention_out: &'static str,
    pub attention_norm: &'static str,
    pub intermediate: &'static str,
    pub output: &'static str,
    pub output_norm: &'static str,
}

pub(crate) const BERT_NAMES: LayerNames = LayerNames {
    layers: "encoder.layer",
    query: "attention.self.query",
    key: "attention.self.key",
    value: "attention.self.value",
    attention_out: "attention.output.dense",
    attention_norm: "attention.output.LayerNorm",
    intermediate: "intermediate.dense",
    output: "output.dense",
    output_norm: "output.LayerNorm",
};

/// What follows attention in every post-LayerNorm encoder layer (BERT's and DeBERTa's):
/// the heads' context through `attention.output` with a residual and LayerNorm, then the
/// feed-forward block with its residual and LayerNorm.
pub(crate) struct LayerTail {
    attention_out: Linear,
    attention_norm: LayerNorm,
    intermediate: Linear,
    output: Linear,
    output_norm: LayerNorm,
    act: Activation,
}

impl LayerTail {
    pub(crate) fn load(
        vb: &VarBuilder,
        sizes: (usize, usize, f64),
        act: Activation,
        format: &LinearWeights,
        names: &LayerNames,
    ) -> Result<Self> {
        let (h, i, eps) = sizes;
        Ok(LayerTail {
            attention_out: Linear::load(h, h, vb.pp(names.attention_out), format)?,
            attention_norm: norm(h, eps, vb.pp(names.attention_norm))?,
            intermediate: Linear::load(h, i, vb.pp(names.intermediate), format)?,
            output: Linear::load(i, h, vb.pp(names.output), format)?,
            output_norm: norm(h, eps, vb.pp(names.output_norm))?,
            act,
        })
    }

    /// `probs` (b, heads, s, s) applied to `v` (b, heads, s, d), then the rest of the layer
    /// on top of its input `xs` (b, s, hidden).
    pub(crate) fn forward(&self, probs: &Tensor, v: &Tensor, xs: &Tensor) -> Result<Tensor> {
        self.after_attention(&merge_heads(&probs.matmul(v)?)?, xs, None)
    }

    /// The layer from the heads' merged context on, on top of its input `xs`: both (b, s,
    /// hidden), or with `rows` both the real tokens' rows (tokens, hidden) of a padded batch.
    pub(crate) fn after_attention(
        &self,
        context: &Tensor,
        xs: &Tensor,
        rows: Option<&Rows>,
    ) -> Result<Tensor> {
        let attended = add_norm(&self.attention_out, context, xs, &self.attention_norm, rows)?;
        let inner = self.act.after(&self.intermediate, &attended)?;
        add_norm(&self.output, &inner, &attended, &self.output_norm, rows)
    }
}

/// Attention's result (b, heads, s, d) with its heads side by side again: (b, s, heads x d).
pub(crate) fn merge_heads(context: &Tensor) -> Result<Tensor> {
    let (b, heads, s, d) = context.dims4()?;
    context
        .transpose(1, 2)?
        .contiguous()?
        .reshape((b, s, heads * d))
}

/// A sub-layer's output with dropout plus its input, normalised:
/// `norm(dropout(linear(xs)) + skip)`. At inference (no dropout) the addition and the
/// LayerNorm run in place on the product where the Linear can (`Linear::forward_fused`).
/// With `rows`, `xs` and `skip` are the real tokens' rows of a padded batch (`unpad`).
fn add_norm(
    linear: &Linear,
    xs: &Tensor,
    skip: &Tensor,
    norm: &LayerNorm,
    rows: Option<&Rows>,
) -> Result<Tensor> {
    if dropout::is_active() {
        let ys = linear.forward(xs)?;
        let ys = match rows {
            Some(rows) => dropout::hidden_rows(&ys, rows)?,
            None => dropout::hidden(&ys)?,
        };
        return norm.forward(&(ys + skip)?);
    }
    if norm.on_host() && crate::linear::in_place_operand(skip) {
        let fused = linear.forward_fused(xs, |ys| {
            crate::linear::add_in_place(ys, skip)?;
            norm.normalize_in_place(ys)
        })?;
        if let Some(ys) = fused {
            if ys.shape() != skip.shape() {
                candle_core::bail!(
                    "a sub-layer's output {:?} for input {:?}",
                    ys.shape(),
                    skip.shape()
                );
            }
            return Ok(ys);
        }
    }
    norm.forward(&(linear.forward(xs)? + skip)?)
}

struct Layer {
    query: Linear,
    key: Linear,
    value: Linear,
    tail: LayerTail,
    heads: usize,
    head_dim: usize,
}

impl Layer {
    fn load(
        vb: VarBuilder,
        cfg: &Config,
        format: &LinearWeights,
        names: &LayerNames,
    ) -> Result<Self> {
        let h = cfg.hidden_size;
        let sizes = (h, cfg.intermediate_size, cfg.layer_norm_eps);
        Ok(Layer {
            query: Linear::load(h, h, vb.pp(names.query), format)?,
            key: Linear::load(h, h, vb.pp(names.key), format)?,
            value: Linear::load(h, h, vb.pp(names.value), format)?,
            tail: LayerTail::load(&vb, sizes, cfg.hidden_act, format, names)?,
            heads: cfg.num_attention_heads,
            head_dim: h / cfg.num_attention_heads,
        })
    }

    /// `bias` is (batch, 1, 1, seq): 0 for real tokens, a large negative for padding.
    fn forward(&self, xs: &Tensor, bias: &Tensor) -> Result<Tensor> {
        let (probs, v) = self.attend(|linear| linear.forward_heads(xs, self.heads), bias)?;
        self.tail.forward(&probs, &v, xs)
    }

    /// `forward` on the real tokens' rows `xs` (tokens, hidden) of a padded batch: the
    /// products on the rows, attention on the padded layout (`unpad`).
    fn forward_rows(&self, xs: &Tensor, bias: &Tensor, rows: &Rows) -> Result<Tensor> {
        let heads = |linear: &Linear| split_heads(&rows.pad(&linear.forward(xs)?)?, self.heads);
        let (probs, v) = self.attend(heads, bias)?;
        let context = rows.gather(&merge_heads(&probs.matmul(&v)?)?)?;
        self.tail.after_attention(&context, xs, Some(rows))
    }

    /// The attention probabilities (b, heads, s, s) and the values (b, heads, s, d), from
    /// the queries, keys and values `heads` makes of each projection.
    fn attend(
        &self,
        heads: impl Fn(&Linear) -> Result<Tensor>,
        bias: &Tensor,
    ) -> Result<(Tensor, Tensor)> {
        let (q, k, v) = (heads(&self.query)?, heads(&self.key)?, heads(&self.value)?);
        let scale = 1.0 / (self.head_dim as f64).sqrt();
        let scores = q.matmul(&k.t()?)?;
        let probs = dropout::attention(&softmax_scaled_biased(&scores, bias, scale)?)?;
        Ok((probs, v))
    }
}

pub struct BertModel {
    embeddings: Embeddings,
    /// ELECTRA's `embeddings_project`, when its embeddings are narrower than its layers.
    project: Option<Linear>,
    layers: Vec<Layer>,
    dtype: DType,
}

impl BertModel {
    /// Loads the encoder from `vb`, at its root (sentence-transformers checkpoints) or under
    /// `bert.` (checkpoints saved with a task head).
    pub fn load(vb: VarBuilder, cfg: &Config, format: &LinearWeights) -> Result<Self> {
        Self::load_flavour(vb, cfg, format, "bert", Positions::Absolute, &BERT_NAMES)
    }

    /// The BERT encoder under another name and position scheme (RoBERTa reuses it whole).
    pub(crate) fn load_flavour(
        vb: VarBuilder,
        cfg: &Config,
        format: &LinearWeights,
        prefix: &str,
        positions: Positions,
        names: &LayerNames,
    ) -> Result<Self> {
        if cfg.position_embedding_type != "absolute" {
            candle_core::bail!(
                "position_embedding_type {:?} is not supported (only \"absolute\")",
                cfg.position_embedding_type
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
        let vb = encoder_root(vb, "embeddings.word_embeddings.weight", prefix);
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| Layer::load(vb.pp(names.layers).pp(i), cfg, format, names))
            .collect::<Result<_>>()?;
        let width = cfg.embedding_width();
        let project = if width != cfg.hidden_size {
            Some(Linear::load(
                width,
                cfg.hidden_size,
                vb.pp("embeddings_project"),
                format,
            )?)
        } else {
            None
        };
        Ok(BertModel {
            embeddings: Embeddings::load(vb.pp("embeddings"), cfg, positions)?,
            project,
            layers,
            dtype: vb.dtype(),
        })
    }

    /// Hidden states (batch, seq, hidden) for `ids` and `type_ids` (batch, seq, u32) and
    /// `mask` (batch, seq; 1 for tokens, 0 for padding).
    pub fn forward(&self, ids: &Tensor, type_ids: &Tensor, mask: &Tensor) -> Result<Tensor> {
        self.forward_with_bias(ids, type_ids, mask, None)
    }

    /// `forward` with `extra` added to every layer's attention scores: MPNet's relative
    /// position bias, (1, heads, seq, seq).
    pub(crate) fn forward_with_bias(
        &self,
        ids: &Tensor,
        type_ids: &Tensor,
        mask: &Tensor,
        extra: Option<&Tensor>,
    ) -> Result<Tensor> {
        let mut xs = self.embeddings.forward(ids, type_ids)?;
        if let Some(p) = &self.project {
            xs = p.forward(&xs)?;
        }
        let mut bias = attention_bias(mask, self.dtype)?;
        if let Some(extra) = extra {
            bias = bias.broadcast_add(&extra.to_dtype(self.dtype)?)?;
        }
        // Training runs the layers on the real tokens only (`unpad`); inference batches are
        // sorted by length, so have little padding, and keep their fused kernels.
        if xs.track_op() {
            if let Some(rows) = Rows::of_mask(mask)? {
                let mut real = rows.gather(&xs)?;
                for layer in &self.layers {
                    real = layer.forward_rows(&real, &bias, &rows)?;
                }
                return rows.pad(&real);
            }
        }
        for layer in &self.layers {
            xs = layer.forward(&xs, &bias)?;
        }
        Ok(xs)
    }
}

impl EncoderModel for BertModel {
    fn forward(&self, ids: &Tensor, type_ids: &Tensor, mask: &Tensor) -> Result<Tensor> {
        BertModel::forward(self, ids, type_ids, mask)
    }
}

impl Config {
    /// The embeddings' width: `embedding_size` where a config gives it (ELECTRA).
    pub(crate) fn embedding_width(&self) -> usize {
        self.embedding_size.unwrap_or(self.hidden_size)
    }

    pub(crate) fn sizes(&self) -> Sizes {
        Sizes {
            hidden: self.hidden_size,
            layers: self.num_hidden_layers,
            vocab: self.vocab_size,
            type_vocab: self.type_vocab_size,
            max_positions: self.max_position_embeddings,
        }
    }
}

impl Architecture for Config {
    fn prefix(&self) -> &'static str {
        "bert"
    }
    fn sizes(&self) -> Sizes {
        Config::sizes(self)
    }
    fn encoder(&self, vb: VarBuilder, w: &LinearWeights) -> Result<Box<dyn EncoderModel>> {
        Ok(Box::new(BertModel::load(vb, self, w)?))
    }
    fn sequence_head(&self) -> HeadLayout {
        // BertForSequenceClassification: the pooler's tanh, then the classifier.
        HeadLayout::new(
            "bert.pooler.dense",
            self.hidden_size,
            Activation::Tanh,
            "classifier",
        )
    }
}

/// Hugging Face's extended attention mask: (1 - mask) * dtype minimum, as (b, 1, 1, s).
pub(crate) fn attention_bias(mask: &Tensor, dtype: DType) -> Result<Tensor> {
    let min = match dtype {
        DType::F16 => f64::from(half_min_f16()),
        DType::BF16 => -3.389_531_389_251_535e38,
        _ => f64::from(f32::MIN),
    };
    let (b, s) = mask.dims2()?;
    let inverted = (1.0 - mask.to_dtype(DType::F32)?)?;
    (inverted * min)?.to_dtype(dtype)?.reshape((b, 1, 1, s))
}

fn half_min_f16() -> f32 {
    -65504.0
}

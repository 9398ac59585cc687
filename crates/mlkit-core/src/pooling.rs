//! sentence-transformers pooling: hidden states to one vector per text.

use candle_core::{DType, Result as CResult, Tensor, D};
use serde::Deserialize;

use crate::error::{CoreError, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum PoolingMode {
    Mean,
    Cls,
    Max,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pooling {
    pub mode: PoolingMode,
    /// L2-normalise the pooled vector (sentence-transformers' Normalize module).
    pub normalize: bool,
}

#[derive(Deserialize)]
struct PoolingFile {
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
    /// sentence-transformers 5 writes the mode as one name ("mean") instead of the flags.
    #[serde(default)]
    pooling_mode: Option<String>,
}

#[derive(Deserialize)]
struct Module {
    #[serde(rename = "type")]
    kind: String,
}

fn parse<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| CoreError::BadFile {
        path: what.into(),
        message: format!("invalid JSON: {e}"),
    })
}

impl Pooling {
    /// The pooling a sentence-transformers model declares; mean without normalisation (the
    /// plain transformers feature-extraction convention) when it declares none.
    /// `pooling` and `modules` are the texts of `1_Pooling/config.json` and `modules.json`.
    pub fn from_json(pooling: Option<&str>, modules: Option<&str>) -> Result<Pooling> {
        let mode = match pooling {
            None => PoolingMode::Mean,
            Some(p) => {
                let f: PoolingFile = parse(p, "1_Pooling/config.json")?;
                let named = |m: &str| f.pooling_mode.as_deref() == Some(m);
                if f.pooling_mode_cls_token || named("cls") {
                    PoolingMode::Cls
                } else if f.pooling_mode_max_tokens || named("max") {
                    PoolingMode::Max
                } else if f.pooling_mode_mean_tokens || named("mean") {
                    PoolingMode::Mean
                } else {
                    return Err(CoreError::BadFile {
                        path: "1_Pooling/config.json".into(),
                        message: "no supported pooling mode (cls, mean or max) is set".into(),
                    });
                }
            }
        };
        let normalize = match modules {
            None => false,
            Some(m) => parse::<Vec<Module>>(m, "modules.json")?
                .iter()
                .any(|m| m.kind.ends_with("Normalize")),
        };
        Ok(Pooling { mode, normalize })
    }

    /// Pools `hidden` (batch, seq, dim) under `mask` (batch, seq) to (batch, dim), in f32.
    pub fn apply(&self, hidden: &Tensor, mask: &Tensor) -> CResult<Tensor> {
        let hidden = hidden.to_dtype(DType::F32)?;
        let mask = mask.to_dtype(DType::F32)?.unsqueeze(D::Minus1)?;
        let pooled = match self.mode {
            PoolingMode::Cls => hidden.narrow(1, 0, 1)?.squeeze(1)?,
            PoolingMode::Mean => {
                let sum = hidden.broadcast_mul(&mask)?.sum(1)?;
                let count = mask.sum(1)?.clamp(1e-9, f64::MAX)?;
                sum.broadcast_div(&count)?
            }
            PoolingMode::Max => {
                // Padding gets -1e9 so it never wins, as sentence-transformers does.
                let penalty = ((1.0 - &mask)? * -1e9)?;
                hidden.broadcast_add(&penalty)?.max(1)?
            }
        };
        if self.normalize {
            // torch.nn.functional.normalize: x / max(||x||, 1e-12).
            let norm = pooled
                .sqr()?
                .sum_keepdim(1)?
                .sqrt()?
                .clamp(1e-12, f64::MAX)?;
            pooled.broadcast_div(&norm)
        } else {
            Ok(pooled)
        }
    }
}

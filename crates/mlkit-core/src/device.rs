//! `--device auto|cpu|cuda[:N]`.

use candle_core::Device;

use crate::error::{CoreError, Result};

/// The device a spec names. `auto` is the first CUDA device when this build has CUDA and
/// one is present, the CPU otherwise.
pub fn select_device(spec: &str) -> Result<Device> {
    let cuda = |ordinal: usize| {
        Device::new_cuda(ordinal).map_err(|e| CoreError::Device {
            spec: spec.to_string(),
            message: format!("{e} (CUDA needs a build with `--features cuda`)"),
        })
    };
    match spec {
        "cpu" => Ok(Device::Cpu),
        "auto" => Ok(if candle_core::utils::cuda_is_available() {
            cuda(0)?
        } else {
            Device::Cpu
        }),
        "cuda" => cuda(0),
        other => match other.strip_prefix("cuda:").map(str::parse::<usize>) {
            Some(Ok(n)) => cuda(n),
            _ => Err(CoreError::Device {
                spec: spec.to_string(),
                message: "expected auto, cpu, cuda or cuda:N".to_string(),
            }),
        },
    }
}

/// Where and how a model runs, the same for every pipeline (embeddings, NER, NLI).
#[derive(Clone, Debug)]
pub struct RunOptions {
    pub device: candle_core::Device,
    /// Activation dtype: f32, f16 or bf16.
    pub dtype: candle_core::DType,
    pub weights: crate::linear::WeightFormat,
    /// Padded tokens per batch (count x longest input).
    pub max_batch_tokens: usize,
    /// Batches run at once (see `batch::run_batches`); 1 on a GPU.
    pub workers: usize,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            device: candle_core::Device::Cpu,
            dtype: candle_core::DType::F32,
            weights: crate::linear::WeightFormat::Dense,
            max_batch_tokens: 2048,
            workers: 1,
        }
    }
}

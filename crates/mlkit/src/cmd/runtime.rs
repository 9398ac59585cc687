//! Flags every transformer subcommand shares (precision, device, threads, batch budget),
//! defined once and flattened into each command.

use anyhow::Result;
use candle_core::DType;
use clap::{Args, ValueEnum};
use mlkit_core::linear::WeightFormat;
use mlkit_core::{select_device, RunOptions};

use crate::UsageError;

#[derive(Args, Debug, Clone)]
pub struct RuntimeArgs {
    /// Precision: f32, f16, bf16, or q8 (int8 Q8_0 weights, f32 activations).
    #[arg(long, value_enum, default_value_t = DtypeArg::F32)]
    pub dtype: DtypeArg,

    /// auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    pub device: String,

    /// CPU threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,

    /// Padded tokens per batch; inputs are sorted by length and batched under this budget.
    /// On CPU, small batches keep the attention tensors in cache (2048 measured best).
    #[arg(long, default_value_t = 2048)]
    pub max_batch_tokens: usize,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum DtypeArg {
    F32,
    F16,
    Bf16,
    Q8,
}

/// `--threads`, or every core the process may use.
pub fn threads(asked: Option<usize>) -> usize {
    asked.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

impl RuntimeArgs {
    /// Checks the flags, sets the thread pools' size, and picks the device.
    pub fn resolve(&self) -> Result<RunOptions> {
        if self.threads == Some(0) {
            return Err(UsageError("--threads must be at least 1".into()).into());
        }
        if self.max_batch_tokens == 0 {
            return Err(UsageError("--max-batch-tokens must be at least 1".into()).into());
        }
        let device = select_device(&self.device).map_err(|e| UsageError(e.to_string()))?;
        let workers = if device.is_cpu() {
            // Whole batches on parallel workers, each operation on one thread (measured:
            // 1.86x on 2 cores where splitting operations gave 1.08x). Read by Candle's and
            // rayon's pools when they start, which is later than this.
            std::env::set_var("RAYON_NUM_THREADS", "1");
            std::env::set_var("CANDLE_NUM_THREADS", "1");
            threads(self.threads)
        } else {
            1
        };
        let (dtype, weights) = match self.dtype {
            DtypeArg::F32 => (DType::F32, WeightFormat::Dense),
            DtypeArg::F16 => (DType::F16, WeightFormat::Dense),
            DtypeArg::Bf16 => (DType::BF16, WeightFormat::Dense),
            DtypeArg::Q8 => (
                DType::F32,
                WeightFormat::Quantized(candle_core::quantized::GgmlDType::Q8_0),
            ),
        };
        Ok(RunOptions {
            device,
            dtype,
            weights,
            max_batch_tokens: self.max_batch_tokens,
            workers,
        })
    }
}

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
    /// Precision: f32, f16, bf16, q8 (int8 Q8_0 weights, f32 activations), or int8 (Q8_0
    /// weights and int8 activations: faster on CPUs with AVX-512 VNNI, elsewhere as q8;
    /// scores move in the third digit). f16 and bf16 are for GPUs: on the CPU they run
    /// about 2.5x slower than f32.
    #[arg(long, value_enum, default_value_t = DtypeArg::F32)]
    pub dtype: DtypeArg,

    /// auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    pub device: String,

    /// CPU threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,

    /// Padded tokens per batch; inputs are sorted by length and batched under this budget
    /// (default: 2048 on the CPU, where small batches keep the attention tensors in cache,
    /// measured best; 16384 on a GPU, text-embeddings-inference's default).
    #[arg(long)]
    pub max_batch_tokens: Option<usize>,
}

/// `--max-batch-tokens` when not given, by device (see the flag's help).
const CPU_BATCH_TOKENS: usize = 2048;
const GPU_BATCH_TOKENS: usize = 16384;

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum DtypeArg {
    F32,
    F16,
    Bf16,
    Q8,
    Int8,
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
        if self.max_batch_tokens == Some(0) {
            return Err(UsageError("--max-batch-tokens must be at least 1".into()).into());
        }
        let device = select_device(&self.device).map_err(|e| UsageError(e.to_string()))?;
        let max_batch_tokens = self.max_batch_tokens.unwrap_or(if device.is_cpu() {
            CPU_BATCH_TOKENS
        } else {
            GPU_BATCH_TOKENS
        });
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
            DtypeArg::Int8 => (DType::F32, WeightFormat::Int8),
        };
        Ok(RunOptions {
            device,
            dtype,
            weights,
            max_batch_tokens,
            workers,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(max_batch_tokens: Option<usize>) -> RuntimeArgs {
        RuntimeArgs {
            dtype: DtypeArg::Q8,
            device: "cpu".into(),
            threads: Some(3),
            max_batch_tokens,
        }
    }

    #[test]
    fn the_batch_budget_defaults_by_device_and_an_explicit_one_wins() {
        let run = args(None).resolve().unwrap();
        assert_eq!(run.max_batch_tokens, CPU_BATCH_TOKENS);
        assert_eq!(run.workers, 3);
        assert_eq!(
            run.weights,
            WeightFormat::Quantized(candle_core::quantized::GgmlDType::Q8_0)
        );
        assert_eq!(args(Some(500)).resolve().unwrap().max_batch_tokens, 500);
        assert!(args(Some(0)).resolve().is_err());
    }
}

//! `--device auto|cpu|cuda[:N]`.

use candle_core::Device;

use crate::error::{CoreError, Result};

/// The device a spec names. `auto` is the first CUDA device when this build has CUDA and
/// one can be opened, the CPU otherwise; `cuda` and `cuda:N` are errors without one.
pub fn select_device(spec: &str) -> Result<Device> {
    let cuda = |ordinal: usize| {
        if !candle_core::utils::cuda_is_available() {
            return Err(CoreError::Device {
                spec: spec.to_string(),
                message: "this mlkit was built without CUDA; build it with \
                          `cargo build --release --features cuda`, or use the CPU (\"cpu\")"
                    .to_string(),
            });
        }
        Device::new_cuda(ordinal).map_err(|e| CoreError::Device {
            spec: spec.to_string(),
            message: format!("cannot open CUDA device {ordinal}: {e}"),
        })
    };
    match spec {
        "cpu" => Ok(Device::Cpu),
        // `cuda_is_available` only says that this build has CUDA, not that a GPU is
        // present: a CUDA build on a machine without one must still run on the CPU.
        "auto" if candle_core::utils::cuda_is_available() => {
            Ok(Device::new_cuda(0).unwrap_or(Device::Cpu))
        }
        "auto" => Ok(Device::Cpu),
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

/// Weights and activations: f32; f16 or bf16 (for GPUs); q8, int8 Q8_0 weights with f32
/// activations; int8, Q8_0 weights and int8 activations (mlkit's own kernels on CPUs with
/// AVX-512 VNNI, AVX-VNNI or aarch64's dot or matrix products, elsewhere as q8).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Precision {
    #[default]
    F32,
    F16,
    Bf16,
    Q8,
    Int8,
}

impl Precision {
    /// The activations' dtype.
    pub fn dtype(self) -> candle_core::DType {
        match self {
            Precision::F16 => candle_core::DType::F16,
            Precision::Bf16 => candle_core::DType::BF16,
            Precision::F32 | Precision::Q8 | Precision::Int8 => candle_core::DType::F32,
        }
    }

    /// How Linear weights are stored.
    pub fn weights(self) -> crate::linear::WeightFormat {
        use crate::linear::WeightFormat;
        match self {
            Precision::F32 | Precision::F16 | Precision::Bf16 => WeightFormat::Dense,
            Precision::Q8 => WeightFormat::Quantized(candle_core::quantized::GgmlDType::Q8_0),
            Precision::Int8 => WeightFormat::Int8,
        }
    }
}

/// Keeps each of Candle's CPU operations on one thread, for callers that run whole batches
/// on parallel workers instead (`RunOptions::workers`). Candle reads its thread count from
/// the environment at every operation and offers no other way to set it, so this sets
/// `RAYON_NUM_THREADS` and `CANDLE_NUM_THREADS`: call it at the start of `main`, before any
/// thread exists.
pub fn one_thread_per_operation() {
    // Sound only while the process has one thread (see above).
    std::env::set_var("RAYON_NUM_THREADS", "1");
    std::env::set_var("CANDLE_NUM_THREADS", "1");
}

/// Runs each of Candle's CPU operations on `threads` threads, for callers that run one
/// batch at a time (training). As `one_thread_per_operation`: call it before any thread
/// exists.
pub fn threads_per_operation(threads: usize) {
    let n = threads.max(1).to_string();
    std::env::set_var("RAYON_NUM_THREADS", &n);
    std::env::set_var("CANDLE_NUM_THREADS", &n);
    // Candle's element-wise pool spins 25,000 times before sleeping, taking a core from the
    // matrix products' threads that run next: an epoch of MiniLM training on 300 CoNLL
    // sentences took 20.8 s spinning, 18.5 s without (2 cores). A user's setting stands.
    if std::env::var_os("CANDLE_BARRIER_POOL_SPIN_LIMIT").is_none() {
        std::env::set_var("CANDLE_BARRIER_POOL_SPIN_LIMIT", "0");
    }
}

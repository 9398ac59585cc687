//! Criterion: a Q8_0 Linear on the CPU, run by each int8 kernel this CPU has (AVX-512 VNNI,
//! AVX2) against the same weights expanded to f32 through Candle's matmul (what `--dtype q8`
//! runs), on the shapes of all-MiniLM-L6-v2's layers for one batch of 2,048 tokens, one
//! thread. The header names the CPU's kernels; compare ratios within one run only.
//! End to end: `ner_vs_python.py` and `embed_vs_python.py` beside this file.

use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Module, Tensor};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mlkit_core::int8::{Int8Matmul, Kernel};

fn bench(c: &mut Criterion) {
    // Candle's f32 product would otherwise use every core (its pool reads the environment).
    mlkit_core::device::one_thread_per_operation();
    let kernels: Vec<Kernel> = Kernel::supported()
        .into_iter()
        .filter(|k| *k != Kernel::Scalar)
        .collect();
    let names: Vec<&str> = kernels.iter().map(|k| k.name()).collect();
    eprintln!("int8 kernels on this CPU: {}", names.join(", "));
    let dev = Device::Cpu;
    let m = 2048;
    let mut g = c.benchmark_group("q8_linear");
    g.sample_size(10);
    // Attention projections and the output (384 -> 384), the feed-forward in and out.
    for (n, k) in [(384, 384), (1536, 384), (384, 1536)] {
        let w = Tensor::randn(0f32, 0.05, (n, k), &dev).unwrap();
        let q = QTensor::quantize(&w, GgmlDType::Q8_0).unwrap();
        let dense = candle_nn::Linear::new(q.dequantize(&dev).unwrap(), None);
        let packed = Int8Matmul::new(&q).unwrap();
        let x = Tensor::randn(0f32, 1.0, (1, m, k), &dev).unwrap();
        g.throughput(Throughput::Elements((m * n * k) as u64));
        g.bench_function(format!("f32_{k}x{n}"), |b| {
            b.iter(|| dense.forward(&x).unwrap())
        });
        let xs: Vec<f32> = x.flatten_all().unwrap().to_vec1().unwrap();
        for kernel in &kernels {
            g.bench_function(format!("int8_{}_{k}x{n}", kernel.name()), |b| {
                b.iter(|| packed.matmul_with(*kernel, &xs, m))
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

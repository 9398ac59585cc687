//! Criterion: a Q8_0 Linear on the CPU, run by each int8 kernel this CPU has (AVX-512 VNNI,
//! AVX-VNNI, AVX-512BW, AVX2) against the same weights expanded to f32 through Candle's
//! matmul (what `--dtype q8` runs), on the shapes of all-MiniLM-L6-v2's layers for one batch of 2,048 tokens, one
//! thread. The header names the CPU's kernels; compare ratios within one run only. Last, a
//! share of a nominal peak for each: multiply-adds per second against one core's two
//! vector units x the multiply-adds one instruction does x the clock `/proc/cpuinfo` gives.
//! That clock is often the base one (a virtual machine's), which turbo exceeds, so a share
//! can pass 100%: compare the kernels' shares, not each with 100%.
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
    share_of_peak(&kernels, m);
}

/// Multiply-adds one instruction does, per kernel (f32: an FMA on the widest vector).
fn macs_per_instruction(kernel: Option<Kernel>) -> f64 {
    #[cfg(target_arch = "x86_64")]
    let avx512 = std::arch::is_x86_feature_detected!("avx512f");
    #[cfg(not(target_arch = "x86_64"))]
    let avx512 = false;
    match kernel {
        None if avx512 => 16.0,
        None => 8.0,
        Some(Kernel::Avx512Vnni) => 64.0,
        Some(Kernel::AvxVnni) => 32.0,
        // vpmaddwd on 512 bits: 32 products of i16s.
        Some(Kernel::Avx512Bw) => 32.0,
        // vpmaddwd: 16 products of i16s.
        Some(Kernel::Avx2) => 16.0,
        // smmla: 32 byte products into a 2 x 2 tile.
        Some(Kernel::NeonMmla) => 32.0,
        // sdot: 16 byte products into 4 lanes.
        Some(Kernel::NeonDot) => 16.0,
        Some(Kernel::Neon) => 8.0,
        Some(Kernel::Scalar) => 1.0,
    }
}

/// The clock in MHz that /proc/cpuinfo gives for the first core.
fn clock_mhz() -> Option<f64> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("cpu MHz"))?;
    line.split(':').nth(1)?.trim().parse().ok()
}

/// Times the 384 x 1536 layer a few times by each product and prints its share of the
/// core's peak.
fn share_of_peak(kernels: &[Kernel], m: usize) {
    let Some(mhz) = clock_mhz() else {
        eprintln!("share of peak: /proc/cpuinfo gives no clock here");
        return;
    };
    let dev = Device::Cpu;
    let (n, k) = (1536, 384);
    let w = Tensor::randn(0f32, 0.05, (n, k), &dev).unwrap();
    let q = QTensor::quantize(&w, GgmlDType::Q8_0).unwrap();
    let dense = candle_nn::Linear::new(q.dequantize(&dev).unwrap(), None);
    let packed = Int8Matmul::new(&q).unwrap();
    let x = Tensor::randn(0f32, 1.0, (1, m, k), &dev).unwrap();
    let xs: Vec<f32> = x.flatten_all().unwrap().to_vec1().unwrap();
    let time = |run: &dyn Fn()| {
        run();
        let start = std::time::Instant::now();
        for _ in 0..5 {
            run();
        }
        start.elapsed().as_secs_f64() / 5.0
    };
    let macs = (m * n * k) as f64;
    let mut runs: Vec<(Option<Kernel>, f64)> = vec![(
        None,
        time(&|| {
            dense.forward(&x).unwrap();
        }),
    )];
    for &kernel in kernels {
        runs.push((
            Some(kernel),
            time(&|| {
                packed.matmul_with(kernel, &xs, m);
            }),
        ));
    }
    eprintln!("share of one core's nominal peak at {mhz:.0} MHz, {k}x{n} on {m} tokens:");
    for (kernel, secs) in runs {
        // Two vector units a core, as most current x86 and ARM server cores have.
        let peak = 2.0 * macs_per_instruction(kernel) * mhz * 1e6;
        let name = kernel.map_or("f32", |k| k.name());
        eprintln!(
            "  {name:<11} {:>7.1} GMAC/s of {:>6.1} ({:.0}%)",
            macs / secs / 1e9,
            peak / 1e9,
            100.0 * macs / secs / peak
        );
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);

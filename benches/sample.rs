//! Criterion: `sample_file` throughput on a generated 200,000-row CSV with 1,000 groups.
//! The end-to-end comparison with pandas and polars is `sample_vs_pandas.py` beside this file.

use std::io::Write;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mlkit_sample::{sample_file, Format, SampleOptions, SampleSize};

fn table() -> tempfile::NamedTempFile {
    let mut f = tempfile::Builder::new().suffix(".csv").tempfile().unwrap();
    let mut w = std::io::BufWriter::new(f.as_file_mut());
    writeln!(w, "id,Category,x,text").unwrap();
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for i in 0..200_000u64 {
        // xorshift: cheap, fixed data without a dependency.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let group = (state % 1000) * (state % 7) / 7;
        writeln!(
            w,
            "{i},cat_{group:04},{},some words for text {i}",
            state % 100_000
        )
        .unwrap();
    }
    drop(w);
    f
}

fn bench(c: &mut Criterion) {
    let file = table();
    let bytes = std::fs::metadata(file.path()).unwrap().len();
    let mut g = c.benchmark_group("sample");
    g.throughput(Throughput::Bytes(bytes));
    g.sample_size(10);
    for (name, by) in [
        ("plain", vec![]),
        ("by_category", vec!["Category".to_string()]),
    ] {
        let opts = SampleOptions {
            by,
            size: SampleSize::Frac(0.1),
            seed: 42,
            ..SampleOptions::default()
        };
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut out = Vec::with_capacity(1 << 20);
                sample_file(file.path(), Format::Csv, &opts, &mut out).unwrap();
                out
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

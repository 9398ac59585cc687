//! Any bytes as a CSV, TSV or NDJSON table for `mlkit sample`, with options picked by the
//! first two bytes: a malformed table must be an error, never a panic, and a sample must
//! account for every row it read and be the same whether the file was scanned on one
//! thread or two.
//!
//! Grouping is by a column named "a" and weights come from "b": the fuzzer finds those names
//! through its comparison tracing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mlkit_sample::{sample_file_tuned, Compat, Format, SampleOptions, SampleSize};

fuzz_target!(|data: &[u8]| {
    let &[format, flags, ref table @ ..] = data else {
        return;
    };
    let format = match format % 3 {
        0 => Format::Csv,
        1 => Format::Tsv,
        _ => Format::Ndjson,
    };
    let bit = |n: u8| flags & (1 << n) != 0;
    let opts = SampleOptions {
        by: if bit(0) { vec!["a".into()] } else { Vec::new() },
        size: if bit(1) {
            SampleSize::Count(usize::from(flags >> 5))
        } else {
            SampleSize::Frac(1.0)
        },
        seed: u32::from(flags),
        replace: bit(2),
        weights: bit(3).then(|| "b".into()),
        compat: if bit(4) { Compat::Apply } else { Compat::GroupBy },
        keep_order: bit(5),
        keep_missing: bit(6),
        min_per_group: None,
        cap: true,
    };
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    std::io::Write::write_all(&mut file, table).expect("write");
    // parallel_min 0: the two-thread scan, which splits the file at a guessed row start,
    // runs on every input however small; it must agree with the one-thread scan.
    let run = |parallel_min| {
        let mut out = Vec::new();
        let result = sample_file_tuned(file.path(), format, &opts, &mut out, parallel_min);
        if result.is_err() {
            assert!(out.is_empty(), "nothing is written when sampling fails");
        }
        (result.map_err(|e| e.to_string()), out)
    };
    let (two, two_out) = run(0);
    let (one, one_out) = run(u64::MAX);
    assert_eq!(two, one, "two threads report what one thread reports");
    assert!(two_out == one_out, "two threads write what one thread writes");
    let Ok(report) = one else {
        return;
    };
    let sampled: usize = report.groups.iter().map(|g| g.sampled).sum();
    assert_eq!(sampled as u64, report.sampled, "groups add up to the sample");
    let grouped: usize = report.groups.iter().map(|g| g.rows).sum();
    assert_eq!(
        grouped as u64 + report.missing_key_rows,
        report.rows,
        "every row read is in a group or counted as missing its key"
    );
    if opts.size == SampleSize::Frac(1.0) && !opts.replace && opts.weights.is_none() {
        assert_eq!(report.sampled, grouped as u64, "frac 1 takes every row");
    }
});

//! Properties every sample must have, whatever the data: each group gives the number of rows
//! pandas' rule asks for, no row twice without replacement, and a seed fixes the result.

use std::collections::HashMap;
use std::io::Write;

use mlkit_sample::{sample_file, sample_file_tuned, Format, SampleOptions, SampleSize};
use proptest::prelude::*;

/// A CSV with `id,g` rows for the given group labels.
fn table(groups: &[u8]) -> tempfile::NamedTempFile {
    let mut f = tempfile::Builder::new().suffix(".csv").tempfile().unwrap();
    writeln!(f, "id,g").unwrap();
    for (i, g) in groups.iter().enumerate() {
        writeln!(f, "{i},k{g}").unwrap();
    }
    f.flush().unwrap();
    f
}

fn sampled_rows(file: &tempfile::NamedTempFile, opts: &SampleOptions) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    sample_file(file.path(), Format::Csv, opts, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("id,g"));
    lines
        .map(|l| {
            let (id, g) = l.split_once(',').unwrap();
            (id.parse().unwrap(), g.to_string())
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn groups_get_their_share(
        groups in proptest::collection::vec(0u8..6, 1..300),
        frac in 0.0f64..1.0,
        seed in any::<u32>(),
        replace in any::<bool>(),
        keep_order in any::<bool>(),
    ) {
        let file = table(&groups);
        let opts = SampleOptions {
            by: vec!["g".into()],
            size: SampleSize::Frac(frac),
            seed,
            replace,
            keep_order,
            ..SampleOptions::default()
        };
        let rows = sampled_rows(&file, &opts);
        let mut sizes: HashMap<String, usize> = HashMap::new();
        for g in &groups {
            *sizes.entry(format!("k{g}")).or_default() += 1;
        }
        let mut got: HashMap<String, usize> = HashMap::new();
        for (id, g) in &rows {
            prop_assert_eq!(&format!("k{}", groups[*id]), g);
            *got.entry(g.clone()).or_default() += 1;
        }
        for (g, n) in &sizes {
            let want = (frac * *n as f64).round_ties_even() as usize;
            prop_assert_eq!(got.get(g).copied().unwrap_or(0), want, "group {}", g);
        }
        if !replace {
            let mut ids: Vec<usize> = rows.iter().map(|r| r.0).collect();
            ids.sort_unstable();
            ids.dedup();
            prop_assert_eq!(ids.len(), rows.len());
        }
        if keep_order {
            prop_assert!(rows.windows(2).all(|w| w[0].0 <= w[1].0));
        } else {
            // pandas' order: groups one after another in key order.
            let keys: Vec<&String> = rows.iter().map(|r| &r.1).collect();
            prop_assert!(keys.windows(2).all(|w| w[0] <= w[1]));
        }
        prop_assert_eq!(sampled_rows(&file, &opts), rows);
    }

    /// Files scanned on two threads (split at a guessed midpoint) give the bytes one thread
    /// gives, whatever their quoted fields hold: here cells may be quoted and span lines
    /// that read like rows of the table.
    #[test]
    fn two_threads_write_what_one_thread_writes(
        cells in proptest::collection::vec(
            prop_oneof![
                "k[0-3]",
                Just("\"a\nk1,x\nk2,y\"".to_string()),
                Just("\"q \"\"k0\"\",\nz\"".to_string()),
            ],
            2..120,
        ),
        by in any::<bool>(),
        frac in 0.0f64..1.0,
        seed in any::<u32>(),
    ) {
        let mut file = tempfile::Builder::new().suffix(".csv").tempfile().unwrap();
        writeln!(file, "g,v").unwrap();
        for pair in cells.chunks(2) {
            match pair {
                [g, v] => writeln!(file, "{g},{v}").unwrap(),
                [g] => writeln!(file, "{g},k0").unwrap(),
                _ => unreachable!(),
            }
        }
        file.flush().unwrap();
        let opts = SampleOptions {
            by: if by { vec!["g".into()] } else { Vec::new() },
            size: SampleSize::Frac(frac),
            seed,
            ..SampleOptions::default()
        };
        let run = |parallel_min| {
            let mut out = Vec::new();
            let result = sample_file_tuned(file.path(), Format::Csv, &opts, &mut out, parallel_min)
                .map_err(|e| e.to_string());
            (result, out)
        };
        let (one, two) = (run(u64::MAX), run(1));
        prop_assert_eq!(&one.0, &two.0);
        prop_assert_eq!(one.1, two.1);
    }

    #[test]
    fn plain_sample_takes_n_distinct_rows(
        len in 1usize..400,
        n in 0usize..50,
        seed in any::<u32>(),
    ) {
        let groups = vec![0u8; len];
        let file = table(&groups);
        let opts = SampleOptions { size: SampleSize::Count(n.min(len)), seed, ..SampleOptions::default() };
        let rows = sampled_rows(&file, &opts);
        prop_assert_eq!(rows.len(), n.min(len));
        let mut ids: Vec<usize> = rows.iter().map(|r| r.0).collect();
        ids.sort_unstable();
        ids.dedup();
        prop_assert_eq!(ids.len(), n.min(len));
    }
}

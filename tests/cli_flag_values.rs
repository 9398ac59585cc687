//! Arbitrary values for the numeric flags of `mlkit sample` and `mlkit forest train` (issue
//! 21): whatever a user types, mlkit answers with a result (exit 0), a runtime error (1) or a
//! usage error (2) that says what was wrong, never a panic or an abort.

mod common;

use proptest::prelude::*;

/// A value a user might type for a number: mostly small counts (so that several flags at once
/// still often make a valid run), then edge cases, huge and negative numbers, floats where
/// integers are wanted, non-numbers.
fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        12 => (1u64..40).prop_map(|n| n.to_string()),
        4 => prop::sample::select(vec![
            "0", "1", "2", "3", "-1", "0.5", "1.5", "1e9", "1e308", "-1e308", "nan", "inf",
            "-0", "4294967295", "4294967296", "18446744073709551615",
            "18446744073709551616", "99999999999999999999999", "", "abc", "0x10",
        ])
        .prop_map(String::from),
        1 => any::<u64>().prop_map(|n| n.to_string()),
        1 => any::<f64>().prop_map(|x| x.to_string()),
    ]
}

/// Runs mlkit and checks it ended as promised.
fn check(args: &[String]) -> Result<(), TestCaseError> {
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = common::command(&refs).output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    let code = o.status.code();
    prop_assert!(
        matches!(code, Some(0..=2)),
        "mlkit {args:?} ended with {:?}: {stderr}",
        o.status
    );
    prop_assert!(!stderr.contains("panicked"), "mlkit {args:?}: {stderr}");
    if code != Some(0) {
        prop_assert!(stderr.contains("error"), "mlkit {args:?}: no reason given");
    }
    Ok(())
}

fn flag(on: bool, name: &str, value: String) -> Vec<String> {
    if on {
        vec![name.to_string(), value]
    } else {
        Vec::new()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn sample_never_panics_on_numeric_flags(
        size in number(),
        use_frac in any::<bool>(),
        seed in number(),
        min_per_group in (any::<bool>(), number()),
        replace in any::<bool>(),
        by in any::<bool>(),
        weights in any::<bool>(),
    ) {
        let mut args: Vec<String> = vec!["sample".into()];
        args.extend(flag(true, if use_frac { "--frac" } else { "-n" }, size));
        args.extend(flag(true, "--seed", seed));
        args.extend(flag(min_per_group.0, "--min-per-group", min_per_group.1));
        if replace {
            args.push("--replace".into());
        }
        args.extend(flag(by, "--by", "country".into()));
        args.extend(flag(weights, "--weights", "employees".into()));
        args.push("examples/company_sectors.csv".into());
        check(&args)?;
    }

    #[test]
    fn forest_train_never_panics_on_numeric_flags(
        trees in number(),
        max_depth in (any::<bool>(), number()),
        split in (any::<bool>(), number()),
        leaf in (any::<bool>(), number()),
        max_features in (any::<bool>(), number()),
        bins in (any::<bool>(), number()),
        text_features in (any::<bool>(), number()),
        threads in (any::<bool>(), number()),
        seed in number(),
    ) {
        // Many trees are slow, not wrong: keep counts that would be accepted small.
        let trees = match trees.parse::<u64>() {
            Ok(n) if (1..=100_000).contains(&n) => (n % 20 + 1).to_string(),
            _ => trees,
        };
        let out = tempfile::tempdir().unwrap();
        let model = out.path().join("m.forest");
        let mut args: Vec<String> = vec![
            "forest".into(), "train".into(), "--target".into(), "sector".into(),
            "--text".into(), "description".into(), "-o".into(),
            model.display().to_string(),
        ];
        args.extend(flag(true, "--trees", trees));
        args.extend(flag(max_depth.0, "--max-depth", max_depth.1));
        args.extend(flag(split.0, "--min-samples-split", split.1));
        args.extend(flag(leaf.0, "--min-samples-leaf", leaf.1));
        args.extend(flag(max_features.0, "--max-features", max_features.1));
        args.extend(flag(bins.0, "--max-bins", bins.1));
        args.extend(flag(text_features.0, "--text-features", text_features.1));
        args.extend(flag(threads.0, "--threads", threads.1));
        args.extend(flag(true, "--seed", seed));
        args.push("examples/company_sectors.csv".into());
        check(&args)?;
    }
}

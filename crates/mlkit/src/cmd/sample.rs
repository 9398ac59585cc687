//! `mlkit sample`: pandas-identical row sampling.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;
use mlkit_sample::{sample_file, Compat, Format, SampleError, SampleOptions, SampleSize};

use crate::io::{Input, Output};
use crate::messages;
use crate::parts::Joined;
use crate::UsageError;

/// Sample rows: exactly the rows pandas' `sample` returns for the same seed.
///
/// Without --by this is `df.sample(n=N | frac=F, replace, weights, random_state=S)`. With --by
/// it is `df.groupby(by).sample(...)`: groups in sorted key order, rows of a group in the order
/// drawn. Rows whose key is missing (empty, NA, NaN, null, ... as pandas reads them) are
/// left out, as pandas' dropna=True does, unless --keep-missing keeps them as a group of
/// their own, placed last.
///
/// CSV, TSV and NDJSON rows are copied out byte for byte; the input is read twice and never
/// held in memory. Parquet is read whole. Several files (Spark's part-*.csv) are one table,
/// joined in the order given, each header checked to match the first.
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct SampleArgs {
    /// The table to sample, or - for stdin; several CSV, TSV or NDJSON files (e.g.
    /// data/part-*.csv) are one table, as pd.concat(..., ignore_index=True) joins them.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,

    /// Write here instead of stdout (the file appears only when the run succeeds).
    #[arg(short, long, value_name = "OUT")]
    pub output: Option<PathBuf>,

    /// Input format; by default inferred from the file extension (stdin is sniffed).
    #[arg(long, value_enum)]
    pub format: Option<Format>,

    /// Group by these columns (comma-separated) and sample within each group.
    #[arg(long, value_delimiter = ',', value_name = "COL[,COL..]")]
    pub by: Vec<String>,

    /// Fraction of rows to take (of each group with --by), rounded as Python's round().
    #[arg(long, conflicts_with = "n", required_unless_present = "n")]
    pub frac: Option<f64>,

    /// Number of rows to take (from each group with --by).
    #[arg(short = 'n', long = "n", value_name = "N")]
    pub n: Option<usize>,

    /// numpy RandomState seed (pandas' random_state), 0 to 4294967295. Without it a seed is
    /// drawn and printed on stderr.
    #[arg(long)]
    pub seed: Option<u64>,

    /// Sample with replacement (needed for --frac above 1).
    #[arg(long)]
    pub replace: bool,

    /// Column of non-negative sampling weights; missing weights count as 0.
    #[arg(long, value_name = "COL")]
    pub weights: Option<String>,

    /// groupby: df.groupby(by).sample(...), one generator for all groups.
    /// apply: df.groupby(by, group_keys=False).apply(lambda x: x.sample(..., random_state=S)),
    /// a fresh generator per group (the notes' recipe).
    #[arg(long, value_enum, default_value_t = Compat::GroupBy)]
    pub compat: Compat,

    /// Write the sampled rows in input order rather than pandas' order.
    #[arg(long)]
    pub keep_order: bool,

    /// Keep rows with a missing key, as a group placed last (pandas dropna=False).
    #[arg(long)]
    pub keep_missing: bool,

    /// Take at least K rows from every group (all rows of a group smaller than K).
    #[arg(long, value_name = "K")]
    pub min_per_group: Option<usize>,

    /// Take a whole group when it has fewer rows than asked for, instead of failing.
    #[arg(long)]
    pub cap: bool,

    /// Print a table of groups (group, rows, sampled) on stderr.
    #[arg(long)]
    pub stats: bool,
}

/// Guesses the format of stdin from its first bytes.
fn sniff(head: &[u8]) -> Format {
    let first_line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    if head.starts_with(b"PAR1") {
        Format::Parquet
    } else if head.trim_ascii_start().starts_with(b"{") {
        Format::Ndjson
    } else if first_line.contains(&b'\t') && !first_line.contains(&b',') {
        Format::Tsv
    } else {
        Format::Csv
    }
}

/// The format of `path` (stdin is sniffed from `head`).
fn input_format(
    args: &SampleArgs,
    path: &Path,
    head: impl FnOnce() -> Result<Vec<u8>>,
) -> Result<Format> {
    if let Some(f) = args.format {
        return Ok(f);
    }
    if path.as_os_str() == "-" {
        return Ok(sniff(&head()?));
    }
    Format::from_path(path).ok_or_else(|| {
        UsageError(format!(
            "{}: cannot tell the format from the extension; name one with \
             --format csv|tsv|parquet|ndjson",
            path.display()
        ))
        .into()
    })
}

/// The table to sample: one input, or several parts joined into one.
enum Table {
    One(Input),
    Parts(Joined),
}

impl Table {
    /// Opens the inputs, and the format they are in.
    fn open(args: &SampleArgs) -> Result<(Table, Format)> {
        if let [path] = args.inputs.as_slice() {
            let input = Input::open(path)?;
            let format = input_format(args, path, || input.head(4096))?;
            return Ok((Table::One(input), format));
        }
        // Stdin's format is the named files'; each file's comes from its extension.
        let formats: Vec<(&PathBuf, Format)> = args
            .inputs
            .iter()
            .filter(|p| p.as_os_str() != "-")
            .map(|p| Ok((p, input_format(args, p, || Ok(Vec::new()))?)))
            .collect::<Result<_>>()?;
        let format = match formats.first() {
            Some((_, f)) => *f,
            None => args.format.unwrap_or(Format::Csv),
        };
        if let Some((path, other)) = formats.iter().find(|(_, f)| *f != format) {
            return Err(UsageError(format!(
                "{}: a {other:?} file among {format:?} files; the parts of one table share a \
                 format",
                path.display()
            ))
            .into());
        }
        if format == Format::Parquet {
            return Err(UsageError(
                "several Parquet files are not joined yet; join them into one first (e.g. \
                 spark.read.parquet(dir).coalesce(1)) or write the parts as CSV"
                    .into(),
            )
            .into());
        }
        let joined = Joined::new(&args.inputs, format != Format::Ndjson)?;
        Ok((Table::Parts(joined), format))
    }

    /// The file the sampler reads.
    fn path(&self) -> &Path {
        match self {
            Table::One(input) => input.path(),
            Table::Parts(joined) => joined.path(),
        }
    }

    /// `message`, which names the file the sampler read, in the user's terms.
    fn explain(&self, message: &str, args: &SampleArgs) -> String {
        match self {
            Table::One(input) => {
                // Stdin is read from a spooled copy; name it as the user knows it.
                let name = if input.is_stdin() {
                    "<stdin>".to_string()
                } else {
                    args.inputs[0].display().to_string()
                };
                message.replace(&input.path().display().to_string(), &name)
            }
            Table::Parts(joined) => joined.explain(message),
        }
    }
}

fn seed(args: &SampleArgs) -> Result<u32> {
    match args.seed {
        Some(s) => u32::try_from(s).map_err(|_| SampleError::Seed(s).into()),
        None => {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos());
            let s = nanos ^ std::process::id().rotate_left(16);
            messages::note(format_args!(
                "no --seed given; drew seed {s} (pass --seed {s} to repeat)"
            ));
            Ok(s)
        }
    }
}

/// `message` (the library's, for `e`) in the flags' terms: the library names its options,
/// the command line has flags for them.
fn with_flags(e: &SampleError, message: String) -> String {
    match e {
        SampleError::BadFrac(f) => {
            format!("invalid sample size: --frac must be a number of at least 0, not {f}")
        }
        SampleError::FracAboveOne(f) => format!(
            "invalid sample size: --frac {f} is above 1, which needs --replace (sampling with \
             replacement)"
        ),
        SampleError::TooFewRows { .. } => format!(
            "{message}; use --replace to draw with replacement, or --cap to take the whole group"
        ),
        SampleError::TooFewWeighted { .. } => {
            format!("{message}; use --replace or a smaller size")
        }
        _ => message,
    }
}

pub fn run(args: SampleArgs) -> Result<()> {
    let size = match (args.n, args.frac) {
        (Some(n), _) => SampleSize::Count(n),
        (None, Some(f)) => SampleSize::Frac(f),
        (None, None) => SampleSize::Count(1),
    };
    let opts = SampleOptions {
        by: args.by.clone(),
        size,
        seed: seed(&args)?,
        replace: args.replace,
        weights: args.weights.clone(),
        compat: args.compat,
        keep_order: args.keep_order,
        keep_missing: args.keep_missing,
        min_per_group: args.min_per_group,
        cap: args.cap,
    };
    opts.validate()
        .map_err(|e| UsageError(with_flags(&e, e.to_string())))?;
    let (table, format) = Table::open(&args)?;
    if let Some(out) = args.output.as_deref() {
        if let Some(out_format) = Format::from_path(out).filter(|f| *f != format) {
            return Err(UsageError(format!(
                "sample writes the input's format ({format:?}); {} names {out_format:?}",
                out.display()
            ))
            .into());
        }
    }
    let mut output = Output::create(args.output.as_deref())?;
    let report = sample_file(table.path(), format, &opts, output.writer()).map_err(|e| {
        let usage = e.is_usage();
        let message = with_flags(&e, table.explain(&e.to_string(), &args));
        if usage {
            anyhow::Error::new(UsageError(message))
        } else if let SampleError::Write(io) = e {
            anyhow::Error::new(io).context("cannot write the sample")
        } else {
            anyhow::anyhow!(message)
        }
    })?;
    output.finish().context("cannot finish the output")?;
    if args.stats && !messages::quiet() {
        let width = report
            .groups
            .iter()
            .map(|g| g.key.len())
            .max()
            .unwrap_or(5)
            .max(5);
        eprintln!("{:<width$}  {:>10}  {:>10}", "group", "rows", "sampled");
        for g in &report.groups {
            eprintln!("{:<width$}  {:>10}  {:>10}", g.key, g.rows, g.sampled);
        }
        if report.missing_key_rows > 0 {
            eprintln!(
                "{} rows with a missing key were left out (--keep-missing keeps them)",
                report.missing_key_rows
            );
        }
        eprintln!(
            "{:<width$}  {:>10}  {:>10}",
            "total", report.rows, report.sampled
        );
    }
    Ok(())
}

//! `mlkit`: argument parsing and I/O only; the work is done by the library crates.
//!
//! - `cmd/`: one module per subcommand, its own flags and how it wires files to a library;
//! - `flags`: the flags several subcommands share, defined once;
//! - `docs`, `batches`: texts read from lines, JSON Lines or CSV, handed over in batches;
//! - `pipeline`: the loop of every text subcommand, from inputs through a model to a sink;
//! - `sink`: where each document's result goes, in the format chosen once;
//! - `parts`: several files (Spark's `part-*.csv`) read as one table;
//! - `io`: inputs and outputs that appear only when complete (`cleanup` removes what an
//!   interrupted run leaves); `progress`, `messages`: stderr.

mod batches;
mod cleanup;
mod cmd;
mod docs;
mod flags;
mod io;
mod messages;
mod parts;
mod pipeline;
mod progress;
mod sink;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// One fast binary for the NLP and ML recipes otherwise run in Python notebooks.
#[derive(Parser)]
#[command(name = "mlkit", version, about, propagate_version = true)]
struct Cli {
    /// Print nothing on stderr but errors.
    #[arg(long, short, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Sample(cmd::sample::SampleArgs),
    Ner(cmd::ner::NerArgs),
    Zeroshot(cmd::zeroshot::ZeroShotArgs),
    Classify(cmd::classify::ClassifyArgs),
    Forest(cmd::forest::ForestArgs),
    Embed(cmd::embed::EmbedArgs),
    Quantize(cmd::quantize::QuantizeArgs),
    Models(cmd::models::ModelsArgs),
}

impl Command {
    /// The threads of a fine-tuning run (`ner train`, `classify train`), if this is one.
    fn training_threads(&self) -> Option<usize> {
        let flags = match self {
            Command::Ner(a) => match &a.command {
                Some(cmd::ner::NerCommand::Train(t)) => &t.flags,
                _ => return None,
            },
            Command::Classify(a) => match &a.command {
                Some(cmd::classify::ClassifyCommand::Train(t)) => &t.flags,
                _ => return None,
            },
            _ => return None,
        };
        Some(flags.threads.get())
    }

    /// Whether this runs transformer encoders (inference or training), whose activations
    /// and gradients are allocated and freed batch after batch.
    fn runs_encoders(&self) -> bool {
        matches!(
            self,
            Command::Ner(_) | Command::Zeroshot(_) | Command::Classify(_) | Command::Embed(_)
        )
    }
}

/// An error in how mlkit was called (exit code 2), as opposed to a failure while running (1)
/// and a run that wrote everything but the records that failed (3, `--on-error skip|record`).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Whether an error is in how mlkit was called: the one place library errors become exit
/// codes.
fn is_usage(e: &anyhow::Error) -> bool {
    type Cause<'a> = &'a (dyn std::error::Error + 'static);
    /// Whether `cause` is a library error of type `E` that says it is a usage error.
    fn says<E: std::error::Error + 'static>(cause: Cause, usage: fn(&E) -> bool) -> bool {
        cause.downcast_ref::<E>().is_some_and(usage)
    }
    e.chain().any(|cause| {
        cause.is::<UsageError>()
            || says(cause, mlkit_core::CoreError::is_usage)
            || says(cause, mlkit_ner::NerError::is_usage)
            || says(cause, mlkit_zeroshot::ZeroShotError::is_usage)
            || says(cause, mlkit_classify::ClassifyError::is_usage)
            || says(cause, mlkit_forest::ForestError::is_usage)
            || says(cause, mlkit_sample::SampleError::is_usage)
            || says(cause, mlkit_train::TrainError::is_usage)
    })
}

/// Keeps freed memory for reuse instead of returning it to the system. Encoders allocate
/// and free activations of megabytes every layer, and autograd gradients the size of the
/// embedding table (47 MB for MiniLM) every step; glibc hands blocks that large back to the
/// system at once, and each batch paid for page faults again: the kernel's share of `mlkit
/// embed`'s samples was 14% with int8 weights, and keeping the memory took the run from
/// 3.10 s to 2.92 s (CoNLL test sentences, 2 threads); 2 s of 19 in an epoch of training on
/// 300 CoNLL sentences. Peak memory is about the
/// same for them; tables (`sample`, `forest`) keep glibc's defaults, which hand large
/// blocks back as soon as they are freed. Called once, before any thread.
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; the process has one thread here.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 30);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
    }
}

fn main() -> ExitCode {
    // Before any thread starts: transformer subcommands run whole batches on parallel
    // workers, each of Candle's operations on one thread; training runs one batch at a
    // time, each operation on every thread asked for.
    let cli = Cli::parse();
    match cli.command.training_threads() {
        Some(threads) => mlkit_core::device::threads_per_operation(threads),
        None => mlkit_core::device::one_thread_per_operation(),
    }
    if cli.command.runs_encoders() {
        keep_freed_memory();
    }
    cleanup::install();
    messages::set_quiet(cli.quiet);
    let result = match cli.command {
        Command::Sample(args) => cmd::sample::run(args),
        Command::Ner(args) => cmd::ner::run(args),
        Command::Zeroshot(args) => cmd::zeroshot::run(args),
        Command::Classify(args) => cmd::classify::run(args),
        Command::Forest(args) => cmd::forest::run(args),
        Command::Embed(args) => cmd::embed::run(args),
        Command::Quantize(args) => cmd::quantize::run(args),
        Command::Models(args) => cmd::models::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if io::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) if e.is::<pipeline::RecordsFailed>() => {
            eprintln!("mlkit: {e}");
            ExitCode::from(pipeline::RecordsFailed::EXIT_CODE)
        }
        Err(e) => {
            eprintln!("mlkit: error: {e:#}");
            if is_usage(&e) {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

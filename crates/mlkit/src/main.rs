//! `mlkit`: argument parsing and I/O only; the work is done by the library crates.

mod batches;
mod cmd;
mod docs;
mod io;
mod progress;

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
    Forest(cmd::forest::ForestArgs),
    Embed(cmd::embed::EmbedArgs),
    Quantize(cmd::quantize::QuantizeArgs),
    Models(cmd::models::ModelsArgs),
}

/// An error in how mlkit was called (exit code 2), as opposed to a failure while running (1).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Sample(args) => cmd::sample::run(args, cli.quiet),
        Command::Ner(args) => cmd::ner::run(args, cli.quiet),
        Command::Zeroshot(args) => cmd::zeroshot::run(args, cli.quiet),
        Command::Forest(args) => cmd::forest::run(args, cli.quiet),
        Command::Embed(args) => cmd::embed::run(args, cli.quiet),
        Command::Quantize(args) => cmd::quantize::run(args, cli.quiet),
        Command::Models(args) => cmd::models::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if io::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mlkit: error: {e:#}");
            if e.downcast_ref::<UsageError>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

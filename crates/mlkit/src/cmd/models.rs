//! `mlkit models list|info|pull`.

use anyhow::Result;
use clap::{Args, Subcommand};
use mlkit_core::catalog;
use mlkit_core::resolve;

/// The models at hand: bundled, cached from the Hugging Face hub, or one in detail.
#[derive(Args, Debug)]
pub struct ModelsArgs {
    #[command(subcommand)]
    pub action: ModelsAction,
    /// Print JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
pub enum ModelsAction {
    /// Bundled models and models in the Hugging Face cache.
    List,
    /// Architecture, size, precision, labels and source of a model.
    Info { model: String },
    /// Download a Hugging Face model into the cache (honours HF_HOME, HF_ENDPOINT, HF_TOKEN).
    Pull { model: String },
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

fn print_info(model: &str, json: bool) -> Result<()> {
    let info = catalog::info(&resolve(model)?)?;
    if json {
        println!("{}", serde_json::to_string(&info)?);
        return Ok(());
    }
    let opt = |v: Option<u64>| v.map_or("-".to_string(), |v| v.to_string());
    println!("source        {}", info.source);
    println!("architecture  {}", info.model_type);
    println!("layers        {}", opt(info.layers));
    println!("hidden size   {}", opt(info.hidden_size));
    println!("vocabulary    {}", opt(info.vocab_size));
    println!("weights       {} ({})", info.dtype, mb(info.bytes));
    if let Some(p) = &info.pooling {
        println!("pooling       {p}");
    }
    if !info.labels.is_empty() {
        println!("labels        {}", info.labels.join(", "));
    }
    Ok(())
}

pub fn run(args: ModelsArgs) -> Result<()> {
    match args.action {
        ModelsAction::List => {
            let models = catalog::list();
            if args.json {
                println!("{}", serde_json::to_string(&models)?);
            } else {
                println!("{:<48} {:<9} {:>10}", "model", "where", "size");
                for m in models {
                    println!("{:<48} {:<9} {:>10}", m.name, m.kind, mb(m.bytes));
                }
            }
            Ok(())
        }
        ModelsAction::Info { model } => print_info(&model, args.json),
        ModelsAction::Pull { model } => {
            let files = resolve(&model)?;
            if !files.origin.starts_with("hf:") {
                // Bundled models and directories are already here.
                crate::messages::note(format_args!(
                    "nothing to pull: {model} is not from the Hugging Face hub ({})",
                    files.weights.display()
                ));
                return Ok(());
            }
            print_info(&model, args.json)
        }
    }
}

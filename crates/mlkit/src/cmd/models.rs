//! `mlkit models list|info|pull`.

use std::io::Write;

use anyhow::Result;
use clap::{Args, Subcommand, ValueEnum};
use mlkit_core::catalog;
use mlkit_core::device::Precision;
use mlkit_core::int8::Kernel;
use mlkit_core::resolve;

use crate::io::Output;

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

fn print_info(out: &mut dyn Write, model: &str, json: bool) -> Result<()> {
    let info = catalog::info(&resolve(model)?)?;
    let default = crate::flags::default_precision(model);
    let precision = default
        .to_possible_value()
        .map_or_else(|| format!("{default:?}"), |v| v.get_name().to_string());
    // Which of the int8 kernels this CPU runs, where the default is int8: users of an
    // older CPU should see that it runs as q8 there.
    let kernel = Kernel::chosen();
    let runs_as = match (default, kernel) {
        (Precision::Int8, Kernel::Scalar) => "int8 (as q8: this CPU has no int8 kernel)".into(),
        (Precision::Int8, kernel) => format!("int8 (the {} kernel on this CPU)", kernel.name()),
        _ => precision.clone(),
    };
    if json {
        let mut info = serde_json::to_value(&info)?;
        if let Some(fields) = info.as_object_mut() {
            fields.insert("default_dtype".into(), precision.into());
            fields.insert("int8_kernel".into(), kernel.name().into());
        }
        writeln!(out, "{info}")?;
        return Ok(());
    }
    let opt = |v: Option<u64>| v.map_or("-".to_string(), |v| v.to_string());
    writeln!(out, "source        {}", info.source)?;
    writeln!(out, "architecture  {}", info.model_type)?;
    writeln!(out, "layers        {}", opt(info.layers))?;
    writeln!(out, "hidden size   {}", opt(info.hidden_size))?;
    writeln!(out, "vocabulary    {}", opt(info.vocab_size))?;
    writeln!(
        out,
        "weights       {} ({}, {})",
        info.dtype,
        info.format,
        mb(info.bytes)
    )?;
    writeln!(out, "tokenizer     {}", info.tokenizer)?;
    writeln!(out, "runs as       {runs_as} unless --dtype says otherwise")?;
    if let Some(p) = &info.pooling {
        writeln!(out, "pooling       {p}")?;
    }
    if !info.labels.is_empty() {
        writeln!(out, "labels        {}", info.labels.join(", "))?;
    }
    Ok(())
}

pub fn run(args: ModelsArgs) -> Result<()> {
    // Through the same output as every subcommand: a closed pipe (`| head`) ends quietly,
    // a full disk is an error, neither a panic.
    let mut output = Output::create(None)?;
    list_or_describe(args, output.writer())?;
    output.finish()
}

fn list_or_describe(args: ModelsArgs, out: &mut dyn Write) -> Result<()> {
    match args.action {
        ModelsAction::List => {
            let models = catalog::list();
            if args.json {
                writeln!(out, "{}", serde_json::to_string(&models)?)?;
            } else {
                writeln!(out, "{:<48} {:<9} {:>10}", "model", "where", "size")?;
                for m in models {
                    writeln!(out, "{:<48} {:<9} {:>10}", m.name, m.kind, mb(m.bytes))?;
                }
            }
            Ok(())
        }
        ModelsAction::Info { model } => print_info(out, &model, args.json),
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
            print_info(out, &model, args.json)
        }
    }
}

//! What `zeroshot eval` and `classify eval` share: texts with gold labels from two CSV
//! columns, and the report of how predictions compare with them.

use std::io::Write;
use std::path::Path;

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use mlkit_metrics::Evaluation;
use serde_json::json;

use crate::docs::{DocReader, Record};
use crate::flags::{DocArgs, RecordArgs, ReportFormat};
use crate::UsageError;

/// The flags every `eval` of texts against gold labels takes.
#[derive(Args, Debug)]
pub struct GoldArgs {
    /// CSV file with a text column and a gold label column, or - for stdin.
    pub input: PathBuf,

    /// The column of gold labels.
    #[arg(long)]
    pub gold_column: String,

    /// The column of texts.
    #[arg(long, default_value = "text")]
    pub column: String,

    /// table or json.
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    pub format: ReportFormat,
}

impl GoldArgs {
    /// The texts and gold labels these flags name.
    pub fn read(&self) -> Result<GoldTexts> {
        read_gold(&self.input, &self.column, &self.gold_column, false)
    }

    /// Writes the report of `e` over `texts` texts in the chosen format.
    pub fn report(&self, texts: usize, e: &Evaluation) -> Result<()> {
        write_report(self.format, texts, e)
    }
}

/// Texts and their gold labels, in input order.
pub struct GoldTexts {
    pub texts: Vec<String>,
    pub gold: Vec<String>,
}

/// Reads the `column` of texts and the `gold_column` of labels from the CSV at `input`. An
/// empty gold label is an error naming its line unless `allow_empty` (a multi-label text
/// with no label): scoring it would count a label "" that no model predicts (and, where
/// labels come from the gold column, offer "" as a label).
pub fn read_gold(
    input: &Path,
    column: &str,
    gold_column: &str,
    allow_empty: bool,
) -> Result<GoldTexts> {
    let args = DocArgs::lines(RecordArgs {
        column: Some(column.to_string()),
        ..RecordArgs::default()
    });
    let name = input.display();
    let mut reader = DocReader::open(input, &args, false)?;
    let headers = reader.header().unwrap_or_default();
    let gold_at = headers
        .iter()
        .position(|h| h == gold_column)
        .ok_or_else(|| {
            let header: Vec<&str> = headers.iter().collect();
            UsageError(format!(
                "{name}: {}",
                mlkit_csv::missing_column_message(gold_column, &header)
            ))
        })?;
    let (mut texts, mut gold) = (Vec::new(), Vec::new());
    for doc in reader {
        let doc = doc?;
        if let Record::Csv(row) = &doc.record {
            let label = row.get(gold_at).unwrap_or("").trim();
            if label.is_empty() && !allow_empty {
                let line = row.position().map_or(0, |p| p.line());
                anyhow::bail!(
                    "{name}: line {line}: the gold label (column {gold_column:?}) is empty; \
                     fill it in or drop the row"
                );
            }
            gold.push(label.to_string());
        }
        texts.push(doc.text);
    }
    if texts.is_empty() {
        anyhow::bail!("{name}: no rows to evaluate, only a header");
    }
    Ok(GoldTexts { texts, gold })
}

/// Writes accuracy, macro-F1 and the confusion matrix of `texts` predictions to stdout.
fn write_report(format: ReportFormat, texts: usize, e: &Evaluation) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match format {
        ReportFormat::Json => writeln!(
            out,
            "{}",
            json!({
                "texts": texts,
                "accuracy": e.accuracy,
                "macro_f1": e.macro_f1,
                "labels": e.labels,
                "confusion_matrix": e.matrix,
            })
        )?,
        ReportFormat::Table => {
            writeln!(
                out,
                "accuracy  {:.4}\nmacro-F1  {:.4}\n",
                e.accuracy, e.macro_f1
            )?;
            out.write_all(e.confusion_table("gold \\ predicted", 4).as_bytes())?;
        }
    }
    out.flush()?;
    Ok(())
}

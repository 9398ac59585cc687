//! CSV rows in and out: errors that name the file and line and say how to mend the row, and
//! rows written one at a time.

use std::path::Path;

use anyhow::Result;

use super::utf8::{read_error, Lossy};

/// A CSV reading error that names the file and line and says how to mend the row (`record`
/// counts data rows from 1).
pub(super) fn csv_error(path: &Path, record: usize, e: csv::Error) -> anyhow::Error {
    match (mlkit_csv::error_message(&e, record as u64), e.kind()) {
        (Some(message), _) => anyhow::anyhow!("{}: {message}", path.display()),
        (None, csv::ErrorKind::Io(io)) => read_error(path, io, Lossy::Refuse),
        (None, _) => anyhow::anyhow!("{}: {e}", path.display()),
    }
}

/// One CSV row as bytes (a header first when given), for writing row by row.
pub fn csv_row(header: Option<&csv::StringRecord>, row: &csv::StringRecord) -> Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    if let Some(h) = header {
        w.write_record(h)?;
    }
    w.write_record(row)?;
    w.into_inner().map_err(|e| anyhow::anyhow!("{}", e.error()))
}

//! Everything mlkit says on stderr besides errors goes through here, so that `--quiet`
//! silences all of it: notes, progress, and the Hugging Face hub's download bars.

use std::sync::atomic::{AtomicBool, Ordering};

static QUIET: AtomicBool = AtomicBool::new(false);

/// Called once by `main` with `--quiet`.
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
    mlkit_core::resolve::show_download_progress(!quiet);
}

pub fn quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

/// A line for the person running mlkit ("mlkit: wrote ..."), unless `--quiet`.
pub fn note(message: impl std::fmt::Display) {
    if !quiet() {
        eprintln!("mlkit: {message}");
    }
}

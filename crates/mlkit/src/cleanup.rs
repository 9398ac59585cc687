//! Temporary files that must not outlive an interrupted run: an output file being written
//! beside its target, or stdin's spooled copy. A signal that ends mlkit (INT, TERM, HUP)
//! would skip their destructors; a thread waiting for those signals removes them first, then
//! exits as the signal would have (128 + its number).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

static PENDING: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn pending() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    // A panic while holding the lock leaves a list that is still right.
    PENDING.lock().unwrap_or_else(|p| p.into_inner())
}

/// Starts the thread that cleans up on a signal; called once by `main`. Without it (the
/// signals cannot be caught) runs simply go on as before.
pub fn install() {
    let Ok(mut signals) = Signals::new([SIGINT, SIGTERM, SIGHUP]) else {
        return;
    };
    std::thread::spawn(move || {
        if let Some(signal) = signals.forever().next() {
            for path in pending().iter() {
                let _ = std::fs::remove_file(path);
            }
            std::process::exit(128 + signal);
        }
    });
}

/// `path` is removed if a signal ends the run.
pub fn remove_on_signal(path: &Path) {
    pending().push(path.to_path_buf());
}

/// `path` is no longer temporary (it was renamed into place, or removed).
pub fn keep(path: &Path) {
    pending().retain(|p| p != path);
}

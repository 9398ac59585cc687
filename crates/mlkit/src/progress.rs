//! How far a long run has got, redrawn in place on stderr: only when stderr is a terminal
//! and `--quiet` is off, so that logs and pipelines never see it.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// Redrawn at most this often: a line per batch would flicker on fast inputs.
const EVERY: Duration = Duration::from_millis(200);

pub struct Progress {
    on: bool,
    /// What is counted, e.g. "texts".
    what: &'static str,
    total: Option<usize>,
    done: usize,
    started: Instant,
    drawn: Option<Instant>,
    /// Said after the count ("epoch 2/20, loss 0.1234").
    note: String,
}

impl Progress {
    pub fn new(what: &'static str, total: Option<usize>) -> Progress {
        Progress {
            on: !crate::messages::quiet() && std::io::stderr().is_terminal(),
            what,
            total,
            done: 0,
            started: Instant::now(),
            drawn: None,
            note: String::new(),
        }
    }

    /// What the line says after the count, from the next redraw on.
    pub fn set_note(&mut self, note: String) {
        self.note = note;
    }

    /// Counts `n` more done.
    pub fn add(&mut self, n: usize) {
        self.done += n;
        if self.on && self.drawn.is_none_or(|t| t.elapsed() >= EVERY) {
            self.draw();
        }
    }

    fn draw(&mut self) {
        let line = status(
            self.done,
            self.total,
            self.what,
            self.started.elapsed().as_secs_f64(),
        );
        let line = if self.note.is_empty() {
            line
        } else {
            format!("{line}, {}", self.note)
        };
        // Progress is a courtesy: a stderr that cannot be written is not an error; the
        // trailing spaces clear what a longer previous line left.
        let _ = write!(std::io::stderr(), "\r{line}   ");
        self.drawn = Some(Instant::now());
    }

    /// Draws the final count and ends the line (as dropping it does, on an error too, so
    /// that the error starts a line of its own).
    pub fn finish(self) {}
}

impl Drop for Progress {
    fn drop(&mut self) {
        if self.on && self.drawn.is_some() {
            self.draw();
            let _ = writeln!(std::io::stderr());
        }
    }
}

/// "1,200 / 3,453 texts, 310/s".
fn status(done: usize, total: Option<usize>, what: &str, seconds: f64) -> String {
    let rate = if seconds > 0.0 {
        format!(
            ", {}/s",
            thousands((done as f64 / seconds).round() as usize)
        )
    } else {
        String::new()
    };
    match total {
        Some(t) => format!("{} / {} {what}{rate}", thousands(done), thousands(t)),
        None => format!("{} {what}{rate}", thousands(done)),
    }
}

fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_read_well() {
        assert_eq!(status(0, None, "texts", 0.0), "0 texts");
        assert_eq!(
            status(1200, Some(3453), "sentences", 4.0),
            "1,200 / 3,453 sentences, 300/s"
        );
        assert_eq!(
            status(1_234_567, None, "texts", 1.0),
            "1,234,567 texts, 1,234,567/s"
        );
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
    }
}

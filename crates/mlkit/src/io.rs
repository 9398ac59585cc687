//! The input and output conventions every subcommand shares.
//!
//! Input: a path, or `-` for stdin (spooled to a temporary file when a command needs to
//! read it twice). Output: stdout, or a file written under a temporary name and renamed
//! into place only when the command succeeded, so a failed run never leaves half a file.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use tempfile::NamedTempFile;

/// An input the command reads as a file, whether it came from a path or stdin.
pub struct Input {
    path: PathBuf,
    /// Keeps stdin's spooled copy alive until the command is done.
    _spool: Option<NamedTempFile>,
    from_stdin: bool,
}

impl Input {
    /// Opens `arg`: a path, or `-` for stdin copied to a temporary file.
    pub fn open(arg: &Path) -> Result<Input> {
        if arg.as_os_str() == "-" {
            let mut spool =
                NamedTempFile::new().context("cannot create a temporary file for stdin")?;
            crate::cleanup::remove_on_signal(spool.path());
            io::copy(&mut io::stdin().lock(), spool.as_file_mut()).context("cannot read stdin")?;
            spool.as_file_mut().flush()?;
            return Ok(Input {
                path: spool.path().to_path_buf(),
                _spool: Some(spool),
                from_stdin: true,
            });
        }
        File::open(arg).with_context(|| format!("cannot open {}", arg.display()))?;
        Ok(Input {
            path: arg.to_path_buf(),
            _spool: None,
            from_stdin: false,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn is_stdin(&self) -> bool {
        self.from_stdin
    }

    /// The first bytes of the input, for format sniffing.
    pub fn head(&self, n: usize) -> Result<Vec<u8>> {
        let mut buf = Vec::with_capacity(n);
        File::open(&self.path)?
            .take(n as u64)
            .read_to_end(&mut buf)?;
        Ok(buf)
    }
}

/// Where results go: stdout, a regular file that appears only once complete, or anything
/// else (a FIFO, a device, `/dev/stdout` on a pipe) written in place.
pub enum Output {
    Stdout(BufWriter<io::Stdout>),
    File {
        target: PathBuf,
        temp: BufWriter<NamedTempFile>,
    },
    InPlace {
        target: PathBuf,
        file: BufWriter<File>,
    },
}

impl Output {
    /// `None` or `-` is stdout.
    pub fn create(target: Option<&Path>) -> Result<Output> {
        match target {
            None => Ok(Output::Stdout(BufWriter::with_capacity(
                1 << 16,
                io::stdout(),
            ))),
            Some(p) if p.as_os_str() == "-" => Ok(Output::Stdout(BufWriter::with_capacity(
                1 << 16,
                io::stdout(),
            ))),
            // A FIFO or a device is written as it is: renaming a file over it would replace
            // it (as root, `-o /dev/null` would replace the system's /dev/null).
            Some(p) if std::fs::metadata(p).is_ok_and(|m| !m.is_file() && !m.is_dir()) => {
                let file = File::options()
                    .write(true)
                    .open(p)
                    .with_context(|| format!("cannot write {}", p.display()))?;
                Ok(Output::InPlace {
                    target: p.to_path_buf(),
                    file: BufWriter::with_capacity(1 << 16, file),
                })
            }
            Some(p) => {
                // Through symbolic links: the file they lead to is replaced, the links stay.
                let target = final_target(p)?;
                Ok(Output::File {
                    temp: BufWriter::with_capacity(1 << 16, temp_beside(&target)?),
                    target,
                })
            }
        }
    }

    pub fn writer(&mut self) -> &mut dyn Write {
        match self {
            Output::Stdout(w) => w,
            Output::File { temp, .. } => temp,
            Output::InPlace { file, .. } => file,
        }
    }

    /// Whether results go to a file (which can be rewound), not stdout.
    pub fn is_file(&self) -> bool {
        matches!(self, Output::File { .. })
    }

    /// `finish`, first writing `start` over the beginning of a file output.
    pub fn finish_with_start(mut self, start: Option<Vec<u8>>) -> Result<()> {
        use std::io::{Seek, SeekFrom};
        if let (Some(bytes), Output::File { target, temp }) = (start, &mut self) {
            let write = |temp: &mut BufWriter<NamedTempFile>| -> io::Result<()> {
                temp.flush()?;
                let file = temp.get_mut().as_file_mut();
                file.seek(SeekFrom::Start(0))?;
                file.write_all(&bytes)?;
                file.seek(SeekFrom::End(0))?;
                Ok(())
            };
            write(temp).with_context(|| format!("cannot write {}", target.display()))?;
        }
        self.finish()
    }

    /// Flushes and, for a file, moves it into place.
    pub fn finish(self) -> Result<()> {
        match self {
            Output::Stdout(mut w) => Ok(w.flush().context("cannot write to stdout")?),
            Output::InPlace { target, mut file } => Ok(file
                .flush()
                .with_context(|| format!("cannot write {}", target.display()))?),
            Output::File { target, temp } => {
                let temp = temp
                    .into_inner()
                    .map_err(|e| e.into_error())
                    .with_context(|| format!("cannot write {}", target.display()))?;
                persist(temp, &target)
            }
        }
    }
}

/// True when the error chain holds a closed pipe (`mlkit ... | head`), which is not a failure.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// Where writing to `path` ends up: the file at the end of its chain of symbolic links
/// (which need not exist yet), or `path` itself.
pub fn final_target(path: &Path) -> Result<PathBuf> {
    let mut at = path.to_path_buf();
    // As the kernel, which gives up after 40 links (ELOOP).
    for _ in 0..40 {
        match std::fs::symlink_metadata(&at) {
            Ok(m) if m.file_type().is_symlink() => {
                let link = std::fs::read_link(&at)
                    .with_context(|| format!("cannot read the link {}", at.display()))?;
                at = match at.parent() {
                    Some(dir) if link.is_relative() => dir.join(link),
                    _ => link,
                };
            }
            _ => return Ok(at),
        }
    }
    anyhow::bail!("{}: too many levels of symbolic links", path.display())
}

/// A temporary file in `target`'s directory, so that `persist` is a rename.
pub fn temp_beside(target: &Path) -> Result<NamedTempFile> {
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let temp = NamedTempFile::new_in(dir).with_context(|| {
        format!(
            "cannot create a file in {} for {}",
            dir.display(),
            target.display()
        )
    })?;
    crate::cleanup::remove_on_signal(temp.path());
    Ok(temp)
}

/// Moves a finished temporary file to `target`, readable as an ordinary new file would be
/// (temporary files are created private).
pub fn persist(temp: NamedTempFile, target: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(temp.path(), std::fs::Permissions::from_mode(0o644))
        .with_context(|| format!("cannot write {}", target.display()))?;
    let path = temp.path().to_path_buf();
    temp.persist(target)
        .with_context(|| format!("cannot write {}", target.display()))?;
    crate::cleanup::keep(&path);
    Ok(())
}

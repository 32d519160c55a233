//! Files written for people are whole or absent (issue #15 §6): every form, export, manifest, summary,
//! rejects file and audit pack goes through [`AtomicFile`], which writes to a temporary name in the
//! target's own folder, fsyncs it, renames it over the target and fsyncs the folder. A crash, a full
//! disk or an error at any point leaves either the previous file or the complete new one, never a
//! truncated form that looks complete; an unfinished temporary file is removed when the writer is
//! dropped (and is named `.<name>.partial-…`, so a leftover from a killed process is recognisable).
//!
//! Fault injection: `LEDGER_FAULT_NO_SPACE_AFTER_BYTES=N` makes every write through this module fail
//! with ENOSPC once N bytes in total were written by the process (read once, at the first write).
//! It stands in for a full file system in the tests (`commands/tests/whole_files.rs`); nothing else
//! reads it.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// The environment variable of the ENOSPC fault injection (tests only).
pub const FAULT_NO_SPACE_ENV: &str = "LEDGER_FAULT_NO_SPACE_AFTER_BYTES";

/// ENOSPC on Linux (and every Unix this builds for).
const ENOSPC: i32 = 28;

static WRITTEN: AtomicU64 = AtomicU64::new(0);
static TEMP_SEQ: AtomicU64 = AtomicU64::new(0);

fn fault_budget() -> Option<u64> {
    static BUDGET: OnceLock<Option<u64>> = OnceLock::new();
    *BUDGET.get_or_init(|| {
        std::env::var(FAULT_NO_SPACE_ENV)
            .ok()
            .and_then(|text| text.parse().ok())
    })
}

/// Counts `len` bytes against the injected budget; fails like a full disk once it is spent.
fn charge(len: usize) -> io::Result<()> {
    let Some(budget) = fault_budget() else {
        return Ok(());
    };
    let len = u64::try_from(len).expect("a buffer length fits in u64");
    let before = WRITTEN.fetch_add(len, Ordering::SeqCst);
    if before.saturating_add(len) > budget {
        return Err(io::Error::from_raw_os_error(ENOSPC));
    }
    Ok(())
}

/// A file being written under a temporary name; [`AtomicFile::commit`] makes it appear whole under
/// its real name. Dropped without a commit, it removes its temporary file and leaves the target as it
/// was.
pub struct AtomicFile {
    target: PathBuf,
    temp: PathBuf,
    out: Option<BufWriter<File>>,
}

impl AtomicFile {
    /// Starts writing `target` (its folder must exist).
    pub fn create(target: impl AsRef<Path>) -> io::Result<AtomicFile> {
        let target = target.as_ref().to_path_buf();
        let name = target
            .file_name()
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{} names no file", target.display()),
                )
            })?
            .to_string_lossy()
            .into_owned();
        let seq = TEMP_SEQ.fetch_add(1, Ordering::Relaxed);
        let temp = target.with_file_name(format!(".{name}.partial-{}-{seq}", std::process::id()));
        let file = File::create(&temp)?;
        Ok(AtomicFile {
            target,
            temp,
            out: Some(BufWriter::with_capacity(256 * 1024, file)),
        })
    }

    /// The path the file will have once committed.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Flushes, fsyncs, renames over the target and fsyncs the folder: from here on the target is
    /// the complete new file, even after a power loss.
    pub fn commit(mut self) -> io::Result<PathBuf> {
        let out = self.out.take().expect("a file is committed once");
        let file = out.into_inner().map_err(io::IntoInnerError::into_error)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&self.temp, &self.target)?;
        sync_dir(&self.target)?;
        Ok(self.target.clone())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        charge(bytes.len())?;
        self.out.as_mut().expect("not yet committed").write(bytes)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.as_mut().expect("not yet committed").flush()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.out.take().is_some() {
            // Not committed: the target keeps its previous content (or stays absent).
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

/// Fsyncs the folder holding `path`, so that a rename into it survives a power loss.
fn sync_dir(path: &Path) -> io::Result<()> {
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}

/// Writes `bytes` as the whole content of `path`, atomically (see the module doc).
pub fn write_file(path: impl AsRef<Path>, bytes: impl AsRef<[u8]>) -> io::Result<PathBuf> {
    let mut file = AtomicFile::create(path)?;
    file.write_all(bytes.as_ref())?;
    file.commit()
}

/// Whether `name` is a temporary file of [`AtomicFile`] (a leftover of a killed process).
pub fn is_partial(name: &str) -> bool {
    name.starts_with('.') && name.contains(".partial-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_committed_file_replaces_the_old_one_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("form.csv");
        write_file(&path, "old\n").unwrap();
        let mut file = AtomicFile::create(&path).unwrap();
        file.write_all(b"new content\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old\n");
        file.commit().unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new content\n");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, vec!["form.csv".to_owned()]);
    }

    #[test]
    fn an_abandoned_file_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("export.jsonl");
        let mut file = AtomicFile::create(&path).unwrap();
        file.write_all(b"half a line").unwrap();
        let temp_names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(
            temp_names.iter().all(|name| is_partial(name)),
            "{temp_names:?}"
        );
        drop(file);
        assert!(!path.exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}

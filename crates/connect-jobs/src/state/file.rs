//! [`FileStateStore`]: every job's state in one JSON file, replaced
//! atomically.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;

use super::{JobState, Lease, StateDocument, StateError, StateStore};
use crate::clock::Clock;

/// The default `state.path`.
pub const DEFAULT_STATE_PATH: &str = "./connect-state.json";

/// Every job's state and lease in one JSON file (`state: { type: file,
/// path: ./connect-state.json }`, the embedded default).
///
/// - **Durable:** each change writes a temporary file in the same
///   directory, flushes it to disk, renames it over the file and flushes
///   the directory. A process killed at any point (SIGKILL included)
///   leaves either the old or the new file, never a torn one.
/// - **Leases:** every change is a read-modify-write made under an
///   exclusive OS lock on `<path>.lock`, so acquiring a lease is a true
///   compare-and-set between every process that shares the file: replicas
///   on one host, or on hosts sharing a file system whose locks work
///   across hosts (local disks and most network file systems with lock
///   support; not every NFS setup). The lock is held only for the
///   read-modify-write, never during a run: the lease record with its
///   expiry is what excludes a second run, so a crashed holder's lease
///   expires after its ttl.
/// - Reads ([`load`](StateStore::load)) take no lock: the rename makes
///   every read see a whole file.
///
/// File operations are short and synchronous (one small file).
#[derive(Debug)]
pub struct FileStateStore {
    path: PathBuf,
    lock_path: PathBuf,
    clock: Clock,
    swept: AtomicBool,
}

/// Makes temporary file names unique within the process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl FileStateStore {
    /// A store in `path` (created on the first write; its directory must
    /// exist).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        let mut lock_path = path.clone().into_os_string();
        lock_path.push(".lock");
        Self {
            path,
            lock_path: PathBuf::from(lock_path),
            clock: Clock::system(),
            swept: AtomicBool::new(false),
        }
    }

    /// Reads lease expiry from `clock`.
    #[must_use]
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self, action: &'static str) -> impl FnOnce(std::io::Error) -> StateError + '_ {
        move |source| StateError::Io {
            path: self.path.display().to_string(),
            action,
            source,
        }
    }

    /// The document on disk (empty when the file does not exist yet).
    fn read(&self) -> Result<StateDocument, StateError> {
        match fs::read(&self.path) {
            Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => Ok(StateDocument::new()),
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|error| StateError::Corrupt {
                path: self.path.display().to_string(),
                message: error.to_string(),
            }),
            Err(error) if error.kind() == ErrorKind::NotFound => Ok(StateDocument::new()),
            Err(error) => Err(self.io("read it")(error)),
        }
    }

    fn directory(&self) -> PathBuf {
        match self.path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        }
    }

    fn temp_prefix(&self) -> String {
        let name = self.path.file_name().map_or_else(
            || "connect-state".into(),
            |n| n.to_string_lossy().into_owned(),
        );
        format!(".{name}.")
    }

    /// Removes temporary files a writer killed mid-write left behind. Only
    /// called under the lock, where no other writer can be writing one.
    fn sweep(&self) {
        if self.swept.swap(true, Ordering::Relaxed) {
            return;
        }
        let prefix = self.temp_prefix();
        let Ok(entries) = fs::read_dir(self.directory()) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(&prefix) && name.ends_with(".tmp") {
                let _ = fs::remove_file(entry.path());
            }
        }
    }

    /// Replaces the file with `document`: temporary file, fsync, rename,
    /// fsync of the directory.
    fn write(&self, document: &StateDocument) -> Result<(), StateError> {
        let bytes = serde_json::to_vec_pretty(document).map_err(|error| StateError::Corrupt {
            path: self.path.display().to_string(),
            message: format!("cannot encode the state: {error}"),
        })?;
        let directory = match self.path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = self.path.file_name().map_or_else(
            || "connect-state".into(),
            |n| n.to_string_lossy().into_owned(),
        );
        let temp = directory.join(format!(
            ".{name}.{}.{}.tmp",
            std::process::id(),
            TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let result = (|| {
            let mut file = File::create(&temp)?;
            file.write_all(&bytes)?;
            file.write_all(b"\n")?;
            file.sync_all()?;
            drop(file);
            fs::rename(&temp, &self.path)?;
            sync_directory(&directory)
        })();
        if result.is_err() {
            let _ = fs::remove_file(&temp);
        }
        result.map_err(self.io("write it"))
    }

    /// Runs `change` on the document under the exclusive lock and writes
    /// the document back when `change` says it changed it.
    fn update<R>(
        &self,
        change: impl FnOnce(&mut StateDocument) -> Result<(R, bool), StateError>,
    ) -> Result<R, StateError> {
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&self.lock_path)
            .map_err(self.io("open its lock file"))?;
        lock.lock().map_err(self.io("lock it"))?;
        self.sweep();
        let mut document = self.read()?;
        let (result, changed) = change(&mut document)?;
        if changed {
            self.write(&document)?;
        }
        drop(lock); // unlocks
        Ok(result)
    }
}

#[cfg(unix)]
fn sync_directory(directory: &Path) -> std::io::Result<()> {
    File::open(directory)?.sync_all()
}

#[cfg(not(unix))]
fn sync_directory(_directory: &Path) -> std::io::Result<()> {
    Ok(())
}

#[async_trait]
impl StateStore for FileStateStore {
    async fn load(&self, job: &str) -> Result<Option<JobState>, StateError> {
        Ok(self.read()?.jobs.remove(job))
    }

    async fn save(&self, job: &str, state: &JobState) -> Result<(), StateError> {
        self.update(|document| {
            document.jobs.insert(job.to_owned(), state.clone());
            Ok(((), true))
        })
    }

    async fn save_checkpoint(
        &self,
        lease: &Lease,
        checkpoint: &serde_json::Value,
    ) -> Result<(), StateError> {
        let now = self.clock.now();
        self.update(|document| {
            document.save_checkpoint(lease, checkpoint, now)?;
            Ok(((), true))
        })
    }

    async fn try_acquire(
        &self,
        job: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<Option<Lease>, StateError> {
        let now = self.clock.now();
        self.update(|document| {
            let lease = document.try_acquire(job, holder, ttl, now);
            let changed = lease.is_some();
            Ok((lease, changed))
        })
    }

    async fn renew(&self, lease: &Lease, ttl: Duration) -> Result<Option<Lease>, StateError> {
        let now = self.clock.now();
        self.update(|document| {
            let renewed = document.renew(lease, ttl, now);
            let changed = renewed.is_some();
            Ok((renewed, changed))
        })
    }

    async fn release(&self, lease: &Lease) -> Result<(), StateError> {
        self.update(|document| Ok(((), document.release(lease))))
    }

    async fn holder(&self, job: &str) -> Result<Option<Lease>, StateError> {
        let now = self.clock.now();
        Ok(self.read()?.held(job, now).cloned())
    }

    fn describe(&self) -> String {
        format!("file {}", self.path.display())
    }
}

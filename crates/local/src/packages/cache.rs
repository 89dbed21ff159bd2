//! The package cache, shared by calls and processes: downloads (pip's and
//! npm's own caches, written only by install sandboxes) and one ready
//! directory per exact package set. A set is built under an exclusive `flock`
//! of its lock file, so two calls needing it install it once; a call using it
//! holds a shared lock, so eviction never removes a set in use. Sets are
//! installed into a temporary directory and renamed into place when complete.

use std::fs::{self, File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use e2b_native_core::Error;

/// The default bound of the whole cache.
pub(super) const DEFAULT_MAX_BYTES: u64 = 2 << 30;
/// A set used this recently is never evicted (it may be about to be bound).
const RECENT: Duration = Duration::from_secs(60);
/// Leftovers of an install whose process died.
const STALE_TEMP: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, Clone)]
pub(super) struct Cache {
    root: PathBuf,
    max_bytes: u64,
    /// The host uid install sandboxes write as, when it is not ours (root's
    /// sandboxes run as `nobody`).
    sandbox_owner: Option<u32>,
}

/// A ready package set, held in use (shared lock) until dropped.
#[derive(Debug)]
pub(crate) struct Lease {
    pub dir: PathBuf,
    /// Shared, so that eviction skips the set; none in a read-only cache.
    _lock: Option<File>,
}

/// The right to build a set (exclusive lock) and the directory it goes in.
#[derive(Debug)]
pub(super) struct Build {
    pub temp: PathBuf,
    target: PathBuf,
    lock: File,
}

impl Cache {
    pub(super) fn new(
        root: Option<PathBuf>,
        max_bytes: Option<u64>,
        sandbox_owner: Option<u32>,
    ) -> Result<Self, Error> {
        let root = match root {
            Some(dir) if dir.is_absolute() => dir,
            Some(dir) => {
                return Err(Error::invalid_arg(format!(
                    "packages.cacheDir must be an absolute path, got {}",
                    dir.display()
                )))
            }
            None => default_root(),
        };
        Ok(Cache {
            root,
            max_bytes: max_bytes.unwrap_or(DEFAULT_MAX_BYTES),
            sandbox_owner,
        })
    }

    /// pip's and npm's download caches, writable by install sandboxes.
    pub(super) fn downloads(&self) -> Result<PathBuf, Error> {
        let dir = self.root.join("downloads");
        self.prepare_dir(&dir, true)?;
        Ok(dir)
    }

    /// The set `key`, if it is ready; it stays until the lease is dropped.
    pub(super) fn try_use(&self, key: &str) -> Result<Option<Lease>, Error> {
        let dir = self.set_dir(key);
        let lock = match self.lock_file(key) {
            Ok(lock) => lock,
            // A read-only cache (an image's prepared layer, `docker run
            // --read-only`): nothing here can evict or rebuild the set, so
            // it is used as it stands.
            Err(_) if read_only(&self.root) => {
                return Ok(dir.is_dir().then_some(Lease { dir, _lock: None }));
            }
            Err(e) => return Err(e),
        };
        if !try_flock(&lock, libc::LOCK_SH) || !dir.is_dir() {
            return Ok(None);
        }
        let _ = lock.set_modified(SystemTime::now()); // last use, for eviction
        Ok(Some(Lease {
            dir,
            _lock: Some(lock),
        }))
    }

    /// The right to build `key`, unless another call holds it or it is ready.
    pub(super) fn try_build(&self, key: &str) -> Result<Option<Build>, Error> {
        let lock = self.lock_file(key)?;
        if !try_flock(&lock, libc::LOCK_EX) || self.set_dir(key).is_dir() {
            return Ok(None);
        }
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        // Unique under the lock; no pid, which the install sandbox would
        // see in its mount table.
        let temp = self.root.join("sets").join(format!(".tmp-{key}-{nanos}"));
        self.prepare_dir(&temp, true)?;
        Ok(Some(Build {
            temp,
            target: self.set_dir(key),
            lock,
        }))
    }

    /// Removes the least recently used sets (and then the downloads) until
    /// the cache is within its bound; sets in use are skipped.
    pub(super) fn evict(&self) {
        let sets = self.root.join("sets");
        let mut total = size_of(&self.root);
        if total <= self.max_bytes {
            return;
        }
        let mut candidates: Vec<(SystemTime, String)> = fs::read_dir(&sets)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| {
                let name = entry.file_name().into_string().ok()?;
                if name.starts_with(super::environment::PINNED) {
                    return None; // kept: what makes Python ready without an install
                }
                if let Some(rest) = name.strip_prefix(".tmp-") {
                    let old = entry.metadata().ok()?.modified().ok()?.elapsed().ok()? > STALE_TEMP;
                    if old && !rest.is_empty() {
                        let _ = fs::remove_dir_all(entry.path());
                    }
                    return None;
                }
                let used = fs::metadata(self.lock_path(&name)).ok()?.modified().ok()?;
                Some((used, name))
            })
            .collect();
        candidates.sort();
        for (used, key) in candidates {
            if total <= self.max_bytes {
                return;
            }
            if used.elapsed().unwrap_or_default() < RECENT {
                continue;
            }
            let Ok(lock) = self.lock_file(&key) else {
                continue;
            };
            if try_flock(&lock, libc::LOCK_EX) {
                let dir = self.set_dir(&key);
                let size = size_of(&dir);
                if fs::remove_dir_all(&dir).is_ok() {
                    total = total.saturating_sub(size);
                }
            }
        }
        if total > self.max_bytes {
            // Downloads only speed up installs; a concurrent install refetches.
            let _ = fs::remove_dir_all(self.root.join("downloads"));
        }
    }

    fn set_dir(&self, key: &str) -> PathBuf {
        self.root.join("sets").join(key)
    }

    fn lock_path(&self, key: &str) -> PathBuf {
        self.root.join("locks").join(format!("{key}.lock"))
    }

    fn lock_file(&self, key: &str) -> Result<File, Error> {
        let path = self.lock_path(key);
        self.prepare_dir(path.parent().expect("a parent"), false)?;
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| cache_error(&path, e))
    }

    /// Creates `dir`; one an install sandbox writes goes to its host uid.
    fn prepare_dir(&self, dir: &Path, sandbox_writes: bool) -> Result<(), Error> {
        fs::create_dir_all(dir).map_err(|e| cache_error(dir, e))?;
        if let (true, Some(uid)) = (sandbox_writes, self.sandbox_owner) {
            std::os::unix::fs::chown(dir, Some(uid), Some(uid)).map_err(|e| cache_error(dir, e))?;
        }
        Ok(())
    }
}

impl Build {
    /// Puts the complete set in place and turns the build into a lease.
    pub(super) fn commit(self) -> Result<Lease, Error> {
        let lock = self
            .lock
            .try_clone()
            .map_err(|e| cache_error(&self.temp, e))?;
        if let Err(e) = fs::rename(&self.temp, &self.target) {
            if !self.target.is_dir() {
                return Err(cache_error(&self.target, e));
            }
        }
        // Downgrade: eviction needs the exclusive lock, so the set stays.
        flock(&lock, libc::LOCK_SH);
        let _ = lock.set_modified(SystemTime::now());
        Ok(Lease {
            dir: self.target.clone(),
            _lock: Some(lock),
        })
    }
}

impl Drop for Build {
    /// A failed, aborted or dropped install leaves no files behind.
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.temp);
    }
}

fn default_root() -> PathBuf {
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        // Readable by the sandboxes of root (nobody), unlike /root.
        return PathBuf::from("/var/cache/e2b-native");
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    cache.join("e2b-native")
}

fn try_flock(file: &File, operation: libc::c_int) -> bool {
    // SAFETY: flock on a descriptor we own.
    unsafe { libc::flock(file.as_raw_fd(), operation | libc::LOCK_NB) == 0 }
}

fn flock(file: &File, operation: libc::c_int) {
    // SAFETY: flock on a descriptor we own.
    unsafe { libc::flock(file.as_raw_fd(), operation) };
}

/// Bytes on disk under `path` (blocks allocated, so space reserved with
/// `fallocate` counts), symlinks not followed.
pub(super) fn size_of(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = fs::symlink_metadata(path) else {
        return 0;
    };
    if !meta.is_dir() {
        return meta.blocks() * 512;
    }
    fs::read_dir(path)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| size_of(&entry.path()))
        .sum()
}

/// Whether `root` (or, while it does not exist, its nearest ancestor) lies
/// on a read-only mount or is not writable by us.
fn read_only(root: &Path) -> bool {
    let existing = root.ancestors().find(|dir| dir.exists()).unwrap_or(root);
    nix::unistd::access(existing, nix::unistd::AccessFlags::W_OK)
        .is_err_and(|e| matches!(e, nix::errno::Errno::EROFS | nix::errno::Errno::EACCES))
}

fn cache_error(path: &Path, e: std::io::Error) -> Error {
    Error::NotConfigured(format!(
        "package cache {}: {e} (set packages.cacheDir to a writable folder)",
        path.display()
    ))
}

/// Removes what changed under `dir` since `since` (by ctime, which a
/// program cannot set back): a failed install's downloads, so that nothing
/// it left is picked up by a later install.
pub(super) fn remove_changed_since(dir: &Path, since: SystemTime) {
    let since = since
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    remove_changed(dir, since);
}

fn remove_changed(dir: &Path, since: i64) {
    use std::os::unix::fs::MetadataExt;
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        let Ok(meta) = fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            remove_changed(&path, since);
            // Only a folder left empty goes.
            let _ = fs::remove_dir(&path);
        } else if meta.ctime() >= since {
            let _ = fs::remove_file(&path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(max: u64) -> (Cache, PathBuf) {
        let root =
            std::env::temp_dir().join(format!("e2bn-cache-test-{}-{max}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        (
            Cache::new(Some(root.clone()), Some(max), None).unwrap(),
            root,
        )
    }

    #[test]
    fn a_set_is_built_once_and_then_used() {
        let (cache, root) = cache(1 << 30);
        assert!(cache.try_use("k").unwrap().is_none());
        let build = cache.try_build("k").unwrap().expect("first builder");
        assert!(
            cache.try_build("k").unwrap().is_none(),
            "a second builder waits"
        );
        assert!(
            cache.try_use("k").unwrap().is_none(),
            "not ready while building"
        );
        fs::write(build.temp.join("module.py"), "x = 1").unwrap();
        let lease = build.commit().unwrap();
        assert!(lease.dir.join("module.py").is_file());
        assert!(
            cache.try_use("k").unwrap().is_some(),
            "shared with other users"
        );
        assert!(
            cache.try_build("k").unwrap().is_none(),
            "ready: nothing to build"
        );
        drop(lease);
        fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn eviction_skips_sets_in_use_and_removes_old_ones() {
        let (cache, root) = cache(10);
        for key in ["old", "busy"] {
            let build = cache.try_build(key).unwrap().unwrap();
            fs::write(build.temp.join("data"), vec![0u8; 100]).unwrap();
            drop(build.commit().unwrap());
        }
        let long_ago = SystemTime::now() - Duration::from_secs(3600);
        for key in ["old", "busy"] {
            File::options()
                .write(true)
                .open(cache.lock_path(key))
                .unwrap()
                .set_modified(long_ago)
                .unwrap();
        }
        let busy = cache.try_use("busy").unwrap().unwrap();
        File::options()
            .write(true)
            .open(cache.lock_path("busy"))
            .unwrap()
            .set_modified(long_ago)
            .unwrap();
        cache.evict();
        assert!(!root.join("sets/old").exists());
        assert!(busy.dir.is_dir());
        drop(busy);
        fs::remove_dir_all(root).unwrap();
    }
}

//! A namespace-free sandbox's place on the host ([`crate::protocol::Room`]):
//! a private directory for its work dir and `TMPDIR`, and, when this process
//! is root, a host uid of its own. Made before its helper starts; removed
//! by the helper as it ends (after every process of the sandbox), which
//! covers a host that dies, and by the host once the helper has ended.

use std::collections::HashSet;
use std::fs;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use e2b_native_core::Error;

use crate::protocol;

/// Sandbox uids are taken from this range: below 65536, so that they exist
/// in a container with a user namespace of its own (rootless Docker,
/// Kubernetes' `hostUsers: false` map 65536 ids), and above the ids
/// distributions hand out to people and services.
const UIDS: std::ops::Range<u32> = 40_000..60_000;

/// Uids of this process's live rooms.
static TAKEN: Mutex<Option<HashSet<u32>>> = Mutex::new(None);

/// This process's rooms, by their current path, until removed.
static ROOMS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn rooms() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    ROOMS.lock().unwrap_or_else(|p| p.into_inner())
}

/// Set when this process exits: a preparation still running then makes no
/// room that nothing would remove.
static REFUSED: AtomicBool = AtomicBool::new(false);

/// Removes every room of this process, once its sandboxes are signalled. A
/// helper that runs removes its room as it ends, whatever its sandbox was
/// writing meanwhile; this covers the helpers that had not started, or had
/// not been told their room.
pub(crate) fn remove_all() {
    for dir in rooms().drain(..) {
        let _ = fs::remove_dir_all(dir);
    }
}

/// This process is exiting: no room is made from now on.
pub(crate) fn refuse_new() {
    let _rooms = rooms();
    REFUSED.store(true, Ordering::SeqCst);
}

/// A room, removed (and its uid freed) when dropped, once its helper has
/// ended.
#[derive(Debug)]
pub(crate) struct Room {
    pub(crate) spec: protocol::Room,
    dir: PathBuf,
    /// A pidfd of the room's helper, once it is started.
    helper: Option<OwnedFd>,
}

impl Room {
    /// Makes a room: as root, with a uid no process uses, or `uid` when
    /// given; else as this user.
    pub(crate) fn new(uid: Option<u32>) -> Result<Room, Error> {
        let root = nix::unistd::geteuid().is_root();
        let uid = match (root, uid) {
            (false, _) => None,
            (true, Some(uid)) => Some(uid),
            (true, None) => Some(free_uid()?),
        };
        let dir = make_dir(uid).map_err(|e| {
            free(uid);
            if REFUSED.load(Ordering::SeqCst) {
                return Error::Closed;
            }
            Error::IsolationUnavailable(format!(
                "cannot make a sandbox directory in {}: {e}: make it writable, or set TMPDIR \
                 to a writable directory",
                std::env::temp_dir().display()
            ))
        })?;
        Ok(Room {
            spec: protocol::Room {
                uid,
                home: dir.join("home"),
                tmp: dir.join("tmp"),
            },
            dir,
            helper: None,
        })
    }

    /// The room's helper is `pid`: the room outlives it, and is named
    /// after it (`e2b-native-room-<pid>-…`), so that whoever sees it can
    /// tell whose it is.
    pub(crate) fn housing(&mut self, pid: u32) {
        if let Some(name) = self.dir.file_name().and_then(|n| n.to_str()) {
            let named = self
                .dir
                .with_file_name(name.replacen("room-", &format!("room-{pid}-"), 1));
            let mut rooms = rooms();
            if fs::rename(&self.dir, &named).is_ok() {
                rooms.retain(|d| *d != self.dir);
                rooms.push(named.clone());
                self.spec.home = named.join("home");
                self.spec.tmp = named.join("tmp");
                self.dir = named;
            }
        }
        // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0u32) };
        if fd >= 0 {
            // SAFETY: the kernel just returned this descriptor, owned by nobody else.
            self.helper = Some(unsafe { OwnedFd::from_raw_fd(fd as i32) });
        }
    }
}

/// A host uid of its own for a namespace-tier sandbox when this process is
/// root: the kernel counts some limits per host uid (epoll watches, pending
/// signals, message queues), which sandboxes sharing one would share. Freed
/// when dropped, once the sandbox is gone; a uid any process still runs as
/// is never handed out again.
#[derive(Debug)]
pub(crate) struct HostUid(pub(crate) u32);

impl HostUid {
    pub(crate) fn take() -> Result<HostUid, Error> {
        free_uid().map(HostUid)
    }
}

impl Drop for HostUid {
    fn drop(&mut self) {
        free(Some(self.0));
    }
}

impl Drop for Room {
    fn drop(&mut self) {
        // The helper removes the room as it ends, after every process of
        // it; this is for a helper that did not get to: remove it then, at
        // once when the helper is already gone (the usual case), else once
        // it is.
        let dir = std::mem::take(&mut self.dir);
        let uid = self.spec.uid;
        let remove = move || {
            rooms().retain(|d| *d != dir);
            // remove_dir_all follows no symlink the code left.
            let _ = fs::remove_dir_all(&dir);
            free(uid);
        };
        match self.helper.take() {
            Some(pidfd) if !exited(&pidfd, 0) => {
                std::thread::spawn(move || {
                    exited(&pidfd, 10_000);
                    remove();
                });
            }
            _ => remove(),
        }
    }
}

/// Whether the process of `pidfd` has ended, waiting up to `ms`.
fn exited(pidfd: &OwnedFd, ms: i32) -> bool {
    let mut poll = libc::pollfd {
        fd: pidfd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd for the duration of the call.
    unsafe { libc::poll(&mut poll, 1, ms) > 0 }
}

/// `<tmp>/e2b-native-room-XXXXXX/{home,tmp}`, owned by `uid` (else by this
/// user), reachable by nobody else.
fn make_dir(uid: Option<u32>) -> std::io::Result<PathBuf> {
    let base = std::env::temp_dir();
    let dir = loop {
        let candidate = base.join(format!("e2b-native-room-{:012x}", fastrand_u48()));
        // Listed as it is made: an exit meanwhile finds it.
        let mut rooms = rooms();
        if REFUSED.load(Ordering::SeqCst) {
            return Err(std::io::Error::other("this process is exiting"));
        }
        match fs::create_dir(&candidate) {
            Ok(()) => {
                rooms.push(candidate.clone());
                break candidate;
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    };
    let made = (|| {
        for sub in ["home", "tmp"] {
            fs::create_dir(dir.join(sub))?;
        }
        for path in [dir.join("home"), dir.join("tmp"), dir.clone()] {
            if let Some(uid) = uid {
                std::os::unix::fs::chown(&path, Some(uid), Some(uid))?;
            }
            let mode = if path == dir { 0o711 } else { 0o700 };
            fs::set_permissions(&path, fs::Permissions::from_mode(mode))?;
        }
        Ok(())
    })();
    if let Err(e) = made {
        rooms().retain(|d| *d != dir);
        let _ = fs::remove_dir_all(&dir);
        return Err(e);
    }
    Ok(dir)
}

/// A uid of [`UIDS`] no live room of this process holds and no process on
/// this host (this container) runs as.
fn free_uid() -> Result<u32, Error> {
    let running = uids_in_use();
    let mut taken = TAKEN.lock().unwrap_or_else(|p| p.into_inner());
    let taken = taken.get_or_insert_with(HashSet::new);
    let span = UIDS.end - UIDS.start;
    let start = (fastrand_u48() % u64::from(span)) as u32;
    for offset in 0..span {
        let uid = UIDS.start + (start + offset) % span;
        if !taken.contains(&uid) && !running.contains(&uid) {
            taken.insert(uid);
            return Ok(uid);
        }
    }
    Err(Error::IsolationUnavailable(format!(
        "every sandbox uid from {} to {} is in use",
        UIDS.start, UIDS.end
    )))
}

fn free(uid: Option<u32>) {
    if let Some(uid) = uid.filter(|uid| UIDS.contains(uid)) {
        let mut taken = TAKEN.lock().unwrap_or_else(|p| p.into_inner());
        taken.get_or_insert_with(HashSet::new).remove(&uid);
    }
}

/// The uids of the processes this host shows.
fn uids_in_use() -> HashSet<u32> {
    fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
        })
        .filter_map(|e| e.metadata().ok().map(|m| m.uid()))
        .collect()
}

/// A random 48-bit number (the room's name, the uid's starting point).
fn fastrand_u48() -> u64 {
    let mut bytes = [0u8; 6];
    // SAFETY: getrandom writes at most `len` bytes into the buffer we own.
    // It cannot fail for so few bytes once the pool is seeded (at boot).
    unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), bytes.len(), 0) };
    bytes.iter().fold(0, |n, b| (n << 8) | u64::from(*b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_room_is_private_and_gone_when_dropped() {
        let room = Room::new(None).unwrap();
        let dir = room.dir.clone();
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with("e2b-native-room-"), "{name}");
        for sub in [&room.spec.home, &room.spec.tmp] {
            let meta = fs::metadata(sub).unwrap();
            assert_eq!(meta.permissions().mode() & 0o777, 0o700);
            if let Some(uid) = room.spec.uid {
                assert_eq!(meta.uid(), uid);
                assert!(UIDS.contains(&uid));
            }
        }
        fs::write(room.spec.home.join("file"), "x").unwrap();
        drop(room);
        assert!(!dir.exists());
    }

    #[test]
    fn live_rooms_never_share_a_uid() {
        if !nix::unistd::geteuid().is_root() {
            return;
        }
        let rooms: Vec<Room> = (0..50).map(|_| Room::new(None).unwrap()).collect();
        let uids: HashSet<u32> = rooms.iter().filter_map(|r| r.spec.uid).collect();
        assert_eq!(uids.len(), rooms.len());
    }
}

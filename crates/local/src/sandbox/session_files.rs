//! File operations of a long-lived sandbox, run by a child of init that has
//! confined itself exactly like a program (same uid, no capabilities,
//! seccomp, Landlock): whatever a path or a planted symlink leads to, the
//! operation can do no more than the sandbox's own code could. Its status
//! pipe is fd 3 (one [`FileReply`] line), its data pipe fd 4.

use std::fs;
use std::io::{self, Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use crate::protocol::session::{EntryInfo, EntryKind, FileErrorKind, FileOp, FileReply};
use e2b_native_core::WORK_DIR;

use super::Layout;

const STATUS_FD: i32 = 3;
const DATA_FD: i32 = 4;

/// Runs `op`; returns the worker's exit status.
pub(super) fn run(op: &FileOp, layout: &Layout) -> i32 {
    // SAFETY: init's child set fds 3 and 4 up for exactly this.
    let mut status = Some(unsafe { fs::File::from(OwnedFd::from_raw_fd(STATUS_FD)) });
    let result = match op {
        FileOp::Read { path } => resolve(path, layout).and_then(|p| read(&p, &mut status)),
        FileOp::Write { path } => resolve(path, layout).and_then(|p| write(&p)),
        FileOp::Stat { path } => resolve(path, layout)
            .and_then(|p| entry(&p))
            .map(|e| vec![e]),
        FileOp::ListDir { path, depth } => resolve(path, layout).and_then(|p| list(&p, *depth)),
        FileOp::MakeDir { path } => resolve(path, layout).and_then(|p| make_dir(&p)),
        FileOp::Remove { path } => resolve(path, layout).and_then(|p| remove(&p)),
        FileOp::Rename { from, to } => resolve(from, layout)
            .and_then(|from| resolve(to, layout).and_then(|to| rename(&from, &to))),
    };
    match (result, status) {
        (Ok(entries), Some(status)) => send(status, &FileReply::Ok { entries }),
        (Err((kind, message)), Some(status)) => send(status, &FileReply::Err { kind, message }),
        (Ok(_), None) => 0,
        (Err(_), None) => 1, // the reply went out; copying the content failed
    }
}

type Failure = (FileErrorKind, String);

fn send(mut status: fs::File, reply: &FileReply) -> i32 {
    let mut line = serde_json::to_vec(reply).expect("replies serialize");
    line.push(b'\n');
    match (status.write_all(&line), reply) {
        (Ok(()), FileReply::Ok { .. }) => 0,
        _ => 1,
    }
}

fn fail(path: &Path, error: io::Error) -> Failure {
    let kind = match error.raw_os_error() {
        Some(libc::ENOENT) => FileErrorKind::NotFound,
        Some(libc::EEXIST | libc::ENOTEMPTY) => FileErrorKind::AlreadyExists,
        Some(libc::EISDIR) => FileErrorKind::IsDirectory,
        Some(libc::ENOTDIR) => FileErrorKind::NotDirectory,
        Some(libc::ENOSPC | libc::EDQUOT | libc::EFBIG) => FileErrorKind::NoSpace,
        Some(libc::EACCES | libc::EPERM | libc::EROFS | libc::ETXTBSY) => {
            FileErrorKind::PermissionDenied
        }
        Some(libc::ENAMETOOLONG | libc::EINVAL | libc::ELOOP) => FileErrorKind::InvalidPath,
        _ => FileErrorKind::Other,
    };
    (kind, format!("{}: {error}", path.display()))
}

/// An absolute, lexically normalised path as this sandbox has it; relative
/// ones start at the home.
fn resolve(path: &str, layout: &Layout) -> Result<PathBuf, Failure> {
    if path.is_empty() || path.contains('\0') {
        return Err((FileErrorKind::InvalidPath, format!("invalid path {path:?}")));
    }
    let joined = Path::new(WORK_DIR).join(path);
    let mut normal = PathBuf::from("/");
    for component in joined.components() {
        match component {
            Component::ParentDir => {
                normal.pop();
            }
            Component::Normal(part) => normal.push(part),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    Ok(layout.resolve(&normal.to_string_lossy()))
}

fn read(path: &Path, status: &mut Option<fs::File>) -> Result<Vec<EntryInfo>, Failure> {
    // O_NONBLOCK: opening a FIFO the code planted must not hang the worker.
    let mut file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| fail(path, e))?;
    let meta = file.metadata().map_err(|e| fail(path, e))?;
    if meta.is_dir() {
        return Err((
            FileErrorKind::IsDirectory,
            format!("{} is a directory", path.display()),
        ));
    }
    if !meta.is_file() {
        return Err((
            FileErrorKind::InvalidPath,
            format!("{} is not a regular file", path.display()),
        ));
    }
    let entry = entry(path)?;
    // The reply goes first and alone: the host answers before the content.
    if send(
        status.take().expect("status is still open"),
        &FileReply::Ok {
            entries: vec![entry],
        },
    ) != 0
    {
        return Err((FileErrorKind::Other, "the host went away".into()));
    }
    // SAFETY: fd 4 is the data pipe init's child set up.
    let mut data = unsafe { fs::File::from(OwnedFd::from_raw_fd(DATA_FD)) };
    io::copy(&mut file, &mut data).map_err(|e| fail(path, e))?;
    Ok(Vec::new())
}

fn write(path: &Path) -> Result<Vec<EntryInfo>, Failure> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(|e| fail(parent, e))?;
    }
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| fail(path, e))?;
    // SAFETY: fd 4 is the data pipe init's child set up.
    let mut data = unsafe { fs::File::from(OwnedFd::from_raw_fd(DATA_FD)) };
    let mut buffer = vec![0u8; 64 << 10];
    loop {
        let n = match data.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err((FileErrorKind::Other, format!("reading the upload: {e}"))),
        };
        file.write_all(&buffer[..n]).map_err(|e| fail(path, e))?;
    }
    file.flush().map_err(|e| fail(path, e))?;
    Ok(vec![entry(path)?])
}

fn make_dir(path: &Path) -> Result<Vec<EntryInfo>, Failure> {
    if fs::symlink_metadata(path).is_ok() {
        return Err((
            FileErrorKind::AlreadyExists,
            format!("{} already exists", path.display()),
        ));
    }
    fs::create_dir_all(path).map_err(|e| fail(path, e))?;
    Ok(vec![entry(path)?])
}

fn remove(path: &Path) -> Result<Vec<EntryInfo>, Failure> {
    let meta = fs::symlink_metadata(path).map_err(|e| fail(path, e))?;
    if meta.is_dir() {
        fs::remove_dir_all(path).map_err(|e| fail(path, e))?;
    } else {
        fs::remove_file(path).map_err(|e| fail(path, e))?;
    }
    Ok(Vec::new())
}

fn rename(from: &Path, to: &Path) -> Result<Vec<EntryInfo>, Failure> {
    fs::symlink_metadata(from).map_err(|e| fail(from, e))?;
    if let Some(parent) = to.parent() {
        fs::create_dir_all(parent).map_err(|e| fail(parent, e))?;
    }
    fs::rename(from, to).map_err(|e| fail(to, e))?;
    Ok(vec![entry(to)?])
}

fn list(path: &Path, depth: u32) -> Result<Vec<EntryInfo>, Failure> {
    let meta = fs::metadata(path).map_err(|e| fail(path, e))?;
    if !meta.is_dir() {
        return Err((
            FileErrorKind::NotDirectory,
            format!("{} is not a directory", path.display()),
        ));
    }
    let mut entries = Vec::new();
    walk(path, depth.max(1), &mut entries)?;
    Ok(entries)
}

fn walk(dir: &Path, depth: u32, entries: &mut Vec<EntryInfo>) -> Result<(), Failure> {
    let mut names: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(|e| fail(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    names.sort();
    for path in names {
        let Ok(info) = entry(&path) else { continue };
        let is_dir = info.kind == EntryKind::Directory;
        entries.push(info);
        if is_dir && depth > 1 {
            walk(&path, depth - 1, entries)?;
        }
    }
    Ok(())
}

/// What `path` is, without following a final symlink.
fn entry(path: &Path) -> Result<EntryInfo, Failure> {
    let meta = fs::symlink_metadata(path).map_err(|e| fail(path, e))?;
    let file_type = meta.file_type();
    let (kind, letter) = if file_type.is_symlink() {
        (EntryKind::Symlink, 'L')
    } else if file_type.is_dir() {
        (EntryKind::Directory, 'd')
    } else if file_type.is_file() {
        (EntryKind::File, '-')
    } else {
        (EntryKind::Other, '?')
    };
    let mode = meta.permissions().mode() & 0o7777;
    let mut permissions = String::from(letter);
    for shift in [6, 3, 0] {
        let bits = (mode >> shift) & 7;
        permissions.push(if bits & 4 != 0 { 'r' } else { '-' });
        permissions.push(if bits & 2 != 0 { 'w' } else { '-' });
        permissions.push(if bits & 1 != 0 { 'x' } else { '-' });
    }
    let name = |id: u32| match id {
        0 => "root".to_string(),
        crate::protocol::SANDBOX_UID => "user".to_string(),
        65534 => "nobody".to_string(),
        other => other.to_string(),
    };
    Ok(EntryInfo {
        name: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "/".into()),
        path: path.to_string_lossy().into_owned(),
        kind,
        size: meta.len(),
        mode,
        permissions,
        owner: name(meta.uid()),
        group: name(meta.gid()),
        modified: (meta.mtime(), meta.mtime_nsec() as u32),
        symlink_target: file_type
            .is_symlink()
            .then(|| fs::read_link(path).ok())
            .flatten()
            .map(|t| t.to_string_lossy().into_owned()),
    })
}

#[cfg(test)]
mod tests {
    use super::{resolve, Layout};

    #[test]
    fn paths_resolve_against_the_home() {
        let layout = Layout {
            home: "/home/user".into(),
            tmp: "/tmp".into(),
            shm: Some("/dev/shm".into()),
            own_uid: false,
        };
        let at = |p: &str| resolve(p, &layout).unwrap().display().to_string();
        assert_eq!(at("a/b"), "/home/user/a/b");
        assert_eq!(at("/tmp/../etc/x"), "/etc/x");
        assert_eq!(at("../../.."), "/");
        assert!(resolve("", &layout).is_err());
    }

    #[test]
    fn without_namespaces_the_work_dir_and_tmp_are_the_rooms() {
        let layout = Layout {
            home: "/tmp/room/home".into(),
            tmp: "/tmp/room/tmp".into(),
            shm: None,
            own_uid: true,
        };
        let at = |p: &str| resolve(p, &layout).unwrap().display().to_string();
        assert_eq!(at("a/b"), "/tmp/room/home/a/b");
        assert_eq!(at("/home/user/a"), "/tmp/room/home/a");
        assert_eq!(at("/home/user"), "/tmp/room/home");
        assert_eq!(at("/home/username"), "/home/username");
        assert_eq!(at("/tmp/x"), "/tmp/room/tmp/x");
        assert_eq!(at("/etc/passwd"), "/etc/passwd");
    }
}

//! The sandbox's filesystem: a fresh tmpfs root holding read-only binds of the
//! system directories and a handful of /etc files, synthetic passwd/group/hosts,
//! a minimal /dev, a new /proc, and size-limited writable /home/user and /tmp.
//! Built as bubblewrap does: pivot into a scratch tmpfs first, so that every
//! host path stays reachable under /oldroot while the new root is assembled.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::statvfs::{statvfs, FsFlags};
use nix::unistd::{chdir, pivot_root, sethostname};

use super::{Context, Setup};
use crate::protocol::Shape;
use e2b_native_core::WORK_DIR;

const LAYER: &str = "mount namespace";
const NONE: Option<&str> = None;

/// System directories shown read-only (as symlinks where the host has them).
pub(super) const SYSTEM_DIRS: &[&str] = &[
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
];
/// Host /etc entries the interpreters need; nothing with secrets.
pub(super) const ETC_ENTRIES: &[&str] = &[
    "alternatives",
    "ca-certificates",
    "ssl",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "timezone",
    "nsswitch.conf",
    "protocols",
    "services",
    "mime.types",
    "gai.conf",
    "host.conf",
    "magic",
    "magic.mime",
    "inputrc",
    "python3",
    "python3.11",
    "python3.12",
    "python3.13",
];
const DEVICES: &[&str] = &["null", "zero", "full", "random", "urandom"];

const PASSWD: &str = "root:x:0:0:root:/root:/usr/sbin/nologin\n\
    user:x:1000:1000:user:/home/user:/bin/bash\n\
    nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";
const GROUP: &str = "root:x:0:\nuser:x:1000:\nnogroup:x:65534:\n";
const HOSTS: &str =
    "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\tsandbox\n";

/// `memory_group`: the sandbox's memory cgroup, if it has one, shown
/// read-only at /sys/fs/cgroup/memory as container runtimes show theirs;
/// Node sizes its heap from the limit it reads there.
pub(super) fn build(shape: &Shape, memory_group: Option<&Path>) -> Setup<()> {
    // Nothing mounted here may propagate back to the host.
    mount(NONE, "/", NONE, MsFlags::MS_REC | MsFlags::MS_PRIVATE, NONE)
        .context(LAYER, || "making / private".into())?;
    tmpfs("/tmp", "mode=0755,size=1m")?;
    chdir("/tmp").context(LAYER, || "chdir /tmp".into())?;
    mkdir("newroot")?;
    mkdir("oldroot")?;
    pivot_root("/tmp", "/tmp/oldroot")
        .context(LAYER, || "pivot_root into the scratch root".into())?;
    chdir("/").context(LAYER, || "chdir /".into())?;

    let root = Path::new("/newroot");
    tmpfs(root, "mode=0755,size=4m")?;
    for dir in SYSTEM_DIRS {
        show(dir, &root.join(&dir[1..]))?;
    }
    for dir in &shape.binds {
        let target = root.join(dir.strip_prefix("/").unwrap_or(dir));
        fs::create_dir_all(&target).context(LAYER, || format!("mkdir -p {}", target.display()))?;
        bind_readonly(&host(dir), &target)?;
    }
    for m in &shape.mounts {
        let target = root.join(m.target.strip_prefix("/").unwrap_or(&m.target));
        fs::create_dir_all(&target).context(LAYER, || format!("mkdir -p {}", target.display()))?;
        match m.writable {
            true => bind_writable(&host(&m.source), &target)?,
            false => bind_readonly(&host(&m.source), &target)?,
        }
    }
    etc(&root.join("etc"))?;
    dev(&root.join("dev"), shape.limits.disk_bytes)?;
    proc(&root.join("proc"))?;
    if let Some(group) = memory_group {
        let target = root.join("sys/fs/cgroup/memory");
        fs::create_dir_all(&target).context(LAYER, || format!("mkdir -p {}", target.display()))?;
        bind_readonly(&host(group), &target)?;
    }
    let home = root.join(&WORK_DIR[1..]);
    fs::create_dir_all(&home).context(LAYER, || "mkdir /home/user".into())?;
    tmpfs(
        &home,
        &format!("mode=0755,size={}", shape.limits.disk_bytes),
    )?;
    mkdir(root.join("tmp"))?;
    tmpfs(
        root.join("tmp"),
        &format!("mode=1777,size={}", shape.limits.disk_bytes),
    )?;
    mkdir(root.join("run"))?;

    sethostname("sandbox").context("uts namespace", || "sethostname".into())?;
    super::net::loopback_up().context("network namespace", || "bringing up lo".into())?;

    // The skeleton is complete: freeze it, enter it, and let go of the host.
    remount_readonly(root, MsFlags::MS_NOSUID | MsFlags::MS_NODEV)?;
    chdir(root).context(LAYER, || "chdir /newroot".into())?;
    pivot_root(".", ".").context(LAYER, || "pivot_root into the sandbox root".into())?;
    umount2(".", MntFlags::MNT_DETACH).context(LAYER, || "detaching the host's root".into())?;
    chdir("/").context(LAYER, || "chdir /".into())
}

/// A host path as seen after the first pivot.
fn host(path: &Path) -> PathBuf {
    Path::new("/oldroot").join(path.strip_prefix("/").unwrap_or(path))
}

/// Recreates a host system directory: the same symlink, or a read-only bind.
fn show(dir: &str, target: &Path) -> Setup<()> {
    let source = host(Path::new(dir));
    match fs::symlink_metadata(&source) {
        Err(_) => Ok(()), // the host has no such directory
        Ok(meta) if meta.file_type().is_symlink() => {
            let link = fs::read_link(&source).context(LAYER, || format!("readlink {dir}"))?;
            symlink(&link, target).context(LAYER, || format!("symlink {dir}"))
        }
        Ok(_) => {
            mkdir(target)?;
            bind_readonly(&source, target)
        }
    }
}

/// Host entries bound read-only; a symlink into /usr stays one
/// (`/etc/localtime` names the zone, and its target is only reachable
/// through /usr once the sandbox's root is in place).
fn etc(etc: &Path) -> Setup<()> {
    mkdir(etc)?;
    for entry in ETC_ENTRIES {
        let source = host(&Path::new("/etc").join(entry));
        let target = etc.join(entry);
        if let Some(to) = fs::read_link(&source)
            .ok()
            .filter(|to| to.starts_with("/usr/"))
        {
            symlink(to, &target).context(LAYER, || format!("symlink /etc/{entry}"))?;
            continue;
        }
        match fs::metadata(&source) {
            Err(_) => continue,
            Ok(meta) if meta.is_dir() => mkdir(&target)?,
            Ok(_) => fs::write(&target, "").context(LAYER, || format!("creating /etc/{entry}"))?,
        }
        bind_readonly(&source, &target)?;
    }
    for (name, content) in [
        ("passwd", PASSWD),
        ("group", GROUP),
        ("hosts", HOSTS),
        ("hostname", "sandbox\n"),
        ("resolv.conf", ""),
    ] {
        fs::write(etc.join(name), content).context(LAYER, || format!("writing /etc/{name}"))?;
    }
    Ok(())
}

fn dev(dev: &Path, shm_bytes: u64) -> Setup<()> {
    mkdir(dev)?;
    tmpfs(dev, "mode=0755,size=64k")?;
    for name in DEVICES {
        let target = dev.join(name);
        fs::write(&target, "").context(LAYER, || format!("creating /dev/{name}"))?;
        bind(&host(&Path::new("/dev").join(name)), &target)?;
    }
    for (name, to) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        symlink(to, dev.join(name)).context(LAYER, || format!("symlink /dev/{name}"))?;
    }
    let shm = dev.join("shm");
    mkdir(&shm)?;
    tmpfs(&shm, &format!("mode=1777,size={shm_bytes}"))?;
    remount_readonly(dev, MsFlags::MS_NOSUID | MsFlags::MS_NODEV)
}

fn proc(target: &Path) -> Setup<()> {
    mkdir(target)?;
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    mount(Some("proc"), target, Some("proc"), flags, NONE)
        .context("pid namespace", || "mounting a new /proc".into())
}

fn tmpfs(target: impl AsRef<Path>, options: &str) -> Setup<()> {
    let target = target.as_ref();
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
    mount(Some("tmpfs"), target, Some("tmpfs"), flags, Some(options)).context(LAYER, || {
        format!("mounting a tmpfs on {} ({options})", target.display())
    })
}

fn bind(source: &Path, target: &Path) -> Setup<()> {
    mount(Some(source), target, NONE, MsFlags::MS_BIND, NONE).context(LAYER, || {
        format!(
            "binding {} (check that the sandbox user can read it)",
            source.display()
        )
    })
}

fn bind_readonly(source: &Path, target: &Path) -> Setup<()> {
    bind(source, target)?;
    remount_readonly(target, locked_flags(target)?)
}

/// Writable, but nothing set-uid and no device nodes.
fn bind_writable(source: &Path, target: &Path) -> Setup<()> {
    bind(source, target)?;
    let flags = locked_flags(target)? | MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
    mount(NONE, target, NONE, flags | MsFlags::MS_REMOUNT, NONE)
        .context(LAYER, || format!("remounting {}", target.display()))
}

/// A remount inside a user namespace must keep the flags the host locked.
fn locked_flags(target: &Path) -> Setup<MsFlags> {
    let locked = statvfs(target)
        .map(|s| s.flags())
        .context(LAYER, || format!("statvfs {}", target.display()))?;
    let mut flags = MsFlags::MS_BIND;
    for (fs_flag, ms_flag) in [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        // ST_RELATIME: nix names it for glibc only; the kernel sets it under musl too.
        (FsFlags::from_bits_retain(0x1000), MsFlags::MS_RELATIME),
    ] {
        if locked.contains(fs_flag) {
            flags |= ms_flag;
        }
    }
    Ok(flags)
}

fn remount_readonly(target: &Path, flags: MsFlags) -> Setup<()> {
    mount(
        NONE,
        target,
        NONE,
        flags | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
        NONE,
    )
    .context(LAYER, || format!("making {} read-only", target.display()))
}

fn mkdir(path: impl AsRef<Path>) -> Setup<()> {
    let path = path.as_ref();
    fs::create_dir(path).context(LAYER, || format!("mkdir {}", path.display()))
}

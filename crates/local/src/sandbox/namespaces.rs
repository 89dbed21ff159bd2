//! The helper's half of the namespaces: leave root behind, clone init into
//! fresh namespaces, and map the sandbox user onto an unprivileged host id.

use std::fs;
use std::os::fd::OwnedFd;

use nix::sched::{clone, CloneFlags};
use nix::sys::prctl;
use nix::sys::signal::{kill, Signal};
use nix::unistd::{
    getgid, getppid, getuid, read, setgroups, setresgid, setresuid, write, Gid, Pid, Uid,
};

use super::{Context, Setup, SetupError};
use crate::protocol::{Shape, SANDBOX_UID};

/// The host ids the sandbox runs as.
pub(super) struct HostIds {
    uid: u32,
    gid: u32,
}

/// A root caller's sandboxes run as an unprivileged host user: mapped to host
/// root, code could read root's files and ignore RLIMIT_NPROC.
pub(super) fn drop_to_sandbox_user(shape: &Shape) -> Setup<HostIds> {
    let host = getppid();
    if nix::unistd::geteuid().is_root() {
        let id = shape.host_id_when_root;
        // The output pipes are root's: hand them to the sandbox user, so that
        // code can reopen them as /dev/stdout and /dev/stderr.
        for fd in [1, 2] {
            // SAFETY: fchown on our own standard descriptors.
            unsafe { libc::fchown(fd, id, id) };
        }
        setgroups(&[]).context("user namespace", || "dropping supplementary groups".into())?;
        setresgid(Gid::from_raw(id), Gid::from_raw(id), Gid::from_raw(id))
            .context("user namespace", || format!("switching to host gid {id}"))?;
        setresuid(Uid::from_raw(id), Uid::from_raw(id), Uid::from_raw(id))
            .context("user namespace", || format!("switching to host uid {id}"))?;
    }
    // Changing credentials clears both: the helper must stay dumpable to write
    // its child's uid map, and must die with the host thread that spawned it.
    prctl::set_dumpable(true).context("user namespace", || "prctl(PR_SET_DUMPABLE)".into())?;
    prctl::set_pdeathsig(Signal::SIGKILL)
        .context("pid namespace", || "prctl(PR_SET_PDEATHSIG)".into())?;
    if getppid() != host {
        return Err(SetupError::new(
            "pid namespace",
            "the host process exited during set-up",
        ));
    }
    Ok(HostIds {
        uid: getuid().as_raw(),
        gid: getgid().as_raw(),
    })
}

/// Clones init into new user, pid, mount, network, ipc, uts and cgroup
/// namespaces and maps its user; `init` runs in the child and returns its
/// exit status.
pub(super) fn spawn_init(host: &HostIds, init: impl FnMut() -> i32) -> Setup<Pid> {
    let (ready_rx, ready_tx) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .context("user namespace", || "pipe".into())?;
    let mut init = init;
    let mut child = move || -> isize {
        // Die with the helper; a helper that died before this line never
        // sends the ready byte, and init gives up.
        if prctl::set_pdeathsig(Signal::SIGKILL).is_err() || !wait_ready(&ready_rx) {
            return 1;
        }
        init() as isize
    };
    let flags = CloneFlags::CLONE_NEWUSER
        | CloneFlags::CLONE_NEWPID
        | CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWNET
        | CloneFlags::CLONE_NEWIPC
        | CloneFlags::CLONE_NEWUTS
        | CloneFlags::CLONE_NEWCGROUP;
    let mut stack = Stack::new()?;
    // SAFETY: the helper is single-threaded, and without CLONE_VM the child
    // runs on a private copy of the stack's mapping.
    let pid = unsafe {
        clone(
            Box::new(&mut child),
            stack.slice(),
            flags,
            Some(libc::SIGCHLD),
        )
    }
    .map_err(|e| SetupError {
        layer: "user namespace",
        message: format!(
            "cannot create the sandbox's namespaces (clone with new user, pid, mount, \
                 network, ipc, uts and cgroup namespaces: {e})"
        ),
        errno: Some(e as i32),
    })?;
    if let Err(e) = write_maps(pid, host) {
        let _ = kill(pid, Signal::SIGKILL);
        return Err(e);
    }
    write(&ready_tx, b"1").context("user namespace", || "releasing init".into())?;
    Ok(pid)
}

/// Init's stack: as large as a main thread's (a forked Python program runs
/// on it, see `exec::ForkedProgram`), touched only as used, with a guard
/// page below it, so that an overflow faults instead of writing over the heap.
struct Stack {
    base: *mut libc::c_void,
}

impl Stack {
    const SIZE: usize = 8 << 20;
    const GUARD: usize = 64 << 10;

    fn new() -> Setup<Stack> {
        // SAFETY: a fresh private anonymous mapping; nothing else refers to it.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                Self::SIZE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        let guarded = base != libc::MAP_FAILED
            // SAFETY: the lowest GUARD bytes of the mapping just made.
            && unsafe { libc::mprotect(base, Self::GUARD, libc::PROT_NONE) } == 0;
        if !guarded {
            return Err(SetupError::new(
                "pid namespace",
                format!("mapping init's stack: {}", nix::errno::Errno::last()),
            ));
        }
        Ok(Stack { base })
    }

    fn slice(&mut self) -> &mut [u8] {
        // SAFETY: the writable part of the mapping, which lives as long as
        // `self`; clone only hands it to the child.
        unsafe {
            std::slice::from_raw_parts_mut(
                self.base.cast::<u8>().add(Self::GUARD),
                Self::SIZE - Self::GUARD,
            )
        }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`, unmapped once.
        unsafe { libc::munmap(self.base, Self::SIZE) };
    }
}

fn wait_ready(ready: &OwnedFd) -> bool {
    let mut byte = [0u8; 1];
    matches!(read(ready, &mut byte), Ok(1))
}

fn write_maps(pid: Pid, host: &HostIds) -> Setup<()> {
    let proc = format!("/proc/{pid}");
    let write = |file: &str, content: String| {
        fs::write(format!("{proc}/{file}"), &content).context("user namespace", || {
            format!("writing {content:?} to /proc/<init>/{file}")
        })
    };
    write("uid_map", format!("{SANDBOX_UID} {} 1\n", host.uid))?;
    write("setgroups", "deny".into())?;
    write("gid_map", format!("{SANDBOX_UID} {} 1\n", host.gid))
}

//! The helper side: runs inside `e2b-sandbox`, never in the host process.
//!
//! Three processes make one sandbox:
//! - the helper (host namespaces) creates the cgroups, drops root, creates the
//!   namespaces, writes the uid/gid maps, then waits;
//! - init, pid 1 of the new pid namespace, moves itself into the cgroups,
//!   enters a cgroup namespace of its own, builds the root filesystem, and
//!   reaps; when it exits the kernel kills every process left in the
//!   namespace;
//! - the program, forked by init, with no capabilities, in a new session.

mod egress;
mod exec;
mod init;
mod landlock;
mod namespaces;
mod net;
mod report;
mod rootfs;
mod seccomp;
mod session;
mod session_files;
mod warm;
mod workfiles;

use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd};

use nix::sys::wait::{waitpid, WaitStatus};

use crate::protocol::{Event, Spec};
pub(crate) use report::Reporter;
pub use seccomp::print_table as print_seccomp_table;

/// A step of the set-up that failed, named by its isolation layer.
#[derive(Debug)]
pub struct SetupError {
    pub layer: &'static str,
    pub message: String,
}

impl SetupError {
    pub fn new(layer: &'static str, message: impl Into<String>) -> Self {
        SetupError {
            layer,
            message: message.into(),
        }
    }
}

pub type Setup<T> = Result<T, SetupError>;

/// Adds the layer and the action to a failing syscall.
pub trait Context<T> {
    fn context(self, layer: &'static str, what: impl FnOnce() -> String) -> Setup<T>;
}

impl<T, E: std::fmt::Display> Context<T> for Result<T, E> {
    fn context(self, layer: &'static str, what: impl FnOnce() -> String) -> Setup<T> {
        self.map_err(|e| SetupError::new(layer, format!("{}: {e}", what())))
    }
}

/// Entry point of the helper executable; returns its exit status.
pub fn main() -> i32 {
    // fd 0 is a socket to the host: the spec comes in, events go out.
    let reporter = match Reporter::from_stdin() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("e2b-sandbox: this helper is started by e2b-native, not by hand ({e})");
            return 2;
        }
    };
    match run(&reporter) {
        Ok(()) => 0,
        Err(e) => {
            reporter.send(&Event::Failed {
                layer: e.layer.into(),
                message: e.message,
            });
            1
        }
    }
}

fn run(reporter: &Reporter) -> Setup<()> {
    let spec = read_spec()?;
    // Only root can use the cgroup v1 hierarchies: create them (and open
    // them for init) before dropping root. The groups count init and what it
    // starts.
    let groups = crate::cgroup::create(spec.memory_bytes, spec.processes + 1);
    if let Ok(groups) = &groups {
        reporter.send(&Event::Cgroups {
            dirs: groups.dirs.clone(),
        });
    }
    let cgroup_limits = groups.is_ok();
    let host = namespaces::drop_to_sandbox_user(&spec)?;
    let init = namespaces::spawn_init(&host, || {
        let entered = groups.as_ref().map_or(Ok(()), enter_cgroups);
        let memory_group = groups.as_ref().ok().map(|g| g.memory_dir());
        if let Err(e) = entered.and_then(|()| rootfs::build(&spec, memory_group)) {
            reporter.send(&Event::Failed {
                layer: e.layer.into(),
                message: e.message,
            });
            return 1;
        }
        match (spec.session, spec.warm) {
            (true, _) => session::main(&spec, reporter, cgroup_limits),
            (false, true) => warm::main(&spec, reporter, cgroup_limits),
            (false, false) => init::main(&spec, reporter, cgroup_limits),
        }
    })?;
    reporter.send(&Event::Init { pid: init.as_raw() });
    drop(groups);
    // init reports how the program ended; the helper only waits, so that the
    // host sees the helper exit after the whole pid namespace is gone.
    wait_init(init)
}

/// Init side, first of all: moves into the sandbox's groups, lets go of
/// root's handles on them, and enters a new cgroup namespace rooted there,
/// so that what init starts sees its own group as `/`.
fn enter_cgroups(groups: &crate::cgroup::NewGroups) -> Setup<()> {
    let entered = groups.enter();
    for fd in groups.fds() {
        // SAFETY: init's copies of the helper's descriptors; init exits
        // without dropping them.
        unsafe { libc::close(fd) };
    }
    entered.map_err(|message| SetupError::new("cgroups", message))?;
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWCGROUP)
        .context("cgroup namespace", || "unshare(CLONE_NEWCGROUP)".into())
}

fn wait_init(init: nix::unistd::Pid) -> Setup<()> {
    loop {
        match waitpid(init, None) {
            Ok(WaitStatus::Exited(..) | WaitStatus::Signaled(..)) => return Ok(()),
            Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => {
                return Err(SetupError::new(
                    "pid namespace",
                    format!("waiting for init: {e}"),
                ))
            }
        }
    }
}

/// Reads the spec: up to EOF (a one-shot run), or one line, which is all the
/// host sends before init reports (a pooled sandbox, whose socket stays open
/// for its go; compact JSON holds no newline).
fn read_spec() -> Setup<Spec> {
    // SAFETY: fd 0 is open (Reporter checked it); ManuallyDrop keeps it open.
    let mut stdin = std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(0) });
    let mut bytes = Vec::new();
    let mut chunk = vec![0u8; 64 << 10];
    loop {
        match stdin.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                bytes.extend_from_slice(&chunk[..n]);
                if bytes.last() == Some(&b'\n') {
                    break;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(SetupError::new(
                    "protocol",
                    format!("reading the sandbox spec: {e}"),
                ))
            }
        }
    }
    debug_assert_eq!(stdin.as_raw_fd(), 0);
    serde_json::from_slice(&bytes).context("protocol", || "parsing the sandbox spec".into())
}

//! The helper side: runs inside `e2b-sandbox`, never in the host process.
//!
//! Three processes make one sandbox. In the full tier ([`Isolation::Namespaces`]):
//! - the helper (host namespaces) creates the cgroups, drops root, creates the
//!   namespaces, writes the uid/gid maps, then waits;
//! - init, pid 1 of the new pid namespace, moves itself into the cgroups,
//!   enters a cgroup namespace of its own, builds the root filesystem, and
//!   reaps; when it exits the kernel kills every process left in the
//!   namespace;
//! - the program, forked by init, with no capabilities, in a new session.
//!
//! Where namespaces are refused ([`Isolation::Landlock`], see `unshared`),
//! the helper becomes the sandbox's uid and the reaper of everything below
//! it, and kills all of it when init ends. Either way init then runs the
//! mode's main (`init`, `warm`, `session`), and every program goes through
//! the one confinement sequence (`confine`).

mod confine;
mod egress;
mod exec;
mod forked;
mod init;
mod landlock;
mod namespaces;
mod net;
mod report;
mod rootfs;
mod seccomp;
mod session;
mod session_files;
mod unshared;
mod warm;
mod workfiles;

use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd};

use nix::sys::wait::{waitpid, WaitStatus};

use std::path::{Path, PathBuf};

use e2b_native_core::WORK_DIR;

use crate::protocol::{Event, Isolation, Job, Mode, Spec};
pub(crate) use report::Reporter;
pub use seccomp::print_table as print_seccomp_table;

/// A step of the set-up that failed, named by its isolation layer, with the
/// errno the kernel gave when there was one (the host's advice depends on it).
#[derive(Debug)]
pub struct SetupError {
    pub layer: &'static str,
    pub message: String,
    pub errno: Option<i32>,
}

impl SetupError {
    pub fn new(layer: &'static str, message: impl Into<String>) -> Self {
        SetupError {
            layer,
            message: message.into(),
            errno: None,
        }
    }
}

pub type Setup<T> = Result<T, SetupError>;

/// Adds the layer and the action to a failing syscall, keeping its errno.
pub trait Context<T> {
    fn context(self, layer: &'static str, what: impl FnOnce() -> String) -> Setup<T>;
}

impl<T, E: std::fmt::Display + 'static> Context<T> for Result<T, E> {
    fn context(self, layer: &'static str, what: impl FnOnce() -> String) -> Setup<T> {
        self.map_err(|e| {
            let any = &e as &dyn std::any::Any;
            let errno = any
                .downcast_ref::<nix::errno::Errno>()
                .map(|e| *e as i32)
                .or_else(|| any.downcast_ref::<std::io::Error>()?.raw_os_error());
            SetupError {
                layer,
                message: format!("{}: {e}", what()),
                errno,
            }
        })
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
        Err(e) => reporter.failed(e),
    }
}

pub use forked::{serve_forks, ForkedProgram, Release};

/// Where a sandbox's writable directories are, as its programs see them.
pub struct Layout {
    /// The work dir: `HOME` and the working directory.
    pub home: PathBuf,
    pub tmp: PathBuf,
    /// Shared memory, when the sandbox has its own.
    pub shm: Option<PathBuf>,
    /// Without namespaces: the sandbox has a host uid of its own (the host
    /// is root), so the kernel counts and scopes by it.
    pub own_uid: bool,
}

impl Layout {
    fn of(spec: &Spec) -> Layout {
        match &spec.room {
            None => Layout {
                home: WORK_DIR.into(),
                tmp: "/tmp".into(),
                shm: Some("/dev/shm".into()),
                own_uid: false,
            },
            Some(room) => Layout {
                home: room.home.clone(),
                tmp: room.tmp.clone(),
                shm: None,
                own_uid: room.uid.is_some(),
            },
        }
    }

    /// The writable directories.
    pub fn writable(&self) -> Vec<&Path> {
        [Some(&self.home), Some(&self.tmp), self.shm.as_ref()]
            .into_iter()
            .flatten()
            .map(PathBuf::as_path)
            .collect()
    }

    /// `path` as this sandbox has it: E2B's work dir (`/home/user/...`) and
    /// `/tmp` are this sandbox's own (the same paths in the full tier);
    /// relative paths are relative to the work dir.
    pub fn resolve(&self, path: &str) -> PathBuf {
        for (prefix, dir) in [(WORK_DIR, &self.home), ("/tmp", &self.tmp)] {
            match path.strip_prefix(prefix) {
                Some("") => return dir.clone(),
                Some(rest) if rest.starts_with('/') => return dir.join(&rest[1..]),
                _ => {}
            }
        }
        self.home.join(path)
    }
}

fn run(reporter: &Reporter) -> Setup<()> {
    let spec = read_spec()?;
    let job = match (spec.shape.mode, &spec.job) {
        (Mode::Session, None) => None,
        (Mode::OneShot | Mode::Warm, Some(job)) => Some(job),
        _ => {
            return Err(SetupError::new(
                "protocol",
                "a session has no job; other sandboxes have one",
            ))
        }
    };
    let layout = Layout::of(&spec);
    match spec.shape.isolation {
        Isolation::Namespaces => namespaced(&spec, job, &layout, reporter),
        Isolation::Landlock => unshared::run(&spec, job, &layout, reporter),
    }
}

/// The full tier: namespaces, cgroups where root can make them, a fresh root.
fn namespaced(spec: &Spec, job: Option<&Job>, layout: &Layout, reporter: &Reporter) -> Setup<()> {
    let shape = &spec.shape;
    // Only root can use the cgroup v1 hierarchies: create them (and open
    // them for init) before dropping root. The groups count init and what it
    // starts.
    let groups = crate::cgroup::create(shape.limits.memory_bytes, shape.limits.processes + 1);
    if let Ok(groups) = &groups {
        reporter.send(&Event::Cgroups {
            dirs: groups.dirs.clone(),
        });
    }
    let confinement = confine::Confinement {
        shape,
        cgroup_limits: groups.is_ok(),
        layout,
    };
    let host = namespaces::drop_to_sandbox_user(shape)?;
    let init = namespaces::spawn_init(&host, || {
        let entered = groups.as_ref().map_or(Ok(()), enter_cgroups);
        let memory_group = groups.as_ref().ok().map(|g| g.memory_dir());
        if let Err(e) = entered.and_then(|()| rootfs::build(shape, memory_group)) {
            return reporter.failed(e);
        }
        init_main(confinement, job, reporter)
    })?;
    reporter.send(&Event::Init { pid: init.as_raw() });
    drop(groups);
    // init reports how the program ended; the helper only waits, so that the
    // host sees the helper exit after the whole pid namespace is gone.
    wait_init(init)
}

/// Init's work once the sandbox stands, by mode; returns init's exit status.
fn init_main(confinement: confine::Confinement<'_>, job: Option<&Job>, reporter: &Reporter) -> i32 {
    match job {
        None => session::main(confinement, reporter),
        Some(job) if confinement.shape.mode == Mode::Warm => warm::main(confinement, job, reporter),
        Some(job) => init::main(confinement, job, reporter),
    }
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

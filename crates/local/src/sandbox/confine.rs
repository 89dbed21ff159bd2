//! The one confinement sequence. Every process that runs anything of the
//! caller's — a one-shot program, a pooled interpreter, a session's program
//! or file operation — goes through it, in this order, before it runs:
//!
//! 1. signals: nothing blocked or ignored (both survive exec), and death
//!    with init (where no pid namespace takes everything when init dies);
//! 2. a new session: no controlling terminal to push keystrokes into;
//! 3. descriptors: exactly the ones it is given, nothing of init's or the host's;
//! 4. limits: rlimits (and the rlimit stand-ins where no cgroup counts);
//! 5. capabilities: all gone for good, and no_new_privs;
//! 6. Landlock (unless init applied it once for the whole sandbox);
//! 7. seccomp, last: the filter denies what the steps before need.

use std::os::fd::{BorrowedFd, RawFd};

use nix::errno::Errno;
use nix::fcntl::{fcntl, open, FcntlArg, OFlag};
use nix::sys::prctl;
use nix::sys::resource::{getrlimit, setrlimit, Resource};
use nix::sys::signal::{sigprocmask, SigSet, SigmaskHow};
use nix::sys::stat::Mode;
use nix::unistd::{chdir, setsid};

use super::{Context, Layout, Setup, SetupError};
use crate::protocol::{Isolation, Shape};

/// What the sequence needs to know of the sandbox.
#[derive(Clone, Copy)]
pub(super) struct Confinement<'a> {
    pub shape: &'a Shape,
    /// The sandbox's cgroups bound its memory and processes; else rlimits
    /// stand in, per process.
    pub cgroup_limits: bool,
    pub layout: &'a Layout,
}

/// The descriptors a confined process keeps.
pub(super) struct Descriptors<'a> {
    /// Its stdin; /dev/null when none.
    pub stdin: Option<RawFd>,
    /// Become its fds `first`, `first + 1`, ... in order; the ones between 1
    /// and `first` are /dev/null.
    pub given: &'a [RawFd],
    pub first: RawFd,
    /// Left open as it is (close-on-exec): how the process reports a failure.
    pub keep: RawFd,
}

/// A program's own rlimits, beyond the sandbox's.
#[derive(Debug, Clone, Copy)]
pub(super) struct ProgramLimits {
    /// RLIMIT_CPU, if the caller set one.
    pub(super) cpu_seconds: Option<u64>,
    /// RLIMIT_AS where no memory cgroup bounds the sandbox.
    pub(super) address_space: u64,
}

/// Whether the process applies Landlock itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Landlock {
    Apply,
    /// Init applied it to itself before starting anything: every process of
    /// the sandbox shares that one domain.
    Inherited,
}

impl Confinement<'_> {
    /// Confines the calling process, which then execs or runs a file
    /// operation; its working directory is the work dir.
    pub(super) fn apply(
        &self,
        descriptors: Descriptors<'_>,
        program: ProgramLimits,
        landlock: Landlock,
    ) -> Setup<()> {
        reset_signals()?;
        die_with_parent()?;
        setsid().context("process", || "setsid".into())?;
        arrange(&descriptors)?;
        let home = &self.layout.home;
        chdir(home).context("process", || format!("chdir {}", home.display()))?;
        self.limits(program)?;
        drop_capabilities()?;
        if landlock == Landlock::Apply {
            super::landlock::restrict(self.shape, self.layout)?;
        }
        super::seccomp::install(self.shape)
    }

    /// A program's environment in this sandbox: where it has no root of its
    /// own, `HOME` and `TMPDIR` are its room's.
    pub(super) fn env(&self, env: &[(String, String)]) -> Vec<(String, String)> {
        if self.shape.isolation == Isolation::Namespaces {
            return env.to_vec();
        }
        let mut env: Vec<(String, String)> = env
            .iter()
            .filter(|(k, _)| k != "HOME" && k != "TMPDIR")
            .cloned()
            .collect();
        env.push(("HOME".into(), self.layout.home.display().to_string()));
        env.push(("TMPDIR".into(), self.layout.tmp.display().to_string()));
        env
    }

    /// Per-process limits. Where the memory and pids cgroups hold the sandbox
    /// they bound it exactly and count what was hit; elsewhere RLIMIT_NPROC
    /// (counted per user namespace, so for this sandbox alone) and RLIMIT_AS
    /// stand in.
    fn limits(&self, program: ProgramLimits) -> Setup<()> {
        let bounds = &self.shape.limits;
        let mut limits = vec![
            (Resource::RLIMIT_CORE, 0, "RLIMIT_CORE"),
            // At most the hard limit the helper inherited: without privilege
            // it cannot be raised, and a lower bound is still a bound.
            (
                Resource::RLIMIT_NOFILE,
                getrlimit(Resource::RLIMIT_NOFILE)
                    .map_or(bounds.open_files, |(_, hard)| hard.min(bounds.open_files)),
                "RLIMIT_NOFILE",
            ),
        ];
        if let Some(seconds) = program.cpu_seconds {
            limits.push((Resource::RLIMIT_CPU, seconds, "RLIMIT_CPU"));
        }
        if !self.cgroup_limits {
            limits.push((Resource::RLIMIT_NPROC, self.processes(), "RLIMIT_NPROC"));
            limits.push((Resource::RLIMIT_AS, program.address_space, "RLIMIT_AS"));
        }
        if self.shape.isolation == Isolation::Landlock {
            // No tmpfs bounds the work dir: no file grows past the disk limit
            // (the helper watches the sum).
            limits.push((Resource::RLIMIT_FSIZE, bounds.disk_bytes, "RLIMIT_FSIZE"));
        }
        for (resource, value, name) in limits {
            // RLIMIT_CPU: SIGXCPU at the soft limit says why; SIGKILL a second later.
            let hard = if resource == Resource::RLIMIT_CPU {
                value + 1
            } else {
                value
            };
            setrlimit(resource, value, hard).context("limits", || format!("{name} = {value}"))?;
        }
        Ok(())
    }
}

impl Confinement<'_> {
    /// RLIMIT_NPROC, which counts the tasks of the process's real uid. In a
    /// user namespace or under a dedicated uid those are the sandbox's own
    /// (the helper and init among them). A sandbox sharing the host's uid
    /// shares the count with every other process of it, concurrent sandboxes
    /// included: its helper counts its tasks instead, and this only stops a
    /// fork bomb between two counts.
    fn processes(&self) -> u64 {
        let limit = self.shape.limits.processes;
        match self.shape.isolation {
            Isolation::Namespaces => limit,
            Isolation::Landlock if self.layout.own_uid => limit + 2,
            Isolation::Landlock => super::unshared::tasks_of_this_uid() + limit.max(1024),
        }
    }
}

/// The signal state of a fresh process: nothing blocked, nothing ignored.
/// Ignored signals survive exec, and the helper inherits Node's (SIGXFSZ) and
/// Rust's (SIGPIPE).
/// SIGKILL when init, the parent, dies; an init already gone (the process
/// was reparented meanwhile) fails the set-up instead.
fn die_with_parent() -> Setup<()> {
    let parent = nix::unistd::getppid();
    prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
        .context("process", || "PR_SET_PDEATHSIG".into())?;
    if nix::unistd::getppid() != parent {
        return Err(SetupError::new("process", "init exited during set-up"));
    }
    Ok(())
}

fn reset_signals() -> Setup<()> {
    sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)
        .context("process", || "clearing the signal mask".into())?;
    // The kernel's struct sigaction: handler, flags, restorer, mask. Raw,
    // because glibc refuses to touch the signals it reserves (32, 33).
    let default = [libc::SIG_DFL, 0, 0, 0];
    for number in 1..=64 {
        if number != libc::SIGKILL && number != libc::SIGSTOP {
            // SAFETY: installs the default disposition; no handler, no old action kept.
            unsafe {
                libc::syscall(
                    libc::SYS_rt_sigaction,
                    number,
                    default.as_ptr(),
                    std::ptr::null::<u8>(),
                    8usize,
                )
            };
        }
    }
    Ok(())
}

/// Puts stdin, /dev/null and the given descriptors at their numbers and
/// closes every other but `keep`.
fn arrange(d: &Descriptors<'_>) -> Setup<()> {
    // Move every source out of the way first: a target may be a source.
    let high = |fd: RawFd| {
        // SAFETY: the caller's descriptors, open for the duration of this call.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        fcntl(fd, FcntlArg::F_DUPFD_CLOEXEC(64))
    };
    let null = open("/dev/null", OFlag::O_RDWR | OFlag::O_CLOEXEC, Mode::empty())
        .and_then(|null| fcntl(&null, FcntlArg::F_DUPFD_CLOEXEC(64)))
        .context("process", || "opening /dev/null".into())?;
    let stdin = match d.stdin {
        Some(fd) => high(fd).context("process", || "duplicating stdin".into())?,
        None => null,
    };
    let given = d
        .given
        .iter()
        .map(|&fd| high(fd))
        .collect::<Result<Vec<_>, _>>()
        .context("process", || "duplicating the given descriptors".into())?;
    let mut sources = vec![stdin];
    sources.extend(std::iter::repeat_n(null, (d.first - 1).max(0) as usize));
    sources.extend(given);
    for (target, source) in sources.iter().enumerate() {
        // SAFETY: both are open descriptors of this process; dup2 leaves the
        // target without FD_CLOEXEC, so it survives exec.
        if unsafe { libc::dup2(*source, target as RawFd) } < 0 {
            return Err(SetupError::new(
                "process",
                format!("dup2 {source} -> {target}: {}", Errno::last()),
            ));
        }
    }
    // Everything else: init's descriptors, the host's, the high copies. A
    // file operation does not exec, so FD_CLOEXEC alone would not do.
    close_from(sources.len() as RawFd, d.keep);
    Ok(())
}

/// Whether the permitted set (and so every other) is empty.
fn holds_no_capability() -> bool {
    // struct __user_cap_header_struct and two __user_cap_data_struct
    // {effective, permitted, inheritable}, as capget(2) version 3 fills them.
    let header: [u32; 2] = [0x2008_0522, 0];
    let mut data = [0u32; 6];
    // SAFETY: header and data have the layout capget(2) version 3 expects.
    let read = unsafe { libc::syscall(libc::SYS_capget, header.as_ptr(), data.as_mut_ptr()) };
    read == 0 && data[1] == 0 && data[4] == 0
}

/// Closes every descriptor from `low` up but `keep`.
pub(super) fn close_from(low: RawFd, keep: RawFd) {
    for (first, last) in [(low, keep - 1), (keep.max(low - 1) + 1, RawFd::MAX)] {
        if first <= last {
            // SAFETY: close_range only closes descriptors of this process.
            unsafe { libc::syscall(libc::SYS_close_range, first as u32, last as u32, 0u32) };
        }
    }
}

/// Empties the bounding set. A process that holds no capability (a
/// namespace-free sandbox's uid) cannot change it, and needs not: with
/// no_new_privs, nothing can give it back what it lacks; so a helper that
/// runs as root clears it before it takes the sandbox's uid.
pub(super) fn clear_bounding_set() -> Setup<()> {
    for cap in 0..=63 {
        // SAFETY: prctl with integer arguments only.
        if unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0) } != 0 {
            match Errno::last() {
                Errno::EINVAL => break, // past the last capability this kernel knows
                Errno::EPERM if holds_no_capability() => break,
                errno => {
                    return Err(SetupError::new(
                        "capabilities",
                        format!("dropping capability {cap} from the bounding set: {errno}"),
                    ))
                }
            }
        }
    }
    Ok(())
}

/// Clears the bounding and ambient sets, forbids gaining privileges through
/// exec (setuid bits, file capabilities), and empties every capability set.
fn drop_capabilities() -> Setup<()> {
    clear_bounding_set()?;
    // SAFETY: prctl with integer arguments only.
    unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        )
    };
    prctl::set_no_new_privs().context("capabilities", || "prctl(PR_SET_NO_NEW_PRIVS)".into())?;
    // struct __user_cap_header_struct { u32 version; int pid; } with
    // _LINUX_CAPABILITY_VERSION_3, then two {effective, permitted, inheritable}.
    let header: [u32; 2] = [0x2008_0522, 0];
    let data = [0u32; 6];
    // SAFETY: header and data have the layout capset(2) version 3 expects.
    if unsafe { libc::syscall(libc::SYS_capset, header.as_ptr(), data.as_ptr()) } != 0 {
        return Err(SetupError::new(
            "capabilities",
            format!("capset: {}", Errno::last()),
        ));
    }
    Ok(())
}

//! The program's process: a new session, stdin at /dev/null, every capability
//! gone for good, then exec of the interpreter with exactly the spec's env.

use std::ffi::CString;
use std::os::fd::{BorrowedFd, RawFd};

use nix::fcntl::{open, OFlag};
use nix::sys::prctl;
use nix::sys::resource::{setrlimit, Resource};
use nix::sys::signal::{sigprocmask, SigSet, SigmaskHow};
use nix::sys::stat::Mode;
use nix::unistd::{chdir, dup2_stdin, execve, setsid};

use super::{Context, Reporter, Setup};
use crate::protocol::{Event, Spec, SANDBOX_HOME};

/// `stdin`: the program's stdin instead of /dev/null (a pooled sandbox's
/// code socket).
pub fn run(spec: &Spec, reporter: &Reporter, cgroup_limits: bool, stdin: Option<RawFd>) -> ! {
    let flags = match cgroup_limits {
        true => &[][..],
        false => &spec.flags_fallback[..],
    };
    let error = match prepare(spec, cgroup_limits, reporter, stdin).and_then(|()| exec(spec, flags))
    {
        Err(e) => e,
        Ok(never) => match never {},
    };
    reporter.send(&Event::Failed {
        layer: error.layer.into(),
        message: error.message,
    });
    // SAFETY: _exit skips atexit handlers that belong to the helper, not to us.
    unsafe { libc::_exit(127) }
}

fn prepare(
    spec: &Spec,
    cgroup_limits: bool,
    reporter: &Reporter,
    stdin: Option<RawFd>,
) -> Setup<()> {
    reset_signals()?;
    if let Some(fd) = stdin {
        // SAFETY: init passed a descriptor it keeps open across the fork.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        dup2_stdin(fd).context("process", || "stdin from the code socket".into())?;
    }
    // Nothing of init's or the host's but stdio; the report socket closes at exec.
    close_from(3, reporter.as_raw_fd());
    // A new session: no controlling terminal to push keystrokes into (TIOCSTI).
    setsid().context("process", || "setsid".into())?;
    if stdin.is_none() {
        let null = open(
            "/dev/null",
            OFlag::O_RDONLY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .context("process", || "opening /dev/null".into())?;
        dup2_stdin(&null).context("process", || "stdin from /dev/null".into())?;
    }
    chdir(SANDBOX_HOME).context("process", || format!("chdir {SANDBOX_HOME}"))?;
    limits(spec, cgroup_limits)?;
    drop_capabilities()?;
    super::landlock::restrict(spec)?;
    super::seccomp::install(spec)
}

/// The signal state of a fresh process: nothing blocked, nothing ignored.
/// Ignored signals survive exec, and the helper inherits Node's (SIGXFSZ) and
/// Rust's (SIGPIPE).
pub(super) fn reset_signals() -> Setup<()> {
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

/// Closes every descriptor from `low` up but `keep`.
pub(super) fn close_from(low: RawFd, keep: RawFd) {
    for (first, last) in [(low, keep - 1), (keep + 1, RawFd::MAX)] {
        if first <= last {
            // SAFETY: close_range only closes descriptors of this process.
            unsafe { libc::syscall(libc::SYS_close_range, first as u32, last as u32, 0u32) };
        }
    }
}

/// Per-process limits. Where the memory and pids cgroups hold the sandbox they
/// bound it exactly and count what was hit; elsewhere RLIMIT_NPROC (counted per
/// user namespace, so for this sandbox alone) and RLIMIT_AS stand in.
pub(super) fn limits(spec: &Spec, cgroup_limits: bool) -> Setup<()> {
    let mut limits = vec![
        (Resource::RLIMIT_CORE, 0, "RLIMIT_CORE"),
        (Resource::RLIMIT_NOFILE, spec.open_files, "RLIMIT_NOFILE"),
        (Resource::RLIMIT_CPU, spec.cpu_seconds, "RLIMIT_CPU"),
    ];
    if !cgroup_limits {
        limits.push((Resource::RLIMIT_NPROC, spec.processes, "RLIMIT_NPROC"));
        if let Some(bytes) = spec.address_space_fallback {
            limits.push((Resource::RLIMIT_AS, bytes, "RLIMIT_AS"));
        }
    }
    for (resource, value, name) in limits {
        // RLIMIT_CPU: SIGXCPU at the soft limit says why; SIGKILL a second later.
        let hard = if name == "RLIMIT_CPU" {
            value + 1
        } else {
            value
        };
        setrlimit(resource, value, hard).context("limits", || format!("{name} = {value}"))?;
    }
    Ok(())
}

/// Clears the bounding and ambient sets, forbids gaining privileges through
/// exec (setuid bits, file capabilities), and empties every capability set.
pub(super) fn drop_capabilities() -> Setup<()> {
    for cap in 0..=63 {
        // SAFETY: prctl with integer arguments only.
        if unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0) } != 0 {
            if nix::errno::Errno::last() == nix::errno::Errno::EINVAL {
                break; // past the last capability this kernel knows
            }
            return Err(super::SetupError::new(
                "capabilities",
                format!(
                    "dropping capability {cap} from the bounding set: {}",
                    nix::errno::Errno::last()
                ),
            ));
        }
    }
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
        return Err(super::SetupError::new(
            "capabilities",
            format!("capset: {}", nix::errno::Errno::last()),
        ));
    }
    Ok(())
}

/// Execs the spec's program with `flags` after its `argv[0]`.
pub(super) fn exec(spec: &Spec, flags: &[String]) -> Setup<std::convert::Infallible> {
    let cstr = |s: &str| CString::new(s).context("exec", || "argument contains a NUL byte".into());
    let (name, args) = spec
        .argv
        .split_first()
        .ok_or_else(|| super::SetupError::new("exec", "empty argv"))?;
    let argv = std::iter::once(name)
        .chain(flags)
        .chain(args)
        .map(|a| cstr(a))
        .collect::<Setup<Vec<_>>>()?;
    let env = spec
        .env
        .iter()
        .map(|(k, v)| cstr(&format!("{k}={v}")))
        .collect::<Setup<Vec<_>>>()?;
    let program = cstr(&spec.program.to_string_lossy())?;
    execve(&program, &argv, &env).context("exec", || {
        format!("cannot start {}", spec.program.display())
    })
}

//! The program's process: a new session, stdin at /dev/null, every capability
//! gone for good, then exec of the interpreter with exactly the spec's env.

use std::ffi::CString;

use nix::fcntl::{open, OFlag};
use nix::sys::prctl;
use nix::sys::resource::{setrlimit, Resource};
use nix::sys::stat::Mode;
use nix::unistd::{chdir, dup2_stdin, execve, setsid};

use super::{Context, Reporter, Setup};
use crate::protocol::{Event, Spec, SANDBOX_HOME};

pub fn run(spec: &Spec, reporter: &Reporter) -> ! {
    let error = match prepare().and_then(|()| exec(spec)) {
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

fn prepare() -> Setup<()> {
    // A new session: no controlling terminal to push keystrokes into (TIOCSTI).
    setsid().context("process", || "setsid".into())?;
    let null = open(
        "/dev/null",
        OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .context("process", || "opening /dev/null".into())?;
    dup2_stdin(&null).context("process", || "stdin from /dev/null".into())?;
    chdir(SANDBOX_HOME).context("process", || format!("chdir {SANDBOX_HOME}"))?;
    setrlimit(Resource::RLIMIT_CORE, 0, 0).context("limits", || "RLIMIT_CORE".into())?;
    drop_capabilities()?;
    super::landlock::restrict()?;
    super::seccomp::install()
}

/// Clears the bounding and ambient sets, forbids gaining privileges through
/// exec (setuid bits, file capabilities), and empties every capability set.
fn drop_capabilities() -> Setup<()> {
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

fn exec(spec: &Spec) -> Setup<std::convert::Infallible> {
    let cstr = |s: &str| CString::new(s).context("exec", || "argument contains a NUL byte".into());
    let argv = spec
        .argv
        .iter()
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

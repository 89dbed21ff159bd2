//! The job's process in a one-shot or pooled sandbox: confined (see
//! `confine`), then exec of the interpreter with exactly the job's env.

use std::ffi::CString;
use std::os::fd::RawFd;

use nix::unistd::execve;

use super::confine::{Confinement, Descriptors, Landlock, ProgramLimits};
use super::{Context, Reporter, Setup};
use crate::protocol::{Job, Program};

/// Runs in the child init forked: never returns. `stdin`: the program's
/// stdin instead of /dev/null (a pooled sandbox's code socket).
pub(super) fn run(
    confinement: Confinement<'_>,
    job: &Job,
    reporter: &Reporter,
    stdin: Option<RawFd>,
) -> ! {
    let flags = match confinement.cgroup_limits {
        true => &[][..],
        false => &job.program.flags_fallback[..],
    };
    let descriptors = Descriptors {
        stdin,
        given: &[1, 2],
        first: 1,
        keep: reporter.as_raw_fd(),
    };
    let error = match confinement
        .apply(
            descriptors,
            ProgramLimits {
                cpu_seconds: job.cpu_seconds,
                address_space: confinement.shape.limits.address_space_fallback,
            },
            Landlock::Apply,
        )
        .and_then(|()| {
            let program = Program {
                env: confinement.env(&job.program.env),
                ..job.program.clone()
            };
            exec(&program, flags)
        }) {
        Err(e) => e,
        Ok(never) => match never {},
    };
    reporter.failed(error);
    // SAFETY: _exit skips atexit handlers that belong to the helper, not to us.
    unsafe { libc::_exit(127) }
}

/// Execs `program` with `flags` after its `argv[0]`.
pub(super) fn exec(program: &Program, flags: &[String]) -> Setup<std::convert::Infallible> {
    let cstr = |s: &str| CString::new(s).context("exec", || "argument contains a NUL byte".into());
    let (name, args) = program
        .argv
        .split_first()
        .ok_or_else(|| super::SetupError::new("exec", "empty argv"))?;
    let argv = std::iter::once(name)
        .chain(flags)
        .chain(args)
        .map(|a| cstr(a))
        .collect::<Setup<Vec<_>>>()?;
    let env = program
        .env
        .iter()
        .map(|(k, v)| cstr(&format!("{k}={v}")))
        .collect::<Setup<Vec<_>>>()?;
    let path = cstr(&program.path.to_string_lossy())?;
    execve(&path, &argv, &env).context("exec", || {
        format!("cannot start {}", program.path.display())
    })
}

//! The job's process in a one-shot or pooled sandbox: confined (see
//! `confine`), then exec of the interpreter with exactly the job's env.

use std::ffi::CString;
use std::os::fd::{AsRawFd, RawFd};

use nix::fcntl::{open, OFlag};
use nix::sys::stat::Mode;
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
            let program = match job.program.exec_on_go {
                true => wait_for_go(&job.program)?,
                false => job.program.clone(),
            };
            let program = Program {
                env: confinement.env(&program.env),
                ..program
            };
            match super::forked::program() {
                Some(forked) => super::forked::become_the_program(forked, &program),
                None => exec(&program, flags),
            }
        }) {
        Err(e) => e,
        Ok(never) => match never {},
    };
    reporter.failed(error);
    // SAFETY: _exit skips atexit handlers that belong to the helper, not to us.
    unsafe { libc::_exit(127) }
}

/// A warm program that execs on its go: says it is ready on its stdin (the
/// code socket), reads the go's env and code there to EOF (init closes it),
/// puts /dev/null in its place, and returns `program` with the code as its
/// last argument and the env added, as the cold job would have them. EOF
/// without a go: the pool dropped the sandbox.
fn wait_for_go(program: &Program) -> Setup<Program> {
    use std::io::{Read, Write};
    use std::os::fd::FromRawFd;

    // SAFETY: fd 0 is the code socket (confine made it stdin); ManuallyDrop
    // leaves it to the dup2 below.
    let mut socket = std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(0) });
    socket
        .write_all(b"r")
        .context("go", || "cannot say ready".into())?;
    let mut bytes = Vec::new();
    socket
        .read_to_end(&mut bytes)
        .context("go", || "cannot read the code".into())?;
    if bytes.is_empty() {
        // SAFETY: _exit skips atexit handlers that belong to the helper.
        unsafe { libc::_exit(0) }
    }
    let (env, code) = crate::protocol::parse_payload(&bytes)
        .ok_or_else(|| super::SetupError::new("go", "malformed code"))?;
    let null = open(
        "/dev/null",
        OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .context("go", || "cannot open /dev/null".into())?;
    // SAFETY: both are open descriptors of this process; dup2 closes the
    // socket and leaves fd 0 without FD_CLOEXEC, so it survives exec.
    if unsafe { libc::dup2(null.as_raw_fd(), 0) } < 0 {
        return Err(super::SetupError::new(
            "go",
            format!("dup2 /dev/null -> 0: {}", nix::errno::Errno::last()),
        ));
    }
    let mut merged: std::collections::BTreeMap<String, String> =
        program.env.iter().cloned().collect();
    merged.extend(env);
    let mut argv = program.argv.clone();
    if let Some(last) = argv.last_mut() {
        *last = code;
    }
    Ok(Program {
        argv,
        env: merged.into_iter().collect(),
        ..program.clone()
    })
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

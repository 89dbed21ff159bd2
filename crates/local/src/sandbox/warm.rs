//! Init of a pooled sandbox. Its root built as for a one-shot run, it
//! starts the interpreter at once, confined as ever, but with its stdin on a
//! socket whose other end init holds: the interpreter runs a small bootstrap
//! (`pool::bootstrap`) that writes one byte on it when it is ready, then
//! blocks reading its code (bash's sandbox starts no interpreter: its
//! confined process does the same itself and execs `bash -c CODE` then, see
//! `exec::run`). Init reports the sandbox ready on that byte.
//! When the host sends the [`Go`] (the code, env, files, CPU limit), init
//! writes the files, sets the CPU limit, sends the code and closes its end,
//! then reaps and reports as a one-shot init does. One go per sandbox: init
//! exits when the program ends, and the pid namespace goes with it.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::net::UnixStream;

use nix::sys::prctl;
use nix::unistd::{fork, ForkResult, Pid};

use super::confine::Confinement;
use super::{exec, init, workfiles, Reporter, SetupError};
use crate::protocol::{payload, Event, Go, Job};

pub(super) fn main(confinement: Confinement<'_>, job: &Job, reporter: &Reporter) -> i32 {
    // Both ends close-on-exec; the program gets its end as stdin (dup2).
    let (mut code, program_end) = match UnixStream::pair() {
        Ok(pair) => pair,
        Err(e) => return reporter.failed(SetupError::new("process", format!("socketpair: {e}"))),
    };
    // The program (same uid, no capabilities) must not be able to ptrace init.
    let _ = prctl::set_dumpable(false);
    // SAFETY: init is single-threaded; the child only sets itself up and execs.
    let program = match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            exec::run(confinement, job, reporter, Some(program_end.as_raw_fd()))
        }
        Ok(ForkResult::Parent { child }) => child,
        Err(e) => return reporter.failed(SetupError::new("pid namespace", format!("fork: {e}"))),
    };
    drop(program_end);
    // Ready when the bootstrap says so: the interpreter has started (its
    // limits are set, so the go's CPU limit comes after them) and waits. EOF
    // instead: it died on the way (having reported why, if it could).
    let mut byte = [0u8; 1];
    if !matches!(code.read(&mut byte), Ok(1)) {
        return 1;
    }
    reporter.send(&Event::Ready);
    // The go, or EOF when the pool drops this sandbox: then init exits and
    // takes the waiting interpreter with it.
    let Some(go) = read_go() else {
        return 0;
    };
    if let Err(e) = workfiles::write(&go.work, confinement.layout) {
        return reporter.failed(e);
    }
    if let Some(seconds) = go.cpu_seconds {
        if let Err(e) = cpu_limit(program, seconds) {
            return reporter.failed(e);
        }
    }
    // A program that died before its go makes this fail with EPIPE (init
    // ignores SIGPIPE, as the helper it was cloned from); it is reported as
    // it ended.
    let _ = code.write_all(&payload(&go.env, &go.code));
    drop(code);
    init::wait_program(&go.work, &confinement, reporter, program)
}

/// The go, read to EOF from the socket to the host (fd 0); `None` if the
/// host closed it without one.
fn read_go() -> Option<Go> {
    // SAFETY: fd 0 is the socket to the host, open in init as in the helper;
    // ManuallyDrop leaves it open.
    let mut socket = std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(0) });
    let mut bytes = Vec::new();
    socket.read_to_end(&mut bytes).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// RLIMIT_CPU of the waiting program, now that the call's limit is known.
fn cpu_limit(program: Pid, seconds: u64) -> Result<(), SetupError> {
    let limit = libc::rlimit {
        rlim_cur: seconds,
        rlim_max: seconds + 1,
    };
    // SAFETY: prlimit reads `limit` and writes nothing (no old limit asked).
    let done = unsafe {
        libc::prlimit(
            program.as_raw(),
            libc::RLIMIT_CPU,
            &limit,
            std::ptr::null_mut(),
        )
    };
    if done != 0 {
        return Err(SetupError::new(
            "limits",
            format!("RLIMIT_CPU = {seconds}: {}", nix::errno::Errno::last()),
        ));
    }
    Ok(())
}

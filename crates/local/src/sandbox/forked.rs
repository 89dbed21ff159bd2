//! The helper inside the Python fork server (`crate::fork_server`). The
//! server's interpreter calls [`serve_forks`] once and stays in it: for each
//! request it forks, and the child becomes one sandbox's helper, running the
//! same code as `e2b-sandbox` (so the same namespaces or tier, uid, cgroups,
//! limits, Landlock and seccomp). Only the sandbox's program differs: where
//! it would exec the interpreter, it returns into the one it already is,
//! through the server's callback, confined.
//!
//! The loop is here rather than in Python so that the server touches none of
//! the interpreter's memory between forks: every page a parent writes after
//! a fork is a page the kernel copies.

use std::ffi::CString;
use std::os::fd::RawFd;

use nix::sys::signal::{signal, SigHandler, Signal};
use nix::sys::socket::{recvmsg, send, ControlMessageOwned, MsgFlags};
use nix::unistd::{fork, ForkResult};

use super::{Context, Setup, SetupError};
use crate::protocol::Program;

/// What a forked helper runs as its program: the interpreter it already
/// is, given the program's complete environment (`KEY=VALUE` entries, each
/// ending in a NUL). It never returns.
pub type ForkedProgram = extern "C" fn(env: *const u8, len: usize);

/// What the library gives back before the program runs: memory the
/// helper's code allocated from, which the program does not use.
pub type Release = extern "C" fn();

/// The program to run, what to release first, and the interpreter's
/// process name.
pub(super) struct Forked {
    run: ForkedProgram,
    release: Release,
    name: CString,
}

static PROGRAM: std::sync::OnceLock<Forked> = std::sync::OnceLock::new();

/// Set in a forked helper: what it runs where it would exec the interpreter.
pub(super) fn program() -> Option<&'static Forked> {
    PROGRAM.get()
}

/// The fork server's loop, on `control` (a SOCK_SEQPACKET socket to the
/// host): each message carries three descriptors, the helper's 0, 1 and 2;
/// the answer is the forked helper's pid. Returns when the host closes the
/// socket, once every helper forked has ended. The caller ignores SIGCHLD
/// (the kernel reaps the helpers) and is single-threaded.
pub fn serve_forks(control: RawFd, program: ForkedProgram, release: Release) -> i32 {
    // Where sandboxes share its uid (Node not root, no namespaces), their
    // programs must not reach into the server's memory through /proc (Landlock
    // denies it already; this does not depend on it). Its helpers are
    // dumpable again, as started ones are.
    let _ = nix::sys::prctl::set_dumpable(false);
    let _ = PROGRAM.set(Forked {
        run: program,
        release,
        name: process_name(),
    });
    let mut space = nix::cmsg_space!([RawFd; 3]);
    loop {
        let mut byte = [0u8; 1];
        let mut iov = [std::io::IoSliceMut::new(&mut byte)];
        let fds: Vec<RawFd> = match recvmsg::<()>(
            control,
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        ) {
            Ok(message) if message.bytes == 0 => break,
            Ok(message) => match message.cmsgs() {
                Ok(cmsgs) => cmsgs
                    .flat_map(|c| match c {
                        ControlMessageOwned::ScmRights(fds) => fds,
                        _ => Vec::new(),
                    })
                    .collect(),
                Err(_) => Vec::new(),
            },
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => break,
        };
        let answer = match fds[..] {
            [stdin, stdout, stderr] => fork_helper([stdin, stdout, stderr]),
            _ => "error: three descriptors expected".into(),
        };
        for fd in fds {
            // SAFETY: descriptors received just now, owned by this loop.
            unsafe { libc::close(fd) };
        }
        if send(control, answer.as_bytes(), MsgFlags::empty()).is_err() {
            break;
        }
    }
    // Retired: with SIGCHLD ignored, wait returns once every child has ended.
    // SAFETY: waits for any child, stores no status.
    while unsafe { libc::wait(std::ptr::null_mut()) } >= 0 {}
    0
}

/// Forks one helper with `fds` as its 0, 1 and 2; the answer to send.
fn fork_helper(fds: [RawFd; 3]) -> String {
    // SAFETY: the server is single-threaded; the child only sets up its
    // descriptors and signals and runs the helper, and never returns here.
    match unsafe { fork() } {
        Ok(ForkResult::Parent { child }) => child.as_raw().to_string(),
        Err(e) => format!("error: fork: {e}"),
        Ok(ForkResult::Child) => {
            let status = match become_a_helper(fds) {
                Ok(()) => super::main(),
                Err(e) => {
                    eprintln!("e2b-sandbox: {}: {}", e.layer, e.message);
                    2
                }
            };
            // SAFETY: _exit skips the interpreter's atexit handlers.
            unsafe { libc::_exit(status) }
        }
    }
}

/// A forked helper's start: its descriptors as a spawned helper has them,
/// the default signal handling the server changed, dumpable, and the
/// helper's name (its init's /proc/1/comm, inside), as `e2b-sandbox` would
/// have.
fn become_a_helper(fds: [RawFd; 3]) -> Setup<()> {
    for (target, fd) in fds.into_iter().enumerate() {
        // SAFETY: received descriptors, duplicated onto 0, 1, 2 (without
        // close-on-exec, as a spawned helper's are).
        if unsafe { libc::dup2(fd, target as RawFd) } < 0 {
            return Err(SetupError::new(
                "fork server",
                format!("dup2: {}", nix::errno::Errno::last()),
            ));
        }
    }
    super::confine::close_from(3, -1);
    for sig in [Signal::SIGCHLD, Signal::SIGINT] {
        // SAFETY: restores the default disposition; no handler is installed.
        unsafe { signal(sig, SigHandler::SigDfl) }
            .context("fork server", || format!("resetting {sig}"))?;
    }
    nix::sys::prctl::set_dumpable(true).context("fork server", || "PR_SET_DUMPABLE".into())?;
    nix::sys::prctl::set_name(c"e2b-sandbox").context("fork server", || "PR_SET_NAME".into())
}

/// This process's name (`/proc/self/comm`).
fn process_name() -> CString {
    let mut name = [0u8; 17];
    // SAFETY: PR_GET_NAME writes at most 16 bytes, NUL-terminated, into `name`.
    unsafe { libc::prctl(libc::PR_GET_NAME, name.as_mut_ptr(), 0, 0, 0) };
    std::ffi::CStr::from_bytes_until_nul(&name)
        .map(CString::from)
        .unwrap_or_default()
}

/// The fork server's program, confined as an exec'd one is: only the
/// interpreter's own start is skipped, and what exec would do is done here.
/// A failure past this point is no longer reported (the report socket is
/// closed): the program ends as Python would.
pub(super) fn become_the_program(
    forked: &Forked,
    program: &Program,
) -> Setup<std::convert::Infallible> {
    if program.exec_on_go || program.argv.first().map(String::as_str) != Some("python3") {
        return Err(SetupError::new(
            "fork server",
            "the fork server runs Python programs only",
        ));
    }
    // Init made itself not dumpable; exec would undo that (or /proc/self
    // would not be the program's own), and name the process after the binary.
    nix::sys::prctl::set_dumpable(true).context("fork server", || "PR_SET_DUMPABLE".into())?;
    nix::sys::prctl::set_name(&forked.name).context("fork server", || "PR_SET_NAME".into())?;
    // Exec would close the close-on-exec descriptors, the report socket
    // among them: everything but stdin, stdout and stderr goes.
    super::confine::close_from(3, -1);
    let mut block = Vec::new();
    for (key, value) in &program.env {
        block.extend_from_slice(format!("{key}={value}").as_bytes());
        block.push(0);
    }
    // The block goes to the interpreter's heap: the library's is released.
    // SAFETY: a fresh allocation of the block's size, filled before use.
    let env = unsafe {
        let env = libc::malloc(block.len().max(1)).cast::<u8>();
        if env.is_null() {
            return Err(SetupError::new("fork server", "out of memory"));
        }
        std::ptr::copy_nonoverlapping(block.as_ptr(), env, block.len());
        env
    };
    let size = block.len();
    std::mem::forget(block);
    (forked.release)();
    (forked.run)(env, size);
    Err(SetupError::new(
        "fork server",
        "the forked interpreter returned instead of exiting",
    ))
}

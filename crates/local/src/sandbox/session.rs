//! Init of a long-lived sandbox (`e2b-native serve`). It builds the root as
//! for a one-shot run, then stays up as pid 1 and serves the host's requests
//! on fd 3 (see [`crate::protocol::session`]): start a program with the pipes
//! the host sent, run a file operation, signal a process; it reaps everything
//! and reports how each program it started ended. When init exits (the host
//! closed the socket, or killed it) the kernel kills every process left.
//!
//! Every process it starts gets what the one-shot program gets (a new session,
//! stdin at /dev/null, the limits, no capabilities, no_new_privs, seccomp),
//! except that Landlock is applied once, to init itself, before anything
//! runs: all processes of the sandbox then share one Landlock domain, so that
//! one command can signal another's process, as in E2B's sandboxes, while none
//! can signal or reach anything outside the sandbox.

use std::collections::HashMap;
use std::io::IoSliceMut;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, FdFlag, OFlag};
use nix::sys::prctl;
use nix::sys::signal::{kill, sigprocmask, SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::socket::{recvmsg, send, ControlMessageOwned, MsgFlags};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{chdir, fork, pipe2, read, write, ForkResult, Pid};

use super::confine::{Confinement, Descriptors, Landlock, ProgramLimits};
use super::{exec, Context, Reporter, Setup};
use crate::protocol::session::{Reply, Request, CONTROL_FD, MAX_MESSAGE};
use crate::protocol::Program;

/// The most descriptors one request carries.
const MAX_FDS: usize = 8;

pub(super) fn main(confinement: Confinement<'_>, reporter: &Reporter) -> i32 {
    let init = super::landlock::restrict(confinement.shape, confinement.layout)
        .and_then(|()| Init::new(confinement));
    let mut init = match init {
        Ok(init) => init,
        Err(e) => return reporter.failed(e),
    };
    // The programs (same uid, no capabilities) must not be able to ptrace init.
    let _ = prctl::set_dumpable(false);
    init.reply(&Reply::Ready);
    init.serve()
}

struct Init<'a> {
    confinement: Confinement<'a>,
    control: OwnedFd,
    children: SignalFd,
    /// Started processes by pid, with the request that started them.
    running: HashMap<i32, u64>,
}

impl<'a> Init<'a> {
    fn new(confinement: Confinement<'a>) -> Setup<Self> {
        // SAFETY: fd 3 is the control socket the host passed; init owns it now.
        let control = unsafe { OwnedFd::from_raw_fd(CONTROL_FD) };
        fcntl(&control, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC))
            .context("session", || "control socket: FD_CLOEXEC".into())?;
        // SIGCHLD arrives through a descriptor, so that one poll serves both.
        let mut mask = SigSet::empty();
        mask.add(Signal::SIGCHLD);
        sigprocmask(SigmaskHow::SIG_BLOCK, Some(&mask), None)
            .context("session", || "blocking SIGCHLD".into())?;
        let children = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
            .context("session", || "signalfd".into())?;
        Ok(Init {
            confinement,
            control,
            children,
            running: HashMap::new(),
        })
    }

    fn reply(&self, reply: &Reply) {
        let bytes = serde_json::to_vec(reply).expect("replies serialize");
        loop {
            match send(self.control.as_raw_fd(), &bytes, MsgFlags::MSG_NOSIGNAL) {
                Err(Errno::EINTR) => continue,
                _ => return, // a host that is gone has nobody to tell
            }
        }
    }

    /// Serves until the host closes the socket.
    fn serve(&mut self) -> i32 {
        let mut buffer = vec![0u8; MAX_MESSAGE];
        loop {
            let mut fds = [
                libc::pollfd {
                    fd: self.control.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
                libc::pollfd {
                    fd: self.children.as_fd().as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
            ];
            // SAFETY: `fds` is a valid array of two pollfd for the call's duration.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
            if n < 0 {
                if Errno::last() == Errno::EINTR {
                    continue;
                }
                return 1;
            }
            if fds[1].revents != 0 {
                while let Ok(Some(_)) = self.children.read_signal() {}
                self.reap();
            }
            if fds[0].revents != 0 {
                match self.receive(&mut buffer) {
                    Received::Request(request, fds) => self.handle(request, fds),
                    Received::Nothing => {}
                    Received::Closed => return 0,
                }
            }
        }
    }

    fn receive(&self, buffer: &mut [u8]) -> Received {
        let mut space = nix::cmsg_space!([RawFd; MAX_FDS]);
        let mut fds = Vec::new();
        let (bytes, truncated) = {
            let mut iov = [IoSliceMut::new(buffer)];
            let message = match recvmsg::<()>(
                self.control.as_raw_fd(),
                &mut iov,
                Some(&mut space),
                MsgFlags::MSG_CMSG_CLOEXEC,
            ) {
                Ok(m) => m,
                Err(Errno::EINTR | Errno::EAGAIN) => return Received::Nothing,
                Err(_) => return Received::Closed,
            };
            if let Ok(cmsgs) = message.cmsgs() {
                for cmsg in cmsgs {
                    if let ControlMessageOwned::ScmRights(raw) = cmsg {
                        // SAFETY: the kernel just installed these descriptors for us.
                        fds.extend(
                            raw.into_iter()
                                .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }),
                        );
                    }
                }
            }
            let truncated = message
                .flags
                .intersects(MsgFlags::MSG_TRUNC | MsgFlags::MSG_CTRUNC);
            (message.bytes, truncated)
        };
        if bytes == 0 && fds.is_empty() {
            return Received::Closed;
        }
        if truncated {
            return Received::Nothing;
        }
        match serde_json::from_slice::<Request>(&buffer[..bytes]) {
            Ok(request) => Received::Request(request, fds),
            Err(_) => Received::Nothing,
        }
    }

    fn handle(&mut self, request: Request, fds: Vec<OwnedFd>) {
        match request {
            Request::Spawn {
                id,
                argv,
                env,
                cwd,
                cpu_seconds,
                address_space,
            } => {
                let confinement = self.confinement;
                let limits = ProgramLimits {
                    cpu_seconds,
                    address_space,
                };
                let started = self.start(&fds, 1, Some(limits), |errors| {
                    let env = confinement.env(&env);
                    let cwd = (!cwd.is_empty()).then(|| confinement.layout.resolve(&cwd));
                    let error = match exec_program(argv, env, cwd.as_deref()) {
                        Err(e) => e,
                        Ok(never) => match never {},
                    };
                    let _ = write(
                        &errors,
                        format!("{}: {}", error.layer, error.message).as_bytes(),
                    );
                    127
                });
                drop(fds);
                self.report(id, started);
            }
            Request::File { id, op } => {
                let layout = self.confinement.layout;
                let started = self.start(&fds, 3, None, |errors| {
                    // Set up: let the host go on while the operation runs.
                    drop(errors);
                    super::session_files::run(&op, layout)
                });
                drop(fds);
                self.report(id, started);
            }
            Request::Signal { pid, signal, group } => {
                let Ok(signal) = Signal::try_from(signal) else {
                    return;
                };
                // Only processes init started, never init itself.
                if pid > 1 && self.running.contains_key(&pid) {
                    let target = if group { -pid } else { pid };
                    let _ = kill(Pid::from_raw(target), signal);
                }
            }
        }
    }

    fn report(&mut self, id: u64, started: Result<Pid, String>) {
        match started {
            Ok(pid) => {
                self.running.insert(pid.as_raw(), id);
                self.reply(&Reply::Started {
                    id,
                    pid: pid.as_raw(),
                });
            }
            Err(message) => self.reply(&Reply::Refused { id, message }),
        }
    }

    /// Forks a child that confines itself and then runs `run`, which returns
    /// an exit status (a program's `run` execs and only returns on failure).
    /// The child says why it failed, or that it is set up, through a pipe
    /// that exec closes: init learns of a failed start before it replies.
    fn start(
        &self,
        fds: &[OwnedFd],
        first: RawFd,
        limits: Option<ProgramLimits>,
        run: impl FnOnce(OwnedFd) -> i32,
    ) -> Result<Pid, String> {
        let (errors_rx, errors_tx) = pipe2(OFlag::O_CLOEXEC).map_err(|e| format!("pipe: {e}"))?;
        // SAFETY: init is single-threaded; the child only sets itself up and
        // then execs or runs a file operation and _exits.
        match unsafe { fork() } {
            Ok(ForkResult::Child) => {
                drop(errors_rx);
                // Above every descriptor the child sets up.
                let errors_tx = match fcntl(&errors_tx, FcntlArg::F_DUPFD_CLOEXEC(64)) {
                    // SAFETY: fcntl just returned this new descriptor.
                    Ok(fd) => unsafe { OwnedFd::from_raw_fd(fd) },
                    // SAFETY: _exit skips atexit handlers that belong to init.
                    Err(_) => unsafe { libc::_exit(127) },
                };
                let given: Vec<RawFd> = fds.iter().map(AsRawFd::as_raw_fd).collect();
                let descriptors = Descriptors {
                    stdin: None,
                    given: &given,
                    first,
                    keep: errors_tx.as_raw_fd(),
                };
                // A file operation runs no program of the caller's.
                let limits = limits.unwrap_or(ProgramLimits {
                    cpu_seconds: None,
                    address_space: self.confinement.shape.limits.address_space_fallback,
                });
                let confined = self
                    .confinement
                    .apply(descriptors, limits, Landlock::Inherited);
                let status = match confined {
                    Ok(()) => run(errors_tx),
                    Err(e) => {
                        let _ = write(&errors_tx, format!("{}: {}", e.layer, e.message).as_bytes());
                        127
                    }
                };
                // SAFETY: _exit skips atexit handlers that belong to init.
                unsafe { libc::_exit(status) }
            }
            Ok(ForkResult::Parent { child }) => {
                drop(errors_tx);
                let mut message = Vec::new();
                let mut chunk = [0u8; 512];
                loop {
                    match read(&errors_rx, &mut chunk) {
                        Ok(0) => break,
                        Ok(n) if message.len() < 4096 => message.extend_from_slice(&chunk[..n]),
                        Ok(_) => {}
                        Err(Errno::EINTR) => continue,
                        Err(_) => break,
                    }
                }
                if message.is_empty() {
                    Ok(child)
                } else {
                    // The child exits 127 and is reaped as an unknown pid.
                    Err(String::from_utf8_lossy(&message).into_owned())
                }
            }
            Err(e) => Err(format!("fork: {e}")),
        }
    }

    /// Reaps every child that ended and reports the ones init started.
    fn reap(&mut self) {
        loop {
            let (pid, code, signal) = match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) => (pid, Some(code), None),
                Ok(WaitStatus::Signaled(pid, signal, _)) => (pid, None, Some(signal as i32)),
                Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return,
                Ok(_) | Err(Errno::EINTR) => continue,
                Err(_) => return,
            };
            if let Some(id) = self.running.remove(&pid.as_raw()) {
                self.reply(&Reply::Ended { id, code, signal });
            }
        }
    }
}

enum Received {
    Request(Request, Vec<OwnedFd>),
    Nothing,
    Closed,
}

/// Execs `argv` (its first element found on the env's PATH) in `cwd`.
fn exec_program(
    argv: Vec<String>,
    env: Vec<(String, String)>,
    cwd: Option<&Path>,
) -> Setup<std::convert::Infallible> {
    if let Some(cwd) = cwd {
        chdir(cwd).map_err(|e| {
            super::SetupError::new(
                "cwd",
                format!("cannot use {} as the working directory: {e}", cwd.display()),
            )
        })?;
    }
    let Some(name) = argv.first() else {
        return Err(super::SetupError::new("exec", "empty command"));
    };
    let path = env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.as_str())
        .unwrap_or("/usr/local/bin:/usr/bin:/bin");
    let program = find_program(name, path)
        .ok_or_else(|| super::SetupError::new("exec", format!("{name}: command not found")))?;
    let program = Program {
        path: program.into(),
        argv,
        flags_fallback: Vec::new(),
        env,
        exec_on_go: false,
    };
    exec::exec(&program, &[])
}

fn find_program(name: &str, path: &str) -> Option<String> {
    if name.contains('/') {
        return Some(name.to_string());
    }
    path.split(':')
        .filter(|dir| !dir.is_empty())
        .map(|dir| format!("{dir}/{name}"))
        .find(|candidate| {
            let c = Path::new(candidate);
            c.is_file() && nix::unistd::access(c, nix::unistd::AccessFlags::X_OK).is_ok()
        })
}

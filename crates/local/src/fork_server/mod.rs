//! The Python fork server: one clean interpreter per pool, started once,
//! that never runs anything of a caller's; it only forks. Each fork becomes
//! one pooled sandbox's helper, running the helper's own code from
//! `libe2b_fork_server` (so the same namespaces or tier, uid, cgroups,
//! limits, Landlock and seccomp as a helper started from its binary), and
//! that sandbox's program is the forked interpreter itself, confined, instead
//! of a fresh one: it skips the interpreter's start (~8 ms of CPU), which
//! every refill of the pool otherwise pays. One use per sandbox, as ever.
//!
//! What a program can tell apart from a fresh interpreter (docs/fork-server.md):
//! its `/proc/self/cmdline` is the server's, `ctypes` is in `sys.modules`,
//! and its str hash secret is the server's.

use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use nix::sys::socket::{
    recv, send, sendmsg, setsockopt, socketpair, sockopt, AddressFamily, ControlMessage, MsgFlags,
    SockFlag, SockType,
};

use crate::protocol::Program;

/// The server's script, run as `python3 -u -c` with the pool's flags.
const ZYGOTE: &str = include_str!("zygote.py");

/// The library's file name, beside the helper.
const LIBRARY: &str = "libe2b_fork_server.so";

/// A server is retired (a fresh one started) after this many forks: every
/// child has the server's address layout, so an execution could learn that
/// of the others of the same server.
pub(crate) const FORKS_PER_SERVER: u32 = 256;

/// How long the server may take to start or to fork.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Spawns `command` from a thread that lives as long as this process: the
/// server's PR_SET_PDEATHSIG fires when the thread that spawned it ends,
/// and a runtime's blocking threads end when idle.
fn spawn_on_a_lasting_thread(command: Command) -> std::io::Result<Child> {
    type Job = (Command, std::sync::mpsc::Sender<std::io::Result<Child>>);
    static SPAWNER: std::sync::OnceLock<Mutex<std::sync::mpsc::Sender<Job>>> =
        std::sync::OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        let _ = std::thread::Builder::new()
            .name("e2b-fork-server-spawner".into())
            .spawn(move || {
                for (mut command, reply) in queue {
                    let _ = reply.send(command.spawn());
                }
            });
        Mutex::new(jobs)
    });
    let (reply, answer) = std::sync::mpsc::channel();
    let sent = spawner
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .send((command, reply));
    sent.map_err(|_| std::io::Error::other("the spawner thread is gone"))?;
    answer
        .recv()
        .map_err(|_| std::io::Error::other("the spawner thread is gone"))?
}

/// A running fork server.
pub(crate) struct ForkServer {
    control: Mutex<OwnedFd>,
    process: Mutex<Option<Child>>,
    forks: std::sync::atomic::AtomicU32,
}

impl ForkServer {
    /// Starts a server that runs `program` (the pool's Python template:
    /// its interpreter, flags and environment) with `bootstrap` as each
    /// sandbox's program. Blocking: call it off the runtime's threads.
    pub(crate) fn start(program: &Program, bootstrap: &str, helper: &Path) -> Result<Self, String> {
        let library = library_beside(helper)?;
        let (host_end, server_end) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .map_err(|e| format!("socketpair: {e}"))?;
        let timeout = nix::sys::time::TimeVal::new(TIMEOUT.as_secs() as i64, 0);
        setsockopt(&host_end, sockopt::ReceiveTimeout, &timeout)
            .map_err(|e| format!("SO_RCVTIMEO: {e}"))?;
        let mut command = Command::new(&program.path);
        let flags = program.argv.iter().skip(1).take_while(|a| *a != "-c");
        command
            .arg0(&program.argv[0])
            .args(flags)
            .args(["-c", ZYGOTE])
            .env_clear()
            .envs(program.env.iter().map(|(k, v)| (k, v)))
            .current_dir("/")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let fd = server_end.as_raw_fd();
        // SAFETY: between fork and exec, only async-signal-safe calls: the
        // control socket becomes fd 3, and the server dies with this process.
        unsafe {
            command.pre_exec(move || {
                crate::launch::keep_as(fd, 3)?;
                match libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) {
                    0 => Ok(()),
                    _ => Err(std::io::Error::last_os_error()),
                }
            });
        }
        let mut process = crate::registry::fork_server_spawn(|| spawn_on_a_lasting_thread(command))
            .map_err(|e| format!("cannot start {}: {e}", program.path.display()))?;
        drop(server_end);
        let handshake = send(
            host_end.as_raw_fd(),
            library.as_os_str().as_encoded_bytes(),
            MsgFlags::empty(),
        )
        .and_then(|_| {
            send(
                host_end.as_raw_fd(),
                bootstrap.as_bytes(),
                MsgFlags::empty(),
            )
        })
        .map_err(|e| e.to_string())
        .and_then(|_| reply(&host_end));
        match handshake {
            Ok(said) if said == "ready" => Ok(ForkServer {
                process: Mutex::new(Some({
                    // Read only if it fails to start: later writes fail, never block.
                    drop(process.stderr.take());
                    process
                })),
                control: Mutex::new(host_end),
                forks: Default::default(),
            }),
            other => {
                let _ = process.kill();
                let _ = process.wait();
                crate::registry::fork_server_ended(process.id() as i32);
                let mut why = String::new();
                if let Some(mut stderr) = process.stderr.take() {
                    let _ = stderr.read_to_string(&mut why);
                }
                Err(format!(
                    "the fork server did not start ({}){}",
                    other.err().unwrap_or_else(|| "no ready".into()),
                    match why.trim() {
                        "" => String::new(),
                        why => format!(": {why}"),
                    }
                ))
            }
        }
    }

    /// Forks a helper whose descriptors 0, 1 and 2 are `fds`; its pid.
    /// Blocking (a fork of the server: well under a millisecond).
    pub(crate) fn fork(&self, fds: [BorrowedFd<'_>; 3]) -> Result<i32, String> {
        self.forks
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let control = self.control.lock().unwrap_or_else(|p| p.into_inner());
        let raw = fds.map(|fd| fd.as_raw_fd());
        let rights = [ControlMessage::ScmRights(&raw)];
        sendmsg::<()>(
            control.as_raw_fd(),
            &[std::io::IoSlice::new(b"f")],
            &rights,
            MsgFlags::empty(),
            None,
        )
        .map_err(|e| format!("the fork server is gone ({e})"))?;
        let said = reply(&*control)?;
        said.parse::<i32>()
            .map_err(|_| format!("the fork server refused: {said}"))
    }

    /// Whether it has served its share of forks (see [`FORKS_PER_SERVER`]).
    pub(crate) fn retired(&self) -> bool {
        self.forks.load(std::sync::atomic::Ordering::Relaxed) >= FORKS_PER_SERVER
    }

    /// Whether its process still runs (one that ended is reaped here, and
    /// its pid is no longer the registry's to signal).
    pub(crate) fn alive(&self) -> bool {
        let mut process = self.process.lock().unwrap_or_else(|p| p.into_inner());
        let Some(child) = process.as_mut() else {
            return false;
        };
        match child.try_wait() {
            Ok(None) => true,
            _ => {
                crate::registry::fork_server_ended(child.id() as i32);
                *process = None;
                false
            }
        }
    }
}

impl ForkServer {
    /// Retires it and waits until it has ended (after the sandboxes it
    /// forked). Blocking.
    pub(crate) fn retire(mut self) {
        let process = self.process.get_mut().unwrap_or_else(|p| p.into_inner());
        if let Some(mut process) = process.take() {
            drop(self);
            let _ = process.wait();
            crate::registry::fork_server_ended(process.id() as i32);
        }
    }
}

impl Drop for ForkServer {
    /// Closing the control socket retires the server: it waits for the
    /// sandboxes it forked (their helpers die with it), then exits; a
    /// thread reaps it.
    fn drop(&mut self) {
        let process = self.process.get_mut().unwrap_or_else(|p| p.into_inner());
        if let Some(mut process) = process.take() {
            let _ = std::thread::Builder::new()
                .name("e2b-fork-server-reaper".into())
                .spawn(move || {
                    let _ = process.wait();
                    crate::registry::fork_server_ended(process.id() as i32);
                });
        }
    }
}

fn reply(control: &impl AsFd) -> Result<String, String> {
    let mut buffer = [0u8; 256];
    let n = recv(control.as_fd().as_raw_fd(), &mut buffer, MsgFlags::empty())
        .map_err(|e| format!("no answer from the fork server ({e})"))?;
    if n == 0 {
        return Err("the fork server ended".into());
    }
    Ok(String::from_utf8_lossy(&buffer[..n]).into_owned())
}

/// The library sits beside the helper, as the build puts it.
fn library_beside(helper: &Path) -> Result<PathBuf, String> {
    let library = helper.with_file_name(LIBRARY);
    match library.is_file() {
        true => Ok(library),
        false => Err(format!(
            "{} is missing: Python's sandboxes start an interpreter each. Reinstall \
             e2b-native so that it sits beside the helper, or pass pool: {{ forkServer: false }}",
            library.display()
        )),
    }
}

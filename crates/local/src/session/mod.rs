//! A long-lived local sandbox, for `e2b-native serve` and sessions: the same helper, the
//! same namespaces, root, limits and restrictions as a one-shot run, but init
//! stays up and starts programs on request, so that a sandbox keeps its files
//! (and its interpreters their state) from one request to the next.
//!
//! The host sends requests on a `SOCK_SEQPACKET` socket (the helper's fd 3)
//! together with the pipes the program will use (`SCM_RIGHTS`), so output
//! flows from the program straight to this process. Lifetime is bounded as
//! for one-shot runs: the sandbox is in the registry ([`crate::kill_all`]),
//! the helper dies with the thread that started it (`PR_SET_PDEATHSIG`) and
//! init with the helper, and killing init kills every process of the sandbox.
//! [`Session::kill`] and dropping the [`Session`] kill it; [`Session::gone`]
//! resolves once every process of it is gone and its cgroups are removed.

use std::collections::HashMap;
use std::io::{self, IoSlice};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use e2b_native_core::{CancellationToken, Error, Language, Limits};
use nix::fcntl::OFlag;
use nix::sys::socket::{
    recv, sendmsg, setsockopt, socketpair, sockopt, AddressFamily, ControlMessage, MsgFlags,
    SockFlag, SockType,
};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::pipe;
use tokio::sync::oneshot;

pub mod kernel;
mod local;

pub(crate) use local::create;
pub use local::interpreters;

use crate::interpreters::Interpreter;
use crate::launch::{self, Helper};
use crate::protocol::session::{
    EntryInfo, FileErrorKind, FileOp, FileReply, Reply, Request, CONTROL_FD, MAX_MESSAGE,
};
use crate::protocol::{Event, Isolation, Mode, Spec};
use crate::registry::Guard;

/// How long building a sandbox may take before it counts as failed.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// The largest status reply of a file operation (a big directory listing).
const MAX_STATUS: u64 = 64 << 20;

/// How to build a long-lived sandbox.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// The `e2b-sandbox` executable.
    pub helper: PathBuf,
    /// Disk, memory, processes and open files of the sandbox; `cpu_seconds`,
    /// if set, bounds each process.
    pub limits: Limits,
    /// The interpreters its programs use (shown when installed outside the
    /// system directories).
    pub interpreters: Vec<(Language, Interpreter)>,
    /// Its tier (see [`crate::LocalBackend::isolation`]).
    pub isolation: Isolation,
}

/// A program to start in the sandbox.
#[derive(Debug, Clone, Default)]
pub struct Command {
    /// `argv[0]` is found on the env's `PATH` unless it contains a `/`.
    pub argv: Vec<String>,
    /// The complete environment (nothing is inherited).
    pub env: Vec<(String, String)>,
    /// Working directory; empty for /home/user.
    pub cwd: String,
    /// Extra pipes, the program's fds 3, 4, ... in order.
    pub pipes: Vec<PipeDirection>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PipeDirection {
    /// The program reads; this process writes.
    ToProgram,
    /// The program writes; this process reads.
    FromProgram,
}

/// This process's end of an extra pipe.
#[derive(Debug)]
pub enum PipeEnd {
    Writer(pipe::Sender),
    Reader(pipe::Receiver),
}

/// A started program.
#[derive(Debug)]
pub struct Process {
    /// Its pid inside the sandbox.
    pub pid: i32,
    pub stdout: pipe::Receiver,
    pub stderr: pipe::Receiver,
    /// This process's ends of [`Command::pipes`], in order.
    pub pipes: Vec<PipeEnd>,
    /// Resolves when the program has ended.
    pub ended: Ended,
}

/// How a program ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    Code(i32),
    Signal(i32),
    /// The sandbox is gone: its programs went with it.
    SandboxGone,
}

/// The end of a program, to await.
#[derive(Debug)]
pub struct Ended(oneshot::Receiver<ExitStatus>);

impl std::future::Future for Ended {
    type Output = ExitStatus;
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<ExitStatus> {
        std::pin::Pin::new(&mut self.0)
            .poll(cx)
            .map(|r| r.unwrap_or(ExitStatus::SandboxGone))
    }
}

/// Why a request could not be carried out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionError {
    /// The sandbox is gone (killed, or it died).
    Gone,
    /// The program could not start: the message says why (a missing working
    /// directory, a command not found, a limit).
    Refused(String),
    /// The request itself is unusable (too large, NUL bytes).
    Invalid(String),
}

impl std::fmt::Display for SessionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SessionError::Gone => f.write_str("the sandbox is gone"),
            SessionError::Refused(m) | SessionError::Invalid(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for SessionError {}

/// A failed file operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileError {
    pub kind: FileErrorKind,
    pub message: String,
}

impl From<SessionError> for FileError {
    fn from(e: SessionError) -> Self {
        let kind = match e {
            SessionError::Invalid(_) => FileErrorKind::InvalidPath,
            _ => FileErrorKind::Other,
        };
        FileError {
            kind,
            message: e.to_string(),
        }
    }
}

impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// A file being uploaded: write its content, then [`Upload::finish`].
pub struct Upload {
    data: Option<pipe::Sender>,
    status: pipe::Receiver,
}

impl Upload {
    /// Writes a chunk. An error means the operation stopped reading (it
    /// failed): [`Upload::finish`] says why.
    pub async fn write(&mut self, chunk: &[u8]) -> io::Result<()> {
        match &mut self.data {
            Some(data) => data.write_all(chunk).await,
            None => Err(io::ErrorKind::BrokenPipe.into()),
        }
    }

    /// Ends the content and waits for the file's entry.
    pub async fn finish(mut self) -> Result<EntryInfo, FileError> {
        self.data = None;
        first_entry(read_status(&mut self.status).await?)
    }
}

struct Waiter {
    started: Option<oneshot::Sender<Result<i32, String>>>,
    ended: Option<oneshot::Sender<ExitStatus>>,
}

struct Inner {
    control: AsyncFd<OwnedFd>,
    waiters: Mutex<HashMap<u64, Waiter>>,
    next_id: AtomicU64,
    guard: Guard,
    gone: CancellationToken,
    /// The host uid/gid that owns the pipes, when this process is root.
    pipe_owner: Option<u32>,
    /// RLIMIT_CPU of every program started.
    cpu_seconds: Option<u64>,
    /// The sandbox's memory (RLIMIT_AS where no cgroup bounds it).
    memory_bytes: u64,
    /// Without namespaces, the sandbox's room, removed after it.
    _room: Option<crate::room::Room>,
    /// As root in the namespace tier, its host uid, freed after it.
    _host_uid: Option<crate::room::HostUid>,
}

/// A long-lived sandbox; dropping it kills it.
pub struct Session {
    inner: Arc<Inner>,
}

impl Session {
    /// Builds a sandbox and waits until its init serves requests.
    pub async fn start(config: SessionConfig) -> Result<Session, Error> {
        let (control, helper_control) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .map_err(|e| Error::Internal(format!("socketpair: {e}")))?;
        // Larger requests than the default buffer allows (best effort).
        let _ = setsockopt(&control, sockopt::SndBuf, &(MAX_MESSAGE * 2));
        let _ = setsockopt(&helper_control, sockopt::RcvBuf, &(MAX_MESSAGE * 2));
        let spec = spec(&config);
        let origin = launch::Origin::Binary {
            path: &config.helper,
            inherit: Some((helper_control, CONTROL_FD)),
        };
        let mut helper = launch::start(origin, &spec.shape, false)?;
        nix::fcntl::fcntl(&control, nix::fcntl::FcntlArg::F_SETFL(OFlag::O_NONBLOCK))
            .map_err(|e| Error::Internal(format!("control socket: {e}")))?;
        // SAFETY: the AsyncFd owns the socket, which stays open as long as it.
        let control = unsafe { AsyncFd::register(control) }
            .map_err(|e| Error::Internal(format!("control socket: {e}")))?;
        helper.send_spec(spec, false).await?;
        let Helper {
            child,
            guard,
            stderr,
            events,
            room,
            host_uid,
            ..
        } = helper;
        let pipe_owner = match (&room, &host_uid) {
            (Some(room), _) => room.spec.uid,
            (None, Some(uid)) => Some(uid.0),
            (None, None) => nix::unistd::geteuid()
                .is_root()
                .then_some(crate::DEFAULT_HOST_ID_WHEN_ROOT),
        };
        let inner = Arc::new(Inner {
            control,
            waiters: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            guard,
            gone: CancellationToken::new(),
            pipe_owner,
            cpu_seconds: config.limits.cpu_seconds,
            memory_bytes: config.limits.memory_bytes,
            _room: room,
            _host_uid: host_uid,
        });
        let session = Session {
            inner: inner.clone(),
        };
        let (ready_tx, ready_rx) = oneshot::channel();
        let isolation = config.isolation;
        tokio::spawn(supervise(inner, child, events, stderr, ready_tx, isolation));
        match tokio::time::timeout(START_TIMEOUT, ready_rx).await {
            Ok(Ok(Ok(()))) => Ok(session),
            Ok(Ok(Err(e))) => Err(e),
            Ok(Err(_)) => Err(Error::Internal(
                "the sandbox helper ended before the sandbox was ready".into(),
            )),
            Err(_) => Err(Error::IsolationUnavailable(format!(
                "the sandbox was not ready after {START_TIMEOUT:?}"
            ))),
        }
    }

    /// Kills every process of the sandbox; [`Session::gone`] then resolves.
    pub fn kill(&self) {
        self.inner.guard.kill();
    }

    /// Resolves once the sandbox is gone and cleaned up.
    pub async fn gone(&self) {
        self.inner.gone.cancelled().await
    }

    /// Starts `command` with fresh stdout/stderr pipes (and its extra pipes).
    pub async fn spawn(&self, command: Command) -> Result<Process, SessionError> {
        let (stdout, stdout_child) = self.pipe(PipeDirection::FromProgram)?;
        let (stderr, stderr_child) = self.pipe(PipeDirection::FromProgram)?;
        let mut child_ends: Vec<OwnedFd> = vec![stdout_child, stderr_child];
        let mut pipes = Vec::new();
        for direction in &command.pipes {
            let (host, child) = self.pipe(*direction)?;
            pipes.push(host);
            child_ends.push(child);
        }
        let (id, started, ended) = self.register(true);
        // Node reserves address space before it runs a line; others do not.
        let node = command.argv.first().is_some_and(|p| {
            std::path::Path::new(p)
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("node"))
        });
        let address_space = crate::shape::address_space(self.inner.memory_bytes, node);
        let request = Request::Spawn {
            id,
            argv: command.argv,
            env: command.env,
            cwd: command.cwd,
            cpu_seconds: self.inner.cpu_seconds,
            address_space,
        };
        let pid = self.request(id, &request, &child_ends, started).await?;
        let (PipeEnd::Reader(stdout), PipeEnd::Reader(stderr)) = (stdout, stderr) else {
            unreachable!("stdout and stderr come from the program")
        };
        Ok(Process {
            pid,
            stdout,
            stderr,
            pipes,
            ended: Ended(ended.expect("registered with an end")),
        })
    }

    /// Sends `signal` to the program `pid` started by [`Session::spawn`], or
    /// to its whole process group.
    pub async fn signal(&self, pid: i32, signal: i32, group: bool) -> Result<(), SessionError> {
        self.send(&Request::Signal { pid, signal, group }, &[])
            .await
    }

    /// Opens a file for reading: its entry, then its content.
    pub async fn read_file(&self, path: &str) -> Result<(EntryInfo, pipe::Receiver), FileError> {
        let (data, data_child) = self.pipe(PipeDirection::FromProgram)?;
        let (mut status, _) = self
            .file(FileOp::Read { path: path.into() }, Some(data_child))
            .await?;
        let entry = first_entry(read_status(&mut status).await?)?;
        let PipeEnd::Reader(data) = data else {
            unreachable!("the content comes from the operation")
        };
        Ok((entry, data))
    }

    /// Starts writing a file (parents created, content replaced).
    pub async fn write_file(&self, path: &str) -> Result<Upload, FileError> {
        let (data, data_child) = self.pipe(PipeDirection::ToProgram)?;
        let (status, _) = self
            .file(FileOp::Write { path: path.into() }, Some(data_child))
            .await?;
        let PipeEnd::Writer(data) = data else {
            unreachable!("the content goes to the operation")
        };
        Ok(Upload {
            data: Some(data),
            status,
        })
    }

    /// Runs a file operation without content (stat, list, mkdir, remove,
    /// rename) and returns the entries it reports.
    pub async fn file_op(&self, op: FileOp) -> Result<Vec<EntryInfo>, FileError> {
        let (mut status, _) = self.file(op, None).await?;
        read_status(&mut status).await
    }

    async fn file(
        &self,
        op: FileOp,
        data: Option<OwnedFd>,
    ) -> Result<(pipe::Receiver, i32), SessionError> {
        let (status, status_child) = self.pipe(PipeDirection::FromProgram)?;
        let mut child_ends = vec![status_child];
        child_ends.extend(data);
        let (id, started, _) = self.register(false);
        let pid = self
            .request(id, &Request::File { id, op }, &child_ends, started)
            .await?;
        let PipeEnd::Reader(status) = status else {
            unreachable!("the status comes from the operation")
        };
        Ok((status, pid))
    }

    fn register(
        &self,
        wait_end: bool,
    ) -> (
        u64,
        oneshot::Receiver<Result<i32, String>>,
        Option<oneshot::Receiver<ExitStatus>>,
    ) {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let (started_tx, started_rx) = oneshot::channel();
        let (ended_tx, ended_rx) = if wait_end {
            let (tx, rx) = oneshot::channel();
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        lock(&self.inner.waiters).insert(
            id,
            Waiter {
                started: Some(started_tx),
                ended: ended_tx,
            },
        );
        (id, started_rx, ended_rx)
    }

    /// Sends a request with the child's ends of its pipes (closed here once
    /// sent) and waits for init to start it.
    async fn request(
        &self,
        id: u64,
        request: &Request,
        child_ends: &[OwnedFd],
        started: oneshot::Receiver<Result<i32, String>>,
    ) -> Result<i32, SessionError> {
        let fds: Vec<RawFd> = child_ends.iter().map(|fd| fd.as_raw_fd()).collect();
        let sent = self.send(request, &fds).await;
        if let Err(e) = sent {
            lock(&self.inner.waiters).remove(&id);
            return Err(e);
        }
        tokio::select! {
            started = started => match started {
                Ok(Ok(pid)) => Ok(pid),
                Ok(Err(message)) => Err(SessionError::Refused(message)),
                Err(_) => Err(SessionError::Gone),
            },
            _ = self.inner.gone.cancelled() => Err(SessionError::Gone),
        }
    }

    async fn send(&self, request: &Request, fds: &[RawFd]) -> Result<(), SessionError> {
        if self.inner.gone.is_cancelled() {
            return Err(SessionError::Gone);
        }
        let bytes =
            serde_json::to_vec(request).map_err(|e| SessionError::Invalid(e.to_string()))?;
        if bytes.len() > MAX_MESSAGE {
            return Err(SessionError::Invalid(format!(
                "the request is {} bytes; at most {MAX_MESSAGE} fit (command, arguments and environment together)",
                bytes.len()
            )));
        }
        let rights = [ControlMessage::ScmRights(fds)];
        let cmsgs: &[ControlMessage] = if fds.is_empty() { &[] } else { &rights };
        loop {
            let mut ready = tokio::select! {
                ready = self.inner.control.writable() => ready.map_err(|_| SessionError::Gone)?,
                _ = self.inner.gone.cancelled() => return Err(SessionError::Gone),
            };
            let sent = ready.try_io(|fd| {
                sendmsg::<()>(
                    fd.as_raw_fd(),
                    &[IoSlice::new(&bytes)],
                    cmsgs,
                    MsgFlags::MSG_NOSIGNAL,
                    None,
                )
                .map_err(io::Error::from)
            });
            match sent {
                Ok(Ok(_)) => return Ok(()),
                Ok(Err(e)) if e.raw_os_error() == Some(libc::EMSGSIZE) => {
                    return Err(SessionError::Invalid(
                        "the request is larger than this host's socket buffers allow".into(),
                    ))
                }
                Ok(Err(_)) => return Err(SessionError::Gone),
                Err(_would_block) => continue,
            }
        }
    }

    /// A pipe: this process's end (non-blocking, for tokio) and the
    /// program's (blocking, owned by the sandbox's host uid).
    fn pipe(&self, direction: PipeDirection) -> Result<(PipeEnd, OwnedFd), SessionError> {
        let fail = |e: nix::errno::Errno| SessionError::Invalid(format!("pipe: {e}"));
        let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(fail)?;
        let (host, child) = match direction {
            PipeDirection::FromProgram => (read, write),
            PipeDirection::ToProgram => (write, read),
        };
        if let Some(id) = self.inner.pipe_owner {
            // Code may reopen its pipes (/dev/stdout): they must be its own.
            // SAFETY: fchown on a descriptor we own.
            unsafe { libc::fchown(child.as_raw_fd(), id, id) };
        }
        let io = |e: io::Error| SessionError::Invalid(format!("pipe: {e}"));
        Ok(match direction {
            PipeDirection::FromProgram => (
                PipeEnd::Reader(pipe::Receiver::from_owned_fd(host).map_err(io)?),
                child,
            ),
            PipeDirection::ToProgram => (
                PipeEnd::Writer(pipe::Sender::from_owned_fd(host).map_err(io)?),
                child,
            ),
        })
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.inner.guard.kill();
    }
}

async fn read_status(status: &mut pipe::Receiver) -> Result<Vec<EntryInfo>, FileError> {
    let mut bytes = Vec::new();
    status
        .take(MAX_STATUS)
        .read_to_end(&mut bytes)
        .await
        .map_err(|e| FileError {
            kind: FileErrorKind::Other,
            message: format!("reading the file operation's status: {e}"),
        })?;
    match serde_json::from_slice::<FileReply>(&bytes) {
        Ok(FileReply::Ok { entries }) => Ok(entries),
        Ok(FileReply::Err { kind, message }) => Err(FileError { kind, message }),
        // No reply: the operation died (killed, or its sandbox went away).
        Err(_) => Err(FileError {
            kind: FileErrorKind::Other,
            message: "the file operation ended without a result".into(),
        }),
    }
}

fn first_entry(entries: Vec<EntryInfo>) -> Result<EntryInfo, FileError> {
    entries.into_iter().next().ok_or_else(|| FileError {
        kind: FileErrorKind::Other,
        message: "the file operation returned no entry".into(),
    })
}

/// Follows the sandbox until it is gone: its init's replies, the helper's
/// events, the helper's exit; then cleans up.
async fn supervise(
    inner: Arc<Inner>,
    mut child: launch::Process,
    mut events: launch::Events,
    mut stderr: tokio::net::unix::pipe::Receiver,
    ready: oneshot::Sender<Result<(), Error>>,
    isolation: Isolation,
) {
    let mut ready = Some(ready);
    let mut events_open = true;
    let mut control_open = true;
    let mut helper_stderr = Vec::new();
    let mut stderr_chunk = [0u8; 4096];
    let mut stderr_open = true;
    let mut buffer = vec![0u8; 64 << 10];
    loop {
        tokio::select! {
            reply = receive(&inner.control, &mut buffer), if control_open => match reply {
                Some(Reply::Ready) => {
                    if let Some(ready) = ready.take() {
                        let _ = ready.send(Ok(()));
                    }
                }
                Some(Reply::Started { id, pid }) => {
                    let waiter = lock(&inner.waiters).get_mut(&id).and_then(|w| w.started.take());
                    if let Some(tx) = waiter {
                        let _ = tx.send(Ok(pid));
                    }
                    // A file operation has no end to wait for.
                    lock(&inner.waiters).retain(|_, w| w.started.is_some() || w.ended.is_some());
                }
                Some(Reply::Refused { id, message }) => {
                    if let Some(tx) = lock(&inner.waiters).remove(&id).and_then(|mut w| w.started.take()) {
                        let _ = tx.send(Err(message));
                    }
                }
                Some(Reply::Ended { id, code, signal }) => {
                    let status = match (code, signal) {
                        (Some(code), _) => ExitStatus::Code(code),
                        (None, Some(signal)) => ExitStatus::Signal(signal),
                        (None, None) => ExitStatus::SandboxGone,
                    };
                    if let Some(tx) = lock(&inner.waiters).remove(&id).and_then(|mut w| w.ended.take()) {
                        let _ = tx.send(status);
                    }
                }
                None => control_open = false,
            },
            event = events.next(&inner.guard), if events_open => match event {
                Some(Event::Failed { layer, message, errno }) => {
                    if let Some(ready) = ready.take() {
                        let _ = ready.send(Err(crate::run::not_built(&layer, &message, errno, isolation)));
                    }
                }
                Some(_) => {}
                None => events_open = false,
            },
            n = stderr.read(&mut stderr_chunk), if stderr_open => match n {
                Ok(n) if n > 0 => {
                    if helper_stderr.len() < 4096 {
                        helper_stderr.extend_from_slice(&stderr_chunk[..n]);
                    }
                }
                _ => stderr_open = false,
            },
            status = child.wait() => {
                if let Some(ready) = ready.take() {
                    let _ = ready.send(Err(Error::IsolationUnavailable(format!(
                        "the sandbox helper exited ({status}) before the sandbox was ready; stderr: {}",
                        String::from_utf8_lossy(&helper_stderr)
                    ))));
                }
                break;
            }
        }
    }
    inner.guard.reaped();
    std::mem::take(&mut events.cgroups).remove_now();
    // Every waiter learns the sandbox is gone (its sender is dropped).
    lock(&inner.waiters).clear();
    inner.gone.cancel();
}

/// One reply from init; `None` once the socket is closed.
async fn receive(control: &AsyncFd<OwnedFd>, buffer: &mut [u8]) -> Option<Reply> {
    loop {
        let mut ready = control.readable().await.ok()?;
        let received = ready.try_io(|fd| {
            recv(fd.as_fd().as_raw_fd(), buffer, MsgFlags::empty()).map_err(io::Error::from)
        });
        match received {
            Ok(Ok(0)) => return None,
            Ok(Ok(n)) => match serde_json::from_slice(&buffer[..n]) {
                Ok(reply) => return Some(reply),
                Err(_) => continue,
            },
            Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
            Ok(Err(_)) => return None,
            Err(_would_block) => continue,
        }
    }
}

fn spec(config: &SessionConfig) -> Spec {
    let interpreters: Vec<(Language, &Interpreter)> =
        config.interpreters.iter().map(|(l, i)| (*l, i)).collect();
    Spec {
        shape: crate::shape::shape(
            Mode::Session,
            &config.limits,
            &interpreters,
            config.isolation,
        ),
        job: None,
        room: None,
    }
}

/// Everything a non-blocking pipe holds right now (up to `max` bytes),
/// without waiting: output a program wrote before it exited is in the pipe
/// once its exit is known, whatever the reactor last saw.
pub fn drain(pipe: &impl AsRawFd, max: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buffer = [0u8; 64 << 10];
    while out.len() < max {
        // SAFETY: reads into a buffer we own, from a descriptor that stays
        // open for the call (tokio set it non-blocking).
        let n = unsafe { libc::read(pipe.as_raw_fd(), buffer.as_mut_ptr().cast(), buffer.len()) };
        match n {
            n if n > 0 => out.extend_from_slice(&buffer[..n as usize]),
            0 => break,
            _ if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted => {}
            _ => break,
        }
    }
    out
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

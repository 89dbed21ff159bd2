//! Starting the sandbox helper, for every kind of sandbox: the one place
//! that spawns it from its binary or has the fork server fork it, registers
//! it (so that it dies with this process), and says what to do when it
//! cannot start.

mod events;
mod process;

use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::process::Stdio;

use e2b_native_core::Error;
use tokio::io::AsyncWriteExt;
use tokio::net::unix::pipe;
use tokio::net::unix::OwnedWriteHalf;
use tokio::net::UnixStream;
use tokio::process::Command;

pub(crate) use events::Events;
pub(crate) use process::Process;

use crate::fork_server::ForkServer;

use crate::protocol::{Isolation, Shape, Spec};
use crate::registry::Guard;
use crate::room::{HostUid, Room};

/// A started helper: its process, its registry entry (which kills it when
/// dropped, as its tier needs: SIGKILL would stop a namespace-free helper
/// before it kills what runs below it), the program's output
/// (a session's programs have pipes of their own, and its helper writes
/// only failures to stderr), the socket to it, and, without namespaces, its
/// room on the host.
pub(crate) struct Helper {
    pub(crate) child: Process,
    pub(crate) guard: Guard,
    pub(crate) stdout: pipe::Receiver,
    pub(crate) stderr: pipe::Receiver,
    pub(crate) events: Events,
    pub(crate) to_helper: OwnedWriteHalf,
    pub(crate) room: Option<Room>,
    /// As root in the namespace tier, the sandbox's host uid of its own.
    pub(crate) host_uid: Option<HostUid>,
}

/// Where a helper comes from.
pub(crate) enum Origin<'a> {
    /// Its binary, with `inherit`: one more descriptor, at the number given
    /// (an install step's egress socket, a session's control socket).
    Binary {
        path: &'a Path,
        inherit: Option<(OwnedFd, RawFd)>,
    },
    /// A fork of the fork server (a pooled Python sandbox).
    Forked(&'a ForkServer),
}

/// Starts a helper for a sandbox of `shape`, with a socketpair as its
/// stdin. `pooled` registers it as a pool's (see `registry`).
pub(crate) fn start(origin: Origin<'_>, shape: &Shape, pooled: bool) -> Result<Helper, Error> {
    let isolation = shape.isolation;
    // An install step writes into the shared package cache (its only
    // writable mounts), which belongs to the sandboxes' common host uid;
    // others get one of their own.
    let installs = shape.mounts.iter().any(|m| m.writable);
    let root = nix::unistd::geteuid().is_root();
    let host_uid = match isolation {
        Isolation::Namespaces if root && !installs => Some(HostUid::take()?),
        _ => None,
    };
    let mut room = match isolation {
        Isolation::Namespaces => None,
        Isolation::Landlock => Some(Room::new(installs.then_some(shape.host_id_when_root))?),
    };
    let (host_end, helper_end) = std::os::unix::net::UnixStream::pair()
        .map_err(|e| Error::Internal(format!("socketpair: {e}")))?;
    let (child, guard, stdout, stderr) = match origin {
        Origin::Binary { path, inherit } => spawn(path, helper_end, inherit, pooled, isolation)?,
        Origin::Forked(server) => fork(server, helper_end, pooled, isolation)?,
    };
    if let (Some(room), Some(pid)) = (&mut room, child.id()) {
        room.housing(pid);
    }
    let socket = host_end
        .set_nonblocking(true)
        .and_then(|()| UnixStream::from_std(host_end))
        .map_err(|e| Error::Internal(format!("socket: {e}")))?;
    let (events, to_helper) = socket.into_split();
    Ok(Helper {
        child,
        guard,
        stdout,
        stderr,
        events: Events::new(events),
        to_helper,
        room,
        host_uid,
    })
}

type Started = (Process, Guard, pipe::Receiver, pipe::Receiver);

fn spawn(
    helper: &Path,
    helper_end: std::os::unix::net::UnixStream,
    inherit: Option<(OwnedFd, RawFd)>,
    pooled: bool,
    isolation: Isolation,
) -> Result<Started, Error> {
    let mut command = Command::new(helper);
    // Its command line is all a sandbox sees of the helper (/proc/1/cmdline
    // in a pid namespace, its /proc entry elsewhere): no host path in it.
    command
        .arg0("e2b-sandbox")
        .stdin(Stdio::from(OwnedFd::from(helper_end)))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_clear()
        .current_dir("/");
    if let Some((fd, target)) = &inherit {
        inherit_as(&mut command, fd.as_raw_fd(), *target);
    }
    let spawned = Guard::register(pooled, isolation, || command.spawn().map(Process::Spawned));
    // The command holds the helper's ends: the helper alone keeps them now.
    drop(command);
    drop(inherit);
    let (mut child, guard) = spawned.map_err(|e| {
        Error::IsolationUnavailable(format!(
            "cannot start the sandbox helper {}: {e}. Reinstall e2b-native so that the helper \
             sits beside its .node file, or set E2B_NATIVE_SANDBOX_HELPER to its path",
            helper.display()
        ))
    })?;
    let Process::Spawned(spawned) = &mut child else {
        unreachable!("spawned above")
    };
    let output = |fd: std::io::Result<OwnedFd>| {
        fd.and_then(pipe::Receiver::from_owned_fd)
            .map_err(|e| Error::Internal(format!("the helper's output: {e}")))
    };
    let stdout = output(
        spawned
            .stdout
            .take()
            .expect("stdout is piped")
            .into_owned_fd(),
    )?;
    let stderr = output(
        spawned
            .stderr
            .take()
            .expect("stderr is piped")
            .into_owned_fd(),
    )?;
    Ok((child, guard, stdout, stderr))
}

fn fork(
    server: &ForkServer,
    helper_end: std::os::unix::net::UnixStream,
    pooled: bool,
    isolation: Isolation,
) -> Result<Started, Error> {
    let pipe = || {
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(|e| Error::Internal(format!("pipe: {e}")))
    };
    let ((out, out_end), (err, err_end)) = (pipe()?, pipe()?);
    let (child, guard) = Guard::register(pooled, isolation, || {
        let pid = server
            .fork([helper_end.as_fd(), out_end.as_fd(), err_end.as_fd()])
            .map_err(std::io::Error::other)?;
        Process::forked(pid)
    })
    .map_err(|e| Error::IsolationUnavailable(format!("cannot fork a sandbox helper: {e}")))?;
    let output = |fd: OwnedFd| {
        pipe::Receiver::from_owned_fd(fd)
            .map_err(|e| Error::Internal(format!("the helper's output: {e}")))
    };
    Ok((child, guard, output(out)?, output(err)?))
}

impl Helper {
    /// `spec` as the helper reads it: one line, with this sandbox's room.
    pub(crate) fn message(&self, mut spec: Spec) -> Result<Vec<u8>, Error> {
        spec.room = self.room.as_ref().map(|r| r.spec.clone());
        if let Some(uid) = &self.host_uid {
            spec.shape.host_id_when_root = uid.0;
        }
        let mut bytes = serde_json::to_vec(&spec).map_err(|e| Error::Internal(e.to_string()))?;
        bytes.push(b'\n');
        Ok(bytes)
    }

    /// Sends the spec. `more`: the socket stays open for what follows (a
    /// pooled sandbox's go); else the helper reads it to EOF.
    pub(crate) async fn send_spec(&mut self, spec: Spec, more: bool) -> Result<(), Error> {
        let bytes = self.message(spec)?;
        let mut sent = self.to_helper.write_all(&bytes).await;
        if !more {
            sent = sent.and(self.to_helper.shutdown().await);
        }
        sent.map_err(|e| {
            Error::IsolationUnavailable(format!("the sandbox helper did not take its spec: {e}"))
        })
    }
}

/// Makes the helper inherit `fd` (close-on-exec here) as its descriptor `target`.
fn inherit_as(command: &mut Command, fd: RawFd, target: RawFd) {
    // SAFETY: between fork and exec, only async-signal-safe fcntl and dup2.
    unsafe {
        command.pre_exec(move || keep_as(fd, target));
    }
}

/// Between fork and exec: makes `fd` (close-on-exec) the child's `target`,
/// open across exec. Async-signal-safe.
pub(crate) fn keep_as(fd: RawFd, target: RawFd) -> std::io::Result<()> {
    // SAFETY: fcntl and dup2 on descriptors of this process.
    let done = unsafe {
        if fd == target {
            // dup2 onto itself would keep FD_CLOEXEC.
            libc::fcntl(fd, libc::F_SETFD, 0)
        } else {
            libc::dup2(fd, target)
        }
    };
    match done < 0 {
        true => Err(std::io::Error::last_os_error()),
        false => Ok(()),
    }
}

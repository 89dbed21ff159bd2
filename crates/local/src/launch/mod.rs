//! Starting the sandbox helper, for every kind of sandbox: the one place
//! that spawns it, registers it (so that it dies with this process), and
//! says what to do when it cannot start.

mod events;

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::process::Stdio;

use e2b_native_core::Error;
use tokio::io::AsyncWriteExt;
use tokio::net::unix::OwnedWriteHalf;
use tokio::net::UnixStream;
use tokio::process::{Child, ChildStderr, ChildStdout, Command};

pub(crate) use events::Events;

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
    pub(crate) child: Child,
    pub(crate) guard: Guard,
    pub(crate) stdout: ChildStdout,
    pub(crate) stderr: ChildStderr,
    pub(crate) events: Events,
    pub(crate) to_helper: OwnedWriteHalf,
    pub(crate) room: Option<Room>,
    /// As root in the namespace tier, the sandbox's host uid of its own.
    pub(crate) host_uid: Option<HostUid>,
}

/// Starts `helper` for a sandbox of `shape`, with a socketpair as its
/// stdin. `pooled` registers it as a pool's (see `registry`); `inherit`
/// gives it one more descriptor, at the number given (an install step's
/// egress socket, a session's control socket).
pub(crate) fn start(
    helper: &Path,
    shape: &Shape,
    pooled: bool,
    inherit: Option<(OwnedFd, RawFd)>,
) -> Result<Helper, Error> {
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
    let spawned = Guard::spawn(pooled, isolation, || command.spawn());
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
    if let (Some(room), Some(pid)) = (&mut room, child.id()) {
        room.housing(pid);
    }
    let stdout = child.stdout.take().expect("stdout is piped");
    let stderr = child.stderr.take().expect("stderr is piped");
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
        command.pre_exec(move || {
            let done = if fd == target {
                // dup2 onto itself would keep FD_CLOEXEC.
                libc::fcntl(fd, libc::F_SETFD, 0)
            } else {
                libc::dup2(fd, target)
            };
            match done < 0 {
                true => Err(std::io::Error::last_os_error()),
                false => Ok(()),
            }
        });
    }
}

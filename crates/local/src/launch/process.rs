//! A helper's process, as the host holds it: a child spawned from the
//! helper's binary, or a process the fork server forked (not this process's
//! child: its exit is seen through a pidfd, and the server reaps it).

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use tokio::io::unix::AsyncFd;

pub(crate) enum Process {
    Spawned(tokio::process::Child),
    Forked { pid: i32, exit: AsyncFd<OwnedFd> },
}

impl Process {
    /// A forked helper's process, watched from now on.
    pub(crate) fn forked(pid: i32) -> std::io::Result<Process> {
        // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: a descriptor pidfd_open just made, owned by nothing else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        // SAFETY: the AsyncFd owns the pidfd, which stays open as long as it.
        let exit = unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }?;
        Ok(Process::Forked { pid, exit })
    }

    pub(crate) fn id(&self) -> Option<u32> {
        match self {
            Process::Spawned(child) => child.id(),
            Process::Forked { pid, .. } => Some(*pid as u32),
        }
    }

    /// Waits for it to end; how it ended, for diagnostics.
    pub(crate) async fn wait(&mut self) -> String {
        match self {
            Process::Spawned(child) => format!("{:?}", child.wait().await),
            Process::Forked { exit, .. } => {
                // A pidfd is readable once its process has ended.
                let _ = exit.readable().await;
                "ended (a fork of the fork server, which reaps it)".into()
            }
        }
    }

    /// Whether it still runs.
    pub(crate) fn running(&mut self) -> bool {
        match self {
            Process::Spawned(child) => matches!(child.try_wait(), Ok(None)),
            Process::Forked { exit, .. } => {
                let mut poll = libc::pollfd {
                    fd: exit.get_ref().as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                };
                // SAFETY: one pollfd, no wait.
                unsafe { libc::poll(&mut poll, 1, 0) == 0 }
            }
        }
    }
}

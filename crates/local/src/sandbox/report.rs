use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::fcntl::{fcntl, FcntlArg};
use nix::sys::socket::{getsockopt, sockopt};

use crate::protocol::Event;

/// Writes events to the host on a close-on-exec copy of the helper's stdin
/// socket, so that the program never inherits it.
pub(crate) struct Reporter {
    fd: OwnedFd,
}

impl Reporter {
    pub(crate) fn from_stdin() -> nix::Result<Self> {
        // SAFETY: fd 0 is borrowed only for these two calls.
        let stdin = unsafe { BorrowedFd::borrow_raw(0) };
        getsockopt(&stdin, sockopt::SockType)?;
        let copy = fcntl(stdin, FcntlArg::F_DUPFD_CLOEXEC(3))?;
        // SAFETY: fcntl just returned this new descriptor, owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(copy) };
        Ok(Reporter { fd })
    }

    pub(crate) fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Reports a failed step; returns the exit status of the process that failed.
    pub(crate) fn failed(&self, error: super::SetupError) -> i32 {
        self.send(&Event::Failed {
            layer: error.layer.into(),
            message: error.message,
            errno: error.errno,
        });
        1
    }

    /// Best effort: if the host is gone there is nobody left to tell.
    pub(crate) fn send(&self, event: &Event) {
        let mut line = serde_json::to_vec(event).expect("events serialize");
        line.push(b'\n');
        let mut rest = &line[..];
        while !rest.is_empty() {
            match nix::unistd::write(&self.fd, rest) {
                Ok(n) => rest = &rest[n..],
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => return,
            }
        }
    }
}

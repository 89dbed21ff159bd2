//! An install step's only way out: a listening socket on the sandbox's own
//! loopback, handed to the host, whose proxy accepts on it and lets through
//! only the package registries. Nothing runs in the sandbox to forward.

use std::io::IoSlice;
use std::os::fd::AsRawFd;

use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};

use super::{Context, Setup};
use crate::protocol::EGRESS_FD;

const LAYER: &str = "network namespace";

pub(super) fn hand_over(port: u16) -> Setup<()> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", port))
        .context(LAYER, || format!("listening on 127.0.0.1:{port}"))?;
    let fds = [listener.as_raw_fd()];
    let sent = sendmsg::<()>(
        EGRESS_FD,
        &[IoSlice::new(b"L")],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    );
    // Init keeps neither the socket nor the way to the host.
    let _ = nix::unistd::close(EGRESS_FD);
    sent.map(drop)
        .context(LAYER, || "handing the proxy socket to the host".into())
}

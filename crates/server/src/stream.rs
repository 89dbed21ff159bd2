//! Streaming responses fed from a task, and reading what a pipe holds now.

use std::os::fd::AsRawFd;

use axum::body::{Body, Bytes};
use tokio::sync::mpsc;

/// Sent instead of a chunk, cuts the response off mid-stream (no final
/// chunk): how a client learns that the sandbox died under its request, as
/// when E2B's proxy drops the connection of a killed sandbox.
pub(crate) const ABORT: Bytes = Bytes::new();

/// A response body that yields what the task sends; when the client goes
/// away the body is dropped and the sender sees `closed()`.
pub(crate) fn body(rx: mpsc::Receiver<Bytes>) -> Body {
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        let chunk = rx.recv().await?;
        if chunk.is_empty() {
            return Some((Err(std::io::Error::other("the sandbox is gone")), rx));
        }
        Some((Ok(chunk), rx))
    });
    Body::from_stream(stream)
}

/// Everything a non-blocking pipe holds right now (up to `max` bytes),
/// without waiting: output a program wrote before it exited is in the pipe
/// once its exit is known, whatever the reactor last saw.
pub(crate) fn drain(pipe: &impl AsRawFd, max: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buffer = [0u8; 64 << 10];
    while out.len() < max {
        // SAFETY: reads into a buffer we own, from a descriptor that stays
        // open for the call (tokio set it non-blocking).
        let n = unsafe { libc::read(pipe.as_raw_fd(), buffer.as_mut_ptr().cast(), buffer.len()) };
        match n {
            n if n > 0 => out.extend_from_slice(&buffer[..n as usize]),
            0 => break,
            _ if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted => {}
            _ => break,
        }
    }
    out
}

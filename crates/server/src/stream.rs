//! Streaming responses fed from a task.

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

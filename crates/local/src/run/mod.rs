//! The host's half of one execution in a one-shot or pooled sandbox: send
//! the spec (or the go), read the output under its caps until the sandbox is
//! gone ([`stream`]), then say what happened ([`outcome`]).

mod outcome;
mod stream;

use std::path::Path;
use std::sync::Arc;

use e2b_native_core::{CancellationToken, Error, Outcome, Request};
use tokio::time::Instant;

use crate::launch::{self, Helper};
use crate::packages::Egress;
use crate::protocol::{Spec, EGRESS_FD};

/// Runs `spec` in a sandbox built now. `egress`: an install step's proxy,
/// when the shape has an egress port; it stops with the call.
pub(crate) async fn run(
    helper: &Path,
    spec: &Spec,
    request: &Request,
    cancel: &CancellationToken,
    egress: Option<Arc<Egress>>,
) -> Result<Outcome, Error> {
    let started = Instant::now();
    let (inherit, _proxy) = match egress {
        Some(egress) => {
            let (ours, theirs) = std::os::unix::net::UnixStream::pair()
                .map_err(|e| Error::Internal(format!("socketpair: {e}")))?;
            let proxy = AbortOnDrop(tokio::spawn(crate::packages::serve_proxy(ours, egress)));
            (Some((theirs.into(), EGRESS_FD)), Some(proxy))
        }
        None => (None, None),
    };
    let helper = launch::start(helper, false, inherit)?;
    let message = serde_json::to_vec(spec).map_err(|e| Error::Internal(e.to_string()))?;
    finish(helper, message, started, request, cancel).await
}

/// Sends `message` (the spec, or a pooled sandbox's go) to a started helper
/// and follows its sandbox to the end.
pub(crate) async fn finish(
    helper: Helper,
    message: Vec<u8>,
    started: Instant,
    request: &Request,
    cancel: &CancellationToken,
) -> Result<Outcome, Error> {
    let streamed =
        stream::stream(helper, message, started + request.timeout, request, cancel).await?;
    outcome::outcome(streamed, request, started)
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

//! The host's half of one execution in a one-shot or pooled sandbox: send
//! the spec (or the go), read the output under its caps until the sandbox is
//! gone ([`stream`]), then say what happened ([`outcome`]).

mod outcome;
mod stream;

pub(crate) use outcome::not_built;

use std::path::Path;
use std::sync::Arc;

use e2b_native_core::{CancellationToken, Error, Outcome, Request};
use tokio::time::Instant;

use crate::launch::{self, Helper};
use crate::packages::Egress;
use crate::protocol::{Isolation, Spec, EGRESS_FD};

/// An install step's way out: a proxy that reaches only the registries, and
/// where its listening socket comes from.
pub(crate) enum Proxy {
    /// Init listens on the sandbox's own loopback and hands the socket over.
    FromSandbox(Arc<Egress>),
    /// The sandbox has no loopback of its own: the host listens.
    OnHost(Arc<Egress>, std::net::TcpListener),
}

/// Runs `spec` in a sandbox built now. `proxy`: an install step's, when
/// the shape has an egress port; it stops with the call.
pub(crate) async fn run(
    helper: &Path,
    spec: Spec,
    request: &Request,
    cancel: &CancellationToken,
    proxy: Option<Proxy>,
) -> Result<Outcome, Error> {
    let started = Instant::now();
    let (inherit, _proxy) = match proxy {
        Some(Proxy::FromSandbox(egress)) => {
            let (ours, theirs) = std::os::unix::net::UnixStream::pair()
                .map_err(|e| Error::Internal(format!("socketpair: {e}")))?;
            let task = tokio::spawn(crate::packages::serve_proxy(ours, egress));
            (Some((theirs.into(), EGRESS_FD)), Some(AbortOnDrop(task)))
        }
        Some(Proxy::OnHost(egress, listener)) => {
            let task = tokio::spawn(crate::packages::serve_proxy_on(listener, egress));
            (None, Some(AbortOnDrop(task)))
        }
        None => (None, None),
    };
    let isolation = spec.shape.isolation;
    let origin = launch::Origin::Binary {
        path: helper,
        inherit,
    };
    let helper = launch::start(origin, &spec.shape, false)?;
    let message = helper.message(spec)?;
    finish(helper, message, started, request, cancel, isolation).await
}

/// Sends `message` (the spec, or a pooled sandbox's go) to a started helper
/// of a sandbox of tier `isolation` and follows the sandbox to the end.
pub(crate) async fn finish(
    helper: Helper,
    message: Vec<u8>,
    started: Instant,
    request: &Request,
    cancel: &CancellationToken,
    isolation: Isolation,
) -> Result<Outcome, Error> {
    let streamed =
        stream::stream(helper, message, started + request.timeout, request, cancel).await?;
    outcome::outcome(streamed, request, started, isolation)
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

//! The stream loop: the program's output under its caps and callbacks, the
//! helper's events, the deadline and the caller's cancel, until every
//! process of the sandbox is gone.

use std::time::Duration;

use e2b_native_core::{BoxFuture, CancellationToken, Capture, Error, Request, Sink};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::{sleep_until, Instant};

use crate::cgroup::Groups;
use crate::launch::Helper;
use crate::protocol::Event;

/// Once a sandbox has been killed, how long its pipes may take to close.
const KILL_GRACE: Duration = Duration::from_secs(2);

/// Why the host stopped a sandbox before its program ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stop {
    Timeout,
    Output,
    Cancelled,
}

/// Everything the sandbox said, once it is gone.
pub(super) struct Streamed {
    pub(super) stop: Option<Stop>,
    pub(super) out: Capture,
    pub(super) err: Capture,
    /// `Exited` or `Signaled`.
    pub(super) ended: Option<Event>,
    /// The set-up step that failed: (layer, message, errno).
    pub(super) failure: Option<(String, String, Option<i32>)>,
    pub(super) disk_full: bool,
    pub(super) too_many_processes: bool,
    /// The helper's `Usage`: (CPU ms, peak RSS KiB).
    pub(super) usage: Option<(u64, u64)>,
    pub(super) files: Vec<(String, Vec<u8>)>,
    /// A file that could not be read back: (path, why).
    pub(super) refused: Option<(String, String)>,
    /// The helper's exit, for a report of what went wrong.
    pub(super) status: String,
    pub(super) cgroups: Groups,
}

pub(super) async fn stream(
    helper: Helper,
    message: Vec<u8>,
    deadline: Instant,
    request: &Request,
    cancel: &CancellationToken,
) -> Result<Streamed, Error> {
    let Helper {
        mut child,
        guard,
        mut stdout,
        mut stderr,
        mut events,
        mut to_helper,
        room,
        host_uid,
    } = helper;
    let send = async {
        to_helper.write_all(&message).await?;
        to_helper.shutdown().await
    };
    let mut stop = None;
    tokio::select! {
        sent = send => if let Err(e) = sent {
            return Err(Error::IsolationUnavailable(format!("the sandbox helper did not take its spec: {e}")));
        },
        _ = sleep_until(deadline) => stop = Some(Stop::Timeout),
        _ = cancel.cancelled() => stop = Some(Stop::Cancelled),
    }

    let cap = request.limits.output_bytes;
    let mut out = Stream::new(cap, request.on_stdout.clone());
    let mut err = Stream::new(cap, request.on_stderr.clone());
    let (mut out_chunk, mut err_chunk) = (vec![0u8; 64 << 10], vec![0u8; 64 << 10]);
    let mut said = Said::default();
    let mut events_open = true;
    let mut killed = false;
    let mut grace_until = Instant::now(); // armed when the sandbox is killed
    while out.open || err.open || events_open {
        if stop.is_some() && !killed {
            guard.kill();
            killed = true;
            grace_until = Instant::now() + KILL_GRACE;
        }
        tokio::select! {
            n = stdout.read(&mut out_chunk), if out.ready() => {
                if !out.take(n, &out_chunk) && stop.is_none() {
                    stop = Some(Stop::Output);
                }
            },
            n = stderr.read(&mut err_chunk), if err.ready() => {
                if !err.take(n, &err_chunk) && stop.is_none() {
                    stop = Some(Stop::Output);
                }
            },
            // The next chunk of a watched stream waits for its callback.
            _ = Stream::delivered(&mut out.delivery), if out.delivery.is_some() => out.delivery = None,
            _ = Stream::delivered(&mut err.delivery), if err.delivery.is_some() => err.delivery = None,
            event = events.next(&guard), if events_open => match event {
                Some(event) => said.record(event),
                None => events_open = false,
            },
            _ = sleep_until(deadline), if stop.is_none() => stop = Some(Stop::Timeout),
            _ = cancel.cancelled(), if stop.is_none() => stop = Some(Stop::Cancelled),
            // A killed sandbox closes its pipes at once; never wait on one that doesn't.
            _ = sleep_until(grace_until), if stop.is_some() => break,
        }
    }
    for stream in [&mut out, &mut err] {
        stream.flush().await;
    }
    let status = child.wait().await;
    guard.reaped();
    drop(room);
    drop(host_uid);
    Ok(Streamed {
        stop,
        out: out.capture,
        err: err.capture,
        ended: said.ended,
        failure: said.failure,
        disk_full: said.disk_full,
        too_many_processes: said.too_many_processes,
        usage: said.usage,
        files: said.files,
        refused: said.refused,
        status,
        cgroups: std::mem::take(&mut events.cgroups),
    })
}

/// What the helper reported.
#[derive(Default)]
struct Said {
    ended: Option<Event>,
    failure: Option<(String, String, Option<i32>)>,
    disk_full: bool,
    too_many_processes: bool,
    usage: Option<(u64, u64)>,
    files: Vec<(String, Vec<u8>)>,
    refused: Option<(String, String)>,
}

impl Said {
    fn record(&mut self, event: Event) {
        match event {
            Event::DiskFull => self.disk_full = true,
            Event::TooManyProcesses => self.too_many_processes = true,
            Event::Usage {
                cpu_ms,
                max_rss_kib,
            } => self.usage = Some((cpu_ms, max_rss_kib)),
            Event::File { path, content } => {
                use base64::Engine;
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(content)
                    .unwrap_or_default();
                self.files.push((path, bytes));
            }
            Event::FileRefused { path, reason } => self.refused = Some((path, reason)),
            event @ (Event::Exited { .. } | Event::Signaled { .. }) => self.ended = Some(event),
            Event::Failed {
                layer,
                message,
                errno,
            } => self.failure = Some((layer, message, errno)),
            Event::Ready | Event::Init { .. } | Event::Cgroups { .. } => {}
        }
    }
}

/// A captured stream as the read loop sees it: open or not, and the chunk
/// whose delivery to a callback must finish before the next read.
struct Stream {
    capture: Capture,
    open: bool,
    delivery: Option<BoxFuture<'static, ()>>,
}

impl Stream {
    fn new(cap: usize, sink: Option<Sink>) -> Self {
        Stream {
            capture: Capture::new(cap, sink),
            open: true,
            delivery: None,
        }
    }

    fn ready(&self) -> bool {
        self.open && self.delivery.is_none()
    }

    /// Takes one read; false when the cap was passed on an unwatched stream.
    fn take(&mut self, read: std::io::Result<usize>, buffer: &[u8]) -> bool {
        match read {
            Ok(n) if n > 0 => {
                let (within, delivery) = self.capture.push(&buffer[..n]);
                self.delivery = delivery;
                within
            }
            _ => {
                self.open = false;
                true
            }
        }
    }

    async fn delivered(delivery: &mut Option<BoxFuture<'static, ()>>) {
        if let Some(d) = delivery {
            d.await;
        }
    }

    /// Delivers what is pending and the decoder's last bytes.
    async fn flush(&mut self) {
        Self::delivered(&mut self.delivery).await;
        self.delivery = self.capture.finish();
        Self::delivered(&mut self.delivery).await;
    }
}

//! The host's half of one execution: start the helper, hand it the spec, read
//! the output under its caps, enforce the deadline, and make sure every process
//! of the sandbox is gone before the call returns.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream as StdUnixStream;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use e2b_native_core::CancellationToken;
use e2b_native_core::{
    uncaught_error_name, BoxFuture, Capture, Error, Language, Limit, Outcome, Request, Sink,
    TIMEOUT_EXIT_CODE,
};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;
use tokio::process::Command;
use tokio::time::{sleep_until, Instant as Deadline};

use crate::packages::Egress;
use crate::protocol::{Event, Spec, EGRESS_FD};
use crate::registry::Guard;

/// Once a sandbox has been killed, how long its pipes may take to close.
const KILL_GRACE: Duration = Duration::from_secs(2);
/// The exit status reported for a program stopped by a limit (SIGKILL).
const KILLED_EXIT_CODE: i32 = 128 + libc::SIGKILL;

/// Why the host stopped a sandbox before its program ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Timeout,
    Output,
    Cancelled,
}

/// A started helper: its process, its registry entry, its pipes, the socket
/// to it, and the cgroups it reported.
pub(crate) struct Helper {
    pub(crate) child: tokio::process::Child,
    pub(crate) guard: Guard,
    stdout: tokio::process::ChildStdout,
    stderr: tokio::process::ChildStderr,
    pub(crate) events: Lines<BufReader<OwnedReadHalf>>,
    pub(crate) to_helper: OwnedWriteHalf,
    pub(crate) cgroups: crate::cgroup::Groups,
    /// An install step's proxy, which stops with the call.
    _proxy: Option<AbortOnDrop>,
}

pub async fn run(
    helper: &Path,
    spec: Spec,
    request: &Request,
    cancel: &CancellationToken,
) -> Result<Outcome, Error> {
    run_with(helper, spec, request, cancel, None).await
}

/// [`run`], with the proxy of an install step when the spec has an egress port.
pub async fn run_with(
    helper: &Path,
    spec: Spec,
    request: &Request,
    cancel: &CancellationToken,
    egress: Option<Arc<Egress>>,
) -> Result<Outcome, Error> {
    let started = Instant::now();
    let helper = start(helper, false, egress)?;
    let spec_bytes = serde_json::to_vec(&spec).map_err(|e| Error::Internal(e.to_string()))?;
    finish(helper, spec_bytes, started, request, cancel).await
}

/// Starts the helper with a socketpair as its stdin; `pooled` registers it as
/// a pool's (see `registry`); `egress`: an install step's proxy.
pub(crate) fn start(
    helper: &Path,
    pooled: bool,
    egress: Option<Arc<Egress>>,
) -> Result<Helper, Error> {
    let (host_end, helper_end) = std::os::unix::net::UnixStream::pair()
        .map_err(|e| Error::Internal(format!("socketpair: {e}")))?;
    let mut command = Command::new(helper);
    command
        .stdin(Stdio::from(OwnedFd::from(helper_end)))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_clear()
        .current_dir("/")
        .kill_on_drop(true);
    let egress_channel = match egress {
        Some(egress) => Some((egress, pass_egress_fd(&mut command)?)),
        None => None,
    };
    let spawned = Guard::spawn(pooled, || command.spawn());
    // The command holds the helper's end of the event socket, and the helper
    // alone must keep its end of the proxy's; the proxy stops with this call.
    drop(command);
    let proxy = egress_channel.map(|(egress, (ours, _theirs))| {
        AbortOnDrop(tokio::spawn(crate::packages::serve_proxy(ours, egress)))
    });
    let (mut child, guard) = spawned.map_err(|e| {
        Error::IsolationUnavailable(format!(
            "cannot start the sandbox helper {}: {e}. Reinstall e2b-native so that the helper \
             sits beside its .node file, or set E2B_NATIVE_SANDBOX_HELPER to its path",
            helper.display()
        ))
    })?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let stderr = child.stderr.take().expect("stderr is piped");
    host_end
        .set_nonblocking(true)
        .map_err(|e| Error::Internal(format!("socket: {e}")))?;
    let socket =
        UnixStream::from_std(host_end).map_err(|e| Error::Internal(format!("socket: {e}")))?;
    let (events, to_helper) = socket.into_split();
    Ok(Helper {
        child,
        guard,
        stdout,
        stderr,
        events: BufReader::new(events).lines(),
        to_helper,
        cgroups: crate::cgroup::Groups::default(),
        _proxy: proxy,
    })
}

/// Sends `message` (the spec, or a pooled sandbox's go), then reads the
/// output under its caps until the sandbox is gone.
pub(crate) async fn finish(
    helper: Helper,
    message: Vec<u8>,
    started: Instant,
    request: &Request,
    cancel: &CancellationToken,
) -> Result<Outcome, Error> {
    let deadline = Deadline::from_std(started + request.timeout);
    let Helper {
        mut child,
        guard,
        mut stdout,
        mut stderr,
        mut events,
        mut to_helper,
        mut cgroups,
        _proxy,
    } = helper;
    let send_spec = async {
        to_helper.write_all(&message).await?;
        to_helper.shutdown().await
    };
    let mut stop = None;
    tokio::select! {
        sent = send_spec => if let Err(e) = sent {
            return Err(Error::IsolationUnavailable(format!("the sandbox helper did not take its spec: {e}")));
        },
        _ = sleep_until(deadline) => stop = Some(Stop::Timeout),
        _ = cancel.cancelled() => stop = Some(Stop::Cancelled),
    }

    let cap = request.limits.output_bytes;
    let mut out = Stream::new(cap, request.on_stdout.clone());
    let mut err = Stream::new(cap, request.on_stderr.clone());
    let (mut out_chunk, mut err_chunk) = (vec![0u8; 64 << 10], vec![0u8; 64 << 10]);
    let mut events_open = true;
    let mut ended: Option<Event> = None;
    let mut failure: Option<Event> = None;
    let mut disk_full = false;
    let mut files = Vec::new();
    let mut refused = None;
    let mut killed = false;
    let mut grace_until = Deadline::now(); // armed when the sandbox is killed
    while out.open || err.open || events_open {
        if stop.is_some() && !killed {
            guard.kill();
            killed = true;
            grace_until = Deadline::now() + KILL_GRACE;
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
            line = events.next_line(), if events_open => match line {
                Ok(Some(line)) => match serde_json::from_str::<Event>(&line) {
                    Ok(Event::Init { pid }) => guard.set_init(pid),
                    Ok(Event::Cgroups { dirs }) => cgroups = crate::cgroup::Groups(dirs),
                    Ok(Event::DiskFull) => disk_full = true,
                    Ok(Event::File { path, content }) => {
                        use base64::Engine;
                        let bytes = base64::engine::general_purpose::STANDARD.decode(content).unwrap_or_default();
                        files.push((path, bytes));
                    }
                    Ok(Event::FileRefused { path, reason }) => refused = Some((path, reason)),
                    Ok(event @ (Event::Exited { .. } | Event::Signaled { .. })) => ended = Some(event),
                    Ok(event @ Event::Failed { .. }) => failure = Some(event),
                    Ok(Event::Ready) | Err(_) => {}
                },
                _ => events_open = false,
            },
            _ = sleep_until(deadline), if stop.is_none() => stop = Some(Stop::Timeout),
            _ = cancel.cancelled(), if stop.is_none() => stop = Some(Stop::Cancelled),
            // A killed sandbox closes its pipes at once; never wait on one that doesn't.
            _ = sleep_until(grace_until), if stop.is_some() => break,
        }
    }
    for capture in [&mut out, &mut err] {
        capture.flush().await;
    }
    let status = child.wait().await;
    guard.reaped();

    let cgroup_hit = crate::cgroup::limit_hit(&cgroups.0);
    let counted = !cgroups.0.is_empty();
    drop(cgroups);

    let truncated = out.capture.kept.truncated() || err.capture.kept.truncated();
    let (stdout, stderr) = (
        out.capture.kept.into_string(),
        err.capture.kept.into_string(),
    );
    if let (None, Some((path, reason))) = (stop, refused) {
        return Err(Error::invalid_arg(format!("readFiles: {path} {reason}")));
    }
    let exit_code = match (stop, &ended, failure) {
        (Some(Stop::Cancelled), ..) => return Err(Error::Aborted),
        (Some(Stop::Timeout), ..) => TIMEOUT_EXIT_CODE,
        (Some(Stop::Output), ..) => KILLED_EXIT_CODE,
        (None, _, Some(Event::Failed { layer, message })) => {
            return Err(Error::IsolationUnavailable(format!(
                "the local sandbox could not be built ({layer}): {message}"
            )))
        }
        (None, Some(Event::Exited { code }), None) => *code,
        (None, Some(Event::Signaled { signal }), None) => 128 + signal,
        _ => {
            return Err(Error::Internal(format!(
                "the sandbox helper ended without a result ({status:?}); stderr: {}",
                stderr.chars().take(500).collect::<String>()
            )))
        }
    };
    let crashed_as = uncaught_error_name(request.language, exit_code, &stderr);
    let limit = match stop {
        Some(Stop::Timeout) => Some(Limit::Time),
        Some(Stop::Output) => Some(Limit::Output),
        _ => cgroup_hit.or_else(|| {
            fallback_limit(
                exit_code,
                crashed_as.as_deref(),
                &stderr,
                disk_full,
                counted,
            )
        }),
    };
    Ok(Outcome {
        error: limit.map(|l| l.error_name().to_string()).or(crashed_as),
        stdout,
        stderr,
        exit_code,
        timed_out: matches!(limit, Some(Limit::Time | Limit::Cpu)),
        truncated,
        limit,
        duration: started.elapsed(),
        backend: "local",
        files,
    })
}

/// Limits that show only in how the program ended: where no cgroup counts,
/// an rlimit makes allocation fail; V8 aborts at its heap cap; RLIMIT_CPU
/// sends SIGXCPU; a full tmpfs fails writes. `counted`: a pids cgroup held
/// the sandbox, and its counter, not the program's errors, says whether
/// the process limit was hit.
fn fallback_limit(
    exit_code: i32,
    crashed_as: Option<&str>,
    stderr: &str,
    disk_full: bool,
    counted: bool,
) -> Option<Limit> {
    if exit_code == 128 + libc::SIGXCPU {
        Some(Limit::Cpu)
    } else if crashed_as == Some("MemoryError")
        || (exit_code != 0
            && (stderr.contains("JavaScript heap out of memory")
                || stderr.contains("Array buffer allocation failed")))
    {
        Some(Limit::Memory)
    } else if !counted
        && exit_code != 0
        && (crashed_as == Some("BlockingIOError")
            // Many processes' tracebacks, interleaved (unbuffered stderr
            // writes each part of a line apart), may end with no whole one.
            || (stderr.contains("BlockingIOError")
                && stderr.contains("[Errno 11] Resource temporarily unavailable"))
            || stderr.contains("fork: retry: Resource temporarily unavailable"))
    {
        // RLIMIT_NPROC makes fork fail with EAGAIN.
        Some(Limit::Processes)
    } else if disk_full {
        Some(Limit::Disk)
    } else {
        None
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

/// Gives the helper one end of a new socket as [`EGRESS_FD`]; init sends the
/// install step's listening socket through it. Returns (ours, the helper's).
fn pass_egress_fd(command: &mut Command) -> Result<(StdUnixStream, StdUnixStream), Error> {
    let (ours, theirs) =
        StdUnixStream::pair().map_err(|e| Error::Internal(format!("socketpair: {e}")))?;
    inherit_as(command, theirs.as_raw_fd(), EGRESS_FD);
    Ok((ours, theirs))
}

/// Makes the helper inherit `fd` (close-on-exec here) as its descriptor `target`.
pub(crate) fn inherit_as(command: &mut Command, fd: RawFd, target: RawFd) {
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

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Builds the spec of `request` for `interpreter`.
pub fn spec(
    language: Language,
    interpreter: &crate::interpreters::Interpreter,
    request: &Request,
    host_id_when_root: u32,
) -> Result<Spec, Error> {
    // Linux refuses a single argument over 128 KiB (MAX_ARG_STRLEN).
    const MAX_CODE: usize = 128 * 1024 - 1;
    if request.code.len() > MAX_CODE {
        return Err(Error::invalid_arg(format!(
            "code is {} bytes; the local backend runs programs of at most {MAX_CODE} bytes: \
             split it, or ship the bulk as data",
            request.code.len()
        )));
    }
    if request.code.contains('\0') {
        return Err(Error::invalid_arg("code contains a NUL byte"));
    }
    let mut argv: Vec<String> = match language {
        // -u: unbuffered, so output written before a timeout is not lost.
        Language::Python => &["python3", "-u", "-c"][..],
        Language::Node => &["node", "-e"][..],
        Language::Bash => &["bash", "-c"][..],
    }
    .iter()
    .map(|s| s.to_string())
    .chain([request.code.clone()])
    .collect();
    // V8 must stop at a heap that fits, or the kernel kills it without a
    // word. In a memory cgroup Node sizes its heap from the limit: half of
    // it, but at least 256 MiB, so below 512 MiB only the flag fits it. The
    // flag costs ~5 ms a start (any V8 flag makes Node drop its code cache),
    // hence it is used only where it has to be.
    let mut flags_fallback = Vec::new();
    if language == Language::Node {
        let memory_mib = request.limits.memory_bytes >> 20;
        let flag = format!("--max-old-space-size={}", memory_mib * 3 / 4);
        match memory_mib < 512 {
            true => argv.insert(1, flag),
            false => flags_fallback.push(flag),
        }
    }
    let mut env = crate::interpreters::sandbox_env([interpreter]);
    env.extend(request.env.clone());
    Ok(Spec {
        program: interpreter.path.clone(),
        argv,
        env: env.into_iter().collect(),
        extra_binds: interpreter.extra_bind.iter().cloned().collect(),
        disk_bytes: request.limits.disk_bytes,
        memory_bytes: request.limits.memory_bytes,
        // Node reserves ~1 GiB of address space before it runs a line.
        address_space_fallback: Some(match language {
            Language::Node => request.limits.memory_bytes + (1 << 30),
            _ => request.limits.memory_bytes,
        }),
        flags_fallback,
        processes: request.limits.processes,
        cpu_seconds: request
            .limits
            .cpu_seconds
            .unwrap_or_else(|| request.timeout.as_secs_f64().ceil() as u64),
        open_files: request.limits.open_files,
        files: request
            .files
            .iter()
            .map(|f| {
                use base64::Engine;
                crate::protocol::SpecFile {
                    path: f.path.clone(),
                    content: base64::engine::general_purpose::STANDARD.encode(&f.content),
                }
            })
            .collect(),
        read_files: request.read_files.clone(),
        read_file_cap: request.limits.output_bytes as u64,
        host_id_when_root,
        session: false,
        warm: false,
        mounts: Vec::new(),
        egress_port: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // The end of a fork bomb's stderr under RLIMIT_NPROC, as CI saw it: the
    // processes' tracebacks cut into each other, no whole one last.
    const INTERLEAVED: &str = "Traceback (most recent call last):\n  \
        File \"<string>\", line 2, in <module>\nBlockingIOErrorBlockingIOError:   \
        File \"<string>\", line 2, in <module>\nTraceback (most recent call last):\n\
        [Errno 11] Resource temporarily unavailable[Errno 11] Resource temporarily \
        unavailable\n  File \"<string>\", line 2, in <module>\nTraceback (most recent \
        call last):\n";

    #[test]
    fn a_fork_bomb_under_rlimits_is_a_process_limit_however_its_tracebacks_interleave() {
        let crashed_as = uncaught_error_name(Language::Python, 1, INTERLEAVED);
        assert_eq!(crashed_as, None);
        let limit = fallback_limit(1, crashed_as.as_deref(), INTERLEAVED, false, false);
        assert_eq!(limit, Some(Limit::Processes));
    }

    #[test]
    fn where_a_pids_cgroup_counts_a_programs_own_eagain_is_not_a_process_limit() {
        let stderr = "Traceback (most recent call last):\n  File \"<string>\", line 3, in \
            <module>\nBlockingIOError: [Errno 11] Resource temporarily unavailable\n";
        let crashed_as = uncaught_error_name(Language::Python, 1, stderr);
        assert_eq!(crashed_as.as_deref(), Some("BlockingIOError"));
        assert_eq!(
            fallback_limit(1, crashed_as.as_deref(), stderr, false, true),
            None
        );
        let without_cgroups = fallback_limit(1, crashed_as.as_deref(), stderr, false, false);
        assert_eq!(without_cgroups, Some(Limit::Processes));
    }
}

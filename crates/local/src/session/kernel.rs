//! The host side of a code-interpreter kernel (`e2b-native-kernels`)
//! running in a long-lived sandbox, for `serve`'s code contexts and the
//! addon's sessions alike: start it and wait until it is ready, send it
//! executions, turn its replies and output into E2B's events, interrupt it
//! (SIGINT to its process group, again every second) and kill it when it
//! does not stop within a grace period.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use e2b_native_kernels::{Event, ExecutionError, KernelKind, Language, Launch, Reply};
use serde_json::{Map, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::pipe;
use tokio::sync::mpsc;
use tokio::time::Instant;

use e2b_native_core::{CancellationToken, Utf8Decoder};

use super::{drain, Command, Ended, PipeDirection, PipeEnd, Session, SessionError};

/// The longest reply line a kernel may send (a large image, base64) unless
/// [`Kernel::limit_replies`] says otherwise; a longer one is dropped.
const MAX_REPLY: u64 = 64 << 20;
/// How long a kernel may take to say it is ready (IPython imports in ~1 s).
const READY_WITHIN: Duration = Duration::from_secs(60);
/// After an interrupt, how long the code has to stop before its kernel is
/// killed (and restarted on the next execution).
pub const INTERRUPT_GRACE: Duration = Duration::from_secs(5);
/// SIGINT again this often until then: one that lands between two of
/// bash's commands, or as Node leaves a script, goes unanswered.
const INTERRUPT_AGAIN: Duration = Duration::from_secs(1);
const CHUNK: usize = 64 << 10;

/// The interpreters kernels run on.
#[derive(Debug, Clone, Default)]
pub struct Runtimes {
    pub python: Option<PathBuf>,
    pub node: Option<PathBuf>,
    /// The sandbox's memory: Node's heap is capped below it.
    pub memory_bytes: u64,
}

impl Runtimes {
    /// How a kernel of `kind` starts here, or why it cannot.
    pub fn launch(&self, kind: KernelKind) -> Result<Launch, String> {
        let (interpreter, flags) = match kind {
            KernelKind::Python => {
                let python = self
                    .python
                    .as_ref()
                    .ok_or("no Python interpreter was found on this host")?;
                (python.display().to_string(), Vec::new())
            }
            KernelKind::JavaScript => {
                let node = self
                    .node
                    .as_ref()
                    .ok_or("no Node.js was found on this host")?;
                // V8 would grow past the sandbox's memory; capped, it says why.
                let heap_mib = (self.memory_bytes >> 20) * 3 / 4;
                let flags = vec![format!("--max-old-space-size={heap_mib}")];
                (node.display().to_string(), flags)
            }
            // Every sandbox has bash (commands run through it).
            KernelKind::Bash => ("bash".to_string(), Vec::new()),
        };
        Ok(kind.launch(&interpreter, &flags, None))
    }
}

/// What a kernel said when it became ready: its mode (Python's `ipython`
/// or `basic`) and details such as the reason for `basic`.
#[derive(Debug, Clone)]
pub struct Ready {
    pub mode: String,
    pub detail: Map<String, Value>,
}

/// How an execution ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Executed {
    /// The kernel finished it; `interrupted` when it was asked to stop first.
    Done { interrupted: bool },
    /// The kernel died, broke its protocol, or did not stop when
    /// interrupted: kill it ([`Kernel::kill`]); its state is lost.
    Died(String),
}

/// A running kernel.
pub struct Kernel {
    /// Its pid in the sandbox, the leader of its process group.
    pub pid: i32,
    requests: pipe::Sender,
    replies: Replies,
    stdout: pipe::Receiver,
    stderr: pipe::Receiver,
    ended: Ended,
}

impl Kernel {
    /// Starts a kernel of `language` in `session` with the complete `env`
    /// (the launch's own added), in `cwd`, and waits until it is ready.
    pub async fn start(
        session: &Session,
        language: Language,
        launch: Launch,
        mut env: BTreeMap<String, String>,
        cwd: &str,
    ) -> Result<(Kernel, Ready), String> {
        env.extend(launch.env);
        let command = Command {
            argv: launch.argv,
            env: env.into_iter().collect(),
            cwd: cwd.to_string(),
            pipes: vec![PipeDirection::ToProgram, PipeDirection::FromProgram],
        };
        let mut process = session.spawn(command).await.map_err(|e| match e {
            SessionError::Gone => "the sandbox is gone".to_string(),
            SessionError::Refused(m) | SessionError::Invalid(m) => {
                format!("the {language} kernel could not start: {m}")
            }
        })?;
        let mut pipes = std::mem::take(&mut process.pipes).into_iter();
        let (Some(PipeEnd::Writer(requests)), Some(PipeEnd::Reader(replies))) =
            (pipes.next(), pipes.next())
        else {
            return Err("the kernel's pipes are missing".into());
        };
        let mut kernel = Kernel {
            pid: process.pid,
            requests,
            replies: Replies {
                reader: BufReader::new(replies),
                partial: Vec::new(),
                max: MAX_REPLY,
                skipping: false,
            },
            stdout: process.stdout,
            stderr: process.stderr,
            ended: process.ended,
        };
        match kernel.ready(launch.preamble).await {
            Ok(ready) => Ok((kernel, ready)),
            Err(why) => {
                let stderr = drain(&kernel.stderr, 4096);
                kernel.kill(session).await;
                Err(format!(
                    "the {language} kernel did not start ({why}); its stderr: {:?}",
                    String::from_utf8_lossy(&stderr)
                ))
            }
        }
    }

    /// Sends the preamble and waits for the kernel's "ready".
    async fn ready(&mut self, preamble: &str) -> Result<Ready, String> {
        self.requests
            .write_all(preamble.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let first = tokio::time::timeout(READY_WITHIN, self.reply());
        match first.await {
            Ok(Some(Reply::Ready { mode, detail })) => Ok(Ready { mode, detail }),
            Ok(Some(other)) => Err(format!("its first reply was {other:?}")),
            Ok(None) => Err("it exited".into()),
            Err(_) => Err(format!("no reply within {READY_WITHIN:?}")),
        }
    }

    /// Drops reply lines (results, displays, errors) longer than `bytes`
    /// instead of holding them: the execution reports `ResultTooLarge`.
    pub fn limit_replies(&mut self, bytes: u64) {
        self.replies.max = bytes.max(1);
    }

    /// Kills the kernel and everything it started (its process group).
    pub async fn kill(&self, session: &Session) {
        let _ = session.signal(self.pid, libc::SIGKILL, true).await;
    }

    /// Runs one encoded execution request, sending its events (execution
    /// count, output, results, error) to `events` as they come. When `stop`
    /// fires or `events` is closed, the execution is interrupted.
    pub async fn execute(
        &mut self,
        session: &Session,
        request: &[u8],
        events: &mpsc::Sender<Event>,
        stop: &CancellationToken,
    ) -> Executed {
        let executed = match self.requests.write_all(request).await {
            Err(e) => Executed::Died(format!("the kernel did not take the code: {e}")),
            Ok(()) => self.follow(session, events, stop).await,
        };
        // Output written before the kernel said it was done (or died).
        for (stdout, pipe) in [(true, &self.stdout), (false, &self.stderr)] {
            let mut decoder = Utf8Decoder::default();
            let text = decoder.push(&drain(pipe, 1 << 20)) + &decoder.finish();
            if !text.is_empty() {
                let _ = events.send(Event::output(stdout, text)).await;
            }
        }
        executed
    }

    async fn follow(
        &mut self,
        session: &Session,
        events: &mpsc::Sender<Event>,
        stop: &CancellationToken,
    ) -> Executed {
        let mut decoders = [Utf8Decoder::default(), Utf8Decoder::default()];
        let (mut out_buf, mut err_buf) = (vec![0u8; CHUNK], vec![0u8; CHUNK]);
        let mut interrupt: Option<Interrupt> = None;
        loop {
            let wanted = interrupt.is_none();
            let event = tokio::select! {
                reply = self.replies.next() => match reply {
                    Line::Closed => return Executed::Died("the kernel exited or broke its protocol".into()),
                    Line::TooLong(max) => {
                        self.send_output(&mut decoders, events).await;
                        too_large(max)
                    }
                    Line::Reply(Reply::Done) => {
                        self.send_output(&mut decoders, events).await;
                        return Executed::Done { interrupted: interrupt.is_some() };
                    }
                    Line::Reply(reply) => {
                        // What the code wrote before a result or an error
                        // comes before it (the code runs after `started`).
                        if !matches!(reply, Reply::Started { .. }) {
                            self.send_output(&mut decoders, events).await;
                        }
                        match reply.into_event() {
                            Some(event) => event,
                            None => continue,
                        }
                    }
                },
                n = self.stdout.read(&mut out_buf) => match n {
                    Ok(n) if n > 0 => match decoders[0].push(&out_buf[..n]) {
                        text if text.is_empty() => continue,
                        text => Event::output(true, text),
                    },
                    _ => return Executed::Died("the kernel closed its stdout".into()),
                },
                n = self.stderr.read(&mut err_buf) => match n {
                    Ok(n) if n > 0 => match decoders[1].push(&err_buf[..n]) {
                        text if text.is_empty() => continue,
                        text => Event::output(false, text),
                    },
                    _ => return Executed::Died("the kernel closed its stderr".into()),
                },
                status = &mut self.ended => {
                    return Executed::Died(format!("the kernel ended ({status:?})"))
                }
                _ = stop.cancelled(), if wanted => {
                    interrupt = Some(Interrupt::start(session, self.pid).await);
                    continue;
                }
                _ = events.closed(), if wanted => {
                    interrupt = Some(Interrupt::start(session, self.pid).await);
                    continue;
                }
                _ = sleep_until(interrupt.as_ref().map(|i| i.again)) => {
                    let pending = interrupt.as_mut().expect("armed");
                    if !pending.again(session, self.pid).await {
                        return Executed::Died("the execution did not stop when interrupted".into());
                    }
                    continue;
                }
            };
            if events.send(event).await.is_err() && interrupt.is_none() {
                interrupt = Some(Interrupt::start(session, self.pid).await);
            }
        }
    }

    /// Sends what the kernel's stdout and stderr hold now.
    async fn send_output(&self, decoders: &mut [Utf8Decoder; 2], events: &mpsc::Sender<Event>) {
        let [out, err] = decoders;
        for (stdout, pipe, decoder) in [(true, &self.stdout, out), (false, &self.stderr, err)] {
            let text = decoder.push(&drain(pipe, 1 << 20));
            if !text.is_empty() {
                let _ = events.send(Event::output(stdout, text)).await;
            }
        }
    }

    /// The kernel's next reply; `None` when it closed its end or sent
    /// something unusable.
    async fn reply(&mut self) -> Option<Reply> {
        match self.replies.next().await {
            Line::Reply(reply) => Some(reply),
            Line::TooLong(_) | Line::Closed => None,
        }
    }
}

/// What an execution reports when a reply line was too long to pass on.
fn too_large(max: u64) -> Event {
    let value = format!(
        "the code produced a result, display or error longer than {max} bytes: it was dropped \
         (under serve, maxResultBytes sets the limit); the context lives on"
    );
    Event::Error(ExecutionError {
        name: "ResultTooLarge".into(),
        traceback: format!("ResultTooLarge: {value}"),
        value,
    })
}

/// What an execution reports when its kernel died under it.
pub fn died(language: Language, why: &str) -> ExecutionError {
    let value = format!(
        "the {language} kernel exited ({why}): its state is lost; the next execution starts a new one"
    );
    ExecutionError {
        name: "ContextRestarting".into(),
        traceback: format!("ContextRestarting: {value}"),
        value,
    }
}

/// A kernel's reply lines.
struct Replies {
    reader: BufReader<pipe::Receiver>,
    /// A line read in part.
    partial: Vec<u8>,
    /// The longest line held; a longer one is skipped to its end.
    max: u64,
    /// Within a line too long to hold.
    skipping: bool,
}

/// One reply line.
enum Line {
    Reply(Reply),
    /// A line longer than this many bytes, dropped.
    TooLong(u64),
    /// The kernel closed its end or sent something unusable.
    Closed,
}

impl Replies {
    /// The next line. Cancel-safe: a partly read line waits in `partial`.
    async fn next(&mut self) -> Line {
        loop {
            let skipping = self.skipping;
            let room = if skipping {
                CHUNK as u64
            } else {
                self.max.saturating_sub(self.partial.len() as u64)
            };
            if room == 0 {
                self.partial = Vec::new();
                self.skipping = true;
                return Line::TooLong(self.max);
            }
            let Ok(n) = (&mut self.reader)
                .take(room)
                .read_until(b'\n', &mut self.partial)
                .await
            else {
                return Line::Closed;
            };
            if self.partial.last() == Some(&b'\n') {
                let line = std::mem::take(&mut self.partial);
                if skipping {
                    self.skipping = false;
                    continue;
                }
                return match Reply::parse(&line[..line.len() - 1]) {
                    Ok(reply) => Line::Reply(reply),
                    Err(_) => Line::Closed,
                };
            }
            if n == 0 {
                return Line::Closed;
            }
            if skipping {
                self.partial.clear();
            }
        }
    }
}

/// SIGINT to the kernel's process group (its running command too), again
/// every `INTERRUPT_AGAIN` until `INTERRUPT_GRACE` has passed.
struct Interrupt {
    again: Instant,
    give_up: Instant,
}

impl Interrupt {
    async fn start(session: &Session, pid: i32) -> Interrupt {
        let _ = session.signal(pid, libc::SIGINT, true).await;
        let now = Instant::now();
        Interrupt {
            again: now + INTERRUPT_AGAIN,
            give_up: now + INTERRUPT_GRACE,
        }
    }

    /// False once the grace period is over.
    async fn again(&mut self, session: &Session, pid: i32) -> bool {
        if Instant::now() >= self.give_up {
            return false;
        }
        let _ = session.signal(pid, libc::SIGINT, true).await;
        self.again += INTERRUPT_AGAIN;
        true
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

//! Code contexts: one kernel process per context, in the sandbox, keeping
//! the state of its language across executions (the programs, requests and
//! replies are `e2b-native-kernels`'). The host talks to it over two pipes
//! (requests on its fd 3, replies on its fd 4) and reads its stdout and
//! stderr directly.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use e2b_native_kernels::{Language, Reply};
use e2b_native_local::session::{Command, Ended, PipeDirection, PipeEnd, SessionError};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::pipe;

pub(crate) use e2b_native_kernels::KernelKind;

use crate::state::{lock, App, Sandbox};

/// The longest reply line a kernel may send (a large image, base64).
pub(crate) const MAX_REPLY: u64 = 64 << 20;
/// How long a kernel may take to say it is ready (IPython imports in ~1 s).
const READY_WITHIN: Duration = Duration::from_secs(60);

/// A code context: its kernel starts on first use and after it died.
pub(crate) struct Context {
    pub id: String,
    pub language: Language,
    pub cwd: String,
    /// The running kernel's pid (0: none), readable while an execution
    /// holds the kernel.
    pub pid: AtomicI32,
    /// Held for the whole of an execution: executions are serialized.
    pub kernel: tokio::sync::Mutex<Option<Kernel>>,
}

/// A sandbox's contexts, and the default one of each kernel.
#[derive(Default)]
pub(crate) struct Contexts {
    inner: Mutex<ContextsInner>,
}

#[derive(Default)]
struct ContextsInner {
    by_id: HashMap<String, Arc<Context>>,
    /// The default context of each language (typescript's is its own).
    defaults: HashMap<Language, String>,
    /// Creation order, for listing.
    order: Vec<String>,
}

impl Contexts {
    /// A new context for `language`, or (`default`) the language's default one.
    pub(crate) fn create(&self, language: Language, cwd: String, default: bool) -> Arc<Context> {
        let mut inner = lock(&self.inner);
        if default {
            if let Some(context) = inner
                .defaults
                .get(&language)
                .and_then(|id| inner.by_id.get(id))
            {
                return context.clone();
            }
        }
        let id = uuid();
        let context = Arc::new(Context {
            id: id.clone(),
            language,
            cwd,
            pid: AtomicI32::new(0),
            kernel: tokio::sync::Mutex::new(None),
        });
        inner.by_id.insert(id.clone(), context.clone());
        inner.order.push(id.clone());
        if default {
            inner.defaults.insert(language, id);
        }
        context
    }

    pub(crate) fn get(&self, id: &str) -> Option<Arc<Context>> {
        lock(&self.inner).by_id.get(id).cloned()
    }

    pub(crate) fn remove(&self, id: &str) -> Option<Arc<Context>> {
        let mut inner = lock(&self.inner);
        inner.order.retain(|i| i != id);
        inner.defaults.retain(|_, i| i != id);
        inner.by_id.remove(id)
    }

    pub(crate) fn all(&self) -> Vec<Arc<Context>> {
        let inner = lock(&self.inner);
        inner
            .order
            .iter()
            .filter_map(|id| inner.by_id.get(id).cloned())
            .collect()
    }
}

fn uuid() -> String {
    let hex = crate::util::hex_token(16);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// A running kernel.
pub(crate) struct Kernel {
    pub pid: i32,
    requests: pipe::Sender,
    pub replies: BufReader<pipe::Receiver>,
    /// A reply line read in part.
    pub partial: Vec<u8>,
    pub stdout: pipe::Receiver,
    pub stderr: pipe::Receiver,
    pub ended: Ended,
}

impl Kernel {
    /// Starts the context's kernel in its cwd and waits for its first reply.
    pub(crate) async fn start(
        app: &App,
        sandbox: &Sandbox,
        context: &Context,
    ) -> Result<Kernel, String> {
        let kind = context.language.kernel();
        let (interpreter, flags) = match kind {
            KernelKind::Python => {
                let python = app
                    .runtimes
                    .python
                    .as_ref()
                    .ok_or("no Python interpreter was found on this host")?;
                (python.display().to_string(), Vec::new())
            }
            KernelKind::JavaScript => {
                let node = app
                    .runtimes
                    .node
                    .as_ref()
                    .ok_or("no Node.js was found on this host")?;
                // V8 would grow past the sandbox's memory; capped, it says why.
                let heap_mib = (app.session.limits.memory_bytes >> 20) * 3 / 4;
                let flags = vec![format!("--max-old-space-size={heap_mib}")];
                (node.display().to_string(), flags)
            }
            // Every sandbox has bash (commands run through it).
            KernelKind::Bash => ("bash".to_string(), Vec::new()),
        };
        let launch = kind.launch(&interpreter, &flags, None);
        let mut env: BTreeMap<String, String> = sandbox.env(&app.runtimes);
        env.extend(launch.env);
        let command = Command {
            argv: launch.argv,
            env: env.into_iter().collect(),
            cwd: context.cwd.clone(),
            pipes: vec![PipeDirection::ToProgram, PipeDirection::FromProgram],
        };
        let mut process = sandbox.session.spawn(command).await.map_err(|e| match e {
            SessionError::Gone => "the sandbox is gone".to_string(),
            SessionError::Refused(m) | SessionError::Invalid(m) => {
                format!("the {} kernel could not start: {m}", context.language)
            }
        })?;
        let mut pipes = std::mem::take(&mut process.pipes).into_iter();
        let (Some(PipeEnd::Writer(requests)), Some(PipeEnd::Reader(replies))) =
            (pipes.next(), pipes.next())
        else {
            return Err("the kernel's pipes are missing".into());
        };
        context.pid.store(process.pid, Ordering::Relaxed);
        let mut kernel = Kernel {
            pid: process.pid,
            requests,
            replies: BufReader::new(replies),
            partial: Vec::new(),
            stdout: process.stdout,
            stderr: process.stderr,
            ended: process.ended,
        };
        if let Err(why) = kernel.ready(app, launch.preamble).await {
            let message = kernel.startup_failure(context.language, why);
            let _ = sandbox
                .session
                .signal(kernel.pid, libc::SIGKILL, true)
                .await;
            context.pid.store(0, Ordering::Relaxed);
            return Err(message);
        }
        Ok(kernel)
    }

    /// Sends the preamble and waits for the kernel's "ready"; a Python
    /// kernel without IPython says so, and so does the log.
    async fn ready(&mut self, app: &App, preamble: &str) -> Result<(), String> {
        self.requests
            .write_all(preamble.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let first = tokio::time::timeout(READY_WITHIN, reply(&mut self.replies, &mut self.partial));
        match first.await {
            Ok(Some(Reply::Ready { mode, detail })) => {
                if mode == "basic" {
                    let reason = detail.get("reason").and_then(|r| r.as_str());
                    app.log.warn(format_args!(
                        "the python kernel runs in basic mode (state, text results and \
                         display(), no magics, rich results or charts): {}",
                        reason.unwrap_or("no reason given")
                    ));
                }
                Ok(())
            }
            Ok(Some(other)) => Err(format!("its first reply was {other:?}")),
            Ok(None) => Err("it exited".into()),
            Err(_) => Err(format!("no reply within {READY_WITHIN:?}")),
        }
    }

    fn startup_failure(&self, language: Language, why: String) -> String {
        let stderr = crate::stream::drain(&self.stderr, 4096);
        format!(
            "the {language} kernel did not start ({why}); its stderr: {:?}",
            String::from_utf8_lossy(&stderr)
        )
    }

    /// Sends one encoded execution request.
    pub(crate) async fn request(&mut self, request: &[u8]) -> std::io::Result<()> {
        self.requests.write_all(request).await
    }
}

/// A kernel's next reply; `None` when it closed its end or sent something
/// unusable. Cancel-safe: a partly read line waits in `partial`.
pub(crate) async fn reply(
    replies: &mut BufReader<pipe::Receiver>,
    partial: &mut Vec<u8>,
) -> Option<Reply> {
    loop {
        let room = MAX_REPLY.saturating_sub(partial.len() as u64);
        if room == 0 {
            return None;
        }
        let n = (&mut *replies)
            .take(room)
            .read_until(b'\n', partial)
            .await
            .ok()?;
        if partial.last() == Some(&b'\n') {
            let line = std::mem::take(partial);
            return Reply::parse(&line[..line.len() - 1]).ok();
        }
        if n == 0 {
            return None;
        }
    }
}

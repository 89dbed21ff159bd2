//! Code contexts: one kernel process per context, in the sandbox, keeping
//! the state of its language across executions (see `kernels/`). The host
//! talks to it over two pipes (requests on its fd 3, replies on its fd 4)
//! and reads its stdout and stderr directly.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex};

use e2b_native_local::session::{Command, Ended, PipeDirection, PipeEnd, SessionError};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::pipe;

use crate::state::{lock, App, Sandbox};

const PYTHON_KERNEL: &str = include_str!("kernels/python.py");
const JAVASCRIPT_KERNEL: &str = include_str!("kernels/javascript.js");
/// The longest reply line a kernel may send (a large image, base64).
pub(crate) const MAX_REPLY: u64 = 64 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum KernelKind {
    Python,
    JavaScript,
}

/// The kernel and the reported name for a language of `/execute` or
/// `/contexts` (E2B's names and their usual aliases).
pub(crate) fn language(name: Option<&str>) -> Result<(KernelKind, &'static str), String> {
    let name = name.unwrap_or("").trim().to_ascii_lowercase();
    Ok(match name.as_str() {
        "" | "python" | "python3" => (KernelKind::Python, "python"),
        "js" | "javascript" | "node" | "nodejs" => (KernelKind::JavaScript, "javascript"),
        // No type stripping: plain JavaScript runs, type annotations do not.
        "ts" | "typescript" => (KernelKind::JavaScript, "typescript"),
        other => {
            return Err(format!(
                "language {other:?} is not supported by e2b-native serve: use python or javascript"
            ))
        }
    })
}

/// A code context: its kernel starts on first use and after it died.
pub(crate) struct Context {
    pub id: String,
    pub language: &'static str,
    pub kind: KernelKind,
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
    defaults: HashMap<KernelKind, String>,
    /// Creation order, for listing.
    order: Vec<String>,
}

impl Contexts {
    pub(crate) fn create(
        &self,
        kind: KernelKind,
        language: &'static str,
        cwd: String,
        default: bool,
    ) -> Arc<Context> {
        let mut inner = lock(&self.inner);
        if default {
            if let Some(context) = inner.defaults.get(&kind).and_then(|id| inner.by_id.get(id)) {
                return context.clone();
            }
        }
        let id = uuid();
        let context = Arc::new(Context {
            id: id.clone(),
            language,
            kind,
            cwd,
            pid: AtomicI32::new(0),
            kernel: tokio::sync::Mutex::new(None),
        });
        inner.by_id.insert(id.clone(), context.clone());
        inner.order.push(id.clone());
        if default {
            inner.defaults.insert(kind, id);
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
    pub(crate) async fn start(
        app: &App,
        sandbox: &Sandbox,
        context: &Context,
    ) -> Result<Kernel, String> {
        let argv = match context.kind {
            KernelKind::Python => {
                let python = app
                    .runtimes
                    .python
                    .as_ref()
                    .ok_or("no Python interpreter was found on this host")?;
                vec![
                    python.display().to_string(),
                    "-c".into(),
                    PYTHON_KERNEL.into(),
                ]
            }
            KernelKind::JavaScript => {
                let node = app
                    .runtimes
                    .node
                    .as_ref()
                    .ok_or("no Node.js was found on this host")?;
                // V8 would grow past the sandbox's memory; capped, it says why.
                let heap_mib = (app.session.limits.memory_bytes >> 20) * 3 / 4;
                vec![
                    node.display().to_string(),
                    format!("--max-old-space-size={heap_mib}"),
                    "-e".into(),
                    JAVASCRIPT_KERNEL.into(),
                ]
            }
        };
        let env: BTreeMap<String, String> = sandbox.env(&app.runtimes);
        let command = Command {
            argv,
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
        Ok(Kernel {
            pid: process.pid,
            requests,
            replies: BufReader::new(replies),
            partial: Vec::new(),
            stdout: process.stdout,
            stderr: process.stderr,
            ended: process.ended,
        })
    }

    /// Sends one execution request.
    pub(crate) async fn request(
        &mut self,
        code: &str,
        env: &BTreeMap<String, String>,
    ) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(&serde_json::json!({ "code": code, "env": env }))?;
        line.push(b'\n');
        self.requests.write_all(&line).await
    }
}

/// A kernel's next reply; `None` when it closed its end or sent something
/// unusable. Cancel-safe: a partly read line waits in `partial`.
pub(crate) async fn reply(
    replies: &mut BufReader<pipe::Receiver>,
    partial: &mut Vec<u8>,
) -> Option<serde_json::Value> {
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
            return serde_json::from_slice(&line).ok();
        }
        if n == 0 {
            return None;
        }
    }
}
